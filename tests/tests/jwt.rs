//! mcp-oauth-jwt-validate end to end with real signatures from the fixture keys: error reasons for
//! the attack classes, the JWKS cache on a fake clock, the verified-token cache,
//! introspection, and property tests (requirements MCP-RS-1/2, RFC 9068 §4, RFC 8725).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use mcp_oauth_jwt_validate::crypto::{AwsLcRs, Ring};
use mcp_oauth_jwt_validate::{
    Algorithm, Cached, CryptoProvider, FetchError, FetchOutcome, IntrospectionAuth, JwksCache,
    JwksConfig, JwtError, KeyError, KeySet, KeySetLimits, Lookup, Malformed, Policy, TokenCache,
    TokenKey, UnixTime, Validator, introspection_request, parse_introspection,
};
use mcp_oauth_prm_metadata::BearerError;
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_tests::jwt::{ISSUER, N, RESOURCE, TestKeys, claims, header};
use proptest::prelude::*;
use serde_json::{Value, json};

fn policy() -> Policy {
    Policy::new(ISSUER, &ResourceUri::parse(RESOURCE).unwrap())
}

fn keyset(jwks: &Value, provider: &dyn CryptoProvider) -> KeySet {
    KeySet::from_value(jwks, provider, &KeySetLimits::default()).unwrap()
}

fn validate(
    token: &str,
    jwks: &Value,
    p: Policy,
) -> Result<mcp_oauth_jwt_validate::AuthContext, JwtError> {
    let ring = Validator::new(p.clone()).validate(token, &keyset(jwks, &Ring), UnixTime(N));
    let aws = Validator::new(p).validate(token, &keyset(jwks, &AwsLcRs), UnixTime(N));
    assert_eq!(ring, aws, "providers disagree");
    ring
}

#[test]
fn valid_token_gives_the_authenticated_context() {
    let k = TestKeys::load().unwrap();
    let mut c = claims();
    c["scp"] = json!(["mcp:write"]);
    c["custom"] = json!({"tenant": "t1"});
    let t = k.rs1.sign(&header("RS256", "rs1"), &c);
    let ctx = validate(&t, &k.jwks(), policy()).unwrap();
    assert_eq!(ctx.issuer(), ISSUER);
    assert_eq!(ctx.subject(), Some("user-1"));
    assert_eq!(ctx.client_id(), Some("client-1"));
    assert_eq!(ctx.token_id(), Some("jti-1"));
    assert_eq!(ctx.scopes().collect::<Vec<_>>(), ["mcp:read", "mcp:write"]);
    assert_eq!(ctx.audience().collect::<Vec<_>>(), [RESOURCE]);
    assert_eq!(ctx.expires_at(), UnixTime(N + 600));
    assert_eq!(ctx.key_id(), Some("rs1"));
    assert_eq!(ctx.algorithm(), Some(Algorithm::RS256));
    assert_eq!(ctx.claims()["custom"]["tenant"], "t1");
    assert_eq!(ctx.claim::<Value>("custom").unwrap()["tenant"], "t1");
    assert_eq!(ctx.claim::<u64>("iat"), Some(N - 10));
    assert!(ctx.claim::<u64>("nope").is_none());
    assert!(ctx.has_scopes(&["mcp:read", "mcp:write"]));
    // Escaped strings are returned unescaped.
    let mut c = claims();
    c["sub"] = json!("user \"quoted\" é");
    let t = k.rs1.sign(&header("RS256", "rs1"), &c);
    assert_eq!(
        validate(&t, &k.jwks(), policy()).unwrap().subject(),
        Some("user \"quoted\" é")
    );
}

/// The per-thread header memo keeps only what a header's bytes say: every policy check
/// still runs on every token, and tokens with other headers (more than the memo holds,
/// in turn) keep their own `kid` and algorithm.
/// RFC 9068 §4 / RFC 8725 §3.11, explicit typing by default: `Policy::new` refuses a
/// token whose header says `typ: JWT` or has no `typ` (before, both passed: `cargo xtask
/// serve` answered 200 to a `typ: JWT` token); relaxing it is done by name.
#[test]
fn at_jwt_typ_is_checked_by_default() {
    let k = TestKeys::load().unwrap();
    let plain = json!({"alg": "RS256", "typ": "JWT", "kid": "rs1"});
    let untyped = json!({"alg": "RS256", "kid": "rs1"});
    let typed = k.rs1.sign(&header("RS256", "rs1"), &claims());
    let plain = k.rs1.sign(&plain, &claims());
    let untyped = k.rs1.sign(&untyped, &claims());
    assert!(validate(&typed, &k.jwks(), policy()).is_ok());
    assert_eq!(
        validate(&plain, &k.jwks(), policy()),
        Err(JwtError::TypeNotAccepted)
    );
    assert_eq!(
        validate(&untyped, &k.jwks(), policy()),
        Err(JwtError::TypeNotAccepted)
    );
    let relaxed = policy().accept_typ([mcp_oauth_jwt_validate::RFC9068_TYP, "JWT"]);
    assert!(validate(&plain, &k.jwks(), relaxed.clone()).is_ok());
    assert!(validate(&typed, &k.jwks(), relaxed.clone()).is_ok());
    assert_eq!(
        validate(&untyped, &k.jwks(), relaxed),
        Err(JwtError::TypeNotAccepted)
    );
    assert!(validate(&untyped, &k.jwks(), policy().dangerous_skip_typ_check()).is_ok());
}

