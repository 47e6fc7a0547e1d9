//! `cargo xtask interop client`: our command-line client (`mcp-oauth-client`) against the
//! official MCP conformance suite (`@modelcontextprotocol/conformance`, on Node 22 from
//! npm) and against real peers: panva's oidc-provider behind the TypeScript SDK's
//! reference resource server, the SDK's own demo server with its demo authorization
//! server, and our rmcp example server.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use crate::harness::{
    Checks, Procs, build_cli, build_rmcp_server, free_port, install_peer, log_file, logs_dir,
    report, spawn, start_oidc_provider,
};
use crate::util::root;

/// The 2026-07-28 scenarios (suite `draft`, which also holds non-auth scenarios).
const DRAFT_AUTH: &[&str] = &[
    "auth/resource-mismatch",
    "auth/offline-access-scope",
    "auth/offline-access-not-supported",
    "auth/authorization-server-migration",
    "auth/iss-supported",
    "auth/iss-not-advertised",
    "auth/iss-supported-missing",
    "auth/iss-wrong-issuer",
    "auth/iss-unexpected",
    "auth/iss-normalized",
    "auth/metadata-issuer-mismatch",
];

/// One scenario's result in one run.
struct Row {
    run: String,
    scenario: String,
    passed: u32,
    failed: u32,
    verdict: &'static str,
}

fn parse_counts(line: &str) -> Option<(String, u32, u32)> {
    // "✓ auth/x: 17 passed, 0 failed" or "✗ auth/x: 11 passed, 1 failed, 2 warnings"
    let rest = line
        .strip_prefix("✓ ")
        .or_else(|| line.strip_prefix("✗ "))?;
    let (name, counts) = rest.split_once(": ")?;
    let mut nums = counts
        .split(", ")
        .filter_map(|p| p.split_whitespace().next()?.parse::<u32>().ok());
    let passed = nums.next()?;
    let failed = nums.next().unwrap_or(0) + nums.next().unwrap_or(0);
    Some((name.to_owned(), passed, failed))
}

fn conformance(
    dir: &Path,
    cli: &Path,
    label: &str,
    args: &[&str],
    expected: &[String],
    rows: &mut Vec<Row>,
) -> Result<bool, String> {
    let command = format!(
        "{} --headless --call test-tool --client-metadata-url https://conformance-test.local/client-metadata.json",
        cli.display()
    );
    let out = Command::new("npx")
        .args(["conformance", "client", "--command", &command])
        .args(args)
        .args(["-o", &logs_dir().join("conformance").display().to_string()])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("npx conformance: {e}"))?;
    // The harness prints results on stdout or stderr depending on the mode: read both.
    let stdout = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        logs_dir().join(format!(
            "conformance-{}.log",
            label.replace([' ', '/'], "_")
        )),
        &stdout,
    )
    .map_err(|e| e.to_string())?;
    let single = args
        .iter()
        .position(|a| *a == "--scenario")
        .and_then(|i| args.get(i + 1));
    let mut found = false;
    for line in stdout.lines() {
        let counts = match (single, line.trim().strip_prefix("Passed: ")) {
            // Single-scenario mode: "Passed: 2/2, 0 failed, 0 warnings".
            (Some(name), Some(rest)) => {
                let mut nums = rest
                    .split([',', '/'])
                    .filter_map(|p| p.split_whitespace().next()?.parse::<u32>().ok());
                let passed = nums.next().unwrap_or(0);
                let _total = nums.next();
                let failed = nums.next().unwrap_or(0) + nums.next().unwrap_or(0);
                Some(((*name).to_owned(), passed, failed))
            }
            _ => parse_counts(line.trim()),
        };
        if let Some((scenario, passed, mut failed)) = counts {
            if single.is_some() && !out.status.success() {
                failed = failed.max(1);
            }
            found = true;
            let verdict = match (failed, expected.contains(&scenario)) {
                (0, false) => "pass",
                (0, true) => "STALE",
                (_, true) => "expected-failure",
                (_, false) => "FAIL",
            };
            rows.push(Row {
                run: label.to_owned(),
                scenario,
                passed,
                failed,
                verdict,
            });
        }
    }
    if !found {
        return Err(format!(
            "{label}: no results from the harness; see target/interop/"
        ));
    }
    Ok(out.status.success())
}

