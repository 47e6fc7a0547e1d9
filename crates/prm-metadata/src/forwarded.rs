//! The public URL of a server behind reverse proxies: from explicit configuration, and
//! from `Forwarded` (RFC 7239) or `X-Forwarded-*` headers only when the request came from a
//! proxy the operator listed.

use core::fmt;
use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;
use mcp_oauth_resource::{ResourceError, ResourceUri};

use crate::syntax::Cursor;

/// Longest forwarding header value read, in bytes.
pub const MAX_FORWARDED_LEN: usize = 2048;

/// Why forwarding headers could not be used. The caller should answer 400 or fall back
/// to the configured URL; it must not publish a URL built from them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedError {
    /// A `Forwarded` or `X-Forwarded-*` value that does not parse, is not ASCII, or is
    /// longer than [`MAX_FORWARDED_LEN`].
    Malformed {
        /// The header's name.
        header: &'static str,
    },
    /// The URL the headers describe is not a usable resource URI.
    Resource(ResourceError),
}

impl fmt::Display for ForwardedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardedError::Malformed { header } => write!(f, "{header} header is malformed"),
            ForwardedError::Resource(e) => write!(f, "forwarded URL: {e}"),
        }
    }
}

impl std::error::Error for ForwardedError {}

/// How the server learns its public URL (the PRM `resource` and the challenge's
/// `resource_metadata` are built from it).
///
/// By default the configured URL is used as is and forwarding headers are ignored:
/// anyone can send them. [`PublicUrl::trust_forwarded_headers_from`] lists the proxies
/// whose headers are believed.
///
/// ```
/// use http::HeaderMap;
/// use mcp_oauth_prm::PublicUrl;
/// use mcp_oauth_resource::ResourceUri;
/// let public = PublicUrl::new(ResourceUri::parse("http://127.0.0.1:8080/mcp")?)
///     .trust_forwarded_headers_from(["10.0.0.0/8".parse()?]);
/// let mut headers = HeaderMap::new();
/// headers.insert("forwarded", "for=203.0.113.9;proto=https;host=mcp.example.com".parse()?);
/// // From the listed proxy: believed.
/// let url = public.resolve("10.1.2.3".parse()?, &headers)?;
/// assert_eq!(url.as_str(), "https://mcp.example.com/mcp");
/// // From anywhere else: ignored.
/// let url = public.resolve("203.0.113.9".parse()?, &headers)?;
/// assert_eq!(url.as_str(), "http://127.0.0.1:8080/mcp");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PublicUrl {
    configured: ResourceUri,
    trusted: Vec<IpNet>,
}

#[derive(Debug, Default)]
struct Forwarded {
    proto: Option<String>,
    host: Option<String>,
    port: Option<String>,
    prefix: Option<String>,
}

impl PublicUrl {
    /// The configured public URL of the MCP endpoint.
    pub fn new(configured: ResourceUri) -> Self {
        PublicUrl {
            configured,
            trusted: Vec::new(),
        }
    }

    /// Believe `Forwarded` and `X-Forwarded-Proto/-Host/-Port/-Prefix` on requests whose
    /// immediate peer address is in one of these networks. Only the last (nearest) value
    /// of each header is used, since earlier ones come from further away. List only
    /// proxies that overwrite or append to these headers: a proxy that passes a client's
    /// headers through lets that client choose the URL you publish.
    pub fn trust_forwarded_headers_from<I: IntoIterator<Item = IpNet>>(
        mut self,
        proxies: I,
    ) -> Self {
        self.trusted.extend(proxies);
        self
    }

    /// The configured URL.
    pub fn configured(&self) -> &ResourceUri {
        &self.configured
    }