#[test]
fn repeated_headers_are_still_checked_against_each_policy() {
    let k = TestKeys::load().unwrap();
    let mut jwks = k.jwks();
    jwks["keys"].as_array_mut().unwrap().push(k.rs2.jwk());
    let keys = keyset(&jwks, &Ring);
    let now = UnixTime(N);
    let t = k.rs1.sign(&header("RS256", "rs1"), &claims());
    let open = Validator::new(policy());
    for _ in 0..3 {
        assert!(open.validate(&t, &keys, now).is_ok());
        let only_ec = Validator::new(policy().algorithms([Algorithm::ES256]));
        assert_eq!(
            only_ec.validate(&t, &keys, now),
            Err(JwtError::AlgorithmNotAllowed)
        );
        let plain_jwt = Validator::new(policy().accept_typ(["JWT"]));
        assert_eq!(
            plain_jwt.validate(&t, &keys, now),
            Err(JwtError::TypeNotAccepted)
        );
        let typed = Validator::new(policy().accept_typ(["Application/AT+JWT"]));
        assert!(typed.validate(&t, &keys, now).is_ok());
    }
    let signed = [
        (&k.rs1, "RS256", Algorithm::RS256),
        (&k.rs1, "PS256", Algorithm::PS256),
        (&k.ec1, "ES256", Algorithm::ES256),
        (&k.ec384, "ES384", Algorithm::ES384),
        (&k.ed1, "EdDSA", Algorithm::EdDSA),
        (&k.rs2, "RS256", Algorithm::RS256),
    ];
    let tokens: Vec<_> = signed
        .iter()
        .map(|(key, alg, a)| (key.sign(&header(alg, key.kid), &claims()), key.kid, *a))
        .collect();
    for _ in 0..3 {
        for (t, kid, alg) in &tokens {
            let ctx = open.validate(t, &keys, now).unwrap();
            assert_eq!((ctx.key_id(), ctx.algorithm()), (Some(*kid), Some(*alg)));
        }
    }
    // A header seen before, with `crit` added, is another header.
    let mut h = header("RS256", "rs1");
    h["crit"] = json!(["exp"]);
    assert_eq!(
        open.validate(&k.rs1.sign(&h, &claims()), &keys, now),
        Err(JwtError::UnsupportedCritical)
    );
}

