#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

pub use rand_core::{CryptoRng, TryCryptoRng};

/// Shortest code verifier RFC 7636 §4.1 allows, in characters.
pub const MIN_VERIFIER_LEN: usize = 43;
/// Longest code verifier RFC 7636 §4.1 allows, in characters.
pub const MAX_VERIFIER_LEN: usize = 128;
/// Entropy bytes [`CodeVerifier::generate`] draws: 32 octets, RFC 7636 §4.1's
/// recommendation, which base64url-encode to a 43-character verifier (256 bits).
pub const DEFAULT_ENTROPY_LEN: usize = 32;
/// Fewest entropy bytes [`CodeVerifier::from_entropy`] accepts (43 characters).
pub const MIN_ENTROPY_LEN: usize = 32;
/// Most entropy bytes [`CodeVerifier::from_entropy`] accepts (128 characters).
pub const MAX_ENTROPY_LEN: usize = 96;
/// Length of an S256 `code_challenge`: base64url of a SHA-256 digest, no padding.
pub const CHALLENGE_LEN: usize = 43;

/// The value of `code_challenge_method` this crate sends and accepts.
pub const S256: &str = "S256";

/// Everything that can go wrong with PKCE input.
///
/// Variants never carry the verifier itself (it is a secret until the code is redeemed);
/// they carry lengths and positions only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PkceError {
    /// A code verifier shorter than 43 or longer than 128 characters (RFC 7636 §4.1).
    VerifierLength {
        /// The length received, in bytes.
        len: usize,
    },
    /// A code verifier byte outside the unreserved set `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
    VerifierCharacter {
        /// Zero-based byte offset of the first offending byte.
        position: usize,
    },
    /// Caller-supplied entropy outside 32..=96 bytes; fewer than 32 bytes is too weak
    /// (RFC 7636 §7.1), more than 96 would exceed 128 characters.
    EntropyLength {
        /// The number of bytes supplied.
        len: usize,
    },
    /// The random source reported a failure; no verifier was made.
    RandomSource,
    /// `code_challenge_method=plain` (or a missing method, which RFC 7636 §4.3 says means
    /// `plain`). OAuth 2.1 and MCP require S256; `plain` reveals the verifier to anyone
    /// who sees the authorization request.
    PlainRefused,
    /// A `code_challenge_method` other than `S256` or `plain`.
    UnsupportedMethod,
    /// An authorization request without `code_challenge` (RFC 7636 §4.4.1).
    MissingChallenge,
    /// A `code_challenge` that is not 43 base64url characters encoding 32 bytes.
    MalformedChallenge,
    /// The verifier does not hash to the challenge (RFC 7636 §4.6).
    Mismatch,
}

impl PkceError {
    /// The RFC 6749 error code an authorization server answers with: `invalid_grant`
    /// for a verifier that does not match its challenge (RFC 7636 §4.6), `invalid_request`
    /// for every malformed, missing or unsupported parameter (RFC 7636 §4.4.1). Client-side
    /// errors (bad entropy, RNG failure) map to `invalid_request` too, but a client never
    /// sends them anywhere.
    pub fn oauth_error_code(&self) -> &'static str {
        match self {
            PkceError::Mismatch => "invalid_grant",
            _ => "invalid_request",
        }
    }
}

impl fmt::Display for PkceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkceError::VerifierLength { len } => write!(
                f,
                "code verifier is {len} characters; RFC 7636 requires {MIN_VERIFIER_LEN} to {MAX_VERIFIER_LEN}"
            ),
            PkceError::VerifierCharacter { position } => write!(
                f,
                "code verifier has a character outside [A-Za-z0-9-._~] at byte {position}"
            ),
            PkceError::EntropyLength { len } => write!(
                f,
                "{len} bytes of entropy supplied; a code verifier needs {MIN_ENTROPY_LEN} to {MAX_ENTROPY_LEN}"
            ),
            PkceError::RandomSource => f.write_str("the random source failed"),
            PkceError::PlainRefused => f.write_str(
                "code_challenge_method plain (or no method) is refused: OAuth 2.1 and MCP require S256",
            ),
            PkceError::UnsupportedMethod => f.write_str("unsupported code_challenge_method"),
            PkceError::MissingChallenge => f.write_str("code_challenge is missing"),
            PkceError::MalformedChallenge => f.write_str(
                "code_challenge is not an S256 challenge (43 base64url characters, 32 bytes)",
            ),
            PkceError::Mismatch => f.write_str("code verifier does not match the code challenge"),
        }
    }
}

