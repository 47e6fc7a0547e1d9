//! The endpoints, as functions from request data (and `now`, and entropy) to response
//! data.

use core::fmt;
use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderValue, Response, StatusCode, header};
use mcp_oauth_as_metadata::AuthorizationServerMetadata;
use mcp_oauth_common::{UnixTime, source_key};
use mcp_oauth_dcr::{
    CheckedDocument, ClientMetadata, RegistrationErrorCode, RegistrationPolicy,
    RegistrationRequestError, Rejection, redirect_matches,
};
use mcp_oauth_jwt_validate::crypto::{JwsSigner as TokenSigner, sign_compact, typ_header};
use mcp_oauth_jwt_validate::{KeySet, KeySetLimits, Policy, Validator};
use mcp_oauth_pkce::CodeChallenge;
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_resource_indicators::url::{Url, form_urlencoded};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::storage::{
    ClientLimitReached, ClientLimits, CodeRecord, Digest, RefreshRecord, Storage, StoredClient,
};

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
/// (sign-in, a consent page, a policy); [`AutoApprove`] is for demos and tests.
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
/// introspect tokens until configured in [`AsConfig::introspection_clients`].
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
    /// the registration endpoint answers `429` (see [`AuthorizationServer::register`]).
    /// Default 10,000.
    pub max_registered_clients: usize,
    /// Most pending registrations (no grant completed yet) per source: one IPv4 address,
    /// or one IPv6 /64 ([`mcp_oauth_common::source_key`]). Beyond it the registration
    /// endpoint answers `429`. Default 100.
    pub max_pending_registrations_per_source: usize,
    /// Seconds a self-registered client that has completed no grant (no code redeemed, no
    /// token issued) is kept; [`Storage::purge`] forgets it afterwards. Default 24 hours.
    pub unused_registration_ttl: u64,
    /// Most client ID metadata documents stored at once; beyond it a new document's
    /// authorization request gets a `503` error page until [`Storage::purge`] forgets
    /// stale ones. Default 10,000.
    pub max_metadata_documents: usize,
    /// The clients that may call the introspection endpoint: resource servers, configured
    /// out of band ([`Storage::put_client`]) with a secret. Any other client is refused
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

    /// The limits [`Storage::add_client`] checks.
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

/// An OAuth error response (RFC 6749 §5.2, RFC 7009, RFC 7662, RFC 8707).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: StatusCode,
    /// The error code.
    pub error: &'static str,
    /// A description (never echoes a secret).
    pub description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    }

    /// As a JSON response.
    pub fn response(&self) -> Response<Vec<u8>> {
        let mut r = json_response(
            self.status,
            &json!({"error": self.error, "error_description": self.description}),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"token\""),
            );
        }
        r
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl std::error::Error for OAuthError {}

fn json_response(status: StatusCode, v: &Value) -> Response<Vec<u8>> {
    let mut r = Response::new(v.to_string().into_bytes());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// What the server keeps of a client's metadata, and sends back in the registration
/// response: the members RFC 7591 §2 defines (unknown members are ignored, DCR-6, so a
/// registration cannot make the server store arbitrary JSON); `jwks` dropped (no
/// authentication method this server accepts uses client keys); grant and response types
/// without repetition. A string member longer than [`MAX_METADATA_STRING`] bytes, or
/// more than [`MAX_CONTACTS`] contacts, is refused with `invalid_client_metadata`.
fn storable(mut m: ClientMetadata) -> Result<ClientMetadata, Rejection> {
    let refuse = |what: &str| Rejection {
        code: RegistrationErrorCode::InvalidClientMetadata,
        description: what.to_owned(),
    };
    m.extra = serde_json::Map::new();
    m.jwks = None;
    for list in [&mut m.grant_types, &mut m.response_types]
        .into_iter()
        .flatten()
    {
        let mut seen: Vec<String> = Vec::with_capacity(list.len().min(8));
        for x in list.drain(..) {
            if !seen.contains(&x) {
                seen.push(x);
            }
        }
        *list = seen;
    }
    if m.contacts.as_ref().is_some_and(|c| c.len() > MAX_CONTACTS) {
        return Err(refuse("too many contacts"));
    }
    let strings = [
        &m.token_endpoint_auth_method,
        &m.client_name,
        &m.client_uri,
        &m.logo_uri,
        &m.scope,
        &m.tos_uri,
        &m.policy_uri,
        &m.jwks_uri,
        &m.software_id,
        &m.software_version,
        &m.application_type,
    ];
    let lists = [&m.grant_types, &m.response_types, &m.contacts];
    if strings
        .iter()
        .any(|s| s.as_ref().is_some_and(|s| s.len() > MAX_METADATA_STRING))
        || lists
            .iter()
            .flat_map(|l| l.iter().flatten())
            .any(|s| s.len() > MAX_METADATA_STRING)
    {
        return Err(refuse("a metadata value is too long"));
    }
    Ok(m)
}

/// `429 Too Many Requests` with `Retry-After` and an OAuth error body
/// (`temporarily_unavailable`): a registration refused for a limit that time lifts.
fn limit_response(now: UnixTime, e: ClientLimitReached) -> Response<Vec<u8>> {
    let mut r = OAuthError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        format!("{e}; try again later"),
    )
    .response();
    let wait = e.retry_at().map_or(3600, |t| t.since(now).as_secs().max(1));
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// What the authorization endpoint decided.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthorizeOutcome {
    /// Send this redirect (a code, or an error the client may see), with `iss`.
    Redirect(Response<Vec<u8>>),
    /// Show this error to the user and do **not** redirect: the client or its redirect
    /// URI could not be verified (RFC 6749 §4.1.2.1).
    ErrorPage(Response<Vec<u8>>),
    /// `client_id` is a client ID metadata document URL not in storage (or stale): fetch
    /// it through the SSRF-guarded client, check it with
    /// [`mcp_oauth_dcr::CimdPolicy::check`], and call
    /// [`AuthorizationServer::authorize`] again with the document.
    FetchClientMetadata {
        /// The URL.
        url: String,
    },
}

