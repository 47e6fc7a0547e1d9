//! Compact JWS parsing and claim validation.

use std::borrow::Cow;

use mcp_oauth_common::UnixTime;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::claims::{Claims, Field, OneOrMany};
use core::mem::take;

use serde_json::{Map, Value};

use crate::policy::{ClientIdClaim, ScopeClaim, typ_matches};
use crate::scopes::ScopeHierarchy;
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
    key_id: Option<Text>,
    /// The `aud` values (the first `audiences` entries), then the scopes: one allocation.
    texts: Vec<Text>,
    audiences: usize,
    exp: f64,
    algorithm: Option<Algorithm>,
    /// The header's `kid` (when present), then the claims set at `claims`.
    payload: Vec<u8>,
    claims: core::ops::Range<usize>,
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
        self.texts
            .get(self.audiences..)
            .unwrap_or_default()
            .iter()
            .map(|t| t.get(&self.payload))
    }

    /// The `aud` values.
    pub fn audience(&self) -> impl Iterator<Item = &str> {
        self.texts
            .get(..self.audiences)
            .unwrap_or_default()
            .iter()
            .map(|t| t.get(&self.payload))
    }

    /// `exp`, rounded down to whole seconds.
    pub fn expires_at(&self) -> UnixTime {
        UnixTime(self.exp.max(0.0).floor() as u64)
    }

    /// The header's `kid`, when present.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_ref().map(|t| t.get(&self.payload))
    }

    /// The algorithm the token was verified with (`None` for introspected tokens).
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// Whether the token is still unexpired at `now` with `leeway_secs` of skew.
    pub fn is_live(&self, now: UnixTime, leeway_secs: u64) -> bool {
        (now.as_secs() as f64) < self.exp + leeway_secs as f64
    }

    /// Whether every scope in `required` was granted (exactly; see
    /// [`has_scopes_in`](Self::has_scopes_in) for scope hierarchies).
    pub fn has_scopes<S: AsRef<str>>(&self, required: &[S]) -> bool {
        required
            .iter()
            .all(|r| self.scopes().any(|s| s == r.as_ref()))
    }

    /// Whether every scope in `required` was granted, directly or through a broader scope
    /// of `hierarchy` (MCP-SCOPE-15).
    pub fn has_scopes_in<S: AsRef<str>>(&self, required: &[S], hierarchy: &ScopeHierarchy) -> bool {
        required
            .iter()
            .all(|r| hierarchy.grants(self.scopes(), r.as_ref()))
    }

    /// The required scopes that were not granted, or `Ok` when none is missing. The error
    /// is [`JwtError::InsufficientScope`] (403).
    pub fn require_scopes<S: AsRef<str>>(&self, required: &[S]) -> Result<(), JwtError> {
        self.require_scopes_in(required, &ScopeHierarchy::new())
    }

    /// [`require_scopes`](Self::require_scopes) honouring `hierarchy` (MCP-SCOPE-15).
    pub fn require_scopes_in<S: AsRef<str>>(
        &self,
        required: &[S],
        hierarchy: &ScopeHierarchy,
    ) -> Result<(), JwtError> {
        let missing: Vec<String> = required
            .iter()
            .map(AsRef::as_ref)
            .filter(|r| !hierarchy.grants(self.scopes(), r))
            .map(str::to_owned)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(JwtError::InsufficientScope { missing })
        }
    }

    /// The claims set's JSON text.
    fn claims_json(&self) -> &[u8] {
        self.payload.get(self.claims.clone()).unwrap_or_default()
    }

    /// Every claim, parsed on demand (the hot path never builds this map).
    pub fn claims(&self) -> Map<String, Value> {
        serde_json::from_slice(self.claims_json()).unwrap_or_default()
    }

    /// One claim deserialised into `T`, or `None` when absent or of another shape.
    pub fn claim<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        #[derive(Deserialize)]
        struct Any<'a>(#[serde(borrow)] std::collections::HashMap<&'a str, &'a RawValue>);
        let map: Any<'_> = serde_json::from_slice(self.claims_json()).ok()?;
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
pub(crate) const STACK_DECODE: usize = 512;

