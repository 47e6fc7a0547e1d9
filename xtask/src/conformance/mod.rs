//! The conformance runner of `../shared/conformance/FORMAT.md`.
//!
//! - `suites/` holds one file per suite; `suites/mod.rs` is the registry.
//! - `codes.rs` is the one place that maps the library's typed errors to FORMAT's codes.
//! - `input.rs` reads a vector's `input` strictly: an unknown key fails the vector.

mod codes;
mod input;
mod suites;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::util::root;

/// Top-level keys a vector object may have.
const VECTOR_KEYS: &[&str] = &["suite", "id", "input", "expect", "note"];

/// Why a vector could not be run: it counts as failed, with this as the "got" side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreadable(pub(crate) String);

/// One vector's outcome.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) file: String,
    pub(crate) id: String,
    pub(crate) suite: String,
    pub(crate) expected: Value,
    pub(crate) got: Value,
}

/// The whole run.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Per suite: (passed, failed).
    pub(crate) suites: BTreeMap<String, (u64, u64)>,
    pub(crate) failures: Vec<Failure>,
    /// Files that are not valid JSON or not an array (exit status 2).
    pub(crate) bad_files: Vec<String>,
}

impl Outcome {
    pub(crate) fn passed(&self) -> u64 {
        self.suites.values().map(|(p, _)| p).sum()
    }

    pub(crate) fn failed(&self) -> u64 {
        self.suites.values().map(|(_, f)| f).sum()
    }

    /// FORMAT.md: 0 when nothing failed, 1 when a vector failed, 2 for a bad file.
    pub(crate) fn exit_code(&self) -> u8 {
        if !self.bad_files.is_empty() {
            2
        } else if self.failed() > 0 {
            1
        } else {
            0
        }
    }

    /// The text report: FAIL lines, one line per suite, the closing line.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.failures {
            out.push_str(&format!(
                "FAIL {}#{} ({}): {} != {}\n",
                f.file, f.id, f.suite, f.expected, f.got
            ));
        }
        for (suite, (p, f)) in &self.suites {
            out.push_str(&format!("{suite}: {p} passed, {f} failed\n"));
        }
        out.push_str(&format!(
            "conformance: {} passed, {} failed\n",
            self.passed(),
            self.failed()
        ));
        out
    }

    /// The `--json` report.
    pub(crate) fn json(&self) -> Value {
        let failures: Vec<Value> = self
            .failures
            .iter()
            .map(|f| {
                json!({"file": f.file, "id": f.id, "suite": f.suite,
                       "expected": f.expected, "got": f.got})
            })
            .collect();
        json!({"passed": self.passed(), "failed": self.failed(), "failures": failures})
    }
}

/// `cargo xtask conformance [--vectors DIR]... [--json]`.
pub(crate) fn main(flags: &crate::flags::Conformance) -> ExitCode {
    let dirs: Vec<PathBuf> = if flags.vectors.is_empty() {
        vec![root().join("tests").join("vectors")]
    } else {
        flags.vectors.clone()
    };
    let outcome = run_dirs(&dirs);
    if flags.json {
        println!("{}", outcome.json());
    } else {
        print!("{}", outcome.text());
    }
    ExitCode::from(outcome.exit_code())
}

/// Runs every `*.json` file under each directory (recursively, in sorted order).
pub(crate) fn run_dirs(dirs: &[PathBuf]) -> Outcome {
    let mut outcome = Outcome::default();
    for dir in dirs {
        let mut files = Vec::new();
        if let Err(e) = collect_json_files(dir, &mut files) {
            eprintln!("conformance: cannot read {}: {e}", dir.display());
            outcome.bad_files.push(dir.display().to_string());
            continue;
        }
        files.sort();
        for file in files {
            let shown = display_path(&file);
            match std::fs::read(&file) {
                Ok(bytes) => run_file(&shown, &bytes, &mut outcome),
                Err(e) => {
                    eprintln!("conformance: cannot read {shown}: {e}");
                    outcome.bad_files.push(shown);
                }
            }
        }
    }
    outcome
}

fn collect_json_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Paths under the workspace are shown relative to it.
fn display_path(path: &Path) -> String {
    let root = root();
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    abs.strip_prefix(&root)
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Runs one file's vectors into `outcome`.
pub(crate) fn run_file(file: &str, bytes: &[u8], outcome: &mut Outcome) {
    let vectors = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(v)) => v,
        Ok(_) => {
            eprintln!("conformance: {file}: not a JSON array");
            outcome.bad_files.push(file.to_owned());
            return;
        }
        Err(e) => {
            eprintln!("conformance: {file}: not valid JSON: {e}");
            outcome.bad_files.push(file.to_owned());
            return;
        }
    };
    let mut ids = BTreeSet::new();
    for (index, vector) in vectors.iter().enumerate() {
        let id = match vector.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => format!("[{index}]"),
        };
        let suite = vector
            .get("suite")
            .and_then(Value::as_str)
            .unwrap_or("<no suite>")
            .to_owned();
        let expected = vector.get("expect").cloned().unwrap_or(Value::Null);
        let result = if ids.insert(id.clone()) {
            run_vector(vector)
        } else {
            Err(Unreadable(format!("duplicate id {id:?} in this file")))
        };
        let (passed, got) = match result {
            Ok((true, _)) => (true, Value::Null),
            Ok((false, got)) => (false, got),
            Err(Unreadable(why)) => (false, Value::String(format!("unreadable vector: {why}"))),
        };
        let counts = outcome.suites.entry(suite.clone()).or_default();
        if passed {
            counts.0 += 1;
        } else {
            counts.1 += 1;
            outcome.failures.push(Failure {
                file: file.to_owned(),
                id,
                suite,
                expected,
                got,
            });
        }
    }
}

/// Runs one vector: `Ok((passed, got))`, or why it could not be run.
fn run_vector(vector: &Value) -> Result<(bool, Value), Unreadable> {
    let obj = vector
        .as_object()
        .ok_or_else(|| Unreadable("a vector must be a JSON object".into()))?;
    if let Some(k) = obj.keys().find(|k| !VECTOR_KEYS.contains(&k.as_str())) {
        return Err(Unreadable(format!("unknown vector key {k:?}")));
    }
    if !obj.get("id").is_some_and(Value::is_string) {
        return Err(Unreadable("`id` must be a string".into()));
    }
    let suite_name = obj
        .get("suite")
        .and_then(Value::as_str)
        .ok_or_else(|| Unreadable("`suite` must be a string".into()))?;
    let suite = suites::find(suite_name)
        .ok_or_else(|| Unreadable(format!("unknown suite {suite_name:?}")))?;
    let input = obj
        .get("input")
        .and_then(Value::as_object)
        .ok_or_else(|| Unreadable("`input` must be an object".into()))?;
    let expect = obj
        .get("expect")
        .and_then(Value::as_object)
        .ok_or_else(|| Unreadable("`expect` must be an object".into()))?;
    let reader = input::Input::new(input, suite.input_keys)?;
    let got = (suite.run)(&reader)?;
    let passed = (suite.compare)(expect, &got);
    Ok((passed, got))
}

#[cfg(test)]
mod tests;
