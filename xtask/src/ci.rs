//! `cargo xtask ci`: every check, in the order that fails fastest.

use std::time::Instant;

use mcp_oauth_tests::engines::is_ci;

use crate::flags::{Ci, Demo, Interop};
use crate::harness::Engines;
use crate::util::{cargo, root, run};
use crate::{conformance, demo, fuzz, interop, layering, tools};

/// `cargo xtask ci [--fuzz-seconds N]`: the one command that runs the others.
pub(crate) fn main(flags: &Ci) -> Result<(), String> {
    let fuzz_seconds = flags.fuzz_seconds;
    let started = Instant::now();
    let mut timings = Vec::new();
    let mut step = |name: &str, f: &dyn Fn() -> Result<(), String>| -> Result<(), String> {
        eprintln!("\n==> xtask ci: {name}");
        let t = Instant::now();
        let r = f();
        timings.push((name.to_owned(), t.elapsed().as_secs_f64(), r.is_ok()));
        r.map_err(|e| format!("{name}: {e}"))
    };

    crate::harness::build_like_the_workspace();
    let result = (|| {
        step("fmt", &|| {
            run(cargo().args(["fmt", "--all", "--", "--check"]))?;
            run(cargo().args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"]))
        })?;
        step("layering", &layering::check_workspace)?;
        step("clippy", &|| {
            run(cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
        // Against real engines; without CI=true one that cannot start is left out (its
        // tests skip), with CI=true it fails the step.
        step("test", &|| {
            let engines = Engines::start(is_ci())?;
            run(cargo()
                .args(["test", "--workspace", "--locked"])
                .envs(engines.env()))
        })?;
        step("doc", &|| {
            run(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
                "doc",
                "--workspace",
                "--no-deps",
                "--locked",
            ]))
        })?;
        step("deny", &|| tools::run_deny(false))?;
        step("conformance", &|| {
            let outcome = conformance::run_dirs(&[root().join("tests").join("vectors")]);
            print!("{}", outcome.text());
            match outcome.exit_code() {
                0 => Ok(()),
                code => Err(format!("conformance exited {code}")),
            }
        })?;
        step("interop", &|| interop::main(&Interop::Server))?;
        step("interop client", &|| interop::main(&Interop::Client))?;
        step("interop as", &|| interop::main(&Interop::As))?;
        // The README's first command, so it can never silently break.
        step("demo", &|| {
            demo::main(&Demo {
                serve: false,
                listen: None,
            })
        })?;
        step("fuzz smoke", &|| fuzz::run_all(fuzz_seconds))
    })();

    eprintln!("\nxtask ci timings:");
    for (name, secs, ok) in &timings {
        eprintln!(
            "  {name:<12} {secs:>7.1} s  {}",
            if *ok { "ok" } else { "FAILED" }
        );
    }
    eprintln!(
        "  {:<12} {:>7.1} s",
        "total",
        started.elapsed().as_secs_f64()
    );
    result
}
