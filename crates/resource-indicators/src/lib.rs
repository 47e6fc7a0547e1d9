#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

mod audience;
mod form;

/// The `url` crate this crate builds on, re-exported so callers use the same version.
pub use url;

pub use audience::{Audience, AudienceError, MAX_AUDIENCE_VALUES, check_audience};
pub use form::{FormError, MAX_RESOURCES_PER_REQUEST, resources_from_pairs};

/// Longest resource URI accepted, in bytes. Real MCP server URLs are far shorter; the cap
/// bounds the work any single untrusted value can cause.
pub const MAX_RESOURCE_URI_LEN: usize = 4096;

/// Why a string is not a usable resource indicator. Every variant is `invalid_target`
/// on the wire (RFC 8707 §2); [`ResourceError::oauth_error_code`] says so.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResourceError {
    /// Longer than [`MAX_RESOURCE_URI_LEN`].
    TooLong {
        /// Length received, in bytes.
        len: usize,
    },
    /// A byte that RFC 3986 does not allow in a URI (space, control, non-ASCII, `"`, `\`,
    /// `<`, `>`, `^`, `` ` ``, `{`, `|`, `}`; `[` and `]` outside an IPv6 literal).
    InvalidCharacter {
        /// Zero-based byte offset of the first offending byte.
        position: usize,
    },
    /// A `%` not followed by two hexadecimal digits.
    InvalidPercentEncoding {
        /// Zero-based byte offset of the `%`.
        position: usize,
    },
    /// Not an absolute URI with an authority (`scheme://host…`), e.g. `mcp.example.com`
    /// (RFC 8707 §2, RFC 3986 §4.3).
    NotAbsolute,
    /// A scheme other than `https` or `http`.
    UnsupportedScheme,
    /// `http` on a host that is not loopback (`localhost`, `127.0.0.0/8`, `[::1]`).
    InsecureHttp,
    /// A fragment (`#…`), which RFC 8707 §2 forbids. It is refused, not stripped.
    Fragment,
    /// Userinfo (`user@host`) in the authority.
    Userinfo,
    /// An empty host.
    MissingHost,
    /// A host that is neither a plain DNS-style name (`[A-Za-z0-9-._~]`, no empty label),
    /// a dotted-quad IPv4 address, nor a bracketed IPv6 address; percent-encoded hosts
    /// and IPv6 zone identifiers are refused.
    InvalidHost,
    /// A host that some URL parsers read as an IPv4 address and others as a name
    /// (`127.1`, `0x7f.0.0.1`, `2130706433`): refused so that every party agrees on
    /// which server the URI names.
    AmbiguousHost,
    /// A port that is not a decimal number up to 65535.
    InvalidPort,
}

impl ResourceError {
    /// The OAuth error code for every variant: `invalid_target` (RFC 8707 §2).
    pub fn oauth_error_code(&self) -> &'static str {
        "invalid_target"
    }
}

impl fmt::Display for ResourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceError::TooLong { len } => write!(
                f,
                "resource URI is {len} bytes; at most {MAX_RESOURCE_URI_LEN} are accepted"
            ),
            ResourceError::InvalidCharacter { position } => {
                write!(f, "resource URI has a character not allowed in a URI at byte {position}")
            }
            ResourceError::InvalidPercentEncoding { position } => {
                write!(f, "resource URI has a malformed percent-encoding at byte {position}")
            }
            ResourceError::NotAbsolute => {
                f.write_str("resource URI is not absolute (scheme://host is required)")
            }
            ResourceError::UnsupportedScheme => {
                f.write_str("resource URI scheme must be https (or http on a loopback host)")
            }
            ResourceError::InsecureHttp => {
                f.write_str("resource URI uses http on a host that is not loopback")
            }
            ResourceError::Fragment => {
                f.write_str("resource URI has a fragment, which RFC 8707 forbids")
            }
            ResourceError::Userinfo => f.write_str("resource URI has userinfo"),
            ResourceError::MissingHost => f.write_str("resource URI has no host"),
            ResourceError::InvalidHost => f.write_str("resource URI host is not usable"),
            ResourceError::AmbiguousHost => f.write_str(
                "resource URI host could be read as an IPv4 address or as a name; write the address in dotted-quad form",
            ),
            ResourceError::InvalidPort => f.write_str("resource URI port is not valid"),
        }
    }
}

