#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

fn run(json: &str) -> Outcome {
    let mut outcome = Outcome::default();
    run_file("t.json", json.as_bytes(), &mut outcome);
    outcome
}

const APPENDIX_B: &str = r#"{"suite": "pkce-challenge", "id": "b",
    "input": {"verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
    "expect": {"challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}}"#;

#[test]
fn passing_vector_and_report_lines() {
    let o = run(&format!("[{APPENDIX_B}]"));
    assert_eq!((o.passed(), o.failed(), o.exit_code()), (1, 0, 0));
    assert_eq!(
        o.text(),
        "pkce-challenge: 1 passed, 0 failed\nconformance: 1 passed, 0 failed\n"
    );
    assert_eq!(o.json(), json!({"passed": 1, "failed": 0, "failures": []}));
}

#[test]
fn wrong_expectation_fails_with_format_line() {
    let v = APPENDIX_B.replace("E9Mel", "X9Mel");
    let o = run(&format!("[{v}]"));
    assert_eq!((o.passed(), o.failed(), o.exit_code()), (0, 1, 1));
    let first = o.text().lines().next().unwrap().to_owned();
    assert_eq!(
        first,
        r#"FAIL t.json#b (pkce-challenge): {"challenge":"X9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"} != {"challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}"#
    );
    let j = o.json();
    assert_eq!(j["failures"][0]["id"], "b");
    assert_eq!(
        j["failures"][0]["got"]["challenge"],
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn unknown_suite_fails() {
    let o = run(r#"[{"suite": "pkce-chalenge", "id": "x", "input": {}, "expect": {}}]"#);
    assert_eq!((o.passed(), o.failed(), o.exit_code()), (0, 1, 1));
    assert!(
        o.failures[0]
            .got
            .as_str()
            .unwrap()
            .contains("unknown suite")
    );
    assert!(o.text().contains("pkce-chalenge: 0 passed, 1 failed"));
}

#[test]
fn unknown_input_key_fails() {
    let v = APPENDIX_B.replace(r#""verifier":"#, r#""verifer": "x", "verifier":"#);
    let o = run(&format!("[{v}]"));
    assert_eq!(o.failed(), 1);
    assert!(
        o.failures[0]
            .got
            .as_str()
            .unwrap()
            .contains("unknown input key \"verifer\"")
    );
}

#[test]
fn missing_or_mistyped_input_fails() {
    let o = run(
        r#"[{"suite": "pkce-challenge", "id": "x", "input": {}, "expect": {"challenge": ""}},
                   {"suite": "pkce-challenge", "id": "y", "input": {"verifier": 5}, "expect": {"challenge": ""}},
                   {"suite": "pkce-challenge", "id": "z", "input": "v", "expect": {"challenge": ""}},
                   {"suite": "pkce-challenge", "id": "w", "input": {"verifier": "v"}}]"#,
    );
    assert_eq!((o.passed(), o.failed()), (0, 4));
}

#[test]
fn unknown_vector_key_duplicate_and_missing_id_fail() {
    let extra = APPENDIX_B.replace(r#""id": "b","#, r#""id": "b", "expected": {},"#);
    let o = run(&format!("[{extra}]"));
    assert_eq!(o.failed(), 1);
    let o = run(&format!("[{APPENDIX_B}, {APPENDIX_B}]"));
    assert_eq!((o.passed(), o.failed()), (1, 1));
    assert!(o.failures[0].got.as_str().unwrap().contains("duplicate id"));
    let no_id = APPENDIX_B.replace(r#""id": "b","#, "");
    let o = run(&format!("[{no_id}]"));
    assert_eq!(o.failed(), 1);
    assert_eq!(o.failures[0].id, "[0]");
}

#[test]
fn bad_files_exit_2() {
    for bad in ["{", r#"{"suite": "pkce-challenge"}"#, "1"] {
        let o = run(bad);
        assert_eq!(o.exit_code(), 2, "{bad}");
        assert_eq!(o.text(), "conformance: 0 passed, 0 failed\n");
    }
    // A bad file outweighs failures.
    let mut o = run(r#"[{"suite": "nope", "id": "x", "input": {}, "expect": {}}]"#);
    run_file("u.json", b"nope", &mut o);
    assert_eq!(o.exit_code(), 2);
}

#[test]
fn note_is_ignored() {
    let v = APPENDIX_B.replace(
        r#""id": "b","#,
        r#""id": "b", "note": "RFC 7636 Appendix B","#,
    );
    assert_eq!(run(&format!("[{v}]")).passed(), 1);
}

#[test]
fn every_suite_is_registered_once() {
    let mut names: Vec<_> = suites::SUITES.iter().map(|s| s.name).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n);
}

/// The project's own vectors pass (CI also runs them through the command).
#[test]
fn project_vectors_pass() {
    let o = run_dirs(&[root().join("tests").join("vectors")]);
    assert_eq!(o.exit_code(), 0, "{}", o.text());
    for suite in suites::SUITES {
        assert!(
            o.suites.contains_key(suite.name),
            "no vectors for {}",
            suite.name
        );
    }
}
