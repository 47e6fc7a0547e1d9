//! The set of tenants, how a request finds its tenant, and reloading without dropping
//! in-flight requests.

use core::fmt;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use http::request::Parts;

use crate::trust::{TenantId, TenantTrust};

/// A caller-supplied way to name a request's tenant.
pub type ResolveFn = Arc<dyn Fn(&Parts) -> Option<TenantId> + Send + Sync>;

/// How a request is mapped to a tenant.
#[derive(Clone)]
#[non_exhaustive]
pub enum Resolver {
    /// By the `Host` header (or the URI's authority), lowercased, port removed:
    /// `acme.mcp.example.com` → the tenant registered for that host.
    Host,
    /// By the first path segment: `/acme/mcp` → the tenant registered for `acme`.
    PathPrefix,
    /// By a function of the request.
    Custom(ResolveFn),
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resolver::Host => "Resolver::Host",
            Resolver::PathPrefix => "Resolver::PathPrefix",
            Resolver::Custom(_) => "Resolver::Custom",
        })
    }
}

/// An immutable set of tenants with their routing keys. Lookups are hash-map lookups:
/// their cost does not grow with the number of tenants.
#[derive(Debug, Clone)]
pub struct Registry {
    resolver: Resolver,
    tenants: HashMap<TenantId, Arc<TenantTrust>>,
    routes: HashMap<String, TenantId>,
}

/// Why a tenant could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two tenants with one id.
    DuplicateTenant(TenantId),
    /// Two tenants on one host or path prefix.
    DuplicateRoute(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::DuplicateTenant(t) => write!(f, "tenant {t} is defined twice"),
            RegistryError::DuplicateRoute(r) => write!(f, "route {r:?} names two tenants"),
        }
    }
}

impl std::error::Error for RegistryError {}

fn host_key(host: &str) -> String {
    let h = host.trim_end_matches('.');
    let h = match h.rsplit_once(':') {
        // Not an IPv6 literal's colons: `[::1]:8080` ends in `]:port`.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => h,
    };
    h.to_ascii_lowercase()
}

impl Registry {
    /// An empty registry routing with `resolver`.
    pub fn new(resolver: Resolver) -> Self {
        Registry {
            resolver,
            tenants: HashMap::new(),
            routes: HashMap::new(),
        }
    }

    /// Adds a tenant, reached by `route` (its host for [`Resolver::Host`], its first path
    /// segment for [`Resolver::PathPrefix`]; ignored for [`Resolver::Custom`]).
    pub fn add(&mut self, route: &str, trust: TenantTrust) -> Result<(), RegistryError> {
        let id = trust.id().clone();
        if self.tenants.contains_key(&id) {
            return Err(RegistryError::DuplicateTenant(id));
        }
        let key = match self.resolver {
            Resolver::Host => host_key(route),
            _ => route.trim_matches('/').to_owned(),
        };
        if !matches!(self.resolver, Resolver::Custom(_)) {
            if self.routes.contains_key(&key) {
                return Err(RegistryError::DuplicateRoute(key));
            }
            self.routes.insert(key, id.clone());
        }
        self.tenants.insert(id, Arc::new(trust));
        Ok(())
    }

    /// The number of tenants.
    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// Every tenant, in no particular order (to build per-tenant state such as metadata
    /// endpoints or one key refresher per trusted issuer).
    pub fn tenants(&self) -> impl Iterator<Item = &Arc<TenantTrust>> {
        self.tenants.values()
    }

    /// The tenant with this id.
    pub fn get(&self, id: &TenantId) -> Option<&Arc<TenantTrust>> {
        self.tenants.get(id)
    }

    /// The tenant a request is for.
    pub fn resolve(&self, parts: &Parts) -> Option<&Arc<TenantTrust>> {
        let id = match &self.resolver {
            Resolver::Host => {
                let host = parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))?;
                self.routes.get(&host_key(host))?
            }
            Resolver::PathPrefix => {
                let first = parts.uri.path().trim_start_matches('/').split('/').next()?;
                self.routes.get(first)?
            }
            Resolver::Custom(f) => return self.tenants.get(&f(parts)?),
        };
        self.tenants.get(id)
    }
}

/// The live registry: requests take a snapshot ([`Directory::snapshot`]) and keep it for
/// their whole life; [`Directory::replace`] installs a new registry for the requests
/// that start afterwards. No request ever sees half a reload, and none is dropped.
#[derive(Debug)]
pub struct Directory {
    current: RwLock<Arc<Registry>>,
}

impl Directory {
    /// Starts with `registry`.
    pub fn new(registry: Registry) -> Self {
        Directory {
            current: RwLock::new(Arc::new(registry)),
        }
    }

    /// The registry now.
    pub fn snapshot(&self) -> Arc<Registry> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Installs `registry`; returns the previous one (still held by in-flight requests).
    pub fn replace(&self, registry: Registry) -> Arc<Registry> {
        let mut g = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::replace(&mut *g, Arc::new(registry))
    }
}