/// `cargo xtask interop client`.
pub(crate) fn main() -> Result<(), String> {
    let dir = install_peer("conformance")?;
    let cli = build_cli()?;
    std::fs::create_dir_all(logs_dir()).map_err(|e| e.to_string())?;
    let expected_file = root().join("tests/peers/conformance/expected-failures.yml");
    let expected: Vec<String> = std::fs::read_to_string(&expected_file)
        .map_err(|e| e.to_string())?
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(str::to_owned)
        .collect();
    let ef = expected_file.display().to_string();

    let mut rows = Vec::new();
    let mut ok = true;
    // (label, harness arguments, expected failures): the auth suite at each version, the
    // 2025-03-26 suite, each 2026-07-28 auth scenario alone (so the harness also checks
    // the exit status: 0 unless the scenario expects the client to abort), and the
    // extensions with the expected-failures file.
    let none: &[String] = &[];
    let mut runs: Vec<(&str, Vec<&str>, &[String])> = vec![
        ("auth @2025-11-25", vec!["--suite", "auth"], none),
        (
            "auth @2026-07-28",
            vec!["--suite", "auth", "--spec-version", "2026-07-28"],
            none,
        ),
        (
            "auth @2025-06-18",
            vec!["--suite", "auth", "--spec-version", "2025-06-18"],
            none,
        ),
        ("backcompat", vec!["--suite", "backcompat"], none),
    ];
    for s in DRAFT_AUTH {
        runs.push(("draft @2026-07-28", vec!["--scenario", s], none));
    }
    runs.push((
        "extensions",
        vec!["--suite", "extensions", "--expected-failures", &ef],
        &expected,
    ));
    for (label, args, expected) in runs {
        ok &= conformance(&dir, &cli, label, &args, expected, &mut rows)?;
    }

    println!(
        "{:<20} {:<48} {:>6} {:>6}  verdict",
        "run", "scenario", "pass", "fail"
    );
    for r in &rows {
        println!(
            "{:<20} {:<48} {:>6} {:>6}  {}",
            r.run, r.scenario, r.passed, r.failed, r.verdict
        );
    }
    let count = |v: &str| rows.iter().filter(|r| r.verdict == v).count();
    println!(
        "conformance: {} scenario runs passed, {} failed, {} expected failures, {} stale",
        count("pass"),
        count("FAIL"),
        count("expected-failure"),
        count("STALE")
    );
    let bad = count("FAIL") + count("STALE");
    if bad > 0 || !ok {
        return Err(format!("{bad} conformance scenario runs failed"));
    }

    peers(&cli)
}

fn run_cli(cli: &Path, args: &[&str], log: &str) -> Result<String, String> {
    let out = Command::new(cli)
        .args(args)
        .stderr(log_file(log)?)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "exit {}: {stdout} (see target/interop/{log})",
            out.status
        ))
    }
}

fn expect(out: Result<String, String>, needle: &str) -> Result<(), String> {
    let out = out?;
    if out.contains(needle) {
        Ok(())
    } else {
        Err(format!("{needle:?} not in: {out}"))
    }
}

