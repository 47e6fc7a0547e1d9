//! The suite registry: one file per suite family, one entry per suite here.
//!
//! To add a suite: write `fn run(&Input) -> Result<Value, Unreadable>` in a file of
//! this folder, declare its input keys, and list it in [`SUITES`].

mod as_metadata;
mod client;
mod dcr;
mod jwt;
mod pkce;
mod prm;
mod resource;

use serde_json::{Map, Value};

use super::Unreadable;
use super::input::{Input, Key};

/// A suite: its name in FORMAT.md, its input keys, how to run it and how to compare.
pub(crate) struct Suite {
    pub(crate) name: &'static str,
    pub(crate) input_keys: &'static [Key],
    pub(crate) run: fn(&Input<'_>) -> Result<Value, Unreadable>,
    /// Whether `got` satisfies `expect`.
    pub(crate) compare: fn(&Map<String, Value>, &Value) -> bool,
}

/// Every suite the runner knows.
pub(crate) const SUITES: &[Suite] = &[
    pkce::CHALLENGE,
    pkce::VERIFY,
    resource::CANONICAL,
    prm::DISCOVERY_URLS,
    prm::VALIDATE,
    prm::WWW_AUTHENTICATE,
    as_metadata::DISCOVERY_URLS,
    as_metadata::VALIDATE,
    jwt::VALIDATE,
    dcr::VALIDATE,
    dcr::RESPONSE,
    dcr::REDIRECT_MATCH,
    client::SCOPE_UNION,
    client::ISS_CHECK,
];

/// The suite called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.name == name)
}

/// The default comparison: `got` equals `expect` exactly.
pub(crate) fn exact(expect: &Map<String, Value>, got: &Value) -> bool {
    got.as_object() == Some(expect)
}

/// For suites whose `expect` may leave keys out (FORMAT: "each key optional in expect"):
/// every key of `expect` equals `got`'s, and the outcome key (`ok` or `error`) of `got`
/// is always among them, so an empty or outcome-less `expect` can never pass.
pub(crate) fn subset(expect: &Map<String, Value>, got: &Value) -> bool {
    let Some(got) = got.as_object() else {
        return false;
    };
    let outcome_named = ["ok", "error"]
        .iter()
        .filter(|k| got.contains_key(**k))
        .all(|k| expect.contains_key(*k));
    outcome_named && !expect.is_empty() && expect.iter().all(|(k, v)| got.get(k) == Some(v))
}
