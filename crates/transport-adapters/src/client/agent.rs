//! The user-agent step of the authorization code flow: a loopback redirect listener for
//! people (RFC 8252), and a headless browser for tests and CI.

use core::fmt;
use core::time::Duration;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mcp_oauth_resource_indicators::url::{Url, form_urlencoded};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::http::Fetcher;

/// A boxed future, as the object-safe traits here return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the user-agent step failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AgentError {
    /// No callback within the time limit.
    Timeout,
    /// The authorization server's pages could not be followed to the redirect URI.
    Stuck(String),
    /// A socket or HTTP failure.
    Io(String),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Timeout => f.write_str("no authorization callback in time"),
            AgentError::Stuck(s) => write!(f, "authorization did not reach the redirect URI: {s}"),
            AgentError::Io(s) => write!(f, "user agent: {s}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Takes the user to the authorization URL and comes back with the URL the
/// authorization server redirected to.
pub trait UserAgent: Send + Sync {
    /// The redirect URI to register and send.
    fn redirect_uri(&self) -> String;
    /// Sends the user agent to `url`; resolves to the full callback URL.
    fn authorize<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, AgentError>>;
}

fn param(url: &str, name: &str) -> Option<String> {
    let u = Url::parse(url).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An RFC 8252 §7.3 loopback redirect listener: `http://127.0.0.1:<ephemeral>/callback`,
/// accepting only a callback that carries the `state` of the request it is waiting for,
/// for a limited time. It opens the system browser (`xdg-open`/`open`) when asked, and
/// always prints the URL on standard error.
#[derive(Debug)]
pub struct LoopbackRedirect {
    listener: tokio::sync::Mutex<Option<TcpListener>>,
    port: u16,
    timeout: Duration,
    open_browser: bool,
}

impl LoopbackRedirect {
    /// Binds `127.0.0.1:0` (an ephemeral port).
    pub async fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        Ok(LoopbackRedirect {
            listener: tokio::sync::Mutex::new(Some(listener)),
            port,
            timeout: Duration::from_secs(300),
            open_browser: false,
        })
    }

    /// Another time limit (default 5 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Try to open the system browser on the authorization URL.
    pub fn open_browser(mut self, yes: bool) -> Self {
        self.open_browser = yes;
        self
    }
}

impl UserAgent for LoopbackRedirect {
    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    fn authorize<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, AgentError>> {
        Box::pin(async move {
            let state = param(url, "state")
                .ok_or_else(|| AgentError::Stuck("no state in the request".into()))?;
            eprintln!("Open this URL to authorize:\n  {url}");
            if self.open_browser {
                let opener = if cfg!(target_os = "macos") {
                    "open"
                } else {
                    "xdg-open"
                };
                let _ = std::process::Command::new(opener)
                    .arg(url)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            }
            let mut guard = self.listener.lock().await;
            let listener = guard
                .as_mut()
                .ok_or_else(|| AgentError::Io("listener gone".into()))?;
            let (tx, mut rx) = mpsc::channel::<String>(1);
            let base = self.redirect_uri();
            let wait = async {
                loop {
                    tokio::select! {
                        got = rx.recv() => if let Some(u) = got { return Ok(u) },
                        acc = listener.accept() => {
                            let (stream, _) = acc.map_err(|e| AgentError::Io(e.to_string()))?;
                            let tx = tx.clone();
                            let state = state.clone();
                            let base = base.clone();
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                                    let tx = tx.clone();
                                    let state = state.clone();
                                    let base = base.clone();
                                    async move {
                                        Ok::<_, std::convert::Infallible>(callback_page(req, &base, &state, &tx).await)
                                    }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                    }
                }
            };
            tokio::time::timeout(self.timeout, wait)
                .await
                .map_err(|_| AgentError::Timeout)?
        })
    }
}

async fn callback_page(
    req: Request<Incoming>,
    base: &str,
    state: &str,
    tx: &mpsc::Sender<String>,
) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or("");
    let is_callback = req.method() == Method::GET && req.uri().path() == "/callback";
    let state_ok =
        form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "state" && v == state);
    let (status, text) = if is_callback && state_ok {
        let _ = tx.send(format!("{base}?{query}")).await;
        (
            StatusCode::OK,
            "Authorization finished; you can close this window.",
        )
    } else {
        (
            StatusCode::NOT_FOUND,
            "Not the callback this client is waiting for.",
        )
    };
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Receives each hop of a [`HeadlessBrowser`] (method and URL).
pub type HopLog = Arc<dyn Fn(&str) + Send + Sync>;

/// A headless user agent for tests, CI and the conformance suite: it fetches the
/// authorization URL and follows the authorization server's redirects with a cookie jar
/// until one points at the redirect URI. A login or consent page with one HTML form is
/// submitted with its hidden fields plus the configured `login`/`password` (what
/// oidc-provider's development interactions ask for). **Never point it at a real
/// identity provider with real credentials**: it is a robot that clicks "allow".
#[derive(Clone)]
pub struct HeadlessBrowser {
    fetcher: Fetcher,
    redirect_uri: String,
    login: Option<(String, String)>,
    max_hops: usize,
    log: Option<HopLog>,
}

impl fmt::Debug for HeadlessBrowser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadlessBrowser")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl HeadlessBrowser {
    /// Fetches through `fetcher`; stops at `redirect_uri` (nothing needs to listen there).
    pub fn new(fetcher: Fetcher, redirect_uri: impl Into<String>) -> Self {
        HeadlessBrowser {
            fetcher,
            redirect_uri: redirect_uri.into(),
            login: None,
            max_hops: 20,
            log: None,
        }
    }

    /// Fill login forms with these.
    pub fn login(mut self, login: impl Into<String>, password: impl Into<String>) -> Self {
        self.login = Some((login.into(), password.into()));
        self
    }

    /// Report each hop (method and URL) to `log`.
    pub fn on_hop(mut self, log: HopLog) -> Self {
        self.log = Some(log);
        self
    }

    fn reached(&self, url: &str) -> bool {
        match (Url::parse(url), Url::parse(&self.redirect_uri)) {
            (Ok(a), Ok(b)) => {
                a.scheme() == b.scheme()
                    && a.host_str() == b.host_str()
                    && a.port_or_known_default() == b.port_or_known_default()
                    && a.path() == b.path()
            }
            _ => false,
        }
    }
}

