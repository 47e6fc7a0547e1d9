//! Verification with aws-lc-rs, on keys parsed once (`ParsedPublicKey`).

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};

use super::{CryptoProvider, PublicKeyMaterial, VerifyingKey, rsa_public_key_der};
use crate::{Algorithm, KeyError};

/// The aws-lc-rs provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLcRs;

struct Parsed(ParsedPublicKey);

impl core::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("aws_lc_rs::ParsedPublicKey")
    }
}

impl VerifyingKey for Parsed {
    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        self.0.verify_sig(message, sig).is_ok()
    }
}

fn algorithm(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
    }
}

impl CryptoProvider for AwsLcRs {
    fn name(&self) -> &'static str {
        "aws-lc-rs"
    }

    fn prepare(
        &self,
        alg: Algorithm,
        key: &PublicKeyMaterial,
    ) -> Result<Box<dyn VerifyingKey>, KeyError> {
        let rejected = KeyError::Rejected {
            provider: "aws-lc-rs",
            alg,
        };
        let bytes = match (key, alg) {
            (PublicKeyMaterial::Rsa { n, e }, a) if a.is_rsa() => rsa_public_key_der(n, e),
            (PublicKeyMaterial::Ec { point }, Algorithm::ES256 | Algorithm::ES384) => point.clone(),
            (PublicKeyMaterial::Ed25519 { x }, Algorithm::EdDSA) => x.to_vec(),
            _ => return Err(rejected),
        };
        let parsed = ParsedPublicKey::new(algorithm(alg), &bytes).map_err(|_| rejected)?;
        Ok(Box::new(Parsed(parsed)))
    }
}
