//! `WWW-Authenticate` challenges: building RFC 6750 §3 Bearer challenges with the RFC 9728
//! `resource_metadata` parameter (server side), and parsing any `WWW-Authenticate` value
//! per RFC 9110 §11.6.1 (client side).

use core::fmt;

use http::{HeaderValue, Response, StatusCode, header};

use crate::syntax::{Cursor, quote};

/// The RFC 6750 §3.1 error codes; defined in `mcp-oauth-common`'s wire vocabulary, which
/// every crate shares.
pub use mcp_oauth_common::BearerError;

/// Why a challenge could not be built. Nothing is ever written raw: a value that could
/// break out of its quoted string or the header is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeError {
    /// A parameter value has a byte RFC 6750 §3 does not allow in it (for `realm` and
    /// `resource_metadata`: a control character or non-ASCII; for `scope`,
    /// `error_description` and `error_uri`: also `"` and `\`).
    InvalidCharacter {
        /// The parameter.
        param: &'static str,
    },
    /// `scope` is not a space-separated list of scope tokens (RFC 6749 §3.3).
    InvalidScope,
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChallengeError::InvalidCharacter { param } => {
                write!(
                    f,
                    "challenge parameter {param} has a character it may not hold"
                )
            }
            ChallengeError::InvalidScope => {
                f.write_str("challenge scope is not a space-separated list of scope tokens")
            }
        }
    }
}

impl std::error::Error for ChallengeError {}

/// A Bearer challenge to send (RFC 6750 §3 + RFC 9728 §5.1), built value by value.
///
/// ```
/// use mcp_oauth_prm_metadata::{BearerChallenge, BearerError};
/// let c = BearerChallenge::new()
///     .resource_metadata("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
///     .scope("files:read")
///     .error(BearerError::InvalidToken)
///     .error_description("The access token expired");
/// assert_eq!(
///     c.header_value()?,
///     r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read", error="invalid_token", error_description="The access token expired""#
/// );
/// assert_eq!(c.status().as_u16(), 401);
/// # Ok::<(), mcp_oauth_prm_metadata::ChallengeError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    realm: Option<String>,
    resource_metadata: Option<String>,
    scope: Option<String>,
    error: Option<BearerError>,
    error_description: Option<String>,
    error_uri: Option<String>,
}

impl BearerChallenge {
    /// A challenge with no parameters (`Bearer`): the answer to a request that carried
    /// no token at all (RFC 6750 §3.1: no error code then).
    pub fn new() -> Self {
        Self::default()
    }

    /// `realm`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// `resource_metadata`: the URL of the protected resource metadata (RFC 9728 §5.1).
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// `scope`: the scopes needed (space-separated). `offline_access` is left out of the
    /// header (MCP-SCOPE-16).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// `error`.
    pub fn error(mut self, error: BearerError) -> Self {
        self.error = Some(error);
        self
    }

    /// `error_description`: for developers, not end users.
    pub fn error_description(mut self, description: impl Into<String>) -> Self {
        self.error_description = Some(description.into());
        self
    }

    /// `error_uri`.
    pub fn error_uri(mut self, uri: impl Into<String>) -> Self {
        self.error_uri = Some(uri.into());
        self
    }

    /// The status to answer with: the error's, or 401 without an error.
    pub fn status(&self) -> StatusCode {
        self.error
            .map_or(StatusCode::UNAUTHORIZED, BearerError::status)
    }

