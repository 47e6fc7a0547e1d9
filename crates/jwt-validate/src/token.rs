//! Compact JWS parsing and claim validation.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_oauth_common::UnixTime;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::policy::normalize_typ;
use crate::{Algorithm, JwtError, KeySet, Malformed, Policy};

/// Largest decoded header accepted, in bytes.
const MAX_HEADER_LEN: usize = 2048;

/// A validated token: who it is for, from whom, with what.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthContext {
    /// `iss`.
    pub issuer: String,
    /// `sub`, when present.
    pub subject: Option<String>,
    /// `client_id`, when present.
    pub client_id: Option<String>,
    /// The granted scopes (`scope`, or `scp` string or array), in token order.
    pub scopes: Vec<String>,
    /// The `aud` values.
    pub audience: Vec<String>,
    /// `exp`, rounded down to whole seconds.
    pub expires_at: UnixTime,
    /// `exp` exactly as received (NumericDate may have a fraction).
    pub(crate) exp: f64,
    /// `jti`, when present.
    pub token_id: Option<String>,
    /// The header's `kid`, when present.
    pub key_id: Option<String>,
    /// The algorithm the token was verified with (`None` for introspected tokens).
    pub algorithm: Option<Algorithm>,
    /// The claims set as received (a JSON object).
    pub(crate) payload: Vec<u8>,
}

impl AuthContext {
    /// Whether the token is still unexpired at `now` with `leeway_secs` of skew.
    pub fn is_live(&self, now: UnixTime, leeway_secs: u64) -> bool {
        (now.as_secs() as f64) < self.exp + leeway_secs as f64
    }

    /// Whether every scope in `required` was granted.
    pub fn has_scopes<S: AsRef<str>>(&self, required: &[S]) -> bool {
        required
            .iter()
            .all(|r| self.scopes.iter().any(|s| s == r.as_ref()))
    }

    /// The required scopes that were not granted, or `Ok` when none is missing. The error
    /// is [`JwtError::InsufficientScope`] (403).
    pub fn require_scopes<S: AsRef<str>>(&self, required: &[S]) -> Result<(), JwtError> {
        let missing: Vec<String> = required
            .iter()
            .map(AsRef::as_ref)
            .filter(|r| !self.scopes.iter().any(|s| s == r))
            .map(str::to_owned)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(JwtError::InsufficientScope { missing })
        }
    }

    /// Every claim, parsed on demand (the hot path never builds this map).
    pub fn claims(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.payload).unwrap_or_default()
    }

    /// One claim deserialised into `T`, or `None` when absent or of another shape.
    pub fn claim<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        #[derive(Deserialize)]
        struct Any<'a>(#[serde(borrow)] std::collections::HashMap<&'a str, &'a RawValue>);
        let map: Any<'_> = serde_json::from_slice(&self.payload).ok()?;
        serde_json::from_str(map.0.get(name)?.get()).ok()
    }
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: &'a str,
    // `null` is not a string: it must not mean "no kid, try the only key" (AC-041).
    #[serde(default, borrow, deserialize_with = "present_string")]
    kid: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "present_string")]
    typ: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// A member that, when present, must be a string (`null` included in "not a string").
fn present_string<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    <Cow<'a, str> as Deserialize>::deserialize(d).map(Some)
}

/// The registered claims, each kept raw so its type is checked with a precise error.
/// Unknown claims are skipped without allocating; a repeated registered claim is an error.
#[derive(Deserialize)]
struct RawClaims<'a> {
    #[serde(default, borrow)]
    iss: Option<&'a RawValue>,
    #[serde(default, borrow)]
    sub: Option<&'a RawValue>,
    #[serde(default, borrow)]
    aud: Option<&'a RawValue>,
    #[serde(default, borrow)]
    exp: Option<&'a RawValue>,
    #[serde(default, borrow)]
    nbf: Option<&'a RawValue>,
    #[serde(default, borrow)]
    iat: Option<&'a RawValue>,
    #[serde(default, borrow)]
    jti: Option<&'a RawValue>,
    #[serde(default, borrow)]
    client_id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    scope: Option<&'a RawValue>,
    #[serde(default, borrow)]
    scp: Option<&'a RawValue>,
    #[serde(default, borrow)]
    cnf: Option<&'a RawValue>,
}

fn decode(segment: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(segment.as_bytes())
        .map_err(|_| JwtError::Malformed(Malformed::Base64))
}

/// A JSON document must be an object: serde would map an array onto a struct by
/// position.
fn is_object(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

/// A string claim, borrowed from the payload unless it holds escapes.
fn str_claim<'a>(
    raw: Option<&'a RawValue>,
    claim: &'static str,
) -> Result<Option<Cow<'a, str>>, JwtError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get();
    if let Ok(s) = serde_json::from_str::<&str>(text) {
        return Ok(Some(Cow::Borrowed(s)));
    }
    serde_json::from_str::<String>(text)
        .map(|s| Some(Cow::Owned(s)))
        .map_err(|_| JwtError::InvalidClaim { claim })
}

fn string(raw: Option<&RawValue>, claim: &'static str) -> Result<Option<String>, JwtError> {
    Ok(str_claim(raw, claim)?.map(Cow::into_owned))
}

