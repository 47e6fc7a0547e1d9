//! Signature verification providers (the rustls pattern: a provider value is passed in;
//! nothing is installed process-wide), and the signing seam: [`JwsSigner`], one trait for
//! every JWS the project makes, with ES256 and RS256 signers on ring.

use core::fmt;
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
use std::sync::Arc;

use crate::{Algorithm, KeyError};

#[cfg(feature = "aws-lc-rs")]
mod aws_lc;
#[cfg(feature = "ring")]
mod ring_provider;
#[cfg(feature = "ring")]
mod ring_signer;
mod sign;

#[cfg(feature = "aws-lc-rs")]
pub use aws_lc::AwsLcRs;
#[cfg(feature = "ring")]
pub use ring_provider::Ring;
#[cfg(feature = "ring")]
pub use ring_signer::{Es256Signer, Rs256Signer};
pub use sign::{JwsSigner, SignError, sign_compact, typ_header};

/// Public key material from a JWK, already checked for shape and size.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKeyMaterial {
    /// RSA: big-endian modulus and exponent, without leading zero bytes.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// An uncompressed EC point `0x04 ‖ x ‖ y` on P-256 or P-384.
    Ec {
        /// The point.
        point: Vec<u8>,
    },
    /// An Ed25519 public key (32 bytes).
    Ed25519 {
        /// The key.
        x: [u8; 32],
    },
}

impl fmt::Debug for PublicKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKeyMaterial::Rsa { n, .. } => write!(f, "Rsa({} bits)", n.len() * 8),
            PublicKeyMaterial::Ec { point } => write!(f, "Ec({} bytes)", point.len()),
            PublicKeyMaterial::Ed25519 { .. } => f.write_str("Ed25519"),
        }
    }
}

/// A public key prepared once for one algorithm: verifying never re-parses it.
pub trait VerifyingKey: Send + Sync + fmt::Debug {
    /// Whether `signature` is valid for `message`.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool;
}

/// A signature-verification backend.
pub trait CryptoProvider: Send + Sync + fmt::Debug {
    /// A short name for diagnostics (`"ring"`, `"aws-lc-rs"`).
    fn name(&self) -> &'static str;

    /// Prepares `key` for `alg`. The key's shape already matches the algorithm's family;
    /// the provider may still refuse it (an EC point off its curve).
    fn prepare(
        &self,
        alg: Algorithm,
        key: &PublicKeyMaterial,
    ) -> Result<Box<dyn VerifyingKey>, KeyError>;
}

/// The default provider: ring when the `ring` feature is on, else aws-lc-rs.
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
pub fn default_provider() -> Arc<dyn CryptoProvider> {
    #[cfg(feature = "ring")]
    {
        Arc::new(Ring)
    }
    #[cfg(not(feature = "ring"))]
    {
        Arc::new(AwsLcRs)
    }
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
/// (RFC 8017 §A.1.1), for providers that take a DER key.
#[cfg_attr(not(feature = "aws-lc-rs"), allow(dead_code))]
pub(crate) fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, l: usize) {
        if l < 0x80 {
            out.push(l as u8);
        } else {
            let bytes = l.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            let significant = bytes.get(skip..).unwrap_or_default();
            out.push(0x80 | significant.len() as u8);
            out.extend_from_slice(significant);
        }
    }
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push(0x02);
        len(out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(0x30);
    len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn der_lengths_and_sign_padding() {
        // Short form, no padding.
        assert_eq!(
            rsa_public_key_der(&[0x01], &[0x03]),
            [0x30, 6, 2, 1, 1, 2, 1, 3]
        );
        // High bit set: a zero byte keeps the integer positive.
        assert_eq!(
            rsa_public_key_der(&[0x80], &[0x03]),
            [0x30, 7, 2, 2, 0, 0x80, 2, 1, 3]
        );
        // Long form for a 256-byte modulus.
        let der = rsa_public_key_der(&[0xff; 256], &[1, 0, 1]);
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x0a]);
        assert_eq!(&der[4..8], &[0x02, 0x82, 0x01, 0x01]);
        assert_eq!(der.len(), 4 + 0x10a);
    }
}
