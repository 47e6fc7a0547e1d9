//! `cargo xtask serve` and `cargo xtask interop server`: our rmcp example server against
//! real peers installed from npm into `.peers/` (ignored by git): panva's oidc-provider as
//! the authorization server and the official TypeScript MCP SDK as the client. The peer
//! scripts are ours, in `tests/peers/`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::util::{Args, cargo, output, root, run};

/// `cargo xtask serve --listen ADDR --issuer URL [--resource URL] [--accept-typ TYP]...`.
pub(crate) fn serve(args: &[String]) -> Result<(), String> {
    let parsed = Args::parse(
        args,
        &["--listen", "--issuer", "--resource", "--accept-typ"],
        &[],
    )?;
    if parsed.all("--issuer").is_empty() {
        // No external authorization server: the embedded one.
        return crate::demo::serve_embedded(parsed.all("--listen").first().copied());
    }
    run(cargo()
        .args([
            "run",
            "--quiet",
            "-p",
            "mcp-oauth-transport-adapters",
            "--example",
            "rmcp_server",
            "--",
        ])
        .args(args))
}

/// `cargo xtask interop server`.
pub(crate) fn main(args: &[String]) -> Result<(), String> {
    match Args::parse(args, &[], &[])?.positionals.as_slice() {
        [s] if s == "server" => server(),
        [s] if s == "client" => crate::interop_client::client(),
        [s] if s == "as" => crate::demo::interop_as(),
        _ => Err("usage: cargo xtask interop server|client|as".into()),
    }
}

/// Children killed when the run ends, whatever happens.
pub(crate) struct Procs(pub(crate) Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(crate) fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Copies `tests/peers/<name>` into `.peers/<name>` and installs its npm packages.
pub(crate) fn install_peer(name: &str) -> Result<PathBuf, String> {
    let src = root().join("tests").join("peers").join(name);
    let dst = root().join(".peers").join(name);
    std::fs::create_dir_all(&dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    let mut changed = false;
    for entry in std::fs::read_dir(&src).map_err(|e| format!("{}: {e}", src.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let target = dst.join(path.file_name().unwrap_or_default());
        let new = std::fs::read(&path).map_err(|e| e.to_string())?;
        if std::fs::read(&target).ok().as_ref() != Some(&new) {
            std::fs::write(&target, &new).map_err(|e| e.to_string())?;
            changed = true;
        }
    }
    if changed || !dst.join("node_modules").is_dir() {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dst))?;
    }
    Ok(dst)
}

pub(crate) fn log_file(name: &str) -> Result<std::fs::File, String> {
    let dir = root().join("target").join("interop");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::File::create(dir.join(name)).map_err(|e| e.to_string())
}

/// A response from [`http()`].
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal blocking HTTP/1.1 exchange on loopback (no TLS, `Connection: close`).
pub(crate) fn http(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Result<Reply, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP status from {addr}{path}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_owned(),
    })
}

pub(crate) fn wait_for(
    addr: SocketAddr,
    path: &str,
    child: &mut Child,
    what: &str,
) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited early ({status}); see target/interop/"
            ));
        }
        if http("GET", addr, path, &[], "").is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("{what} did not come up; see target/interop/"))
}

fn server() -> Result<(), String> {
    let node = output(Command::new("node").arg("--version"))
        .map_err(|e| format!("node is needed: {e}"))?;
    eprintln!("interop: node {}", node.trim());
    let sdk_dir = install_peer("ts-sdk")?;
    let rs_exe = build_example(false)?;

    let rs_addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
    let mcp_url = format!("http://{rs_addr}/mcp");
    let mut procs = Procs(Vec::new());
    let (op_addr, issuer) = start_oidc_provider(&mut procs, "oidc-provider")?;
    let mut rs = Command::new(rs_exe);
    // Leeway 0, so the matrix's one-second token is expired two seconds later.
    rs.args([
        "--listen",
        &rs_addr.to_string(),
        "--issuer",
        &issuer,
        "--leeway",
        "0",
    ]);
    spawn(
        &mut procs,
        rs,
        "rmcp-server",
        rs_addr,
        "/.well-known/oauth-protected-resource/mcp",
    )?;

    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    let client = |tool: &str, args: &str| -> Result<String, String> {
        let out = Command::new("node")
            .args([
                "headless-client.mjs",
                "--tool",
                tool,
                "--args",
                args,
                &mcp_url,
            ])
            .current_dir(&sdk_dir)
            .stderr(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!("client exited {}: {stdout}", out.status))
        }
    };
    results.push((
        "ts-sdk client: 401 -> discovery -> DCR -> PKCE + resource -> token -> whoami".into(),
        client("whoami", "{}").and_then(|o| {
            if o.contains("test-user") {
                Ok(())
            } else {
                Err(format!("unexpected: {o}"))
            }
        }),
    ));
    results.push((
        "ts-sdk client: echo with mcp:write".into(),
        client("echo", r#"{"text":"interop-echo"}"#).and_then(|o| {
            if o.contains("interop-echo") {
                Ok(())
            } else {
                Err(format!("unexpected: {o}"))
            }
        }),
    ));

    matrix(op_addr, rs_addr, &mcp_url, &mut results)?;
    report("interop", &results)
}