#[derive(Default)]
struct Jar(Vec<(String, String, String)>);

impl Jar {
    fn store(&mut self, host: &str, resp: &Response<Bytes>) {
        for v in resp.headers().get_all(header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("");
            if let Some((n, val)) = pair.split_once('=') {
                let n = n.trim().to_owned();
                self.0.retain(|(h, name, _)| !(h == host && *name == n));
                self.0.push((host.to_owned(), n, val.trim().to_owned()));
            }
        }
    }

    fn header(&self, host: &str) -> Option<String> {
        let v: Vec<String> = self
            .0
            .iter()
            .filter(|(h, _, _)| h == host)
            .map(|(_, n, v)| format!("{n}={v}"))
            .collect();
        (!v.is_empty()).then(|| v.join("; "))
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let rest = tag.get(start..)?;
    Some(rest.get(..rest.find('"')?)?.replace("&amp;", "&"))
}

/// The single form of a page: its action and hidden inputs.
fn form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let start = html.find("<form")?;
    let tag_end = html.get(start..)?.find('>')? + start;
    let action = attr(html.get(start..tag_end)?, "action")?;
    let body = html.get(tag_end..)?;
    let body = body.get(..body.find("</form>").unwrap_or(body.len()))?;
    let mut fields = Vec::new();
    for piece in body.split("<input").skip(1) {
        let tag = piece.get(..piece.find('>').unwrap_or(piece.len()))?;
        if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
            fields.push((n, v));
        }
    }
    Some((action, fields))
}

impl UserAgent for HeadlessBrowser {
    fn redirect_uri(&self) -> String {
        self.redirect_uri.clone()
    }

    fn authorize<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, AgentError>> {
        Box::pin(async move {
            let mut jar = Jar::default();
            let mut next = (Method::GET, url.to_owned(), None::<String>);
            for _ in 0..self.max_hops {
                let (method, target, body) = next.clone();
                if self.reached(&target) {
                    return Ok(target);
                }
                if let Some(log) = &self.log {
                    log(&format!("{method} {target}"));
                }
                let current =
                    Url::parse(&target).map_err(|e| AgentError::Stuck(format!("{target}: {e}")))?;
                let host = current.host_str().unwrap_or("").to_owned();
                let mut b = Request::builder().method(method.clone()).uri(&target);
                if let Some(c) = jar.header(&host) {
                    b = b.header(header::COOKIE, c);
                }
                if body.is_some() {
                    b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                }
                let req = b
                    .body(body.unwrap_or_default().into_bytes())
                    .map_err(|e| AgentError::Stuck(e.to_string()))?;
                let resp = self
                    .fetcher
                    .fetch(req)
                    .await
                    .map_err(|e| AgentError::Io(format!("{target}: {e}")))?;
                jar.store(&host, &resp);
                if resp.status().is_redirection() {
                    let loc = resp
                        .headers()
                        .get(header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| AgentError::Stuck("redirect without Location".into()))?;
                    let joined = current
                        .join(loc)
                        .map_err(|e| AgentError::Stuck(format!("{loc}: {e}")))?;
                    next = (Method::GET, joined.into(), None);
                    continue;
                }
                let html = String::from_utf8_lossy(resp.body());
                let Some((action, mut fields)) = form(&html) else {
                    return Err(AgentError::Stuck(format!(
                        "{target} answered {} without a redirect or a form",
                        resp.status()
                    )));
                };
                if let Some((l, p)) = &self.login {
                    fields.retain(|(k, _)| k != "login" && k != "password");
                    fields.push(("login".into(), l.clone()));
                    fields.push(("password".into(), p.clone()));
                }
                let action = current
                    .join(&action)
                    .map_err(|e| AgentError::Stuck(format!("{action}: {e}")))?;
                let body = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                next = (Method::POST, action.into(), Some(body));
            }
            Err(AgentError::Stuck("too many hops".into()))
        })
    }
}
