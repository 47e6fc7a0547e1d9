//! `cargo xtask gen-vectors`: writes `tests/vectors/jwt.json`, the `jwt-validate`
//! vectors, from the cases in `xtask/vectors/jwt.json` and the fixed test keys in
//! `tests/fixtures/jwt/`. The cases are data (ids, notes, how each token is built, the key
//! set, policy and expected outcome); this module only signs and encodes (`expr.rs`).
//!
//! Every vector is the attack catalogue's baseline token T0 (`../shared/research/
//! attacks.md`, section 0) with one change; the `note` names the catalogue row.
//!
//! RSA PKCS#1 v1.5, HMAC and Ed25519 signatures are deterministic. RSA-PSS and ECDSA
//! signatures are randomised by their algorithms, so a fresh run would change those
//! tokens every time: they are kept in `xtask/vectors/jwt.signatures.json`, keyed by the
//! token that needs them and reused while their signing input is unchanged (a changed
//! case is signed afresh and the file updated). Regenerating is therefore byte-identical.

mod encode;
mod expr;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mcp_oauth_tests::jwt::{ISSUER, N, RESOURCE, TestKeys};
use serde_json::{Map, Value, json};

use crate::util::root;
use expr::Gen;

/// The case file, the signature store and the output, relative to the workspace root.
const CASES: &str = "xtask/vectors/jwt.json";
const SIGNATURES: &str = "xtask/vectors/jwt.signatures.json";
const OUTPUT: &str = "tests/vectors/jwt.json";

/// `cargo xtask gen-vectors`.
pub(crate) fn main() -> Result<(), String> {
    let cases = read_json(&root().join(CASES))?;
    let sig_path = root().join(SIGNATURES);
    let signatures = match std::fs::read_to_string(&sig_path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{SIGNATURES}: {e}"))?,
        Err(_) => BTreeMap::new(),
    };
    let keys = TestKeys::load().map_err(|e| e.0)?;
    let mut g = Gen::new(keys, &cases, signatures)?;
    let vectors = generate(&mut g, &cases)?;
    write_pretty(&root().join(OUTPUT), &Value::Array(vectors.clone()))?;
    if g.signatures_changed() {
        write_pretty(&sig_path, &json!(g.signatures()))?;
        println!("updated {SIGNATURES} (new randomised signatures)");
    }
    println!("wrote {} vectors to {OUTPUT}", vectors.len());
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_pretty(path: &PathBuf, v: &Value) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The policy every vector has unless it says otherwise.
fn default_policy() -> Value {
    json!({"issuers": [ISSUER], "audiences": [RESOURCE]})
}

/// Members a case may have; anything else is a typo and an error.
const CASE_KEYS: &[&str] = &["id", "note", "token", "jwks", "now", "policy", "expect"];

/// Every case of the file, in order, as FORMAT.md vectors.
fn generate(g: &mut Gen, cases: &Value) -> Result<Vec<Value>, String> {
    let suite = cases
        .get("suite")
        .and_then(Value::as_str)
        .ok_or("cases: no suite")?;
    let list = cases
        .get("cases")
        .and_then(Value::as_array)
        .ok_or("cases: no cases array")?;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(list.len());
    for case in list {
        let obj = case.as_object().ok_or("a case is not an object")?;
        let id = obj
            .get("id")
            .and_then(Value::as_str)
            .ok_or("a case has no id")?;
        let fail = |e: String| format!("case {id}: {e}");
        if let Some(k) = obj.keys().find(|k| !CASE_KEYS.contains(&k.as_str())) {
            return Err(fail(format!("unknown member `{k}`")));
        }
        if !seen.insert(id.to_owned()) {
            return Err(fail("duplicate id".into()));
        }
        let token = obj.get("token").ok_or_else(|| fail("no token".into()))?;
        let token = g.token(token, id).map_err(fail)?;
        let jwks = match obj.get("jwks") {
            None => g.trusted_jwks(),
            Some(v) => g.value(v).map_err(fail)?,
        };
        let now = obj.get("now").cloned().unwrap_or(json!(N));
        let policy = obj.get("policy").cloned().unwrap_or_else(default_policy);
        let expect = match obj.get("expect") {
            None => return Err(fail("no expect".into())),
            Some(Value::String(code)) => json!({ "error": code }),
            Some(Value::Array(scopes)) => json!({"ok": true, "sub": "user-1", "scopes": scopes}),
            Some(other) => other.clone(),
        };
        let mut v = Map::new();
        v.insert("suite".into(), json!(suite));
        v.insert("id".into(), json!(id));
        if let Some(note) = obj.get("note") {
            v.insert("note".into(), note.clone());
        }
        v.insert(
            "input".into(),
            json!({"token": token, "jwks": jwks, "now": now, "policy": policy}),
        );
        v.insert("expect".into(), expect);
        out.push(Value::Object(v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