#[test]
fn error_reasons_for_attack_classes() {
    let k = TestKeys::load().unwrap();
    let jwks = k.jwks();
    let t0 = k.rs1.sign(&header("RS256", "rs1"), &claims());
    let parts: Vec<&str> = t0.split('.').collect();
    let b64 = |v: &Value| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v.to_string(),
        )
    };
    let cases: Vec<(&str, String, JwtError)> = vec![
        (
            "AC-003",
            format!("{}.{}", parts[0], parts[1]),
            JwtError::Malformed(Malformed::Segments),
        ),
        (
            "AC-004",
            format!("{}.{}.", parts[0], parts[1]),
            JwtError::BadSignature,
        ),
        // The signature covers the literal text, so a changed payload fails it first.
        (
            "AC-009",
            format!("{}.{}=.{}", parts[0], parts[1], parts[2]),
            JwtError::BadSignature,
        ),
        (
            "AC-009",
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            JwtError::Malformed(Malformed::Base64),
        ),
        (
            "AC-009",
            format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
            JwtError::Malformed(Malformed::Base64),
        ),
        (
            "AC-019",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": "rs1"})),
                parts[1]
            ),
            JwtError::AlgorithmNotAllowed,
        ),
        (
            "AC-018",
            k.rs1.sign(
                &json!({"alg": "RS256", "kid": "rs1", "crit": ["exp"]}),
                &claims(),
            ),
            JwtError::UnsupportedCritical,
        ),
        (
            "AC-041",
            k.rs1.sign(&json!({"alg": "RS256", "kid": null}), &claims()),
            JwtError::Malformed(Malformed::Header),
        ),
        (
            "AC-042",
            k.rs1.sign(&header("RS256", "rs1 "), &claims()),
            JwtError::KeyNotFound,
        ),
        (
            "AC-034",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&json!({"sub": "admin"})),
                parts[2]
            ),
            JwtError::BadSignature,
        ),
    ];
    for (row, token, want) in cases {
        assert_eq!(
            validate(&token, &jwks, policy()).unwrap_err(),
            want,
            "{row}"
        );
    }
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        k.rs1.sign(&header("RS256", "rs1"), &c)
    };
    let remove = |name: &'static str| {
        move |c: &mut Value| {
            c.as_object_mut().unwrap().remove(name);
        }
    };
    assert_eq!(
        validate(&with(&remove("exp")), &jwks, policy()).unwrap_err(),
        JwtError::MissingClaim { claim: "exp" }
    );
    assert_eq!(
        validate(&with(&remove("aud")), &jwks, policy()).unwrap_err(),
        JwtError::AudienceMismatch
    );
    assert_eq!(
        validate(&with(&|c| c["exp"] = json!(N - 61)), &jwks, policy()).unwrap_err(),
        JwtError::Expired {
            exp: (N - 61) as f64,
            now: N,
            leeway: 60
        }
    );
    assert_eq!(
        validate(&with(&|c| c["exp"] = json!("x")), &jwks, policy()).unwrap_err(),
        JwtError::InvalidClaim { claim: "exp" }
    );
    assert_eq!(
        validate(&with(&|c| c["nbf"] = json!(N + 61)), &jwks, policy()).unwrap_err(),
        JwtError::NotYetValid
    );
    assert_eq!(
        validate(&with(&|c| c["iat"] = json!(N + 61)), &jwks, policy()).unwrap_err(),
        JwtError::IssuedAtRejected
    );
    assert_eq!(
        validate(&with(&|c| c["iss"] = json!("https://x")), &jwks, policy()).unwrap_err(),
        JwtError::IssuerNotAccepted
    );
    assert_eq!(
        validate(&with(&|c| c["cnf"] = json!({})), &jwks, policy()).unwrap_err(),
        JwtError::SenderConstrained
    );
    assert_eq!(
        validate(&with(&|c| c["scope"] = json!(["a"])), &jwks, policy()).unwrap_err(),
        JwtError::InvalidClaim { claim: "scope" }
    );
    // Max lifetime and the strict RFC 9068 profile.
    let long = with(&|c| c["exp"] = json!(N + 86_400 * 30));
    assert_eq!(
        validate(
            &long,
            &jwks,
            policy().max_lifetime(Duration::from_secs(86_400))
        )
        .unwrap_err(),
        JwtError::IssuedAtRejected
    );
    assert_eq!(
        validate(&with(&remove("jti")), &jwks, policy().rfc9068_strict()).unwrap_err(),
        JwtError::MissingClaim { claim: "jti" }
    );
    assert!(validate(&t0, &jwks, policy().rfc9068_strict()).is_ok());
    // Only the scope check answers 403, and it names only the missing scopes.
    let err = validate(
        &t0,
        &jwks,
        policy().require_scopes(["mcp:read", "mcp:write", "mcp:admin"]),
    )
    .unwrap_err();
    assert_eq!(err.bearer_error(), BearerError::InsufficientScope);
    assert_eq!(err.missing_scopes().unwrap(), ["mcp:write", "mcp:admin"]);
    assert_eq!(
        JwtError::BadSignature.bearer_error(),
        BearerError::InvalidToken
    );
    let v = Validator::new(policy());
    let err = v
        .validate_for(&t0, &keyset(&jwks, &Ring), UnixTime(N), &["files:write"])
        .unwrap_err();
    assert_eq!(err.missing_scopes().unwrap(), ["files:write"]);
    // Errors never carry the token.
    for e in [JwtError::BadSignature, err] {
        assert!(!format!("{e} {e:?}").contains(&t0[..40]));
    }
}

