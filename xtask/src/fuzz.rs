//! `cargo xtask fuzz`: cargo-fuzz over the targets in `fuzz/`.
//!
//! cargo-fuzz needs nightly compiler flags; on the stable toolchain they are unlocked with
//! `RUSTC_BOOTSTRAP=1`, set here for the fuzz build only. Runs start from a scratch copy of
//! the committed seed corpus (`fuzz/corpus/<target>/`), so a smoke run never dirties the
//! tree; crashes land in `fuzz/artifacts/<target>/` (ignored by git) and fail the run.

use std::path::PathBuf;

use crate::flags::{Fuzz, FuzzTarget};
use crate::tools::CARGO_FUZZ;
use crate::util::{cargo, output, root, run};

/// `cargo xtask fuzz <target>|all|list [--seconds N]`.
pub(crate) fn main(flags: &Fuzz) -> Result<(), String> {
    match &flags.target {
        FuzzTarget::List => {
            for t in targets()? {
                println!("{t}");
            }
            Ok(())
        }
        FuzzTarget::All => run_all(flags.seconds),
        FuzzTarget::One(t) => {
            if !targets()?.contains(t) {
                return Err(format!(
                    "no fuzz target `{t}` (see `cargo xtask fuzz list`)"
                ));
            }
            build()?;
            run_target(t, flags.seconds)
        }
    }
}

/// Builds every target once, then runs each for `seconds`.
pub(crate) fn run_all(seconds: u64) -> Result<(), String> {
    build()?;
    for t in targets()? {
        run_target(&t, seconds)?;
    }
    Ok(())
}

fn fuzz_cmd() -> std::process::Command {
    let mut cmd = cargo();
    cmd.env("RUSTC_BOOTSTRAP", "1");
    cmd.arg("fuzz");
    cmd
}

/// The targets `fuzz/Cargo.toml` declares.
pub(crate) fn targets() -> Result<Vec<String>, String> {
    CARGO_FUZZ.ensure()?;
    let list = output(fuzz_cmd().arg("list"))?;
    Ok(list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

fn build() -> Result<(), String> {
    CARGO_FUZZ.ensure()?;
    run(fuzz_cmd().args(["build", "--release"]))
}

fn run_target(target: &str, seconds: u64) -> Result<(), String> {
    let seeds = root().join("fuzz").join("corpus").join(target);
    if !seeds.is_dir() {
        return Err(format!(
            "fuzz target {target} has no seed corpus at {}",
            seeds.display()
        ));
    }
    let scratch = scratch_dir(target)?;
    let result = run(fuzz_cmd()
        .args(["run", "--release", target])
        .arg(&scratch)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-max_len=8192")
        .arg("-print_final_stats=1"));
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn scratch_dir(target: &str) -> Result<PathBuf, String> {
    let dir = root()
        .join("target")
        .join("fuzz-scratch")
        .join(format!("{target}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
