//! RFC 7591 §2 client metadata and the §3.2.1 registration response (its secrets are the
//! common wire newtypes [`ClientSecret`] and [`AccessToken`]).

use mcp_oauth_common::{AccessToken, ClientSecret, UnixTime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// RFC 7591 §2 client metadata (plus OIDC `application_type`, which MCP requires clients
/// to send). Every defined member has its JSON type; unknown members are kept in
/// [`extra`](ClientMetadata::extra) and written back.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientMetadata {
    /// Redirection URIs for redirect-based flows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// Token endpoint authentication method (default `client_secret_basic` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Grant types (default `["authorization_code"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    /// Response types (default `["code"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Space-separated scopes the client may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Contact e-mail addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<String>>,
    /// Terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// The client's JWK Set URL (for `private_key_jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The client's JWK Set by value (never together with `jwks_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Software identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// A software statement (a JWT), verified only by a configured hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_statement: Option<String>,
    /// OIDC `application_type`: `native` or `web`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
    /// Every other member, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// RFC 7591 §2 defaults.
pub const DEFAULT_AUTH_METHOD: &str = "client_secret_basic";

impl ClientMetadata {
    /// The metadata an MCP client that runs on the user's machine registers: a public
    /// client (`token_endpoint_auth_method: "none"`, which must be sent since the default
    /// is `client_secret_basic`; trap T6), the authorization-code and refresh-token
    /// grants, response type `code`, `application_type: "native"` (MCP-DCR-3, -4).
    pub fn native_public_client<I, S>(client_name: impl Into<String>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientMetadata {
            redirect_uris: Some(redirect_uris.into_iter().map(Into::into).collect()),
            token_endpoint_auth_method: Some("none".into()),
            grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
            response_types: Some(vec!["code".into()]),
            client_name: Some(client_name.into()),
            application_type: Some("native".into()),
            ..ClientMetadata::default()
        }
    }

    /// A remotely hosted web client: like [`ClientMetadata::native_public_client`] but
    /// `application_type: "web"`.
    pub fn web_public_client<I, S>(client_name: impl Into<String>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut m = Self::native_public_client(client_name, redirect_uris);
        m.application_type = Some("web".into());
        m
    }

    /// `token_endpoint_auth_method`, or its RFC 7591 default.
    pub fn auth_method(&self) -> &str {
        self.token_endpoint_auth_method
            .as_deref()
            .unwrap_or(DEFAULT_AUTH_METHOD)
    }

    /// `grant_types`, or the default `["authorization_code"]`.
    pub fn grant_types_or_default(&self) -> Vec<String> {
        self.grant_types
            .clone()
            .unwrap_or_else(|| vec!["authorization_code".into()])
    }

    /// `response_types`, or the default `["code"]`.
    pub fn response_types_or_default(&self) -> Vec<String> {
        self.response_types
            .clone()
            .unwrap_or_else(|| vec!["code".into()])
    }

    /// The metadata as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A successful registration (RFC 7591 §3.2.1): the client's identifier and secret, and
/// the metadata as the server registered it (which may differ from what was sent:
/// read it back, DCR-11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The client identifier.
    pub client_id: String,
    /// The client secret, when the server issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// When the identifier was issued (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_issued_at: Option<u64>,
    /// When the secret expires; `0` means never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<u64>,
    /// RFC 7592 registration access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<AccessToken>,
    /// RFC 7592 client configuration endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_client_uri: Option<String>,
    /// The registered metadata.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

impl RegisteredClient {
    /// A client known by id alone (pre-registered, or a client ID metadata document URL),
    /// with default metadata.
    pub fn new(client_id: impl Into<String>) -> Self {
        RegisteredClient {
            client_id: client_id.into(),
            client_secret: None,
            client_id_issued_at: None,
            client_secret_expires_at: None,
            registration_access_token: None,
            registration_client_uri: None,
            metadata: ClientMetadata::default(),
        }
    }

    /// With a client secret (a confidential pre-registered client).
    pub fn with_secret(mut self, secret: ClientSecret) -> Self {
        self.client_secret = Some(secret);
        self
    }

    /// With registered metadata.
    pub fn with_metadata(mut self, metadata: ClientMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Whether the secret has expired at `now` (`client_secret_expires_at: 0` never
    /// expires; trap T6). A client without a secret has nothing to expire.
    pub fn secret_expired(&self, now: UnixTime) -> bool {
        match (self.client_secret.is_some(), self.client_secret_expires_at) {
            (true, Some(t)) if t != 0 => now.as_secs() >= t,
            _ => false,
        }
    }
}
