//! Test-only JWT signing with the fixed keys in `tests/fixtures/jwt/` (see its README:
//! they protect nothing). Used by tests, `cargo xtask gen-vectors` and the benchmarks.

// Test fixtures over fixed keys and literal JSON: an out-of-range index is a bug here.
#![allow(clippy::indexing_slicing)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};

/// The fixture clock: every test token is built around this instant (2027-01-15).
pub const N: u64 = 1_800_000_000;
/// The fixture issuer.
pub const ISSUER: &str = "https://as.example.com";
/// The fixture resource (the MCP server's canonical URI).
pub const RESOURCE: &str = "https://mcp.example.com/mcp";

/// One signing key and its public JWK.
pub struct TestKey {
    /// The `kid` it is published under.
    pub kid: &'static str,
    kind: Kind,
}

enum Kind {
    Rsa(RsaKeyPair),
    Ec256(EcdsaKeyPair),
    Ec384(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// Failure to load a fixture key: a broken checkout, not a test result.
#[derive(Debug)]
pub struct FixtureError(pub String);

impl TestKey {
    fn load(kid: &'static str, der: &[u8]) -> Result<TestKey, FixtureError> {
        let rng = SystemRandom::new();
        let err = |e: ring::error::KeyRejected| FixtureError(format!("{kid}: {e}"));
        let kind = match kid {
            "ec1" => Kind::Ec256(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                    .map_err(err)?,
            ),
            "ec384" => Kind::Ec384(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der, &rng)
                    .map_err(err)?,
            ),
            "ed1" => Kind::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(err)?),
            _ => Kind::Rsa(RsaKeyPair::from_pkcs8(der).map_err(err)?),
        };
        Ok(TestKey { kid, kind })
    }

    /// The public JWK, with `kid`, `use: sig` and no `alg` (so it verifies every
    /// algorithm of its family).
    pub fn jwk(&self) -> Value {
        let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        match &self.kind {
            Kind::Rsa(k) => {
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = k.public().into();
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "n": b(&c.n), "e": b(&c.e)})
            }
            Kind::Ec256(k) | Kind::Ec384(k) => {
                let p = k.public_key().as_ref();
                let half = (p.len() - 1) / 2;
                let crv = if half == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "kid": self.kid, "use": "sig", "crv": crv,
                       "x": b(&p[1..1 + half]), "y": b(&p[1 + half..])})
            }
            Kind::Ed(k) => {
                json!({"kty": "OKP", "kid": self.kid, "use": "sig", "crv": "Ed25519", "x": b(k.public_key().as_ref())})
            }
        }
    }

    /// The JWK with an `alg` member.
    pub fn jwk_with_alg(&self, alg: &str) -> Value {
        let mut j = self.jwk();
        j["alg"] = json!(alg);
        j
    }

    /// Signs `input` with `alg`. RSA keys sign RS*/PS*; EC and Ed25519 keys their one
    /// algorithm (the `alg` is then ignored).
    pub fn sign_bytes(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.kind {
            Kind::Rsa(k) => {
                let pad: &'static dyn signature::RsaEncoding = match alg {
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; k.public().modulus_len()];
                // Signing a message with a fixture key cannot fail; an empty signature
                // would make every test that uses it fail loudly.
                if k.sign(pad, &rng, input, &mut sig).is_err() {
                    sig.clear();
                }
                sig
            }
            Kind::Ec256(k) | Kind::Ec384(k) => k
                .sign(&rng, input)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
            Kind::Ed(k) => k.sign(input).as_ref().to_vec(),
        }
    }

    /// A compact JWS over the exact header and payload bytes given.
    pub fn sign_raw(&self, alg: &str, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = self.sign_bytes(alg, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// A compact JWS of `header` and `claims` (serialised compactly).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let alg = header["alg"].as_str().unwrap_or("RS256");
        self.sign_raw(alg, &header.to_string(), &claims.to_string())
    }
}

/// All fixture keys.
pub struct TestKeys {
    /// RSA-2048, in the trusted set.
    pub rs1: TestKey,
    /// RSA-2048, in the trusted set for rotation tests.
    pub rs2: TestKey,
    /// RSA-2048 attacker key, never trusted.
    pub atk: TestKey,
    /// P-256.
    pub ec1: TestKey,
    /// P-384.
    pub ec384: TestKey,
    /// Ed25519.
    pub ed1: TestKey,
}

impl TestKeys {
    /// Loads the fixtures (compiled in).
    pub fn load() -> Result<TestKeys, FixtureError> {
        Ok(TestKeys {
            rs1: TestKey::load("rs1", include_bytes!("../fixtures/jwt/rs1.pk8"))?,
            rs2: TestKey::load("rs2", include_bytes!("../fixtures/jwt/rs2.pk8"))?,
            atk: TestKey::load("atk", include_bytes!("../fixtures/jwt/atk.pk8"))?,
            ec1: TestKey::load("ec1", include_bytes!("../fixtures/jwt/ec1.pk8"))?,
            ec384: TestKey::load("ec384", include_bytes!("../fixtures/jwt/ec384.pk8"))?,
            ed1: TestKey::load("ed1", include_bytes!("../fixtures/jwt/ed1.pk8"))?,
        })
    }

    /// The trusted set: rs1, ec1, ec384, ed1 (not rs2, not atk).
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.rs1.jwk(), self.ec1.jwk(), self.ec384.jwk(), self.ed1.jwk()]})
    }
}

/// The RSA-1024 key and a token it signed (ring cannot sign with so small a key).
pub fn rsa1024_fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/jwt/rsa1024-signed.json")).unwrap_or(Value::Null)
}

/// The baseline header `H0` of the attack catalogue for a key and algorithm.
pub fn header(alg: &str, kid: &str) -> Value {
    json!({"alg": alg, "typ": "at+jwt", "kid": kid})
}

/// The baseline claims `C0` of the attack catalogue.
pub fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "user-1",
        "aud": RESOURCE,
        "client_id": "client-1",
        "iat": N - 10,
        "exp": N + 600,
        "jti": "jti-1",
        "scope": "mcp:read",
    })
}

/// HMAC-SHA-256, for the key-confusion vectors (a resource server must never run one).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), message)
        .as_ref()
        .to_vec()
}
