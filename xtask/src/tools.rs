//! External cargo tools the checks need, installed at pinned versions when missing, and
//! the cargo-deny command.

use crate::util::{cargo, output, run};

/// A cargo subcommand installed from crates.io at an exact version.
pub(crate) struct Tool {
    /// The crate, also the `cargo <sub>` binary name after `cargo-`.
    pub(crate) krate: &'static str,
    pub(crate) version: &'static str,
}

/// cargo-deny, for `cargo deny check bans licenses sources`.
pub(crate) const CARGO_DENY: Tool = Tool {
    krate: "cargo-deny",
    version: "0.20.2",
};

/// cargo-fuzz, for the fuzz targets in `fuzz/`.
pub(crate) const CARGO_FUZZ: Tool = Tool {
    krate: "cargo-fuzz",
    version: "0.13.2",
};

impl Tool {
    /// Installs the tool with `cargo install --locked` unless that exact version is
    /// already on the PATH.
    pub(crate) fn ensure(&self) -> Result<(), String> {
        let sub = self.krate.trim_start_matches("cargo-");
        let installed = output(cargo().args([sub, "--version"])).unwrap_or_default();
        if installed.split_whitespace().any(|w| w == self.version) {
            return Ok(());
        }
        eprintln!(
            "xtask: installing {} {} (found: {})",
            self.krate,
            self.version,
            installed.trim().if_empty("none")
        );
        run(cargo().args(["install", "--locked", self.krate, "--version", self.version]))
    }
}

trait IfEmpty {
    fn if_empty<'a>(&'a self, other: &'a str) -> &'a str;
}

impl IfEmpty for str {
    fn if_empty<'a>(&'a self, other: &'a str) -> &'a str {
        if self.is_empty() { other } else { self }
    }
}

/// `cargo xtask deny [--advisories]`: runs cargo-deny; the advisory database is fetched from GitHub, so it is only checked
/// when asked for (CI machines have no internet access).
pub(crate) fn run_deny(advisories: bool) -> Result<(), String> {
    CARGO_DENY.ensure()?;
    let mut cmd = cargo();
    cmd.args(["deny", "--locked", "check", "bans", "licenses", "sources"]);
    if advisories {
        cmd.arg("advisories");
    }
    run(&mut cmd)
}
