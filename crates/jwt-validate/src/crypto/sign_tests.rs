//! The signing seam: every signature made here verifies with this crate's own validator,
//! and the unverified peek reads back what was signed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::crypto::{Ring, sign_compact, typ_header};
use crate::{JwtError, KeySet, KeySetLimits, Policy, UnixTime, Validator, peek};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://mcp.example.com/mcp";
const NOW: UnixTime = UnixTime(1_800_000_000);
const RS1: &[u8] = include_bytes!("../../../../tests/fixtures/jwt/rs1.pk8");
const EC1: &[u8] = include_bytes!("../../../../tests/fixtures/jwt/ec1.pk8");
const RSA1024: &[u8] = include_bytes!("../../../../tests/fixtures/jwt/rsa1024.pk8");

fn claims(iss: &str) -> Value {
    json!({"iss": iss, "aud": AUD, "sub": "alice", "iat": NOW.0, "exp": NOW.0 + 300})
}

fn keys(signer: &dyn JwsSigner) -> KeySet {
    let set = KeySet::from_value(
        &json!({"keys": [signer.public_jwk()]}),
        &Ring,
        &KeySetLimits::default(),
    )
    .unwrap();
    assert_eq!(set.keys().len(), 1, "the published JWK is usable");
    set
}

fn validate(signer: &dyn JwsSigner, token: &str) -> Result<crate::AuthContext, JwtError> {
    Validator::new(Policy::from_lists([ISS], [AUD])).validate(token, &keys(signer), NOW)
}

fn es256() -> &'static Es256Signer {
    static S: OnceLock<Es256Signer> = OnceLock::new();
    S.get_or_init(|| Es256Signer::generate().unwrap())
}

fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// JWTAT-1: what the AS signs, ES256 or RS256, a resource server verifies.
#[test]
fn es256_and_rs256_tokens_verify_with_the_validator() {
    let rs = Rs256Signer::from_pkcs8(RS1).unwrap();
    for signer in [es256() as &dyn JwsSigner, &rs] {
        let token = sign_compact(signer, typ_header("at+jwt"), &claims(ISS)).unwrap();
        let ctx = validate(signer, &token).unwrap();
        assert_eq!(ctx.issuer(), ISS);
        assert_eq!(ctx.subject(), Some("alice"));
        assert_eq!(ctx.algorithm(), Some(signer.alg()));
        assert_eq!(ctx.key_id(), signer.kid());
    }
    assert_eq!(rs.alg(), crate::Algorithm::RS256);
    assert_eq!(es256().alg(), crate::Algorithm::ES256);
}

#[test]
fn a_tampered_token_does_not_verify() {
    let token = sign_compact(es256(), typ_header("at+jwt"), &claims(ISS)).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(claims(ISS).to_string().replace("alice", "mallory"));
    let forged = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_eq!(
        validate(es256(), &forged).unwrap_err(),
        JwtError::BadSignature
    );
    // Another key of the same algorithm does not verify it either.
    let other = Es256Signer::generate()
        .unwrap()
        .with_kid(es256().kid().unwrap());
    assert_eq!(
        validate(&other, &token).unwrap_err(),
        JwtError::BadSignature
    );
}

/// The header's `alg` and `kid` come from the signer, whatever the caller put there.
#[test]
fn the_header_agrees_with_the_key() {
    let mut header = typ_header("JWT");
    header.insert("alg".into(), json!("none"));
    header.insert("kid".into(), json!("someone-else"));
    let signer = Es256Signer::from_pkcs8(EC1).unwrap().with_kid("client-1");
    let token = sign_compact(&signer, header.clone(), &claims(ISS)).unwrap();
    let h: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(h, json!({"alg": "ES256", "kid": "client-1", "typ": "JWT"}));
    assert_eq!(signer.public_jwk()["kid"], "client-1");

    let bare = Es256Signer::from_pkcs8(EC1).unwrap().without_kid();
    let token = sign_compact(&bare, header, &claims(ISS)).unwrap();
    let h: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(h, json!({"alg": "ES256", "typ": "JWT"}));
    assert!(bare.public_jwk().get("kid").is_none());
}

/// A derived `kid` is stable for one key, and different keys get different ones.
#[test]
fn derived_kids_name_the_key() {
    let a = Es256Signer::from_pkcs8(EC1).unwrap();
    assert_eq!(a.kid(), Es256Signer::from_pkcs8(EC1).unwrap().kid());
    assert_ne!(a.kid(), es256().kid());
    let r = Rs256Signer::from_pkcs8(RS1).unwrap();
    assert_eq!(r.kid(), Rs256Signer::from_pkcs8(RS1).unwrap().kid());
    assert_eq!(r.kid().unwrap().len(), 11);
    assert_eq!(a.kid().unwrap().len(), 11);
}

