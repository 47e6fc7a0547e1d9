//! The endpoints, as functions from request data (and `now`, and entropy) to response
//! data: settings in `config`, the error response in `error`, one file per endpoint. This
//! file holds the server value, its construction, and what several endpoints share
//! (client authentication, resource and scope checks, form parsing).

mod authorize;
mod config;
mod error;
mod introspect;
mod metadata;
mod register;
mod revoke;
mod route;
mod token;

pub use authorize::AuthorizeOutcome;
pub use config::{
    AsConfig, AsConfigError, AutoApprove, Consent, ConsentDecision, ConsentRequest, MAX_CONTACTS,
    MAX_FORM_LEN, MAX_METADATA_STRING, MAX_QUERY_LEN, ResourceServer,
};
pub use error::OAuthError;
use error::{json_bytes_response, json_response};
use register::storable;
pub use route::Handled;

use core::fmt;
use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mcp_oauth_common::{ErrorCode, UnixTime};
use mcp_oauth_jwt_validate::crypto::JwsSigner as TokenSigner;
use mcp_oauth_jwt_validate::{KeySet, KeySetLimits, Policy, Validator};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_resource_indicators::url::form_urlencoded;
use serde_json::{Value, json};
use sha2::Digest as _;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::storage::{Digest, Storage, StoredClient};

/// RFC 8707 at the token endpoint: no `resource`, or exactly one naming the same
/// resource as the grant (compared in canonical form, as at the authorization endpoint).
fn same_resource(requested: &[String], granted: &str) -> bool {
    match requested {
        [] => true,
        [one] => match (ResourceUri::parse(one), ResourceUri::parse(granted)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
        _ => false,
    }
}

/// Sets `k` on a JSON object (the values built here always are objects).
fn set(v: &mut Value, k: &str, x: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(k.to_owned(), x);
    }
}

fn sha256(s: &[u8]) -> Digest {
    Sha256::digest(s).into()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Parameters of a form or query, each at most once (RFC 6749 §3.1), `resource` kept as
/// a list (RFC 8707).
struct Params {
    one: HashMap<String, String>,
    resources: Vec<String>,
}

fn params(input: &[u8]) -> Result<Params, OAuthError> {
    let mut one = HashMap::new();
    let mut resources = Vec::new();
    for (k, v) in form_urlencoded::parse(input) {
        if k == "resource" {
            resources.push(v.into_owned());
        } else if one.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(OAuthError::bad(
                ErrorCode::InvalidRequest,
                format!("parameter {k} repeated"),
            ));
        }
    }
    Ok(Params { one, resources })
}

