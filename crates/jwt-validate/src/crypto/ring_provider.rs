//! Verification with ring.
//!
//! ring 0.17 has no parsed-RSA-key verification API: `RsaPublicKeyComponents::verify`
//! validates the modulus on every call. "Prepared" here means the components are decoded
//! and size-checked once; the per-call parse is ring's floor, and the benchmark's raw ring
//! figure measures the same call.

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};

use super::{CryptoProvider, PublicKeyMaterial, VerifyingKey};
use crate::{Algorithm, KeyError};

/// The ring provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ring;

#[derive(Debug)]
struct RsaKey {
    params: &'static signature::RsaParameters,
    key: RsaPublicKeyComponents<Vec<u8>>,
}

impl VerifyingKey for RsaKey {
    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        self.key.verify(self.params, message, sig).is_ok()
    }
}

struct OtherKey {
    key: UnparsedPublicKey<Vec<u8>>,
}

impl core::fmt::Debug for OtherKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ring::UnparsedPublicKey")
    }
}

impl VerifyingKey for OtherKey {
    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        self.key.verify(message, sig).is_ok()
    }
}

fn rsa_params(alg: Algorithm) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn other_alg(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        _ => return None,
    })
}

impl CryptoProvider for Ring {
    fn name(&self) -> &'static str {
        "ring"
    }

    fn prepare(
        &self,
        alg: Algorithm,
        key: &PublicKeyMaterial,
    ) -> Result<Box<dyn VerifyingKey>, KeyError> {
        let rejected = KeyError::Rejected {
            provider: "ring",
            alg,
        };
        match key {
            PublicKeyMaterial::Rsa { n, e } => {
                let params = rsa_params(alg).ok_or(KeyError::Unsupported)?;
                Ok(Box::new(RsaKey {
                    params,
                    key: RsaPublicKeyComponents {
                        n: n.clone(),
                        e: e.clone(),
                    },
                }))
            }
            PublicKeyMaterial::Ec { point } => {
                let a = other_alg(alg)
                    .filter(|_| alg != Algorithm::EdDSA)
                    .ok_or(rejected)?;
                Ok(Box::new(OtherKey {
                    key: UnparsedPublicKey::new(a, point.clone()),
                }))
            }
            PublicKeyMaterial::Ed25519 { x } => {
                if alg != Algorithm::EdDSA {
                    return Err(rejected);
                }
                Ok(Box::new(OtherKey {
                    key: UnparsedPublicKey::new(&signature::ED25519, x.to_vec()),
                }))
            }
        }
    }
}
