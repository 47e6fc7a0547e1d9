//! Pure decisions: credentials, scopes from the body, refusals on the wire, tenants.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::OperationScopes;

/// The per-operation scope lookup reads each message once: the method, and for
/// `tools/call` the tool name in any spelling; other shapes need no scope; a message that
/// is not JSON, or names its tool twice, is refused (MCP-SCOPE step-up, fail closed).
#[test]
fn operation_scopes_from_the_body() {
    let ops = OperationScopes::new()
        .tool("echo", ["mcp:write"])
        .method("resources/write", ["mcp:write", "mcp:files"]);
    let req = |body: &str| ops.required(body.as_bytes()).map(|v| v.join(" "));
    let call = |params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params}}}"#)
    };
    assert_eq!(
        req(&call(r#"{"name":"echo","arguments":{"name":"x"}}"#)).as_deref(),
        Some("mcp:write")
    );
    assert_eq!(
        req(&call(
            r#"{"arguments":{"a":[1,{"b":null}]},"name":"\u0065cho"}"#
        ))
        .as_deref(),
        Some("mcp:write")
    );
    assert_eq!(req(&call(r#"{"name":"whoami"}"#)).as_deref(), Some(""));
    for other in [
        r#"{"name":7}"#,
        r#"{"name":["echo"]}"#,
        r#"["echo"]"#,
        r#""echo""#,
        "null",
        "{}",
    ] {
        assert_eq!(req(&call(other)).as_deref(), Some(""), "{other}");
    }
    assert_eq!(req(&call(r#"{"name":"whoami","name":"echo"}"#)), None);
    // `uri` (what `Mcp-Name` mirrors for resources/read) is read in the same pass.
    assert_eq!(req(&call(r#"{"name":"whoami","uri":"a","uri":"b"}"#)), None);
    assert_eq!(
        req(r#" [{"method":"tools/list"},{"method":"resources/write"},{"method":"tools/call","params":{"name":"echo"}}]"#).as_deref(),
        Some("mcp:write mcp:files")
    );
    assert_eq!(
        req(r#"{"method":"resources\/write"}"#).as_deref(),
        Some("mcp:write mcp:files")
    );
    for bad in [
        "not json",
        "",
        "7",
        r#"{"method":"tools/call""#,
        r#"{"method":1}"#,
    ] {
        assert_eq!(req(bad), None, "{bad}");
    }
}
