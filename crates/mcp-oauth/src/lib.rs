#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use mcp_oauth_as_metadata as as_metadata;
pub use mcp_oauth_common as common;
pub use mcp_oauth_dcr as dcr;
pub use mcp_oauth_pkce as pkce;
pub use mcp_oauth_prm_metadata as prm_metadata;
pub use mcp_oauth_resource_indicators as resource_indicators;

/// JWT access-token validation (feature `server`).
#[cfg(feature = "server")]
pub use mcp_oauth_jwt_validate as jwt_validate;

/// Rate limits, abuse detection, audit events (feature `server`).
#[cfg(feature = "server")]
pub use mcp_oauth_guard as guard;

/// The MCP resource server's decision for one request, sans-IO (feature `server`).
#[cfg(feature = "server")]
pub use mcp_oauth_resource_server as resource_server;

/// The MCP client's authorization flow (feature `client`).
#[cfg(feature = "client")]
pub use mcp_oauth_client_flow as client_flow;

/// The authorization server core (feature `authorization-server`).
#[cfg(feature = "authorization-server")]
pub use mcp_oauth_authorization_server as authorization_server;

/// Multi-tenant trust and IdP profiles (feature `tenant`).
#[cfg(feature = "tenant")]
pub use mcp_oauth_tenant as tenant;

/// The IO side: tower layer, hyper client and servers, rmcp glue (features `hyper`,
/// `tower`, `rmcp`).
#[cfg(any(feature = "hyper", feature = "tower", feature = "sqlite"))]
pub use mcp_oauth_transport_adapters as transport_adapters;

/// Guides.
pub mod guide {
    #[doc = include_str!("../docs/protect-a-server.md")]
    pub mod protect_a_server {}
    #[doc = include_str!("../docs/authorize-a-client.md")]
    pub mod authorize_a_client {}
    #[doc = include_str!("../docs/run-an-authorization-server.md")]
    pub mod run_an_authorization_server {}
    #[doc = include_str!("../docs/idp-recipes.md")]
    pub mod idp_recipes {}
    #[doc = include_str!("../docs/threat-model.md")]
    pub mod threat_model {}
    #[doc = include_str!("../docs/defaults.md")]
    pub mod defaults {}
    #[doc = include_str!("../docs/spec-coverage.md")]
    pub mod spec_coverage {}
}
