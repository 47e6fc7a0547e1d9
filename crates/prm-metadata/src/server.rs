//! Server side: build the document MCP requires, know the paths to serve it at, and
//! produce the HTTP response as data.

use http::{HeaderValue, Method, Response, StatusCode, header};
use mcp_oauth_resource_indicators::ResourceUri;
use serde_json::Value;

use crate::discovery::well_known_url;
use crate::{PrmError, ProtectedResourceMetadata, WELL_KNOWN_PATH};

/// Builds the document an MCP server publishes. `build` refuses what MCP forbids.
///
/// ```
/// use mcp_oauth_prm_metadata::PrmBuilder;
/// use mcp_oauth_resource_indicators::ResourceUri;
/// let doc = PrmBuilder::new(ResourceUri::parse("https://mcp.example.com/mcp")?)
///     .authorization_server("https://auth.example.com")
///     .scopes_supported(["files:read", "files:write"])
///     .build()?;
/// assert_eq!(doc.resource, "https://mcp.example.com/mcp");
/// assert_eq!(doc.bearer_methods_supported.as_deref(), Some(&["header".to_owned()][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PrmBuilder {
    doc: ProtectedResourceMetadata,
    servers: Vec<String>,
}

impl PrmBuilder {
    /// A document for `resource`, published as its canonical string. Bearer tokens are
    /// advertised in the `Authorization` header only, as MCP requires.
    pub fn new(resource: ResourceUri) -> Self {
        let mut doc = ProtectedResourceMetadata::new(resource.as_str());
        doc.bearer_methods_supported = Some(vec!["header".to_owned()]);
        PrmBuilder {
            doc,
            servers: Vec::new(),
        }
    }

    /// Adds an authorization server's issuer identifier (at least one is required).
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.servers.push(issuer.into());
        self
    }

    /// Sets `scopes_supported`.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.doc.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `jwks_uri` (the resource server's own keys, for signed responses); `build`
    /// refuses anything but an absolute `https` URL (`http` on loopback) (PRM-4).
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.doc.jwks_uri = Some(url.into());
        self
    }

    /// Sets `resource_signing_alg_values_supported`; `build` refuses `none` (PRM-7).
    pub fn resource_signing_alg_values_supported<I, S>(mut self, algs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.doc.resource_signing_alg_values_supported =
            Some(algs.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `resource_name`.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.doc.resource_name = Some(name.into());
        self
    }

    /// Sets `resource_documentation`.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.doc.resource_documentation = Some(url.into());
        self
    }

    /// Sets any other member (for example a language-tagged `resource_name#fr`).
    /// Members the document type defines are set through their own methods; naming one
    /// here is refused at `build`.
    pub fn extra(mut self, name: impl Into<String>, value: Value) -> Self {
        self.doc.extra.insert(name.into(), value);
        self
    }

    /// The document, or why MCP does not allow it: no authorization server, an
    /// authorization server or `jwks_uri` that is not an absolute `https` URL (`http` on
    /// loopback), `none` among the signing algorithms, `offline_access` among the scopes
    /// (MCP-SCOPE-16), or an `extra` member that shadows a defined one.
    pub fn build(mut self) -> Result<ProtectedResourceMetadata, PrmError> {
        if self.servers.is_empty() {
            return Err(PrmError::NoAuthorizationServers);
        }
        if let Some(url) = &self.doc.jwks_uri {
            ResourceUri::parse(url).map_err(PrmError::InvalidJwksUri)?;
        }
        if self
            .doc
            .resource_signing_alg_values_supported
            .iter()
            .flatten()
            .any(|a| a.eq_ignore_ascii_case("none"))
        {
            return Err(PrmError::NoneSigningAlgorithm);
        }
        if self
            .doc
            .scopes_supported
            .iter()
            .flatten()
            .any(|s| s == crate::challenge::OFFLINE_ACCESS)
        {
            return Err(PrmError::OfflineAccessAdvertised);
        }
        for (index, s) in self.servers.iter().enumerate() {
            ResourceUri::parse(s)
                .map_err(|error| PrmError::InvalidAuthorizationServer { index, error })?;
        }
        self.doc.authorization_servers = Some(self.servers);
        // A member in `extra` with a defined name would serialise twice.
        const DEFINED: &[&str] = &[
            "resource",
            "authorization_servers",
            "jwks_uri",
            "scopes_supported",
            "bearer_methods_supported",
            "resource_signing_alg_values_supported",
            "resource_name",
            "resource_documentation",
            "resource_policy_uri",
            "resource_tos_uri",
            "tls_client_certificate_bound_access_tokens",
            "authorization_details_types_supported",
            "dpop_signing_alg_values_supported",
            "dpop_bound_access_tokens_required",
            "signed_metadata",
        ];
        if let Some(k) = self
            .doc
            .extra
            .keys()
            .find(|k| DEFINED.contains(&k.as_str()))
        {
            return Err(PrmError::ShadowedMember(k.clone()));
        }
        Ok(self.doc)
    }
}

