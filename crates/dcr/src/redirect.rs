//! Redirect-URI rules (RFC 8252 §7, OAuth 2.1 §2.3, RFC 7591 §5) and matching.

use core::fmt;

use mcp_oauth_resource_indicators::{ResourceUri, check_uri_characters};

/// Longest redirect URI accepted by default, in bytes.
pub const DEFAULT_MAX_REDIRECT_URI_LEN: usize = 2000;
/// Most redirect URIs one client may register by default.
pub const DEFAULT_MAX_REDIRECT_URIS: usize = 10;

/// What kind of redirect URI a valid one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectKind {
    /// `https` on any host.
    Https,
    /// `http` on a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`), RFC 8252 §7.3.
    Loopback,
    /// A private-use scheme, RFC 8252 §7.1 (`com.example.app:/callback`).
    PrivateUse,
}

/// Why a redirect URI is refused (`invalid_redirect_uri`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectError {
    /// Longer than the limit.
    TooLong,
    /// Not an absolute URI, or has a character a URI cannot hold.
    NotAbsolute,
    /// Has a fragment (RFC 6749 §3.1.2).
    Fragment,
    /// `http` on a host that is not loopback, userinfo, or another unusable http(s) form.
    InsecureOrMalformed,
    /// A scheme that is never a redirect target (`javascript`, `data`, `file`, …).
    DangerousScheme,
    /// A private-use scheme without a `.`: RFC 8252 §7.1 requires a reverse domain name,
    /// so that another app cannot claim the same scheme.
    SchemeNotReverseDomain,
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedirectError::TooLong => "redirect URI is too long",
            RedirectError::NotAbsolute => "redirect URI is not an absolute URI",
            RedirectError::Fragment => "redirect URI has a fragment",
            RedirectError::InsecureOrMalformed => {
                "redirect URI must be https, http on a loopback host, or a private-use scheme"
            }
            RedirectError::DangerousScheme => "redirect URI scheme is never allowed",
            RedirectError::SchemeNotReverseDomain => {
                "private-use redirect scheme must be a reverse domain name (RFC 8252 7.1)"
            }
        })
    }
}

impl std::error::Error for RedirectError {}

/// Schemes that are never a redirect target, whatever the policy.
const DANGEROUS: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "ftp",
    "ws",
    "wss",
];

/// Redirect-URI rules. Strict by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectPolicy {
    pub(crate) max_len: usize,
    pub(crate) allow_dotless_schemes: bool,
}

impl Default for RedirectPolicy {
    fn default() -> Self {
        RedirectPolicy {
            max_len: DEFAULT_MAX_REDIRECT_URI_LEN,
            allow_dotless_schemes: false,
        }
    }
}

impl RedirectPolicy {
    /// Another length limit.
    pub fn max_len(mut self, len: usize) -> Self {
        self.max_len = len;
        self
    }

    /// **Insecure.** Accept private-use schemes without a `.` (`cursor://…`,
    /// `myapp://…`). RFC 8252 §7.1 requires reverse-domain schemes because any app can
    /// register a plain one: a malicious app that claims the same scheme receives the
    /// authorization code (PKCE still protects the exchange if the attacker lacks the
    /// verifier, but the code leaks). Some MCP clients ship such schemes; allow them only
    /// for clients you know.
    pub fn insecure_allow_dotless_private_schemes(mut self) -> Self {
        self.allow_dotless_schemes = true;
        self
    }

    /// Checks one redirect URI: absolute, no fragment, and `https`, `http` on a loopback
    /// host, or a private-use scheme containing a `.` (FORMAT `dcr-validate`).
    pub fn check(&self, uri: &str) -> Result<RedirectKind, RedirectError> {
        if uri.len() > self.max_len {
            return Err(RedirectError::TooLong);
        }
        check_uri_characters(uri).map_err(|_| RedirectError::NotAbsolute)?;
        if uri.contains('#') {
            return Err(RedirectError::Fragment);
        }
        let (scheme, rest) = uri.split_once(':').ok_or(RedirectError::NotAbsolute)?;
        let valid_scheme = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme || rest.is_empty() {
            return Err(RedirectError::NotAbsolute);
        }
        let lower = scheme.to_ascii_lowercase();
        if DANGEROUS.contains(&lower.as_str()) {
            return Err(RedirectError::DangerousScheme);
        }
        if lower == "http" || lower == "https" {
            // ResourceUri: absolute, no userinfo, https or loopback-only http.
            let r = ResourceUri::parse(uri).map_err(|_| RedirectError::InsecureOrMalformed)?;
            return Ok(if r.scheme() == "http" {
                RedirectKind::Loopback
            } else {
                RedirectKind::Https
            });
        }
        if !lower.contains('.') && !self.allow_dotless_schemes {
            return Err(RedirectError::SchemeNotReverseDomain);
        }
        Ok(RedirectKind::PrivateUse)
    }
}

/// Whether a requested `redirect_uri` matches one of the registered ones (FORMAT
/// `redirect-match`): exact string comparison, except that for `http` redirect URIs on a
/// loopback IP literal (`127.0.0.1`, `[::1]`) the port is ignored (RFC 8252 §7.3).
/// `localhost` gets no port freedom: it is a name, and RFC 8252 §8.3 recommends against it.
///
/// ```
/// use mcp_oauth_dcr::redirect_matches;
/// let registered = ["http://127.0.0.1/callback".to_owned()];
/// assert!(redirect_matches(&registered, "http://127.0.0.1:53123/callback"));
/// assert!(!redirect_matches(&registered, "http://127.0.0.1:53123/callback/"));
/// ```
pub fn redirect_matches(registered: &[String], requested: &str) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Some((host, rest)) = loopback_ip_parts(requested) else {
        return false;
    };
    registered
        .iter()
        .filter_map(|r| loopback_ip_parts(r))
        .any(|(h, r)| h == host && r == rest)
}

/// For `http://127.0.0.1[:port]/rest` or `http://[::1][:port]/rest`: (host, rest), with
/// the port (which must be digits) dropped. Scheme compared exactly lower-case.
fn loopback_ip_parts(uri: &str) -> Option<(&str, &str)> {
    let after = uri.strip_prefix("http://")?;
    let host = ["127.0.0.1", "[::1]"]
        .into_iter()
        .find(|h| after.starts_with(h))?;
    let after_host = after.get(host.len()..)?;
    let rest = match after_host.strip_prefix(':') {
        Some(p) => {
            let digits = p.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 5 {
                return None;
            }
            p.get(digits..)?
        }
        None => after_host,
    };
    if !(rest.is_empty() || rest.starts_with(['/', '?'])) {
        return None;
    }
    Some((host, rest))
}