#[test]
fn key_set_rules() {
    let k = TestKeys::load().unwrap();
    let limits = KeySetLimits::default();
    let parse = |v: Value, p: &dyn CryptoProvider| KeySet::from_value(&v, p, &limits);
    let mut private = k.rs1.jwk();
    private["d"] = json!("AQAB");
    assert_eq!(
        parse(json!({"keys": [private]}), &Ring).unwrap_err(),
        KeyError::PrivateMaterial
    );
    let dup = json!({"keys": [k.rs1.jwk(), {"kty": "RSA", "kid": "rs1", "n": k.rs2.jwk()["n"], "e": "AQAB"}]});
    assert_eq!(parse(dup, &Ring).unwrap_err(), KeyError::DuplicateKid);
    let many: Vec<Value> = (0..65)
        .map(|i| json!({"kty": "oct", "kid": i.to_string()}))
        .collect();
    assert_eq!(
        parse(json!({"keys": many}), &Ring).unwrap_err(),
        KeyError::TooManyKeys { max: 64 }
    );
    let weak = mcp_oauth_tests::jwt::rsa1024_fixture();
    let set = parse(json!({"keys": [weak["jwk"]]}), &Ring).unwrap();
    assert!(set.keys().is_empty());
    assert_eq!(set.skipped()[0], (Some("weak".into()), KeyError::WeakKey));
    let mut e1 = k.rs1.jwk();
    e1["e"] = json!("AQ");
    assert_eq!(
        parse(json!({"keys": [e1]}), &Ring).unwrap().skipped()[0].1,
        KeyError::WeakKey
    );
    let mut enc = k.ec1.jwk();
    enc["use"] = json!("enc");
    assert_eq!(
        parse(json!({"keys": [enc]}), &Ring).unwrap().skipped()[0].1,
        KeyError::Unsupported
    );
    let mut wrong = k.ec1.jwk();
    wrong["alg"] = json!("ES384");
    assert_eq!(
        parse(json!({"keys": [wrong]}), &Ring).unwrap().skipped()[0].1,
        KeyError::Unsupported
    );
    // A point off its curve: aws-lc-rs refuses it on import; ring at the first verify.
    let mut off = k.ec1.jwk();
    off["y"] = json!(off["x"]);
    let aws = parse(json!({"keys": [off.clone()]}), &AwsLcRs).unwrap();
    assert!(matches!(
        aws.skipped()[0].1,
        KeyError::Rejected {
            provider: "aws-lc-rs",
            ..
        }
    ));
    let t = k.ec1.sign(&header("ES256", "ec1"), &claims());
    let ring = parse(json!({"keys": [off]}), &Ring).unwrap();
    assert_eq!(
        Validator::new(policy())
            .validate(&t, &ring, UnixTime(N))
            .unwrap_err(),
        JwtError::BadSignature
    );
    // Key lookup: exact kid; without kid, exactly one candidate.
    let set = parse(json!({"keys": [k.rs1.jwk(), k.rs2.jwk()]}), &Ring).unwrap();
    assert!(set.find(Some("rs1"), Algorithm::RS256).is_some());
    assert!(set.find(Some("rs1"), Algorithm::ES256).is_none());
    assert!(set.find(None, Algorithm::RS256).is_none());
    assert!(set.find(None, Algorithm::ES256).is_none());
    let json_bytes = serde_json::to_vec(&k.jwks()).unwrap();
    assert_eq!(
        KeySet::parse(&json_bytes, &Ring, &limits)
            .unwrap()
            .keys()
            .len(),
        4
    );
    assert!(matches!(
        KeySet::parse(b"<html>", &Ring, &limits),
        Err(KeyError::Json(_))
    ));
}

// ------------------------------------------------------------------ JWKS cache

const URI: &str = "https://as.example.com/jwks";

