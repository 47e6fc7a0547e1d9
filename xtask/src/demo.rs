//! `cargo xtask demo [--serve] [--listen ADDR]`, `cargo xtask serve` without `--issuer`,
//! and `cargo xtask interop as`: the embedded authorization server (`as_server`
//! example), the protected rmcp example server, and our client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::interop::{Procs, free_port, http, install_peer, log_file, spawn};
use crate::util::{Args, cargo, root, run};

/// The scopes the example server's 401 asks for first; `echo` needs `mcp:write` too, so
/// calling it shows the step-up.
const FIRST_SCOPES: &str = "mcp:tools mcp:read";

/// Builds the three example programs; returns their paths (AS, MCP server, client).
fn build() -> Result<[PathBuf; 3], String> {
    run(cargo().args([
        "build",
        "--quiet",
        "-p",
        "mcp-oauth-transport-adapters",
        "-p",
        "mcp-oauth-cli",
        "--example",
        "as_server",
        "--example",
        "rmcp_server",
        "--example",
        "demo_client",
    ]))?;
    let dir = root().join("target").join("debug").join("examples");
    Ok([
        dir.join("as_server"),
        dir.join("rmcp_server"),
        dir.join("demo_client"),
    ])
}

/// The embedded authorization server and the protected example server, running.
struct Stack {
    procs: Procs,
    issuer: String,
    mcp_url: String,
    client: PathBuf,
}

fn start(listen: Option<SocketAddr>, quiet: bool) -> Result<Stack, String> {
    let [as_exe, rs_exe, client] = build()?;
    let rs_addr = match listen {
        Some(a) => a,
        None => ([127, 0, 0, 1], free_port()?).into(),
    };
    let as_addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
    let issuer = format!("http://{as_addr}");
    let mcp_url = format!("http://{rs_addr}/mcp");
    let mut procs = Procs(Vec::new());
    let mut a = Command::new(as_exe);
    a.args(["--listen", &as_addr.to_string(), "--resource", &mcp_url]);
    spawn(
        &mut procs,
        a,
        "demo-as",
        as_addr,
        "/.well-known/oauth-authorization-server",
    )?;
    if !quiet {
        println!("Started the embedded authorization server at {issuer}");
        println!(
            "  (consent is automatic: every request is approved as user demo-user; loopback only)"
        );
    }
    let mut r = Command::new(rs_exe);
    r.args([
        "--listen",
        &rs_addr.to_string(),
        "--issuer",
        &issuer,
        "--challenge-scope",
        FIRST_SCOPES,
    ]);
    spawn(
        &mut procs,
        r,
        "demo-mcp",
        rs_addr,
        "/.well-known/oauth-protected-resource/mcp",
    )?;
    if !quiet {
        println!("Started the protected MCP server (rmcp) at {mcp_url}");
        println!(
            "  tools: whoami (any valid token), echo (needs mcp:write); its 401 asks for \"{FIRST_SCOPES}\"\n"
        );
    }
    Ok(Stack {
        procs,
        issuer,
        mcp_url,
        client,
    })
}

fn wait_forever(stack: Stack) -> Result<(), String> {
    let mut procs = stack.procs;
    loop {
        for c in &mut procs.0 {
            if let Ok(Some(status)) = c.try_wait() {
                return Err(format!(
                    "a server exited ({status}); see target/interop/demo-*.err"
                ));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// `cargo xtask demo [--serve] [--listen ADDR]`.
pub(crate) fn demo(args: &[String]) -> Result<(), String> {
    let args = Args::parse(args, &["--listen"], &["--serve"])?;
    let listen = match args.all("--listen").first() {
        Some(a) => Some(a.parse().map_err(|e| format!("--listen: {e}"))?),
        None => None,
    };
    let started = Instant::now();
    let stack = start(listen, false)?;
    if args.switch("--serve") {
        println!("MCP URL: {}", stack.mcp_url);
        println!("authorization server: {}", stack.issuer);
        println!(
            "Connect any MCP client (the MCP Inspector, the official SDKs); Ctrl-C stops both."
        );
        return wait_forever(stack);
    }
    let status = Command::new(&stack.client)
        .arg(&stack.mcp_url)
        .stderr(log_file("demo-client.err")?)
        .status()
        .map_err(|e| e.to_string())?;
    drop(stack.procs);
    if status.success() {
        println!(
            "(demo finished in {:.1} s)",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        Err(format!(
            "the demo client failed ({status}); see target/interop/demo-*.err"
        ))
    }
}

/// `cargo xtask serve --listen ADDR` without `--issuer`: the example server against the
/// embedded authorization server.
pub(crate) fn serve_embedded(listen: Option<&str>) -> Result<(), String> {
    let listen = match listen {
        Some(a) => Some(a.parse().map_err(|e| format!("--listen: {e}"))?),
        None => Some(([127, 0, 0, 1], 8080).into()),
    };
    let stack = start(listen, false)?;
    println!("MCP URL: {}", stack.mcp_url);
    wait_forever(stack)
}

/// `cargo xtask interop as`: the official conformance suite's authorization-server
/// scenarios against our authorization server, then the official TypeScript SDK client
/// against the demo stack.
pub(crate) fn interop_as() -> Result<(), String> {
    let conf = install_peer("conformance")?;
    let sdk = install_peer("ts-sdk")?;
    let stack = start(None, true)?;
    let as_addr: SocketAddr = stack
        .issuer
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut results: Vec<(String, Result<(), String>)> = Vec::new();

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
    let out_dir = root().join("target/interop/conformance-as");
    let _ = std::fs::remove_dir_all(&out_dir);
    let log = root().join("target/interop/conformance-as.log");
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
            let _ = http("GET", cb, &cb_path, &[], "");
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
    crate::interop::report("interop as", &results)
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
