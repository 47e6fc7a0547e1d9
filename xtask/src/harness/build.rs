//! Building the example programs and the CLI, and finding them where cargo put them:
//! in the target directory `cargo metadata` reports, so `CARGO_TARGET_DIR` and
//! `build.target-dir` are honoured.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::util::{cargo, output, run};

/// Cargo's target directory for this workspace.
pub(crate) fn target_dir() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let json = output(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
        target_dir_of(&json)
    })
    .clone()
}

/// The `target_directory` member of `cargo metadata`'s output.
fn target_dir_of(metadata: &str) -> Result<PathBuf, String> {
    let v: serde_json::Value =
        serde_json::from_str(metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    v.get("target_directory")
        .and_then(serde_json::Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata has no target_directory".to_owned())
}

/// `<target>/<profile>/[examples/]<name><EXE_SUFFIX>`.
fn program(target: &Path, release: bool, example: bool, name: &str) -> PathBuf {
    let mut p = target.join(if release { "release" } else { "debug" });
    if example {
        p.push("examples");
    }
    p.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Set by `cargo xtask ci`: build programs the way `cargo test --workspace` resolved the
/// workspace's features (`--workspace --examples --bins`), so the interop and demo steps
/// reuse every dependency the test step compiled. Built alone with `-p`, a package gets
/// its own feature set, and rmcp, hyper and the rest are compiled a second time (most of
/// the interop steps' three cold minutes). A user's `cargo xtask demo` builds only what
/// it runs.
static WORKSPACE_BUILD: AtomicBool = AtomicBool::new(false);

/// Builds later programs with the workspace's unified features (see [`WORKSPACE_BUILD`]).
pub(crate) fn build_like_the_workspace() {
    WORKSPACE_BUILD.store(true, Ordering::Relaxed);
}

/// `cargo build` for `packages` and `targets` (`--example X`, `--bin Y`), or for the
/// whole workspace when [`build_like_the_workspace`] was called (debug builds only).
fn build_command(
    packages: &[&str],
    targets: &[(&str, &str)],
    release: bool,
) -> std::process::Command {
    let mut cmd = cargo();
    cmd.args(["build", "--quiet"]);
    if WORKSPACE_BUILD.load(Ordering::Relaxed) && !release {
        cmd.args(["--workspace", "--examples", "--bins"]);
        return cmd;
    }
    for p in packages {
        cmd.args(["-p", p]);
    }
    for (kind, name) in targets {
        cmd.args([kind, name]);
    }
    cmd
}

/// Builds `examples` of `packages` in one cargo call; returns their paths, in order.
pub(crate) fn build_examples(
    packages: &[&str],
    examples: &[&str],
    release: bool,
) -> Result<Vec<PathBuf>, String> {
    let targets: Vec<(&str, &str)> = examples.iter().map(|e| ("--example", *e)).collect();
    let mut cmd = build_command(packages, &targets, release);
    if release {
        cmd.arg("--release");
    }
    run(&mut cmd)?;
    let target = target_dir()?;
    Ok(examples
        .iter()
        .map(|e| program(&target, release, true, e))
        .collect())
}

/// Builds the rmcp example server and returns its path.
pub(crate) fn build_rmcp_server(release: bool) -> Result<PathBuf, String> {
    build_examples(&["mcp-oauth-transport-adapters"], &["rmcp_server"], release)?
        .pop()
        .ok_or_else(|| "no rmcp_server".to_owned())
}

/// Builds the `mcp-oauth-client` command and returns its path.
pub(crate) fn build_cli() -> Result<PathBuf, String> {
    run(&mut build_command(
        &["mcp-oauth-cli"],
        &[("--bin", "mcp-oauth-client")],
        false,
    ))?;
    Ok(program(&target_dir()?, false, false, "mcp-oauth-client"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn programs_live_under_the_reported_target_dir() {
        let t = target_dir_of(r#"{"target_directory": "/x/tgt", "packages": []}"#).unwrap();
        assert_eq!(t, PathBuf::from("/x/tgt"));
        let suffix = std::env::consts::EXE_SUFFIX;
        assert_eq!(
            program(&t, false, true, "as_server"),
            PathBuf::from(format!("/x/tgt/debug/examples/as_server{suffix}"))
        );
        assert_eq!(
            program(&t, true, false, "cli"),
            PathBuf::from(format!("/x/tgt/release/cli{suffix}"))
        );
        assert!(target_dir_of("{}").is_err());
    }

    #[test]
    fn the_target_dir_is_cargos() {
        // Whatever CARGO_TARGET_DIR says when the tests run, cargo metadata agrees.
        let t = target_dir().unwrap();
        if let Some(env) = std::env::var_os("CARGO_TARGET_DIR") {
            assert_eq!(t, crate::util::root().join(env));
        } else {
            assert!(t.is_absolute());
        }
    }
}
