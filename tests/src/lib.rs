//! End-to-end tests of the mcp-oauth crates working together live in `tests/tests/`;
//! the conformance vectors live in `tests/vectors/` and run through `cargo xtask
//! conformance`. This library is empty until shared fixtures need a home.
#![forbid(unsafe_code)]
