//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document; MCP
//! 2025-11-25+): the client publishes its metadata at an `https` URL that is its
//! `client_id`; the authorization server fetches and checks it.

use core::fmt;
use core::time::Duration;

use http::{HeaderMap, StatusCode, header};
use mcp_oauth_common::{JsonLimits, UnixTime, parse_json};
use serde_json::Value;

use crate::redirect::RedirectPolicy;
use crate::{ClientMetadata, RegistrationErrorCode};

/// Client authentication methods a document may not use: they need a shared secret,
/// and a public document cannot hold one (CIMD-4).
pub const SHARED_SECRET_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
];

/// The rules an authorization server's fetcher must apply to the document URL (CIMD-9,
/// RFC 9728 §7.7 in spirit). The fetch itself is `mcp-oauth-transport-adapters`'s; this list is the
/// contract it implements.
pub const FETCH_RULES: &[&str] = &[
    "only https URLs that pass validate_client_id_url",
    "resolve the host and refuse loopback, private, link-local, CGNAT, metadata and other special addresses (mcp_oauth_common::is_forbidden_address) on every resolved address, not only on the literal",
    "connect to the address that was checked (no second resolution)",
    "do not follow redirects",
    "cap the body (default 5 KiB) and the time (a few seconds)",
    "accept only 200 with a JSON body; never cache an error or an invalid document",
];

/// Why a client ID or its document is unusable. On the wire, `invalid_client_metadata`
/// (or `invalid_client` at the authorization endpoint, MCP-CIMD-13).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CimdError {
    /// The `client_id` URL breaks CIMD-1/2: not https, no path, a `.`/`..` segment, a
    /// fragment, userinfo, or a query.
    InvalidClientIdUrl,
    /// The fetch did not answer 200.
    Status(u16),
    /// Not a JSON object within the size limit, or members of the wrong type.
    InvalidDocument,
    /// The document's `client_id` is not the URL, byte for byte (CIMD-3, MCP-CIMD-6).
    ClientIdMismatch,
    /// A required member (`client_name`, `redirect_uris`) is missing (MCP-CIMD-5).
    MissingMember(&'static str),
    /// A shared-secret authentication method, or a `client_secret` member (CIMD-4).
    SharedSecret,
    /// A redirect URI breaks the redirect rules.
    InvalidRedirectUri,
}

impl CimdError {
    /// The RFC 7591 code to report.
    pub fn registration_code(&self) -> RegistrationErrorCode {
        match self {
            CimdError::InvalidRedirectUri => RegistrationErrorCode::InvalidRedirectUri,
            _ => RegistrationErrorCode::InvalidClientMetadata,
        }
    }
}

impl fmt::Display for CimdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CimdError::InvalidClientIdUrl => {
                f.write_str("client_id is not a valid client ID metadata document URL")
            }
            CimdError::Status(s) => write!(f, "client ID metadata document fetch answered {s}"),
            CimdError::InvalidDocument => {
                f.write_str("client ID metadata document is not valid JSON metadata")
            }
            CimdError::ClientIdMismatch => f.write_str("document client_id does not equal its URL"),
            CimdError::MissingMember(m) => write!(f, "client ID metadata document has no {m}"),
            CimdError::SharedSecret => {
                f.write_str("client ID metadata document uses a shared secret")
            }
            CimdError::InvalidRedirectUri => {
                f.write_str("client ID metadata document has an invalid redirect URI")
            }
        }
    }
}

impl std::error::Error for CimdError {}

/// Checks a URL-shaped `client_id` (CIMD-1, CIMD-2, MCP-CIMD-4): `https`, a path other
/// than `/`, no `.` or `..` segment, no fragment, no userinfo, no query; a port is fine.
pub fn validate_client_id_url(url: &str) -> Result<(), CimdError> {
    let r = mcp_oauth_resource_indicators::ResourceUri::parse(url)
        .map_err(|_| CimdError::InvalidClientIdUrl)?;
    let path = r.path();
    let bad_segment = path.split('/').any(|s| s == "." || s == "..");
    // The canonical form lower-cases the host; the URL as given must already be canonical
    // so that the byte-for-byte comparison of CIMD-3 is meaningful.
    if r.scheme() != "https"
        || path.is_empty()
        || path == "/"
        || bad_segment
        || r.query().is_some()
        || r.as_str() != url
    {
        return Err(CimdError::InvalidClientIdUrl);
    }
    Ok(())
}

/// Builds the document a client publishes at `url` from its metadata: sets `client_id`,
/// and refuses what the draft forbids (a shared-secret method, a `client_secret`), a
/// missing `client_name` or `redirect_uris`, or a bad URL.
pub fn client_id_metadata_document(
    url: &str,
    metadata: &ClientMetadata,
) -> Result<Vec<u8>, CimdError> {
    validate_client_id_url(url)?;
    if metadata.client_name.is_none() {
        return Err(CimdError::MissingMember("client_name"));
    }
    if metadata.redirect_uris.as_ref().is_none_or(Vec::is_empty) {
        return Err(CimdError::MissingMember("redirect_uris"));
    }
    if SHARED_SECRET_METHODS.contains(&metadata.auth_method())
        || metadata.extra.contains_key("client_secret")
    {
        return Err(CimdError::SharedSecret);
    }
    let mut value = serde_json::to_value(metadata).map_err(|_| CimdError::InvalidDocument)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("client_id".into(), Value::String(url.to_owned()));
    }
    serde_json::to_vec(&value).map_err(|_| CimdError::InvalidDocument)
}

