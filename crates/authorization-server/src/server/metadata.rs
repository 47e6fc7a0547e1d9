//! The RFC 8414 metadata document and the JWK Set (`/jwks`), from the signer's
//! `public_jwk()`.

use http::{HeaderValue, Response, StatusCode, header};
use mcp_oauth_as_metadata::AuthorizationServerMetadata;

use super::{AuthorizationServer, json_response};
use crate::storage::Storage;

impl<S: Storage> AuthorizationServer<S> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }

    /// The RFC 8414 metadata. Endpoints live under the issuer: `/authorize`, `/token`,
    /// `/register`, `/revoke`, `/introspect`, `/jwks`.
    pub fn metadata(&self) -> AuthorizationServerMetadata {
        let mut m = AuthorizationServerMetadata::new(self.config.issuer.clone());
        m.authorization_endpoint = Some(self.url("/authorize"));
        m.token_endpoint = Some(self.url("/token"));
        m.registration_endpoint = Some(self.url("/register"));
        m.revocation_endpoint = Some(self.url("/revoke"));
        m.introspection_endpoint = Some(self.url("/introspect"));
        m.jwks_uri = Some(self.url("/jwks"));
        let mut scopes: Vec<String> = Vec::new();
        for r in &self.config.resources {
            for s in &r.scopes {
                if !scopes.contains(s) {
                    scopes.push(s.clone());
                }
            }
        }
        scopes.push("offline_access".into());
        m.scopes_supported = Some(scopes);
        m.response_types_supported = Some(vec!["code".into()]);
        m.grant_types_supported = Some(vec![
            "authorization_code".into(),
            "refresh_token".into(),
            "client_credentials".into(),
        ]);
        let methods = vec![
            "none".to_owned(),
            "client_secret_basic".to_owned(),
            "client_secret_post".to_owned(),
        ];
        m.token_endpoint_auth_methods_supported = Some(methods.clone());
        m.revocation_endpoint_auth_methods_supported = Some(methods.clone());
        m.introspection_endpoint_auth_methods_supported = Some(methods);
        m.code_challenge_methods_supported = Some(vec!["S256".into()]);
        m.authorization_response_iss_parameter_supported = Some(true);
        m.client_id_metadata_document_supported = Some(self.config.cimd);
        m
    }

    /// The metadata as a response.
    pub fn metadata_response(&self) -> Response<Vec<u8>> {
        let mut r = Response::new(self.metadata().to_json());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }

    /// The JWK Set: the token signing key, and the previous one after a rotation
    /// ([`AuthorizationServer::rotate_signer`]).
    pub fn jwks_response(&self) -> Response<Vec<u8>> {
        let mut r = json_response(StatusCode::OK, &self.jwk_set());
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=300"),
        );
        r
    }
}
