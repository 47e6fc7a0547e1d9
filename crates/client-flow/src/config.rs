//! What the client is and how it behaves: [`ClientConfig`], built once and shared by
//! every flow, and the per-issuer [`IssuerOptions`].

use mcp_oauth_dcr::{ClientMetadata, RegisteredClient};

/// Per-issuer adjustments for authorization servers that bend the rules. Each is named
/// for what it gives up.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct IssuerOptions {
    /// Send no `resource` parameter (Entra ID v2 rejects it; the token's audience then
    /// comes from the scope). Gives up RFC 8707 audience binding at this issuer.
    pub omit_resource: bool,
    /// Extra authorization parameters, e.g. Auth0's `audience`.
    pub extra_params: Vec<(String, String)>,
    /// A fixed scope to request instead of the selected one (Entra: `{app}/.default`).
    pub scope: Option<String>,
    /// **Dangerous**: treat metadata without `code_challenge_methods_supported` as S256
    /// (see [`mcp_oauth_as_metadata::Validation::dangerous_assume_s256_for_issuer`]).
    pub dangerous_assume_s256: bool,
    /// An RFC 7591 initial access token for dynamic registration (Okta).
    pub initial_access_token: Option<mcp_oauth_common::AccessToken>,
}

impl IssuerOptions {
    /// Send no `resource` parameter ([`omit_resource`](Self::omit_resource)).
    pub fn without_resource(mut self) -> Self {
        self.omit_resource = true;
        self
    }

    /// An extra authorization parameter.
    pub fn extra_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_params.push((name.into(), value.into()));
        self
    }

    /// A fixed scope.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// **Dangerous**: assume S256 for this issuer ([`dangerous_assume_s256`](Self::dangerous_assume_s256)).
    pub fn dangerous_assuming_s256(mut self) -> Self {
        self.dangerous_assume_s256 = true;
        self
    }

    /// An initial access token for dynamic registration.
    pub fn with_initial_access_token(mut self, token: mcp_oauth_common::AccessToken) -> Self {
        self.initial_access_token = Some(token);
        self
    }
}

/// What the client is and how it behaves. Built once, shared by every flow.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The metadata sent in dynamic registration (`redirect_uris` must hold
    /// [`redirect_uri`](Self::redirect_uri)).
    pub metadata: ClientMetadata,
    /// The redirect URI used in authorization requests.
    pub redirect_uri: String,
    /// The client ID metadata document URL this client publishes, if any.
    pub cimd_url: Option<String>,
    /// Pre-registered clients, by issuer (MCP-REG-3, MCP-REG-4).
    pub preregistered: Vec<(String, RegisteredClient)>,
    /// Per-issuer adjustments.
    pub issuers: Vec<(String, IssuerOptions)>,
    /// Ask for `offline_access` when the authorization server lists it (default on).
    pub want_refresh_token: bool,
    /// Fall back to the 2025-03-26 discovery when the server has no protected resource
    /// metadata (default on).
    pub legacy_discovery: bool,
    /// `MCP-Protocol-Version` to send on discovery requests, if any.
    pub protocol_version: Option<String>,
    /// Refresh this many seconds before expiry (default 60).
    pub refresh_ahead: u64,
}

impl ClientConfig {
    /// A public native client (RFC 8252) with this name and loopback redirect URI.
    pub fn native(client_name: &str, redirect_uri: &str) -> Self {
        ClientConfig {
            metadata: ClientMetadata::native_public_client(client_name, [redirect_uri]),
            redirect_uri: redirect_uri.to_owned(),
            cimd_url: None,
            preregistered: Vec::new(),
            issuers: Vec::new(),
            want_refresh_token: true,
            legacy_discovery: true,
            protocol_version: None,
            refresh_ahead: 60,
        }
    }

    /// Adds a pre-registered client for `issuer`.
    pub fn preregistered(mut self, issuer: impl Into<String>, client: RegisteredClient) -> Self {
        self.preregistered.push((issuer.into(), client));
        self
    }

    /// Sets the options for `issuer`.
    pub fn issuer_options(mut self, issuer: impl Into<String>, options: IssuerOptions) -> Self {
        self.issuers.push((issuer.into(), options));
        self
    }

    pub(crate) fn options(&self, issuer: &str) -> Option<&IssuerOptions> {
        self.issuers
            .iter()
            .find(|(i, _)| i == issuer)
            .map(|(_, o)| o)
    }

    /// Whether token requests to `issuer` carry `resource` (MCP-RES-1): yes unless the
    /// issuer is configured with [`IssuerOptions::omit_resource`].
    pub fn sends_resource(&self, issuer: &str) -> bool {
        !self.options(issuer).is_some_and(|o| o.omit_resource)
    }
}
