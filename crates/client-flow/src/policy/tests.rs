//! Policy tests.
