//! Validation of the token (one resource with the verified-token cache, or a tenant's
//! issuer with that issuer's keys) and the guard's before/after/failure checks.

use std::net::IpAddr;
use std::sync::Arc;

use mcp_oauth_common::UnixTime;
use mcp_oauth_guard::{AuditEvent, Denied};
use mcp_oauth_jwt_validate::{AuthContext, Cached, JwtError, TokenKey, Validator};
use mcp_oauth_tenant::{TenantError, TenantTrust, peek_issuer};

use crate::credentials::token_kid;
use crate::decide::{Audit, Now};
use crate::server::{KeySource, ResourceServer, Trust};

impl ResourceServer {
    pub(crate) fn key_source(
        &self,
        tenant: Option<&TenantTrust>,
        token: &str,
    ) -> Option<&dyn KeySource> {
        match (&self.trust, tenant) {
            (Trust::Single { keys, .. }, _) => Some(keys.as_ref()),
            (Trust::Tenants(t), Some(_)) => t.keys.get(&peek_issuer(token)?).map(AsRef::as_ref),
            (Trust::Tenants(_), None) => None,
        }
    }

    pub(crate) fn validate(
        &self,
        tenant: Option<&TenantTrust>,
        token: &str,
        now: UnixTime,
    ) -> Result<Arc<AuthContext>, TenantError> {
        match (&self.trust, tenant) {
            (
                Trust::Single {
                    validator, keys, ..
                },
                _,
            ) => self
                .validate_single(validator, keys.as_ref(), token, now)
                .map_err(TenantError::Token),
            (Trust::Tenants(tenants), Some(tenant)) => {
                let iss = peek_issuer(token).ok_or(JwtError::IssuerNotAccepted)?;
                if !tenant.trusts_issuer(&iss) {
                    return Err(TenantError::IssuerNotTrusted);
                }
                let ctx = match tenants.keys.get(&iss) {
                    Some(source) => {
                        let keys = source
                            .keys(token_kid(token).as_deref(), now)
                            .ok_or(JwtError::KeysUnavailable)?;
                        tenant.validate_with_keys(token, now, &keys)?
                    }
                    None => tenant.validate(token, now)?,
                };
                Ok(Arc::new(ctx.auth))
            }
            (Trust::Tenants(_), None) => Err(TenantError::UnknownTenant),
        }
    }

    fn validate_single(
        &self,
        validator: &Validator,
        keys: &dyn KeySource,
        token: &str,
        now: UnixTime,
    ) -> Result<Arc<AuthContext>, JwtError> {
        let policy = validator.policy();
        let Some(cache) = &self.token_cache else {
            let keys = keys
                .keys(token_kid(token).as_deref(), now)
                .ok_or(JwtError::KeysUnavailable)?;
            return validator.validate(token, &keys, now).map(Arc::new);
        };
        // A hit costs a hash (taken before the lock) and a lookup under a read lock, so
        // concurrent requests never wait for one another; no parsing. The keys are
        // consulted for the cached kid only, so a rotated-out key stops authenticating
        // at once.
        let key = TokenKey::of(token);
        let cached = cache.read().map_err(|_| JwtError::KeysUnavailable)?.check(
            &key,
            policy.leeway_secs(),
            now,
            |kid| match kid {
                Some(k) => keys.keys(Some(k), now).is_some_and(|ks| ks.contains_kid(k)),
                None => keys.keys(None, now).is_some(),
            },
        );
        match cached {
            Cached::Live(ctx) => {
                ctx.require_scopes(policy.required_scopes())?;
                return Ok(ctx);
            }
            Cached::Stale => {
                if let Ok(mut c) = cache.write() {
                    c.remove(&key);
                }
            }
            Cached::Absent => {}
        }
        let set = keys
            .keys(token_kid(token).as_deref(), now)
            .ok_or(JwtError::KeysUnavailable)?;
        let ctx = Arc::new(validator.verify(token, &set, now)?);
        if let Ok(mut c) = cache.write() {
            c.insert_key(key, ctx.clone());
        }
        ctx.require_scopes(policy.required_scopes())?;
        Ok(ctx)
    }

    pub(crate) fn guard_before(&self, addr: Option<IpAddr>, now: Now) -> Result<(), Denied> {
        let (Some(guard), Some(ip)) = (&self.guard, addr) else {
            return Ok(());
        };
        guard
            .lock()
            .map(|mut g| g.before_auth(ip, now.monotonic))
            .unwrap_or(Ok(()))
    }

    pub(crate) fn guard_failure(&self, addr: Option<IpAddr>, now: Now, audit: Audit<'_>) {
        let (Some(guard), Some(ip)) = (&self.guard, addr) else {
            return;
        };
        if guard
            .lock()
            .is_ok_and(|mut g| g.record_invalid_token(ip, now.monotonic))
        {
            audit(AuditEvent::SourceBlocked { addr: ip });
        }
    }

    pub(crate) fn guard_after(
        &self,
        ctx: &AuthContext,
        tenant: Option<&str>,
        now: Now,
    ) -> Result<(), Denied> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        guard
            .lock()
            .map(|mut g| g.after_auth_ids(ctx.client_id(), ctx.subject(), tenant, now.monotonic))
            .unwrap_or(Ok(()))
    }
}