/// Decodes into `buf` when it fits; `Ok(None)` when the segment is larger.
pub(crate) fn decode_small<'b>(
    segment: &str,
    buf: &'b mut [u8; STACK_DECODE],
) -> Result<Option<&'b [u8]>, JwtError> {
    if segment.len() / 4 * 3 + 3 > STACK_DECODE {
        return Ok(None);
    }
    let out = base64_simd::URL_SAFE_NO_PAD
        .decode(segment.as_bytes(), base64_simd::Out::from_slice(buf))
        .map_err(|_| JwtError::Malformed(Malformed::Base64))?;
    Ok(Some(out))
}

pub(crate) fn decode(segment: &str) -> Result<Vec<u8>, JwtError> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(segment.as_bytes())
        .map_err(|_| JwtError::Malformed(Malformed::Base64))
}

/// The three segments of a compact JWS. Only the first two dots are searched for here;
/// a third one (in the signature segment) fails its base64url decoding.
fn split_segments(token: &str) -> Result<(&str, &str, &str), JwtError> {
    let bad = JwtError::Malformed(Malformed::Segments);
    let first = memchr::memchr(b'.', token.as_bytes()).ok_or(bad.clone())?;
    let (h64, rest) = (
        token.get(..first).ok_or(bad.clone())?,
        token.get(first + 1..).ok_or(bad.clone())?,
    );
    let second = memchr::memchr(b'.', rest.as_bytes()).ok_or(bad.clone())?;
    let (c64, s64) = (
        rest.get(..second).ok_or(bad.clone())?,
        rest.get(second + 1..).ok_or(bad)?,
    );
    Ok((h64, c64, s64))
}

