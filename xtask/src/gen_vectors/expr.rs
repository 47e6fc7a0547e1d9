//! The expressions of the case file, evaluated: tokens, byte strings and JSON values.
//!
//! A token is one of
//! - `"name"`: a token of the file's `tokens` table (built once, so its randomised
//!   signature is shared by every case that uses it);
//! - `{"literal": "text"}`;
//! - `{"value": V}`: a JSON value that evaluates to a string;
//! - `{"sign": KEY, "alg"?, "kid"?, "header"?, "header_set"?, "header_remove"?, "claims"?,
//!   "claims_set"?, "claims_remove"?}`: a compact JWS of JSON header and claims (defaults:
//!   the baseline header for `alg`/`kid` and the baseline claims C0);
//! - `{"sign_raw": KEY, "alg"?, "header"?: BYTES, "payload"?: BYTES}`: a JWS over exact
//!   bytes (default header H0, default payload C0 as compact JSON);
//! - `{"join": [SEGMENT...]}`: segments joined with `.`; a segment is a literal string,
//!   `{"h"|"c"|"s": TOKEN}` (that segment of a token, as is), `{"hmac": BYTES}` (HS256
//!   over the segments so far) or BYTES (base64url-encoded);
//! - `{"template": "...{h}.{c}.{s}...", "of": TOKEN}`: `{t}` is the whole token, and the
//!   filters `{s/std}` (standard alphabet), `{c/nl10}` (a newline after 10 characters),
//!   `{c/noncanonical}` (the last character's unused bits set) change one segment.
//!
//! BYTES is `{"text": s}`, `{"hex": s}`, `{"fill": [byte, count]}`, `{"json": V}`
//! (compact), `{"b64url": V}` (decoded), `{"sig": TOKEN}` (its decoded signature) or
//! `{"concat": [BYTES...]}`, each with optional `"ops"` (see [`byte_op`]) and `"edits"`
//! (`[{"find": s, "with": s | "with_hex": s}]`, first occurrence).
//!
//! A JSON value V may contain `{"$jwk": KEY, "set"?, "remove"?, "ops"?: {member: [op]},
//! "member"?}` (a fixture key's public JWK, changed), `{"$repeat": [s, n]}` and
//! `{"$fixture": "rsa1024", "pointer": "/jwk"}`, and `{"$claims": {set}, "remove"?: [..]}`
//! (the baseline claims C0, changed).

// A generator over fixed fixtures and its own case file: an out-of-range index is a bug
// in one of them, and a panic is the right report.
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_oauth_tests::jwt::{TestKey, TestKeys, claims, header, hmac_sha256, rsa1024_fixture};
use serde_json::{Map, Value};

use super::encode::{byte_op, hex, template};

/// A randomised signature kept between runs: the signing input it was made over.
pub(super) type Signatures = BTreeMap<String, BTreeMap<String, String>>;

type R<T> = Result<T, String>;

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn unb64(s: &str) -> R<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| format!("base64url {s:?}: {e}"))
}

fn str_of<'a>(v: &'a Value, what: &str) -> R<&'a str> {
    v.as_str()
        .ok_or_else(|| format!("{what} must be a string, not {v}"))
}

/// The evaluator: keys, the named tokens (evaluated once each) and the signature store.
pub(super) struct Gen {
    keys: TestKeys,
    named: Map<String, Value>,
    built: BTreeMap<String, String>,
    signatures: Signatures,
    changed: bool,
    /// Randomised signatures made so far per context, to name the next one.
    counters: BTreeMap<String, usize>,
}

