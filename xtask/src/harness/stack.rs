//! The demo stack: the embedded authorization server (`as_server` example) and the
//! protected rmcp example server in front of it, with our narrated demo client built
//! beside them. `cargo xtask demo`, `serve` without an issuer and `interop as` run it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use super::build::build_examples;
use super::procs::{Procs, free_port, spawn};

/// The scopes the example server's 401 asks for first; `echo` needs `mcp:write` too, so
/// calling it shows the step-up.
pub(crate) const FIRST_SCOPES: &str = "mcp:tools mcp:read";

/// The embedded authorization server and the protected example server, running.
pub(crate) struct Stack {
    /// Both servers; dropping them stops them.
    pub(crate) procs: Procs,
    /// The authorization server's issuer, `http://127.0.0.1:PORT`.
    pub(crate) issuer: String,
    /// The authorization server's address.
    pub(crate) as_addr: SocketAddr,
    /// The MCP endpoint, `http://ADDR/mcp`.
    pub(crate) mcp_url: String,
    /// The demo client (`examples/demo_client.rs`).
    pub(crate) client: PathBuf,
}

/// Builds the three example programs and starts both servers, the MCP server on `listen`
/// (a free loopback port if `None`); narrates unless `quiet`.
pub(crate) fn start_stack(listen: Option<SocketAddr>, quiet: bool) -> Result<Stack, String> {
    let built = build_examples(
        &["mcp-oauth-transport-adapters", "mcp-oauth-cli"],
        &["as_server", "rmcp_server", "demo_client"],
        false,
    )?;
    let [as_exe, rs_exe, client]: [PathBuf; 3] = built
        .try_into()
        .map_err(|_| "expected three example programs".to_owned())?;
    let rs_addr = match listen {
        Some(a) => a,
        None => ([127, 0, 0, 1], free_port()?).into(),
    };
    let as_addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
    let issuer = format!("http://{as_addr}");
    let mcp_url = format!("http://{rs_addr}/mcp");
    let mut procs = Procs::new();
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
        as_addr,
        mcp_url,
        client,
    })
}

impl Stack {
    /// Keeps the servers running until one exits (an error) or the user interrupts.
    pub(crate) fn wait_forever(mut self) -> Result<(), String> {
        Err(self.procs.wait_any("target/interop/demo-*.err"))
    }
}