    /// The `WWW-Authenticate` value.
    pub fn header_value(&self) -> Result<HeaderValue, ChallengeError> {
        let mut params: Vec<String> = Vec::new();
        let mut push = |name: &'static str, value: Option<&str>, strict: bool| {
            let Some(v) = value else { return Ok(()) };
            // RFC 6750 §3: error_description and error_uri exclude `"` and `\`.
            if strict && v.contains(['"', '\\']) {
                return Err(ChallengeError::InvalidCharacter { param: name });
            }
            let q = quote(v).ok_or(ChallengeError::InvalidCharacter { param: name })?;
            params.push(format!("{name}={q}"));
            Ok(())
        };
        push("realm", self.realm.as_deref(), false)?;
        push(
            "resource_metadata",
            self.resource_metadata.as_deref(),
            false,
        )?;
        if let Some(s) = &self.scope
            && !is_scope_list(s)
        {
            return Err(ChallengeError::InvalidScope);
        }
        // MCP-SCOPE-16: `offline_access` is the client's business with its authorization
        // server, never something a resource server asks for.
        let scope = self.scope.as_deref().and_then(|s| {
            if !s.split(' ').any(|t| t == OFFLINE_ACCESS) {
                return Some(std::borrow::Cow::Borrowed(s));
            }
            let kept: Vec<&str> = s.split(' ').filter(|t| *t != OFFLINE_ACCESS).collect();
            (!kept.is_empty()).then(|| std::borrow::Cow::Owned(kept.join(" ")))
        });
        push("scope", scope.as_deref(), true)?;
        push("error", self.error.map(BearerError::as_str), true)?;
        push("error_description", self.error_description.as_deref(), true)?;
        push("error_uri", self.error_uri.as_deref(), true)?;
        let value = if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        };
        HeaderValue::from_str(&value)
            .map_err(|_| ChallengeError::InvalidCharacter { param: "value" })
    }

    /// The whole response as data: the status, `WWW-Authenticate`, and an empty body.
    pub fn response(&self) -> Result<Response<Vec<u8>>, ChallengeError> {
        let value = self.header_value()?;
        let mut resp = Response::new(Vec::new());
        *resp.status_mut() = self.status();
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        Ok(resp)
    }
}

/// The OpenID Connect scope asking for a refresh token (MCP-SCOPE-16).
pub(crate) const OFFLINE_ACCESS: &str = "offline_access";

/// RFC 6749 §3.3: `scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_list(s: &str) -> bool {
    !s.is_empty()
        && s.split(' ').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        })
}

/// Longest `WWW-Authenticate` value parsed, in bytes.
pub const MAX_HEADER_LEN: usize = 8 * 1024;
/// Most challenges read from one value.
pub const MAX_CHALLENGES: usize = 16;
/// Most parameters read from one challenge.
pub const MAX_PARAMS: usize = 32;

/// One challenge of a `WWW-Authenticate` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth-scheme, lower-cased (`bearer`, `basic`, `dpop`).
    pub scheme: String,
    /// Parameters in order: names lower-cased, values unquoted and unescaped.
    pub params: Vec<(String, String)>,
    /// The token68 form, when the challenge uses it instead of parameters.
    pub token68: Option<String>,
}

