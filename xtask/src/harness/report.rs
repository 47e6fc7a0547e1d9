//! Log files under `target/interop/` and the pass/fail report of a run of checks.

use std::path::PathBuf;

use crate::util::root;

/// Named checks and their outcomes, in order.
pub(crate) type Checks = Vec<(String, Result<(), String>)>;

/// Where the servers' and clients' logs go: `target/interop/` under the workspace root.
pub(crate) fn logs_dir() -> PathBuf {
    root().join("target").join("interop")
}

/// Creates (or truncates) `target/interop/<name>`.
pub(crate) fn log_file(name: &str) -> Result<std::fs::File, String> {
    let dir = logs_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::File::create(dir.join(name)).map_err(|e| e.to_string())
}

/// The report's lines and whether any check failed.
fn lines(label: &str, results: &[(String, Result<(), String>)]) -> (Vec<String>, usize) {
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    let mut out: Vec<String> = results
        .iter()
        .map(|(name, r)| match r {
            Ok(()) => format!("{label}: ok   {name}"),
            Err(e) => format!("{label}: FAIL {name}: {e}"),
        })
        .collect();
    out.push(format!(
        "{label}: {} passed, {failed} failed",
        results.len() - failed
    ));
    (out, failed)
}

/// Prints one line per check and a total; fails when any check failed.
pub(crate) fn report(label: &str, results: &[(String, Result<(), String>)]) -> Result<(), String> {
    let (lines, failed) = lines(label, results);
    for l in lines {
        println!("{l}");
    }
    if failed > 0 {
        Err(format!("{label}: {failed} checks failed"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_fails_the_report() {
        let results = vec![
            ("a".to_owned(), Ok(())),
            ("b".to_owned(), Err("boom".to_owned())),
        ];
        let (l, failed) = lines("x", &results);
        assert_eq!(failed, 1);
        assert_eq!(l, ["x: ok   a", "x: FAIL b: boom", "x: 1 passed, 1 failed"]);
        assert!(report("x", &results).is_err());
        assert!(report("x", &results[..1]).is_ok());
    }
}
