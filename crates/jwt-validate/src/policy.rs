//! What a token must satisfy.

use core::time::Duration;

use mcp_oauth_resource_indicators::ResourceUri;

use crate::Algorithm;
use crate::scopes::ScopeHierarchy;

/// Default leeway for `exp`, `nbf` and `iat`: 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Default maximum token size: 16 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// The rules a token is validated against. Secure by default: `exp` and `aud` required,
/// the issuer and audience compared exactly, asymmetric algorithms only.
///
/// ```
/// use mcp_oauth_jwt_validate::Policy;
/// use mcp_oauth_resource_indicators::ResourceUri;
/// let policy = Policy::new("https://auth.example.com", &ResourceUri::parse("https://mcp.example.com/mcp")?)
///     .require_scopes(["mcp:read"])
///     .accept_typ(["at+jwt"]);
/// # Ok::<(), mcp_oauth_resource_indicators::ResourceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) leeway: u64,
    pub(crate) required_scopes: Vec<String>,
    pub(crate) hierarchy: ScopeHierarchy,
    pub(crate) typ: Option<Vec<String>>,
    pub(crate) max_token_len: usize,
    pub(crate) max_lifetime: Option<u64>,
    pub(crate) required_claims: Vec<&'static str>,
    pub(crate) client_id_audiences: Vec<String>,
    pub(crate) client_id_claims: Vec<ClientIdClaim>,
    pub(crate) scope_claims: Vec<ScopeClaim>,
}

/// A claim some identity providers put the client's id in, instead of RFC 9068's
/// `client_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientIdClaim {
    /// `client_id` (RFC 9068, Cognito, oidc-provider).
    ClientId,
    /// `azp`, the authorized party (Entra v2, Auth0, Keycloak, Google).
    Azp,
    /// `appid` (Entra v1 tokens).
    Appid,
    /// `cid` (Okta).
    Cid,
}

impl ClientIdClaim {
    /// The claim name.
    pub fn name(self) -> &'static str {
        match self {
            ClientIdClaim::ClientId => "client_id",
            ClientIdClaim::Azp => "azp",
            ClientIdClaim::Appid => "appid",
            ClientIdClaim::Cid => "cid",
        }
    }
}

/// A claim whose values count as granted scopes, besides `scope` and `scp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeClaim {
    /// `roles`: Entra app roles (application permissions in client-credential tokens).
    Roles,
    /// `permissions`: Auth0 RBAC permissions.
    Permissions,
    /// `realm_access.roles`: Keycloak realm roles.
    KeycloakRealmRoles,
}

impl ScopeClaim {
    /// The claim's path (dot-separated).
    pub fn path(self) -> &'static [&'static str] {
        match self {
            ScopeClaim::Roles => &["roles"],
            ScopeClaim::Permissions => &["permissions"],
            ScopeClaim::KeycloakRealmRoles => &["realm_access", "roles"],
        }
    }
}

impl Policy {
    /// Tokens from `issuer` (compared byte for byte) for `resource` (the canonical string
    /// must appear in `aud`). Default algorithms: every [`Algorithm`]; leeway 60 s; no
    /// scopes required; `typ` must be `at+jwt` (RFC 9068 §4, RFC 8725 §3.11: explicit
    /// typing, so an ID token or another JWT of the same issuer is never taken for an
    /// access token; relax it with [`accept_typ`](Self::accept_typ) for issuers that write
    /// `JWT`); 16 KiB maximum.
    pub fn new(issuer: impl Into<String>, resource: &ResourceUri) -> Self {
        Self::from_lists([issuer.into()], [resource.as_str()])
    }

