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
