//! Identity-provider profiles: for each IdP, the server side (which issuer, which
//! audience rule, which claims carry the client id and the scopes, where the keys are)
//! and the client side (what the MCP client must send or skip). Each is a value you
//! pick; nothing is guessed from a token. The recipes in [`crate::recipes`] say what to
//! configure in the IdP itself.

use std::sync::Arc;

use mcp_oauth_client_flow::{
    AccessToken, ClientConfig, ClientSecret, IssuerOptions, RegisteredClient,
};
use mcp_oauth_jwt_validate::{Algorithm, ClientIdClaim, KeySet, Policy, ScopeClaim};

use crate::trust::{EntraTemplate, IssuerTrust};

/// The server side of a profile: how to validate one issuer's access tokens.
#[derive(Debug, Clone)]
pub struct ServerProfile {
    /// The issuer, exactly as the tokens carry it.
    pub issuer: String,
    /// Where its signing keys are published.
    pub jwks_uri: String,
    /// Its discovery document.
    pub discovery_url: String,
    policy: Policy,
}

impl ServerProfile {
    /// The token policy (issuer, audience rule, claims, algorithms).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The policy with further changes (required scopes, leeway).
    pub fn map_policy(mut self, f: impl FnOnce(Policy) -> Policy) -> Self {
        self.policy = f(self.policy);
        self
    }

    /// The trust to add to a [`TenantTrust`](crate::TenantTrust) with the keys fetched
    /// from [`jwks_uri`](Self::jwks_uri).
    pub fn trust(&self, keys: Arc<KeySet>) -> IssuerTrust {
        IssuerTrust::new(self.policy.clone(), keys)
    }
}

/// The client side of a profile: options for that issuer and, where the IdP has no
/// dynamic registration, the pre-registered client.
#[derive(Debug, Clone)]
pub struct ClientProfile {
    /// The issuer.
    pub issuer: String,
    /// What the flow does differently at this issuer.
    pub options: IssuerOptions,
    /// The pre-registered client, when the IdP offers no registration.
    pub client: Option<RegisteredClient>,
}

impl ClientProfile {
    /// Adds this profile to a client configuration.
    pub fn apply(self, mut config: ClientConfig) -> ClientConfig {
        if let Some(c) = self.client {
            config = config.preregistered(self.issuer.clone(), c);
        }
        config.issuer_options(self.issuer, self.options)
    }
}

fn client(id: &str, secret: Option<&str>) -> RegisteredClient {
    let c = RegisteredClient::new(id);
    match secret {
        Some(s) => c.with_secret(ClientSecret::new(s)),
        None => c,
    }
}

/// Microsoft Entra ID.
pub mod entra {
    use super::*;

    /// The v2.0 issuer of a directory.
    pub fn v2_issuer(tenant_id: &str) -> String {
        format!("https://login.microsoftonline.com/{tenant_id}/v2.0")
    }

    /// The v1.0 issuer of a directory (tokens with `ver: "1.0"`, the default for APIs
    /// whose manifest has no `accessTokenAcceptedVersion: 2`).
    pub fn v1_issuer(tenant_id: &str) -> String {
        format!("https://sts.windows.net/{tenant_id}/")
    }

    fn policy(issuer: &str, audiences: &[&str]) -> Policy {
        Policy::from_lists([issuer], audiences.iter().copied())
            .algorithms([Algorithm::RS256])
            // Entra ID writes `typ: JWT` on access tokens (and ID tokens; their `aud` is
            // the client, never this API).
            .accept_typ(["JWT"])
            .client_id_claims([ClientIdClaim::Azp, ClientIdClaim::Appid])
            .scope_claims([ScopeClaim::Roles])
    }

    /// v2.0 access tokens of one directory for an API known by `audiences` (its
    /// application id GUID and/or `api://…` URI). Scopes come from `scp`
    /// (space-separated), app roles from `roles`; the client id from `azp`.
    pub fn v2(tenant_id: &str, audiences: &[&str]) -> ServerProfile {
        let issuer = v2_issuer(tenant_id);
        ServerProfile {
            jwks_uri: format!("https://login.microsoftonline.com/{tenant_id}/discovery/v2.0/keys"),
            discovery_url: format!("{issuer}/.well-known/openid-configuration"),
            policy: policy(&issuer, audiences),
            issuer,
        }
    }

