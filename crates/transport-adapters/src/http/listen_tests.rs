//! The accept loop under idle and half-sent connections (issue: connection exhaustion).
//! Each test fails against the loop the servers had before `listen::serve`: `accept()?`
//! ended the server on the first `EMFILE`, and no timer closed a silent connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;

use crate::http::listen::{ServeConfig, serve};

const CHILD_ENV: &str = "MCP_OAUTH_FLOOD_CHILD";
/// The open-file limit the child server runs under.
const CHILD_FILE_LIMIT: u64 = 128;

/// A complete request on a new connection; the status line of the answer.
fn get(addr: SocketAddr, path: &str, deadline: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(deadline))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line)
}

/// Connections that send half a request head and then nothing.
fn half_open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            s.write_all(b"GET /jwks HTTP/1.1\r\nHost: x\r\n").ok()?;
            Some(s)
        })
        .collect()
}

/// The child: the authorization server (as `AsService::serve_with`) under an open-file
/// limit of 128, printing its port. Run by `as_survives_more_half_open_connections_than_files`.
#[test]
#[ignore = "a child process of as_survives_more_half_open_connections_than_files"]
fn flood_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(CHILD_FILE_LIMIT),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use mcp_oauth_authorization_server::{
            AsConfig, AuthorizationServer, AutoApprove, MemoryStorage,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = AsConfig::new(format!("http://{addr}")).resource(
            mcp_oauth_resource_indicators::ResourceUri::parse("http://127.0.0.1:1/mcp").unwrap(),
            ["mcp:tools"],
        );
        let server = AuthorizationServer::new(
            config,
            MemoryStorage::new(),
            Box::new(crate::as_server::Es256Signer::generate().unwrap()),
            Box::new(AutoApprove {
                subject: "u".into(),
            }),
        )
        .unwrap();
        let fetcher = crate::Fetcher::with_ring(crate::FetchConfig::default()).unwrap();
        println!("PORT={}", addr.port());
        let limits = ServeConfig::default().header_read_timeout(Duration::from_secs(2));
        let _ = crate::as_server::AsService::new(server, fetcher)
            .serve_with(listener, limits)
            .await;
        println!("SERVER RETURNED");
    });
}

/// More half-sent requests than the server may open files: it refuses nothing for good,
/// and once the header-read timeout has closed the idle ones, a real request is answered.
/// Resident memory of a process, in KiB (0 when unreadable).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Kills the child server however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn as_survives_more_half_open_connections_than_files() {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "http::listen_tests::flood_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    // libtest prints `test http::listen_tests::flood_child ... ` before the child's own output,
    // on the same line: look for the marker anywhere. Read on a thread, so a child that
    // never prints fails the test instead of hanging it.
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        while out.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(p) = line.split("PORT=").nth(1) {
                let _ = tx.send(p.trim().parse::<u16>().ok());
                break;
            }
            line.clear();
        }
        out
    });
    let port = rx.recv_timeout(Duration::from_secs(60)).ok().flatten();
    if port.is_none() {
        let _ = child.0.kill();
    }
    let mut out = reader.join().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port.expect("the child printed no port")));
    assert!(
        get(addr, "/jwks", Duration::from_secs(10))
            .unwrap()
            .contains(" 200 ")
    );

    let rss_before = rss_kib(child.0.id());
    // Well past the child's 128 descriptors (the kernel's backlog holds what it cannot
    // accept yet).
    let flood = half_open(addr, 300);
    assert!(
        flood.len() >= 250,
        "only {} connections opened",
        flood.len()
    );
    std::thread::sleep(Duration::from_millis(500));

    let rss_flooded = rss_kib(child.0.id());
    let started = Instant::now();
    let answer = get(addr, "/jwks", Duration::from_secs(30));
    let waited = started.elapsed();
    // For the record (cargo test -- --nocapture): what the flood cost the server.
    eprintln!(
        "{} half-open connections against a {CHILD_FILE_LIMIT}-file server: answered after \
         {waited:?}; server RSS {rss_before} KiB before, {rss_flooded} KiB flooded",
        flood.len()
    );
    let still_running = child.0.try_wait().unwrap().is_none();
    let _ = child.0.kill();
    let mut rest = String::new();
    let _ = out.read_to_string(&mut rest);
    drop(flood);
    assert!(
        still_running,
        "the server exited under the flood; it printed: {rest}"
    );
    let answer = answer.unwrap_or_else(|e| panic!("no answer after {waited:?}: {e}"));
    assert!(answer.contains(" 200 "), "{answer}");
}

async fn hello_server(config: ServeConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, config, |_| {
        // Reads the whole body first, as the authorization server does.
        hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async {
            let _ = http_body_util::BodyExt::collect(req.into_body()).await;
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"hi"))))
        })
    }));
    addr
}

/// Reads until the server closes the connection; how long that took.
fn time_to_close(mut s: TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(started.elapsed());
            }
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let addr =
        hello_server(ServeConfig::new().header_read_timeout(Duration::from_millis(500))).await;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        time_to_close(s, Duration::from_secs(10))
    })
    .await
    .unwrap();
    let closed = closed.expect("the connection was kept open");
    assert!(closed < Duration::from_secs(5), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_closed_after_the_idle_timeout() {
    let addr = hello_server(
        ServeConfig::new()
            .header_read_timeout(Duration::from_secs(30))
            .idle_timeout(Duration::from_millis(500)),
    )
    .await;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        // The head is complete; the body never comes, and the service waits for it.
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")
            .unwrap();
        time_to_close(s, Duration::from_secs(10))
    })
    .await
    .unwrap();
    let closed = closed.expect("the connection was kept open");
    assert!(closed < Duration::from_secs(5), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let addr = hello_server(
        ServeConfig::new()
            .max_connections(2)
            .header_read_timeout(Duration::from_secs(30)),
    )
    .await;
    let ok = tokio::task::spawn_blocking(move || {
        let idle = half_open(addr, 2);
        std::thread::sleep(Duration::from_millis(200));
        // Both slots are held: a third request is not served...
        let blocked = get(addr, "/", Duration::from_millis(700));
        drop(idle);
        // ...until a slot is free.
        let served = get(addr, "/", Duration::from_secs(5));
        (blocked.is_err(), served.map(|l| l.contains(" 200 ")))
    })
    .await
    .unwrap();
    assert!(ok.0, "a request past the cap was served");
    assert!(
        ok.1.unwrap(),
        "the request was not served once a slot was free"
    );
}