impl std::error::Error for ResourceError {}

/// The kind of host a [`ResourceUri`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostKind {
    /// A registered name, lower-cased (`mcp.example.com`, `localhost`).
    Domain,
    /// A dotted-quad IPv4 address.
    Ipv4(Ipv4Addr),
    /// A bracketed IPv6 address.
    Ipv6(Ipv6Addr),
}

/// An RFC 8707 resource indicator in the MCP canonical server URI form.
///
/// The canonical form (`../shared/conformance/FORMAT.md`, suite `resource-canonical`):
/// scheme and host lower-cased; the default port removed; a path of exactly `/` dropped
/// (`https://a.example/` → `https://a.example`); any other path and the query kept byte for
/// byte (`/mcp/` stays `/mcp/`, percent-encodings are not touched). Parsing refuses what
/// RFC 8707 §2 and MCP forbid rather than repairing it: fragments, userinfo, non-`https`
/// schemes except `http` on loopback, and relative references.
///
/// Equality, ordering and hashing are on the canonical string.
#[derive(Clone)]
pub struct ResourceUri {
    canonical: String,
    /// Byte range of the host in `canonical` (brackets included for IPv6).
    host_start: usize,
    host_end: usize,
    /// Start of the path-and-query in `canonical`.
    path_start: usize,
    port: Option<u16>,
    host_kind: HostKind,
    /// The canonical string as parsed by `url` (what HTTP clients connect to).
    url: url::Url,
}

impl PartialEq for ResourceUri {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for ResourceUri {}

impl core::hash::Hash for ResourceUri {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl PartialOrd for ResourceUri {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ResourceUri {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.canonical.cmp(&other.canonical)
    }
}

impl ResourceUri {
    /// Parses and canonicalises a resource URI (RFC 8707 §2, MCP "Canonical Server URI").
    ///
    /// ```
    /// use mcp_oauth_resource_indicators::ResourceUri;
    /// let r = ResourceUri::parse("HTTPS://MCP.Example.com:443/")?;
    /// assert_eq!(r.as_str(), "https://mcp.example.com");
    /// let r = ResourceUri::parse("https://mcp.example.com/mcp/")?;
    /// assert_eq!(r.as_str(), "https://mcp.example.com/mcp/");
    /// assert!(ResourceUri::parse("https://mcp.example.com#fragment").is_err());
    /// assert!(ResourceUri::parse("mcp.example.com").is_err());
    /// # Ok::<(), mcp_oauth_resource_indicators::ResourceError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, ResourceError> {
        if input.len() > MAX_RESOURCE_URI_LEN {
            return Err(ResourceError::TooLong { len: input.len() });
        }
        check_uri_characters(input)?;
        if input.contains('#') {
            return Err(ResourceError::Fragment);
        }

        // scheme ":" "//" authority path-abempty [ "?" query ]
        let (scheme, rest) = input.split_once(':').ok_or(ResourceError::NotAbsolute)?;
        if !is_scheme(scheme) {
            return Err(ResourceError::NotAbsolute);
        }
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(ResourceError::UnsupportedScheme),
        };
        let rest = rest.strip_prefix("//").ok_or(ResourceError::NotAbsolute)?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(ResourceError::Userinfo);
        }
        let (host_text, port_text) = split_host_port(authority)?;
        let (host, host_kind) = parse_host(host_text)?;
        let port = parse_port(port_text)?.filter(|p| *p != default_port);

        // `[` and `]` are legal only around an IPv6 literal.
        if let Some(i) = path_and_query.find(['[', ']']) {
            return Err(ResourceError::InvalidCharacter {
                position: input.len() - path_and_query.len() + i,
            });
        }
        // path-abempty: a path of exactly "/" is the empty path (MCP-RES-6).
        let path_and_query = match path_and_query.strip_prefix('/') {
            Some(after) if after.is_empty() || after.starts_with('?') => after,
            _ => path_and_query,
        };