impl Gen {
    pub(super) fn new(keys: TestKeys, cases: &Value, signatures: Signatures) -> R<Gen> {
        let named = match cases.get("tokens") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("`tokens` must be an object".into()),
        };
        Ok(Gen {
            keys,
            named,
            built: BTreeMap::new(),
            signatures,
            changed: false,
            counters: BTreeMap::new(),
        })
    }

    pub(super) fn signatures_changed(&self) -> bool {
        self.changed
    }

    pub(super) fn signatures(&self) -> &Signatures {
        &self.signatures
    }

    pub(super) fn trusted_jwks(&self) -> Value {
        self.keys.jwks()
    }

    fn key(&self, v: &Value) -> R<&TestKey> {
        Ok(match str_of(v, "a key")? {
            "rs1" => &self.keys.rs1,
            "rs2" => &self.keys.rs2,
            "atk" => &self.keys.atk,
            "ec1" => &self.keys.ec1,
            "ec384" => &self.keys.ec384,
            "ed1" => &self.keys.ed1,
            other => return Err(format!("no fixture key {other:?}")),
        })
    }

    /// Signs `input`; PS* and ES* signatures come from the store while their input is
    /// unchanged, so that regenerating does not change them.
    fn sign(&mut self, key_v: &Value, alg: &str, input: &str, ctx: &str) -> R<Vec<u8>> {
        let randomised = alg.starts_with("PS") || alg.starts_with("ES");
        if !randomised {
            return Ok(self.key(key_v)?.sign_bytes(alg, input.as_bytes()));
        }
        let n = self.counters.entry(ctx.to_owned()).or_default();
        let name = format!("{ctx}#{n}");
        *n += 1;
        if let Some(kept) = self.signatures.get(&name)
            && kept.get("input").map(String::as_str) == Some(input)
        {
            return unb64(kept.get("signature").map_or("", String::as_str));
        }
        let sig = self.key(key_v)?.sign_bytes(alg, input.as_bytes());
        let entry = BTreeMap::from([
            ("input".to_owned(), input.to_owned()),
            ("signature".to_owned(), b64(&sig)),
        ]);
        self.signatures.insert(name, entry);
        self.changed = true;
        Ok(sig)
    }

    /// Evaluates a token expression; `ctx` names it for the signature store.
    pub(super) fn token(&mut self, e: &Value, ctx: &str) -> R<String> {
        if let Value::String(name) = e {
            if let Some(t) = self.built.get(name) {
                return Ok(t.clone());
            }
            let def = self
                .named
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no token named {name:?}"))?;
            let t = self.token(&def, &format!("token:{name}"))?;
            self.built.insert(name.clone(), t.clone());
            return Ok(t);
        }
        let o = e.as_object().ok_or_else(|| format!("not a token: {e}"))?;
        if let Some(v) = o.get("literal") {
            return Ok(str_of(v, "literal")?.to_owned());
        }
        if let Some(v) = o.get("value") {
            return Ok(str_of(&self.value(v)?, "value")?.to_owned());
        }
        if let Some(k) = o.get("sign") {
            return self.sign_json(k, o, ctx);
        }
        if let Some(k) = o.get("sign_raw") {
            let alg = o.get("alg").and_then(Value::as_str).unwrap_or("RS256");
            let kid = self.key(k)?.kid;
            let h = match o.get("header") {
                Some(b) => self.bytes(b, ctx)?,
                None => header(alg, kid).to_string().into_bytes(),
            };
            let p = match o.get("payload") {
                Some(b) => self.bytes(b, ctx)?,
                None => claims().to_string().into_bytes(),
            };
            let input = format!("{}.{}", b64(&h), b64(&p));
            let sig = self.sign(k, alg, &input, ctx)?;
            return Ok(format!("{input}.{}", b64(&sig)));
        }
        if let Some(segs) = o.get("join") {
            let segs = segs.as_array().ok_or("join takes an array")?;
            let mut parts: Vec<String> = Vec::new();
            for s in segs {
                let part = self.segment(s, &parts, ctx)?;
                parts.push(part);
            }
            return Ok(parts.join("."));
        }
        if let Some(t) = o.get("template") {
            let of = o.get("of").ok_or("template needs `of`")?;
            let token = self.token(of, ctx)?;
            return template(str_of(t, "template")?, &token);
        }
        Err(format!("not a token: {e}"))
    }

    fn sign_json(&mut self, k: &Value, o: &Map<String, Value>, ctx: &str) -> R<String> {
        let key = self.key(k)?;
        let default_alg = match key.kid {
            "ec1" => "ES256",
            "ec384" => "ES384",
            "ed1" => "EdDSA",
            _ => "RS256",
        };
        let alg = o.get("alg").and_then(Value::as_str).unwrap_or(default_alg);
        let kid = o.get("kid").and_then(Value::as_str).unwrap_or(key.kid);
        let mut h = match o.get("header") {
            Some(v) => self.value(v)?,
            None => header(alg, kid),
        };
        self.edit(&mut h, o.get("header_set"), o.get("header_remove"))?;
        let mut c = match o.get("claims") {
            Some(v) => self.value(v)?,
            None => claims(),
        };
        self.edit(&mut c, o.get("claims_set"), o.get("claims_remove"))?;
        // As TestKey::sign: the algorithm the header names (RS256 if it names none).
        let sig_alg = h.get("alg").and_then(Value::as_str).unwrap_or("RS256");
        let input = format!(
            "{}.{}",
            b64(h.to_string().as_bytes()),
            b64(c.to_string().as_bytes())
        );
        let sig = self.sign(k, sig_alg, &input, ctx)?;
        Ok(format!("{input}.{}", b64(&sig)))
    }

    fn edit(&self, v: &mut Value, set: Option<&Value>, remove: Option<&Value>) -> R<()> {
        let obj = v.as_object_mut().ok_or("only an object can be edited")?;
        if let Some(set) = set {
            let set = set.as_object().ok_or("`*_set` takes an object")?;
            for (k, val) in set {
                obj.insert(k.clone(), self.value(val)?);
            }
        }
        for name in remove.and_then(Value::as_array).into_iter().flatten() {
            obj.remove(str_of(name, "a member to remove")?);
        }
        Ok(())
    }

    fn segment(&mut self, s: &Value, before: &[String], ctx: &str) -> R<String> {
        if let Value::String(lit) = s {
            return Ok(lit.clone());
        }
        for (i, part) in ["h", "c", "s"].into_iter().enumerate() {
            if let Some(t) = s.get(part) {
                let token = self.token(t, ctx)?;
                return token
                    .split('.')
                    .nth(i)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("token {token:?} has no segment {part}"));
            }
        }
        if let Some(secret) = s.get("hmac") {
            let secret = self.bytes(secret, ctx)?;
            return Ok(b64(&hmac_sha256(&secret, before.join(".").as_bytes())));
        }
        Ok(b64(&self.bytes(s, ctx)?))
    }

    /// Evaluates a BYTES expression.
    fn bytes(&mut self, e: &Value, ctx: &str) -> R<Vec<u8>> {
        let mut out = if let Some(t) = e.get("text") {
            str_of(t, "text")?.as_bytes().to_vec()
        } else if let Some(h) = e.get("hex") {
            hex(str_of(h, "hex")?)?
        } else if let Some(f) = e.get("fill") {
            let (b, n) = (
                f.get(0).and_then(Value::as_u64),
                f.get(1).and_then(Value::as_u64),
            );
            match (b.and_then(|b| u8::try_from(b).ok()), n) {
                (Some(b), Some(n)) => vec![b; usize::try_from(n).map_err(|e| e.to_string())?],
                _ => return Err(format!("fill takes [byte, count], not {f}")),
            }
        } else if let Some(v) = e.get("json") {
            self.value(v)?.to_string().into_bytes()
        } else if let Some(v) = e.get("b64url") {
            unb64(str_of(&self.value(v)?, "b64url")?)?
        } else if let Some(t) = e.get("sig") {
            let token = self.token(t, ctx)?;
            unb64(token.split('.').nth(2).unwrap_or_default())?
        } else if let Some(list) = e.get("concat").and_then(Value::as_array) {
            let mut out = Vec::new();
            for b in list {
                out.extend(self.bytes(b, ctx)?);
            }
            out
        } else {
            return Err(format!("not a byte string: {e}"));
        };
        for ed in e
            .get("edits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let find = str_of(ed.get("find").unwrap_or(&Value::Null), "find")?.as_bytes();
            let with = match (ed.get("with"), ed.get("with_hex")) {
                (Some(w), _) => str_of(w, "with")?.as_bytes().to_vec(),
                (None, Some(h)) => hex(str_of(h, "with_hex")?)?,
                _ => return Err(format!("an edit needs `with` or `with_hex`: {ed}")),
            };
            let at = out
                .windows(find.len())
                .position(|w| w == find)
                .ok_or_else(|| format!("edit: {:?} not found", String::from_utf8_lossy(find)))?;
            out.splice(at..at + find.len(), with);
        }
        for op in e.get("ops").and_then(Value::as_array).into_iter().flatten() {
            out = byte_op(str_of(op, "an op")?, &out)?;
        }
        Ok(out)
    }

    /// Evaluates a JSON value, replacing `$jwk`, `$repeat` and `$fixture` objects.
    pub(super) fn value(&self, v: &Value) -> R<Value> {
        match v {
            Value::Array(a) => a.iter().map(|x| self.value(x)).collect(),
            Value::Object(o) if o.contains_key("$jwk") => self.jwk(o),
            Value::Object(o) if o.contains_key("$repeat") => {
                let r = &o["$repeat"];
                match (
                    r.get(0).and_then(Value::as_str),
                    r.get(1).and_then(Value::as_u64),
                ) {
                    (Some(s), Some(n)) => Ok(Value::String(
                        s.repeat(usize::try_from(n).map_err(|e| e.to_string())?),
                    )),
                    _ => Err(format!("$repeat takes [string, count], not {r}")),
                }
            }
            Value::Object(o) if o.contains_key("$claims") => {
                let mut c = claims();
                self.edit(&mut c, o.get("$claims"), o.get("remove"))?;
                Ok(c)
            }
            Value::Object(o) if o.contains_key("$fixture") => {
                let ptr = o.get("pointer").and_then(Value::as_str).unwrap_or("");
                match o["$fixture"].as_str() {
                    Some("rsa1024") => rsa1024_fixture()
                        .pointer(ptr)
                        .cloned()
                        .ok_or_else(|| format!("rsa1024 fixture has no {ptr}")),
                    _ => Err(format!("no fixture {}", o["$fixture"])),
                }
            }
            Value::Object(o) => o
                .iter()
                .map(|(k, x)| Ok((k.clone(), self.value(x)?)))
                .collect::<R<Map<_, _>>>()
                .map(Value::Object),
            other => Ok(other.clone()),
        }
    }

    fn jwk(&self, o: &Map<String, Value>) -> R<Value> {
        let mut jwk = self.key(&o["$jwk"])?.jwk();
        self.edit(&mut jwk, o.get("set"), o.get("remove"))?;
        if let Some(ops) = o.get("ops").and_then(Value::as_object) {
            for (member, list) in ops {
                let mut bytes = unb64(str_of(&jwk[member], member)?)?;
                for op in list.as_array().into_iter().flatten() {
                    bytes = byte_op(str_of(op, "an op")?, &bytes)?;
                }
                jwk[member] = Value::String(b64(&bytes));
            }
        }
        match o.get("member") {
            Some(m) => jwk
                .get(str_of(m, "member")?)
                .cloned()
                .ok_or_else(|| format!("the JWK has no {m}")),
            None => Ok(jwk),
        }
    }
}
