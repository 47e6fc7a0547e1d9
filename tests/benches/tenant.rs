//! `cargo xtask bench tenant [--json]`: validation throughput with one tenant and with
//! 10,000 tenants (distinct issuers and P-256 keys), side by side in one run, and the
//! resident memory each tenant costs.
//!
//! Each validation resolves the tenant from the request's `Host`, peeks the issuer,
//! and verifies the ES256 token with that tenant's key. The two variants run interleaved
//! in rounds (medians reported, with the spread); with 10,000 tenants the requests cycle
//! through every tenant, so key material and maps are not all in cache. Memory: resident
//! set size before and after building the 10,000-tenant registry (keys and tokens made
//! beforehand), divided by 10,000.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use mcp_oauth_jwt_validate::crypto::Ring;
use mcp_oauth_jwt_validate::{Algorithm, KeySet, KeySetLimits, Policy, UnixTime};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_tenant::{IssuerTrust, Registry, Resolver, TenantId, TenantTrust};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

const TENANTS: usize = 10_000;
const NOW: u64 = 1_800_000_000;

struct Made {
    jwk: Value,
    token: String,
    host: String,
    issuer: String,
    resource: String,
}

fn make(i: usize, rng: &SystemRandom) -> Made {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).unwrap();
    let kp =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng).unwrap();
    let point = kp.public_key().as_ref();
    let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
    let kid = format!("k{i}");
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": b(&point[1..33]), "y": b(&point[33..65]), "kid": kid, "use": "sig"});
    let issuer = format!("https://idp{i}.example.com");
    let host = format!("t{i}.mcp.example.com");
    let resource = format!("https://{host}/mcp");
    let h = b(json!({"alg": "ES256", "typ": "at+jwt", "kid": kid})
        .to_string()
        .as_bytes());
    let c = b(
        json!({"iss": issuer, "sub": format!("user-{i}"), "aud": resource, "client_id": "c",
                     "iat": NOW - 10, "exp": NOW + 3600, "scope": "mcp:read"})
        .to_string()
        .as_bytes(),
    );
    let input = format!("{h}.{c}");
    let sig = kp.sign(rng, input.as_bytes()).unwrap();
    Made {
        jwk,
        token: format!("{input}.{}", b(sig.as_ref())),
        host,
        issuer,
        resource,
    }
}

fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn registry(made: &[Made]) -> Registry {
    let mut reg = Registry::new(Resolver::Host);
    for (i, m) in made.iter().enumerate() {
        let keys = Arc::new(
            KeySet::from_value(&json!({"keys": [m.jwk]}), &Ring, &KeySetLimits::default()).unwrap(),
        );
        let resource = ResourceUri::parse(&m.resource).unwrap();
        let policy = Policy::new(m.issuer.clone(), &resource).algorithms([Algorithm::ES256]);
        let t = TenantTrust::new(TenantId::new(format!("tenant-{i}")), resource)
            .issuer(m.issuer.clone(), IssuerTrust::new(policy, keys));
        reg.add(&m.host, t).unwrap();
    }
    reg
}

fn parts(host: &str) -> Parts {
    http::Request::builder()
        .uri("/mcp")
        .header("host", host)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn rate(reg: &Registry, reqs: &[(Parts, String)], dur: Duration) -> f64 {
    let now = UnixTime(NOW);
    let mut i = 0usize;
    let mut step = || {
        let (p, token) = &reqs[i % reqs.len()];
        i += 1;
        let t = reg.resolve(p).unwrap();
        black_box(t.validate(token, now).is_ok())
    };
    for _ in 0..200 {
        assert!(step());
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        for _ in 0..64 {
            step();
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let json_out = std::env::args().any(|a| a == "--json");
    let rounds: usize = std::env::var("TENANT_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let ms: u64 = std::env::var("TENANT_BENCH_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let rng = SystemRandom::new();
    let made: Vec<Made> = (0..TENANTS).map(|i| make(i, &rng)).collect();

    let before = rss();
    let many = registry(&made);
    let after = rss();
    let bytes_per_tenant = after.saturating_sub(before) / TENANTS;
    let one = registry(&made[..1]);

    let one_reqs: Vec<(Parts, String)> = vec![(parts(&made[0].host), made[0].token.clone())];
    let many_reqs: Vec<(Parts, String)> = made
        .iter()
        .map(|m| (parts(&m.host), m.token.clone()))
        .collect();

    // Every token is accepted by its own tenant and refused by tenant 0's.
    let now = UnixTime(NOW);
    for (p, t) in &many_reqs {
        assert!(many.resolve(p).unwrap().validate(t, now).is_ok());
    }
    assert!(
        one.resolve(&one_reqs[0].0)
            .unwrap()
            .validate(&made[1].token, now)
            .is_err()
    );

    let dur = Duration::from_millis(ms);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(rate(&one, &one_reqs, dur));
        b.push(rate(&many, &many_reqs, dur));
    }
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        (lo, hi)
    };
    let (ma, mb) = (median(a.clone()), median(b.clone()));
    if json_out {
        println!(
            "{}",
            json!({"one_tenant": ma.round(), "ten_thousand": mb.round(), "bytes_per_tenant": bytes_per_tenant})
        );
    } else {
        let (la, ha) = spread(&a);
        let (lb, hb) = spread(&b);
        println!(
            "tenant bench: ES256, resolve by Host + validate, {rounds} interleaved rounds of {ms} ms"
        );
        println!("  one tenant      {ma:>10.0} /s  (spread {la:.0}–{ha:.0})");
        println!("  10,000 tenants  {mb:>10.0} /s  (spread {lb:.0}–{hb:.0})");
        println!("  ratio 10k/1     {:>10.3}  (target ≥ 0.95)", mb / ma);
        println!(
            "  memory          {bytes_per_tenant:>10} bytes per tenant (RSS delta / {TENANTS}; target < 16384)"
        );
    }
}