/// How an authorization server reads fetched documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CimdPolicy {
    max_bytes: usize,
    min_cache: Duration,
    max_cache: Duration,
    default_cache: Duration,
    redirect: RedirectPolicy,
}

impl Default for CimdPolicy {
    fn default() -> Self {
        CimdPolicy {
            max_bytes: 5 * 1024,
            min_cache: Duration::from_secs(60),
            max_cache: Duration::from_secs(24 * 3600),
            default_cache: Duration::from_secs(3600),
            redirect: RedirectPolicy::default(),
        }
    }
}

/// A checked document and how long it may be cached.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedDocument {
    /// The client's metadata.
    pub metadata: ClientMetadata,
    /// Cache it until then (from `Cache-Control`, within the policy's bounds); `None`
    /// for `no-store`.
    pub cache_until: Option<UnixTime>,
}

impl CimdPolicy {
    /// Default: 5 KiB documents, cached 1 h unless `Cache-Control` says otherwise, within
    /// 1 min to 24 h.
    pub fn new() -> Self {
        Self::default()
    }

    /// Another document size limit.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Other cache lifetime bounds.
    pub fn cache_bounds(mut self, min: Duration, default: Duration, max: Duration) -> Self {
        self.min_cache = min;
        self.default_cache = default;
        self.max_cache = max;
        self
    }

    /// Other redirect rules for the document's redirect URIs.
    pub fn redirect_policy(mut self, policy: RedirectPolicy) -> Self {
        self.redirect = policy;
        self
    }

    /// Checks a fetched document against the URL it was fetched from (MCP-CIMD-9, -12).
    pub fn check(
        &self,
        url: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: UnixTime,
    ) -> Result<CheckedDocument, CimdError> {
        validate_client_id_url(url)?;
        if status != StatusCode::OK {
            return Err(CimdError::Status(status.as_u16()));
        }
        let limits = JsonLimits::default()
            .with_max_bytes(self.max_bytes)
            .with_max_depth(8);
        let value: Value = parse_json(body, &limits).map_err(|_| CimdError::InvalidDocument)?;
        let obj = value.as_object().ok_or(CimdError::InvalidDocument)?;
        if obj.get("client_id").and_then(Value::as_str) != Some(url) {
            return Err(CimdError::ClientIdMismatch);
        }
        if obj.contains_key("client_secret") || obj.contains_key("client_secret_expires_at") {
            return Err(CimdError::SharedSecret);
        }
        let metadata: ClientMetadata =
            serde_json::from_value(value).map_err(|_| CimdError::InvalidDocument)?;
        if metadata.client_name.is_none() {
            return Err(CimdError::MissingMember("client_name"));
        }
        let redirects = metadata.redirect_uris.as_deref().unwrap_or_default();
        if redirects.is_empty() {
            return Err(CimdError::MissingMember("redirect_uris"));
        }
        if SHARED_SECRET_METHODS.contains(&metadata.auth_method())
            && metadata.token_endpoint_auth_method.is_some()
        {
            return Err(CimdError::SharedSecret);
        }
        for r in redirects {
            self.redirect
                .check(r)
                .map_err(|_| CimdError::InvalidRedirectUri)?;
        }
        let cache_until = match cache_control(headers) {
            CacheDirective::NoStore => None,
            CacheDirective::MaxAge(s) => Some(
                now.saturating_add(Duration::from_secs(s).clamp(self.min_cache, self.max_cache)),
            ),
            CacheDirective::None => Some(now.saturating_add(self.default_cache)),
        };
        Ok(CheckedDocument {
            metadata,
            cache_until,
        })
    }
}

enum CacheDirective {
    NoStore,
    MaxAge(u64),
    None,
}

fn cache_control(headers: &HeaderMap) -> CacheDirective {
    let Some(v) = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return CacheDirective::None;
    };
    let mut out = CacheDirective::None;
    for d in v.split(',') {
        let d = d.trim().to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return CacheDirective::NoStore;
        }
        if let Some(n) = d
            .strip_prefix("max-age=")
            .and_then(|n| n.trim_matches('"').parse().ok())
        {
            out = CacheDirective::MaxAge(n);
        }
    }
    out
}

/// How the client gets a `client_id` from an authorization server (MCP-REG-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationRoute {
    /// Use the credentials pre-registered for this authorization server.
    PreRegistered,
    /// Use the client ID metadata document URL as `client_id`.
    ClientIdMetadataDocument,
    /// Register dynamically at `registration_endpoint`.
    Dynamic,
    /// None is possible: ask the user for a client id.
    AskUser,
}

/// The MCP priority order (MCP-REG-2): pre-registered credentials for this issuer, then a
/// client ID metadata document when the server advertises
/// `client_id_metadata_document_supported: true` and the client publishes one, then
/// dynamic registration when it has a `registration_endpoint`, else ask the user.
pub fn choose_registration(
    has_preregistered: bool,
    has_cimd_url: bool,
    cimd_supported: Option<bool>,
    registration_endpoint: Option<&str>,
) -> RegistrationRoute {
    if has_preregistered {
        RegistrationRoute::PreRegistered
    } else if has_cimd_url && cimd_supported == Some(true) {
        RegistrationRoute::ClientIdMetadataDocument
    } else if registration_endpoint.is_some() {
        RegistrationRoute::Dynamic
    } else {
        RegistrationRoute::AskUser
    }
}