/// A signature segment that failed to decode because it holds another dot has too many
/// segments.
fn segment_error(s64: &str, e: JwtError) -> JwtError {
    if s64.contains('.') {
        JwtError::Malformed(Malformed::Segments)
    } else {
        e
    }
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
fn add_scopes(s: &str, base: &[u8], out: &mut Vec<Text>, from: usize) {
    for t in s.split(' ').filter(|t| !t.is_empty()) {
        if !out
            .get(from..)
            .unwrap_or_default()
            .iter()
            .any(|o| o.get(base) == t)
        {
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
        self.verify_then(token, keys, now, &|ctx| {
            ctx.require_scopes_in(&self.policy.required_scopes, &self.policy.hierarchy)
        })
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
        self.verify_then(token, keys, now, &|ctx| {
            ctx.require_scopes_in(&self.policy.required_scopes, &self.policy.hierarchy)?;
            ctx.require_scopes(operation_scopes)
        })
    }

    /// Everything but the scope check: structure, header, key, signature, claims.
    pub fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        now: UnixTime,
    ) -> Result<AuthContext, JwtError> {
        self.verify_then(token, keys, now, &|_| Ok(()))
    }

    /// [`Validator::verify`], then `check` on the context before it is returned (one
    /// body for every entry point, and the context is not moved between them).
    fn verify_then(
        &self,
        token: &str,
        keys: &KeySet,
        now: UnixTime,
        check: &dyn Fn(&AuthContext) -> Result<(), JwtError>,
    ) -> Result<AuthContext, JwtError> {
        let p = &self.policy;
        if token.len() > p.max_token_len {
            return Err(JwtError::TooLarge {
                len: token.len(),
                max: p.max_token_len,
            });
        }
        let (h64, c64, s64) = split_segments(token)?;
        // The buffer the context keeps: the header's `kid`, then (once the signature
        // holds) the claims set.
        let mut payload = Vec::with_capacity(c64.len() / 4 * 3 + 3 + MAX_INLINE_KID);
        let (alg, kid_len) = self.read_header(h64, &mut payload)?;
        let mut sig_stack = [0u8; STACK_DECODE];
        let sig_heap;
        // The signature segment was not searched for a third dot: a dot is not base64url,
        // so decoding fails on one; only then is it worth telling the two errors apart.
        let signature =
            match decode_small(s64, &mut sig_stack).map_err(|e| segment_error(s64, e))? {
                Some(b) => b,
                None => {
                    sig_heap = decode(s64).map_err(|e| segment_error(s64, e))?;
                    sig_heap.as_slice()
                }
            };
        if alg
            .fixed_signature_len()
            .is_some_and(|len| len != signature.len())
        {
            return Err(JwtError::Malformed(Malformed::SignatureLength));
        }
        let kid = match kid_len {
            Some(n) => Some(
                payload
                    .get(..n)
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .ok_or(JwtError::Malformed(Malformed::Header))?,
            ),
            None => None,
        };
        let key = keys.find(kid, alg).ok_or(JwtError::KeyNotFound)?;
        // The signing input is the token's own bytes up to the second dot.
        let signing_input = token
            .get(..h64.len() + 1 + c64.len())
            .ok_or(JwtError::Malformed(Malformed::Segments))?;
        if !key.verify(signing_input.as_bytes(), signature) {
            return Err(JwtError::BadSignature);
        }

        // Only now, with the signature verified, are the claims read (AC-035).
        let start = kid_len.unwrap_or(0);
        base64_simd::URL_SAFE_NO_PAD
            .decode_append(c64.as_bytes(), &mut payload)
            .map_err(|_| JwtError::Malformed(Malformed::Base64))?;
        let json = payload
            .get(start..)
            .and_then(|j| std::str::from_utf8(j).ok())
            .ok_or(JwtError::Malformed(Malformed::Payload))?;
        if !is_object(json.as_bytes()) {
            return Err(JwtError::Malformed(Malformed::Payload));
        }
        let mut claims = Claims::default();
        claims
            .read(json)
            .map_err(|_| JwtError::Malformed(Malformed::Payload))?;
        let mut ctx = check_claims(&self.policy, &mut claims, now, &payload)?;
        if !self.policy.scope_claims.is_empty() {
            add_scope_claims(
                &self.policy.scope_claims,
                json,
                &payload,
                &mut ctx.texts,
                ctx.audiences,
            )?;
        }
        // A `kid` is at most a header long (2 KiB), so its span always fits.
        ctx.key_id = kid_len.and_then(|n| Some(Text::Span(0, u32::try_from(n).ok()?)));
        ctx.claims = start..payload.len();
        ctx.payload = payload;
        ctx.algorithm = Some(alg);
        check(&ctx)?;
        Ok(ctx)
    }
}

/// A `kid` up to this long is copied into the context's buffer without growing it.
const MAX_INLINE_KID: usize = 64;

/// Headers longer than this (base64url) are not kept in the per-thread memo.
const MAX_MEMO_HEADER: usize = 512;

/// How many distinct headers each thread keeps.
const MEMO_ENTRIES: usize = 4;

/// A header that parsed, as read: `alg` known (not yet checked against a policy), `kid`
/// and `typ` as sent, whether `crit` was present.
#[derive(Debug, Clone)]
struct ParsedHeader {
    segment: Box<str>,
    alg: Algorithm,
    kid: Option<Box<str>>,
    typ: Option<Box<str>>,
    crit: bool,
}

/// The last few headers each thread parsed. Tokens from one issuer and key carry the same
/// header byte for byte, so most requests skip decoding and parsing it; the memo holds
/// only what the header's own bytes determine, and the policy checks run on every use.
#[derive(Debug, Default)]
struct HeaderMemo {
    entries: [Option<ParsedHeader>; MEMO_ENTRIES],
    next: usize,
}

thread_local! {
    static HEADER_MEMO: core::cell::RefCell<HeaderMemo> =
        core::cell::RefCell::new(HeaderMemo::default());
}

/// Decodes and parses a header segment.
fn parse_header(h64: &str) -> Result<ParsedHeader, JwtError> {
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
    // UTF-8 is checked once for the whole document, so serde reads it as a `str` and
    // does not re-check every string.
    let header: Header<'_> = std::str::from_utf8(header_bytes)
        .ok()
        .and_then(|h| serde_json::from_str(h).ok())
        .ok_or(JwtError::Malformed(Malformed::Header))?;
    let alg = Algorithm::parse(header.alg).ok_or(JwtError::AlgorithmNotAllowed)?;
    Ok(ParsedHeader {
        segment: h64.into(),
        alg,
        kid: header.kid.map(|k| k.into()),
        typ: header.typ.map(|t| t.into()),
        crit: header.crit.is_some(),
    })
}

impl Validator {
    /// Reads the header (from the per-thread memo when this exact segment was parsed
    /// before), checks it against the policy, and copies its `kid` into `buf`. Returns the
    /// algorithm and the `kid`'s length.
    fn read_header(
        &self,
        h64: &str,
        buf: &mut Vec<u8>,
    ) -> Result<(Algorithm, Option<usize>), JwtError> {
        // `try_with`/`try_borrow`: during thread teardown (or any other surprise) the
        // memo is simply not used.
        let hit = HEADER_MEMO
            .try_with(|memo| {
                let memo = memo.try_borrow().ok()?;
                let e = memo.entries.iter().flatten().find(|e| *e.segment == *h64)?;
                Some(self.check_header(e, buf))
            })
            .ok()
            .flatten();
        if let Some(result) = hit {
            return result;
        }
        let parsed = parse_header(h64)?;
        let result = self.check_header(&parsed, buf);
        if h64.len() <= MAX_MEMO_HEADER {
            let _ = HEADER_MEMO.try_with(|memo| {
                if let Ok(mut memo) = memo.try_borrow_mut() {
                    let slot = memo.next % MEMO_ENTRIES;
                    memo.next = slot + 1;
                    if let Some(e) = memo.entries.get_mut(slot) {
                        *e = Some(parsed);
                    }
                }
            });
        }
        result
    }

    /// The policy's checks on a parsed header: algorithm allowed, no `crit`, `typ`
    /// accepted. Copies the `kid` into `buf`.
    fn check_header(
        &self,
        h: &ParsedHeader,
        buf: &mut Vec<u8>,
    ) -> Result<(Algorithm, Option<usize>), JwtError> {
        let p = &self.policy;
        if !p.algorithms.contains(&h.alg) {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        if h.crit {
            return Err(JwtError::UnsupportedCritical);
        }
        if let Some(accepted) = &p.typ {
            let ok = h
                .typ
                .as_deref()
                .is_some_and(|t| accepted.iter().any(|a| typ_matches(a, t)));
            if !ok {
                return Err(JwtError::TypeNotAccepted);
            }
        }
        Ok((
            h.alg,
            h.kid.as_deref().map(|k| {
                buf.extend_from_slice(k.as_bytes());
                k.len()
            }),
        ))
    }
}

/// Checks the registered claims. `base` is the payload the claims borrow from. The
/// context it returns has no payload, key or algorithm yet: the caller sets them.
fn check_claims(
    p: &Policy,
    c: &mut Claims<'_>,
    now: UnixTime,
    base: &[u8],
) -> Result<AuthContext, JwtError> {
    if c.cnf.is_some() {
        return Err(JwtError::SenderConstrained);
    }
    let issuer = take(&mut c.iss)
        .get()
        .map_err(|()| JwtError::InvalidClaim { claim: "iss" })?
        .ok_or(JwtError::MissingClaim { claim: "iss" })?;
    if !p.issuers.iter().any(|i| *i == issuer) {
        return Err(JwtError::IssuerNotAccepted);
    }
    let leeway = p.leeway as f64;
    let now_f = now.as_secs() as f64;
    let exp = number(take(&mut c.exp), "exp")?.ok_or(JwtError::MissingClaim { claim: "exp" })?;
    if now_f >= exp + leeway {
        return Err(JwtError::Expired {
            exp,
            now: now.as_secs(),
            leeway: p.leeway,
        });
    }
    if number(take(&mut c.nbf), "nbf")?.is_some_and(|nbf| nbf > now_f + leeway) {
        return Err(JwtError::NotYetValid);
    }
    let iat = number(take(&mut c.iat), "iat")?;
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
    // The audience values, then (below) the scopes.
    let mut texts = Vec::with_capacity(4);
    if !c.aud.is_present() && !p.client_id_audiences.is_empty() {
        // Cognito: no `aud`; bound by client id and `token_use` instead (explicitly
        // configured, see Policy::audience_from_client_id).
        let token_use = text_claim(take(&mut c.token_use), "token_use", base)?;
        let access = token_use.as_ref().is_some_and(|t| t.get(base) == "access");
        let known = client_id
            .as_ref()
            .is_some_and(|id| p.client_id_audiences.iter().any(|x| x == id.get(base)));
        if !(access && known) {
            return Err(JwtError::AudienceMismatch);
        }
    } else {
        audience(take(&mut c.aud), base, &mut texts)?;
        if !texts
            .iter()
            .any(|a| p.audiences.iter().any(|x| x == a.get(base)))
        {
            return Err(JwtError::AudienceMismatch);
        }
    }
    let audiences = texts.len();
    let subject = text_claim(take(&mut c.sub), "sub", base)?;
    let token_id = text_claim(take(&mut c.jti), "jti", base)?;
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
    // `scope` is a string (RFC 9068 §2.2.3); `scp` a string or an array (Entra, Okta).
    if let Some(s) = take(&mut c.scope)
        .get()
        .map_err(|()| JwtError::InvalidClaim { claim: "scope" })?
    {
        add_scopes(&s, base, &mut texts, audiences);
    }
    match take(&mut c.scp)
        .get()
        .map_err(|()| JwtError::InvalidClaim { claim: "scp" })?
    {
        Some(OneOrMany::One(s)) => add_scopes(&s, base, &mut texts, audiences),
        Some(OneOrMany::Many(list)) => list
            .iter()
            .for_each(|s| add_scopes(s, base, &mut texts, audiences)),
        None => {}
    }
    Ok(AuthContext {
        issuer: Text::of(&issuer, base),
        subject,
        client_id,
        token_id,
        key_id: None,
        texts,
        audiences,
        exp,
        algorithm: None,
        payload: Vec::new(),
        claims: 0..base.len(),
    })
}

/// Reads the configured extra scope claims (only for policies that name some).
fn add_scope_claims(
    claims: &[ScopeClaim],
    json: &str,
    payload: &[u8],
    texts: &mut Vec<Text>,
    from: usize,
) -> Result<(), JwtError> {
    let value: Value =
        serde_json::from_str(json).map_err(|_| JwtError::Malformed(Malformed::Payload))?;
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
                let scopes = texts.get(from..).unwrap_or_default();
                if !scopes.iter().any(|o| o.get(payload) == t) {
                    texts.push(Text::Owned(t.into()));
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
fn audience(field: Field<OneOrMany<'_>>, base: &[u8], out: &mut Vec<Text>) -> Result<(), JwtError> {
    let bad = JwtError::InvalidClaim { claim: "aud" };
    if !field.is_present() {
        return Err(JwtError::AudienceMismatch);
    }
    match field.get().map_err(|()| bad.clone())? {
        Some(OneOrMany::One(s)) => {
            out.push(Text::of(&s, base));
            Ok(())
        }
        Some(OneOrMany::Many(list)) if !list.is_empty() => {
            out.extend(list.iter().map(|s| Text::of(s, base)));
            Ok(())
        }
        _ => Err(bad),
    }
}

/// Whether an introspection `token_type` names an access token: `Bearer` (RFC 6750) or
/// `DPoP` (RFC 9449), compared case-insensitively as RFC 6749 §5.1 says.
fn is_access_token_type(token_type: &str) -> bool {
    token_type.eq_ignore_ascii_case("bearer") || token_type.eq_ignore_ascii_case("dpop")
}

/// Claims from an introspection response (RFC 7662 §2.2), checked with the same rules,
/// after `active` and `token_type`.
pub(crate) fn check_introspected(
    p: &Policy,
    payload: &[u8],
    now: UnixTime,
) -> Result<AuthContext, JwtError> {
    #[derive(Deserialize)]
    struct Active<'a> {
        #[serde(borrow)]
        active: &'a RawValue,
        /// `null` reads as absent.
        #[serde(default, borrow)]
        token_type: Option<&'a RawValue>,
    }
    if !is_object(payload) {
        return Err(JwtError::Inactive);
    }
    let active: Active<'_> = serde_json::from_slice(payload).map_err(|_| JwtError::Inactive)?;
    if active.active.get() != "true" {
        return Err(JwtError::Inactive);
    }
    // RFC 7662 §2.2 `token_type`: an active refresh token (or any other kind the server
    // describes) is not a credential for this resource (O21-18, JWTBCP-11).
    if let Some(raw) = active.token_type {
        let token_type: std::borrow::Cow<'_, str> =
            serde_json::from_str(raw.get()).map_err(|_| JwtError::NotAnAccessToken)?;
        if !is_access_token_type(&token_type) {
            return Err(JwtError::NotAnAccessToken);
        }
    }
    let json = std::str::from_utf8(payload).map_err(|_| JwtError::Malformed(Malformed::Payload))?;
    let mut claims = Claims::default();
    claims
        .read(json)
        .map_err(|_| JwtError::Malformed(Malformed::Payload))?;
    let mut ctx = check_claims(p, &mut claims, now, payload)?;
    // Spans are offsets into the payload, so they hold for the context's own copy.
    ctx.payload = payload.to_vec();
    Ok(ctx)
}