    /// A policy from raw lists, for callers that hold audiences that are not resource
    /// URIs (Entra's `api://<guid>`). Both lists must be non-empty for any token to pass.
    pub fn from_lists<I, A>(issuers: I, audiences: A) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
        A: IntoIterator,
        A::Item: Into<String>,
    {
        Policy {
            issuers: issuers.into_iter().map(Into::into).collect(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            algorithms: Algorithm::ALL.to_vec(),
            leeway: DEFAULT_LEEWAY.as_secs(),
            required_scopes: Vec::new(),
            hierarchy: ScopeHierarchy::new(),
            typ: Some(vec![RFC9068_TYP.to_owned()]),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            max_lifetime: None,
            required_claims: Vec::new(),
            client_id_audiences: Vec::new(),
            client_id_claims: vec![ClientIdClaim::ClientId],
            scope_claims: Vec::new(),
        }
    }

    /// For authorization servers whose access tokens carry no `aud` (Amazon Cognito):
    /// such a token is bound to this server instead by its `client_id` (one of
    /// `client_ids`) **and** `token_use: "access"` (so a Cognito ID token, which names
    /// the client in `aud`, never passes). A token that does carry `aud` is still checked
    /// against the audiences. Never a silent skip: without this call a token without
    /// `aud` is refused.
    pub fn audience_from_client_id<I, S>(mut self, client_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.client_id_audiences = client_ids.into_iter().map(Into::into).collect();
        self
    }

    /// Where the client id is read from, first present wins (default: `client_id`).
    pub fn client_id_claims<I: IntoIterator<Item = ClientIdClaim>>(mut self, claims: I) -> Self {
        self.client_id_claims = claims.into_iter().collect();
        self
    }

    /// Further claims whose values count as granted scopes (Entra `roles`, Auth0
    /// `permissions`, Keycloak `realm_access.roles`). Strings (space-separated) and
    /// arrays of strings are read; anything else makes the token invalid.
    pub fn scope_claims<I: IntoIterator<Item = ScopeClaim>>(mut self, claims: I) -> Self {
        self.scope_claims = claims.into_iter().collect();
        self
    }

    /// Also accept tokens from this issuer.
    pub fn also_accept_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Also accept this audience value (compared exactly), for an authorization server
    /// that names this server differently (an origin, `api://<guid>`).
    pub fn also_accept_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Restricts the algorithm allow-list.
    pub fn algorithms<I: IntoIterator<Item = Algorithm>>(mut self, algorithms: I) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Clock-skew allowance for `exp`, `nbf` and `iat` (whole seconds).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    /// Scopes every request must carry (`scope` string, or `scp` string or array).
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Accept only these `typ` header values (instead of the default `at+jwt`), compared
    /// case-insensitively with an optional `application/` prefix (RFC 9068 §4: `at+jwt`).
    /// A token without `typ` is refused. Identity providers that write `typ: JWT` on
    /// their access tokens (Entra ID, Keycloak, Auth0's default profile) need
    /// `accept_typ(["at+jwt", "JWT"])`; the profiles in `mcp-oauth-tenant` do this by
    /// name.
    pub fn accept_typ<I, S>(mut self, typ: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.typ = Some(typ.into_iter().map(|t| normalize_typ(&t.into())).collect());
        self
    }

    /// **Dangerous**: checks no `typ` at all (tokens without one pass too). Reopens JWT
    /// confusion (RFC 8725 §3.11): any JWT the issuer signs for this audience, an ID token
    /// or a logout token, is taken for an access token unless another claim tells them
    /// apart. For issuers that write no `typ` on access tokens (Amazon Cognito, which is
    /// then told apart by `token_use`), and for test vectors that say "not checked".
    pub fn dangerous_skip_typ_check(mut self) -> Self {
        self.typ = None;
        self
    }

    /// Scopes that imply others when a token's scopes are judged, here and by the
    /// resource-server layer's per-operation scopes (MCP-SCOPE-15). None by default.
    pub fn scope_hierarchy(mut self, hierarchy: ScopeHierarchy) -> Self {
        self.hierarchy = hierarchy;
        self
    }

    /// The scope hierarchy (see [`scope_hierarchy`](Self::scope_hierarchy)).
    pub fn hierarchy(&self) -> &ScopeHierarchy {
        &self.hierarchy
    }

    /// Largest token accepted, in bytes.
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Refuse tokens whose `exp − iat` (or, without `iat`, `exp − now`) exceeds this.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime.as_secs());
        self
    }

    /// The strict RFC 9068 §2.2 and §4 profile: `typ` must be `at+jwt`, and `sub`,
    /// `iat`, `jti` and `client_id` are required.
    pub fn rfc9068_strict(mut self) -> Self {
        self = self.accept_typ(["at+jwt"]);
        self.required_claims = vec!["sub", "iat", "jti", "client_id"];
        self
    }

    /// The accepted issuers.
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// The accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The allowed algorithms.
    pub fn allowed_algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The scopes every request must carry.
    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// The leeway in seconds.
    pub fn leeway_secs(&self) -> u64 {
        self.leeway
    }
}

/// The RFC 9068 §2.1 access-token `typ`, checked by default.
pub const RFC9068_TYP: &str = "at+jwt";

/// `Application/At+JWT` → `at+jwt`.
pub(crate) fn normalize_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

/// Whether a `typ` as sent matches `accepted` (already normalised with
/// [`normalize_typ`]), without allocating: ASCII case-insensitive, optional
/// `application/` prefix.
pub(crate) fn typ_matches(accepted: &str, typ: &str) -> bool {
    const PREFIX: &str = "application/";
    let bare = match (typ.get(..PREFIX.len()), typ.get(PREFIX.len()..)) {
        (Some(pre), Some(rest)) if pre.eq_ignore_ascii_case(PREFIX) => rest,
        _ => typ,
    };
    bare.eq_ignore_ascii_case(accepted)
}
