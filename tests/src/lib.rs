//! Shared fixtures for the mcp-oauth tests, the conformance-vector generator and the
//! benchmarks. End-to-end tests of the crates working together live in `tests/tests/`;
//! the conformance vectors in `tests/vectors/` run through `cargo xtask conformance`.
#![forbid(unsafe_code)]

pub mod jwt;
pub mod rng;
