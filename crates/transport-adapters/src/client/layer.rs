//! A tower layer for HTTP clients: every request to the MCP server's resource URL carries
//! the current token; a `401` runs the flow (or a refresh), a `403 insufficient_scope` steps
//! up, and the request is sent again. Bodies must be `Clone` so a request can be retried.
//!
//! "To the resource URL" means the resource's origin (scheme, host, port) and a path equal
//! to its path or below it on a segment boundary: for `https://mcp.example.com/mcp`, the
//! token goes to `/mcp`, `/mcp/` and `/mcp/x`, never to `/mcpx`, `/other`, a path with a
//! `.` or `..` segment, or another origin. Other requests pass through as they are, without
//! the token.
//!
//! ```no_run
//! # async fn demo(oauth: mcp_oauth_transport_adapters::client::OAuthClient<mcp_oauth_client_flow::MemoryStore>,
//! #               fetcher: mcp_oauth_transport_adapters::Fetcher) {
//! use mcp_oauth_transport_adapters::client::OAuthLayer;
//! use tower_layer::Layer as _;
//! let server = mcp_oauth_client_flow::ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
//! let http = tower::service_fn(move |req| { let f = fetcher.clone(); async move { f.fetch(req).await } });
//! let mut authorized = OAuthLayer::new(oauth, server).layer(http);
//! # let _ = &mut authorized; }
//! ```

use core::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, StatusCode, header};
use mcp_oauth_client_flow::{CredentialStore, ResourceUri};
use tower_layer::Layer;
use tower_service::Service;

use super::{BoxFuture, ClientError, OAuthClient};

/// Whether `uri` is on the server's origin (scheme, host, port; default ports ignored).
fn same_origin(uri: &http::Uri, server: &ResourceUri) -> bool {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => ResourceUri::parse(&format!("{scheme}://{authority}"))
            .is_ok_and(|o| o.origin() == server.origin()),
        _ => false,
    }
}

/// Whether the token for `server` may go with a request to `uri`: on the server's origin,
/// with a path equal to the resource's path or below it on a segment boundary (`/mcp`
/// covers `/mcp`, `/mcp/` and `/mcp/x`, not `/mcpx`; the root covers every path), and no
/// `.` or `..` segment (plain or percent-encoded) that a server might resolve elsewhere.
/// The resource's query, if any, is not compared.
pub(super) fn covers(uri: &http::Uri, server: &ResourceUri) -> bool {
    if !same_origin(uri, server) {
        return false;
    }
    let path = uri.path();
    let base = server.path();
    let below = match path.strip_prefix(base) {
        Some("") => true,
        Some(rest) => base.ends_with('/') || rest.starts_with('/'),
        None => false,
    };
    below && !has_dot_segment(path)
}

/// Whether a path has a `.` or `..` segment, spelt plainly or with `%2e`.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        [".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"]
            .iter()
            .any(|dot| segment.eq_ignore_ascii_case(dot))
    })
}

/// Sends of one request at most: the first, then after a 401 and up to two step-ups.
const MAX_SENDS: usize = 4;

/// The layer (module docs).
pub struct OAuthLayer<S> {
    oauth: OAuthClient<S>,
    server: ResourceUri,
}

impl<S> Clone for OAuthLayer<S> {
    fn clone(&self) -> Self {
        OAuthLayer {
            oauth: self.oauth.clone(),
            server: self.server.clone(),
        }
    }
}

impl<S> fmt::Debug for OAuthLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthLayer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl<S> OAuthLayer<S> {
    /// Authorizes requests to the MCP server at `server` with `oauth`.
    pub fn new(oauth: OAuthClient<S>, server: ResourceUri) -> Self {
        OAuthLayer { oauth, server }
    }
}

impl<S, Svc> Layer<Svc> for OAuthLayer<S> {
    type Service = OAuthService<S, Svc>;

    fn layer(&self, inner: Svc) -> Self::Service {
        OAuthService {
            inner,
            oauth: self.oauth.clone(),
            server: self.server.clone(),
        }
    }
}

/// The service [`OAuthLayer`] makes.
pub struct OAuthService<S, Svc> {
    inner: Svc,
    oauth: OAuthClient<S>,
    server: ResourceUri,
}

impl<S, Svc: Clone> Clone for OAuthService<S, Svc> {
    fn clone(&self) -> Self {
        OAuthService {
            inner: self.inner.clone(),
            oauth: self.oauth.clone(),
            server: self.server.clone(),
        }
    }
}

impl<S, Svc> fmt::Debug for OAuthService<S, Svc> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthService")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Why an authorized request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OAuthServiceError<E> {
    /// The inner service failed.
    Inner(E),
    /// No token could be obtained.
    Authorization(ClientError),
}

impl<E: fmt::Display> fmt::Display for OAuthServiceError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OAuthServiceError::Inner(e) => write!(f, "{e}"),
            OAuthServiceError::Authorization(e) => write!(f, "authorization: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for OAuthServiceError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OAuthServiceError::Inner(e) => Some(e),
            OAuthServiceError::Authorization(e) => Some(e),
        }
    }
}

