//! `cargo xtask bench jwt [--json]`: tokens per second, side by side in one run.
//!
//! For RS256, ES256 and EdDSA it measures: the raw signature verify of ring and of
//! aws-lc-rs on a key prepared once (the floor of any validator), our full validation
//! (split, base64url, header, key lookup, verify, claims, scopes) with each provider,
//! jsonwebtoken 11 (`aws_lc_rs`) decode + validate of the same token, and our
//! verified-token cache hit. Variants run interleaved in rounds so drift on a noisy
//! machine hits all of them alike; each figure is the median of the rounds, with the
//! spread (min–max) printed beside it. `cargo xtask bench` pins the process to one core.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_oauth_jwt_validate::crypto::{AwsLcRs, Ring};
use mcp_oauth_jwt_validate::{KeySet, KeySetLimits, Policy, TokenCache, UnixTime, Validator};
use mcp_oauth_tests::jwt::{ISSUER, N, RESOURCE, TestKey, TestKeys, claims, header};
use serde_json::{Value, json};

type Bench<'a> = Box<dyn FnMut() -> bool + 'a>;

fn b64d(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn rate(f: &mut Bench<'_>, dur: Duration) -> f64 {
    // Warm up, then count whole batches until the time is up.
    for _ in 0..50 {
        assert!(f());
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        for _ in 0..64 {
            black_box(f());
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

struct Case<'a> {
    name: &'static str,
    variants: Vec<(&'static str, Bench<'a>)>,
}

fn case<'a>(
    name: &'static str,
    key: &'a TestKey,
    alg: &'static str,
    keys: &'a TestKeys,
) -> Case<'a> {
    // TOKENS distinct tokens (own `sub`, `jti`, `iat`; one key, so one header), taken in
    // turn by every variant: each call verifies another signature over another message.
    let tokens: &'a [String] = Box::leak(
        (0..TOKENS)
            .map(|i| key.sign(&header(alg, key.kid), &claims_n(i)))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let signed: &'a [(Vec<u8>, Vec<u8>)] = Box::leak(
        tokens
            .iter()
            .map(|t| {
                let (msg, sig) = t.rsplit_once('.').unwrap();
                (msg.as_bytes().to_vec(), b64d(sig))
            })
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let jwk = key.jwk();
    let jwks = json!({"keys": [jwk.clone()]});

    // Raw ring, key prepared once (ring re-validates RSA moduli per call: its floor).
    let raw_ring: Bench<'a> = match alg {
        "RS256" => {
            let c = ring::signature::RsaPublicKeyComponents {
                n: b64d(jwk["n"].as_str().unwrap()),
                e: b64d(jwk["e"].as_str().unwrap()),
            };
            let mut i = 0;
            Box::new(move || {
                let (msg, sig) = &signed[next(&mut i)];
                c.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                    .is_ok()
            })
        }
        "ES256" => {
            let point = [
                vec![4],
                b64d(jwk["x"].as_str().unwrap()),
                b64d(jwk["y"].as_str().unwrap()),
            ]
            .concat();
            let k = ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                point,
            );
            let mut i = 0;
            Box::new(move || {
                let (msg, sig) = &signed[next(&mut i)];
                k.verify(msg, sig).is_ok()
            })
        }
        _ => {
            let k = ring::signature::UnparsedPublicKey::new(
                &ring::signature::ED25519,
                b64d(jwk["x"].as_str().unwrap()),
            );
            let mut i = 0;
            Box::new(move || {
                let (msg, sig) = &signed[next(&mut i)];
                k.verify(msg, sig).is_ok()
            })
        }
    };
    // Raw aws-lc-rs, key parsed once.
    let raw_aws: Bench<'a> = {
        use aws_lc_rs::signature as s;
        let (alg_ref, bytes): (&'static dyn s::VerificationAlgorithm, Vec<u8>) = match alg {
            "RS256" => {
                let der = rsa_der(
                    &b64d(jwk["n"].as_str().unwrap()),
                    &b64d(jwk["e"].as_str().unwrap()),
                );
                (&s::RSA_PKCS1_2048_8192_SHA256, der)
            }
            "ES256" => (
                &s::ECDSA_P256_SHA256_FIXED,
                [
                    vec![4],
                    b64d(jwk["x"].as_str().unwrap()),
                    b64d(jwk["y"].as_str().unwrap()),
                ]
                .concat(),
            ),
            _ => (&s::ED25519, b64d(jwk["x"].as_str().unwrap())),
        };
        let k = s::ParsedPublicKey::new(alg_ref, bytes).unwrap();
        let mut i = 0;
        Box::new(move || {
            let (msg, sig) = &signed[next(&mut i)];
            k.verify_sig(msg, sig).is_ok()
        })
    };
    let policy = Policy::new(
        ISSUER,
        &mcp_oauth_resource_indicators::ResourceUri::parse(RESOURCE).unwrap(),
    )
    .require_scopes(["mcp:read"]);
    let validator = Validator::new(policy);
    let ring_keys = KeySet::from_value(&jwks, &Ring, &KeySetLimits::default()).unwrap();
    let aws_keys = KeySet::from_value(&jwks, &AwsLcRs, &KeySetLimits::default()).unwrap();
    let now = UnixTime(N);
    let (v1, v2, v3) = (validator.clone(), validator.clone(), validator);
    let mut i = 0;
    let ours_ring: Bench<'a> =
        Box::new(move || v1.validate(&tokens[next(&mut i)], &ring_keys, now).is_ok());
    let aws_keys_2 = KeySet::from_value(&jwks, &AwsLcRs, &KeySetLimits::default()).unwrap();
    let mut i = 0;
    let ours_aws: Bench<'a> =
        Box::new(move || v2.validate(&tokens[next(&mut i)], &aws_keys, now).is_ok());
    // jsonwebtoken 11 on aws-lc-rs, the same checks: alg, iss, aud, exp (leeway 60).
    let jwt: Bench<'a> = {
        use jsonwebtoken::{Algorithm as A, DecodingKey, Validation, decode};
        let (a, key) = match alg {
            "RS256" => (
                A::RS256,
                DecodingKey::from_rsa_components(
                    jwk["n"].as_str().unwrap(),
                    jwk["e"].as_str().unwrap(),
                )
                .unwrap(),
            ),
            "ES256" => (
                A::ES256,
                DecodingKey::from_ec_components(
                    jwk["x"].as_str().unwrap(),
                    jwk["y"].as_str().unwrap(),
                )
                .unwrap(),
            ),
            _ => (
                A::EdDSA,
                DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap(),
            ),
        };
        let mut v = Validation::new(a);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[RESOURCE]);
        v.leeway = 60;
        // jsonwebtoken reads the clock itself; the fixture token expires at N + 600, so
        // run it against a token valid now.
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let live: &'a [String] = Box::leak(
            (0..TOKENS)
                .map(|n| {
                    let mut c = claims_n(n);
                    c["exp"] = json!(exp);
                    key_sign(key_ref(keys, name), alg, &c)
                })
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let mut i = 0;
        Box::new(move || decode::<Value>(&live[next(&mut i)], &key, &v).is_ok())
    };
    // The overhead probe: our validation with a provider whose verify always succeeds
    // (everything but the signature), printed in the table, not part of the JSON.
    let noop_keys = KeySet::from_value(&jwks, &NoVerify, &KeySetLimits::default()).unwrap();
    let v4 = v3.clone();
    let mut i = 0;
    let overhead: Bench<'a> =
        Box::new(move || v4.validate(&tokens[next(&mut i)], &noop_keys, now).is_ok());
    let mut cache = TokenCache::new(1024);
    let mut i = 0;
    let cached: Bench<'a> = Box::new(move || {
        cache
            .validate::<&str>(&v3, &tokens[next(&mut i)], &aws_keys_2, now, &[])
            .is_ok()
    });
    Case {
        name,
        variants: vec![
            ("raw_ring", raw_ring),
            ("raw_aws_lc", raw_aws),
            ("ours_ring", ours_ring),
            ("ours_aws_lc", ours_aws),
            ("jsonwebtoken", jwt),
            ("ours_cached", cached),
            ("overhead", overhead),
        ],
    }
}

