//! The resource server's decision fed arbitrary header values, method, path and body.
//! Invariants: no panic; nothing is allowed (no key in the set verifies any token, and
//! the body is only read when the core asks); every answer is a refusal or the metadata.
#![no_main]
#![forbid(unsafe_code)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mcp_oauth_common::UnixTime;
use mcp_oauth_jwt_validate::{KeySet, Policy, Validator};
use mcp_oauth_prm_metadata::{PrmBuilder, PrmEndpoint};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_resource_server::{Decision, Now, OperationScopes, ResourceServer, StaticKeys};

fn server() -> &'static ResourceServer {
    static S: OnceLock<ResourceServer> = OnceLock::new();
    S.get_or_init(|| {
        let me = ResourceUri::parse("https://mcp.example.com/mcp").expect("fixed");
        let prm = PrmBuilder::new(me.clone())
            .authorization_server("https://as.example.com")
            .build()
            .expect("fixed");
        ResourceServer::new(
            Validator::new(Policy::new("https://as.example.com", &me)),
            Arc::new(StaticKeys(Arc::new(KeySet::default()))),
            PrmEndpoint::new(prm, &me),
        )
        .operation_scopes(OperationScopes::new().tool("echo", ["mcp:write"]))
        .token_cache(8)
    })
}

const HEADERS: [&str; 6] = [
    "authorization",
    "mcp-method",
    "mcp-name",
    "mcp-session-id",
    "content-length",
    "host",
];

fuzz_target!(|data: &[u8]| {
    let rs = server();
    // Layout: method byte, path up to '\n', then header values separated by '\n' in the
    // order of HEADERS, then the body.
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let method = ["GET", "POST", "DELETE", "OPTIONS", "HEAD"][usize::from(m % 5)];
    let mut fields = rest.splitn(HEADERS.len() + 2, |&b| b == b'\n');
    let path = String::from_utf8_lossy(fields.next().unwrap_or_default());
    let mut b = http::Request::builder().method(method).uri(format!(
        "https://mcp.example.com/{}",
        path.trim_start_matches('/')
    ));
    for name in HEADERS {
        if let Some(v) = fields.next()
            && let Ok(v) = http::HeaderValue::from_bytes(v)
        {
            b = b.header(name, v);
        }
    }
    let body = fields.next().unwrap_or_default();
    let Ok(req) = b.body(()) else {
        return;
    };
    let (parts, ()) = req.into_parts();
    let now = Now {
        wall: UnixTime(1_800_000_000),
        monotonic: Duration::from_secs(1),
    };
    let mut decision = rs.decide(&parts, None, now, &mut |_| {});
    loop {
        decision = match decision {
            Decision::NeedBody(need) => {
                let read = (body.len() <= need.max).then_some(body);
                rs.handle_body(&parts, need, read, now, &mut |_| {})
            }
            Decision::WaitForKeys(wait) => rs.handle_keys(&parts, wait, now, &mut |_| {}),
            Decision::Allow(_) => panic!("allowed without a verifiable token"),
            _ => break,
        };
    }
});
