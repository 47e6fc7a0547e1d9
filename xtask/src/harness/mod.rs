//! What the commands that run programs share (demo, serve, interop, bench, ci, engines):
//! child processes killed on drop, free loopback ports, the database engines tests use
//! (a private Postgres and a redis-server), a minimal HTTP client, peers installed
//! from npm into `.peers/`, log files, pass/fail reports, building the examples and
//! finding them in cargo's target directory, and the demo stack (embedded authorization
//! server + protected example server).
//!
//! Command modules import this module and `util`, never each other.

mod build;
mod engines;
mod http;
mod peers;
mod procs;
mod report;
mod stack;

pub(crate) use build::{build_cli, build_like_the_workspace, build_rmcp_server};
pub(crate) use engines::Engines;
pub(crate) use http::{forge, http};
pub(crate) use peers::{cc_token, install_peer, start_oidc_provider};
pub(crate) use procs::{Procs, free_port, spawn};
pub(crate) use report::{Checks, log_file, logs_dir, report};
pub(crate) use stack::start_stack;
