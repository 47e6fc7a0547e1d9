//! The authorization endpoint (OAuth 2.1 §4.1.1, RFC 8707, RFC 9207).

use http::{HeaderValue, Response, StatusCode, header};
use mcp_oauth_common::{ErrorCode, UnixTime};
use mcp_oauth_dcr::{CheckedDocument, redirect_matches};
use mcp_oauth_pkce::CodeChallenge;
use mcp_oauth_resource_indicators::url::Url;

use super::{
    AuthorizationServer, ConsentDecision, ConsentRequest, MAX_QUERY_LEN, b64, params, sha256,
    storable,
};
use crate::ops::{Op, Outcome};
use crate::storage::{CodeRecord, Storage, StoredClient};

/// What the authorization endpoint decided.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthorizeOutcome {
    /// Send this redirect (a code, or an error the client may see), with `iss`.
    Redirect(Response<Vec<u8>>),
    /// Show this error to the user and do **not** redirect: the client or its redirect
    /// URI could not be verified (RFC 6749 §4.1.2.1).
    ErrorPage(Response<Vec<u8>>),
    /// `client_id` is a client ID metadata document URL not in storage (or stale): fetch
    /// it through the SSRF-guarded client, check it with
    /// [`mcp_oauth_dcr::CimdPolicy::check`], and call
    /// [`AuthorizationServer::authorize`](crate::AuthorizationServer::authorize) again with the document.
    FetchClientMetadata {
        /// The URL.
        url: String,
    },
}

impl<S: Storage> AuthorizationServer<S> {
    fn error_page(status: StatusCode, text: &str) -> AuthorizeOutcome {
        let mut r = Response::new(text.as_bytes().to_vec());
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        // The text may echo a parameter name: never let a browser sniff it as HTML.
        r.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        AuthorizeOutcome::ErrorPage(r)
    }

