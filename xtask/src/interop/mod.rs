//! `cargo xtask interop server|client|as`: our programs against real peers (see each
//! module), installed from npm into `.peers/` by the harness.

mod as_server;
mod client;
mod server;

use crate::flags::Interop;

/// `cargo xtask interop server|client|as`.
pub(crate) fn main(which: &Interop) -> Result<(), String> {
    match which {
        Interop::Server => server::main(),
        Interop::Client => client::main(),
        Interop::As => as_server::main(),
    }
}