/// How many distinct tokens each variant cycles through.
const TOKENS: usize = 16;

/// The next index in `0..TOKENS`, in turn.
fn next(i: &mut usize) -> usize {
    *i = (*i + 1) % TOKENS;
    *i
}

/// The baseline claims with their own subject, token id and issue time.
fn claims_n(n: usize) -> Value {
    let mut c = claims();
    c["sub"] = json!(format!("user-{n}"));
    c["jti"] = json!(format!("jti-{n}"));
    c["iat"] = json!(N - 10 - n as u64);
    c
}

/// A provider whose verify always succeeds: measures everything but the signature.
#[derive(Debug)]
struct NoVerify;

#[derive(Debug)]
struct Accepts;

impl mcp_oauth_jwt_validate::crypto::VerifyingKey for Accepts {
    fn verify(&self, _: &[u8], _: &[u8]) -> bool {
        true
    }
}

impl mcp_oauth_jwt_validate::crypto::CryptoProvider for NoVerify {
    fn name(&self) -> &'static str {
        "no-verify (benchmark probe)"
    }
    fn prepare(
        &self,
        _: mcp_oauth_jwt_validate::Algorithm,
        _: &mcp_oauth_jwt_validate::crypto::PublicKeyMaterial,
    ) -> Result<
        Box<dyn mcp_oauth_jwt_validate::crypto::VerifyingKey>,
        mcp_oauth_jwt_validate::KeyError,
    > {
        Ok(Box::new(Accepts))
    }
}