    fn redirect(&self, redirect_uri: &str, pairs: &[(&str, &str)]) -> AuthorizeOutcome {
        let Ok(mut url) = Url::parse(redirect_uri) else {
            return Self::error_page(StatusCode::BAD_REQUEST, "invalid redirect_uri");
        };
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            // RFC 9207: on every response, success or error.
            q.append_pair("iss", &self.config.issuer);
        }
        let mut r = Response::new(Vec::new());
        *r.status_mut() = StatusCode::FOUND;
        if let Ok(v) = HeaderValue::from_str(url.as_str()) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        AuthorizeOutcome::Redirect(r)
    }

    /// The authorization endpoint (OAuth 2.1 §4.1.1): client lookup (or a client ID
    /// metadata document, `document`, fetched by the adapter), exact redirect URI match
    /// (RFC 8252 loopback port rule), `response_type=code`, PKCE S256 required,
    /// `resource` validated and bound to the code, scope checked, consent, then a code
    /// of 256 bits from `entropy` (single use, [`AsConfig::code_ttl`](crate::AsConfig::code_ttl) seconds, bound to
    /// client, redirect URI, challenge and resource).
    ///
    /// Errors before the redirect URI is verified are shown ([`AuthorizeOutcome::ErrorPage`](crate::AuthorizeOutcome::ErrorPage)),
    /// never redirected. Errors after it (`response_type`, PKCE, `resource`, `scope`) are
    /// redirected only for clients configured out of band; for self-registered clients
    /// and client ID metadata documents they are shown too, since the user has not
    /// interacted yet (RFC 9700 §4.11.2). A refusal at the consent step is always
    /// redirected (`access_denied`). A metadata document is stored (a known-members copy,
    /// within [`AsConfig::max_metadata_documents`](crate::AsConfig::max_metadata_documents)) until its `cache_until`.
    pub fn authorize(
        &self,
        now: UnixTime,
        query: &str,
        document: Option<&CheckedDocument>,
        entropy: &[u8; 64],
    ) -> AuthorizeOutcome {
        if query.len() > MAX_QUERY_LEN {
            return Self::error_page(StatusCode::BAD_REQUEST, "request too large");
        }
        let p = match params(query.as_bytes()) {
            Ok(p) => p,
            Err(e) => return Self::error_page(StatusCode::BAD_REQUEST, &e.description),
        };
        let Some(client_id) = p.get("client_id") else {
            return Self::error_page(StatusCode::BAD_REQUEST, "client_id is missing");
        };
        let client = match self.storage.client(client_id) {
            Some(c) if c.cache_until.is_none_or(|t| t > now) => c,
            _ if self.config.cimd && client_id.starts_with("https://") => match document {
                Some(d) => {
                    let metadata = match storable(d.metadata.clone()) {
                        Ok(m) => m,
                        Err(r) => {
                            return Self::error_page(
                                StatusCode::BAD_REQUEST,
                                &format!("client metadata document: {}", r.description),
                            );
                        }
                    };
                    let c =
                        StoredClient::document(client_id, metadata, d.cache_until.unwrap_or(now));
                    let op = Op::AddClient {
                        client: c.clone(),
                        limits: self.config.client_limits(),
                        now,
                    };
                    match self.storage.apply(op) {
                        Outcome::Applied => {}
                        Outcome::LimitReached(e) => {
                            return Self::error_page(
                                StatusCode::SERVICE_UNAVAILABLE,
                                &format!("{e}; try again later"),
                            );
                        }
                        _ => {
                            return Self::error_page(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "the client could not be stored",
                            );
                        }
                    }
                    c
                }
                None => {
                    return AuthorizeOutcome::FetchClientMetadata {
                        url: client_id.to_owned(),
                    };
                }
            },
            _ => return Self::error_page(StatusCode::BAD_REQUEST, "unknown client"),
        };
        let registered = client.metadata.redirect_uris.clone().unwrap_or_default();
        let redirect_uri = match p.get("redirect_uri") {
            Some(r) if redirect_matches(&registered, r) => r.to_owned(),
            Some(_) => {
                return Self::error_page(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri is not registered for this client",
                );
            }
            None if registered.len() == 1 => registered.first().cloned().unwrap_or_default(),
            None => return Self::error_page(StatusCode::BAD_REQUEST, "redirect_uri is missing"),
        };
        // From here on, errors go back to the (verified) redirect URI, but only for a
        // client the operator configured. Anyone can register a client (RFC 7591) or
        // publish a metadata document with any `https` redirect URI, so redirecting an
        // error before the user has interacted would make this server an open redirector
        // (RFC 9700 §4.11.2, BCP-1): for those clients the error is shown instead.
        let state = p.get("state");
        let redirect_error = |code: ErrorCode, desc: &str| {
            let mut pairs = vec![("error", code.as_str()), ("error_description", desc)];
            if let Some(s) = state {
                pairs.push(("state", s));
            }
            self.redirect(&redirect_uri, &pairs)
        };
        let trusted = client.trusted();
        let err = |code: ErrorCode, desc: &str| {
            if trusted {
                redirect_error(code, desc)
            } else {
                Self::error_page(StatusCode::BAD_REQUEST, &format!("{code}: {desc}"))
            }
        };
        if p.get("response_type") != Some("code") {
            return err(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code",
            );
        }
        let challenge = match CodeChallenge::from_request(
            p.get("code_challenge"),
            p.get("code_challenge_method"),
        ) {
            Ok(c) => c,
            Err(e) => return err(ErrorCode::parse(e.oauth_error_code()), &e.to_string()),
        };
        let rs = match self.resource_for(&p.resources) {
            Ok(r) => r,
            Err(code) => return err(code, "resource is missing, repeated or not served here"),
        };
        let scopes = match Self::check_scopes(rs, p.get("scope")) {
            Ok(s) => s,
            Err(code) => return err(code, "a requested scope is not offered for this resource"),
        };
        let decision = self.consent.decide(&ConsentRequest {
            client_id: client.client_id.clone(),
            client_name: client.metadata.client_name.clone(),
            resource: rs.resource.as_str().to_owned(),
            scopes: scopes.clone(),
            redirect_uri: redirect_uri.clone(),
        });
        let (subject, granted) = match decision {
            ConsentDecision::Approve { subject, scopes: g } => (
                subject,
                g.into_iter()
                    .filter(|s| scopes.contains(s))
                    .collect::<Vec<_>>(),
            ),
            // The user has seen the request: the refusal goes back to the client.
            ConsentDecision::Deny => {
                return redirect_error(ErrorCode::AccessDenied, "the user refused");
            }
        };
        let (code_bytes, family_bytes) = entropy.split_at(32);
        let code = b64(code_bytes);
        let op = Op::IssueCode {
            digest: sha256(code.as_bytes()),
            record: CodeRecord {
                client_id: client.client_id,
                redirect_uri: redirect_uri.clone(),
                challenge: challenge.as_string(),
                resource: rs.resource.as_str().to_owned(),
                scope: granted.join(" "),
                subject,
                expires_at: now.add_secs(self.config.code_ttl),
                family: b64(family_bytes),
            },
        };
        if self.storage.apply(op) != Outcome::Applied {
            return Self::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the authorization could not be stored",
            );
        }
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = state {
            pairs.push(("state", s));
        }
        self.redirect(&redirect_uri, &pairs)
    }
}
