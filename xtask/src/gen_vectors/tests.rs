#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::encode::byte_op;
use super::*;

fn generate_all() -> (Vec<Value>, bool) {
    let cases = read_json(&root().join(CASES)).unwrap();
    let text = std::fs::read_to_string(root().join(SIGNATURES)).unwrap();
    let keys = TestKeys::load().unwrap();
    let mut g = Gen::new(keys, &cases, serde_json::from_str(&text).unwrap()).unwrap();
    let v = generate(&mut g, &cases).unwrap();
    (v, g.signatures_changed())
}

#[test]
fn the_committed_vectors_are_what_the_cases_generate() {
    // The proof that the data-driven generator is the old one: byte-identical output,
    // and no randomised signature had to be made afresh.
    let (vectors, changed) = generate_all();
    let mut text = serde_json::to_string_pretty(&Value::Array(vectors)).unwrap();
    text.push('\n');
    let committed = std::fs::read_to_string(root().join(OUTPUT)).unwrap();
    assert!(
        !changed,
        "a randomised signature is missing from {SIGNATURES}"
    );
    assert!(
        text == committed,
        "{OUTPUT} differs from what {CASES} generates"
    );
}

fn gen_with(cases: Value) -> Result<Vec<Value>, String> {
    let mut g = Gen::new(TestKeys::load().unwrap(), &cases, BTreeMap::new())?;
    generate(&mut g, &cases)
}

#[test]
fn a_randomised_signature_is_kept_for_its_input_only() {
    let cases =
        json!({"suite": "s", "cases": [{"id": "a", "token": {"sign": "ec1"}, "expect": "x"}]});
    let mut g = Gen::new(TestKeys::load().unwrap(), &cases, BTreeMap::new()).unwrap();
    let first = generate(&mut g, &cases).unwrap();
    assert!(g.signatures_changed());
    let kept = g.signatures().clone();
    assert_eq!(kept.len(), 1);
    let mut again = Gen::new(TestKeys::load().unwrap(), &cases, kept.clone()).unwrap();
    assert_eq!(generate(&mut again, &cases).unwrap(), first);
    assert!(!again.signatures_changed());
    // Another input under the same name is signed afresh.
    let other = json!({"suite": "s", "cases": [{"id": "a", "token": {"sign": "ec1", "claims_set": {"sub": "b"}}, "expect": "x"}]});
    let mut g3 = Gen::new(TestKeys::load().unwrap(), &other, kept).unwrap();
    generate(&mut g3, &other).unwrap();
    assert!(g3.signatures_changed());
}

#[test]
fn bad_cases_are_errors_naming_the_case() {
    let e = gen_with(
        json!({"suite": "s", "cases": [{"id": "a", "token": {"sign": "nokey"}, "expect": "x"}]}),
    );
    assert!(e.unwrap_err().contains("case a"));
    let e = gen_with(
        json!({"suite": "s", "cases": [{"id": "a", "token": "t0", "expect": "x", "typo": 1}]}),
    );
    assert!(e.unwrap_err().contains("typo"));
    let e = gen_with(json!({"suite": "s", "cases": [{"id": "a", "token": {"literal": ""}}]}));
    assert!(e.unwrap_err().contains("expect"));
    let dup = json!({"id": "a", "token": {"literal": ""}, "expect": "x"});
    let e = gen_with(json!({"suite": "s", "cases": [dup.clone(), dup]}));
    assert!(e.unwrap_err().contains("duplicate"));
}

#[test]
fn expect_shorthands_and_defaults() {
    let v = gen_with(json!({"suite": "s", "cases": [
        {"id": "a", "token": {"literal": "x"}, "expect": ["mcp:read"]},
        {"id": "b", "token": {"literal": "x"}, "expect": "invalid_token", "now": 5, "policy": {}}
    ]}))
    .unwrap();
    assert_eq!(
        v[0]["expect"],
        json!({"ok": true, "sub": "user-1", "scopes": ["mcp:read"]})
    );
    assert_eq!(v[0]["input"]["now"], json!(N));
    assert_eq!(v[0]["input"]["policy"], default_policy());
    assert_eq!(v[1]["expect"], json!({"error": "invalid_token"}));
    assert_eq!(
        (
            v[1]["input"]["now"].clone(),
            v[1]["input"]["policy"].clone()
        ),
        (json!(5), json!({}))
    );
}

#[test]
fn byte_ops() {
    let sig: Vec<u8> = (1..=64).collect();
    let twin = byte_op("high-s", &sig).unwrap();
    assert_eq!(&twin[..32], &sig[..32]);
    assert_eq!(byte_op("high-s", &twin).unwrap(), sig, "n - (n - s) = s");
    let der = byte_op("der", &sig).unwrap();
    assert_eq!(&der[..4], &[0x30, 68, 0x02, 32]);
    assert_eq!(byte_op("flip-last", &[0, 0]).unwrap(), [0, 1]);
    assert_eq!(byte_op("drop-first", &[1, 2]).unwrap(), [2]);
    assert_eq!(byte_op("r-zero", &[1, 2, 3, 4]).unwrap(), [0, 0, 3, 4]);
    assert!(byte_op("nope", &[1]).is_err());
    assert!(byte_op("flip-first", &[]).is_err());
}
