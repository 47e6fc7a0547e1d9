//! The layering check (ARCHITECTURE.md, "core crates decide, adapters act"): no core
//! crate may reach an async runtime or an HTTP stack through its normal dependencies.
//!
//! A workspace crate's layer is declared in its manifest:
//!
//! ```toml
//! [package.metadata.mcp-oauth]
//! layer = "core"   # or "adapter", "facade"
//! ```
//!
//! Every member under `crates/` must declare one. Dev- and build-dependencies are not
//! followed: tests may use tokio, and build scripts run on the build machine only.

// `serde_json::Value`'s `Index<&str>` returns `Null` for a missing key instead of panicking.
#![allow(clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use crate::util::{cargo, output};

/// Crates a core crate must never depend on, directly or not.
pub(crate) const FORBIDDEN_IN_CORE: &[&str] = &["tokio", "hyper", "reqwest", "mio"];

/// The layers a crate under `crates/` may declare.
const LAYERS: &[&str] = &["core", "adapter", "facade"];

/// `cargo xtask layering`: reads `cargo metadata` for the workspace and checks it.
pub(crate) fn check_workspace() -> Result<(), String> {
    let json = output(cargo().args(["metadata", "--format-version", "1", "--locked"]))?;
    let metadata: Value =
        serde_json::from_str(&json).map_err(|e| format!("cargo metadata: {e}"))?;
    let report = check(&metadata)?;
    for line in &report.checked {
        println!("layering: {line}");
    }
    if report.violations.is_empty() {
        println!("layering: ok ({} core crates)", report.checked.len());
        Ok(())
    } else {
        for v in &report.violations {
            eprintln!("layering: {v}");
        }
        Err(format!(
            "layering check failed ({} violations)",
            report.violations.len()
        ))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Report {
    /// One line per core crate checked.
    pub(crate) checked: Vec<String>,
    /// One line per violation: the crate, the forbidden dependency, and the path to it.
    pub(crate) violations: Vec<String>,
}

/// Checks `cargo metadata --format-version 1` output. Errors are for metadata this check
/// cannot read, or a crate under `crates/` without a valid layer.
pub(crate) fn check(metadata: &Value) -> Result<Report, String> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or("metadata has no packages")?;
    let by_id: BTreeMap<&str, &Value> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let name_of = |id: &str| -> String {
        by_id
            .get(id)
            .and_then(|p| p["name"].as_str())
            .unwrap_or(id)
            .to_owned()
    };

    // Normal-dependency edges from the resolve graph.
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .ok_or("metadata has no resolve graph")?;
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in nodes {
        let id = node["id"].as_str().ok_or("resolve node without id")?;
        let deps = node["deps"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let normal = deps.iter().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
        });
        edges
            .entry(id)
            .or_default()
            .extend(normal.filter_map(|d| d["pkg"].as_str()));
    }

    let members = metadata["workspace_members"]
        .as_array()
        .ok_or("metadata has no workspace_members")?;
    let mut report = Report::default();
    for member in members.iter().filter_map(Value::as_str) {
        let pkg = by_id
            .get(member)
            .ok_or("workspace member missing from packages")?;
        let name = name_of(member);
        let manifest = pkg["manifest_path"].as_str().unwrap_or_default();
        let layer = pkg["metadata"]["mcp-oauth"]["layer"].as_str();
        let under_crates = manifest.replace('\\', "/").contains("/crates/");
        match layer {
            Some(l) if !LAYERS.contains(&l) => {
                return Err(format!(
                    "{name}: unknown layer `{l}` (expected one of {LAYERS:?})"
                ));
            }
            None if under_crates => {
                return Err(format!(
                    "{name}: crates under crates/ must declare [package.metadata.mcp-oauth] layer"
                ));
            }
            Some("core") => {}
            _ => continue,
        }
        // Breadth-first over normal edges, remembering how each crate was reached.
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut seen: BTreeSet<&str> = BTreeSet::from([member]);
        let mut queue = VecDeque::from([member]);
        let mut found = 0;
        while let Some(id) = queue.pop_front() {
            for &dep in edges.get(id).map(Vec::as_slice).unwrap_or_default() {
                if !seen.insert(dep) {
                    continue;
                }
                parent.insert(dep, id);
                let dep_name = name_of(dep);
                if FORBIDDEN_IN_CORE.contains(&dep_name.as_str()) {
                    let mut path = vec![dep_name.clone()];
                    let mut cur = dep;
                    while let Some(&p) = parent.get(cur) {
                        path.push(name_of(p));
                        cur = p;
                    }
                    path.reverse();
                    report.violations.push(format!(
                        "core crate {name} depends on {dep_name}: {}",
                        path.join(" -> ")
                    ));
                    found += 1;
                }
                queue.push_back(dep);
            }
        }
        report.checked.push(format!(
            "{name} (core): {} crates in its normal closure, {found} forbidden",
            seen.len() - 1
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use serde_json::json;

    fn pkg(id: &str, layer: Option<&str>, dir: &str) -> Value {
        let mut p = json!({"id": id, "name": id, "manifest_path": format!("/w/{dir}/Cargo.toml")});
        if let Some(l) = layer {
            p["metadata"] = json!({"mcp-oauth": {"layer": l}});
        }
        p
    }

    fn dep(pkg: &str, kind: Option<&str>) -> Value {
        json!({"pkg": pkg, "dep_kinds": [{"kind": kind}]})
    }

    fn metadata(tokio_kind: Option<&str>) -> Value {
        json!({
            "packages": [
                pkg("core-a", Some("core"), "crates/a"),
                pkg("adapter", Some("adapter"), "crates/t"),
                pkg("xtask", None, "xtask"),
                pkg("helper", None, "registry/helper"),
                pkg("tokio", None, "registry/tokio"),
            ],
            "workspace_members": ["core-a", "adapter", "xtask"],
            "resolve": {"nodes": [
                {"id": "core-a", "deps": [dep("helper", None)]},
                {"id": "helper", "deps": [dep("tokio", tokio_kind)]},
                {"id": "adapter", "deps": [dep("tokio", None)]},
                {"id": "xtask", "deps": [dep("tokio", None)]},
                {"id": "tokio", "deps": []},
            ]},
        })
    }

    #[test]
    fn transitive_tokio_in_core_fails_with_its_path() {
        let report = check(&metadata(None)).unwrap();
        assert_eq!(
            report.violations,
            ["core crate core-a depends on tokio: core-a -> helper -> tokio"]
        );
    }

    #[test]
    fn dev_and_build_dependencies_are_not_followed() {
        assert!(check(&metadata(Some("dev"))).unwrap().violations.is_empty());
        assert!(
            check(&metadata(Some("build")))
                .unwrap()
                .violations
                .is_empty()
        );
    }

    #[test]
    fn adapters_may_use_tokio() {
        let report = check(&metadata(Some("dev"))).unwrap();
        assert_eq!(report.checked.len(), 1, "{:?}", report.checked);
    }

    #[test]
    fn crates_must_declare_a_layer() {
        let mut m = metadata(None);
        m["packages"][1] = pkg("adapter", None, "crates/t");
        assert!(check(&m).unwrap_err().contains("must declare"));
        m["packages"][1] = pkg("adapter", Some("middle"), "crates/t");
        assert!(check(&m).unwrap_err().contains("unknown layer"));
    }
}