/// Who may read the document from a browser.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Cors {
    /// `Access-Control-Allow-Origin: *`: the document is public by design, and browser
    /// MCP clients must be able to read it. The default.
    #[default]
    AnyOrigin,
    /// No CORS headers.
    Disabled,
}

/// Serves a document at its well-known path(s), as data.
///
/// ```
/// use http::{Method, StatusCode};
/// use mcp_oauth_prm_metadata::{PrmBuilder, PrmEndpoint};
/// use mcp_oauth_resource_indicators::ResourceUri;
/// let resource = ResourceUri::parse("https://mcp.example.com/mcp")?;
/// let doc = PrmBuilder::new(resource.clone()).authorization_server("https://auth.example.com").build()?;
/// let endpoint = PrmEndpoint::new(doc, &resource).also_serve_root();
/// assert_eq!(endpoint.paths(), ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]);
/// let resp = endpoint.respond(&Method::GET, "/.well-known/oauth-protected-resource/mcp").unwrap();
/// assert_eq!(resp.status(), StatusCode::OK);
/// assert_eq!(resp.headers()["content-type"], "application/json");
/// assert!(endpoint.respond(&Method::GET, "/mcp").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PrmEndpoint {
    body: Vec<u8>,
    /// `(path, absolute URL)` pairs, the path-inserted one first.
    locations: Vec<(String, String)>,
    origin: String,
    max_age: u32,
    cors: Cors,
}

/// Default `Cache-Control: max-age` for the document, in seconds.
pub const DEFAULT_MAX_AGE: u32 = 3600;

impl PrmEndpoint {
    /// Serves `doc` at the path-inserted well-known path of `resource` (RFC 9728 §3.1),
    /// which is the root well-known path when `resource` has no path. `resource` is the
    /// server's own URL (the one clients connect to).
    pub fn new(doc: ProtectedResourceMetadata, resource: &ResourceUri) -> Self {
        PrmEndpoint {
            body: doc.to_json(),
            locations: vec![(
                format!("{WELL_KNOWN_PATH}{}", resource.path()),
                well_known_url(resource),
            )],
            origin: resource.origin().to_owned(),
            max_age: DEFAULT_MAX_AGE,
            cors: Cors::default(),
        }
    }

    /// Also serve the document at the root well-known path, for clients that only try
    /// the root (MCP's fallback; trap T1). Only do this when this server is the only
    /// protected resource on its origin.
    pub fn also_serve_root(mut self) -> Self {
        if !self.locations.iter().any(|(p, _)| p == WELL_KNOWN_PATH) {
            self.locations.push((
                WELL_KNOWN_PATH.to_owned(),
                format!("{}{WELL_KNOWN_PATH}", self.origin),
            ));
        }
        self
    }

    /// Sets `Cache-Control: public, max-age=<seconds>`.
    pub fn max_age(mut self, seconds: u32) -> Self {
        self.max_age = seconds;
        self
    }

    /// Sets the CORS policy.
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = cors;
        self
    }

    /// The request paths this endpoint answers.
    pub fn paths(&self) -> Vec<&str> {
        self.locations.iter().map(|(p, _)| p.as_str()).collect()
    }

    /// The absolute URL of the path-inserted location: the `resource_metadata` value
    /// for challenges.
    pub fn metadata_url(&self) -> &str {
        self.locations
            .first()
            .map(|(_, u)| u.as_str())
            .unwrap_or_default()
    }

    /// The document's bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The response for a request, or `None` when the path is not one of
    /// [`PrmEndpoint::paths`] (pass the request on). `GET` and `HEAD` get the document,
    /// `OPTIONS` a CORS preflight answer, other methods `405` with `Allow`.
    pub fn respond(&self, method: &Method, path: &str) -> Option<Response<Vec<u8>>> {
        if !self.locations.iter().any(|(p, _)| p == path) {
            return None;
        }
        let mut builder = Response::builder();
        if let Some(headers) = builder.headers_mut()
            && self.cors == Cors::AnyOrigin
        {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("mcp-protocol-version"),
            );
        }
        let (status, body) = match *method {
            Method::GET | Method::HEAD => {
                if let Some(h) = builder.headers_mut() {
                    h.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    if let Ok(v) =
                        HeaderValue::from_str(&format!("public, max-age={}", self.max_age))
                    {
                        h.insert(header::CACHE_CONTROL, v);
                    }
                }
                let body = if *method == Method::GET {
                    self.body.clone()
                } else {
                    Vec::new()
                };
                (StatusCode::OK, body)
            }
            Method::OPTIONS => (StatusCode::NO_CONTENT, Vec::new()),
            _ => {
                if let Some(h) = builder.headers_mut() {
                    h.insert(
                        header::ALLOW,
                        HeaderValue::from_static("GET, HEAD, OPTIONS"),
                    );
                }
                (StatusCode::METHOD_NOT_ALLOWED, Vec::new())
            }
        };
        builder.status(status).body(body).ok()
    }
}
