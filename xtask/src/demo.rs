//! `cargo xtask demo [--serve] [--listen ADDR]`: the embedded authorization server
//! (`as_server` example), the protected rmcp example server, and our narrated client.

use std::process::Command;
use std::time::Instant;

use crate::flags::Demo;
use crate::harness::{log_file, start_stack};

/// `cargo xtask demo [--serve] [--listen ADDR]`.
pub(crate) fn main(flags: &Demo) -> Result<(), String> {
    let started = Instant::now();
    let stack = start_stack(flags.listen, false)?;
    if flags.serve {
        println!("MCP URL: {}", stack.mcp_url);
        println!("authorization server: {}", stack.issuer);
        println!(
            "Connect any MCP client (the MCP Inspector, the official SDKs); Ctrl-C stops both."
        );
        return stack.wait_forever();
    }
    let status = Command::new(&stack.client)
        .arg(&stack.mcp_url)
        .stderr(log_file("demo-client.err")?)
        .status()
        .map_err(|e| e.to_string())?;
    drop(stack.procs);
    if status.success() {
        println!(
            "(demo finished in {:.1} s)",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        Err(format!(
            "the demo client failed ({status}); see target/interop/demo-*.err"
        ))
    }
}
