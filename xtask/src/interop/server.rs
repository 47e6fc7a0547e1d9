//! `cargo xtask interop server`: our rmcp example server against real peers installed
//! from npm into `.peers/` (ignored by git): panva's oidc-provider as the authorization
//! server and the official TypeScript MCP SDK as the client. The peer scripts are ours, in
//! `tests/peers/`.

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::harness::{
    Checks, Procs, build_rmcp_server, cc_token, forge, free_port, http, install_peer, report,
    spawn, start_oidc_provider,
};
use crate::util::output;

/// `cargo xtask interop server`.
pub(crate) fn main() -> Result<(), String> {
    let node = output(Command::new("node").arg("--version"))
        .map_err(|e| format!("node is needed: {e}"))?;
    eprintln!("interop: node {}", node.trim());
    let sdk_dir = install_peer("ts-sdk")?;
    let rs_exe = build_rmcp_server(false)?;

    let rs_addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
    let mcp_url = format!("http://{rs_addr}/mcp");
    let mut procs = Procs::new();
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

    let mut results = Checks::new();
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

/// The token matrix over HTTP: each request's status and challenge.
fn matrix(
    op: SocketAddr,
    rs: SocketAddr,
    mcp_url: &str,
    results: &mut Checks,
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
