#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use core::time::Duration;
use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

fn s(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

#[test]
fn bucket_bursts_then_refills() {
    let rate = Rate {
        burst: 3,
        per_second: 1.0,
    };
    let mut b = Bucket::full(rate, s(0.0));
    for _ in 0..3 {
        assert!(b.take(rate, s(0.0)).is_ok());
    }
    assert_eq!(b.take(rate, s(0.0)), Err(s(1.0)));
    assert_eq!(b.take(rate, s(0.5)), Err(s(0.5)));
    assert!(b.take(rate, s(1.0)).is_ok());
    // Never above the burst, however long the pause.
    for _ in 0..3 {
        assert!(b.take(rate, s(1000.0)).is_ok());
    }
    assert!(b.take(rate, s(1000.0)).is_err());
    // A clock stepping backwards gives nothing.
    assert!(b.take(rate, s(10.0)).is_err());
    let zero = Rate {
        burst: 0,
        per_second: 0.0,
    };
    assert_eq!(
        Bucket::full(zero, s(0.0)).take(zero, s(5.0)),
        Err(Duration::from_secs(86_400))
    );
}

#[test]
fn limiter_is_per_key_and_bounded() {
    let mut l = RateLimiter::new(
        Rate {
            burst: 1,
            per_second: 0.1,
        },
        4,
    );
    assert!(l.check(&"a", s(0.0)).is_ok());
    assert!(l.check(&"a", s(0.0)).is_err());
    assert!(l.check(&"b", s(0.0)).is_ok());
    for k in ["c", "d", "e", "f", "g"] {
        let _ = l.check(&k, s(1.0));
    }
    assert!(l.len() <= 4, "{}", l.len());
    assert!(!l.is_empty());
}

#[test]
fn guard_limits_and_blocks() {
    let cfg = GuardConfig {
        per_address: Some(Rate {
            burst: 2,
            per_second: 1.0,
        }),
        per_client: Some(Rate {
            burst: 1,
            per_second: 1.0,
        }),
        per_subject: None,
        per_tenant: Some(Rate {
            burst: 1,
            per_second: 1.0,
        }),
        max_failures: 3,
        failure_window: s(60.0),
        block_for: s(300.0),
        max_keys: 1000,
    };
    let mut g = Guard::new(cfg);
    let a: IpAddr = "198.51.100.1".parse().unwrap();
    let b: IpAddr = "198.51.100.2".parse().unwrap();
    assert!(g.before_auth(a, s(0.0)).is_ok());
    assert!(g.before_auth(a, s(0.0)).is_ok());
    let d = g.before_auth(a, s(0.0)).unwrap_err();
    assert_eq!(d.limit, Limit::Address);
    assert_eq!(d.retry_after_secs(), 1);
    assert!(
        g.before_auth(b, s(0.0)).is_ok(),
        "another address has its own bucket"
    );

    let who = Principal {
        client_id: Some("c1".into()),
        subject: Some("u".into()),
        tenant: Some("t".into()),
    };
    assert!(g.after_auth(&who, s(0.0)).is_ok());
    assert_eq!(g.after_auth(&who, s(0.0)).unwrap_err().limit, Limit::Client);
    let other_client = Principal {
        client_id: Some("c2".into()),
        ..who.clone()
    };
    assert_eq!(
        g.after_auth(&other_client, s(0.0)).unwrap_err().limit,
        Limit::Tenant
    );
    assert!(
        g.after_auth(&Principal::default(), s(0.0)).is_ok(),
        "no keys, no limits"
    );
    // The borrowed form shares the same buckets: c1 and tenant t are spent.
    assert_eq!(
        g.after_auth_ids(Some("c1"), None, None, s(0.0))
            .unwrap_err()
            .limit,
        Limit::Client
    );
    assert_eq!(
        g.after_auth_ids(Some("c3"), None, Some("t"), s(0.0))
            .unwrap_err()
            .limit,
        Limit::Tenant
    );
    assert!(
        g.after_auth_ids(Some("c4"), Some("u"), None, s(0.0))
            .is_ok()
    );
    assert!(
        g.after_auth_ids(Some("c1"), None, None, s(1.5)).is_ok(),
        "refilled"
    );

    // Invalid tokens: the third within the window blocks for 300 s.
    assert!(!g.record_invalid_token(b, s(10.0)));
    assert!(!g.record_invalid_token(b, s(11.0)));
    assert!(g.record_invalid_token(b, s(12.0)));
    let d = g.before_auth(b, s(13.0)).unwrap_err();
    assert_eq!(d.limit, Limit::Blocked);
    assert_eq!(d.retry_after, s(299.0));
    assert!(g.before_auth(b, s(312.0)).is_ok(), "the block ends");
    // Failures spread wider than the window never block.
    let c: IpAddr = "198.51.100.3".parse().unwrap();
    for i in 0..10 {
        assert!(!g.record_invalid_token(c, s(100.0 * f64::from(i))));
    }
}

#[test]
fn audit_lines_carry_no_secrets() {
    let e = AuditEvent::Rejected {
        reason: RejectReason::InvalidToken,
        addr: Some("198.51.100.1".parse().unwrap()),
        detail: "token signature does not verify".into(),
    };
    assert_eq!(
        e.to_string(),
        r#"rejected reason=InvalidToken addr=198.51.100.1 detail="token signature does not verify""#
    );
    let e = AuditEvent::RateLimited {
        denied: Denied {
            limit: Limit::Subject,
            retry_after: s(2.5),
        },
        addr: None,
    };
    assert_eq!(
        e.to_string(),
        "rate_limited limit=subject retry_after=3s addr=-"
    );
    for e in [
        AuditEvent::Accepted {
            who: Principal::default(),
        },
        AuditEvent::SourceBlocked {
            addr: "::1".parse().unwrap(),
        },
        AuditEvent::JwksRefreshed {
            uri: "https://as/jwks".into(),
            keys: 2,
        },
        AuditEvent::JwksFailed {
            uri: "https://as/jwks".into(),
            detail: "503".into(),
        },
    ] {
        assert!(!e.to_string().is_empty());
    }
    assert!(
        Denied {
            limit: Limit::Blocked,
            retry_after: s(0.0)
        }
        .to_string()
        .contains("retry after 1 s")
    );
}

proptest! {
    /// Over any window, a bucket never admits more than burst + rate × elapsed.
    #[test]
    fn bucket_never_exceeds_its_rate(burst in 1u32..20, per_second in 0.1f64..50.0, steps in proptest::collection::vec(0u64..2000, 1..300)) {
        let rate = Rate { burst, per_second };
        let mut b = Bucket::full(rate, Duration::ZERO);
        let mut now = Duration::ZERO;
        let mut admitted = 0u64;
        for ms in steps {
            now += Duration::from_millis(ms);
            if b.take(rate, now).is_ok() {
                admitted += 1;
            }
        }
        let bound = f64::from(burst) + now.as_secs_f64() * per_second + 1e-6;
        prop_assert!((admitted as f64) <= bound, "{admitted} > {bound}");
    }
}

/// Item "lock-outs through guard defaults": with the default limits, users of one OAuth
/// client do not share a bucket. One user spending theirs is refused (per subject); the
/// next user of the same application is not.
#[test]
fn default_limits_never_refuse_one_user_for_another() {
    let mut g = Guard::new(GuardConfig::default());
    assert_eq!(GuardConfig::default().per_client, None);
    let user = |sub: &str| Principal {
        client_id: Some("shared-app".into()),
        subject: Some(sub.into()),
        tenant: None,
    };
    let now = s(0.0);
    let mut passed = 0;
    while g.after_auth(&user("noisy"), now).is_ok() {
        passed += 1;
        assert!(passed <= 1000, "the per-subject limit never refused");
    }
    assert_eq!(passed, 100, "the default burst per subject");
    assert_eq!(
        g.after_auth(&user("noisy"), now).unwrap_err().limit,
        Limit::Subject
    );
    assert!(
        g.after_auth(&user("quiet"), now).is_ok(),
        "another user of the same client is not refused"
    );
    assert!(
        g.after_auth_ids(Some("shared-app"), Some("other"), None, now)
            .is_ok()
    );
}

fn xff(values: &[&str]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for v in values {
        h.append("x-forwarded-for", v.parse().unwrap());
    }
    h
}

fn fwd(values: &[&str]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for v in values {
        h.append("forwarded", v.parse().unwrap());
    }
    h
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Nothing is trusted by default: the peer is the client, whatever the headers say.
#[test]
fn no_proxy_is_trusted_by_default() {
    let none = TrustedProxies::default();
    assert!(none.is_empty());
    assert_eq!(none, TrustedProxies::none());
    let mut h = xff(&["198.51.100.7"]);
    h.append("forwarded", "for=198.51.100.8".parse().unwrap());
    for peer in ["10.0.0.1", "127.0.0.1", "::1", "203.0.113.9"] {
        assert_eq!(none.client_addr(ip(peer), &h), ip(peer));
    }
}

/// `X-Forwarded-For` from a trusted peer: walked from the right, trusted proxies skipped,
/// the first untrusted address taken; what the client wrote further left never counts.
#[test]
fn x_forwarded_for_is_walked_from_the_right() {
    let p = TrustedProxies::x_forwarded_for([
        "10.0.0.0/8".parse().unwrap(),
        "2001:db8:f::/48".parse().unwrap(),
    ]);
    let proxy = ip("10.0.0.1");
    let long = "x".repeat(10_000);
    let cases: &[(&[&str], &str)] = &[
        (&["198.51.100.7"], "198.51.100.7"),
        (&["1.2.3.4, 198.51.100.7"], "198.51.100.7"),
        (
            &["1.2.3.4, 198.51.100.7, 10.0.0.3, 10.0.0.2"],
            "198.51.100.7",
        ),
        // One field per proxy, and a client's own field first.
        (&["1.2.3.4", "198.51.100.7", "10.0.0.2"], "198.51.100.7"),
        // Ports, brackets, spaces, IPv6, IPv4-mapped IPv6.
        (&["198.51.100.7:4711"], "198.51.100.7"),
        (&[" [2001:db8::7]:4711 ,10.0.0.2"], "2001:db8::7"),
        (&["2001:db8::7, 2001:db8:f::1"], "2001:db8::7"),
        (&["[2001:db8::7]"], "2001:db8::7"),
        (&["::ffff:198.51.100.7"], "198.51.100.7"),
        (&["198.51.100.7, ::ffff:10.0.0.2"], "198.51.100.7"),
        // Junk the client wrote left of the first untrusted hop is never read.
        (&["\"unterminated, not-an-ip, 198.51.100.7"], "198.51.100.7"),
        (&[long.as_str(), "198.51.100.7"], "198.51.100.7"),
        // Every hop trusted: the farthest one.
        (&["10.0.0.9, 10.0.0.2"], "10.0.0.9"),
        // No usable header: the peer.
        (&[], "10.0.0.1"),
        (&[""], "10.0.0.1"),
        (&["unknown"], "10.0.0.1"),
        (&["198.51.100.7, garbage"], "10.0.0.1"),
        (&["198.51.100.7,"], "10.0.0.1"),
        (&["198.51.100.7, 10.0.0.2:99999"], "10.0.0.1"),
        (&["fe80::1%eth0"], "10.0.0.1"),
        (&["_hidden"], "10.0.0.1"),
    ];
    for (values, want) in cases {
        assert_eq!(p.client_addr(proxy, &xff(values)), ip(want), "{values:?}");
    }
    // A trusted IPv4 proxy seen over a dual-stack socket.
    assert_eq!(
        p.client_addr(ip("::ffff:10.0.0.1"), &xff(&["198.51.100.7"])),
        ip("198.51.100.7")
    );
    // From an untrusted peer the header is ignored.
    assert_eq!(
        p.client_addr(ip("203.0.113.9"), &xff(&["198.51.100.7"])),
        ip("203.0.113.9")
    );
    // The other header is not read: a client can send it with any address.
    assert_eq!(p.client_addr(proxy, &fwd(&["for=198.51.100.8"])), proxy);
    // More trusted hops than the cap: the peer.
    let many = vec!["10.0.0.2"; MAX_FORWARDED_HOPS + 1].join(", ");
    assert_eq!(
        p.client_addr(proxy, &xff(&[&format!("198.51.100.7, {many}")])),
        proxy
    );
    let enough = vec!["10.0.0.2"; MAX_FORWARDED_HOPS - 1].join(", ");
    assert_eq!(
        p.client_addr(proxy, &xff(&[&format!("198.51.100.7, {enough}")])),
        ip("198.51.100.7")
    );
}

/// `Forwarded` (RFC 7239) from a trusted peer, with the RFC's node forms.
#[test]
fn forwarded_is_walked_from_the_right() {
    let p = TrustedProxies::forwarded(["10.0.0.0/8".parse().unwrap()]);
    let proxy = ip("10.0.0.1");
    let cases: &[(&[&str], &str)] = &[
        (&["for=198.51.100.7"], "198.51.100.7"),
        (&[r#"for="198.51.100.7:4711";proto=https"#], "198.51.100.7"),
        (&[r#"For="[2001:db8:cafe::17]:4711""#], "2001:db8:cafe::17"),
        (
            &["for=1.2.3.4, for=198.51.100.7;host=mcp.example.com, for=10.0.0.2;by=10.0.0.1"],
            "198.51.100.7",
        ),
        (
            &["for=1.2.3.4", "for=198.51.100.7", "for=10.0.0.2"],
            "198.51.100.7",
        ),
        // A client's malformed prefix is never read.
        (&[r#"for="oops, for=198.51.100.7"#], "198.51.100.7"),
        (&["for=a;for=b", "for=198.51.100.7"], "198.51.100.7"),
        // Unusable where it is read: the peer.
        (&["for=unknown"], "10.0.0.1"),
        (&[r#"for="_gazonk""#], "10.0.0.1"),
        (&["proto=https"], "10.0.0.1"),
        (&["for=198.51.100.7;for=198.51.100.8"], "10.0.0.1"),
        (&["for=198.51.100.7, for="], "10.0.0.1"),
    ];
    for (values, want) in cases {
        assert_eq!(p.client_addr(proxy, &fwd(values)), ip(want), "{values:?}");
    }
    assert_eq!(p.client_addr(proxy, &xff(&["198.51.100.7"])), proxy);
}

/// Behind one proxy, twenty invalid tokens from one client block that client, not every
/// client of the proxy.
#[test]
fn behind_a_proxy_one_client_cannot_block_the_others() {
    let p = TrustedProxies::x_forwarded_for(["10.0.0.1/32".parse().unwrap()]);
    let mut g = Guard::new(GuardConfig::default());
    let proxy = ip("10.0.0.1");
    let attacker = p.client_addr(proxy, &xff(&["198.51.100.66"]));
    let bystander = p.client_addr(proxy, &xff(&["198.51.100.7"]));
    let now = s(1.0);
    let mut blocked = false;
    for _ in 0..GuardConfig::default().max_failures {
        blocked |= g.record_invalid_token(attacker, now);
    }
    assert!(blocked);
    assert_eq!(
        g.before_auth(attacker, now).unwrap_err().limit,
        Limit::Blocked
    );
    assert!(g.before_auth(bystander, now).is_ok());
}

proptest! {
    /// Any header text, any peer: no panic; without a header, the peer.
    #[test]
    fn client_addr_never_panics(fields in proptest::collection::vec("[ -~]{0,80}", 0..4), forwarded in any::<bool>(), last in 0u8..4) {
        let nets = ["10.0.0.0/8".parse().unwrap()];
        let p = if forwarded { TrustedProxies::forwarded(nets) } else { TrustedProxies::x_forwarded_for(nets) };
        let name = if forwarded { "forwarded" } else { "x-forwarded-for" };
        let mut h = http::HeaderMap::new();
        for f in &fields {
            if let Ok(v) = http::HeaderValue::from_str(f) {
                h.append(name, v);
            }
        }
        let peer = IpAddr::from([10, 0, 0, last]);
        let got = p.client_addr(peer, &h);
        if h.is_empty() {
            prop_assert_eq!(got, peer);
        }
        let outsider = IpAddr::from([203, 0, 113, last]);
        prop_assert_eq!(p.client_addr(outsider, &h), outsider);
    }
}
