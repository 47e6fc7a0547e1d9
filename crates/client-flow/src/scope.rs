//! Which scopes to ask for (MCP-SCOPE-6, MCP-SCOPE-13; FORMAT suite `scope-union`).

/// The `offline_access` scope (OpenID Connect Core §11), which asks for a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Splits a space-separated scope string into its scopes, in order, without duplicates or
/// empty entries.
pub fn split_scopes(scope: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The scope for an authorization request (MCP-SCOPE-6): the challenge's `scope` when the
/// server sent one (authoritative for this operation, MCP-SCOPE-3), else every scope in
/// the protected resource metadata's `scopes_supported`, else none. `offline_access` is
/// added when `want_refresh` is set and the authorization server lists it in its own
/// `scopes_supported` (MCP 2026-07-28 refresh tokens; never assumed otherwise).
pub fn select_scope(
    challenge: Option<&str>,
    prm_scopes_supported: Option<&[String]>,
    as_scopes_supported: Option<&[String]>,
    want_refresh: bool,
) -> Option<String> {
    let mut scopes: Vec<&str> = match (challenge, prm_scopes_supported) {
        (Some(c), _) if !c.trim().is_empty() => split_scopes(c),
        (_, Some(list)) => list
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty() && !s.contains(' '))
            .collect(),
        _ => Vec::new(),
    };
    let as_offers_offline =
        as_scopes_supported.is_some_and(|l| l.iter().any(|s| s == OFFLINE_ACCESS));
    if want_refresh && as_offers_offline && !scopes.contains(&OFFLINE_ACCESS) && !scopes.is_empty()
    {
        scopes.push(OFFLINE_ACCESS);
    }
    join(&scopes)
}

/// The scope to request on step-up (MCP-SCOPE-4, MCP-SCOPE-13): everything held or asked
/// for so far, plus what the `insufficient_scope` challenge names, without duplicates,
/// the held scopes first.
///
/// ```
/// use mcp_oauth_client_flow::scope_union;
/// assert_eq!(scope_union("mcp:read", "mcp:write mcp:read").as_deref(), Some("mcp:read mcp:write"));
/// ```
pub fn scope_union(held: &str, challenge: &str) -> Option<String> {
    let mut scopes = split_scopes(held);
    for s in split_scopes(challenge) {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    join(&scopes)
}

/// Whether every scope in `needed` is in `held`.
pub fn covers(held: &str, needed: &str) -> bool {
    let held = split_scopes(held);
    split_scopes(needed).iter().all(|s| held.contains(s))
}

fn join(scopes: &[&str]) -> Option<String> {
    if scopes.is_empty() {
        None
    } else {
        Some(scopes.join(" "))
    }
}
