//! The accept loop every server we ship runs: the authorization server
//! ([`AsService::serve`](crate::as_server::AsService::serve)), the example MCP servers,
//! `cargo xtask serve` and `cargo xtask demo --serve`.
//!
//! A plain `loop { listener.accept().await?; … }` has three ways to die under an
//! attacker's idle connections: the `?` ends the loop (and so the server) on the first
//! `EMFILE`, a connection that never finishes its request head is kept for ever, and there
//! is no bound on how many are kept. [`serve`] closes all three:
//!
//! - accept errors are logged and retried after a back-off (10 ms doubling to 1 s), never
//!   returned;
//! - a connection gets [`ServeConfig::header_read_timeout`] to send each request head
//!   (hyper arms this timer whenever it waits for a head, so it is also the keep-alive
//!   idle limit between requests), and [`ServeConfig::idle_timeout`] without a byte moving
//!   either way in the middle of a request (a body sent a byte a minute, a response the
//!   client never reads);
//! - at most [`ServeConfig::max_connections`] are served at once; past that the loop stops
//!   accepting until one closes, so the kernel's backlog queues newcomers instead of the
//!   process running out of file descriptors.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::convert::Infallible;
//! use mcp_oauth_transport_adapters::http::listen::{ServeConfig, serve};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, ServeConfig::default(), |_peer| {
//!     hyper::service::service_fn(|_req| async {
//!         Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(
//!             bytes::Bytes::from_static(b"hello"),
//!         )))
//!     })
//! })
//! .await;
//! # Ok(())
//! # }
//! ```

use core::pin::Pin;
use core::task::{Context, Poll};
use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

/// Limits for [`serve`]. The defaults suit a public server: 10 s for a request head, 120 s
/// without progress inside a request, 512 connections at once (half the usual limit of
/// 1,024 open files, leaving room for the process's other descriptors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeConfig {
    /// How long a client may take to send a request head, counted from when the server
    /// starts waiting for it (so also how long an idle keep-alive connection is kept).
    pub header_read_timeout: Duration,
    /// How long a connection may go with no byte read or written while a request is in
    /// progress (a slow body, a response the client does not read). Long-lived streams
    /// (server-sent events) stay open as long as they send something, such as keep-alive
    /// comments, within this time; a server whose tools may run longer than this without
    /// writing anything (JSON responses, no keep-alives) should raise it.
    pub idle_timeout: Duration,
    /// Connections served at once; further connections wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 512,
        }
    }
}

impl ServeConfig {
    /// The defaults (see [`ServeConfig`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`header_read_timeout`](Self::header_read_timeout).
    #[must_use]
    pub fn header_read_timeout(mut self, t: Duration) -> Self {
        self.header_read_timeout = t;
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    #[must_use]
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = t;
        self
    }

    /// Sets [`max_connections`](Self::max_connections) (at least 1).
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }
}

/// The longest pause after a failed `accept`.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Serves HTTP/1.1 connections from `listener` for ever, one task per connection, with
/// the limits of `config`; `make_service` builds the service for each connection from the
/// peer's address. Never returns on an accept error (see the [module](self) docs).
pub async fn serve<F, S, B>(listener: TcpListener, config: ServeConfig, make_service: F)
where
    F: FnMut(SocketAddr) -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    serve_until(
        listener,
        config,
        make_service,
        std::future::pending(),
        Duration::ZERO,
    )
    .await;
}

/// [`serve`] until `shutdown` completes (a SIGTERM, say), then drains: it stops
/// accepting, asks every open connection to finish the request in flight and close
/// (hyper's graceful shutdown: idle keep-alive connections close at once), and returns
/// when all have closed or `drain` has passed, whichever is first.
pub async fn serve_until<F, S, B>(
    listener: TcpListener,
    config: ServeConfig,
    mut make_service: F,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) where
    F: FnMut(SocketAddr) -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let max = config.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = Duration::ZERO;
    loop {
        // The semaphore is never closed, so this only waits.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(c) => {
                backoff = Duration::ZERO;
                c
            }
            Err(e) => {
                // EMFILE, ENFILE, ENOBUFS, ECONNABORTED...: none of them is a reason to
                // stop serving the clients that come next.
                backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_BACKOFF);
                tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let svc = make_service(peer);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(IdleTimeout::new(stream, config.idle_timeout));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(config.header_read_timeout)
                .serve_connection(io, svc);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = async {
                    // The guard `wait_for` returns is not `Send`: drop it here.
                    let _ = stop.wait_for(|stopping| *stopping).await;
                } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(drain, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            drain_ms = drain.as_millis() as u64,
            "connections still open after the drain time; closing"
        );
    }
}

/// A TCP stream that fails a read or write left waiting longer than `idle` since the last
/// byte moved either way.
///
/// Progress only records the time; the timer is moved lazily when it fires early, so a
/// busy connection pays one clock read per read or write, not a timer-wheel update.
struct IdleTimeout {
    io: TcpStream,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    fn new(io: TcpStream, idle: Duration) -> Self {
        let now = crate::sys::timer_now();
        IdleTimeout {
            io,
            idle,
            last: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    fn progress(&mut self) {
        self.last = crate::sys::timer_now();
    }

    /// Called when the stream is not ready: true once the idle time is up (the timer is
    /// armed for the current deadline otherwise, so the task wakes then).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let deadline = self.last + self.idle;
            if deadline <= crate::sys::timer_now() {
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
    }

    /// What a read or write that returned `poll` gives back: progress is recorded, and a
    /// wait past the idle time becomes a `TimedOut` error.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.progress();
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle too long")
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        this.watch(cx, poll)
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