impl std::error::Error for PkceError {}

/// A PKCE `code_verifier` (RFC 7636 §4.1): 43 to 128 characters of `[A-Za-z0-9-._~]`.
///
/// It is a secret until the authorization code is redeemed: `Debug` prints it redacted,
/// equality is constant-time in the value, and the memory is zeroed on drop. Build one with [`CodeVerifier::generate`] (from your
/// CSPRNG), [`CodeVerifier::from_entropy`] (from bytes you drew), or parse a received one
/// with [`CodeVerifier::parse`].
#[derive(Clone)]
pub struct CodeVerifier(Zeroizing<String>);

impl PartialEq for CodeVerifier {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl Eq for CodeVerifier {}

impl CodeVerifier {
    /// Draws [`DEFAULT_ENTROPY_LEN`] bytes from `rng` and encodes them as a 43-character
    /// verifier, as RFC 7636 §4.1 recommends.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; DEFAULT_ENTROPY_LEN]);
        rng.fill_bytes(bytes.as_mut_slice());
        Self::encode(bytes.as_slice())
    }

    /// Like [`CodeVerifier::generate`] for a fallible source (for example the operating
    /// system's); a failure gives [`PkceError::RandomSource`].
    pub fn try_generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, PkceError> {
        let mut bytes = Zeroizing::new([0u8; DEFAULT_ENTROPY_LEN]);
        rng.try_fill_bytes(bytes.as_mut_slice())
            .map_err(|_| PkceError::RandomSource)?;
        Ok(Self::encode(bytes.as_slice()))
    }

    /// Base64url-encodes caller-drawn random bytes (32 to 96 of them) into a verifier.
    ///
    /// The bytes must come from a cryptographically secure source; this function cannot
    /// check that, only the count.
    pub fn from_entropy(bytes: &[u8]) -> Result<Self, PkceError> {
        if !(MIN_ENTROPY_LEN..=MAX_ENTROPY_LEN).contains(&bytes.len()) {
            return Err(PkceError::EntropyLength { len: bytes.len() });
        }
        Ok(Self::encode(bytes))
    }