/// Our CLI against real authorization and resource servers.
fn peers(cli: &Path) -> Result<(), String> {
    let sdk_dir = install_peer("ts-sdk")?;
    let rs_exe = build_rmcp_server(false)?;
    let mut procs = Procs::new();
    let mut results = Checks::new();
    let (_, issuer) = start_oidc_provider(&mut procs, "client-oidc-provider")?;

    // 1. oidc-provider behind the TypeScript SDK's reference resource server.
    let ts_rs: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
    let mut rs = Command::new("node");
    rs.arg("jwt-resource-server.mjs")
        .current_dir(&sdk_dir)
        .env("RS_PORT", ts_rs.port().to_string())
        .env("AS_ISSUER", &issuer);
    spawn(
        &mut procs,
        rs,
        "client-ts-rs",
        ts_rs,
        "/.well-known/oauth-protected-resource/mcp",
    )?;
    let url = format!("http://{ts_rs}/mcp");
    let headless = ["--headless", "--login", "test-user", "--password", "x"];
    let mut args: Vec<&str> = headless.to_vec();
    args.extend(["--call", "whoami", &url]);
    results.push((
        "CLI -> TS SDK resource server + oidc-provider: DCR, PKCE, resource, whoami".into(),
        expect(run_cli(cli, &args, "client-ts-rs-cli.err"), "test-user"),
    ));

    // 2. Our rmcp example server + oidc-provider: step-up for echo (mcp:write), and a
    //    second run reusing the stored credential without any authorization request.
    let our_rs: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
    let mut rs = Command::new(rs_exe);
    rs.args([
        "--listen",
        &our_rs.to_string(),
        "--issuer",
        &issuer,
        "--challenge-scope",
        "mcp:tools mcp:read",
    ]);
    spawn(
        &mut procs,
        rs,
        "client-rmcp-server",
        our_rs,
        "/.well-known/oauth-protected-resource/mcp",
    )?;
    let url = format!("http://{our_rs}/mcp");
    let store = logs_dir().join("client-store.json");
    let _ = std::fs::remove_file(&store);
    let store_s = store.display().to_string();
    let mut args: Vec<&str> = headless.to_vec();
    args.extend([
        "--verbose",
        "--store",
        &store_s,
        "--call",
        "echo",
        "--args",
        r#"{"text":"interop-echo"}"#,
        &url,
    ]);
    results.push((
        "CLI -> rmcp example server + oidc-provider: whoami scope first, echo needs mcp:write (403 step-up)".into(),
        expect(run_cli(cli, &args, "client-rmcp-cli.err"), "interop-echo").and_then(|()| {
            let log = std::fs::read_to_string(logs_dir().join("client-rmcp-cli.err"))
                .unwrap_or_default();
            match log.matches("authorize:").count() {
                2 => Ok(()),
                n => Err(format!("expected 2 authorizations (first, then step-up), saw {n}")),
            }
        }),
    ));
    let mut args: Vec<&str> = vec![
        "--store",
        &store_s,
        "--no-browser",
        "--call",
        "whoami",
        &url,
    ];
    args.insert(0, "--verbose");
    results.push((
        "CLI, second run: stored credential reused, no new authorization".into(),
        run_cli(cli, &args, "client-rmcp-cli2.err").and_then(|o| {
            let log = std::fs::read_to_string(logs_dir().join("client-rmcp-cli2.err"))
                .unwrap_or_default();
            if log.contains("authorize:") {
                Err("it authorized again".into())
            } else if o.contains("test-user") {
                Ok(())
            } else {
                Err(format!("unexpected: {o}"))
            }
        }),
    ));

    // 3. The SDK's own demo server and demo authorization server.
    let (mcp_port, auth_port) = (free_port()?, free_port()?);
    let mut demo = Command::new("node");
    demo.args([
        "node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js",
        "--oauth",
    ])
    .current_dir(&sdk_dir)
    .env("MCP_PORT", mcp_port.to_string())
    .env("MCP_AUTH_PORT", auth_port.to_string());
    let demo_addr: SocketAddr = ([127, 0, 0, 1], mcp_port).into();
    spawn(
        &mut procs,
        demo,
        "client-ts-demo",
        demo_addr,
        "/.well-known/oauth-protected-resource/mcp",
    )?;
    let url = format!("http://localhost:{mcp_port}/mcp");
    let args = [
        "--headless",
        "--call",
        "greet",
        "--args",
        r#"{"name":"interop"}"#,
        &url,
    ];
    results.push((
        "CLI -> TS SDK demo server + demo authorization server: greet".into(),
        expect(run_cli(cli, &args, "client-ts-demo-cli.err"), "interop"),
    ));
    drop(procs);
    report("interop client peers", &results)
}
