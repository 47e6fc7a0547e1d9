//! `jwt-validate` (RFC 9068, RFC 8725): every vector runs with both crypto providers, and
//! they must agree.

use core::time::Duration;
use std::collections::BTreeSet;

use mcp_oauth_jwt_validate::crypto::{AwsLcRs, Ring};
use mcp_oauth_jwt_validate::{
    Algorithm, CryptoProvider, KeySet, KeySetLimits, Policy, UnixTime, Validator,
};
use serde_json::{Map, Value, json};

use super::Suite;
use crate::conformance::Unreadable;
use crate::conformance::codes::error_value;
use crate::conformance::input::{Input, Key, opt, req};

/// `jwt-validate`.
pub(crate) const VALIDATE: Suite = Suite {
    name: "jwt-validate",
    input_keys: &[req("token"), req("jwks"), req("now"), req("policy")],
    run,
    compare,
};

const POLICY_KEYS: &[Key] = &[
    req("issuers"),
    req("audiences"),
    opt("algorithms"),
    opt("leeway_s"),
    opt("required_scopes"),
    opt("typ"),
];

fn strings(v: &Value, what: &str) -> Result<Vec<String>, Unreadable> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| Unreadable(format!("policy.{what} must be an array of strings")))
}

fn policy(v: &Value) -> Result<Policy, Unreadable> {
    let map = v
        .as_object()
        .ok_or_else(|| Unreadable("policy must be an object".into()))?;
    let input = Input::new(map, POLICY_KEYS)?;
    let mut p = Policy::from_lists(
        strings(input.value("issuers")?, "issuers")?,
        strings(input.value("audiences")?, "audiences")?,
    );
    if let Some(a) = input.opt_value("algorithms") {
        // `none`, HS256 and unknown names have no `Algorithm`: listing them allows nothing.
        let names = strings(a, "algorithms")?;
        p = p.algorithms(names.iter().filter_map(|n| Algorithm::parse(n)));
    }
    if let Some(l) = input.opt_value("leeway_s") {
        let secs = l
            .as_u64()
            .ok_or_else(|| Unreadable("policy.leeway_s must be a whole number".into()))?;
        p = p.leeway(Duration::from_secs(secs));
    }
    if let Some(s) = input.opt_value("required_scopes") {
        p = p.require_scopes(strings(s, "required_scopes")?);
    }
    // FORMAT: an absent `typ` means it is not checked (the library checks `at+jwt` by
    // default).
    p = match input.opt_value("typ") {
        Some(t) => p.accept_typ(strings(t, "typ")?),
        None => p.dangerous_skip_typ_check(),
    };
    Ok(p)
}

fn validate_with(
    provider: &dyn CryptoProvider,
    token: &str,
    jwks: &Value,
    now: UnixTime,
    policy: &Policy,
) -> Value {
    let keys = match KeySet::from_value(jwks, provider, &KeySetLimits::default()) {
        Ok(k) => k,
        // FORMAT: a set the library cannot use makes the token invalid_token.
        Err(_) => return json!({"error": "invalid_token"}),
    };
    match Validator::new(policy.clone()).validate(token, &keys, now) {
        Ok(ctx) => {
            let mut out = Map::new();
            out.insert("ok".into(), true.into());
            if let Some(sub) = ctx.subject() {
                out.insert("sub".into(), sub.into());
            }
            out.insert("scopes".into(), ctx.scopes().collect::<Vec<_>>().into());
            Value::Object(out)
        }
        Err(e) => error_value(&e),
    }
}

fn run(input: &Input<'_>) -> Result<Value, Unreadable> {
    let token = input.str("token")?;
    let jwks = input.value("jwks")?;
    let now = input
        .value("now")?
        .as_u64()
        .map(UnixTime)
        .ok_or_else(|| Unreadable("now must be a whole number of seconds".into()))?;
    let policy = policy(input.value("policy")?)?;
    let ring = validate_with(&Ring, token, jwks, now, &policy);
    let aws = validate_with(&AwsLcRs, token, jwks, now, &policy);
    if ring == aws {
        Ok(ring)
    } else {
        Ok(json!({"providers_disagree": {"ring": ring, "aws-lc-rs": aws}}))
    }
}

/// `error` compared exactly; with `ok`, `sub` compared when expected and `scopes` as a set.
fn compare(expect: &Map<String, Value>, got: &Value) -> bool {
    let Some(got) = got.as_object() else {
        return false;
    };
    if expect.contains_key("error") {
        return expect == got;
    }
    if expect.get("ok") != Some(&Value::Bool(true)) || got.get("ok") != Some(&Value::Bool(true)) {
        return false;
    }
    if expect
        .keys()
        .any(|k| !["ok", "sub", "scopes"].contains(&k.as_str()))
    {
        return false;
    }
    if let Some(sub) = expect.get("sub")
        && got.get("sub") != Some(sub)
    {
        return false;
    }
    if let Some(scopes) = expect.get("scopes") {
        let set = |v: Option<&Value>| -> Option<BTreeSet<String>> {
            v?.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect()
        };
        if set(Some(scopes)).is_none() || set(Some(scopes)) != set(got.get("scopes")) {
            return false;
        }
    }
    true
}
