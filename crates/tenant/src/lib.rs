#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod profiles;
mod registry;
mod trust;

pub use registry::{Directory, Registry, RegistryError, ResolveFn, Resolver};
pub use trust::{
    EntraTemplate, IssuerTrust, Principal, TENANT_ID_PLACEHOLDER, TenantContext, TenantError,
    TenantId, TenantTrust, peek_issuer,
};

/// What to configure in each identity provider, and here.
pub mod recipes {
    #[doc = include_str!("../docs/entra.md")]
    pub mod entra {}
    #[doc = include_str!("../docs/cognito.md")]
    pub mod cognito {}
    #[doc = include_str!("../docs/auth0.md")]
    pub mod auth0 {}
    #[doc = include_str!("../docs/okta.md")]
    pub mod okta {}
    #[doc = include_str!("../docs/keycloak.md")]
    pub mod keycloak {}
    #[doc = include_str!("../docs/google.md")]
    pub mod google {}
}

#[cfg(test)]
mod tests;
