//! JWK Sets (RFC 7517, RFC 7518 §6, RFC 8037 §2), parsed once into verifiers.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_oauth_common::{JsonLimits, parse_json};
use serde::Deserialize;
use serde_json::Value;

use crate::crypto::{CryptoProvider, PublicKeyMaterial, VerifyingKey};
use crate::{Algorithm, KeyError};

/// Limits on a JWK Set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySetLimits {
    /// Size and nesting of the document (default 256 KiB, depth 8).
    pub json: JsonLimits,
    /// Most keys accepted (default 64); a larger set is refused whole.
    pub max_keys: usize,
}

impl Default for KeySetLimits {
    fn default() -> Self {
        KeySetLimits {
            json: JsonLimits::default()
                .with_max_bytes(256 * 1024)
                .with_max_depth(8),
            max_keys: 64,
        }
    }
}

/// Private or symmetric members: their presence refuses the whole set.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// One usable key: its `kid` and a prepared verifier per algorithm it may verify.
pub struct Key {
    kid: Option<String>,
    verifiers: Vec<(Algorithm, Box<dyn VerifyingKey>)>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field(
                "algorithms",
                &self.verifiers.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Key {
    /// The key's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.verifiers.iter().map(|(a, _)| *a)
    }

    fn verifier(&self, alg: Algorithm) -> Option<&dyn VerifyingKey> {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v.as_ref())
    }
}

/// A JWK Set, every usable key prepared once for its algorithm(s).
///
/// Keys that cannot verify signatures here are skipped, not fatal: encryption keys
/// (`use: enc`, `key_ops` without `verify`), unsupported types and curves, RSA moduli
/// outside 2048–8192 bits, exponents below 65537, malformed members, and keys the crypto
/// provider refuses. [`KeySet::skipped`] lists them. Three things refuse the whole set,
/// because they mean its publisher is misconfigured: private or symmetric key members,
/// two usable keys with the same `kid`, and more keys than the cap.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    skipped: Vec<(Option<String>, KeyError)>,
}

impl KeySet {
    /// Parses a JWK Set document and prepares its keys with `provider`.
    pub fn parse(
        bytes: &[u8],
        provider: &dyn CryptoProvider,
        limits: &KeySetLimits,
    ) -> Result<KeySet, KeyError> {
        let raw: RawSet = parse_json(bytes, &limits.json).map_err(KeyError::Json)?;
        Self::from_keys(raw.keys, provider, limits)
    }

    /// Builds a set from a JSON value (`{"keys": [...]}`).
    pub fn from_value(
        value: &Value,
        provider: &dyn CryptoProvider,
        limits: &KeySetLimits,
    ) -> Result<KeySet, KeyError> {
        if mcp_oauth_common::value_depth(value) > limits.json.max_depth {
            return Err(KeyError::Json(mcp_oauth_common::JsonError::TooDeep {
                max: limits.json.max_depth,
            }));
        }
        let raw = RawSet::deserialize(value).map_err(|e| KeyError::Json(e.into()))?;
        Self::from_keys(raw.keys, provider, limits)
    }

    fn from_keys(
        raw: Vec<Value>,
        provider: &dyn CryptoProvider,
        limits: &KeySetLimits,
    ) -> Result<KeySet, KeyError> {
        if raw.len() > limits.max_keys {
            return Err(KeyError::TooManyKeys {
                max: limits.max_keys,
            });
        }
        let mut set = KeySet::default();
        for jwk in &raw {
            let obj = jwk.as_object();
            if obj.is_some_and(|o| PRIVATE_MEMBERS.iter().any(|m| o.contains_key(*m))) {
                return Err(KeyError::PrivateMaterial);
            }
            let kid = obj
                .and_then(|o| o.get("kid"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            match prepare_key(jwk, provider) {
                Ok(key) => {
                    if key.kid.is_some() && set.keys.iter().any(|k| k.kid == key.kid) {
                        return Err(KeyError::DuplicateKid);
                    }
                    set.keys.push(key);
                }
                Err(e) => set.skipped.push((kid, e)),
            }
        }
        Ok(set)
    }

    /// The usable keys.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The keys that were skipped, with why.
    pub fn skipped(&self) -> &[(Option<String>, KeyError)] {
        &self.skipped
    }

    /// Whether a usable key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The verifier for a token's `kid` and `alg`. With a `kid`, only the key with exactly
    /// that `kid` (no trimming, no case folding) and only if it verifies `alg`. Without a
    /// `kid`, the one key that verifies `alg`; none when zero or several do.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&dyn VerifyingKey> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))?
                .verifier(alg),
            None => {
                let mut fitting = self.keys.iter().filter_map(|k| k.verifier(alg));
                let first = fitting.next()?;
                fitting.next().is_none().then_some(first)
            }
        }
    }
}

