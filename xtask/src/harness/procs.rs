//! Child processes killed when the run ends, free ports, waiting for readiness.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::http::http;
use super::report::log_file;

/// Children killed when the run ends, whatever happens.
#[derive(Default)]
pub(crate) struct Procs(pub(crate) Vec<Child>);

impl Procs {
    /// An empty set.
    pub(crate) fn new() -> Procs {
        Procs(Vec::new())
    }

    /// Blocks until one child exits; returns the error to report.
    pub(crate) fn wait_any(&mut self, logs: &str) -> String {
        loop {
            for c in &mut self.0 {
                if let Ok(Some(status)) = c.try_wait() {
                    return format!("a server exited ({status}); see {logs}");
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback port free at the time of the call.
pub(crate) fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Waits until `GET path` on `addr` answers 200, failing if `child` exits first.
fn wait_for(addr: SocketAddr, path: &str, child: &mut Child, what: &str) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{what} exited early ({status}); see target/interop/"
            ));
        }
        if http("GET", addr, path, &[], "").is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("{what} did not come up; see target/interop/"))
}

/// Starts a server (stdout and stderr to `target/interop/<name>.log|.err`) and waits
/// until `ready` answers 200 (or, with `ready` empty, until the port accepts connections).
pub(crate) fn spawn(
    procs: &mut Procs,
    mut cmd: Command,
    name: &str,
    addr: SocketAddr,
    ready: &str,
) -> Result<(), String> {
    let child: Child = cmd
        .stdout(log_file(&format!("{name}.log"))?)
        .stderr(log_file(&format!("{name}.err"))?)
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    procs.0.push(child);
    let child = procs.0.last_mut().ok_or("no child")?;
    if !ready.is_empty() {
        return wait_for(addr, ready, child, name);
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{name} did not come up"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn procs_kill_their_children_on_drop() {
        let mut procs = Procs::new();
        procs
            .0
            .push(Command::new("sleep").arg("30").spawn().unwrap());
        let pid = procs.0[0].id();
        drop(procs);
        // The child was reaped: /proc has no entry for it any more.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
