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

/// Builds every target once, then runs each for `seconds`, as many at a time as the
/// machine has cores (each target is one libFuzzer process on one core). A target's
/// output goes to `target/fuzz-logs/<target>.log`, printed when it fails; every failure
/// is reported, not only the first.
pub(crate) fn run_all(seconds: u64) -> Result<(), String> {
    build()?;
    let queue = std::sync::Mutex::new(targets()?);
    let failures = std::sync::Mutex::new(Vec::new());
    let jobs = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop());
                    let Some(t) = next else { break };
                    let started = std::time::Instant::now();
                    let result = run_target_logged(&t, seconds);
                    let secs = started.elapsed().as_secs_f64();
                    match result {
                        Ok(()) => eprintln!("fuzz: ok     {t} ({secs:.0} s)"),
                        Err(e) => {
                            eprintln!("fuzz: FAILED {t} ({secs:.0} s): {e}");
                            if let Ok(mut f) = failures.lock() {
                                f.push(t);
                            }
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz targets failed: {}", failures.join(", ")))
    }
}

/// [`run_target`] with its output in a log file, printed on failure.
fn run_target_logged(target: &str, seconds: u64) -> Result<(), String> {
    let dir = root().join("target").join("fuzz-logs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("{target}.log"));
    let log = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let result = run_target_with(target, seconds, |cmd| {
        cmd.stdout(log).stderr(err);
    });
    if result.is_err() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        for line in tail.iter().rev() {
            eprintln!("  {target}| {line}");
        }
    }
    result
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
    run_target_with(target, seconds, |_| {})
}

fn run_target_with(
    target: &str,
    seconds: u64,
    redirect: impl FnOnce(&mut std::process::Command),
) -> Result<(), String> {
    let seeds = root().join("fuzz").join("corpus").join(target);
    if !seeds.is_dir() {
        return Err(format!(
            "fuzz target {target} has no seed corpus at {}",
            seeds.display()
        ));
    }
    let scratch = scratch_dir(target)?;
    let mut cmd = fuzz_cmd();
    cmd.args(["run", "--release", target])
        .arg(&scratch)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-max_len=8192")
        .arg("-print_final_stats=1");
    redirect(&mut cmd);
    let result = run(&mut cmd);
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