impl<S, Svc, B, RB> Service<Request<B>> for OAuthService<S, Svc>
where
    S: CredentialStore + 'static,
    Svc: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    Svc::Future: Send,
    Svc::Error: Send,
    B: Clone + Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = OAuthServiceError<Svc::Error>;
    type Future = BoxFuture<'static, Result<Response<RB>, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(OAuthServiceError::Inner)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The ready service serves the first send; a clone serves retries.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let oauth = self.oauth.clone();
        let server = self.server.clone();
        Box::pin(async move {
            // The token goes to the MCP server's resource URL it is for, and nowhere else.
            if !covers(req.uri(), &server) {
                poll_fn(|cx| inner.poll_ready(cx))
                    .await
                    .map_err(OAuthServiceError::Inner)?;
                return inner.call(req).await.map_err(OAuthServiceError::Inner);
            }
            let operation = format!("{} {}", req.method(), req.uri().path());
            let mut token = oauth
                .access_token(&server)
                .await
                .map_err(OAuthServiceError::Authorization)?;
            for send in 1..=MAX_SENDS {
                if send > 1 {
                    poll_fn(|cx| inner.poll_ready(cx))
                        .await
                        .map_err(OAuthServiceError::Inner)?;
                }
                let mut r = req.clone();
                if let Some(t) = &token {
                    let v = HeaderValue::from_str(&format!("Bearer {t}"))
                        .map_err(|_| OAuthServiceError::Authorization(ClientError::Forbidden))?;
                    r.headers_mut().insert(header::AUTHORIZATION, v);
                }
                let resp = inner.call(r).await.map_err(OAuthServiceError::Inner)?;
                let status = resp.status();
                let challenged =
                    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
                if !challenged || send == MAX_SENDS {
                    if status.is_success() {
                        oauth.operation_succeeded(&server, &operation);
                    }
                    return Ok(resp);
                }
                match oauth
                    .handle_challenge(
                        &server,
                        status,
                        resp.headers(),
                        token.as_deref(),
                        &operation,
                    )
                    .await
                {
                    Ok(t) => token = Some(t),
                    // A 403 that is not about scope, or the step-up limit: the server's
                    // answer stands.
                    Err(ClientError::Forbidden | ClientError::StepUpLimit) => return Ok(resp),
                    Err(e) => return Err(OAuthServiceError::Authorization(e)),
                }
            }
            Err(OAuthServiceError::Authorization(ClientError::StepUpLimit))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The token is attached on the server's origin only.
    #[test]
    fn origin_check() {
        let server = ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
        let u = |s: &str| s.parse::<http::Uri>().unwrap();
        assert!(same_origin(&u("https://mcp.example.com/mcp"), &server));
        assert!(same_origin(
            &u("https://MCP.example.com:443/other"),
            &server
        ));
        assert!(!same_origin(&u("http://mcp.example.com/mcp"), &server));
        assert!(!same_origin(
            &u("https://mcp.example.com:8443/mcp"),
            &server
        ));
        assert!(!same_origin(&u("https://evil.example.com/mcp"), &server));
        assert!(!same_origin(&u("/mcp"), &server));
    }

    /// MCP-TOK-2, BEARER-9: the token goes to the resource URL (origin and path on a
    /// segment boundary) and nowhere else on the origin.
    #[test]
    fn token_scope_is_the_resource_path() {
        let u = |s: &str| s.parse::<http::Uri>().unwrap();
        let r = |s: &str| ResourceUri::parse(s).unwrap();
        let mcp = r("https://mcp.example.com/mcp");
        for yes in [
            "https://mcp.example.com/mcp",
            "https://mcp.example.com/mcp?x=1",
            "https://mcp.example.com/mcp/",
            "https://mcp.example.com/mcp/x/y",
            "https://MCP.example.com:443/mcp",
        ] {
            assert!(covers(&u(yes), &mcp), "{yes}");
        }
        for no in [
            "https://mcp.example.com/mcpx",
            "https://mcp.example.com/mcp.json",
            "https://mcp.example.com/",
            "https://mcp.example.com/other",
            "https://mcp.example.com/MCP",
            "https://mcp.example.com/m%63p",
            "https://mcp.example.com/mcp/../admin",
            "https://mcp.example.com/mcp/%2E%2e/admin",
            "https://mcp.example.com/mcp/./x",
            "https://mcp.example.com/mcp%2f..%2fadmin",
            "https://mcp.example.com/x/mcp",
            "http://mcp.example.com/mcp",
            "https://evil.example.com/mcp",
            "/mcp",
        ] {
            assert!(!covers(&u(no), &mcp), "{no}");
        }
        // A resource with a trailing slash covers what is below it.
        let slash = r("https://mcp.example.com/mcp/");
        assert!(covers(&u("https://mcp.example.com/mcp/"), &slash));
        assert!(covers(&u("https://mcp.example.com/mcp/x"), &slash));
        assert!(!covers(&u("https://mcp.example.com/mcp"), &slash));
        // The root covers the whole origin.
        let root = r("https://mcp.example.com");
        assert!(covers(&u("https://mcp.example.com/"), &root));
        assert!(covers(&u("https://mcp.example.com/anything"), &root));
        assert!(!covers(&u("https://mcp.example.com/a/../b"), &root));
        // The resource's query is not compared.
        let q = r("https://mcp.example.com/mcp?tenant=a");
        assert!(covers(&u("https://mcp.example.com/mcp"), &q));
    }
}