        if scheme == "http" && !is_loopback(&host, host_kind) {
            return Err(ResourceError::InsecureHttp);
        }

        let mut canonical = String::with_capacity(input.len());
        canonical.push_str(&scheme);
        canonical.push_str("://");
        let host_start = canonical.len();
        canonical.push_str(&host);
        let host_end = canonical.len();
        if let Some(p) = port {
            canonical.push(':');
            canonical.push_str(&p.to_string());
        }
        let path_start = canonical.len();
        canonical.push_str(path_and_query);

        // The WHATWG parser behind `url::Url` is what HTTP clients will use to connect;
        // it must accept the canonical form and see the same host and port.
        let url = url::Url::parse(&canonical).map_err(|_| ResourceError::InvalidHost)?;
        if url.host_str() != canonical.get(host_start..host_end) || url.port() != port {
            return Err(ResourceError::InvalidHost);
        }

        Ok(ResourceUri {
            canonical,
            host_start,
            host_end,
            path_start,
            port,
            host_kind,
            url,
        })
    }

    /// The canonical string: what to send as `resource` and to compare with `aud`.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// `"https"` or `"http"`.
    pub fn scheme(&self) -> &str {
        if self.canonical.starts_with("https:") {
            "https"
        } else {
            "http"
        }
    }

    /// The host as it appears in the canonical string (lower-cased; IPv6 in brackets).
    pub fn host_str(&self) -> &str {
        self.canonical
            .get(self.host_start..self.host_end)
            .unwrap_or_default()
    }

    /// What kind of host this is.
    pub fn host_kind(&self) -> HostKind {
        self.host_kind
    }

    /// The explicit port, `None` when it is the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port to connect to: the explicit one or the scheme's default.
    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or(if self.scheme() == "https" { 443 } else { 80 })
    }

    /// The path and query exactly as given (empty for the root).
    pub fn path_and_query(&self) -> &str {
        self.canonical.get(self.path_start..).unwrap_or_default()
    }

    /// The path alone (empty for the root).
    pub fn path(&self) -> &str {
        let pq = self.path_and_query();
        pq.split_once('?').map_or(pq, |(p, _)| p)
    }

    /// The query, without its `?`, when there is one.
    pub fn query(&self) -> Option<&str> {
        self.path_and_query().split_once('?').map(|(_, q)| q)
    }

    /// The origin: `scheme://host[:port]`, no path.
    pub fn origin(&self) -> &str {
        self.canonical.get(..self.path_start).unwrap_or_default()
    }

    /// Whether the host is loopback (`localhost`, `127.0.0.0/8`, `[::1]`).
    pub fn is_loopback(&self) -> bool {
        is_loopback(self.host_str(), self.host_kind)
    }

    /// The canonical form as a [`url::Url`], for code that builds requests. Note that
    /// `Url` serialises an empty path as `/`: send [`ResourceUri::as_str`], not this,
    /// as the `resource` parameter.
    pub fn as_url(&self) -> &url::Url {
        &self.url
    }

    /// The form parameter for authorization and token requests: `("resource", canonical)`
    /// (RFC 8707 §2, MCP-RES-1).
    pub fn form_param(&self) -> (&'static str, &str) {
        ("resource", self.as_str())
    }

    /// `resource=<canonical, application/x-www-form-urlencoded>`, e.g.
    /// `resource=https%3A%2F%2Fmcp.example.com` (MCP-RES-7).
    pub fn form_encoded(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("resource", self.as_str())
            .finish()
    }

    /// Appends `resource=<canonical>` to the query of an authorization URL.
    pub fn append_to_url(&self, url: &mut url::Url) {
        url.query_pairs_mut().append_pair("resource", self.as_str());
    }

    /// Appends `resource=<canonical>` to a token-request body being built.
    pub fn append_to_form<T: url::form_urlencoded::Target>(
        &self,
        form: &mut url::form_urlencoded::Serializer<'_, T>,
    ) {
        form.append_pair("resource", self.as_str());
    }

    /// Whether an `aud` value names this resource: code point for code point equal to the
    /// canonical string, with no URL normalisation (RFC 7519 §7.3). `https://a.example/`,
    /// `https://A.example` and `https://a.example:443` do not name `https://a.example`:
    /// a server reachable under several spellings lists each as an accepted audience.
    pub fn matches_audience_value(&self, aud: &str) -> bool {
        aud == self.canonical
    }
}