fn cache(config: JwksConfig) -> JwksCache {
    JwksCache::new(URI, Arc::new(Ring), config)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

/// A fake JWKS endpoint: status, headers, body for a request.
type Responder<'a> = &'a mut dyn FnMut(&http::Request<()>) -> (StatusCode, HeaderMap, Vec<u8>);

/// Answers every request the cache wants at `now` with `respond`.
fn drive(c: &mut JwksCache, now: UnixTime, respond: Responder<'_>) -> Option<FetchOutcome> {
    let req = c.poll_request(now)?;
    let (status, h, body) = respond(&req);
    Some(c.handle_response(now, status, &h, &body))
}

#[test]
fn jwks_cache_serves_known_keys_through_an_hour_long_outage_until_the_staleness_limit() {
    let k = TestKeys::load().unwrap();
    let body = serde_json::to_vec(&k.jwks()).unwrap();
    let config = JwksConfig {
        max_staleness: Duration::from_secs(45 * 60),
        ..JwksConfig::default()
    };
    let mut c = cache(config);
    let t0 = UnixTime(N);
    let ok = drive(&mut c, t0, &mut |r| {
        assert_eq!(r.uri(), URI);
        (
            StatusCode::OK,
            headers(&[("cache-control", "max-age=600"), ("etag", "\"v1\"")]),
            body.clone(),
        )
    });
    assert_eq!(ok, Some(FetchOutcome::Updated { keys: 4 }));
    assert_eq!(c.poll_timeout(), Some(UnixTime(N + 600)));
    let validator = Validator::new(policy());
    let token = k.rs1.sign(
        &header("RS256", "rs1"),
        &json!({"iss": ISSUER, "aud": RESOURCE, "exp": N + 7200}),
    );
    // The endpoint goes down for an hour at t0 + 600; the adapter polls every 10 s.
    let mut served_until = None;
    let mut failures = 0;
    for s in (600..=4200).step_by(10) {
        let now = UnixTime(N + s);
        if let Some(outcome) = drive(&mut c, now, &mut |_| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                HeaderMap::new(),
                Vec::new(),
            )
        }) {
            assert_eq!(outcome, FetchOutcome::Failed(FetchError::Status(503)));
            failures += 1;
        }
        match c.lookup(Some("rs1"), now) {
            Lookup::Found(keys) => {
                assert!(validator.validate(&token, &keys, now).is_ok());
                served_until = Some(s);
            }
            Lookup::Unavailable => {}
            Lookup::Unknown { .. } => panic!("rs1 is known"),
        }
    }
    // Served for exactly the staleness limit after the last success, then a clear failure.
    assert_eq!(served_until, Some(45 * 60));
    assert!(matches!(
        c.lookup(Some("rs1"), UnixTime(N + 4200)),
        Lookup::Unavailable
    ));
    // Exponential backoff: 5 s doubling to 600 s caps a one-hour outage at a few dozen tries.
    assert!(
        (5..=20).contains(&failures),
        "{failures} fetches during the outage"
    );
    // Recovery: the next fetch succeeds and keys are served again.
    let mut recovered = false;
    for s in (4200..5000).step_by(10) {
        let now = UnixTime(N + s);
        if drive(&mut c, now, &mut |r| {
            assert_eq!(r.headers()[header::IF_NONE_MATCH], "\"v1\"");
            (StatusCode::NOT_MODIFIED, HeaderMap::new(), Vec::new())
        })
        .is_some()
        {
            recovered = matches!(c.lookup(Some("rs1"), now), Lookup::Found(_));
            break;
        }
    }
    assert!(recovered);
}

#[test]
fn jwks_cache_random_kid_flood_costs_one_fetch_per_cooldown() {
    let k = TestKeys::load().unwrap();
    let body = serde_json::to_vec(&k.jwks()).unwrap();
    let mut c = cache(JwksConfig::default());
    drive(&mut c, UnixTime(N), &mut |_| {
        (StatusCode::OK, HeaderMap::new(), body.clone())
    });
    let before = c.fetch_count();
    // 10,000 tokens with random kids over 300 seconds (about 33 per second).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..10_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let now = UnixTime(N + 1 + i * 300 / 10_000);
        let kid = format!("kid-{x:016x}");
        assert!(matches!(c.lookup(Some(&kid), now), Lookup::Unknown { .. }));
        drive(&mut c, now, &mut |_| {
            (StatusCode::OK, HeaderMap::new(), body.clone())
        });
    }
    let fetched = c.fetch_count() - before;
    // One at the start of each 60-second cooldown in 300 seconds: at most 5 (plus the
    // scheduled refresh, which a one-hour default does not reach).
    assert!(fetched <= 5, "{fetched} fetches");
    assert!(
        fetched >= 4,
        "{fetched} fetches: unknown kids must still trigger refreshes"
    );
}

#[test]
fn jwks_cache_picks_up_rotation_without_restart() {
    let k = TestKeys::load().unwrap();
    let v1 = serde_json::to_vec(&json!({"keys": [k.rs1.jwk()]})).unwrap();
    let v2 = serde_json::to_vec(&json!({"keys": [k.rs2.jwk()]})).unwrap();
    let mut c = cache(JwksConfig::default());
    drive(&mut c, UnixTime(N), &mut |_| {
        (StatusCode::OK, HeaderMap::new(), v1.clone())
    });
    let validator = Validator::new(policy());
    let new_token = k.rs2.sign(&header("RS256", "rs2"), &claims());
    let old_token = k.rs1.sign(&header("RS256", "rs1"), &claims());
    // The AS starts signing with rs2: unknown kid, one fetch, then accepted.
    let now = UnixTime(N + 100);
    let Lookup::Unknown { refresh_at } = c.lookup(Some("rs2"), now) else {
        panic!()
    };
    assert_eq!(refresh_at, now);
    drive(&mut c, now, &mut |_| {
        (StatusCode::OK, HeaderMap::new(), v2.clone())
    })
    .unwrap();
    let Lookup::Found(keys) = c.lookup(Some("rs2"), now) else {
        panic!()
    };
    assert!(validator.validate(&new_token, &keys, UnixTime(N)).is_ok());
    // rs1 is gone: its tokens fail, and the cooldown (60 s from the rs2 fetch) stops
    // another fetch right away.
    assert_eq!(
        validator
            .validate(&old_token, &keys, UnixTime(N))
            .unwrap_err(),
        JwtError::KeyNotFound
    );
    let Lookup::Unknown { refresh_at } = c.lookup(Some("rs1"), now) else {
        panic!()
    };
    assert_eq!(refresh_at, UnixTime(N + 160));
    let later = UnixTime(N + 110);
    let Lookup::Unknown { refresh_at } = c.lookup(Some("rs1"), later) else {
        panic!()
    };
    assert_eq!(refresh_at, UnixTime(N + 160));
    assert!(c.poll_request(later).is_none());
}

