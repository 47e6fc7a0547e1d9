//! One request in, one outcome out: which endpoint a request is for (by method and path
//! under the issuer), and what that endpoint answers. The adapter only collects the body,
//! rate-limits, draws entropy and fetches client metadata documents when asked; a test
//! drives the whole server through this one function, in memory.

use std::net::IpAddr;

use http::{Method, Request, Response, StatusCode, header};
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::CheckedDocument;

use super::AuthorizationServer;
use super::authorize::AuthorizeOutcome;
use crate::storage::Storage;

/// What [`AuthorizationServer::handle`] decided.
#[derive(Debug)]
#[non_exhaustive]
pub enum Handled {
    /// Send this response.
    Respond(Response<Vec<u8>>),
    /// The authorization request names a client ID metadata document not in storage:
    /// fetch `url` through the SSRF-guarded client, check it with
    /// [`mcp_oauth_dcr::CimdPolicy::check`] and call [`AuthorizationServer::handle`] again
    /// with the same request and `Some(document)` (or answer `400` if the fetch failed).
    FetchClientMetadata {
        /// The document's URL.
        url: String,
    },
}

/// The endpoints, as the request's path names them below the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Metadata,
    Jwks,
    Authorize,
    Token,
    Register,
    Revoke,
    Introspect,
}

impl<S: Storage> AuthorizationServer<S> {
    /// Answers one request: the RFC 8414 metadata (at the path-inserted well-known URL),
    /// `/jwks`, `/authorize`, `/token`, `/register`, `/revoke` and `/introspect` below the
    /// issuer's path; anything else is `404`, a known path with another method `405`.
    ///
    /// The caller passes the request with its body already read (at most
    /// [`MAX_FORM_LEN`](crate::MAX_FORM_LEN) bytes: the endpoints refuse more), `now`, the
    /// client's address (for the per-source registration limits), 64 bytes of fresh
    /// entropy, and the client metadata document when a previous call asked for it.
    pub fn handle(
        &self,
        now: UnixTime,
        request: &Request<Vec<u8>>,
        source: Option<IpAddr>,
        entropy: &[u8; 64],
        document: Option<&CheckedDocument>,
    ) -> Handled {
        let Some(endpoint) = self.endpoint(request.uri().path()) else {
            return Handled::Respond(plain(StatusCode::NOT_FOUND, "not found"));
        };
        let expected = match endpoint {
            Endpoint::Metadata | Endpoint::Jwks | Endpoint::Authorize => Method::GET,
            _ => Method::POST,
        };
        if request.method() != expected {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            if let Ok(v) = http::HeaderValue::from_str(expected.as_str()) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return Handled::Respond(r);
        }
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let body = request.body();
        Handled::Respond(match endpoint {
            Endpoint::Metadata => self.metadata_response(),
            Endpoint::Jwks => self.jwks_response(),
            Endpoint::Authorize => {
                let query = request.uri().query().unwrap_or("");
                match self.authorize(now, query, document, entropy) {
                    AuthorizeOutcome::Redirect(r) | AuthorizeOutcome::ErrorPage(r) => r,
                    AuthorizeOutcome::FetchClientMetadata { url } if document.is_none() => {
                        return Handled::FetchClientMetadata { url };
                    }
                    AuthorizeOutcome::FetchClientMetadata { .. } => {
                        plain(StatusCode::BAD_REQUEST, "client metadata document unusable")
                    }
                }
            }
            Endpoint::Token => self.token(now, authorization, body, entropy),
            Endpoint::Register => {
                let mut e = [0u8; 48];
                e.copy_from_slice(entropy.get(..48).unwrap_or(&[0u8; 48]));
                self.register(now, source, authorization, body, &e)
            }
            Endpoint::Revoke => self.revoke(now, authorization, body),
            Endpoint::Introspect => self.introspect(now, authorization, body),
        })
    }

    /// The endpoint `path` names, if any: paths live below the issuer's own path; the
    /// metadata lives at the RFC 8414 §3.1 path-inserted well-known URL.
    fn endpoint(&self, path: &str) -> Option<Endpoint> {
        let issuer_path = mcp_oauth_resource_indicators::ResourceUri::parse(&self.config().issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        if path
            .strip_prefix("/.well-known/oauth-authorization-server")
            .is_some_and(|rest| rest == issuer_path)
        {
            return Some(Endpoint::Metadata);
        }
        Some(match path.strip_prefix(issuer_path.as_str())? {
            "/jwks" => Endpoint::Jwks,
            "/authorize" => Endpoint::Authorize,
            "/token" => Endpoint::Token,
            "/register" => Endpoint::Register,
            "/revoke" => Endpoint::Revoke,
            "/introspect" => Endpoint::Introspect,
            _ => return None,
        })
    }
}

fn plain(status: StatusCode, text: &str) -> Response<Vec<u8>> {
    let mut r = Response::new(text.as_bytes().to_vec());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
