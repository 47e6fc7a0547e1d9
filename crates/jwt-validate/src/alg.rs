//! The JWS algorithms this crate verifies.

use core::fmt;

/// An asymmetric JWS algorithm (RFC 7518 §3, RFC 8037 §3.1).
///
/// There is no variant for `none` or the HMAC family: a resource server verifies tokens
/// with an authorization server's *public* keys, and a public key must never be used as
/// an HMAC secret (RFC 8725 §2.1, §3.1; key-confusion attacks). A token naming them is
/// refused before any key is touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256, signature as 64 bytes r‖s.
    ES256,
    /// ECDSA on P-384 with SHA-384, signature as 96 bytes r‖s.
    ES384,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in the default allow-list order.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The `alg` value. Case-sensitive (RFC 7515 §4.1.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Reads an `alg` value; `None` for anything else, including `none`, `HS256` and
    /// `rs256`.
    pub fn parse(alg: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == alg)
    }

    /// Whether this is an RSA algorithm.
    pub fn is_rsa(self) -> bool {
        Self::RSA.contains(&self)
    }

    /// The RSA algorithms (one RSA key may verify all of them).
    pub const RSA: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];

    /// The fixed signature length, for the algorithms that have one (ECDSA r‖s, Ed25519).
    pub fn fixed_signature_len(self) -> Option<usize> {
        match self {
            Algorithm::ES256 | Algorithm::EdDSA => Some(64),
            Algorithm::ES384 => Some(96),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
