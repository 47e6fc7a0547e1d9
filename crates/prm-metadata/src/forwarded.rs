//! The public URL of a server behind reverse proxies: from explicit configuration, and
//! from `Forwarded` (RFC 7239) or `X-Forwarded-*` headers only when the request came from a
//! proxy the operator listed.

use core::fmt;
use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;
use mcp_oauth_resource_indicators::{ResourceError, ResourceUri};

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
/// use mcp_oauth_prm_metadata::PublicUrl;
/// use mcp_oauth_resource_indicators::ResourceUri;
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
    /// `for`: the node the proxy received the request from.
    node: Option<String>,
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
                node: None,
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

/// The `for` parameter of each element of the `Forwarded` header (RFC 7239 §5.2), nearest
/// hop first: what a limiter needs to find the client's address behind proxies it trusts.
///
/// Each proxy appends one element naming the node it received the request from, so reading
/// from the end walks back towards the client. The fields are read from the last to the
/// first, and each field from its end, one element at a time, only as far as the caller
/// iterates: elements further left, which the client may have written itself, are never
/// parsed, so a malformed prefix cannot spoil the elements that trusted proxies appended.
///
/// Each item is one element's `for` value with its quotes removed (`192.0.2.43`,
/// `[2001:db8:cafe::17]:4711`, `unknown`, `_hidden`), `None` for an element without `for`,
/// or [`ForwardedError::Malformed`] for an element that does not parse (RFC 7239 §4: a
/// parameter twice, a bad quoted string, …), is not UTF-8, or is longer than
/// [`MAX_FORWARDED_LEN`]. Items after an error are not meaningful: stop at the first one.
///
/// ```
/// use http::HeaderMap;
/// let mut headers = HeaderMap::new();
/// headers.append("forwarded", "for=\"_gazonk\", For=\"[2001:db8:cafe::17]:4711\"".parse()?);
/// headers.append("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43".parse()?);
/// let hops: Vec<_> = mcp_oauth_prm_metadata::forwarded_for(&headers).collect::<Result<_, _>>()?;
/// assert_eq!(hops, [
///     Some("192.0.2.60".to_owned()),
///     Some("[2001:db8:cafe::17]:4711".to_owned()),
///     Some("_gazonk".to_owned()),
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn forwarded_for(
    headers: &HeaderMap,
) -> impl Iterator<Item = Result<Option<String>, ForwardedError>> + '_ {
    const HEADER: &str = "forwarded";
    headers
        .get_all(HEADER)
        .iter()
        .rev()
        .flat_map(|value| ElementsFromEnd {
            bytes: value.as_bytes(),
            end: Some(value.len()),
        })
        .map(|element| {
            let text = std::str::from_utf8(element?)
                .map_err(|_| ForwardedError::Malformed { header: HEADER })?;
            parse_forwarded_element(text).map(|f| f.node)
        })
}

/// The comma-separated elements of one header field, last first, splitting only at commas
/// outside quoted strings. Scans at most [`MAX_FORWARDED_LEN`] bytes per element.
struct ElementsFromEnd<'a> {
    bytes: &'a [u8],
    /// Where the next element (towards the start) ends; `None` when done.
    end: Option<usize>,
}

impl<'a> Iterator for ElementsFromEnd<'a> {
    type Item = Result<&'a [u8], ForwardedError>;

    fn next(&mut self) -> Option<Self::Item> {
        let end = self.end?;
        let mut quoted = false;
        let mut i = end;
        while i > 0 {
            i -= 1;
            if end - i > MAX_FORWARDED_LEN {
                self.end = None;
                return Some(Err(ForwardedError::Malformed {
                    header: "forwarded",
                }));
            }
            match self.bytes.get(i) {
                Some(b'"') if !escaped(self.bytes, i) => quoted = !quoted,
                Some(b',') if !quoted => {
                    self.end = Some(i);
                    return Some(Ok(self.bytes.get(i + 1..end).unwrap_or_default()));
                }
                _ => {}
            }
        }
        self.end = None;
        Some(Ok(self.bytes.get(..end).unwrap_or_default()))
    }
}

