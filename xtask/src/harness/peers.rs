//! Real peers from npm, installed into `.peers/` (ignored by git) from our scripts in
//! `tests/peers/`: oidc-provider, the official TypeScript MCP SDK, the conformance suite.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::http::http;
use super::procs::{Procs, free_port, spawn};
use crate::util::{root, run};

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

/// `application/x-www-form-urlencoded` percent-encoding of one value.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A client-credentials token from oidc-provider's `cc-client` for `resource` and `scope`.
pub(crate) fn cc_token(op: SocketAddr, resource: &str, scope: &str) -> Result<String, String> {
    let body = format!(
        "grant_type=client_credentials&resource={}&scope={}",
        form_encode(resource),
        form_encode(scope)
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_keeps_unreserved_only() {
        assert_eq!(form_encode("http://a/b c~"), "http%3A%2F%2Fa%2Fb%20c~");
    }
}