impl Params {
    fn get(&self, k: &str) -> Option<&str> {
        self.one
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The sans-IO authorization server.
pub struct AuthorizationServer<S> {
    config: AsConfig,
    storage: S,
    signer: Box<dyn TokenSigner>,
    /// The public JWK of the key the signer replaced at the last rotation, still
    /// published so tokens it signed verify until they expire.
    previous_jwk: Option<Value>,
    consent: Box<dyn Consent>,
    own_keys: KeySet,
}

impl<S> fmt::Debug for AuthorizationServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> AuthorizationServer<S> {
    /// A server with these settings, storage, token signer and consent step; refused when
    /// the issuer is not an `https` URL (`http` on loopback) without query or fragment
    /// (ASM-1): clients compare it byte for byte, and tokens carry it.
    pub fn new(
        config: AsConfig,
        storage: S,
        signer: Box<dyn TokenSigner>,
        consent: Box<dyn Consent>,
    ) -> Result<Self, AsConfigError> {
        mcp_oauth_as_metadata::parse_issuer(&config.issuer).map_err(AsConfigError::Issuer)?;
        let mut server = AuthorizationServer {
            config,
            storage,
            signer,
            previous_jwk: None,
            consent,
            own_keys: KeySet::default(),
        };
        server.own_keys = server.key_set();
        Ok(server)
    }

    /// The published JWK Set: the current signing key first, then the previous one.
    fn jwk_set(&self) -> Value {
        let mut keys = vec![self.signer.public_jwk()];
        keys.extend(self.previous_jwk.clone());
        json!({ "keys": keys })
    }

    fn key_set(&self) -> KeySet {
        KeySet::from_value(
            &self.jwk_set(),
            mcp_oauth_jwt_validate::default_provider().as_ref(),
            &KeySetLimits::default(),
        )
        .unwrap_or_default()
    }

    /// Rotates the token signing key (key rollover): `next` signs every access token
    /// from now on, and the current key's public half stays in the JWK Set as the
    /// previous key, so tokens it signed keep verifying at resource servers (which
    /// refetch the set on an unknown `kid`) and at introspection until they expire. One
    /// previous key is kept, so rotate no more often than the access-token lifetime; a
    /// key older than that is dropped from the set.
    ///
    /// # Errors
    ///
    /// [`AsConfigError::SameKeyId`] when `next` has no `kid` or the current key's: a
    /// resource server could not tell the two keys apart.
    ///
    /// ```
    /// # use mcp_oauth_authorization_server::*;
    /// use mcp_oauth_jwt_validate::crypto::Es256Signer;
    /// let key = |kid: &str| -> Box<dyn TokenSigner> {
    ///     Box::new(Es256Signer::generate().unwrap().with_kid(kid))
    /// };
    /// let consent = Box::new(AutoApprove { subject: "alice".into() });
    /// let config = AsConfig::new("https://auth.example.com");
    /// let mut server =
    ///     AuthorizationServer::new(config, MemoryStorage::new(), key("2026-12"), consent).unwrap();
    /// server.rotate_signer(key("2027-01")).unwrap();
    /// let jwks: serde_json::Value = serde_json::from_slice(server.jwks_response().body()).unwrap();
    /// assert_eq!(jwks["keys"][0]["kid"], "2027-01");
    /// assert_eq!(jwks["keys"][1]["kid"], "2026-12");
    /// ```
    pub fn rotate_signer(&mut self, next: Box<dyn TokenSigner>) -> Result<(), AsConfigError> {
        match next.kid() {
            Some(kid) if Some(kid) != self.signer.kid() => {}
            _ => return Err(AsConfigError::SameKeyId),
        }
        let old = core::mem::replace(&mut self.signer, next);
        self.previous_jwk = Some(old.public_jwk());
        self.own_keys = self.key_set();
        Ok(())
    }

    /// The settings.
    pub fn config(&self) -> &AsConfig {
        &self.config
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    fn resource_for(&self, requested: &[String]) -> Result<&ResourceServer, ErrorCode> {
        match requested {
            [] if self.config.resources.len() == 1 => self
                .config
                .resources
                .first()
                .ok_or(ErrorCode::InvalidTarget),
            [one] => {
                let r = ResourceUri::parse(one).map_err(|_| ErrorCode::InvalidTarget)?;
                self.config
                    .resources
                    .iter()
                    .find(|s| s.resource == r)
                    .ok_or(ErrorCode::InvalidTarget)
            }
            _ => Err(ErrorCode::InvalidTarget),
        }
    }

    fn check_scopes(rs: &ResourceServer, scope: Option<&str>) -> Result<Vec<String>, ErrorCode> {
        let mut out = Vec::new();
        for s in scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
            if !(rs.scopes.iter().any(|x| x == s) || s == "offline_access") {
                return Err(ErrorCode::InvalidScope);
            }
            if !out.iter().any(|o: &String| o == s) {
                out.push(s.to_owned());
            }
        }
        Ok(out)
    }

    /// Client authentication at the token, revocation and introspection endpoints:
    /// `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-decoded after base64),
    /// `client_secret_post`, or `none`, as registered. Secrets are compared as SHA-256
    /// digests in constant time.
    fn authenticate(
        &self,
        authorization: Option<&str>,
        p: &Params,
    ) -> Result<StoredClient, OAuthError> {
        let (id, secret, method) = match authorization {
            Some(h) => {
                let (scheme, rest) = h.split_once(' ').ok_or_else(OAuthError::invalid_client)?;
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(OAuthError::invalid_client());
                }
                let raw = STANDARD
                    .decode(rest.trim())
                    .map_err(|_| OAuthError::invalid_client())?;
                let raw = String::from_utf8(raw).map_err(|_| OAuthError::invalid_client())?;
                let (i, s) = raw.split_once(':').ok_or_else(OAuthError::invalid_client)?;
                let dec = |v: &str| {
                    form_urlencoded::parse(format!("x={v}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                if p.get("client_secret").is_some() {
                    return Err(OAuthError::bad(
                        ErrorCode::InvalidRequest,
                        "two client authentication methods",
                    ));
                }
                (dec(i), Some(dec(s)), "client_secret_basic")
            }
            None => {
                let id = p.get("client_id").ok_or_else(OAuthError::invalid_client)?;
                match p.get("client_secret") {
                    Some(s) => (id.to_owned(), Some(s.to_owned()), "client_secret_post"),
                    None => (id.to_owned(), None, "none"),
                }
            }
        };
        let client = self
            .storage
            .client(&id)
            .ok_or_else(OAuthError::invalid_client)?;
        let registered = client.metadata.auth_method().to_owned();
        let registered = if client.secret_hash.is_none() {
            "none".to_owned()
        } else {
            registered
        };
        if registered != method {
            return Err(OAuthError::invalid_client());
        }
        if let Some(expected) = &client.secret_hash {
            let given = sha256(secret.unwrap_or_default().as_bytes());
            if !bool::from(given.ct_eq(expected)) {
                return Err(OAuthError::invalid_client());
            }
        }
        Ok(client)
    }

    fn own_token(&self, token: &str, now: UnixTime) -> Option<mcp_oauth_jwt_validate::AuthContext> {
        let policy = Policy::from_lists(
            [self.config.issuer.as_str()],
            self.config
                .resources
                .iter()
                .map(|r| r.resource.as_str().to_owned()),
        )
        .leeway(core::time::Duration::ZERO);
        Validator::new(policy)
            .verify(token, &self.own_keys, now)
            .ok()
    }
}