#[test]
fn jwks_cache_bounds_and_failures() {
    let k = TestKeys::load().unwrap();
    let body = serde_json::to_vec(&k.jwks()).unwrap();
    for (cc, expect) in [
        ("max-age=5", 300),
        ("max-age=99999999", 86_400),
        ("no-store", 300),
        ("public", 3600),
    ] {
        let mut c = cache(JwksConfig::default());
        drive(&mut c, UnixTime(N), &mut |_| {
            (
                StatusCode::OK,
                headers(&[("cache-control", cc)]),
                body.clone(),
            )
        });
        assert_eq!(c.poll_timeout(), Some(UnixTime(N + expect)), "{cc}");
    }
    // A malformed body or a redirect is a failure; old keys stay.
    let mut c = cache(JwksConfig::default());
    drive(&mut c, UnixTime(N), &mut |_| {
        (StatusCode::OK, HeaderMap::new(), body.clone())
    });
    c.lookup(Some("zzz"), UnixTime(N + 1));
    let out = drive(&mut c, UnixTime(N + 1), &mut |_| {
        (StatusCode::OK, HeaderMap::new(), b"<html>".to_vec())
    })
    .unwrap();
    assert!(matches!(out, FetchOutcome::Failed(FetchError::Keys(_))));
    assert!(matches!(
        c.lookup(Some("rs1"), UnixTime(N + 2)),
        Lookup::Found(_)
    ));
    let mut c = cache(JwksConfig::default());
    let out = drive(&mut c, UnixTime(N), &mut |_| {
        (
            StatusCode::FOUND,
            headers(&[("location", "http://169.254.169.254/")]),
            Vec::new(),
        )
    })
    .unwrap();
    assert_eq!(out, FetchOutcome::Failed(FetchError::Status(302)));
    assert!(matches!(
        c.lookup(Some("rs1"), UnixTime(N)),
        Lookup::Unavailable
    ));
    // At most one request in flight; a lost one is retried after the timeout.
    let mut c = cache(JwksConfig::default());
    assert!(c.poll_request(UnixTime(N)).is_some());
    assert!(c.poll_request(UnixTime(N + 1)).is_none());
    assert_eq!(c.poll_timeout(), Some(UnixTime(N + 30)));
    assert!(
        c.poll_request(UnixTime(N + 30)).is_none(),
        "lost request counts as a failure, then backs off"
    );
    assert!(c.poll_request(UnixTime(N + 35)).is_some());
    assert_eq!(
        c.handle_error(UnixTime(N + 36)),
        FetchOutcome::Failed(FetchError::Transport)
    );
    // An unknown kid is worth waiting for only while a fetch is under way or may start:
    // not during a backoff after failures.
    let mut c = cache(JwksConfig::default());
    drive(&mut c, UnixTime(N), &mut |_| {
        (StatusCode::OK, HeaderMap::new(), body.clone())
    });
    assert!(!c.fetch_expected(UnixTime(N + 1)));
    c.lookup(Some("new"), UnixTime(N + 1));
    assert!(c.fetch_expected(UnixTime(N + 1)), "wanted, no backoff");
    assert!(c.poll_request(UnixTime(N + 1)).is_some());
    assert!(c.fetch_expected(UnixTime(N + 2)), "in flight");
    c.handle_error(UnixTime(N + 2));
    assert!(c.fetch_pending(), "a failed fetch is retried");
    assert_eq!(
        c.poll_timeout(),
        Some(UnixTime(N + 7)),
        "after a 5 s backoff"
    );
    assert!(
        !c.fetch_expected(UnixTime(N + 3)),
        "backing off: nothing to wait for"
    );
    assert!(c.fetch_expected(UnixTime(N + 7)), "the retry may start");
    // A 304 before any keys is not a success.
    let mut c = cache(JwksConfig::default());
    let out = drive(&mut c, UnixTime(N), &mut |_| {
        (StatusCode::NOT_MODIFIED, HeaderMap::new(), Vec::new())
    })
    .unwrap();
    assert_eq!(out, FetchOutcome::Failed(FetchError::Status(304)));
}

