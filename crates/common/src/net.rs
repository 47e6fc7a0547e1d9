//! Addresses a server-side fetch must never reach (SSRF defence). The transport adapter
//! checks every *resolved* address against this before connecting; checking only the
//! literal in a URL is not enough (a name can resolve to `127.0.0.1`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether fetching from `ip` must be refused unless the caller explicitly allowed
/// private targets: unspecified, loopback, private (RFC 1918), carrier-grade NAT
/// (100.64/10), link-local (169.254/16, which holds cloud metadata endpoints such as
/// 169.254.169.254), "this network" (0/8), benchmarking (198.18/15), documentation,
/// reserved (240/4), broadcast and multicast addresses; for IPv6 the same classes plus
/// unique-local (fc00::/7, holding fd00:ec2::254), link-local (fe80::/10), site-local
/// (fec0::/10), the local-use NAT64 prefix (64:ff9b:1::/48, RFC 8215: the operator picks
/// where in it an IPv4 address sits, so the whole prefix is refused), Teredo (2001::/32,
/// RFC 4380: it tunnels to an IPv4 relay and client, the latter's address obfuscated, so
/// the whole prefix is refused), and any IPv4 address embedded in IPv4-mapped
/// (::ffff:0:0/96), NAT64 (64:ff9b::/96) or 6to4 (2002::/16) form.
///
/// ```
/// use mcp_oauth_common::is_forbidden_address;
/// assert!(is_forbidden_address("169.254.169.254".parse().unwrap()));
/// assert!(is_forbidden_address("::ffff:10.0.0.1".parse().unwrap()));
/// assert!(!is_forbidden_address("93.184.215.14".parse().unwrap()));
/// ```
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded_v4(s[6], s[7]));
    }
    // Local-use NAT64 64:ff9b:1::/48 (RFC 8215): translated to IPv4 inside the operator's
    // network, with the IPv4 address at an offset the operator chose (RFC 6052 §2.2), so
    // none of it can be checked: refused whole.
    if s[..3] == [0x64, 0xff9b, 0x0001] {
        return true;
    }
    // Teredo 2001::/32 (RFC 4380): a tunnel through an IPv4 relay to an IPv4 client whose
    // address is stored XOR-ed; nothing public is served from it. Refused whole.
    if s[..2] == [0x2001, 0x0000] {
        return true;
    }
    // 6to4 2002::/16 carries an IPv4 address in its next 32 bits.
    if s[0] == 0x2002 {
        return forbidden_v4(embedded_v4(s[1], s[2]));
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // IPv4-compatible (deprecated) ::a.b.c.d.
        || (s[..6] == [0, 0, 0, 0, 0, 0] && forbidden_v4(embedded_v4(s[6], s[7])))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// MCP-SBP-9, MCP-SEC-7, PRM-31: private and reserved targets, in every encoding.
    #[test]
    fn forbidden_and_allowed() {
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.1.2.3",
            "198.18.0.1",
            "192.0.2.1",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(is_forbidden_address(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "93.184.215.14",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(!is_forbidden_address(good.parse().unwrap()), "{good}");
        }
    }

    /// MCP-SBP-9: the local-use NAT64 prefix (64:ff9b:1::/48, RFC 8215) and Teredo
    /// (2001::/32, RFC 4380) reach IPv4 networks through translators and tunnels at offsets
    /// or in encodings that cannot be checked, so both are refused whole.
    #[test]
    fn local_nat64_and_teredo_are_forbidden() {
        for bad in [
            "64:ff9b:1::",
            "64:ff9b:1::1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1:a9fe:a9fe::",
            "64:ff9b:1::808:808",
            "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
            // Server 65.54.227.120, client 192.0.2.45:40000; then the prefix's bounds.
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001::",
            "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            assert!(is_forbidden_address(bad.parse().unwrap()), "{bad}");
        }
        // Next to them, still public: the well-known NAT64 prefix with a public address,
        // and 2001:1::/32 or Google's 2001:4860::/32.
        for good in ["64:ff9b::808:808", "2001:1::1", "2001:4860:4860::8888"] {
            assert!(!is_forbidden_address(good.parse().unwrap()), "{good}");
        }
    }
}
