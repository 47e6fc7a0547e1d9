//! Compact JWS parsing and claim validation.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_oauth_common::UnixTime;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::claims::{Claims, Field, OneOrMany};
use serde_json::{Map, Value};

use crate::policy::{ClientIdClaim, ScopeClaim, normalize_typ};
use crate::{Algorithm, JwtError, KeySet, Malformed, Policy};

/// Largest decoded header accepted, in bytes.
const MAX_HEADER_LEN: usize = 2048;

/// A string from the claims: a span of the payload when it had no escapes (no
/// allocation), or its own copy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Text {
    Span(u32, u32),
    Owned(Box<str>),
}

impl Text {
    /// `s` as a span of `base` when it lies inside it, else a copy.
    fn of(s: &str, base: &[u8]) -> Text {
        let start = (s.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        match (u32::try_from(start), u32::try_from(s.len())) {
            (Ok(st), Ok(len))
                if start
                    .checked_add(s.len())
                    .is_some_and(|end| end <= base.len()) =>
            {
                Text::Span(st, st + len)
            }
            _ => Text::Owned(s.into()),
        }
    }

    fn get<'a>(&'a self, payload: &'a [u8]) -> &'a str {
        match self {
            Text::Owned(s) => s,
            Text::Span(a, b) => payload
                .get(*a as usize..*b as usize)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
        }
    }
}

/// A validated token: who it is for, from whom, with what.
///
/// The strings it returns point into the claims set it keeps, so building one costs a
/// few allocations, not one per claim.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthContext {
    issuer: Text,
    subject: Option<Text>,
    client_id: Option<Text>,
    token_id: Option<Text>,
    scopes: Vec<Text>,
    audience: Vec<Text>,
    exp: f64,
    key_id: Option<String>,
    algorithm: Option<Algorithm>,
    payload: Vec<u8>,
}

impl AuthContext {
    /// `iss`.
    pub fn issuer(&self) -> &str {
        self.issuer.get(&self.payload)
    }

    /// `sub`, when present.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_ref().map(|t| t.get(&self.payload))
    }

    /// `client_id`, when present.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_ref().map(|t| t.get(&self.payload))
    }

    /// `jti`, when present.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_ref().map(|t| t.get(&self.payload))
    }

    /// The granted scopes (`scope`, and `scp` string or array), in token order, without
    /// repeats.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|t| t.get(&self.payload))
    }

    /// The `aud` values.
    pub fn audience(&self) -> impl Iterator<Item = &str> {
        self.audience.iter().map(|t| t.get(&self.payload))
    }

    /// `exp`, rounded down to whole seconds.
    pub fn expires_at(&self) -> UnixTime {
        UnixTime(self.exp.max(0.0).floor() as u64)
    }

    /// The header's `kid`, when present.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The algorithm the token was verified with (`None` for introspected tokens).
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// Whether the token is still unexpired at `now` with `leeway_secs` of skew.
    pub fn is_live(&self, now: UnixTime, leeway_secs: u64) -> bool {
        (now.as_secs() as f64) < self.exp + leeway_secs as f64
    }

    /// Whether every scope in `required` was granted.
    pub fn has_scopes<S: AsRef<str>>(&self, required: &[S]) -> bool {
        required
            .iter()
            .all(|r| self.scopes().any(|s| s == r.as_ref()))
    }

    /// The required scopes that were not granted, or `Ok` when none is missing. The error
    /// is [`JwtError::InsufficientScope`] (403).
    pub fn require_scopes<S: AsRef<str>>(&self, required: &[S]) -> Result<(), JwtError> {
        let missing: Vec<String> = required
            .iter()
            .map(AsRef::as_ref)
            .filter(|r| !self.scopes().any(|s| s == *r))
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

/// Segments that decode to at most this many bytes (headers, signatures up to RSA-4096)
/// are decoded on the stack.
const STACK_DECODE: usize = 512;

/// Decodes into `buf` when it fits; `Ok(None)` when the segment is larger.
fn decode_small<'b>(
    segment: &str,
    buf: &'b mut [u8; STACK_DECODE],
) -> Result<Option<&'b [u8]>, JwtError> {
    if segment.len() / 4 * 3 + 3 > STACK_DECODE {
        return Ok(None);
    }
    let n = URL_SAFE_NO_PAD
        .decode_slice(segment.as_bytes(), buf)
        .map_err(|_| JwtError::Malformed(Malformed::Base64))?;
    Ok(buf.get(..n))
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