/// Prints one line per check and a total; fails when any check failed.
pub(crate) fn report(label: &str, results: &[(String, Result<(), String>)]) -> Result<(), String> {
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    for (name, r) in results {
        match r {
            Ok(()) => println!("{label}: ok   {name}"),
            Err(e) => println!("{label}: FAIL {name}: {e}"),
        }
    }
    println!(
        "{label}: {} passed, {failed} failed",
        results.len() - failed
    );
    if failed > 0 {
        Err(format!("{label}: {failed} checks failed"))
    } else {
        Ok(())
    }
}

/// Installs and starts oidc-provider (`tests/peers/oidc-provider/op-server.mjs`) on a
/// free loopback port; returns its address and issuer.
pub(crate) fn start_oidc_provider(
    procs: &mut Procs,
    name: &str,
) -> Result<(SocketAddr, String), String> {
    let op_dir = install_peer("oidc-provider")?;
    let op_addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
    let mut op = Command::new("node");
    op.arg("op-server.mjs")
        .current_dir(&op_dir)
        .env("OP_PORT", op_addr.port().to_string());
    spawn(
        procs,
        op,
        name,
        op_addr,
        "/.well-known/oauth-authorization-server",
    )?;
    Ok((op_addr, format!("http://{op_addr}")))
}

/// Starts a server and waits until `ready` answers 200 (or, with `ready` empty, until the
/// port accepts connections).
pub(crate) fn spawn(
    procs: &mut Procs,
    mut cmd: Command,
    name: &str,
    addr: SocketAddr,
    ready: &str,
) -> Result<(), String> {
    let child: Child = cmd
        .stdout(log_file(&format!("{name}.log"))?)
        .stderr(log_file(&format!("{name}.err"))?)
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    procs.0.push(child);
    let child = procs.0.last_mut().ok_or("no child")?;
    if !ready.is_empty() {
        return wait_for(addr, ready, child, name);
    }
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(30) {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("{name} did not come up"))
}

/// Builds the rmcp example server and returns its path.
pub(crate) fn build_example(release: bool) -> Result<PathBuf, String> {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "mcp-oauth-transport-adapters",
        "--example",
        "rmcp_server",
    ]);
    if release {
        cmd.arg("--release");
    }
    run(&mut cmd)?;
    let profile = if release { "release" } else { "debug" };
    Ok(root()
        .join("target")
        .join(profile)
        .join("examples")
        .join("rmcp_server"))
}

/// `token` with the first byte of its signature flipped: well-formed, never valid.
pub(crate) fn forge(token: &str) -> Result<String, String> {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let sig_part = parts.get_mut(2).ok_or("the token has no signature")?;
    let mut sig = URL_SAFE_NO_PAD
        .decode(&*sig_part)
        .map_err(|e| e.to_string())?;
    if let Some(b) = sig.first_mut() {
        *b ^= 1;
    }
    *sig_part = URL_SAFE_NO_PAD.encode(sig);
    Ok(parts.join("."))
}

/// A client-credentials token from oidc-provider's `cc-client` for `resource` and `scope`.
pub(crate) fn cc_token(op: SocketAddr, resource: &str, scope: &str) -> Result<String, String> {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let body = format!(
        "grant_type=client_credentials&resource={}&scope={}",
        enc(resource),
        enc(scope)
    );
    let r = http(
        "POST",
        op,
        "/token",
        &[
            ("Content-Type", "application/x-www-form-urlencoded".into()),
            (
                "Authorization",
                format!("Basic {}", STANDARD.encode("cc-client:cc-secret")),
            ),
        ],
        &body,
    )?;
    let v: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("token response {}: {e}", r.status))?;
    v.get("access_token")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("no access_token: {}", r.body))
}