impl fmt::Debug for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResourceUri").field(&self.canonical).finish()
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl core::str::FromStr for ResourceUri {
    type Err = ResourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceUri::parse(s)
    }
}

impl AsRef<str> for ResourceUri {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Checks that every byte of `input` may appear in a URI (RFC 3986 §2: unreserved,
/// reserved, and `%HH`); reports the first offending byte. No other parsing is done.
pub fn check_uri_characters(input: &str) -> Result<(), ResourceError> {
    let bytes = input.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return Err(ResourceError::InvalidPercentEncoding { position: i });
                }
                i += 3;
                continue;
            }
            b if b.is_ascii_alphanumeric() => {}
            b'-' | b'.' | b'_' | b'~' => {}
            b':' | b'/' | b'?' | b'#' | b'[' | b']' | b'@' => {}
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {}
            _ => return Err(ResourceError::InvalidCharacter { position: i }),
        }
        i += 1;
    }
    Ok(())
}

/// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), ResourceError> {
    if authority.starts_with('[') {
        let close = authority.find(']').ok_or(ResourceError::InvalidHost)?;
        let (host, after) = authority.split_at(close + 1);
        match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(ResourceError::InvalidHost),
            },
        }
    } else if authority.contains(['[', ']']) {
        Err(ResourceError::InvalidHost)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => Ok((host, Some(port))),
            None => Ok((authority, None)),
        }
    }
}

fn parse_port(port: Option<&str>) -> Result<Option<u16>, ResourceError> {
    match port {
        // RFC 3986 allows an empty port; it means the default.
        None | Some("") => Ok(None),
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse::<u16>()
            .map(Some)
            .map_err(|_| ResourceError::InvalidPort),
        Some(_) => Err(ResourceError::InvalidPort),
    }
}

fn parse_host(host: &str) -> Result<(String, HostKind), ResourceError> {
    if host.is_empty() {
        return Err(ResourceError::MissingHost);
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // Zone identifiers (`%25eth0`) and IPvFuture are refused by the std parser.
        let addr: Ipv6Addr = inner.parse().map_err(|_| ResourceError::InvalidHost)?;
        // Serialise as `url` does (RFC 5952 compressed, hex for embedded IPv4) so the
        // canonical host and the connecting client's host are the same string.
        let text = url::Host::<String>::Ipv6(addr).to_string();
        return Ok((text, HostKind::Ipv6(addr)));
    }
    let valid_name = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !valid_name {
        return Err(ResourceError::InvalidHost);
    }
    // No empty label, except one trailing dot (a fully qualified name).
    let labels = host.strip_suffix('.').unwrap_or(host);
    if labels.is_empty() || labels.split('.').any(str::is_empty) {
        return Err(ResourceError::InvalidHost);
    }
    if let Ok(addr) = host.parse::<Ipv4Addr>() {
        // `Ipv4Addr` only accepts the strict dotted quad (no leading zeros, four parts).
        return Ok((host.to_owned(), HostKind::Ipv4(addr)));
    }
    // WHATWG URL parsers read a name whose last label is numeric as an IPv4 address.
    let last = labels.rsplit('.').next().unwrap_or_default();
    let numeric = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    let hex = last.len() >= 2 && last.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    if numeric || hex {
        return Err(ResourceError::AmbiguousHost);
    }
    Ok((host.to_ascii_lowercase(), HostKind::Domain))
}

fn is_loopback(host: &str, kind: HostKind) -> bool {
    match kind {
        HostKind::Domain => host == "localhost",
        HostKind::Ipv4(a) => a.is_loopback(),
        HostKind::Ipv6(a) => a == Ipv6Addr::LOCALHOST,
    }
}

#[cfg(test)]
mod tests;
