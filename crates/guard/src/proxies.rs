//! The client's address behind reverse proxies: believed from a forwarding header only
//! when the request came from a proxy the operator listed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::HeaderMap;
use ipnet::IpNet;

/// Most hops of a forwarding header walked before giving up (and using the peer address).
pub const MAX_FORWARDED_HOPS: usize = 32;

/// Longest node (address, with port and brackets) read from a forwarding header.
const MAX_NODE_LEN: usize = 64;

/// Which header the trusted proxies write the client's address into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// `Forwarded: for=…` (RFC 7239).
    Forwarded,
    /// `X-Forwarded-For` (de facto).
    XForwardedFor,
}

/// The reverse proxies whose forwarding header names the client's address, so that rate
/// limits and blocks apply to clients rather than to the proxy they all come through.
///
/// Trusted by default: nothing. [`TrustedProxies::client_addr`] then returns the TCP peer
/// address as it is, whatever the request's headers say, since anyone can send them.
///
/// With proxies listed, a request whose TCP peer is one of them has its header walked from
/// the right (the nearest hop) to the left, skipping addresses that are themselves trusted
/// proxies; the first untrusted address is the client. Whatever the client itself wrote
/// further left is never read, so it cannot choose its address or spoil the parse.
///
/// Name one header, the one your proxies *overwrite or append to*: a client behind a
/// proxy that sets `X-Forwarded-For` can still send its own `Forwarded` header (and the
/// other way round), so reading a header your proxies do not write lets every client pick
/// its address, dodge its limits, and get another address blocked. Behind proxies, listing
/// none makes every client share the proxy's address: one client's invalid tokens then
/// block everyone.
///
/// When the header is absent, malformed where it is read, names a hop that is not an IP
/// address (`unknown`, an obfuscated `_node`), or is longer than [`MAX_FORWARDED_HOPS`]
/// trusted hops, the peer address is used. Parsing is bounded and never panics.
///
/// ```
/// use std::net::IpAddr;
/// use http::HeaderMap;
/// use mcp_oauth_guard::TrustedProxies;
/// let proxies = TrustedProxies::x_forwarded_for(["10.0.0.0/8".parse()?]);
/// let [proxy, client, stranger]: [IpAddr; 3] =
///     ["10.0.0.1".parse()?, "198.51.100.7".parse()?, "203.0.113.9".parse()?];
/// let mut headers = HeaderMap::new();
/// // The client sent a made-up address; the proxy 10.0.0.2 appended the real one, and the
/// // proxy 10.0.0.1 (the TCP peer) the address of 10.0.0.2.
/// headers.insert("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.2".parse()?);
/// assert_eq!(proxies.client_addr(proxy, &headers), client);
/// // From anywhere else the header is ignored.
/// assert_eq!(proxies.client_addr(stranger, &headers), stranger);
/// // And by default nothing is trusted.
/// assert_eq!(TrustedProxies::default().client_addr(proxy, &headers), proxy);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: Header,
}

impl Default for TrustedProxies {
    /// No proxy trusted: the peer address is the client's.
    fn default() -> Self {
        TrustedProxies::none()
    }
}

impl TrustedProxies {
    /// No proxy trusted (the default): [`client_addr`](Self::client_addr) is the peer.
    pub fn none() -> Self {
        TrustedProxies {
            nets: Vec::new(),
            header: Header::XForwardedFor,
        }
    }

    /// Proxies in these networks append the address they received the request from to
    /// `X-Forwarded-For` (nginx `$proxy_add_x_forwarded_for`, HAProxy `option forwardfor`,
    /// most cloud load balancers). `Forwarded` is ignored.
    pub fn x_forwarded_for<I: IntoIterator<Item = IpNet>>(proxies: I) -> Self {
        TrustedProxies {
            nets: proxies.into_iter().map(|n| n.trunc()).collect(),
            header: Header::XForwardedFor,
        }
    }

    /// Proxies in these networks append a `for=` element to `Forwarded` (RFC 7239).
    /// `X-Forwarded-For` is ignored.
    pub fn forwarded<I: IntoIterator<Item = IpNet>>(proxies: I) -> Self {
        TrustedProxies {
            nets: proxies.into_iter().map(|n| n.trunc()).collect(),
            header: Header::Forwarded,
        }
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `addr` is a trusted proxy (an IPv4-mapped IPv6 address counts as its IPv4
    /// address, so list IPv4 proxies as IPv4 networks).
    pub fn is_trusted(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.nets.iter().any(|n| n.contains(&addr))
    }

    /// The address of the client of a request that arrived from TCP peer `peer` with these
    /// headers (see the type's docs). Without trusted proxies, or from a peer that is not
    /// one, this is `peer` unchanged.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let walked = match self.header {
            Header::Forwarded => {
                self.walk(mcp_oauth_prm_metadata::forwarded_for(headers).map(|hop| {
                    hop.ok()
                        .flatten()
                        .and_then(|node| parse_node(node.as_bytes()))
                }))
            }
            Header::XForwardedFor => self.walk(
                headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .rev()
                    .flat_map(|v| v.as_bytes().rsplit(|b| *b == b','))
                    .map(parse_node),
            ),
        };
        walked.unwrap_or(peer)
    }

    /// The first untrusted address of `hops` (nearest first); the farthest one when all
    /// are trusted; `None` when a hop is not an address, there are none, or there are too
    /// many.
    fn walk(&self, hops: impl Iterator<Item = Option<IpAddr>>) -> Option<IpAddr> {
        let mut farthest = None;
        for (i, hop) in hops.enumerate() {
            if i >= MAX_FORWARDED_HOPS {
                return None;
            }
            let addr = hop?;
            if !self.is_trusted(addr) {
                return Some(addr);
            }
            farthest = Some(addr);
        }
        // Every hop trusted: the request started inside the proxies' own networks.
        farthest
    }
}

/// An RFC 7239 §6 node or an `X-Forwarded-For` entry as an address: `192.0.2.1`,
/// `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:8080`, or a bare `2001:db8::1`;
/// surrounding whitespace ignored. `None` for anything else (`unknown`, `_obfuscated`,
/// zone identifiers, junk). IPv4-mapped IPv6 addresses come back as IPv4.
fn parse_node(node: &[u8]) -> Option<IpAddr> {
    let node = node.trim_ascii();
    if node.is_empty() || node.len() > MAX_NODE_LEN {
        return None;
    }
    let text = std::str::from_utf8(node).ok()?;
    let valid_port = |p: &str| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok();
    let addr = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(valid_port)) {
            return None;
        }
        IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(addr) = text.parse::<IpAddr>() {
        addr
    } else {
        let (v4, port) = text.split_once(':')?;
        if !valid_port(port) {
            return None;
        }
        IpAddr::V4(v4.parse::<Ipv4Addr>().ok()?)
    };
    Some(addr.to_canonical())
}
