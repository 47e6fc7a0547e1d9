//! The server's settings, the consent step, and the limits on what it reads.

use core::fmt;

use mcp_oauth_dcr::RegistrationPolicy;
use mcp_oauth_resource_indicators::ResourceUri;

use crate::storage::ClientLimits;

/// Largest form body read by the token, revocation and introspection endpoints.
pub const MAX_FORM_LEN: usize = 64 * 1024;
/// Largest authorization request query.
pub const MAX_QUERY_LEN: usize = 16 * 1024;
/// Longest string member of client metadata the server stores (bytes); a longer one is
/// refused with `invalid_client_metadata`. `redirect_uris` have their own limit
/// ([`RegistrationPolicy`]); `software_statement` is bounded by the request size only.
pub const MAX_METADATA_STRING: usize = 2048;
/// Most `contacts` a client may register.
pub const MAX_CONTACTS: usize = 10;

/// What the person at the authorization endpoint agrees to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsentRequest {
    /// The client.
    pub client_id: String,
    /// Its name, when registered with one.
    pub client_name: Option<String>,
    /// The resource.
    pub resource: String,
    /// The requested scopes.
    pub scopes: Vec<String>,
    /// Where the browser goes afterwards (already matched against the client's
    /// registration). For clients that registered themselves (RFC 7591, or a client ID
    /// metadata document) show its host: it is the only hint of who receives the code
    /// (RFC 9700 §4.11, MCP security best practices on consent).
    pub redirect_uri: String,
}

/// The application's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsentDecision {
    /// Granted to this user, with these scopes (a subset of the requested ones).
    Approve {
        /// The user's stable identifier (`sub`).
        subject: String,
        /// The scopes granted.
        scopes: Vec<String>,
    },
    /// Refused (`access_denied`).
    Deny,
}

/// The consent step: who the user is and what they allow. The application decides
/// (sign-in, a consent page, a policy); [`AutoApprove`](crate::AutoApprove) is for demos and tests.
pub trait Consent: Send + Sync {
    /// Decides on `request`.
    fn decide(&self, request: &ConsentRequest) -> ConsentDecision;
}

/// **For demos and tests only**: approves every request, as one fixed user, with every
/// requested scope. Anyone who can reach the authorization endpoint gets tokens.
#[derive(Debug, Clone)]
pub struct AutoApprove {
    /// The user every approval is for.
    pub subject: String,
}

impl Consent for AutoApprove {
    fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
        ConsentDecision::Approve {
            subject: self.subject.clone(),
            scopes: request.scopes.clone(),
        }
    }
}

/// A resource this server issues tokens for, and its scopes.
#[derive(Debug, Clone)]
pub struct ResourceServer {
    /// The canonical resource (the token's `aud`).
    pub resource: ResourceUri,
    /// The scopes a client may ask for at it.
    pub scopes: Vec<String>,
}

/// The server's settings. Defaults: access tokens 5 minutes, codes 60 seconds, refresh
/// tokens 30 days, client ID metadata documents accepted; at most 10,000 self-registered
/// clients, 100 pending registrations per source, a registration that completes no grant
/// forgotten after 24 hours, at most 10,000 client ID metadata documents; no client may
/// introspect tokens until configured in [`AsConfig::introspection_clients`](crate::AsConfig::introspection_clients).
#[derive(Debug)]
#[non_exhaustive]
pub struct AsConfig {
    /// The issuer (`iss`), an `https` URL (`http` on loopback).
    pub issuer: String,
    /// The resources.
    pub resources: Vec<ResourceServer>,
    /// Access token lifetime, seconds.
    pub access_ttl: u64,
    /// Code lifetime, seconds.
    pub code_ttl: u64,
    /// Refresh token lifetime, seconds.
    pub refresh_ttl: u64,
    /// Accept client ID metadata document URLs as `client_id`.
    pub cimd: bool,
    /// Dynamic registration rules.
    pub registration: RegistrationPolicy,
    /// Most self-registered (RFC 7591) clients stored at once, pending or not. Beyond it
    /// the registration endpoint answers `429` (see [`AuthorizationServer::register`](crate::AuthorizationServer::register)).
    /// Default 10,000.
    pub max_registered_clients: usize,
    /// Most pending registrations (no grant completed yet) per source: one IPv4 address,
    /// or one IPv6 /64 ([`mcp_oauth_common::source_key`]). Beyond it the registration
    /// endpoint answers `429`. Default 100.
    pub max_pending_registrations_per_source: usize,
    /// Seconds a self-registered client that has completed no grant (no code redeemed, no
    /// token issued) is kept; [`Storage::purge`](crate::Storage::purge) forgets it afterwards. Default 24 hours.
    pub unused_registration_ttl: u64,
    /// Most client ID metadata documents stored at once; beyond it a new document's
    /// authorization request gets a `503` error page until [`Storage::purge`](crate::Storage::purge) forgets
    /// stale ones. Default 10,000.
    pub max_metadata_documents: usize,
    /// The clients that may call the introspection endpoint: resource servers, configured
    /// out of band ([`Storage::put_client`](crate::Storage::put_client)) with a secret. Any other client is refused
    /// with `403 unauthorized_client` (RFC 7662 §4: introspection is not for clients).
    /// Default none.
    pub introspection_clients: Vec<String>,
}

impl AsConfig {
    /// Settings for `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        AsConfig {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            resources: Vec::new(),
            access_ttl: 300,
            code_ttl: 60,
            refresh_ttl: 30 * 24 * 3600,
            cimd: true,
            // Self-registered clients get user-delegated grants only: a client that
            // anyone can register must never mint tokens without a user
            // (`client_credentials` is for clients configured out of band), and only the
            // authentication methods this server implements.
            registration: RegistrationPolicy::new()
                .grant_types(["authorization_code", "refresh_token"])
                .auth_methods(["none", "client_secret_basic", "client_secret_post"]),
            max_registered_clients: 10_000,
            max_pending_registrations_per_source: 100,
            unused_registration_ttl: 24 * 3600,
            max_metadata_documents: 10_000,
            introspection_clients: Vec::new(),
        }
    }

    /// Lets the configured client `client_id` (a resource server) introspect tokens.
    pub fn introspection_client(mut self, client_id: impl Into<String>) -> Self {
        self.introspection_clients.push(client_id.into());
        self
    }

    /// The limits [`Op::AddClient`](crate::Op::AddClient) checks.
    pub fn client_limits(&self) -> ClientLimits {
        ClientLimits::new(
            self.max_registered_clients,
            self.max_pending_registrations_per_source,
            self.max_metadata_documents,
        )
    }

    /// Issues tokens for `resource` with these scopes.
    pub fn resource<I, S>(mut self, resource: ResourceUri, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.resources.push(ResourceServer {
            resource,
            scopes: scopes.into_iter().map(Into::into).collect(),
        });
        self
    }
}

/// Why [`AuthorizationServer::new`](crate::AuthorizationServer::new) refused its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AsConfigError {
    /// The issuer is not an absolute `https` URL (`http` on loopback) without query or
    /// fragment (RFC 8414 §2, ASM-1).
    Issuer(mcp_oauth_as_metadata::AsMetadataError),
    /// A rotated-in signing key has no `kid`, or the current key's
    /// ([`AuthorizationServer::rotate_signer`](crate::AuthorizationServer::rotate_signer)).
    SameKeyId,
}

impl fmt::Display for AsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsConfigError::Issuer(e) => write!(f, "issuer: {e}"),
            AsConfigError::SameKeyId => {
                f.write_str("the new signing key needs a kid different from the current one")
            }
        }
    }
}

impl std::error::Error for AsConfigError {}
