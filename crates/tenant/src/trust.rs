//! One tenant's trust, and validation of a token against it.

use core::fmt;
use std::collections::HashMap;
use std::sync::Arc;

use mcp_oauth_common::UnixTime;
use mcp_oauth_jwt_validate::{AuthContext, JwtError, KeySet, Policy, Validator};
use mcp_oauth_prm_metadata::ProtectedResourceMetadata;
use mcp_oauth_resource_indicators::ResourceUri;

/// A tenant's identifier, as the application names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// From any string.
    pub fn new(id: impl AsRef<str>) -> Self {
        TenantId(Arc::from(id.as_ref()))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a token was refused for a tenant.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TenantError {
    /// No tenant for this request (unknown host or path).
    UnknownTenant,
    /// The token's `iss` (read unverified, only to choose a validator) is not one this
    /// tenant trusts. Tokens of another tenant end here.
    IssuerNotTrusted,
    /// An Entra multi-tenant issuer for a tenant id that is not on the allow-list.
    TenantIdNotAllowed,
    /// The verified `tid` claim is not the tenant id in the issuer (a token whose issuer
    /// was built for another directory).
    TenantIdMismatch,
    /// The token failed validation with the chosen validator.
    Token(JwtError),
}

impl TenantError {
    /// The RFC 6750 error for the challenge: always `invalid_token` except for
    /// insufficient scope.
    pub fn bearer_error(&self) -> mcp_oauth_prm_metadata::BearerError {
        match self {
            TenantError::Token(e) => e.bearer_error(),
            _ => mcp_oauth_prm_metadata::BearerError::InvalidToken,
        }
    }
}

impl fmt::Display for TenantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TenantError::UnknownTenant => f.write_str("no tenant for this request"),
            TenantError::IssuerNotTrusted => {
                f.write_str("the token's issuer is not trusted by this tenant")
            }
            TenantError::TenantIdNotAllowed => {
                f.write_str("the token's directory (tid) is not allowed")
            }
            TenantError::TenantIdMismatch => {
                f.write_str("the token's tid does not match its issuer")
            }
            TenantError::Token(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TenantError {}

impl From<JwtError> for TenantError {
    fn from(e: JwtError) -> Self {
        TenantError::Token(e)
    }
}

/// The authenticated caller, namespaced: the same `sub` at two issuers is two people.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The tenant.
    pub tenant: TenantId,
    /// The verified issuer.
    pub issuer: String,
    /// The verified subject (empty when the token has none).
    pub subject: String,
}

impl Principal {
    /// A key unique across tenants and issuers: `tenant`, `issuer` and `sub`, separated
    /// by a character none of them can contain unescaped (`\n`).
    pub fn key(&self) -> String {
        format!("{}\n{}\n{}", self.tenant, self.issuer, self.subject)
    }
}

/// A validated request's identity: the tenant, the namespaced principal, and the token's
/// context.
#[derive(Debug)]
pub struct TenantContext {
    /// Who.
    pub principal: Principal,
    /// The token.
    pub auth: AuthContext,
}

/// One trusted issuer: how its tokens are checked and with which keys.
#[derive(Debug, Clone)]
pub struct IssuerTrust {
    validator: Validator,
    keys: Arc<KeySet>,
}

impl IssuerTrust {
    /// Tokens checked by `policy` (its issuers list names this issuer) with `keys`.
    pub fn new(policy: Policy, keys: Arc<KeySet>) -> Self {
        IssuerTrust {
            validator: Validator::new(policy),
            keys,
        }
    }

    /// The policy this issuer's tokens are checked by.
    pub fn policy(&self) -> &Policy {
        self.validator.policy()
    }

    /// The same trust with other keys (after a JWKS refresh).
    pub fn with_keys(&self, keys: Arc<KeySet>) -> Self {
        IssuerTrust {
            validator: self.validator.clone(),
            keys,
        }
    }
}

/// Entra ID's multi-tenant issuer: `https://login.microsoftonline.com/{tenantid}/v2.0`
/// (or `https://sts.windows.net/{tenantid}/`), one issuer per directory. A token is
/// accepted only when its issuer is the template with a tenant id from the allow-list,
/// **and** its verified `tid` claim is that same id.
#[derive(Debug, Clone)]
pub struct EntraTemplate {
    prefix: String,
    suffix: String,
    by_tid: HashMap<String, IssuerTrust>,
}

/// The placeholder in an Entra issuer template.
pub const TENANT_ID_PLACEHOLDER: &str = "{tenantid}";

impl EntraTemplate {
    /// `template` contains [`TENANT_ID_PLACEHOLDER`] once; `policy(issuer)` builds the
    /// policy for one directory's issuer; `keys` are Entra's (shared by directories).
    /// `None` when the template has no placeholder.
    pub fn new<I, S>(
        template: &str,
        allowed_tenant_ids: I,
        policy: impl Fn(&str) -> Policy,
        keys: Arc<KeySet>,
    ) -> Option<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let (prefix, suffix) = template.split_once(TENANT_ID_PLACEHOLDER)?;
        if suffix.contains(TENANT_ID_PLACEHOLDER) {
            return None;
        }
        let by_tid = allowed_tenant_ids
            .into_iter()
            .map(Into::into)
            .map(|tid: String| {
                let issuer = format!("{prefix}{tid}{suffix}");
                (tid, IssuerTrust::new(policy(&issuer), keys.clone()))
            })
            .collect();
        Some(EntraTemplate {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            by_tid,
        })
    }

    /// The tenant id an issuer names, if it has the template's shape.
    fn tid_of<'a>(&self, issuer: &'a str) -> Option<&'a str> {
        let tid = issuer
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        (!tid.is_empty() && !tid.contains('/')).then_some(tid)
    }
}

