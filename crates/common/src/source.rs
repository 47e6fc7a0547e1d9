//! The key a per-source limit counts by: one address for IPv4, one /64 for IPv6.

use std::net::{IpAddr, Ipv6Addr};

/// The key that per-source limits (rate limits, registrations per source) count `ip`
/// under: an IPv4 address as it is; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what
/// a dual-stack socket reports for an IPv4 peer) as its IPv4 address; any other IPv6
/// address as its /64 prefix with the interface bits zeroed. A single subscriber or host
/// usually holds a whole /64 and can pick any address in it, so keying by the full IPv6
/// address would give it 2^64 separate budgets.
///
/// ```
/// use mcp_oauth_common::source_key;
/// let a = source_key("2001:db8:1:2:aaaa::1".parse().unwrap());
/// let b = source_key("2001:db8:1:2:bbbb::2".parse().unwrap());
/// assert_eq!(a, b);
/// assert_eq!(a, "2001:db8:1:2::".parse::<std::net::IpAddr>().unwrap());
/// assert_ne!(a, source_key("2001:db8:1:3::1".parse().unwrap()));
/// assert_eq!(source_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7".parse::<std::net::IpAddr>().unwrap());
/// ```
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Addresses of one /64 share a key; neighbouring /64s and IPv4 addresses do not.
    #[test]
    fn ipv6_is_keyed_by_its_slash_64() {
        let key = |s: &str| source_key(s.parse().unwrap());
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff:ffff:ffff:ffff"));
        assert_eq!(key("2001:db8::1"), key("2001:db8::"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(key("192.0.2.1"), "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(key("::1"), key("::"));
    }
}
