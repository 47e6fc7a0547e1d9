//! Scope hierarchies: a broad scope that implies narrower ones (MCP-SCOPE-15).

use std::collections::{BTreeMap, BTreeSet};

/// Which scopes imply which (MCP 2026-07-28, step-up: a server honours scope hierarchies
/// when it judges whether a token's scopes suffice). Declared by the operator, because
/// scope names carry no hierarchy of their own: `files:write` implying `files:read` is a
/// policy, not a syntax.
///
/// Implication is transitive (`admin ⇒ write ⇒ read` makes `admin ⇒ read`) and closed when
/// each rule is added, so a check costs one lookup per granted scope.
///
/// ```
/// use mcp_oauth_jwt_validate::ScopeHierarchy;
/// let h = ScopeHierarchy::new()
///     .implies("mcp:admin", ["mcp:write"])
///     .implies("mcp:write", ["mcp:read"]);
/// assert!(h.grants(["mcp:admin"], "mcp:read"));
/// assert!(h.grants(["mcp:read"], "mcp:read"));
/// assert!(!h.grants(["mcp:read"], "mcp:write"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeHierarchy {
    /// Each broad scope and everything it implies, transitively (itself excluded).
    implied: BTreeMap<String, BTreeSet<String>>,
}

impl ScopeHierarchy {
    /// No scope implies another (every check is an exact match).
    pub fn new() -> Self {
        Self::default()
    }

    /// `broad` implies each of `narrower` (and what they imply).
    #[must_use]
    pub fn implies<I, S>(mut self, broad: impl Into<String>, narrower: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let broad = broad.into();
        let mut added: BTreeSet<String> = BTreeSet::new();
        for n in narrower {
            let n = n.into();
            if let Some(more) = self.implied.get(&n) {
                added.extend(more.iter().cloned());
            }
            added.insert(n);
        }
        added.remove(&broad);
        // Everything that implies `broad` now implies what `broad` implies.
        for set in self.implied.values_mut() {
            if set.contains(&broad) {
                set.extend(added.iter().cloned());
            }
        }
        self.implied.entry(broad.clone()).or_default().extend(added);
        // A cycle (`a ⇒ b ⇒ a`) leaves each scope in its own set: harmless, drop it.
        for (k, set) in &mut self.implied {
            set.remove(k);
        }
        self
    }

    /// Whether no rule was declared.
    pub fn is_empty(&self) -> bool {
        self.implied.is_empty()
    }

    /// Whether the `granted` scopes include `required`, directly or through a broader one.
    pub fn grants<'a, I>(&self, granted: I, required: &str) -> bool
    where
        I: IntoIterator<Item = &'a str>,
    {
        granted.into_iter().any(|g| {
            g == required
                || self
                    .implied
                    .get(g)
                    .is_some_and(|set| set.contains(required))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ScopeHierarchy;

    #[test]
    fn implication_is_transitive_in_any_declaration_order() {
        let forward = ScopeHierarchy::new()
            .implies("admin", ["write"])
            .implies("write", ["read"]);
        let backward = ScopeHierarchy::new()
            .implies("write", ["read"])
            .implies("admin", ["write"]);
        for h in [&forward, &backward] {
            assert!(h.grants(["admin"], "read"));
            assert!(h.grants(["admin"], "write"));
            assert!(h.grants(["write"], "read"));
            assert!(!h.grants(["read"], "write"));
            assert!(!h.grants(["write"], "admin"));
            assert!(!h.grants([], "read"));
            assert!(h.grants(["other", "admin"], "read"));
        }
        assert_eq!(forward, backward);
    }

    #[test]
    fn cycles_and_empty_hierarchies_are_harmless() {
        let h = ScopeHierarchy::new()
            .implies("a", ["b"])
            .implies("b", ["a"]);
        assert!(h.grants(["a"], "b"));
        assert!(h.grants(["b"], "a"));
        assert!(!h.grants(["a"], "c"));
        let none = ScopeHierarchy::new();
        assert!(none.is_empty());
        assert!(none.grants(["x"], "x"));
        assert!(!none.grants(["x"], "y"));
        // Scopes are compared exactly: no prefix or case folding.
        let h = ScopeHierarchy::new().implies("files", ["files:read"]);
        assert!(!h.grants(["Files"], "files:read"));
        assert!(!h.grants(["files"], "files:read:all"));
    }
}