#[test]
fn the_published_jwk_has_no_private_member() {
    let rs = Rs256Signer::from_pkcs8(RS1).unwrap();
    for (signer, kty) in [(es256() as &dyn JwsSigner, "EC"), (&rs, "RSA")] {
        let jwk = signer.public_jwk();
        assert_eq!(jwk["kty"], kty);
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], signer.alg().as_str());
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(jwk.get(private).is_none(), "{private}");
        }
    }
}

#[test]
fn pem_keys_load_like_der() {
    let from_pem = Es256Signer::from_pkcs8_pem(&pem(EC1)).unwrap();
    assert_eq!(
        from_pem.public_jwk(),
        Es256Signer::from_pkcs8(EC1).unwrap().public_jwk()
    );
    let from_pem = Rs256Signer::from_pkcs8_pem(&pem(RS1)).unwrap();
    assert_eq!(
        from_pem.public_jwk(),
        Rs256Signer::from_pkcs8(RS1).unwrap().public_jwk()
    );
}

#[test]
fn unusable_keys_are_refused() {
    let es = SignError::KeyRejected {
        alg: crate::Algorithm::ES256,
    };
    let rs = SignError::KeyRejected {
        alg: crate::Algorithm::RS256,
    };
    assert_eq!(Es256Signer::from_pkcs8(b"not a key").unwrap_err(), es);
    assert_eq!(Es256Signer::from_pkcs8(RS1).unwrap_err(), es);
    assert_eq!(Es256Signer::from_pkcs8_pem("no pem here").unwrap_err(), es);
    assert_eq!(
        Es256Signer::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----")
            .unwrap_err(),
        es
    );
    assert_eq!(Rs256Signer::from_pkcs8(b"not a key").unwrap_err(), rs);
    assert_eq!(Rs256Signer::from_pkcs8(EC1).unwrap_err(), rs);
    // RFC 8725 §3.5 / JWTAT-1: RSA under 2048 bits is not a signing key.
    assert_eq!(Rs256Signer::from_pkcs8(RSA1024).unwrap_err(), rs);
    assert_eq!(Rs256Signer::from_pkcs8_pem(&pem(EC1)).unwrap_err(), rs);
    assert_eq!(es.to_string(), "not a usable ES256 private key");
    assert_eq!(
        SignError::SigningFailed {
            alg: crate::Algorithm::RS256
        }
        .to_string(),
        "RS256 signing failed"
    );
}

/// `Debug` names the algorithm and the key id, never key material.
#[test]
fn debug_shows_alg_and_kid_only() {
    let es = Es256Signer::from_pkcs8(EC1).unwrap().with_kid("k1");
    assert_eq!(
        format!("{es:?}"),
        r#"Es256Signer { alg: ES256, kid: Some("k1"), .. }"#
    );
    let rs = Rs256Signer::from_pkcs8(RS1).unwrap().without_kid();
    assert_eq!(
        format!("{rs:?}"),
        "Rs256Signer { alg: RS256, kid: None, .. }"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any claims set round-trips: signed, verified, and peeked at the same `kid`, `iss`,
    /// `alg` and `typ`.
    #[test]
    fn sign_verify_peek_round_trip(
        kid in "[ -~]{0,40}",
        sub in "\\PC{0,60}",
        extra in proptest::collection::vec(("[a-z]{1,8}", "\\PC{0,20}"), 0..6),
    ) {
        let signer = Es256Signer::from_pkcs8(EC1).unwrap().with_kid(kid.clone());
        let mut c = claims(ISS);
        c["sub"] = json!(sub);
        for (k, v) in extra {
            if !["iss", "aud", "sub", "iat", "exp", "nbf", "client_id", "scope", "scp", "jti"]
                .contains(&k.as_str())
            {
                c[k] = json!(v);
            }
        }
        let token = sign_compact(&signer, typ_header("at+jwt"), &c).unwrap();
        let ctx = validate(&signer, &token).unwrap();
        prop_assert_eq!(ctx.subject(), Some(sub.as_str()));
        prop_assert_eq!(ctx.key_id(), Some(kid.as_str()));
        let p = peek(&token).unwrap();
        prop_assert_eq!(p.kid.as_deref(), Some(kid.as_str()));
        prop_assert_eq!(p.iss.as_deref(), Some(ISS));
        prop_assert_eq!(p.alg, Some(crate::Algorithm::ES256));
        prop_assert_eq!(p.typ.as_deref(), Some("at+jwt"));
    }

    /// The peek reads any issuer, including ones a validator would refuse; it decides
    /// nothing (AC-035), so it must not be mistaken for a check.
    #[test]
    fn peek_reads_unverified_issuers(iss in "\\PC{0,80}") {
        let token = sign_compact(es256(), typ_header("at+jwt"), &claims(&iss)).unwrap();
        prop_assert_eq!(peek(&token).unwrap().iss, Some(iss.clone()));
        if iss != ISS {
            prop_assert_eq!(validate(es256(), &token).unwrap_err(), JwtError::IssuerNotAccepted);
        }
    }
}
