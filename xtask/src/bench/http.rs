//! `cargo xtask bench http [--json] [--seconds N]`: the same stateless MCP tool call
//! (`tools/call whoami`) under load from wrk, on loopback, against: the rmcp example server
//! unprotected, protected with the verified-token cache, protected without it, protected
//! and sent a forged token, and the TypeScript SDK reference server (bearer middleware +
//! jose). Tokens come from oidc-provider (client credentials, audience = each server).
//!
//! With `taskset` available (and two or more cores) every server runs on core 0 (the Rust
//! ones with one tokio worker, node on its one event loop) and wrk on core 1: each target
//! gets one whole core and the load generator never competes with it. Unpinned, three
//! busy threads on two cores made runs bimodal (the same server measured 28 or 42 µs of
//! CPU per request from one run to the next).

use std::net::SocketAddr;
use std::process::Command;

use serde_json::{Map, Value, json};

use crate::harness::{Procs, build_rmcp_server, cc_token, forge, free_port, install_peer, spawn};
use crate::util::{root, run};

const LUA: &str = r#"
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
"#;

fn ensure_wrk() -> Result<(), String> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("bench: installing wrk from Debian's packages");
    run(Command::new("apt-get").args(["install", "-y", "-qq", "wrk"]))
        .or_else(|_| {
            run(Command::new("apt-get").args(["update", "-qq"]))?;
            run(Command::new("apt-get").args(["install", "-y", "-qq", "wrk"]))
        })
        .map_err(|e| format!("wrk is needed and could not be installed: {e}"))
}

struct Load {
    rps: f64,
    p99_ms: f64,
    non_2xx: u64,
    requests: u64,
}