/// Everything one tenant trusts.
#[derive(Debug, Clone)]
pub struct TenantTrust {
    id: TenantId,
    resource: ResourceUri,
    issuers: HashMap<String, IssuerTrust>,
    entra: Option<EntraTemplate>,
    prm: Option<Arc<ProtectedResourceMetadata>>,
}

/// The token's `iss`, **unverified**: only to choose which validator (and keys) will
/// verify it. Nothing else may be decided from it. The one unverified peek of
/// [`mcp_oauth_jwt_validate::peek`] (tokens over 16 KiB are not looked at).
pub fn peek_issuer(token: &str) -> Option<String> {
    mcp_oauth_jwt_validate::peek(token)?.iss
}

impl TenantTrust {
    /// A tenant whose canonical resource is `resource`.
    pub fn new(id: TenantId, resource: ResourceUri) -> Self {
        TenantTrust {
            id,
            resource,
            issuers: HashMap::new(),
            entra: None,
            prm: None,
        }
    }

    /// Trusts `issuer` with this policy and keys.
    pub fn issuer(mut self, issuer: impl Into<String>, trust: IssuerTrust) -> Self {
        self.issuers.insert(issuer.into(), trust);
        self
    }

    /// Trusts an Entra multi-tenant template.
    pub fn entra_template(mut self, template: EntraTemplate) -> Self {
        self.entra = Some(template);
        self
    }

    /// The tenant's protected resource metadata.
    pub fn prm(mut self, prm: ProtectedResourceMetadata) -> Self {
        self.prm = Some(Arc::new(prm));
        self
    }

    /// The tenant's id.
    pub fn id(&self) -> &TenantId {
        &self.id
    }

    /// The tenant's canonical resource.
    pub fn resource(&self) -> &ResourceUri {
        &self.resource
    }

    /// The tenant's protected resource metadata, if set.
    pub fn metadata(&self) -> Option<&ProtectedResourceMetadata> {
        self.prm.as_deref()
    }

    /// The trusted exact issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.keys().map(String::as_str)
    }

    /// The policy of an exactly trusted issuer (`None` for any other, including Entra
    /// template issuers).
    pub fn issuer_policy(&self, issuer: &str) -> Option<&Policy> {
        self.issuers.get(issuer).map(IssuerTrust::policy)
    }

    /// Whether this tenant trusts `issuer`: exactly, or through its Entra template with an
    /// allowed tenant id.
    pub fn trusts_issuer(&self, issuer: &str) -> bool {
        self.issuers.contains_key(issuer)
            || self
                .entra
                .as_ref()
                .and_then(|e| e.tid_of(issuer).map(|tid| e.by_tid.contains_key(tid)))
                .unwrap_or(false)
    }

    /// Replaces the keys of one issuer (JWKS refresh); `false` when it is not trusted.
    pub fn set_keys(&mut self, issuer: &str, keys: Arc<KeySet>) -> bool {
        match self.issuers.get_mut(issuer) {
            Some(t) => {
                *t = t.with_keys(keys);
                true
            }
            None => false,
        }
    }

    /// Validates `token` for this tenant: the unverified `iss` picks the validator (an
    /// exact issuer, or the Entra template with an allowed tenant id), which then checks
    /// everything (signature with **that issuer's** keys, `iss`, `aud`, times, scopes).
    /// For the Entra template, the verified `tid` must equal the issuer's.
    pub fn validate(&self, token: &str, now: UnixTime) -> Result<TenantContext, TenantError> {
        self.validate_for::<&str>(token, now, &[])
    }

    /// [`validate`](Self::validate) with scopes this operation needs.
    pub fn validate_for<S: AsRef<str>>(
        &self,
        token: &str,
        now: UnixTime,
        scopes: &[S],
    ) -> Result<TenantContext, TenantError> {
        self.validate_inner(token, now, scopes, None)
    }

    /// [`validate`](Self::validate) with the issuer's keys supplied by the caller instead
    /// of the ones this trust holds: for adapters that keep one refreshed key set per
    /// trusted issuer (the token's issuer must still be one this tenant trusts, and the
    /// keys are only ever used for that issuer's tokens).
    pub fn validate_with_keys(
        &self,
        token: &str,
        now: UnixTime,
        keys: &KeySet,
    ) -> Result<TenantContext, TenantError> {
        self.validate_inner::<&str>(token, now, &[], Some(keys))
    }

    fn validate_inner<S: AsRef<str>>(
        &self,
        token: &str,
        now: UnixTime,
        scopes: &[S],
        keys: Option<&KeySet>,
    ) -> Result<TenantContext, TenantError> {
        let iss = peek_issuer(token).ok_or(TenantError::Token(JwtError::IssuerNotAccepted))?;
        let (trust, tid) = match self.issuers.get(&iss) {
            Some(t) => (t, None),
            None => {
                let e = self.entra.as_ref().ok_or(TenantError::IssuerNotTrusted)?;
                let tid = e.tid_of(&iss).ok_or(TenantError::IssuerNotTrusted)?;
                let t = e.by_tid.get(tid).ok_or(TenantError::TenantIdNotAllowed)?;
                (t, Some(tid))
            }
        };
        let auth = trust
            .validator
            .validate_for(token, keys.unwrap_or(&trust.keys), now, scopes)?;
        if let Some(tid) = tid
            && auth.claim::<String>("tid").as_deref() != Some(tid)
        {
            return Err(TenantError::TenantIdMismatch);
        }
        Ok(TenantContext {
            principal: Principal {
                tenant: self.id.clone(),
                issuer: auth.issuer().to_owned(),
                subject: auth.subject().unwrap_or("").to_owned(),
            },
            auth,
        })
    }
}