fn b64(s: Option<&String>) -> Result<Vec<u8>, KeyError> {
    let s = s.ok_or(KeyError::InvalidKey)?;
    URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| KeyError::InvalidKey)
}

fn strip_leading_zeros(v: &[u8]) -> &[u8] {
    let skip = v.iter().take_while(|b| **b == 0).count();
    v.get(skip..).unwrap_or_default()
}

fn prepare_key(jwk: &Value, provider: &dyn CryptoProvider) -> Result<Key, KeyError> {
    let raw = RawJwk::deserialize(jwk).map_err(|_| KeyError::InvalidKey)?;
    // RFC 7517 §4.2, §4.3: only signature-verification keys.
    if raw.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err(KeyError::Unsupported);
    }
    if raw
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|o| o == "verify"))
    {
        return Err(KeyError::Unsupported);
    }
    let declared = match raw.alg.as_deref() {
        Some(a) => Some(Algorithm::parse(a).ok_or(KeyError::Unsupported)?),
        None => None,
    };
    let (material, family): (PublicKeyMaterial, &[Algorithm]) = match raw.kty.as_str() {
        "RSA" => {
            let n = b64(raw.n.as_ref())?;
            let e = b64(raw.e.as_ref())?;
            let (n, e) = (strip_leading_zeros(&n), strip_leading_zeros(&e));
            let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            if !(2048..=8192).contains(&bits) {
                return Err(KeyError::WeakKey);
            }
            let exponent = if e.len() <= 8 {
                e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
            } else {
                0
            };
            // ring accepts exponents up to 33 bits; below 65537 is refused (AC-081).
            if exponent < 65537 || exponent % 2 == 0 || exponent >= (1 << 33) {
                return Err(KeyError::WeakKey);
            }
            (
                PublicKeyMaterial::Rsa {
                    n: n.to_vec(),
                    e: e.to_vec(),
                },
                &Algorithm::RSA,
            )
        }
        "EC" => {
            let (len, alg) = match raw.crv.as_deref() {
                Some("P-256") => (32, &[Algorithm::ES256]),
                Some("P-384") => (48, &[Algorithm::ES384]),
                _ => return Err(KeyError::Unsupported),
            };
            let x = b64(raw.x.as_ref())?;
            let y = b64(raw.y.as_ref())?;
            if x.len() != len || y.len() != len {
                return Err(KeyError::InvalidKey);
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (PublicKeyMaterial::Ec { point }, alg)
        }
        "OKP" => {
            if raw.crv.as_deref() != Some("Ed25519") {
                return Err(KeyError::Unsupported);
            }
            let x: [u8; 32] = b64(raw.x.as_ref())?
                .try_into()
                .map_err(|_| KeyError::InvalidKey)?;
            (PublicKeyMaterial::Ed25519 { x }, &[Algorithm::EdDSA])
        }
        _ => return Err(KeyError::Unsupported),
    };
    let algorithms: Vec<Algorithm> = match declared {
        // RFC 8725 §3.1: a key with a declared algorithm verifies only that one.
        Some(a) if family.contains(&a) => vec![a],
        Some(_) => return Err(KeyError::Unsupported),
        None => family.to_vec(),
    };
    let mut verifiers = Vec::with_capacity(algorithms.len());
    for alg in algorithms {
        verifiers.push((alg, provider.prepare(alg, &material)?));
    }
    Ok(Key {
        kid: raw.kid,
        verifiers,
    })
}
