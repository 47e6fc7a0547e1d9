//! `cargo xtask bench jwt|tenant [--json] [--rounds N] [--ms N]`: builds and runs the
//! benchmark binary `tests/benches/<name>.rs`, pinned to one core with `taskset` when the machine
//! has it, so every variant is measured side by side in one process.

use crate::util::{Args, cargo, run};

pub(crate) fn main(args: &[String]) -> Result<(), String> {
    if args.first().is_some_and(|a| a == "http") {
        return crate::bench_http::main(args.get(1..).unwrap_or_default());
    }
    let args = Args::parse(args, &["--rounds", "--ms"], &["--json"])?;
    let bench = match args.positionals.as_slice() {
        [b] if b == "jwt" || b == "tenant" => b.clone(),
        _ => {
            return Err(
                "usage: cargo xtask bench jwt|tenant [--json] [--rounds N] [--ms N] | bench http [--json] [--seconds N]".into(),
            );
        }
    };
    let rounds = args.number("--rounds", 5)?;
    let ms = args.number("--ms", 400)?;
    let exe = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let pinned = std::process::Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok();
    let mut cmd = if pinned {
        let mut c = std::process::Command::new("taskset");
        c.args(["-c", "0"]).arg(exe);
        c.current_dir(crate::util::root());
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
        &bench,
        "--",
    ])
    .env("JWT_BENCH_ROUNDS", rounds.to_string())
    .env("JWT_BENCH_MS", ms.to_string())
    .env("TENANT_BENCH_ROUNDS", rounds.to_string())
    .env("TENANT_BENCH_MS", ms.to_string());
    if args.switch("--json") {
        cmd.arg("--json");
    }
    run(&mut cmd)
}