    /// v1.0 access tokens of one directory (`iss` `https://sts.windows.net/{tid}/`, the
    /// client id in `appid`).
    pub fn v1(tenant_id: &str, audiences: &[&str]) -> ServerProfile {
        let issuer = v1_issuer(tenant_id);
        ServerProfile {
            jwks_uri: format!("https://login.microsoftonline.com/{tenant_id}/discovery/keys"),
            discovery_url: format!(
                "https://login.microsoftonline.com/{tenant_id}/.well-known/openid-configuration"
            ),
            policy: policy(&issuer, audiences),
            issuer,
        }
    }

    /// The multi-tenant (`common`) keys, shared by every directory.
    pub const COMMON_JWKS_URI: &str =
        "https://login.microsoftonline.com/common/discovery/v2.0/keys";

    /// A multi-tenant application: v2.0 tokens from any directory on `allowed_tenant_ids`
    /// (never "any directory at all"), each bound to its `tid`.
    pub fn multi_tenant_v2<I, S>(
        allowed_tenant_ids: I,
        audiences: &[&str],
        keys: Arc<KeySet>,
    ) -> Option<EntraTemplate>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        EntraTemplate::new(
            "https://login.microsoftonline.com/{tenantid}/v2.0",
            allowed_tenant_ids,
            |iss| policy(iss, audiences),
            keys,
        )
    }

    /// The client side: Entra has no dynamic registration (use the app registration's
    /// client id), rejects RFC 8707 `resource` on v2.0 endpoints (the audience comes from
    /// the `{app-id-uri}/.default` scope instead), and its metadata omits
    /// `code_challenge_methods_supported` while enforcing S256.
    pub fn client(
        tenant_id: &str,
        app_id_uri: &str,
        client_id: &str,
        secret: Option<&str>,
    ) -> ClientProfile {
        ClientProfile {
            issuer: v2_issuer(tenant_id),
            options: IssuerOptions::default()
                .without_resource()
                .with_scope(format!("{}/.default", app_id_uri.trim_end_matches('/')))
                .dangerous_assuming_s256(),
            client: Some(super::client(client_id, secret)),
        }
    }
}

/// Amazon Cognito user pools.
pub mod cognito {
    use super::*;

    /// A user pool's issuer.
    pub fn issuer(region: &str, user_pool_id: &str) -> String {
        format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}")
    }

    /// Access tokens of a user pool. Cognito access tokens carry **no `aud`**: they are
    /// bound to this server by `client_id` (one of the app clients allowed to call it)
    /// and `token_use: "access"`, explicitly, so ID tokens (`token_use: "id"`) and tokens
    /// of other app clients are refused.
    pub fn server(region: &str, user_pool_id: &str, app_client_ids: &[&str]) -> ServerProfile {
        let issuer = issuer(region, user_pool_id);
        ServerProfile {
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            discovery_url: format!("{issuer}/.well-known/openid-configuration"),
            policy: Policy::from_lists([issuer.as_str()], Vec::<String>::new())
                .algorithms([Algorithm::RS256])
                // Cognito writes no `typ`; `token_use: "access"` (required by
                // audience_from_client_id) is what tells access from ID tokens.
                .dangerous_skip_typ_check()
                .audience_from_client_id(app_client_ids.iter().copied()),
            issuer,
        }
    }

    /// The client side: no dynamic registration (an app client), metadata without
    /// `code_challenge_methods_supported` though PKCE S256 is supported.
    pub fn client(
        region: &str,
        user_pool_id: &str,
        client_id: &str,
        secret: Option<&str>,
    ) -> ClientProfile {
        ClientProfile {
            issuer: issuer(region, user_pool_id),
            options: IssuerOptions::default().dangerous_assuming_s256(),
            client: Some(super::client(client_id, secret)),
        }
    }
}

/// Auth0.
pub mod auth0 {
    use super::*;

    /// A tenant's issuer (note the trailing slash).
    pub fn issuer(domain: &str) -> String {
        format!("https://{domain}/")
    }

    /// Access tokens for the API whose identifier is `audience`. Auth0 puts the API
    /// identifier in `aud` (often with `…/userinfo` beside it), the client in `azp`, and
    /// RBAC permissions in `permissions`, which count as scopes.
    pub fn server(domain: &str, audience: &str) -> ServerProfile {
        let issuer = issuer(domain);
        ServerProfile {
            jwks_uri: format!("https://{domain}/.well-known/jwks.json"),
            discovery_url: format!("https://{domain}/.well-known/openid-configuration"),
            policy: Policy::from_lists([issuer.as_str()], [audience])
                .algorithms([Algorithm::RS256])
                // `at+jwt` with the RFC 9068 token profile, `JWT` with Auth0's default.
                .accept_typ(["at+jwt", "JWT"])
                .client_id_claims([ClientIdClaim::ClientId, ClientIdClaim::Azp])
                .scope_claims([ScopeClaim::Permissions]),
            issuer,
        }
    }