fn number(raw: Option<&RawValue>, claim: &'static str) -> Result<Option<f64>, JwtError> {
    match raw {
        None => Ok(None),
        Some(r) => match serde_json::from_str::<f64>(r.get()) {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(JwtError::InvalidClaim { claim }),
        },
    }
}

/// `"a b"` or `["a", "b"]`, both allowed for `scp`; only the string for `scope`.
fn scopes(
    raw: Option<&RawValue>,
    claim: &'static str,
    allow_array: bool,
    out: &mut Vec<String>,
) -> Result<(), JwtError> {
    let Some(raw) = raw else { return Ok(()) };
    let bad = || JwtError::InvalidClaim { claim };
    let text = raw.get();
    let list: Vec<String> = if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|_| bad())?;
        // RFC 6749 §3.3: scope tokens are separated by spaces; empty tokens ignored.
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    } else if allow_array {
        serde_json::from_str(text).map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    for s in list {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(())
}

/// Validates tokens against a [`Policy`] and a [`KeySet`].
#[derive(Debug, Clone)]
pub struct Validator {
    policy: Policy,
}

impl Validator {
    /// A validator for `policy`.
    pub fn new(policy: Policy) -> Self {
        Validator { policy }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Validates a compact JWS access token at time `now` with the policy's required
    /// scopes.
    pub fn validate(
        &self,
        token: &str,
        keys: &KeySet,
        now: UnixTime,
    ) -> Result<AuthContext, JwtError> {
        let ctx = self.verify(token, keys, now)?;
        ctx.require_scopes(&self.policy.required_scopes)?;
        Ok(ctx)
    }

    /// [`Validator::validate`] with extra scopes this operation needs (a 403 names only
    /// the missing ones).
    pub fn validate_for<S: AsRef<str>>(
        &self,
        token: &str,
        keys: &KeySet,
        now: UnixTime,
        operation_scopes: &[S],
    ) -> Result<AuthContext, JwtError> {
        let ctx = self.validate(token, keys, now)?;
        ctx.require_scopes(operation_scopes)?;
        Ok(ctx)
    }

    /// Everything but the scope check: structure, header, key, signature, claims.
    pub fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        now: UnixTime,
    ) -> Result<AuthContext, JwtError> {
        let p = &self.policy;
        if token.len() > p.max_token_len {
            return Err(JwtError::TooLarge {
                len: token.len(),
                max: p.max_token_len,
            });
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(c64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed(Malformed::Segments));
        };
        if h64.len() > MAX_HEADER_LEN * 4 / 3 + 4 {
            return Err(JwtError::Malformed(Malformed::Header));
        }
        let mut header_buf = [0u8; MAX_HEADER_LEN];
        let header_len = URL_SAFE_NO_PAD
            .decode_slice(h64.as_bytes(), &mut header_buf)
            .map_err(|_| JwtError::Malformed(Malformed::Base64))?;
        let header_bytes = header_buf.get(..header_len).unwrap_or_default();
        if !is_object(header_bytes) {
            return Err(JwtError::Malformed(Malformed::Header));
        }
        let header: Header<'_> = serde_json::from_slice(header_bytes)
            .map_err(|_| JwtError::Malformed(Malformed::Header))?;
        let alg = Algorithm::parse(header.alg)
            .filter(|a| p.algorithms.contains(a))
            .ok_or(JwtError::AlgorithmNotAllowed)?;
        if header.crit.is_some() {
            return Err(JwtError::UnsupportedCritical);
        }
        if let Some(accepted) = &p.typ {
            let ok = header
                .typ
                .as_deref()
                .is_some_and(|t| accepted.iter().any(|a| *a == normalize_typ(t)));
            if !ok {
                return Err(JwtError::TypeNotAccepted);
            }
        }
        // RSA signatures are at most 8192 bits; anything longer is refused by length.
        let mut sig_buf = [0u8; 1024];
        let sig_len = URL_SAFE_NO_PAD
            .decode_slice(s64.as_bytes(), &mut sig_buf)
            .map_err(|_| JwtError::Malformed(Malformed::SignatureLength))?;
        let signature = sig_buf.get(..sig_len).unwrap_or_default();
        if alg
            .fixed_signature_len()
            .is_some_and(|len| len != signature.len())
        {
            return Err(JwtError::Malformed(Malformed::SignatureLength));
        }
        let key = keys
            .find(header.kid.as_deref(), alg)
            .ok_or(JwtError::KeyNotFound)?;
        // The signing input is the token's own bytes up to the second dot.
        let signing_input = token
            .get(..h64.len() + 1 + c64.len())
            .ok_or(JwtError::Malformed(Malformed::Segments))?;
        if !key.verify(signing_input.as_bytes(), signature) {
            return Err(JwtError::BadSignature);
        }

        // Only now, with the signature verified, are the claims read (AC-035).
        let payload = decode(c64)?;
        if !is_object(&payload) {
            return Err(JwtError::Malformed(Malformed::Payload));
        }
        let claims: RawClaims<'_> = serde_json::from_slice(&payload)
            .map_err(|_| JwtError::Malformed(Malformed::Payload))?;
        let checked = check_claims(&self.policy, &claims, now)?;
        let kid = header.kid.map(Cow::into_owned);
        Ok(checked.into_context(payload, Some(alg), kid))
    }
}

/// What [`check_claims`] extracts; borrowed from the payload until the context is built.
struct Checked {
    issuer: String,
    subject: Option<String>,
    client_id: Option<String>,
    token_id: Option<String>,
    scopes: Vec<String>,
    audience: Vec<String>,
    exp: f64,
}

impl Checked {
    fn into_context(
        self,
        payload: Vec<u8>,
        algorithm: Option<Algorithm>,
        key_id: Option<String>,
    ) -> AuthContext {
        AuthContext {
            issuer: self.issuer,
            subject: self.subject,
            client_id: self.client_id,
            scopes: self.scopes,
            audience: self.audience,
            expires_at: UnixTime(self.exp.max(0.0).floor() as u64),
            exp: self.exp,
            token_id: self.token_id,
            key_id,
            algorithm,
            payload,
        }
    }
}

fn check_claims(p: &Policy, c: &RawClaims<'_>, now: UnixTime) -> Result<Checked, JwtError> {
    if c.cnf.is_some() {
        return Err(JwtError::SenderConstrained);
    }
    let issuer = str_claim(c.iss, "iss")?.ok_or(JwtError::MissingClaim { claim: "iss" })?;
    if !p.issuers.iter().any(|i| *i == issuer) {
        return Err(JwtError::IssuerNotAccepted);
    }
    let leeway = p.leeway as f64;
    let now_f = now.as_secs() as f64;
    let exp = number(c.exp, "exp")?.ok_or(JwtError::MissingClaim { claim: "exp" })?;
    if now_f >= exp + leeway {
        return Err(JwtError::Expired {
            exp,
            now: now.as_secs(),
            leeway: p.leeway,
        });
    }
    if number(c.nbf, "nbf")?.is_some_and(|nbf| nbf > now_f + leeway) {
        return Err(JwtError::NotYetValid);
    }
    let iat = number(c.iat, "iat")?;
    if iat.is_some_and(|iat| iat > now_f + leeway) {
        return Err(JwtError::IssuedAtRejected);
    }
    if let Some(max) = p.max_lifetime {
        let start = iat.unwrap_or(now_f);
        if exp - start > max as f64 {
            return Err(JwtError::IssuedAtRejected);
        }
    }
    let audience = audience(c.aud)?;
    if !audience.iter().any(|a| p.audiences.contains(a)) {
        return Err(JwtError::AudienceMismatch);
    }
    let subject = string(c.sub, "sub")?;
    let client_id = string(c.client_id, "client_id")?;
    let token_id = string(c.jti, "jti")?;
    for claim in &p.required_claims {
        let present = match *claim {
            "sub" => subject.is_some(),
            "iat" => iat.is_some(),
            "jti" => token_id.is_some(),
            "client_id" => client_id.is_some(),
            _ => true,
        };
        if !present {
            return Err(JwtError::MissingClaim { claim });
        }
    }
    let mut granted = Vec::new();
    scopes(c.scope, "scope", false, &mut granted)?;
    scopes(c.scp, "scp", true, &mut granted)?;
    Ok(Checked {
        issuer: issuer.into_owned(),
        subject,
        client_id,
        token_id,
        scopes: granted,
        audience,
        exp,
    })
}

/// `aud`: a string or a non-empty array of strings (RFC 7519 §4.1.3); absent is an error.
fn audience(raw: Option<&RawValue>) -> Result<Vec<String>, JwtError> {
    let raw = raw.ok_or(JwtError::AudienceMismatch)?;
    let bad = JwtError::InvalidClaim { claim: "aud" };
    let text = raw.get();
    let list: Vec<String> = if text.starts_with('"') {
        vec![serde_json::from_str(text).map_err(|_| bad.clone())?]
    } else {
        serde_json::from_str(text).map_err(|_| bad.clone())?
    };
    if list.is_empty() || list.len() > mcp_oauth_resource::MAX_AUDIENCE_VALUES {
        return Err(bad);
    }
    Ok(list)
}

/// Claims from an introspection response (RFC 7662 §2.2), checked with the same rules.
pub(crate) fn check_introspected(
    p: &Policy,
    payload: &[u8],
    now: UnixTime,
) -> Result<AuthContext, JwtError> {
    #[derive(Deserialize)]
    struct Active<'a> {
        #[serde(borrow)]
        active: &'a RawValue,
    }
    if !is_object(payload) {
        return Err(JwtError::Inactive);
    }
    let active: Active<'_> = serde_json::from_slice(payload).map_err(|_| JwtError::Inactive)?;
    if active.active.get() != "true" {
        return Err(JwtError::Inactive);
    }
    let claims: RawClaims<'_> =
        serde_json::from_slice(payload).map_err(|_| JwtError::Malformed(Malformed::Payload))?;
    let checked = check_claims(p, &claims, now)?;
    Ok(checked.into_context(payload.to_vec(), None, None))
}
