//! The JOSE signing seam: one trait for every JWS this project makes (the authorization
//! server's access tokens, a client's `private_key_jwt` assertions, and next DPoP
//! proofs), and one function that builds a compact JWS through any signer.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::Algorithm;

/// Why a key could not be loaded or a signature made. Never carries key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The private key was refused: not PKCS#8 (DER, or PEM `PRIVATE KEY`), not a key for
    /// this algorithm (another curve, an RSA key for ES256), or too weak (RSA under 2048
    /// bits).
    KeyRejected {
        /// The algorithm the key was loaded for.
        alg: Algorithm,
    },
    /// A new key could not be generated (the operating system's random source failed).
    KeyGenerationFailed {
        /// The algorithm of the key.
        alg: Algorithm,
    },
    /// The backend could not sign (the random source failed, or an external key store
    /// refused).
    SigningFailed {
        /// The algorithm of the signer.
        alg: Algorithm,
    },
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::KeyRejected { alg } => write!(f, "not a usable {alg} private key"),
            SignError::KeyGenerationFailed { alg } => write!(f, "no {alg} key could be generated"),
            SignError::SigningFailed { alg } => write!(f, "{alg} signing failed"),
        }
    }
}

impl std::error::Error for SignError {}

/// Makes JWS signatures with one private key for one algorithm. The key never leaves the
/// implementation; [`sign_compact`] builds what it signs.
///
/// Implementations: [`Es256Signer`](crate::crypto::Es256Signer) and
/// [`Rs256Signer`](crate::crypto::Rs256Signer) on ring (feature `ring`), or your own over
/// an HSM or a cloud KMS. `Debug` must not print key material.
pub trait JwsSigner: Send + Sync + fmt::Debug {
    /// The JWS `alg` (RFC 7515 §4.1.1); typed, so `none` and HMAC cannot be named.
    fn alg(&self) -> Algorithm;

    /// The `kid` to put in the header and the published JWK, if any.
    fn kid(&self) -> Option<&str> {
        None
    }

    /// The public key as a JWK for a JWK Set (RFC 7517 §4): its key members, `kid` (when
    /// there is one), `alg` and `use: sig`; never a private member.
    fn public_jwk(&self) -> Value;

    /// The signature over `signing_input` in JWS form (RFC 7518 §3: for ECDSA the
    /// fixed-size `r ‖ s`, not DER).
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// A compact JWS (RFC 7515 §7.1) of `claims` signed by `signer`. The header is `header`
/// with `alg` and (when the signer has one) `kid` set from the signer, so a caller cannot
/// make a header that disagrees with the key; put `typ` (`at+jwt`, `JWT`, `dpop+jwt`) and
/// any other member in `header`.
pub fn sign_compact(
    signer: &dyn JwsSigner,
    mut header: Map<String, Value>,
    claims: &Value,
) -> Result<String, SignError> {
    header.insert("alg".into(), Value::from(signer.alg().as_str()));
    match signer.kid() {
        Some(kid) => header.insert("kid".into(), Value::from(kid)),
        None => header.remove("kid"),
    };
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer.sign(input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// A header with only `typ` (the usual argument to [`sign_compact`]).
pub fn typ_header(typ: &str) -> Map<String, Value> {
    let mut h = Map::new();
    h.insert("typ".into(), Value::from(typ));
    h
}

/// The one `Debug` shape of a signer: its type, `alg` and `kid`, nothing else.
#[cfg_attr(not(feature = "ring"), allow(dead_code))]
pub(crate) fn debug_signer(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    signer: &dyn JwsSigner,
) -> fmt::Result {
    f.debug_struct(name)
        .field("alg", &signer.alg())
        .field("kid", &signer.kid())
        .finish_non_exhaustive()
}