/// Whether the byte at `i` follows an odd run of backslashes (a `quoted-pair`). Runs
/// preceding different quotes are disjoint, so a scan stays linear.
fn escaped(bytes: &[u8], i: usize) -> bool {
    bytes
        .get(..i)
        .unwrap_or_default()
        .iter()
        .rev()
        .take(MAX_FORWARDED_LEN)
        .take_while(|b| **b == b'\\')
        .count()
        % 2
        == 1
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
            "for" => Some(&mut out.node),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use http::HeaderMap;
    use proptest::prelude::*;

    use super::{ForwardedError, MAX_FORWARDED_LEN, forwarded_for};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("forwarded", v.parse().unwrap());
        }
        h
    }

    fn hops(values: &[&str], n: usize) -> Vec<Result<Option<String>, ForwardedError>> {
        forwarded_for(&headers(values)).take(n).collect()
    }

    fn some(s: &str) -> Result<Option<String>, ForwardedError> {
        Ok(Some(s.to_owned()))
    }

    /// Nearest first, across fields and elements; quoted commas and semicolons stay inside
    /// their element; an element without `for` is `None`.
    #[test]
    fn for_values_nearest_first() {
        assert_eq!(
            hops(
                &[
                    r#"for=192.0.2.43, for="[2001:db8:cafe::17]:4711";host="a,b;c""#,
                    "proto=https;by=10.0.0.1",
                    " for=10.0.0.2 ;proto=https , FOR=unknown",
                ],
                9
            ),
            [
                some("unknown"),
                some("10.0.0.2"),
                Ok(None),
                some("[2001:db8:cafe::17]:4711"),
                some("192.0.2.43"),
            ]
        );
        assert_eq!(hops(&[], 9), []);
        // An escaped quote inside a quoted string does not end it.
        assert_eq!(
            hops(&[r#"for=192.0.2.1;host="x\",y", for=10.0.0.9"#], 9),
            [some("10.0.0.9"), some("192.0.2.1")]
        );
    }

    /// Whatever the client wrote left of the nearest elements is not read until the
    /// caller asks for it: an unterminated quote, junk, or a huge value.
    #[test]
    fn a_client_prefix_cannot_spoil_the_nearest_elements() {
        let junk = "x".repeat(MAX_FORWARDED_LEN * 3);
        for prefix in [r#"for="unterminated"#, "for=a;for=b", "==;;", junk.as_str()] {
            let appended = format!("{prefix}, for=198.51.100.7, for=10.0.0.1");
            assert_eq!(
                hops(&[&appended], 2),
                [some("10.0.0.1"), some("198.51.100.7")],
                "{prefix}"
            );
            // In a field of its own before the proxies' field, too.
            assert_eq!(
                hops(&[prefix, "for=198.51.100.7, for=10.0.0.1"], 2),
                [some("10.0.0.1"), some("198.51.100.7")],
                "{prefix}"
            );
            // Reached, it is an error.
            assert!(
                hops(&[&appended], 3)
                    .last()
                    .unwrap()
                    .as_ref()
                    .is_err_and(|e| matches!(e, ForwardedError::Malformed { .. })),
                "{prefix}"
            );
        }
    }

    #[test]
    fn malformed_elements_are_errors() {
        for bad in [
            "",
            "for",
            "for=",
            "for=a;for=b",
            r#"for="x"#,
            "for=1.2.3.4;;",
            "for=1.2.3.4 proto=http",
            r#"for="a\"#,
        ] {
            assert!(
                matches!(
                    hops(&[bad], 1).as_slice(),
                    [Err(ForwardedError::Malformed { .. })]
                ),
                "{bad:?}"
            );
        }
        let long = format!("for=\"{}\"", "a".repeat(MAX_FORWARDED_LEN));
        assert!(hops(&[&long], 1).first().unwrap().is_err());
    }

    proptest! {
        /// Any header bytes: no panic, and at most one item per comma plus one per field.
        #[test]
        fn never_panics(fields in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4)) {
            let mut h = HeaderMap::new();
            let mut bound = 0;
            for f in &fields {
                if let Ok(v) = http::HeaderValue::from_bytes(f) {
                    bound += 1 + f.iter().filter(|b| **b == b',').count();
                    h.append("forwarded", v);
                }
            }
            prop_assert!(forwarded_for(&h).count() <= bound);
        }
    }
}