// ------------------------------------------------------------------ token cache

#[test]
fn token_cache_hits_recheck_expiry_and_key_presence() {
    let k = TestKeys::load().unwrap();
    let v = Validator::new(policy());
    let keys = keyset(&k.jwks(), &Ring);
    let mut cache = TokenCache::new(2);
    let t = k.rs1.sign(&header("RS256", "rs1"), &claims());
    let first = cache
        .validate::<&str>(&v, &t, &keys, UnixTime(N), &[])
        .unwrap();
    let hit = cache
        .validate::<&str>(&v, &t, &keys, UnixTime(N + 1), &[])
        .unwrap();
    assert!(Arc::ptr_eq(&first, &hit));
    // Scopes are checked on every call.
    let err = cache
        .validate(&v, &t, &keys, UnixTime(N + 1), &["mcp:write"])
        .unwrap_err();
    assert_eq!(err.missing_scopes().unwrap(), ["mcp:write"]);
    // Expiry (exp N+600, leeway 60): a hit at N+659 is fine, at N+660 it is gone.
    assert!(cache.get(&t, Some(&keys), 60, UnixTime(N + 659)).is_some());
    assert!(cache.get(&t, Some(&keys), 60, UnixTime(N + 660)).is_none());
    assert!(matches!(
        cache.validate::<&str>(&v, &t, &keys, UnixTime(N + 660), &[]),
        Err(JwtError::Expired { .. })
    ));
    // The key leaves the set: the entry no longer authenticates.
    cache
        .validate::<&str>(&v, &t, &keys, UnixTime(N), &[])
        .unwrap();
    let rotated = keyset(&json!({"keys": [k.rs2.jwk()]}), &Ring);
    assert!(cache.get(&t, Some(&rotated), 60, UnixTime(N)).is_none());
    assert_eq!(
        cache
            .validate::<&str>(&v, &t, &rotated, UnixTime(N), &[])
            .unwrap_err(),
        JwtError::KeyNotFound
    );
    // Capacity: the oldest goes first; failures are never cached.
    let tokens: Vec<String> = (0..3)
        .map(|i| {
            let mut c = claims();
            c["jti"] = json!(format!("j{i}"));
            k.rs1.sign(&header("RS256", "rs1"), &c)
        })
        .collect();
    let mut cache = TokenCache::new(2);
    for t in &tokens {
        cache
            .validate::<&str>(&v, t, &keys, UnixTime(N), &[])
            .unwrap();
    }
    assert_eq!(cache.len(), 2);
    assert!(
        cache
            .get(&tokens[0], Some(&keys), 60, UnixTime(N))
            .is_none()
    );
    assert!(
        cache
            .get(&tokens[2], Some(&keys), 60, UnixTime(N))
            .is_some()
    );
    let bad = format!("{}x", tokens[0]);
    assert!(
        cache
            .validate::<&str>(&v, &bad, &keys, UnixTime(N), &[])
            .is_err()
    );
    assert_eq!(cache.len(), 2);
    // The read-only half (for a cache behind a read lock): keyed by the token's hash,
    // it reports live, stale (expired, or key gone) or absent, and changes nothing.
    let key = TokenKey::of(&tokens[2]);
    assert!(matches!(
        cache.check(&key, 60, UnixTime(N), |kid| kid == Some("rs1")),
        Cached::Live(_)
    ));
    assert!(matches!(
        cache.check(&key, 60, UnixTime(N + 660), |_| true),
        Cached::Stale
    ));
    assert!(matches!(
        cache.check(&key, 60, UnixTime(N), |_| false),
        Cached::Stale
    ));
    assert!(matches!(
        cache.check(&TokenKey::of(&bad), 60, UnixTime(N), |_| true),
        Cached::Absent
    ));
    assert_eq!(cache.len(), 2);
    cache.remove(&key);
    assert!(matches!(
        cache.check(&key, 60, UnixTime(N), |_| true),
        Cached::Absent
    ));
    assert_eq!(cache.len(), 1);
}

// ------------------------------------------------------------------ introspection