/// A string claim as [`Text`] over `base`.
fn text_claim(
    field: Field<Cow<'_, str>>,
    claim: &'static str,
    base: &[u8],
) -> Result<Option<Text>, JwtError> {
    Ok(field
        .get()
        .map_err(|()| JwtError::InvalidClaim { claim })?
        .map(|c| Text::of(&c, base)))
}

fn number(field: Field<f64>, claim: &'static str) -> Result<Option<f64>, JwtError> {
    field.get().map_err(|()| JwtError::InvalidClaim { claim })
}

/// Adds a scope string's tokens (RFC 6749 §3.3: separated by single spaces; empty
/// tokens ignored), without repeats.
fn add_scopes(s: &str, base: &[u8], out: &mut Vec<Text>) {
    for t in s.split(' ').filter(|t| !t.is_empty()) {
        if !out.iter().any(|o| o.get(base) == t) {
            out.push(Text::of(t, base));
        }
    }
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
        let mut header_stack = [0u8; STACK_DECODE];
        let header_heap;
        let header_bytes = match decode_small(h64, &mut header_stack)? {
            Some(b) => b,
            None => {
                header_heap = decode(h64)?;
                header_heap.as_slice()
            }
        };
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
        let mut sig_stack = [0u8; STACK_DECODE];
        let sig_heap;
        let signature = match decode_small(s64, &mut sig_stack)? {
            Some(b) => b,
            None => {
                sig_heap = decode(s64)?;
                sig_heap.as_slice()
            }
        };
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
        let claims: Claims<'_> = serde_json::from_slice(&payload)
            .map_err(|_| JwtError::Malformed(Malformed::Payload))?;
        let mut ctx = check_claims(&self.policy, claims, now, &payload)?;
        let kid = header.kid.map(Cow::into_owned);
        ctx.payload = payload;
        if !self.policy.scope_claims.is_empty() {
            add_scope_claims(&self.policy.scope_claims, &ctx.payload, &mut ctx.scopes)?;
        }
        ctx.algorithm = Some(alg);
        ctx.key_id = kid;
        Ok(ctx)
    }
}

