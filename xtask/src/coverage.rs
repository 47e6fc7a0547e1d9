//! The spec-coverage table (`crates/mcp-oauth/docs/spec-coverage.md`) cites tests as
//! `dir/src/file.rs::test_name`; a test that moves or is renamed must take its citation
//! with it. This module's test fails on any citation whose file does not define that
//! test function, so `cargo xtask ci` (through `cargo test`) keeps the table honest.

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use crate::util::root;

    /// Every `path.rs::name` citation (inside backticks) of the table.
    fn citations(table: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for chunk in table.split('`').skip(1).step_by(2) {
            let Some((path, name)) = chunk.split_once(".rs::") else {
                continue;
            };
            if path.contains(' ') || path.starts_with("crate-dir/") {
                continue;
            }
            let name = name.rsplit("::").next().unwrap_or(name);
            out.push((format!("{path}.rs"), name.to_owned()));
        }
        out
    }

    fn defines(source: &str, name: &str) -> bool {
        source.match_indices("fn ").any(|(i, _)| {
            let rest = &source[i + 3..];
            rest.starts_with(name)
                && !rest[name.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        })
    }

    #[test]
    fn every_cited_test_exists_where_the_table_says() {
        let root = root();
        let table =
            std::fs::read_to_string(root.join("crates/mcp-oauth/docs/spec-coverage.md")).unwrap();
        let cited = citations(&table);
        assert!(cited.len() > 100, "the table cites {} tests", cited.len());
        let mut missing = Vec::new();
        for (path, name) in &cited {
            let file = [root.join("crates").join(path), root.join(path)]
                .into_iter()
                .find(|p| p.is_file());
            let found = file
                .and_then(|f| std::fs::read_to_string(f).ok())
                .is_some_and(|src| defines(&src, name));
            if !found {
                missing.push(format!("{path}::{name}"));
            }
        }
        assert!(
            missing.is_empty(),
            "stale citations in spec-coverage.md: {missing:#?}"
        );
    }

    #[test]
    fn citations_and_definitions_are_read_exactly() {
        let c = citations(
            "a `x/src/a.rs::m::t1` b `not code` `y/tests/b.rs::t2`, `crate-dir/src/file.rs::test`",
        );
        assert_eq!(
            c,
            [
                ("x/src/a.rs".into(), "t1".into()),
                ("y/tests/b.rs".into(), "t2".into())
            ]
        );
        assert!(defines("fn t1() {}", "t1"));
        assert!(
            !defines("fn t10() {}", "t1"),
            "a longer name is another test"
        );
    }
}