#[test]
fn introspection_request_and_response() {
    let auth = IntrospectionAuth::ClientSecretBasic {
        client_id: "rs:1".into(),
        client_secret: "s&cr t".into(),
    };
    let req =
        introspection_request("https://as.example.com/introspect", "opaque-token", &auth).unwrap();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(
        req.body(),
        b"token=opaque-token&token_type_hint=access_token"
    );
    // RFC 6749 §2.3.1: id and secret form-encoded before base64.
    let basic = req.headers()[header::AUTHORIZATION].to_str().unwrap();
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &basic[6..]).unwrap();
    assert_eq!(decoded, b"rs%3A1:s%26cr+t");
    assert!(!format!("{auth:?}").contains("s&cr"));

    let p = policy().require_scopes(["mcp:read"]);
    let body = |v: Value| serde_json::to_vec(&v).unwrap();
    let good = json!({"active": true, "iss": ISSUER, "aud": [RESOURCE], "exp": N + 60, "scope": "mcp:read mcp:write", "client_id": "c", "sub": "u"});
    let ctx = parse_introspection(&p, StatusCode::OK, &body(good.clone()), UnixTime(N)).unwrap();
    assert_eq!(ctx.subject(), Some("u"));
    assert_eq!(ctx.algorithm(), None);
    // The same cache serves introspected tokens, no longer than their exp.
    let mut cache = TokenCache::new(8);
    cache.insert("opaque-token", Arc::new(ctx));
    assert!(
        cache
            .get("opaque-token", None, 0, UnixTime(N + 59))
            .is_some()
    );
    assert!(
        cache
            .get("opaque-token", None, 0, UnixTime(N + 60))
            .is_none()
    );
    for (bad, want) in [
        (json!({"active": false}), JwtError::Inactive),
        (json!({"active": "true", "iss": ISSUER}), JwtError::Inactive),
        (json!({"iss": ISSUER}), JwtError::Inactive),
        (
            json!({"active": true, "iss": ISSUER, "aud": "https://other", "exp": N + 60}),
            JwtError::AudienceMismatch,
        ),
        (
            json!({"active": true, "iss": ISSUER, "aud": RESOURCE}),
            JwtError::MissingClaim { claim: "exp" },
        ),
        (
            json!({"active": true, "iss": ISSUER, "aud": RESOURCE, "exp": N + 60, "scope": "x"}),
            JwtError::InsufficientScope {
                missing: vec!["mcp:read".into()],
            },
        ),
    ] {
        assert_eq!(
            parse_introspection(&p, StatusCode::OK, &body(bad.clone()), UnixTime(N)).unwrap_err(),
            want,
            "{bad}"
        );
    }
    assert_eq!(
        parse_introspection(&p, StatusCode::UNAUTHORIZED, &body(good), UnixTime(N)).unwrap_err(),
        JwtError::Inactive
    );
    assert_eq!(
        parse_introspection(&p, StatusCode::OK, &[b' '; 70_000], UnixTime(N)).unwrap_err(),
        JwtError::Inactive
    );
}

// ------------------------------------------------------------------ properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A valid token with any single byte changed fails, for each algorithm family.
    #[test]
    fn any_single_byte_change_fails(which in 0usize..3, pos in any::<proptest::sample::Index>(), byte in any::<u8>()) {
        let k = TestKeys::load().unwrap();
        let (key, alg) = [(&k.rs1, "RS256"), (&k.ec1, "ES256"), (&k.ed1, "EdDSA")][which];
        let token = key.sign(&header(alg, key.kid), &claims());
        let mut bytes = token.clone().into_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let Ok(changed) = String::from_utf8(bytes) else { return Ok(()) };
        let keys = keyset(&k.jwks(), &Ring);
        prop_assert!(Validator::new(policy()).validate(&changed, &keys, UnixTime(N)).is_err());
    }

    /// No input panics the validator, the key-set parser or the introspection parser.
    #[test]
    fn arbitrary_input_never_panics(token in ".{0,300}", set in proptest::collection::vec(any::<u8>(), 0..300)) {
        let k = TestKeys::load().unwrap();
        let keys = keyset(&k.jwks(), &Ring);
        let _ = Validator::new(policy()).validate(&token, &keys, UnixTime(N));
        let _ = KeySet::parse(&set, &Ring, &KeySetLimits::default());
        let _ = parse_introspection(&policy(), StatusCode::OK, &set, UnixTime(N));
    }

    /// Token-shaped input (three base64url segments of JSON-ish bytes) never panics.
    #[test]
    fn token_shaped_input_never_panics(h in "[ -~]{0,60}", c in "[ -~]{0,120}", s in proptest::collection::vec(any::<u8>(), 0..80)) {
        let k = TestKeys::load().unwrap();
        let e = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
        let token = format!("{}.{}.{}", e(h.as_bytes()), e(c.as_bytes()), e(&s));
        let keys = keyset(&k.jwks(), &Ring);
        let _ = Validator::new(policy()).validate(&token, &keys, UnixTime(N));
    }
}