    fn encode(bytes: &[u8]) -> Self {
        CodeVerifier(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Checks a verifier received in a token request (or restored from storage) against
    /// RFC 7636 §4.1.
    pub fn parse(verifier: &str) -> Result<Self, PkceError> {
        check_verifier(verifier)?;
        Ok(CodeVerifier(Zeroizing::new(verifier.to_owned())))
    }

    /// The verifier text, to send as `code_verifier` in the token request.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The S256 challenge of this verifier: `BASE64URL(SHA256(ASCII(verifier)))`.
    pub fn challenge(&self) -> CodeChallenge {
        CodeChallenge {
            digest: s256_digest(&self.0),
        }
    }

    /// The token-request form parameter: `("code_verifier", verifier)` (RFC 7636 §4.5).
    pub fn token_param(&self) -> (&'static str, &str) {
        ("code_verifier", self.as_str())
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

/// Checks RFC 7636 §4.1 without copying the verifier.
fn check_verifier(verifier: &str) -> Result<(), PkceError> {
    let len = verifier.len();
    if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&len) {
        return Err(PkceError::VerifierLength { len });
    }
    match verifier.bytes().position(|b| !is_unreserved(b)) {
        Some(position) => Err(PkceError::VerifierCharacter { position }),
        None => Ok(()),
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn s256_digest(verifier: &str) -> [u8; 32] {
    Sha256::digest(verifier.as_bytes()).into()
}

/// The `code_challenge_method` values RFC 7636 defines. Only [`ChallengeMethod::S256`]
/// can be used; the enum exists so a server can name what it refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeMethod {
    /// `S256`, the only method OAuth 2.1 and MCP allow.
    S256,
}

impl ChallengeMethod {
    /// Reads a `code_challenge_method` parameter. A missing parameter means `plain`
    /// (RFC 7636 §4.3) and is refused like an explicit `plain`; the comparison is
    /// case-sensitive, as RFC 7636 §4.2 registers the exact string `S256`.
    pub fn parse(method: Option<&str>) -> Result<Self, PkceError> {
        match method {
            Some(S256) => Ok(ChallengeMethod::S256),
            Some("plain") | None => Err(PkceError::PlainRefused),
            Some(_) => Err(PkceError::UnsupportedMethod),
        }
    }

    /// The parameter value, `"S256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeMethod::S256 => S256,
        }
    }
}

/// An S256 `code_challenge`: the SHA-256 digest of the verifier.
///
/// A client gets one from [`CodeVerifier::challenge`]; an authorization server reads one
/// from the authorization request with [`CodeChallenge::from_request`] and stores it with
/// the code, then checks the token request's verifier with [`CodeChallenge::verify`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CodeChallenge {
    digest: [u8; 32],
}

impl CodeChallenge {
    /// Reads the authorization request's `code_challenge` and `code_challenge_method`
    /// parameters (RFC 7636 §4.3, §4.4.1). Only S256 is accepted; a missing method is
    /// `plain` and refused; a missing challenge is [`PkceError::MissingChallenge`].
    pub fn from_request(challenge: Option<&str>, method: Option<&str>) -> Result<Self, PkceError> {
        let challenge = challenge.ok_or(PkceError::MissingChallenge)?;
        ChallengeMethod::parse(method)?;
        Self::parse_s256(challenge)
    }

    /// Parses an S256 challenge value: exactly 43 base64url characters, no padding, that
    /// decode to 32 bytes with no stray trailing bits.
    pub fn parse_s256(challenge: &str) -> Result<Self, PkceError> {
        if challenge.len() != CHALLENGE_LEN {
            return Err(PkceError::MalformedChallenge);
        }
        let mut digest = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(challenge, &mut digest) {
            Ok(32) => Ok(CodeChallenge { digest }),
            _ => Err(PkceError::MalformedChallenge),
        }
    }

    /// The challenge text, to send as `code_challenge`.
    pub fn as_string(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.digest)
    }

    /// The method, always [`ChallengeMethod::S256`].
    pub fn method(&self) -> ChallengeMethod {
        ChallengeMethod::S256
    }

    /// The authorization-request parameters `code_challenge` and `code_challenge_method`
    /// (RFC 7636 §4.3). The method is always sent explicitly, since omitting it means `plain`.
    pub fn authorization_params(&self) -> [(&'static str, String); 2] {
        [
            ("code_challenge", self.as_string()),
            ("code_challenge_method", S256.to_owned()),
        ]
    }

    /// Token-endpoint check (RFC 7636 §4.6): recomputes the challenge from the received
    /// `code_verifier` and compares the digests in constant time. A verifier that breaks
    /// §4.1 is refused before hashing. Errors map to `invalid_grant`.
    pub fn verify(&self, verifier: &str) -> Result<(), PkceError> {
        check_verifier(verifier)?;
        let computed = s256_digest(verifier);
        if bool::from(computed.ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(PkceError::Mismatch)
        }
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CodeChallenge")
            .field(&self.as_string())
            .finish()
    }
}

impl fmt::Display for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

#[cfg(test)]
mod tests;