/// Checks the registered claims. `base` is the payload the claims borrow from. The
/// context it returns has no payload, key or algorithm yet: the caller sets them.
fn check_claims(
    p: &Policy,
    mut c: Claims<'_>,
    now: UnixTime,
    base: &[u8],
) -> Result<AuthContext, JwtError> {
    if c.cnf.is_some() {
        return Err(JwtError::SenderConstrained);
    }
    let issuer = c
        .iss
        .get()
        .map_err(|()| JwtError::InvalidClaim { claim: "iss" })?
        .ok_or(JwtError::MissingClaim { claim: "iss" })?;
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
    let mut client_id = None;
    for which in &p.client_id_claims {
        let field = match which {
            ClientIdClaim::ClientId => &mut c.client_id,
            ClientIdClaim::Azp => &mut c.azp,
            ClientIdClaim::Appid => &mut c.appid,
            ClientIdClaim::Cid => &mut c.cid,
        };
        if let Some(t) = text_claim(core::mem::take(field), which.name(), base)? {
            client_id = Some(t);
            break;
        }
    }
    let audience = if !c.aud.is_present() && !p.client_id_audiences.is_empty() {
        // Cognito: no `aud`; bound by client id and `token_use` instead (explicitly
        // configured, see Policy::audience_from_client_id).
        let token_use = text_claim(c.token_use, "token_use", base)?;
        let access = token_use.as_ref().is_some_and(|t| t.get(base) == "access");
        let known = client_id
            .as_ref()
            .is_some_and(|id| p.client_id_audiences.iter().any(|x| x == id.get(base)));
        if !(access && known) {
            return Err(JwtError::AudienceMismatch);
        }
        Vec::new()
    } else {
        let audience = audience(c.aud, base)?;
        if !audience
            .iter()
            .any(|a| p.audiences.iter().any(|x| x == a.get(base)))
        {
            return Err(JwtError::AudienceMismatch);
        }
        audience
    };
    let subject = text_claim(c.sub, "sub", base)?;
    let token_id = text_claim(c.jti, "jti", base)?;
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
    // `scope` is a string (RFC 9068 §2.2.3); `scp` a string or an array (Entra, Okta).
    if let Some(s) = c
        .scope
        .get()
        .map_err(|()| JwtError::InvalidClaim { claim: "scope" })?
    {
        add_scopes(&s, base, &mut granted);
    }
    match c
        .scp
        .get()
        .map_err(|()| JwtError::InvalidClaim { claim: "scp" })?
    {
        Some(OneOrMany::One(s)) => add_scopes(&s, base, &mut granted),
        Some(OneOrMany::Many(list)) => list.iter().for_each(|s| add_scopes(s, base, &mut granted)),
        None => {}
    }
    Ok(AuthContext {
        issuer: Text::of(&issuer, base),
        subject,
        client_id,
        token_id,
        scopes: granted,
        audience,
        exp,
        key_id: None,
        algorithm: None,
        payload: Vec::new(),
    })
}

/// Reads the configured extra scope claims (only for policies that name some).
fn add_scope_claims(
    claims: &[ScopeClaim],
    payload: &[u8],
    scopes: &mut Vec<Text>,
) -> Result<(), JwtError> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|_| JwtError::Malformed(Malformed::Payload))?;
    for claim in claims {
        let mut v = Some(&value);
        for step in claim.path() {
            v = v.and_then(|x| x.get(step));
        }
        let bad = JwtError::InvalidClaim {
            claim: claim.path().last().copied().unwrap_or("roles"),
        };
        let mut add = |s: &str| {
            for t in s.split(' ').filter(|t| !t.is_empty()) {
                if !scopes.iter().any(|o| o.get(payload) == t) {
                    scopes.push(Text::Owned(t.into()));
                }
            }
        };
        match v {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => add(s),
            Some(Value::Array(items)) if items.len() <= MAX_SCOPE_ITEMS => {
                for i in items {
                    add(i.as_str().ok_or_else(|| bad.clone())?);
                }
            }
            Some(_) => return Err(bad),
        }
    }
    Ok(())
}

/// Most values read from one extra scope claim.
const MAX_SCOPE_ITEMS: usize = 256;

/// `aud`: a string or a non-empty array of strings (RFC 7519 §4.1.3); absent is an error.
fn audience(field: Field<OneOrMany<'_>>, base: &[u8]) -> Result<Vec<Text>, JwtError> {
    let bad = JwtError::InvalidClaim { claim: "aud" };
    if !field.is_present() {
        return Err(JwtError::AudienceMismatch);
    }
    match field.get().map_err(|()| bad.clone())? {
        Some(OneOrMany::One(s)) => Ok(vec![Text::of(&s, base)]),
        Some(OneOrMany::Many(list)) if !list.is_empty() => {
            Ok(list.iter().map(|s| Text::of(s, base)).collect())
        }
        _ => Err(bad),
    }
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
    let claims: Claims<'_> =
        serde_json::from_slice(payload).map_err(|_| JwtError::Malformed(Malformed::Payload))?;
    let mut ctx = check_claims(p, claims, now, payload)?;
    // Spans are offsets into the payload, so they hold for the context's own copy.
    ctx.payload = payload.to_vec();
    Ok(ctx)
}
