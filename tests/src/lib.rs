//! Shared fixtures for the mcp-oauth tests, the conformance-vector generator and the
//! benchmarks. End-to-end tests of the crates working together live in `tests/tests/`;
//! the conformance vectors in `tests/vectors/` run through `cargo xtask conformance`;
//! [`engines`] finds the real Postgres and Redis that `cargo xtask` starts for tests.
#![forbid(unsafe_code)]

pub mod engines;
pub mod jwt;
pub mod rng;
