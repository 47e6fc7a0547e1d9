//! `cargo xtask serve`: the protected rmcp example server for any MCP client, against an
//! external authorization server (`--issuer`, or one per host with `--tenant`), or, with
//! neither, against the embedded one (the demo stack).

use std::net::SocketAddr;

use crate::flags::Serve;
use crate::harness::start_stack;
use crate::util::{cargo, run};

/// `cargo xtask serve [--listen ADDR] [--issuer URL] [--tenant HOST=ISSUER]...
/// [--resource URL] [--accept-typ TYP]...`.
pub(crate) fn main(flags: &Serve) -> Result<(), String> {
    if flags.issuer.is_none() && flags.tenants.is_empty() {
        return serve_embedded(flags.listen.as_deref());
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
        .args(example_args(flags)))
}

/// The example server's arguments: every flag given, passed through unchanged.
fn example_args(flags: &Serve) -> Vec<String> {
    let mut out = Vec::new();
    let mut pass = |flag: &str, value: &str| {
        out.push(flag.to_owned());
        out.push(value.to_owned());
    };
    if let Some(v) = &flags.listen {
        pass("--listen", v);
    }
    if let Some(v) = &flags.issuer {
        pass("--issuer", v);
    }
    for t in &flags.tenants {
        pass("--tenant", t);
    }
    if let Some(v) = &flags.resource {
        pass("--resource", v);
    }
    for t in &flags.accept_typ {
        pass("--accept-typ", t);
    }
    out
}

/// `serve` without an issuer: the example server against the embedded authorization
/// server, on `listen` (default `127.0.0.1:8080`).
fn serve_embedded(listen: Option<&str>) -> Result<(), String> {
    let listen: SocketAddr = match listen {
        Some(a) => a.parse().map_err(|e| format!("--listen: {e}"))?,
        None => ([127, 0, 0, 1], 8080).into(),
    };
    let stack = start_stack(Some(listen), false)?;
    println!("MCP URL: {}", stack.mcp_url);
    stack.wait_forever()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn tenants_and_every_other_flag_reach_the_example() {
        let flags = Serve {
            listen: Some("127.0.0.1:1".into()),
            issuer: None,
            tenants: vec!["a=https://as.a".into(), "b=https://as.b".into()],
            resource: Some("https://r/mcp".into()),
            accept_typ: vec!["JWT".into()],
        };
        assert_eq!(
            example_args(&flags),
            [
                "--listen",
                "127.0.0.1:1",
                "--tenant",
                "a=https://as.a",
                "--tenant",
                "b=https://as.b",
                "--resource",
                "https://r/mcp",
                "--accept-typ",
                "JWT"
            ]
        );
    }
}
