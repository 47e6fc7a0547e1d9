//! The rmcp wrapper: the token goes with requests to the resource URL (and below it) only;
//! to any other URL the inner client gets the caller's own `auth_header` (here none).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;

use super::*;
use crate::client::AuthorizedHttpClient;

type Calls = Arc<Mutex<Vec<(&'static str, String, Option<String>)>>>;

/// An rmcp HTTP client that records what it was asked to send.
#[derive(Clone, Default)]
struct Recorder(Calls);

impl Recorder {
    fn note(&self, what: &'static str, uri: &str, auth: Option<String>) {
        self.0.lock().unwrap().push((what, uri.to_owned(), auth));
    }
}

struct NoEvents;

impl futures_core::Stream for NoEvents {
    type Item = Result<Sse, SseError>;
    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(None)
    }
}

impl StreamableHttpClient for Recorder {
    type Error = std::io::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        _: ClientJsonRpcMessage,
        _: Option<Arc<str>>,
        auth_header: Option<String>,
        _: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.note("post", &uri, auth_header);
        Ok(StreamableHttpPostResponse::Accepted)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        _: Arc<str>,
        auth_header: Option<String>,
        _: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.note("delete", &uri, auth_header);
        Ok(())
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        _: Option<Arc<str>>,
        _: Option<String>,
        auth_header: Option<String>,
        _: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.note("get", &uri, auth_header);
        Ok(Box::pin(NoEvents))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_rmcp_client_sends_the_token_to_the_resource_url_only() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let server = ResourceUri::parse(&format!("{base}/mcp")).unwrap();
    let oauth = client(Arc::new(MemoryStore::new()));
    let (status, headers) = mcp(&base, None).await;
    oauth
        .handle_challenge(&server, status, &headers, None, "x")
        .await
        .unwrap();
    let recorder = Recorder::default();
    let c = AuthorizedHttpClient::new(recorder.clone(), oauth, server);
    let message: ClientJsonRpcMessage =
        serde_json::from_value(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .unwrap();
    let covered = [format!("{base}/mcp"), format!("{base}/mcp/sub")];
    let elsewhere = [
        format!("{base}/mcpx"),
        format!("{base}/other"),
        format!("{base}/mcp/../token"),
        "https://evil.example/mcp".to_owned(),
        "not a url".to_owned(),
    ];
    for uri in covered.iter().chain(&elsewhere) {
        let uri: Arc<str> = uri.as_str().into();
        c.post_message(uri.clone(), message.clone(), None, None, HashMap::new())
            .await
            .unwrap();
        c.delete_session(uri.clone(), "s".into(), None, HashMap::new())
            .await
            .unwrap();
        let _ = c
            .get_stream(uri.clone(), None, None, None, HashMap::new())
            .await
            .unwrap();
        c.get_stream_with_max_sse_event_size(uri, None, None, None, HashMap::new(), 1024)
            .await
            .map(|_| ())
            .unwrap();
    }
    // The caller's own header still goes where the token does not.
    c.post_message(
        format!("{base}/other").into(),
        message.clone(),
        None,
        Some("the-callers-own".into()),
        HashMap::new(),
    )
    .await
    .unwrap();
    let calls = recorder.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 4 * (covered.len() + elsewhere.len()) + 1);
    for (what, uri, auth) in &calls {
        if covered.contains(uri) {
            assert_eq!(auth.as_deref(), Some("at-0"), "{what} {uri}");
        } else if auth.is_some() {
            assert_eq!(
                (what, uri.as_str(), auth.as_deref()),
                (
                    &"post",
                    format!("{base}/other").as_str(),
                    Some("the-callers-own")
                )
            );
        }
    }
    assert_eq!(
        calls.iter().filter(|(_, _, a)| a.is_none()).count(),
        4 * elsewhere.len()
    );
}