/// RFC 8707 at the token endpoint: no `resource`, or exactly one naming the same
/// resource as the grant (compared in canonical form, as at the authorization endpoint).
fn same_resource(requested: &[String], granted: &str) -> bool {
    match requested {
        [] => true,
        [one] => match (ResourceUri::parse(one), ResourceUri::parse(granted)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
        _ => false,
    }
}

/// Sets `k` on a JSON object (the values built here always are objects).
fn set(v: &mut Value, k: &str, x: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(k.to_owned(), x);
    }
}

fn sha256(s: &[u8]) -> Digest {
    Sha256::digest(s).into()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Parameters of a form or query, each at most once (RFC 6749 §3.1), `resource` kept as
/// a list (RFC 8707).
struct Params {
    one: HashMap<String, String>,
    resources: Vec<String>,
}

fn params(input: &[u8]) -> Result<Params, OAuthError> {
    let mut one = HashMap::new();
    let mut resources = Vec::new();
    for (k, v) in form_urlencoded::parse(input) {
        if k == "resource" {
            resources.push(v.into_owned());
        } else if one.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(OAuthError::bad(
                "invalid_request",
                format!("parameter {k} repeated"),
            ));
        }
    }
    Ok(Params { one, resources })
}

impl Params {
    fn get(&self, k: &str) -> Option<&str> {
        self.one
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// What one token response is for.
#[derive(Clone, Copy)]
struct Issue<'a> {
    subject: &'a str,
    /// The access token's scope.
    scope: &'a str,
    /// The grant's scope, kept by the new refresh token (RFC 6749 §6: narrowing a
    /// refresh narrows the access token only).
    grant_scope: &'a str,
    resource: &'a str,
    family: &'a str,
    with_refresh: bool,
}

/// The sans-IO authorization server.
pub struct AuthorizationServer<S> {
    config: AsConfig,
    storage: S,
    signer: Box<dyn TokenSigner>,
    consent: Box<dyn Consent>,
    own_keys: KeySet,
}

impl<S> fmt::Debug for AuthorizationServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// Why [`AuthorizationServer::new`] refused its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AsConfigError {
    /// The issuer is not an absolute `https` URL (`http` on loopback) without query or
    /// fragment (RFC 8414 §2, ASM-1).
    Issuer(mcp_oauth_as_metadata::AsMetadataError),
}

impl fmt::Display for AsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsConfigError::Issuer(e) => write!(f, "issuer: {e}"),
        }
    }
}

impl std::error::Error for AsConfigError {}