fn key_ref<'a>(keys: &'a TestKeys, name: &str) -> &'a TestKey {
    match name {
        "rs256" => &keys.rs1,
        "es256" => &keys.ec1,
        _ => &keys.ed1,
    }
}

fn key_sign(key: &TestKey, alg: &str, c: &Value) -> String {
    key.sign(&header(alg, key.kid), c)
}

fn rsa_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, l: usize) {
        if l < 128 {
            out.push(l as u8);
        } else if l < 256 {
            out.extend([0x81, l as u8]);
        } else {
            out.extend([0x82, (l >> 8) as u8, l as u8]);
        }
    }
    let int = |v: &[u8]| {
        let mut out = vec![2];
        let pad = v[0] & 0x80 != 0;
        len(&mut out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    };
    let body = [int(n), int(e)].concat();
    let mut out = vec![0x30];
    len(&mut out, body.len());
    out.extend(body);
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json_out = args.iter().any(|a| a == "--json");
    let rounds: usize = std::env::var("JWT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let per: u64 = std::env::var("JWT_BENCH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let keys = TestKeys::load().unwrap();
    let mut cases = vec![
        case("rs256", &keys.rs1, "RS256", &keys),
        case("es256", &keys.ec1, "ES256", &keys),
        case("eddsa", &keys.ed1, "EdDSA", &keys),
    ];
    // JWT_BENCH_ONLY=rs256:ours_aws_lc runs one variant alone (for profiling).
    let only = std::env::var("JWT_BENCH_ONLY").ok();
    if let Some(o) = &only {
        for c in &mut cases {
            let name = c.name;
            c.variants.retain(|(v, _)| *o == format!("{name}:{v}"));
        }
        cases.retain(|c| !c.variants.is_empty());
    }
    let mut samples: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for _ in 0..rounds {
        for c in &mut cases {
            for (v, f) in &mut c.variants {
                samples
                    .entry((c.name, v))
                    .or_default()
                    .push(rate(f, Duration::from_millis(per)));
            }
        }
    }
    let mut out = serde_json::Map::new();
    let mut table = String::new();
    for c in &cases {
        let mut obj = serde_json::Map::new();
        table.push_str(&format!("{}:\n", c.name));
        for (v, _) in &c.variants {
            let s = samples.get_mut(&(c.name, *v)).unwrap();
            let (lo, hi) = (
                s.iter().cloned().fold(f64::MAX, f64::min),
                s.iter().cloned().fold(0.0, f64::max),
            );
            let m = median(s);
            if *v != "overhead" {
                obj.insert((*v).to_owned(), json!(m.round()));
            }
            table.push_str(&format!(
                "  {v:<13} {m:>12.0} ops/s   (spread {lo:.0}..{hi:.0})\n"
            ));
        }
        let get = |k: &str| obj.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        table.push_str(&format!(
            "  ratios: ours_ring/raw_ring {:.3}, ours_aws_lc/raw_aws_lc {:.3}, ours_aws_lc/jsonwebtoken {:.3}\n",
            get("ours_ring") / get("raw_ring"),
            get("ours_aws_lc") / get("raw_aws_lc"),
            get("ours_aws_lc") / get("jsonwebtoken"),
        ));
        if let Some(s) = samples.get_mut(&(c.name, "overhead")) {
            let ops = median(s);
            table.push_str(&format!(
                "  everything but the signature: {:.0} ns per token\n",
                1e9 / ops
            ));
        }
        out.insert(c.name.to_owned(), Value::Object(obj));
    }
    if json_out {
        println!("{}", Value::Object(out));
    } else {
        print!("{table}");
        println!("rounds: {rounds}, {per} ms per variant per round");
    }
}
