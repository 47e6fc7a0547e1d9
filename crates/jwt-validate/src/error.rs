//! Typed validation errors and their one mapping to RFC 6750.

use core::fmt;

use mcp_oauth_common::BearerError;

use crate::Algorithm;

/// Why a token was refused. Nothing here carries the token or a secret.
///
/// [`JwtError::bearer_error`] is the one place that maps these to the wire: every variant
/// is `invalid_token` (401) except [`JwtError::InsufficientScope`] (403), which is only
/// ever returned for a token that passed every other check.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JwtError {
    /// Longer than the policy's maximum token size.
    TooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not three base64url segments, bad base64url, or a header/payload that is not a
    /// JSON object of acceptable size.
    Malformed(Malformed),
    /// The header's `alg` is not one this crate verifies (`none`, `HS256`, unknown, wrong
    /// case), or not in the policy's allow-list.
    AlgorithmNotAllowed,
    /// A `crit` header was present; no extension is understood (RFC 7515 §4.1.11).
    UnsupportedCritical,
    /// The header's `typ` is absent or not one the policy accepts.
    TypeNotAccepted,
    /// No key to verify with: the `kid` is not in the key set, or (without `kid`) zero or
    /// several keys fit the algorithm. There is no fallback to other keys.
    KeyNotFound,
    /// The key set could not be used (not loaded, too stale, or invalid).
    KeysUnavailable,
    /// The signature does not verify.
    BadSignature,
    /// A registered claim has the wrong JSON type, or a number is not finite.
    InvalidClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// A claim the policy requires is absent.
    MissingClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// `iss` is not an accepted issuer (exact comparison).
    IssuerNotAccepted,
    /// No `aud`, or no audience value is an accepted audience.
    AudienceMismatch,
    /// `exp` has passed (with leeway).
    Expired {
        /// The token's `exp`.
        exp: f64,
        /// The time passed in.
        now: u64,
        /// The leeway in seconds.
        leeway: u64,
    },
    /// `nbf` is in the future (with leeway).
    NotYetValid,
    /// `iat` is in the future (with leeway), or the token lives longer than the policy's
    /// maximum lifetime.
    IssuedAtRejected,
    /// The token is bound to a key (`cnf`) and cannot be accepted as a bearer token
    /// (RFC 9449, RFC 8705).
    SenderConstrained,
    /// Introspection said `active: false`, or its response was unusable.
    Inactive,
    /// Introspection said the token is active but of a `token_type` that is not an access
    /// token (a `refresh_token`, say): only `Bearer` and `DPoP` (any case), or no
    /// `token_type` at all, are accepted.
    NotAnAccessToken,
    /// The token is valid but lacks scopes the operation needs (403).
    InsufficientScope {
        /// The required scopes the token does not grant.
        missing: Vec<String>,
    },
}

/// What was malformed about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not exactly three `.`-separated segments.
    Segments,
    /// A segment is not strict base64url (padding, other alphabet, stray bits).
    Base64,
    /// The header is not a JSON object with a string `alg`, or has duplicate members.
    Header,
    /// The payload is not a JSON object, or has duplicate registered claims.
    Payload,
    /// The signature has the wrong length for its algorithm.
    SignatureLength,
}

impl JwtError {
    /// The RFC 6750 error this answers with: `insufficient_scope` (403) for
    /// [`JwtError::InsufficientScope`], `invalid_token` (401) for everything else.
    pub fn bearer_error(&self) -> BearerError {
        match self {
            JwtError::InsufficientScope { .. } => BearerError::InsufficientScope,
            _ => BearerError::InvalidToken,
        }
    }

    /// The scopes to name in a 403 challenge: the missing ones.
    pub fn missing_scopes(&self) -> Option<&[String]> {
        match self {
            JwtError::InsufficientScope { missing } => Some(missing),
            _ => None,
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::TooLarge { len, max } => {
                write!(f, "token is {len} bytes; the limit is {max}")
            }
            JwtError::Malformed(m) => write!(f, "token is malformed: {m:?}"),
            JwtError::AlgorithmNotAllowed => f.write_str("token algorithm is not allowed"),
            JwtError::UnsupportedCritical => f.write_str("token has a critical header extension"),
            JwtError::TypeNotAccepted => f.write_str("token typ is not accepted"),
            JwtError::KeyNotFound => f.write_str("no key to verify the token with"),
            JwtError::KeysUnavailable => f.write_str("the issuer's keys are unavailable"),
            JwtError::BadSignature => f.write_str("token signature does not verify"),
            JwtError::InvalidClaim { claim } => write!(f, "token claim {claim} has the wrong type"),
            JwtError::MissingClaim { claim } => write!(f, "token has no {claim} claim"),
            JwtError::IssuerNotAccepted => f.write_str("token issuer is not accepted"),
            JwtError::AudienceMismatch => f.write_str("token is not for this resource"),
            JwtError::Expired { exp, now, leeway } => {
                write!(f, "token expired at {exp} (now {now}, leeway {leeway} s)")
            }
            JwtError::NotYetValid => f.write_str("token is not valid yet"),
            JwtError::IssuedAtRejected => {
                f.write_str("token iat is in the future or its lifetime too long")
            }
            JwtError::SenderConstrained => {
                f.write_str("token is sender-constrained, not a bearer token")
            }
            JwtError::Inactive => f.write_str("token is not active"),
            JwtError::NotAnAccessToken => {
                f.write_str("token is not an access token (introspection token_type)")
            }
            JwtError::InsufficientScope { missing } => {
                write!(f, "token lacks scopes: {}", missing.join(" "))
            }
        }
    }
}

impl std::error::Error for JwtError {}

/// Why a JWK or JWK Set was not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The set is not JSON, too large, too deep, or not `{"keys": [...]}`.
    Json(mcp_oauth_common::JsonError),
    /// More keys than the configured cap.
    TooManyKeys {
        /// The cap.
        max: usize,
    },
    /// A key carries private members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`): the set
    /// is refused whole, since its publisher leaked secrets.
    PrivateMaterial,
    /// Two keys share a `kid`: the set is ambiguous and refused whole.
    DuplicateKid,
    /// A key's type, curve or algorithm is not supported, or they disagree.
    Unsupported,
    /// A key member is missing, not base64url, or has the wrong length.
    InvalidKey,
    /// An RSA modulus outside 2048–8192 bits, or an exponent below 65537 or even.
    WeakKey,
    /// The crypto provider refused the key (for example an EC point off its curve).
    Rejected {
        /// The provider's name.
        provider: &'static str,
        /// The algorithm it was prepared for.
        alg: Algorithm,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Json(e) => write!(f, "JWK Set: {e}"),
            KeyError::TooManyKeys { max } => write!(f, "JWK Set has more than {max} keys"),
            KeyError::PrivateMaterial => f.write_str("JWK Set contains private key material"),
            KeyError::DuplicateKid => f.write_str("JWK Set has two keys with the same kid"),
            KeyError::Unsupported => f.write_str("JWK type, curve or algorithm not supported"),
            KeyError::InvalidKey => f.write_str("JWK member missing or malformed"),
            KeyError::WeakKey => f.write_str("RSA key too small or exponent not allowed"),
            KeyError::Rejected { provider, alg } => {
                write!(f, "{provider} rejected the key for {alg}")
            }
        }
    }
}

impl std::error::Error for KeyError {}
