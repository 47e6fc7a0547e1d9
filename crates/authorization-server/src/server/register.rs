//! Dynamic client registration (RFC 7591), bounded in size, in total and per source.

use std::net::IpAddr;

use http::{HeaderValue, Response, StatusCode, header};
use mcp_oauth_common::{ErrorCode, UnixTime, source_key};
use mcp_oauth_dcr::{ClientMetadata, RegistrationErrorCode, RegistrationRequestError, Rejection};
use serde_json::{Value, json};

use super::{
    AuthorizationServer, MAX_CONTACTS, MAX_METADATA_STRING, OAuthError, b64, json_response, set,
    sha256,
};
use crate::ops::{Op, Outcome};
use crate::storage::{ClientLimitReached, Storage, StoredClient};

/// What the server keeps of a client's metadata, and sends back in the registration
/// response: the members RFC 7591 §2 defines (unknown members are ignored, DCR-6, so a
/// registration cannot make the server store arbitrary JSON); `jwks` dropped (no
/// authentication method this server accepts uses client keys); grant and response types
/// without repetition. A string member longer than [`MAX_METADATA_STRING`] bytes, or
/// more than [`MAX_CONTACTS`] contacts, is refused with `invalid_client_metadata`.
pub(super) fn storable(mut m: ClientMetadata) -> Result<ClientMetadata, Rejection> {
    let refuse = |what: &str| Rejection {
        code: RegistrationErrorCode::InvalidClientMetadata,
        description: what.to_owned(),
    };
    m.extra = serde_json::Map::new();
    m.jwks = None;
    for list in [&mut m.grant_types, &mut m.response_types]
        .into_iter()
        .flatten()
    {
        let mut seen: Vec<String> = Vec::with_capacity(list.len().min(8));
        for x in list.drain(..) {
            if !seen.contains(&x) {
                seen.push(x);
            }
        }
        *list = seen;
    }
    if m.contacts.as_ref().is_some_and(|c| c.len() > MAX_CONTACTS) {
        return Err(refuse("too many contacts"));
    }
    let strings = [
        &m.token_endpoint_auth_method,
        &m.client_name,
        &m.client_uri,
        &m.logo_uri,
        &m.scope,
        &m.tos_uri,
        &m.policy_uri,
        &m.jwks_uri,
        &m.software_id,
        &m.software_version,
        &m.application_type,
    ];
    let lists = [&m.grant_types, &m.response_types, &m.contacts];
    if strings
        .iter()
        .any(|s| s.as_ref().is_some_and(|s| s.len() > MAX_METADATA_STRING))
        || lists
            .iter()
            .flat_map(|l| l.iter().flatten())
            .any(|s| s.len() > MAX_METADATA_STRING)
    {
        return Err(refuse("a metadata value is too long"));
    }
    Ok(m)
}

/// `429 Too Many Requests` with `Retry-After` and an OAuth error body
/// (`temporarily_unavailable`): a registration refused for a limit that time lifts.
fn limit_response(now: UnixTime, e: ClientLimitReached) -> Response<Vec<u8>> {
    let mut r = OAuthError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TemporarilyUnavailable,
        format!("{e}; try again later"),
    )
    .response();
    let wait = e.retry_at().map_or(3600, |t| t.since(now).as_secs().max(1));
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

impl<S: Storage> AuthorizationServer<S> {
    /// The registration endpoint (RFC 7591): the request checked by
    /// [`AsConfig::registration`](crate::AsConfig::registration), a `client_id` (128 bits) and, for confidential
    /// methods, a secret (256 bits) from `entropy`, stored as a SHA-256 digest and
    /// returned once.
    ///
    /// Only the known metadata members are stored and returned (unknown ones are ignored,
    /// DCR-6; see [`MAX_METADATA_STRING`], [`MAX_CONTACTS`]). `source` is the address the
    /// request came from (the adapter passes the peer address; `None` when unknown, which
    /// counts against the total only); it is keyed by
    /// [`source_key`](mcp_oauth_common::source_key) (an IPv6 address by its /64). Open
    /// registration is bounded (DCR-8): at most [`AsConfig::max_registered_clients`](crate::AsConfig::max_registered_clients) in
    /// all and [`AsConfig::max_pending_registrations_per_source`](crate::AsConfig::max_pending_registrations_per_source) pending per source;
    /// beyond either the answer is `429 Too Many Requests` with `Retry-After` and an
    /// OAuth error body (`temporarily_unavailable`), which a client reads as "try later"
    /// rather than as a fault in its metadata. A client that completes no grant within
    /// [`AsConfig::unused_registration_ttl`](crate::AsConfig::unused_registration_ttl) is forgotten by [`Storage::purge`](crate::Storage::purge).
    pub fn register(
        &self,
        now: UnixTime,
        source: Option<IpAddr>,
        authorization: Option<&str>,
        body: &[u8],
        entropy: &[u8; 48],
    ) -> Response<Vec<u8>> {
        let metadata: ClientMetadata = match self
            .config
            .registration
            .validate_request(authorization, body)
        {
            Ok(m) => m,
            Err(RegistrationRequestError::Rejected(r)) => return r.response(),
            Err(_) => {
                let mut r = OAuthError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::InvalidToken,
                    "initial access token required",
                )
                .response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                return r;
            }
        };
        let metadata = match storable(metadata) {
            Ok(m) => m,
            Err(r) => return r.response(),
        };
        let (id_bytes, secret_bytes) = entropy.split_at(16);
        let client_id = b64(id_bytes);
        let confidential = metadata.auth_method() != "none";
        let secret = confidential.then(|| b64(secret_bytes));
        let client = StoredClient::registered(
            client_id.clone(),
            secret.as_deref().map(|s| sha256(s.as_bytes())),
            metadata.clone(),
            source.map(source_key),
            now,
            now.add_secs(self.config.unused_registration_ttl),
        );
        let op = Op::AddClient {
            client,
            limits: self.config.client_limits(),
            now,
        };
        match self.storage.apply(op) {
            Outcome::Applied => {}
            Outcome::LimitReached(e) => return limit_response(now, e),
            _ => {
                return OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::ServerError,
                    "the registration could not be stored",
                )
                .response();
            }
        }
        let mut body = match serde_json::to_value(&metadata) {
            Ok(Value::Object(m)) => Value::Object(m),
            _ => json!({}),
        };
        set(&mut body, "client_id", Value::from(client_id));
        set(&mut body, "client_id_issued_at", Value::from(now.as_secs()));
        set(
            &mut body,
            "token_endpoint_auth_method",
            Value::from(metadata.auth_method()),
        );
        if let Some(s) = secret {
            set(&mut body, "client_secret", Value::from(s));
            set(&mut body, "client_secret_expires_at", Value::from(0));
        }
        json_response(StatusCode::CREATED, &body)
    }
}