    /// The client side: Auth0 picks the API from the `audience` authorization
    /// parameter, not from `resource`.
    pub fn client(domain: &str, audience: &str) -> ClientProfile {
        ClientProfile {
            issuer: issuer(domain),
            options: IssuerOptions::default().extra_param("audience", audience),
            client: None,
        }
    }
}

/// Okta custom authorization servers.
pub mod okta {
    use super::*;

    /// A custom authorization server's issuer (`default` is the built-in one).
    pub fn issuer(domain: &str, auth_server_id: &str) -> String {
        format!("https://{domain}/oauth2/{auth_server_id}")
    }

    /// Access tokens of a custom authorization server whose audience is `audience`
    /// (`api://default` unless changed). Scopes in `scp` (an array), client in `cid`.
    pub fn server(domain: &str, auth_server_id: &str, audience: &str) -> ServerProfile {
        let issuer = issuer(domain, auth_server_id);
        ServerProfile {
            jwks_uri: format!("{issuer}/v1/keys"),
            discovery_url: format!("{issuer}/.well-known/oauth-authorization-server"),
            policy: Policy::from_lists([issuer.as_str()], [audience])
                .algorithms([Algorithm::RS256])
                // Okta custom authorization servers write
                // `application/okta-internal-at+jwt`.
                .accept_typ(["at+jwt", "okta-internal-at+jwt"])
                .client_id_claims([ClientIdClaim::Cid, ClientIdClaim::ClientId]),
            issuer,
        }
    }

    /// The client side: dynamic registration needs an initial access token (an Okta
    /// API token with the right to create clients).
    pub fn client(
        domain: &str,
        auth_server_id: &str,
        initial_access_token: Option<&str>,
    ) -> ClientProfile {
        ClientProfile {
            issuer: issuer(domain, auth_server_id),
            options: match initial_access_token {
                Some(t) => IssuerOptions::default().with_initial_access_token(AccessToken::new(t)),
                None => IssuerOptions::default(),
            },
            client: None,
        }
    }
}

/// Keycloak realms.
pub mod keycloak {
    use super::*;

    /// A realm's issuer.
    pub fn issuer(base_url: &str, realm: &str) -> String {
        format!("{}/realms/{realm}", base_url.trim_end_matches('/'))
    }

    /// Access tokens of a realm for a client whose id reaches `aud` through an audience
    /// mapper. Keycloak writes `typ: JWT` in the header, the client in `azp`, scopes in
    /// `scope`, realm roles in `realm_access.roles` (counted as scopes).
    pub fn server(base_url: &str, realm: &str, audience: &str) -> ServerProfile {
        let issuer = issuer(base_url, realm);
        ServerProfile {
            jwks_uri: format!("{issuer}/protocol/openid-connect/certs"),
            discovery_url: format!("{issuer}/.well-known/openid-configuration"),
            policy: Policy::from_lists([issuer.as_str()], [audience])
                .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::PS256])
                .accept_typ(["JWT", "at+jwt"])
                .client_id_claims([ClientIdClaim::Azp, ClientIdClaim::ClientId])
                .scope_claims([ScopeClaim::KeycloakRealmRoles]),
            issuer,
        }
    }

    /// The client side: OpenID discovery with the path appended
    /// (`{issuer}/.well-known/openid-configuration`, the third URL the MCP order tries);
    /// dynamic registration is available when the realm allows it, otherwise pass the
    /// client.
    pub fn client(base_url: &str, realm: &str, client_id: Option<&str>) -> ClientProfile {
        ClientProfile {
            issuer: issuer(base_url, realm),
            options: IssuerOptions::default(),
            client: client_id.map(|id| super::client(id, None)),
        }
    }
}

/// Google.
pub mod google {
    use super::*;

    /// Google's issuer.
    pub const ISSUER: &str = "https://accounts.google.com";

    /// The client side only: OpenID discovery, no dynamic registration (an OAuth client
    /// from the Google Cloud console). Google access tokens are opaque and Google has no
    /// RFC 7662 endpoint, so there is no server profile: an MCP server that wants Google
    /// sign-in runs its own authorization server that federates to Google.
    pub fn client(client_id: &str, secret: Option<&str>) -> ClientProfile {
        ClientProfile {
            issuer: ISSUER.to_owned(),
            options: IssuerOptions::default(),
            client: Some(super::client(client_id, secret)),
        }
    }
}
