//! `private_key_jwt` with ring: an ES256 signer from a PKCS#8 key.

use core::fmt;

use mcp_oauth_client_flow::{AssertionSigner, TokenError};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;

/// Signs RFC 7523 client assertions with an ES256 key held in memory.
pub struct Es256Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    kid: Option<String>,
}

impl fmt::Debug for Es256Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Es256Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Es256Signer {
    /// From a PEM `PRIVATE KEY` (PKCS#8, P-256). `None` when it is not one.
    pub fn from_pkcs8_pem(pem: &str) -> Option<Self> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).ok()?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            der.secret_pkcs8_der(),
            &rng,
        )
        .ok()?;
        Some(Es256Signer {
            key,
            rng,
            kid: None,
        })
    }

    /// With a `kid` in the assertion header.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }
}

impl AssertionSigner for Es256Signer {
    fn alg(&self) -> &str {
        "ES256"
    }

    fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, TokenError> {
        self.key
            .sign(&self.rng, signing_input)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| TokenError::SigningFailed)
    }
}
