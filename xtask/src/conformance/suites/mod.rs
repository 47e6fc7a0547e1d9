//! The suite registry: one file per suite family, one entry per suite here.
//!
//! To add a suite: write `fn run(&mut Input) -> Result<Value, Unreadable>` in a file of
//! this folder, declare its input keys, and list it in [`SUITES`].

mod pkce;
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
pub(crate) const SUITES: &[Suite] = &[pkce::CHALLENGE, pkce::VERIFY, resource::CANONICAL];

/// The suite called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.name == name)
}

/// The default comparison: `got` equals `expect` exactly.
pub(crate) fn exact(expect: &Map<String, Value>, got: &Value) -> bool {
    got.as_object() == Some(expect)
}
