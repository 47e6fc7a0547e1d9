//! `cargo xtask bench jwt|tenant [--json] [--rounds N] [--ms N]`: builds and runs the
//! benchmark binary `tests/benches/<name>.rs`, pinned to one core with `taskset` when the machine
//! has it, so every variant is measured side by side in one process.

mod http;

use crate::flags::Bench;
use crate::util::{cargo, root, run};

/// `cargo xtask bench jwt|tenant|http ...`.
pub(crate) fn main(flags: &Bench) -> Result<(), String> {
    let (bench, json, rounds, ms) = match flags {
        Bench::Http {
            json,
            seconds,
            rounds,
        } => return http::main(*json, *seconds, *rounds),
        Bench::Binary {
            name,
            json,
            rounds,
            ms,
        } => (name, *json, *rounds, *ms),
    };
    let exe = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let pinned = std::process::Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok();
    let mut cmd = if pinned {
        let mut c = std::process::Command::new("taskset");
        c.args(["-c", "0"]).arg(exe);
        c.current_dir(root());
        c
    } else {
        eprintln!("xtask bench: taskset not found; running unpinned");
        cargo()
    };
    cmd.args([
        "bench",
        "--quiet",
        "-p",
        "mcp-oauth-tests",
        "--bench",
        bench,
        "--",
    ])
    .env("JWT_BENCH_ROUNDS", rounds.to_string())
    .env("JWT_BENCH_MS", ms.to_string())
    .env("TENANT_BENCH_ROUNDS", rounds.to_string())
    .env("TENANT_BENCH_MS", ms.to_string());
    if json {
        cmd.arg("--json");
    }
    run(&mut cmd)
}
