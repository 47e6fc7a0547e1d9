//! OAuth for rmcp clients: wrap any rmcp [`StreamableHttpClient`] and every request to the
//! MCP server's resource URL carries a token; a `401` runs the flow (or a refresh), a
//! `403 insufficient_scope` steps up, and the request is retried.
//!
//! The token goes only to the resource URL: its origin, and a path equal to its path or
//! below it on a segment boundary (`/mcp` covers `/mcp/x`, not `/mcpx`), as for
//! [`OAuthLayer`](super::OAuthLayer). A request to any other URL is passed to the inner
//! client as it was made, with the caller's own `auth_header` and without the token.
//!
//! ```no_run
//! # async fn demo(oauth: mcp_oauth_transport_adapters::client::OAuthClient<mcp_oauth_client_flow::MemoryStore>,
//! #               http: impl rmcp::transport::streamable_http_client::StreamableHttpClient + Sync) {
//! use mcp_oauth_transport_adapters::client::AuthorizedHttpClient;
//! use rmcp::transport::StreamableHttpClientTransport;
//! use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
//! let server = mcp_oauth_client_flow::ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
//! let client = AuthorizedHttpClient::new(http, oauth, server);
//! let transport = StreamableHttpClientTransport::with_client(
//!     client,
//!     StreamableHttpClientTransportConfig::with_uri("https://mcp.example.com/mcp"),
//! );
//! # let _ = transport; }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_core::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use mcp_oauth_client_flow::{CredentialStore, ResourceUri};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;

use super::{ClientError, OAuthClient};

/// Retries after authorization per request (a 401, then up to two step-ups).
const MAX_ATTEMPTS: usize = 4;

/// An rmcp HTTP client with OAuth (module docs).
pub struct AuthorizedHttpClient<C, S> {
    inner: C,
    oauth: OAuthClient<S>,
    server: ResourceUri,
    last_error: Arc<Mutex<Option<Arc<ClientError>>>>,
}

impl<C: Clone, S> Clone for AuthorizedHttpClient<C, S> {
    fn clone(&self) -> Self {
        AuthorizedHttpClient {
            inner: self.inner.clone(),
            oauth: self.oauth.clone(),
            server: self.server.clone(),
            last_error: self.last_error.clone(),
        }
    }
}

impl<C, S> AuthorizedHttpClient<C, S> {
    /// Wraps `inner` for the MCP server at `server` (the resource URL whose token is
    /// attached, to it and to the paths below it only).
    pub fn new(inner: C, oauth: OAuthClient<S>, server: ResourceUri) -> Self {
        AuthorizedHttpClient {
            inner,
            oauth,
            server,
            last_error: Arc::new(Mutex::new(None)),
        }
    }

    /// Why the last authorization attempt failed, if it did (rmcp reports the server's
    /// 401/403; this says why no token could be obtained).
    pub fn last_error(&self) -> Option<Arc<ClientError>> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the token may go with a request to `uri` (the resource URL or below it).
    fn covers(&self, uri: &str) -> bool {
        uri.parse::<http::Uri>()
            .is_ok_and(|u| super::layer::covers(&u, &self.server))
    }
}

impl<C, S: CredentialStore + 'static> AuthorizedHttpClient<C, S> {
    /// The header to send to `uri`: the current token on the resource URL, else the
    /// caller's own.
    async fn auth_for(&self, uri: &str, caller: Option<String>) -> Option<String> {
        if self.covers(uri) {
            self.oauth.access_token(&self.server).await.ok().flatten()
        } else {
            caller
        }
    }
}

/// The operation a message performs, for the step-up cap: the method, and for
/// `tools/call` the tool.
fn operation(message: &ClientJsonRpcMessage) -> String {
    match message {
        ClientJsonRpcMessage::Request(r) => match &r.request {
            ClientRequest::CallToolRequest(c) => format!("tools/call:{}", c.params.name),
            other => other.method().to_owned(),
        },
        _ => "notification".to_owned(),
    }
}

fn challenge_headers(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    h
}

impl<C, S> StreamableHttpClient for AuthorizedHttpClient<C, S>
where
    C: StreamableHttpClient + Sync,
    S: CredentialStore + 'static,
{
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        if !self.covers(&uri) {
            // Not the resource: no token, and no authorization on its 401 or 403.
            return self
                .inner
                .post_message_with_response_limits(
                    uri,
                    message,
                    session_id,
                    auth_header,
                    custom_headers,
                    limits,
                )
                .await;
        }
        let op = operation(&message);
        let mut token = self.oauth.access_token(&self.server).await.ok().flatten();
        let mut attempt = 0;
        loop {
            let r = self
                .inner
                .post_message_with_response_limits(
                    uri.clone(),
                    message.clone(),
                    session_id.clone(),
                    token.clone(),
                    custom_headers.clone(),
                    limits,
                )
                .await;
            let (status, header) = match &r {
                Err(StreamableHttpError::AuthRequired(e)) => {
                    (StatusCode::UNAUTHORIZED, e.www_authenticate_header.clone())
                }
                Err(StreamableHttpError::InsufficientScope(e)) => {
                    (StatusCode::FORBIDDEN, e.www_authenticate_header.clone())
                }
                Ok(_) => {
                    self.oauth.operation_succeeded(&self.server, &op);
                    return r;
                }
                Err(_) => return r,
            };
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                return r;
            }
            match self
                .oauth
                .handle_challenge(
                    &self.server,
                    status,
                    &challenge_headers(&header),
                    token.as_deref(),
                    &op,
                )
                .await
            {
                Ok(t) => token = Some(t),
                Err(e) => {
                    tracing::warn!(target: "mcp_oauth::client_flow", error = %e, "authorization failed");
                    *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(e));
                    return r;
                }
            }
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let token = self.auth_for(&uri, auth_header).await;
        self.inner
            .delete_session(uri, session_id, token, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let token = self.auth_for(&uri, auth_header).await;
        self.inner
            .get_stream(uri, session_id, last_event_id, token, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let token = self.auth_for(&uri, auth_header).await;
        self.inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                token,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
