//! Signers on ring: ES256 and RS256.
//!
//! **Entropy.** Everywhere else the caller passes entropy in. Here the signers keep a
//! `ring::rand::SystemRandom` of their own: ECDSA needs a fresh nonce per signature (and
//! ring blinds RSA with random values), and ring takes randomness only through its
//! `SecureRandom` trait, which is sealed, so a caller's generator cannot be handed to it.
//! This is the crate's one departure from "the caller passes entropy"; it is confined to
//! these two types, and [`Es256Signer::generate`] uses the same source for the same
//! reason. A signer over another backend (an HSM, a KMS) implements
//! [`JwsSigner`] and needs none of this.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use super::sign::{JwsSigner, SignError, debug_signer};
use crate::Algorithm;

/// The DER inside a PEM `PRIVATE KEY` block (RFC 7468 §10), `None` when there is none.
fn pem_pkcs8(pem: &str) -> Option<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let start = pem.find(BEGIN)? + BEGIN.len();
    let body = pem.get(start..)?;
    let body = body.get(..body.find(END)?)?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Adds `kid` (when there is one), `alg` and `use: sig` to a JWK's key members.
fn jwk(mut members: Value, kid: Option<&str>, alg: Algorithm) -> Value {
    if let Some(m) = members.as_object_mut() {
        if let Some(kid) = kid {
            m.insert("kid".into(), Value::from(kid));
        }
        m.insert("alg".into(), Value::from(alg.as_str()));
        m.insert("use".into(), Value::from("sig"));
    }
    members
}

/// ES256 (ECDSA on P-256 with SHA-256, RFC 7518 §3.4) with a key held in memory.
///
/// Its `kid` is derived from the public key (the base64url of the first 8 bytes of `x`)
/// unless set with [`with_kid`](Self::with_kid) or removed with
/// [`without_kid`](Self::without_kid).
pub struct Es256Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    kid: Option<String>,
}

impl fmt::Debug for Es256Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_signer(f, "Es256Signer", self)
    }
}

impl Es256Signer {
    const ALG: Algorithm = Algorithm::ES256;

    /// A new random key from the operating system's random source (see the module docs).
    /// It lives as long as the value: tokens it signed stop verifying after a restart
    /// unless the key is stored and loaded with [`from_pkcs8`](Self::from_pkcs8).
    pub fn generate() -> Result<Self, SignError> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| SignError::KeyGenerationFailed { alg: Self::ALG })?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// A new random key as a PKCS#8 document (DER), to be stored and loaded with
    /// [`from_pkcs8`](Self::from_pkcs8) (see the module docs for the random source).
    pub fn generate_pkcs8() -> Result<Vec<u8>, SignError> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| SignError::KeyGenerationFailed { alg: Self::ALG })
    }

    /// From a PKCS#8 P-256 private key (DER). The `kid` is derived from the public key,
    /// so every process that loads one key publishes the same `kid`.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SignError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|_| SignError::KeyRejected { alg: Self::ALG })?;
        let point = key.public_key().as_ref();
        let kid = Some(b64(point.get(1..9).unwrap_or_default()));
        Ok(Es256Signer { key, rng, kid })
    }

    /// From a PEM `PRIVATE KEY` (PKCS#8, P-256).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, SignError> {
        let der = pem_pkcs8(pem).ok_or(SignError::KeyRejected { alg: Self::ALG })?;
        Self::from_pkcs8(&der)
    }

    /// With this `kid` in headers and the JWK.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// With no `kid` at all (for a peer that knows this client's one key and may refuse
    /// a `kid` it was never told).
    pub fn without_kid(mut self) -> Self {
        self.kid = None;
        self
    }
}

impl JwsSigner for Es256Signer {
    fn alg(&self) -> Algorithm {
        Self::ALG
    }

    fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn public_jwk(&self) -> Value {
        let p = self.key.public_key().as_ref();
        let part = |r: core::ops::Range<usize>| b64(p.get(r).unwrap_or_default());
        jwk(
            json!({"kty": "EC", "crv": "P-256", "x": part(1..33), "y": part(33..65)}),
            self.kid(),
            Self::ALG,
        )
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError> {
        self.key
            .sign(&self.rng, signing_input)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignError::SigningFailed { alg: Self::ALG })
    }
}

/// RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3), the algorithm every resource
/// server supports (RFC 9068 §4, JWTAT-1), with a key held in memory.
///
/// ring cannot generate RSA keys: load one of 2048 bits or more made by your key tooling
/// (for example `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -outform
/// DER`). Its `kid` is derived from the public key (the base64url of the first 8 bytes of
/// SHA-256 of the modulus) unless set with [`with_kid`](Self::with_kid).
pub struct Rs256Signer {
    key: ring::rsa::KeyPair,
    rng: SystemRandom,
    kid: Option<String>,
    n: String,
    e: String,
}

impl fmt::Debug for Rs256Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_signer(f, "Rs256Signer", self)
    }
}

impl Rs256Signer {
    const ALG: Algorithm = Algorithm::RS256;

    /// From a PKCS#8 RSA private key (DER); refused when ring refuses it (malformed, or
    /// smaller than 2048 bits).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SignError> {
        let key = ring::rsa::KeyPair::from_pkcs8(der)
            .map_err(|_| SignError::KeyRejected { alg: Self::ALG })?;
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
        let digest = ring::digest::digest(&ring::digest::SHA256, &public.n);
        Ok(Rs256Signer {
            kid: Some(b64(digest.as_ref().get(..8).unwrap_or_default())),
            n: b64(&public.n),
            e: b64(&public.e),
            key,
            rng: SystemRandom::new(),
        })
    }

    /// From a PEM `PRIVATE KEY` (PKCS#8, RSA).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, SignError> {
        let der = pem_pkcs8(pem).ok_or(SignError::KeyRejected { alg: Self::ALG })?;
        Self::from_pkcs8(&der)
    }

    /// With this `kid` in headers and the JWK.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// With no `kid` at all.
    pub fn without_kid(mut self) -> Self {
        self.kid = None;
        self
    }
}

impl JwsSigner for Rs256Signer {
    fn alg(&self) -> Algorithm {
        Self::ALG
    }

    fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn public_jwk(&self) -> Value {
        jwk(
            json!({"kty": "RSA", "n": self.n, "e": self.e}),
            self.kid(),
            Self::ALG,
        )
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &self.rng,
                signing_input,
                &mut sig,
            )
            .map_err(|_| SignError::SigningFailed { alg: Self::ALG })?;
        Ok(sig)
    }
}

#[cfg(test)]
#[path = "sign_tests.rs"]
mod tests;