/// `program` pinned to `core` when pinning is on.
fn pinned(program: impl AsRef<std::ffi::OsStr>, core: Option<&str>) -> Command {
    match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.args(["-c", core]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Whether targets and load generator can get a core each.
fn can_pin() -> bool {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores >= 2 && Command::new("taskset").arg("--version").output().is_ok()
}

fn wrk(
    url: &str,
    token: &str,
    seconds: u64,
    script: &std::path::Path,
    core: Option<&str>,
) -> Result<Load, String> {
    let out = pinned("wrk", core)
        .args(["-t1", "-c32", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .env("BENCH_TOKEN", token)
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l.trim_start_matches(prefix).trim().to_owned())
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let p99 = field("99%").ok_or_else(|| format!("no 99% latency in wrk output:\n{text}"))?;
    let p99_ms = parse_duration_ms(&p99).ok_or_else(|| format!("latency {p99:?}"))?;
    let non_2xx = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Ok(Load {
        rps,
        p99_ms,
        non_2xx,
        requests,
    })
}

/// wrk prints latencies as `812.00us`, `1.23ms` or `2.10s`.
fn parse_duration_ms(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

/// `cargo xtask bench http [--json] [--seconds N] [--rounds N]` (`rounds` at least 1).
pub(crate) fn main(json_out: bool, seconds: u64, rounds: u64) -> Result<(), String> {
    ensure_wrk()?;
    let pin = can_pin();
    let (server_core, load_core) = if pin {
        (Some("0"), Some("1"))
    } else {
        eprintln!("bench: taskset or a second core missing; running unpinned");
        (None, None)
    };
    let op_dir = install_peer("oidc-provider")?;
    let sdk_dir = install_peer("ts-sdk")?;
    let exe = build_rmcp_server(true)?;
    let dir = root().join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script = dir.join("tools-call.lua");
    std::fs::write(&script, LUA).map_err(|e| e.to_string())?;

    let mut procs = Procs::new();
    let op_port = free_port()?;
    let op: SocketAddr = ([127, 0, 0, 1], op_port).into();
    let mut c = Command::new("node");
    c.arg("op-server.mjs")
        .current_dir(&op_dir)
        .env("OP_PORT", op_port.to_string());
    spawn(
        &mut procs,
        c,
        "bench-oidc-provider",
        op,
        "/.well-known/oauth-authorization-server",
    )?;
    let issuer = format!("http://{op}");

    // name, extra flags (None: the TypeScript reference)
    let targets: [(&str, Option<&[&str]>); 4] = [
        ("unprotected", Some(&["--unprotected"])),
        ("protected_cached", Some(&[])),
        ("protected_uncached", Some(&["--no-token-cache"])),
        ("ts_reference", None),
    ];
    let mut urls = Map::new();
    let mut tokens = Map::new();
    for (name, flags) in targets {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let url = format!("http://{addr}/mcp");
        let mut c = match flags {
            Some(flags) => {
                let mut c = pinned(&exe, server_core);
                if pin {
                    c.env("TOKIO_WORKER_THREADS", "1");
                }
                c.args([
                    "--listen",
                    &addr.to_string(),
                    "--issuer",
                    &issuer,
                    "--stateless",
                    "--no-guard",
                ])
                .args(flags);
                c
            }
            None => {
                let mut c = pinned("node", server_core);
                c.arg("jwt-resource-server.mjs")
                    .current_dir(&sdk_dir)
                    .env("RS_PORT", addr.port().to_string())
                    .env("AS_ISSUER", &issuer)
                    .env("RESOURCE", &url);
                c
            }
        };
        c.env("RUST_LOG", "off");
        let ready = if name == "unprotected" {
            ""
        } else {
            "/.well-known/oauth-protected-resource/mcp"
        };
        spawn(&mut procs, c, &format!("bench-{name}"), addr, ready)?;
        tokens.insert(name.to_owned(), json!(cc_token(op, &url, "mcp:tools")?));
        urls.insert(name.to_owned(), json!(url));
    }
    let forged = forge(
        tokens
            .get("protected_cached")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )?;

    let runs: [(&str, &str, String); 5] = [
        ("unprotected", "unprotected", String::new()),
        (
            "protected_cached",
            "protected_cached",
            tokens
                .get("protected_cached")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        (
            "protected_uncached",
            "protected_uncached",
            tokens
                .get("protected_uncached")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        ("invalid", "protected_cached", forged),
        (
            "ts_reference",
            "ts_reference",
            tokens
                .get("ts_reference")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
    ];
    // Interleaved rounds: drift on a noisy machine hits every target alike; medians kept.
    let mut all: Vec<Vec<(f64, f64)>> = vec![Vec::new(); runs.len()];
    let mut totals = vec![0u64; runs.len()];
    // Warm every server up (JIT, caches, connection pools) before anything is recorded.
    for (_, target, token) in &runs {
        let url = urls
            .get(*target)
            .and_then(Value::as_str)
            .unwrap_or_default();
        wrk(url, token, 1, &script, load_core)?;
    }
    for _ in 0..rounds {
        for (i, (label, target, token)) in runs.iter().enumerate() {
            let url = urls
                .get(*target)
                .and_then(Value::as_str)
                .unwrap_or_default();
            let load = wrk(url, token, seconds, &script, load_core)?;
            let expect_errors = *label == "invalid";
            if !expect_errors && load.non_2xx > 0 {
                return Err(format!(
                    "{label}: {} of {} responses were not 2xx (see target/interop/bench-*.err)",
                    load.non_2xx, load.requests
                ));
            }
            if expect_errors && load.non_2xx < load.requests {
                return Err(format!(
                    "invalid: {} of {} forged-token requests were accepted",
                    load.requests - load.non_2xx,
                    load.requests
                ));
            }
            if let (Some(a), Some(t)) = (all.get_mut(i), totals.get_mut(i)) {
                a.push((load.rps, load.p99_ms));
                *t += load.requests;
            }
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let mut result = Map::new();
    let mut p99 = Map::new();
    let mut lines = Vec::new();
    for (i, (label, _, _)) in runs.iter().enumerate() {
        let a = all.get(i).cloned().unwrap_or_default();
        let rps_all: Vec<f64> = a.iter().map(|x| x.0).collect();
        let (lo, hi) = (
            rps_all.iter().copied().fold(f64::MAX, f64::min),
            rps_all.iter().copied().fold(0.0, f64::max),
        );
        let rps = median(rps_all);
        let p = median(a.iter().map(|x| x.1).collect());
        result.insert((*label).to_owned(), json!(rps.round()));
        p99.insert((*label).to_owned(), json!((p * 1000.0).round() / 1000.0));
        lines.push(format!(
            "  {label:<19} {rps:>9.0} req/s (spread {lo:.0}..{hi:.0})   p99 {p:>8.3} ms   ({} requests)",
            totals.get(i).copied().unwrap_or_default()
        ));
    }
    result.insert("p99_ms".into(), Value::Object(p99));
    if json_out {
        println!("{}", Value::Object(result));
    } else {
        let get = |k: &str| result.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        let placement = if pin {
            "each server on core 0 (one tokio worker), wrk on core 1"
        } else {
            "unpinned, 2 cores shared with wrk"
        };
        println!(
            "bench http ({rounds} interleaved rounds of {seconds} s, wrk -t1 -c32, loopback, {placement}; medians):"
        );
        for l in lines {
            println!("{l}");
        }
        println!(
            "  ratios: protected_cached/unprotected {:.3}, protected_uncached/ts_reference {:.2}",
            get("protected_cached") / get("unprotected"),
            get("protected_uncached") / get("ts_reference")
        );
    }
    Ok(())
}