impl<S: Storage> AuthorizationServer<S> {
    /// A server with these settings, storage, token signer and consent step; refused when
    /// the issuer is not an `https` URL (`http` on loopback) without query or fragment
    /// (ASM-1): clients compare it byte for byte, and tokens carry it.
    pub fn new(
        config: AsConfig,
        storage: S,
        signer: Box<dyn TokenSigner>,
        consent: Box<dyn Consent>,
    ) -> Result<Self, AsConfigError> {
        mcp_oauth_as_metadata::parse_issuer(&config.issuer).map_err(AsConfigError::Issuer)?;
        let own_keys = KeySet::from_value(
            &json!({"keys": [signer.public_jwk()]}),
            mcp_oauth_jwt_validate::default_provider().as_ref(),
            &KeySetLimits::default(),
        )
        .unwrap_or_default();
        Ok(AuthorizationServer {
            config,
            storage,
            signer,
            consent,
            own_keys,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AsConfig {
        &self.config
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }

    /// The RFC 8414 metadata. Endpoints live under the issuer: `/authorize`, `/token`,
    /// `/register`, `/revoke`, `/introspect`, `/jwks`.
    pub fn metadata(&self) -> AuthorizationServerMetadata {
        let mut m = AuthorizationServerMetadata::new(self.config.issuer.clone());
        m.authorization_endpoint = Some(self.url("/authorize"));
        m.token_endpoint = Some(self.url("/token"));
        m.registration_endpoint = Some(self.url("/register"));
        m.revocation_endpoint = Some(self.url("/revoke"));
        m.introspection_endpoint = Some(self.url("/introspect"));
        m.jwks_uri = Some(self.url("/jwks"));
        let mut scopes: Vec<String> = Vec::new();
        for r in &self.config.resources {
            for s in &r.scopes {
                if !scopes.contains(s) {
                    scopes.push(s.clone());
                }
            }
        }
        scopes.push("offline_access".into());
        m.scopes_supported = Some(scopes);
        m.response_types_supported = Some(vec!["code".into()]);
        m.grant_types_supported = Some(vec![
            "authorization_code".into(),
            "refresh_token".into(),
            "client_credentials".into(),
        ]);
        let methods = vec![
            "none".to_owned(),
            "client_secret_basic".to_owned(),
            "client_secret_post".to_owned(),
        ];
        m.token_endpoint_auth_methods_supported = Some(methods.clone());
        m.revocation_endpoint_auth_methods_supported = Some(methods.clone());
        m.introspection_endpoint_auth_methods_supported = Some(methods);
        m.code_challenge_methods_supported = Some(vec!["S256".into()]);
        m.authorization_response_iss_parameter_supported = Some(true);
        m.client_id_metadata_document_supported = Some(self.config.cimd);
        m
    }

    /// The metadata as a response.
    pub fn metadata_response(&self) -> Response<Vec<u8>> {
        let mut r = Response::new(self.metadata().to_json());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }

    /// The JWK Set with the token signing key.
    pub fn jwks_response(&self) -> Response<Vec<u8>> {
        let mut r = json_response(StatusCode::OK, &json!({"keys": [self.signer.public_jwk()]}));
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=300"),
        );
        r
    }

    fn resource_for(&self, requested: &[String]) -> Result<&ResourceServer, &'static str> {
        match requested {
            [] if self.config.resources.len() == 1 => {
                self.config.resources.first().ok_or("invalid_target")
            }
            [one] => {
                let r = ResourceUri::parse(one).map_err(|_| "invalid_target")?;
                self.config
                    .resources
                    .iter()
                    .find(|s| s.resource == r)
                    .ok_or("invalid_target")
            }
            _ => Err("invalid_target"),
        }
    }

    fn check_scopes(rs: &ResourceServer, scope: Option<&str>) -> Result<Vec<String>, &'static str> {
        let mut out = Vec::new();
        for s in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
            if !(rs.scopes.iter().any(|x| x == s) || s == "offline_access") {
                return Err("invalid_scope");
            }
            if !out.iter().any(|o: &String| o == s) {
                out.push(s.to_owned());
            }
        }
        Ok(out)
    }

    fn error_page(status: StatusCode, text: &str) -> AuthorizeOutcome {
        let mut r = Response::new(text.as_bytes().to_vec());
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        // The text may echo a parameter name: never let a browser sniff it as HTML.
        r.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        AuthorizeOutcome::ErrorPage(r)
    }

    fn redirect(&self, redirect_uri: &str, pairs: &[(&str, &str)]) -> AuthorizeOutcome {
        let Ok(mut url) = Url::parse(redirect_uri) else {
            return Self::error_page(StatusCode::BAD_REQUEST, "invalid redirect_uri");
        };
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            // RFC 9207: on every response, success or error.
            q.append_pair("iss", &self.config.issuer);
        }
        let mut r = Response::new(Vec::new());
        *r.status_mut() = StatusCode::FOUND;
        if let Ok(v) = HeaderValue::from_str(url.as_str()) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        AuthorizeOutcome::Redirect(r)
    }

    /// The authorization endpoint (OAuth 2.1 §4.1.1): client lookup (or a client ID
    /// metadata document, `document`, fetched by the adapter), exact redirect URI match
    /// (RFC 8252 loopback port rule), `response_type=code`, PKCE S256 required,
    /// `resource` validated and bound to the code, scope checked, consent, then a code
    /// of 256 bits from `entropy` (single use, [`AsConfig::code_ttl`] seconds, bound to
    /// client, redirect URI, challenge and resource).
    ///
    /// Errors before the redirect URI is verified are shown ([`AuthorizeOutcome::ErrorPage`]),
    /// never redirected. Errors after it (`response_type`, PKCE, `resource`, `scope`) are
    /// redirected only for clients configured out of band; for self-registered clients
    /// and client ID metadata documents they are shown too, since the user has not
    /// interacted yet (RFC 9700 §4.11.2). A refusal at the consent step is always
    /// redirected (`access_denied`). A metadata document is stored (a known-members copy,
    /// within [`AsConfig::max_metadata_documents`]) until its `cache_until`.
    pub fn authorize(
        &self,
        now: UnixTime,
        query: &str,
        document: Option<&CheckedDocument>,
        entropy: &[u8; 64],
    ) -> AuthorizeOutcome {
        if query.len() > MAX_QUERY_LEN {
            return Self::error_page(StatusCode::BAD_REQUEST, "request too large");
        }
        let p = match params(query.as_bytes()) {
            Ok(p) => p,
            Err(e) => return Self::error_page(StatusCode::BAD_REQUEST, &e.description),
        };
        let Some(client_id) = p.get("client_id") else {
            return Self::error_page(StatusCode::BAD_REQUEST, "client_id is missing");
        };
        let client = match self.storage.client(client_id) {
            Some(c) if c.cache_until.is_none_or(|t| t > now) => c,
            _ if self.config.cimd && client_id.starts_with("https://") => match document {
                Some(d) => {
                    let metadata = match storable(d.metadata.clone()) {
                        Ok(m) => m,
                        Err(r) => {
                            return Self::error_page(
                                StatusCode::BAD_REQUEST,
                                &format!("client metadata document: {}", r.description),
                            );
                        }
                    };
                    let c =
                        StoredClient::document(client_id, metadata, d.cache_until.unwrap_or(now));
                    if let Err(e) =
                        self.storage
                            .add_client(c.clone(), &self.config.client_limits(), now)
                    {
                        return Self::error_page(
                            StatusCode::SERVICE_UNAVAILABLE,
                            &format!("{e}; try again later"),
                        );
                    }
                    c
                }
                None => {
                    return AuthorizeOutcome::FetchClientMetadata {
                        url: client_id.to_owned(),
                    };
                }
            },
            _ => return Self::error_page(StatusCode::BAD_REQUEST, "unknown client"),
        };
        let registered = client.metadata.redirect_uris.clone().unwrap_or_default();
        let redirect_uri = match p.get("redirect_uri") {
            Some(r) if redirect_matches(&registered, r) => r.to_owned(),
            Some(_) => {
                return Self::error_page(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri is not registered for this client",
                );
            }
            None if registered.len() == 1 => registered.first().cloned().unwrap_or_default(),
            None => return Self::error_page(StatusCode::BAD_REQUEST, "redirect_uri is missing"),
        };
        // From here on, errors go back to the (verified) redirect URI, but only for a
        // client the operator configured. Anyone can register a client (RFC 7591) or
        // publish a metadata document with any `https` redirect URI, so redirecting an
        // error before the user has interacted would make this server an open redirector
        // (RFC 9700 §4.11.2, BCP-1): for those clients the error is shown instead.
        let state = p.get("state");
        let redirect_error = |code: &str, desc: &str| {
            let mut pairs = vec![("error", code), ("error_description", desc)];
            if let Some(s) = state {
                pairs.push(("state", s));
            }
            self.redirect(&redirect_uri, &pairs)
        };
        let trusted = client.trusted();
        let err = |code: &str, desc: &str| {
            if trusted {
                redirect_error(code, desc)
            } else {
                Self::error_page(StatusCode::BAD_REQUEST, &format!("{code}: {desc}"))
            }
        };
        if p.get("response_type") != Some("code") {
            return err("unsupported_response_type", "only response_type=code");
        }
        let challenge = match CodeChallenge::from_request(
            p.get("code_challenge"),
            p.get("code_challenge_method"),
        ) {
            Ok(c) => c,
            Err(e) => return err(e.oauth_error_code(), &e.to_string()),
        };
        let rs = match self.resource_for(&p.resources) {
            Ok(r) => r,
            Err(code) => return err(code, "resource is missing, repeated or not served here"),
        };
        let scopes = match Self::check_scopes(rs, p.get("scope")) {
            Ok(s) => s,
            Err(code) => return err(code, "a requested scope is not offered for this resource"),
        };
        let decision = self.consent.decide(&ConsentRequest {
            client_id: client.client_id.clone(),
            client_name: client.metadata.client_name.clone(),
            resource: rs.resource.as_str().to_owned(),
            scopes: scopes.clone(),
            redirect_uri: redirect_uri.clone(),
        });
        let (subject, granted) = match decision {
            ConsentDecision::Approve { subject, scopes: g } => (
                subject,
                g.into_iter()
                    .filter(|s| scopes.contains(s))
                    .collect::<Vec<_>>(),
            ),
            // The user has seen the request: the refusal goes back to the client.
            ConsentDecision::Deny => return redirect_error("access_denied", "the user refused"),
        };
        let (code_bytes, family_bytes) = entropy.split_at(32);
        let code = b64(code_bytes);
        self.storage.put_code(
            sha256(code.as_bytes()),
            CodeRecord {
                client_id: client.client_id,
                redirect_uri: redirect_uri.clone(),
                challenge: challenge.as_string(),
                resource: rs.resource.as_str().to_owned(),
                scope: granted.join(" "),
                subject,
                expires_at: now.add_secs(self.config.code_ttl),
                family: b64(family_bytes),
            },
        );
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        self.redirect(&redirect_uri, &pairs)
    }

    /// Client authentication at the token, revocation and introspection endpoints:
    /// `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-decoded after base64),
    /// `client_secret_post`, or `none`, as registered. Secrets are compared as SHA-256
    /// digests in constant time.
    fn authenticate(
        &self,
        authorization: Option<&str>,
        p: &Params,
    ) -> Result<StoredClient, OAuthError> {
        let (id, secret, method) = match authorization {
            Some(h) => {
                let (scheme, rest) = h.split_once(' ').ok_or_else(OAuthError::invalid_client)?;
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(OAuthError::invalid_client());
                }
                let raw = STANDARD
                    .decode(rest.trim())
                    .map_err(|_| OAuthError::invalid_client())?;
                let raw = String::from_utf8(raw).map_err(|_| OAuthError::invalid_client())?;
                let (i, s) = raw.split_once(':').ok_or_else(OAuthError::invalid_client)?;
                let dec = |v: &str| {
                    form_urlencoded::parse(format!("x={v}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                if p.get("client_secret").is_some() {
                    return Err(OAuthError::bad(
                        "invalid_request",
                        "two client authentication methods",
                    ));
                }
                (dec(i), Some(dec(s)), "client_secret_basic")
            }
            None => {
                let id = p.get("client_id").ok_or_else(OAuthError::invalid_client)?;
                match p.get("client_secret") {
                    Some(s) => (id.to_owned(), Some(s.to_owned()), "client_secret_post"),
                    None => (id.to_owned(), None, "none"),
                }
            }
        };
        let client = self
            .storage
            .client(&id)
            .ok_or_else(OAuthError::invalid_client)?;
        let registered = client.metadata.auth_method().to_owned();
        let registered = if client.secret_hash.is_none() {
            "none".to_owned()
        } else {
            registered
        };
        if registered != method {
            return Err(OAuthError::invalid_client());
        }
        if let Some(expected) = &client.secret_hash {
            let given = sha256(secret.unwrap_or_default().as_bytes());
            if !bool::from(given.ct_eq(expected)) {
                return Err(OAuthError::invalid_client());
            }
        }
        Ok(client)
    }

    fn issue(
        &self,
        now: UnixTime,
        client: &StoredClient,
        g: &Issue<'_>,
        entropy: &[u8; 64],
    ) -> Result<Response<Vec<u8>>, OAuthError> {
        let Issue {
            subject,
            scope,
            grant_scope,
            resource,
            family,
            with_refresh,
        } = *g;
        let (jti_bytes, rest) = entropy.split_at(16);
        let refresh_bytes = rest.get(..32).unwrap_or_default();
        let jti = b64(jti_bytes);
        let exp = now.add_secs(self.config.access_ttl);
        let mut claims = json!({
            "iss": self.config.issuer,
            "sub": subject,
            "aud": resource,
            "client_id": client.client_id,
            "iat": now.as_secs(),
            "exp": exp.as_secs(),
            "jti": jti,
        });
        if !scope.is_empty() {
            set(&mut claims, "scope", Value::from(scope));
        }
        // RFC 9068 §2.1: `typ` is `at+jwt`; `alg` and `kid` come from the signer.
        let token =
            sign_compact(self.signer.as_ref(), typ_header("at+jwt"), &claims).map_err(|_| {
                OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "signing failed",
                )
            })?;
        self.storage.put_access(&jti, family, exp);
        if !client.granted {
            // No longer a pending registration: kept, and off its source's count.
            self.storage.mark_client_granted(&client.client_id);
        }
        let mut body = json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.config.access_ttl,
        });
        if !scope.is_empty() {
            set(&mut body, "scope", Value::from(scope));
        }
        if with_refresh {
            let refresh = b64(refresh_bytes);
            self.storage.put_refresh(
                sha256(refresh.as_bytes()),
                RefreshRecord {
                    family: family.to_owned(),
                    client_id: client.client_id.clone(),
                    subject: subject.to_owned(),
                    scope: grant_scope.to_owned(),
                    resource: resource.to_owned(),
                    expires_at: now.add_secs(self.config.refresh_ttl),
                    rotated: false,
                },
            );
            set(&mut body, "refresh_token", Value::from(refresh));
        }
        Ok(json_response(StatusCode::OK, &body))
    }

    /// The token endpoint: `authorization_code` (PKCE verified, code single use, bound to
    /// client, redirect URI and resource), `refresh_token` (rotation; reusing a rotated
    /// token revokes the whole grant) and `client_credentials` (confidential clients).
    /// `entropy` gives the `jti` and the new refresh token.
    ///
    /// A code is spent by its first presentation, whatever the outcome: a request that
    /// fails the client, redirect URI or PKCE check spends it too (the client then starts
    /// a new authorization). A code that reached another party is compromised, and no one
    /// gets a second guess at its verifier. A replayed code revokes every token it issued
    /// only when the replay itself passes those checks (O21-13); an invalid replay gets
    /// `invalid_grant` and revokes nothing.
    ///
    /// A client ID metadata document is not fetched again here, even when stale: the
    /// grant was authorized against it, and [`Storage::purge`] keeps the stored copy while
    /// a code or refresh token issued to the client is stored.
    pub fn token(
        &self,
        now: UnixTime,
        authorization: Option<&str>,
        body: &[u8],
        entropy: &[u8; 64],
    ) -> Response<Vec<u8>> {
        self.token_inner(now, authorization, body, entropy)
            .unwrap_or_else(|e| e.response())
    }

    fn token_inner(
        &self,
        now: UnixTime,
        authorization: Option<&str>,
        body: &[u8],
        entropy: &[u8; 64],
    ) -> Result<Response<Vec<u8>>, OAuthError> {
        if body.len() > MAX_FORM_LEN {
            return Err(OAuthError::bad("invalid_request", "request too large"));
        }
        let p = params(body)?;
        let client = self.authenticate(authorization, &p)?;
        let grants = client.metadata.grant_types_or_default();
        let grant = p
            .get("grant_type")
            .ok_or_else(|| OAuthError::bad("invalid_request", "grant_type is missing"))?;
        if !grants.iter().any(|g| g == grant) {
            return Err(OAuthError::bad(
                "unauthorized_client",
                "grant type not registered for this client",
            ));
        }
        let refresh_allowed = grants.iter().any(|g| g == "refresh_token");
        let invalid_grant = |d: &str| OAuthError::bad("invalid_grant", d);
        match grant {
            "authorization_code" => {
                let code = p
                    .get("code")
                    .ok_or_else(|| OAuthError::bad("invalid_request", "code is missing"))?;
                // The code is spent by this presentation whatever follows (see
                // `token`): a failed check does not leave it for another try.
                let (rec, replayed) = self
                    .storage
                    .take_code(&sha256(code.as_bytes()))
                    .ok_or_else(|| invalid_grant("unknown code"))?;
                // Who presents the code proves itself first: the client it was issued
                // to, the same redirect URI, the PKCE verifier. Only then may a replay
                // revoke anything (O21-13: not on invalid replays, or anyone holding a
                // leaked code could revoke the victim's tokens).
                if rec.client_id != client.client_id {
                    return Err(invalid_grant("code was issued to another client"));
                }
                if p.get("redirect_uri").is_some_and(|r| r != rec.redirect_uri) {
                    return Err(invalid_grant(
                        "redirect_uri differs from the authorization request",
                    ));
                }
                let verifier = p.get("code_verifier").ok_or_else(|| {
                    OAuthError::bad("invalid_request", "code_verifier is missing")
                })?;
                let challenge = CodeChallenge::parse_s256(&rec.challenge)
                    .map_err(|_| invalid_grant("bad code"))?;
                challenge
                    .verify(verifier)
                    .map_err(|_| invalid_grant("code_verifier does not match the challenge"))?;
                if replayed {
                    // A second valid redemption (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3): the
                    // code leaked with its verifier; revoke what it issued.
                    self.storage.revoke_family(&rec.family, now);
                    return Err(invalid_grant("code already used; its tokens are revoked"));
                }
                if rec.expires_at <= now {
                    return Err(invalid_grant("code expired"));
                }
                if !same_resource(&p.resources, &rec.resource) {
                    return Err(OAuthError::bad(
                        "invalid_target",
                        "resource differs from the authorization request",
                    ));
                }
                let g = Issue {
                    subject: &rec.subject,
                    scope: &rec.scope,
                    grant_scope: &rec.scope,
                    resource: &rec.resource,
                    family: &rec.family,
                    with_refresh: refresh_allowed,
                };
                self.issue(now, &client, &g, entropy)
            }
            "refresh_token" => {
                let token = p.get("refresh_token").ok_or_else(|| {
                    OAuthError::bad("invalid_request", "refresh_token is missing")
                })?;
                let digest = sha256(token.as_bytes());
                let rec = self
                    .storage
                    .refresh(&digest)
                    .ok_or_else(|| invalid_grant("unknown refresh token"))?;
                if rec.client_id != client.client_id {
                    return Err(invalid_grant("refresh token of another client"));
                }
                // Every check before the token is spent: a refused request must not turn
                // the client's next, correct use into "reuse".
                if rec.rotated || self.storage.family_revoked(&rec.family) {
                    // Reuse of a rotated token: someone holds a stolen copy.
                    self.storage.revoke_family(&rec.family, now);
                    return Err(invalid_grant("refresh token reused; the grant is revoked"));
                }
                if rec.expires_at <= now {
                    return Err(invalid_grant("refresh token expired"));
                }
                if !same_resource(&p.resources, &rec.resource) {
                    return Err(OAuthError::bad(
                        "invalid_target",
                        "resource differs from the grant",
                    ));
                }
                let scope = match p.get("scope") {
                    Some(s) => {
                        let held: Vec<&str> = rec.scope.split(' ').collect();
                        if s.split(' ')
                            .filter(|x| !x.is_empty())
                            .any(|x| !held.contains(&x))
                        {
                            return Err(OAuthError::bad(
                                "invalid_scope",
                                "more scope than the grant holds",
                            ));
                        }
                        s.to_owned()
                    }
                    None => rec.scope.clone(),
                };
                let spent = self
                    .storage
                    .rotate_refresh(&digest)
                    .ok_or_else(|| invalid_grant("unknown refresh token"))?;
                if spent.rotated {
                    // A concurrent use won the race: the second one is reuse.
                    self.storage.revoke_family(&rec.family, now);
                    return Err(invalid_grant("refresh token reused; the grant is revoked"));
                }
                let g = Issue {
                    subject: &rec.subject,
                    scope: &scope,
                    grant_scope: &rec.scope,
                    resource: &rec.resource,
                    family: &rec.family,
                    with_refresh: true,
                };
                self.issue(now, &client, &g, entropy)
            }
            "client_credentials" => {
                if client.secret_hash.is_none() {
                    return Err(OAuthError::bad(
                        "unauthorized_client",
                        "public clients cannot use client_credentials",
                    ));
                }
                let rs = self.resource_for(&p.resources).map_err(|c| {
                    OAuthError::bad(c, "resource is missing, repeated or not served here")
                })?;
                let scopes = Self::check_scopes(rs, p.get("scope"))
                    .map_err(|c| OAuthError::bad(c, "a requested scope is not offered"))?;
                let family = b64(entropy.get(48..64).unwrap_or_default());
                let scope = scopes.join(" ");
                let g = Issue {
                    subject: &client.client_id,
                    scope: &scope,
                    grant_scope: &scope,
                    resource: rs.resource.as_str(),
                    family: &family,
                    with_refresh: false,
                };
                self.issue(now, &client, &g, entropy)
            }
            _ => Err(OAuthError::bad(
                "unsupported_grant_type",
                "grant type not supported",
            )),
        }
    }

    /// The registration endpoint (RFC 7591): the request checked by
    /// [`AsConfig::registration`], a `client_id` (128 bits) and, for confidential
    /// methods, a secret (256 bits) from `entropy`, stored as a SHA-256 digest and
    /// returned once.
    ///
    /// Only the known metadata members are stored and returned (unknown ones are ignored,
    /// DCR-6; see [`MAX_METADATA_STRING`], [`MAX_CONTACTS`]). `source` is the address the
    /// request came from (the adapter passes the peer address; `None` when unknown, which
    /// counts against the total only); it is keyed by
    /// [`source_key`](mcp_oauth_common::source_key) (an IPv6 address by its /64). Open
    /// registration is bounded (DCR-8): at most [`AsConfig::max_registered_clients`] in
    /// all and [`AsConfig::max_pending_registrations_per_source`] pending per source;
    /// beyond either the answer is `429 Too Many Requests` with `Retry-After` and an
    /// OAuth error body (`temporarily_unavailable`), which a client reads as "try later"
    /// rather than as a fault in its metadata. A client that completes no grant within
    /// [`AsConfig::unused_registration_ttl`] is forgotten by [`Storage::purge`].
    pub fn register(
        &self,
        now: UnixTime,
        source: Option<IpAddr>,
        authorization: Option<&str>,
        body: &[u8],
        entropy: &[u8; 48],
    ) -> Response<Vec<u8>> {
        let metadata: ClientMetadata = match self
            .config
            .registration
            .validate_request(authorization, body)
        {
            Ok(m) => m,
            Err(RegistrationRequestError::Rejected(r)) => return r.response(),
            Err(_) => {
                let mut r = OAuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "initial access token required",
                )
                .response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                return r;
            }
        };
        let metadata = match storable(metadata) {
            Ok(m) => m,
            Err(r) => return r.response(),
        };
        let (id_bytes, secret_bytes) = entropy.split_at(16);
        let client_id = b64(id_bytes);
        let confidential = metadata.auth_method() != "none";
        let secret = confidential.then(|| b64(secret_bytes));
        let client = StoredClient::registered(
            client_id.clone(),
            secret.as_deref().map(|s| sha256(s.as_bytes())),
            metadata.clone(),
            source.map(source_key),
            now,
            now.add_secs(self.config.unused_registration_ttl),
        );
        if let Err(e) = self
            .storage
            .add_client(client, &self.config.client_limits(), now)
        {
            return limit_response(now, e);
        }
        let mut body = match serde_json::to_value(&metadata) {
            Ok(Value::Object(m)) => Value::Object(m),
            _ => json!({}),
        };
        set(&mut body, "client_id", Value::from(client_id));
        set(&mut body, "client_id_issued_at", Value::from(now.as_secs()));
        set(
            &mut body,
            "token_endpoint_auth_method",
            Value::from(metadata.auth_method()),
        );
        if let Some(s) = secret {
            set(&mut body, "client_secret", Value::from(s));
            set(&mut body, "client_secret_expires_at", Value::from(0));
        }
        json_response(StatusCode::CREATED, &body)
    }

    /// RFC 7009 revocation: refresh tokens (the whole grant) and access tokens (by
    /// `jti`); always `200` for an authenticated client, whatever the token.
    pub fn revoke(
        &self,
        now: UnixTime,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let run = || -> Result<(), OAuthError> {
            if body.len() > MAX_FORM_LEN {
                return Err(OAuthError::bad("invalid_request", "request too large"));
            }
            let p = params(body)?;
            let client = self.authenticate(authorization, &p)?;
            let token = p
                .get("token")
                .ok_or_else(|| OAuthError::bad("invalid_request", "token is missing"))?;
            if let Some(r) = self.storage.refresh(&sha256(token.as_bytes())) {
                if r.client_id == client.client_id {
                    self.storage.revoke_family(&r.family, now);
                }
                return Ok(());
            }
            if let Some(ctx) = self.own_token(token, now)
                && ctx.client_id() == Some(client.client_id.as_str())
                && let Some(jti) = ctx.token_id()
            {
                self.storage.revoke_access(jti);
            }
            Ok(())
        };
        match run() {
            Ok(()) => json_response(StatusCode::OK, &json!({})),
            Err(e) => e.response(),
        }
    }

    fn own_token(&self, token: &str, now: UnixTime) -> Option<mcp_oauth_jwt_validate::AuthContext> {
        let policy = Policy::from_lists(
            [self.config.issuer.as_str()],
            self.config
                .resources
                .iter()
                .map(|r| r.resource.as_str().to_owned()),
        )
        .leeway(core::time::Duration::ZERO);
        Validator::new(policy)
            .verify(token, &self.own_keys, now)
            .ok()
    }

    /// RFC 7662 introspection, for the resource servers named in
    /// [`AsConfig::introspection_clients`] only (configured clients with a secret): any
    /// other client, even authenticated, is refused with `403 unauthorized_client`
    /// (RFC 7662 §4: token scanning); failed authentication is `401 invalid_client`
    /// (§2.3). Active answers: access tokens this server signed (unexpired, not revoked),
    /// and refresh tokens (not rotated, not expired, not revoked) only to the client
    /// they were issued to; a refresh token asked about by anyone else is
    /// `{"active": false}`, so it can never pass for an access token at a resource
    /// server. `token_type_hint` (`access_token`, `refresh_token`) picks which kind is
    /// looked up first; the other is still looked up (RFC 7662 §2.1), and an unknown
    /// hint is ignored.
    pub fn introspect(
        &self,
        now: UnixTime,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Response<Vec<u8>> {
        let run = || -> Result<Value, OAuthError> {
            if body.len() > MAX_FORM_LEN {
                return Err(OAuthError::bad("invalid_request", "request too large"));
            }
            let p = params(body)?;
            let caller = self.authenticate(authorization, &p)?;
            // Introspection is for resource servers, which authenticate: a public client
            // id is known to anyone and proves nothing.
            if caller.secret_hash.is_none() {
                return Err(OAuthError::invalid_client());
            }
            // And only for those the operator named: a client anyone can register must
            // not learn whose tokens are live, and for what.
            if !caller.trusted()
                || !self
                    .config
                    .introspection_clients
                    .contains(&caller.client_id)
            {
                return Err(OAuthError::new(
                    StatusCode::FORBIDDEN,
                    "unauthorized_client",
                    "this client may not introspect tokens",
                ));
            }
            let token = p
                .get("token")
                .ok_or_else(|| OAuthError::bad("invalid_request", "token is missing"))?;
            let access = || {
                let ctx = self.own_token(token, now)?;
                let jti = ctx.token_id()?;
                if self.storage.access_revoked(jti) {
                    return None;
                }
                let mut v = Value::Object(ctx.claims());
                set(&mut v, "active", Value::Bool(true));
                set(&mut v, "token_type", Value::from("Bearer"));
                Some(v)
            };
            let refresh = || {
                let r = self.storage.refresh(&sha256(token.as_bytes()))?;
                let live = !r.rotated
                    && r.expires_at > now
                    && !self.storage.family_revoked(&r.family)
                    && r.client_id == caller.client_id;
                live.then(|| {
                    json!({
                        "active": true, "token_type": "refresh_token", "client_id": r.client_id,
                        "sub": r.subject, "scope": r.scope, "aud": r.resource,
                        "iss": self.config.issuer, "exp": r.expires_at.as_secs(),
                    })
                })
            };
            let found = if p.get("token_type_hint") == Some("refresh_token") {
                refresh().or_else(access)
            } else {
                access().or_else(refresh)
            };
            Ok(found.unwrap_or_else(|| json!({"active": false})))
        };
        match run() {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err(e) => e.response(),
        }
    }
}