    /// The public URL for a request from `peer` with these headers.
    pub fn resolve(
        &self,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> Result<ResourceUri, ForwardedError> {
        if !self.trusted.iter().any(|net| net.contains(&peer)) {
            return Ok(self.configured.clone());
        }
        let fwd = match last_value(headers, "forwarded")? {
            Some(v) => parse_forwarded_element(v)?,
            None => Forwarded {
                proto: last_value(headers, "x-forwarded-proto")?.map(str::to_owned),
                host: last_value(headers, "x-forwarded-host")?.map(str::to_owned),
                port: last_value(headers, "x-forwarded-port")?.map(str::to_owned),
                prefix: last_value(headers, "x-forwarded-prefix")?.map(str::to_owned),
            },
        };
        if fwd.proto.is_none() && fwd.host.is_none() && fwd.port.is_none() && fwd.prefix.is_none() {
            return Ok(self.configured.clone());
        }
        let host_ok = |h: &str| {
            h.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'.' | b'-' | b'_' | b'~' | b':' | b'[' | b']')
            })
        };
        if fwd.host.as_deref().is_some_and(|h| !host_ok(h)) {
            let header = if headers.contains_key("forwarded") {
                "forwarded"
            } else {
                "x-forwarded-host"
            };
            return Err(ForwardedError::Malformed { header });
        }
        let c = &self.configured;
        let scheme = fwd.proto.as_deref().unwrap_or(c.scheme());
        if fwd
            .port
            .as_deref()
            .is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ForwardedError::Malformed {
                header: "x-forwarded-port",
            });
        }
        let configured_port = c.port().map(|p| p.to_string());
        let (host, port) = match &fwd.host {
            // A forwarded host that names its port keeps it; otherwise X-Forwarded-Port.
            Some(h) => {
                let (host, port) = split_port(h);
                (host, port.or(fwd.port.as_deref()))
            }
            None => (
                c.host_str(),
                fwd.port.as_deref().or(configured_port.as_deref()),
            ),
        };
        let authority = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let prefix = match &fwd.prefix {
            Some(p) if !p.starts_with('/') || p.contains(['?', '#']) => {
                return Err(ForwardedError::Malformed {
                    header: "x-forwarded-prefix",
                });
            }
            Some(p) => p.trim_end_matches('/'),
            None => "",
        };
        let url = format!("{scheme}://{authority}{prefix}{}", c.path_and_query());
        ResourceUri::parse(&url).map_err(ForwardedError::Resource)
    }
}

/// `host[:port]` → (host, port), IPv6 literals kept in their brackets.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |i| i + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, rest) = authority.split_at(host_end);
    match (rest.is_empty(), rest.strip_prefix(':')) {
        (true, _) => (host, None),
        (false, Some(port)) => (host, Some(port)),
        // Junk after an IPv6 literal: hand the whole thing on so the URL parser refuses it.
        (false, None) => (authority, None),
    }
}

/// The last comma-separated element of the last field with this name.
fn last_value<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, ForwardedError> {
    let Some(value) = headers.get_all(name).iter().next_back() else {
        return Ok(None);
    };
    if value.len() > MAX_FORWARDED_LEN {
        return Err(ForwardedError::Malformed { header: name });
    }
    let text = value
        .to_str()
        .map_err(|_| ForwardedError::Malformed { header: name })?;
    // `Forwarded` elements may hold commas inside quoted strings; split outside them.
    let last = split_outside_quotes(text)
        .next_back()
        .unwrap_or(text)
        .trim();
    if last.is_empty() {
        return Err(ForwardedError::Malformed { header: name });
    }
    Ok(Some(last))
}

fn split_outside_quotes(s: &str) -> impl DoubleEndedIterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                parts.push(s.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(s.get(start..).unwrap_or_default());
    parts.into_iter()
}

/// One `forwarded-element` (RFC 7239 §4): `pair *( ";" pair )`, `pair = token "=" value`.
fn parse_forwarded_element(element: &str) -> Result<Forwarded, ForwardedError> {
    const HEADER: &str = "forwarded";
    let bad = || ForwardedError::Malformed { header: HEADER };
    let mut c = Cursor::new(element.as_bytes());
    let mut out = Forwarded::default();
    loop {
        c.skip_ows();
        let name = c.token().ok_or_else(bad)?.to_ascii_lowercase();
        if !c.eat(b'=') {
            return Err(bad());
        }
        let value = match c.quoted_string() {
            Ok(Some(v)) => v,
            Ok(None) => c.token().ok_or_else(bad)?.to_owned(),
            Err(_) => return Err(bad()),
        };
        let slot = match name.as_str() {
            "proto" => Some(&mut out.proto),
            "host" => Some(&mut out.host),
            _ => None,
        };
        if let Some(slot) = slot
            && slot.replace(value).is_some()
        {
            return Err(bad());
        }
        c.skip_ows();
        if c.at_end() {
            return Ok(out);
        }
        if !c.eat(b';') {
            return Err(bad());
        }
    }
}
