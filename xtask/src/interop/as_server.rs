//! `cargo xtask interop as`: the official MCP conformance suite's authorization-server
//! scenarios against our authorization server (the demo stack's), then the official
//! TypeScript SDK client against the demo stack.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::harness::{
    Checks, free_port, http, install_peer, log_file, logs_dir, report, start_stack,
};

/// `cargo xtask interop as`: the official conformance suite's authorization-server
/// scenarios against our authorization server, then the official TypeScript SDK client
/// against the demo stack.
pub(crate) fn main() -> Result<(), String> {
    let conf = install_peer("conformance")?;
    let sdk = install_peer("ts-sdk")?;
    let stack = start_stack(None, true)?;
    let as_addr = stack.as_addr;
    let mut results = Checks::new();

    // 1. The conformance suite's `authorization` scenarios. A client registered by DCR
    //    with the harness's callback; the "open this URL in a browser" step is a GET of
    //    the authorization URL (consent is automatic) and of the redirect it answers.
    let cb_port = free_port()?;
    let reg = serde_json::json!({
        "client_name": "conformance", "redirect_uris": [format!("http://127.0.0.1:{cb_port}/callback")],
        "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
        "application_type": "native"
    });
    let r = http(
        "POST",
        as_addr,
        "/register",
        &[("Content-Type", "application/json".into())],
        &reg.to_string(),
    )?;
    let client: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("register: {e}: {}", r.body))?;
    let client_id = client
        .get("client_id")
        .and_then(serde_json::Value::as_str)
        .ok_or("no client_id")?
        .to_owned();
    let out_dir = logs_dir().join("conformance-as");
    let _ = std::fs::remove_dir_all(&out_dir);
    let log = logs_dir().join("conformance-as.log");
    let mut harness = Command::new("npx")
        .args([
            "conformance",
            "authorization",
            "--url",
            &stack.issuer,
            "--client-id",
            &client_id,
            "--resource",
            &stack.mcp_url,
            "-p",
            &cb_port.to_string(),
            "-o",
            &out_dir.display().to_string(),
        ])
        .current_dir(&conf)
        .stdout(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .stderr(log_file("conformance-as.err")?)
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut auth_url = None;
    while start.elapsed().as_secs() < 60 && auth_url.is_none() {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        auth_url = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&stack.issuer) && l.contains("/authorize"))
            .map(str::to_owned);
        if let Ok(Some(_)) = harness.try_wait() {
            break;
        }
    }
    match auth_url {
        Some(u) => {
            let path = u.trim_start_matches(&stack.issuer).to_owned();
            let r = http("GET", as_addr, &path, &[], "")?;
            let loc = r
                .header("location")
                .ok_or("no redirect from /authorize")?
                .to_owned();
            let cb: SocketAddr = ([127, 0, 0, 1], cb_port).into();
            let cb_path = loc
                .split_once(&format!("127.0.0.1:{cb_port}"))
                .map(|(_, p)| p.to_owned())
                .ok_or_else(|| format!("redirect to {loc}"))?;
            // The suite prints the URL before its callback server listens: a GET sent
            // too early is refused, and the suite then waits five minutes for a callback
            // that never comes (seen in CI). Retry until it connects, for 20 s at most.
            let deadline = Instant::now() + std::time::Duration::from_secs(20);
            while http("GET", cb, &cb_path, &[], "").is_err() && Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        None => {
            let _ = harness.kill();
            return Err("the conformance harness printed no authorization URL; see target/interop/conformance-as.log".into());
        }
    }
    let status = harness.wait().map_err(|e| e.to_string())?;
    let mut checks = Vec::new();
    for entry in walk(&out_dir) {
        if entry.ends_with("checks.json") {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&entry).unwrap_or_default())
                    .unwrap_or_default();
            let scenario = entry
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for c in v.as_array().into_iter().flatten() {
                checks.push((
                    scenario.clone(),
                    c.get("id")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_owned(),
                    c.get("status")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_owned(),
                ));
            }
        }
    }
    let bad: Vec<String> = checks
        .iter()
        .filter(|(_, _, s)| s != "SUCCESS" && s != "INFO")
        .map(|(sc, id, s)| format!("{sc}: {id} {s}"))
        .collect();
    let passed = checks.iter().filter(|(_, _, s)| s == "SUCCESS").count();
    results.push((
        format!(
            "conformance `authorization` against our AS: {passed} checks passed, {} not",
            bad.len()
        ),
        if bad.is_empty() && status.success() && passed > 0 {
            Ok(())
        } else {
            Err(format!("{status}; {}", bad.join("; ")))
        },
    ));

    // 2. The official TypeScript SDK client against the demo stack.
    let out = Command::new("node")
        .args(["headless-client.mjs", "--tool", "whoami", &stack.mcp_url])
        .current_dir(&sdk)
        .stderr(log_file("as-ts-client.err")?)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    results.push((
        "TS SDK client -> rmcp example server + our AS: DCR, PKCE, resource, token, whoami".into(),
        if out.status.success() && stdout.contains("demo-user") {
            Ok(())
        } else {
            Err(format!("{}: {stdout}", out.status))
        },
    ));
    drop(stack.procs);
    report("interop as", &results)
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