impl Challenge {
    /// A parameter's value by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a `WWW-Authenticate` value did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// No challenge at all.
    Empty,
    /// Longer than [`MAX_HEADER_LEN`].
    TooLong,
    /// More than [`MAX_CHALLENGES`] challenges or [`MAX_PARAMS`] parameters in one.
    TooMany,
    /// A parameter name appears twice in one challenge.
    DuplicateParam {
        /// The (lower-cased) name.
        name: String,
    },
    /// The grammar broke at this byte offset.
    Syntax {
        /// Zero-based byte offset.
        position: usize,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Empty => f.write_str("WWW-Authenticate holds no challenge"),
            HeaderError::TooLong => {
                write!(f, "WWW-Authenticate is longer than {MAX_HEADER_LEN} bytes")
            }
            HeaderError::TooMany => {
                f.write_str("WWW-Authenticate holds too many challenges or parameters")
            }
            HeaderError::DuplicateParam { name } => {
                write!(
                    f,
                    "WWW-Authenticate repeats parameter {name} in one challenge"
                )
            }
            HeaderError::Syntax { position } => {
                write!(f, "WWW-Authenticate does not parse at byte {position}")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// Parses one `WWW-Authenticate` field value (RFC 9110 §11.6.1): one or more challenges
/// separated by commas, each an auth-scheme followed by a token68 or by comma-separated
/// `name=value` parameters (token or quoted-string, optional whitespace around `=`).
/// Scheme and parameter names are case-insensitive and returned lower-cased.
///
/// ```
/// use mcp_oauth_prm_metadata::parse_www_authenticate;
/// let v = br#"Basic realm="x", Bearer resource_metadata="https://a.example/.well-known/oauth-protected-resource", scope="a b""#;
/// let challenges = parse_www_authenticate(v)?;
/// assert_eq!(challenges.len(), 2);
/// assert_eq!(challenges[1].scheme, "bearer");
/// assert_eq!(challenges[1].param("scope"), Some("a b"));
/// # Ok::<(), mcp_oauth_prm_metadata::HeaderError>(())
/// ```
pub fn parse_www_authenticate(value: &[u8]) -> Result<Vec<Challenge>, HeaderError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(HeaderError::TooLong);
    }
    let mut c = Cursor::new(value);
    let syntax = |c: &Cursor<'_>| HeaderError::Syntax { position: c.pos };
    let mut out = Vec::new();
    'challenges: loop {
        skip_separators(&mut c);
        if c.at_end() {
            break;
        }
        if out.len() == MAX_CHALLENGES {
            return Err(HeaderError::TooMany);
        }
        let scheme = c.token().ok_or_else(|| syntax(&c))?.to_ascii_lowercase();
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
            token68: None,
        };
        let spaces = c.skip_ows();
        if c.at_end() || c.peek() == Some(b',') {
            out.push(challenge);
            continue;
        }
        if spaces == 0 {
            return Err(syntax(&c));
        }
        if !param_follows(&c) {
            challenge.token68 = Some(c.token68().ok_or_else(|| syntax(&c))?.to_owned());
            c.skip_ows();
            if !(c.at_end() || c.peek() == Some(b',')) {
                return Err(syntax(&c));
            }
            out.push(challenge);
            continue;
        }
        loop {
            let name = c.token().ok_or_else(|| syntax(&c))?.to_ascii_lowercase();
            c.skip_ows();
            if !c.eat(b'=') {
                return Err(syntax(&c));
            }
            c.skip_ows();
            let value = match c.quoted_string() {
                Ok(Some(v)) => v,
                Ok(None) => c.token().ok_or_else(|| syntax(&c))?.to_owned(),
                Err(position) => return Err(HeaderError::Syntax { position }),
            };
            if challenge.params.iter().any(|(n, _)| *n == name) {
                return Err(HeaderError::DuplicateParam { name });
            }
            if challenge.params.len() == MAX_PARAMS {
                return Err(HeaderError::TooMany);
            }
            challenge.params.push((name, value));
            c.skip_ows();
            if c.at_end() {
                out.push(challenge);
                break 'challenges;
            }
            if !c.eat(b',') {
                return Err(syntax(&c));
            }
            skip_separators(&mut c);
            if c.at_end() || !param_follows(&c) {
                out.push(challenge);
                continue 'challenges;
            }
        }
    }
    if out.is_empty() {
        return Err(HeaderError::Empty);
    }
    Ok(out)
}

/// Skips OWS and empty list elements (RFC 9110 §5.6.1 allows `,,`).
fn skip_separators(c: &mut Cursor<'_>) {
    loop {
        c.skip_ows();
        if !c.eat(b',') {
            break;
        }
    }
}

/// Whether the cursor is at `token BWS "=" BWS (token / quoted-string)`.
fn param_follows(c: &Cursor<'_>) -> bool {
    let mut probe = Cursor::new(c.rest());
    if probe.token().is_none() {
        return false;
    }
    probe.skip_ows();
    if !probe.eat(b'=') {
        return false;
    }
    probe.skip_ows();
    matches!(probe.peek(), Some(b) if b == b'"' || crate::syntax::is_tchar(b))
}

/// The parameters of a Bearer challenge, as a client uses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BearerParams {
    /// `realm`.
    pub realm: Option<String>,
    /// `resource_metadata` (RFC 9728 §5.1).
    pub resource_metadata: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `error`, as sent (codes RFC 6750 does not define are kept as text).
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `error_uri`.
    pub error_uri: Option<String>,
}

impl BearerParams {
    /// The error as an RFC 6750 code, when it is one.
    pub fn bearer_error(&self) -> Option<BearerError> {
        self.error.as_deref().and_then(BearerError::parse)
    }
}

/// The first Bearer challenge's parameters, or `None` when there is no Bearer challenge.
pub fn bearer_params(challenges: &[Challenge]) -> Option<BearerParams> {
    let c = challenges.iter().find(|c| c.scheme == "bearer")?;
    let get = |n: &str| c.param(n).map(str::to_owned);
    Some(BearerParams {
        realm: get("realm"),
        resource_metadata: get("resource_metadata"),
        scope: get("scope"),
        error: get("error"),
        error_description: get("error_description"),
        error_uri: get("error_uri"),
    })
}