/// The token matrix over HTTP: each request's status and challenge.
fn matrix(
    op: SocketAddr,
    rs: SocketAddr,
    mcp_url: &str,
    results: &mut Vec<(String, Result<(), String>)>,
) -> Result<(), String> {
    let full = cc_token(op, mcp_url, "mcp:tools mcp:read mcp:write")?;
    let narrow = cc_token(op, mcp_url, "mcp:tools")?;
    let other_audience = cc_token(op, "http://127.0.0.1:9/other", "mcp:tools")?;
    let forged = forge(&full)?;
    let expired = cc_token(op, mcp_url, "mcp:tools test:short-lived")?;
    std::thread::sleep(std::time::Duration::from_secs(2));
    let alg_none = {
        let payload = full.split('.').nth(1).unwrap_or_default();
        format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#)
        )
    };
    let wrong_issuer = {
        // Signed by a key the issuer never published, claiming another issuer.
        let k = mcp_oauth_tests::jwt::TestKeys::load().map_err(|e| e.0)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        k.rs1.sign(
            &serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": "rs1"}),
            &serde_json::json!({"iss": "http://127.0.0.1:1", "aud": mcp_url, "exp": now + 600, "scope": "mcp:tools"}),
        )
    };
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"interop","version":"0"}}}"#;
    let echo = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#;
    // (name, Authorization, path, body, status, error code in the challenge)
    type Case<'a> = (
        &'a str,
        Option<String>,
        &'a str,
        &'a str,
        u16,
        Option<&'a str>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "valid token",
            Some(format!("Bearer {full}")),
            "/mcp",
            init,
            200,
            None,
        ),
        ("no token", None, "/mcp", init, 401, None),
        (
            "Basic credentials",
            Some("Basic Y2MtY2xpZW50OmNjLXNlY3JldA==".into()),
            "/mcp",
            init,
            401,
            None,
        ),
        (
            "garbage token",
            Some("Bearer garbage".into()),
            "/mcp",
            init,
            401,
            Some("invalid_token"),
        ),
        (
            "wrong audience",
            Some(format!("Bearer {other_audience}")),
            "/mcp",
            init,
            401,
            Some("invalid_token"),
        ),
        (
            "expired (1 s token, 2 s later, leeway 0)",
            Some(format!("Bearer {expired}")),
            "/mcp",
            init,
            401,
            Some("invalid_token"),
        ),
        (
            "wrong issuer, unknown key",
            Some(format!("Bearer {wrong_issuer}")),
            "/mcp",
            init,
            401,
            Some("invalid_token"),
        ),
        (
            "forged signature",
            Some(format!("Bearer {forged}")),
            "/mcp",
            init,
            401,
            Some("invalid_token"),
        ),
        (
            "alg none",
            Some(format!("Bearer {alg_none}")),
            "/mcp",
            init,
            401,
            Some("invalid_token"),
        ),
        (
            "missing scope for echo",
            Some(format!("Bearer {narrow}")),
            "/mcp",
            echo,
            403,
            Some("insufficient_scope"),
        ),
        (
            "token in the query",
            Some(format!("Bearer {full}")),
            "/mcp?access_token=x",
            init,
            400,
            Some("invalid_request"),
        ),
    ];
    for (name, auth, path, body, want, error) in cases {
        let mut headers = vec![
            ("Content-Type", "application/json".to_owned()),
            ("Accept", "application/json, text/event-stream".to_owned()),
        ];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        let check = http("POST", rs, path, &headers, body).and_then(|r| {
            if r.status != want {
                return Err(format!("status {} (want {want})", r.status));
            }
            let challenge = r.header("www-authenticate");
            if want == 200 {
                return if challenge.is_none() {
                    Ok(())
                } else {
                    Err("a challenge on success".into())
                };
            }
            let c = challenge.ok_or("no WWW-Authenticate")?;
            if !c.contains("resource_metadata=\"") {
                return Err(format!("no resource_metadata in {c}"));
            }
            match error {
                Some(e) if !c.contains(&format!("error=\"{e}\"")) => {
                    Err(format!("challenge {c} lacks error {e}"))
                }
                None if c.contains("error=") => Err(format!("challenge {c} has an error code")),
                _ => Ok(()),
            }
        });
        results.push((format!("matrix: {name}"), check));
    }
    Ok(())
}
