//! The world test: the MCP client's state machine and policy (`mcp-oauth-client-flow`),
//! the resource server's core (`mcp-oauth-resource-server`) and the authorization server's
//! core (`mcp-oauth-authorization-server`) exchanging `http::Request/Response<Vec<u8>>`
//! in memory, on a fake clock, with deterministic entropy: no sockets, no runtime. The
//! model is quinn-proto's `Pair`. New features are tested here first.
//!
//! Scenarios: the whole flow; step-up on `403 insufficient_scope`; refresh ahead of
//! expiry; expiry in the middle of a session (401, refresh, retry); a second
//! authorization server; a tenant's token refused at another tenant (one multi-tenant
//! resource server, two hosts, two authorization servers); key rotation (the
//! authorization server rotates its signing key; the resource server fetches the new
//! JWK Set on the first unknown `kid` and keeps accepting tokens of the previous key).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use mcp_oauth_authorization_server::{
    AsConfig, AuthorizationServer, AutoApprove, Handled, MemoryStorage,
};
use mcp_oauth_client_flow::{
    Action, AuthFlow, ChallengeDecision, ClientConfig, Credential, RefreshFlow, RefreshStep,
    RegisteredClient, Rejection, ResourceUri, TokenDecision, TokenPolicy, UnixTime,
    bearer_challenge, decide_completion,
};
use mcp_oauth_jwt_validate::crypto::{Es256Signer, Ring};
use mcp_oauth_jwt_validate::{KeySet, KeySetLimits, Policy, Validator};
use mcp_oauth_prm_metadata::{PrmBuilder, PrmEndpoint};
use mcp_oauth_resource_server::{Decision, KeySource, Now, OperationScopes, ResourceServer};
use mcp_oauth_tests::rng::CountingRng;

const AS1: &str = "https://as1.example";
const AS2: &str = "https://as2.example";
const MCP: &str = "https://mcp.example/mcp";
const START: u64 = 1_800_000_000;

/// Keys the resource server trusts: replaced when the world fetches them again. An
/// unknown `kid` asks for a fetch (the world performs it on
/// [`Decision::WaitForKeys`], as the adapter's refresher would).
#[derive(Default)]
struct SharedKeys(RwLock<Arc<KeySet>>);
impl KeySource for SharedKeys {
    fn keys(&self, _kid: Option<&str>, _now: UnixTime) -> Option<Arc<KeySet>> {
        Some(self.0.read().unwrap().clone())
    }

    fn key_arrival(
        &self,
        kid: Option<&str>,
        _now: UnixTime,
    ) -> Option<mcp_oauth_resource_server::KeyArrival> {
        let kid = kid?;
        if self.0.read().unwrap().contains_kid(kid) {
            return None;
        }
        Some(Box::pin(std::future::ready(())))
    }
}

/// The client: its configuration, what it stores, and its policy.
struct Client {
    config: ClientConfig,
    credential: Option<Credential>,
    clients: HashMap<String, RegisteredClient>,
    policy: TokenPolicy,
}

/// Everything, in memory, on one clock.
struct World {
    now: u64,
    rng: CountingRng,
    servers: HashMap<&'static str, AuthorizationServer<MemoryStorage>>,
    keys: Arc<SharedKeys>,
    /// The issuer whose JWK Set `keys` holds.
    keys_from: &'static str,
    rs: ResourceServer,
    client: Client,
    /// Every request the client sent, as `METHOD host path`.
    log: Vec<String>,
}

/// An authorization server at `issuer` for `resource`: tokens for 300 s, automatic
/// consent for `alice`.
fn as_server(issuer: &str, resource: &str) -> AuthorizationServer<MemoryStorage> {
    let mut config = AsConfig::new(issuer).resource(
        ResourceUri::parse(resource).unwrap(),
        ["mcp:tools", "mcp:read", "mcp:write"],
    );
    config.access_ttl = 300;
    AuthorizationServer::new(
        config,
        MemoryStorage::new(),
        Box::new(Es256Signer::generate().unwrap().with_kid("key-1")),
        Box::new(AutoApprove {
            subject: "alice".into(),
        }),
    )
    .unwrap()
}

fn jwks_of(s: &AuthorizationServer<MemoryStorage>) -> Arc<KeySet> {
    Arc::new(KeySet::parse(s.jwks_response().body(), &Ring, &KeySetLimits::default()).unwrap())
}

impl World {
    /// One authorization server at `issuer` (tokens for 300 s), the MCP server trusting
    /// it, asking `mcp:tools mcp:read` first and `mcp:write` for `echo`.
    fn new(issuer: &'static str) -> World {
        let me = ResourceUri::parse(MCP).unwrap();
        let server = as_server(issuer, MCP);
        let keys = Arc::new(SharedKeys(RwLock::new(jwks_of(&server))));
        let prm = PrmBuilder::new(me.clone())
            .authorization_server(issuer)
            .scopes_supported(["mcp:tools", "mcp:read", "mcp:write"])
            .build()
            .unwrap();
        let rs = ResourceServer::new(
            Validator::new(Policy::new(issuer, &me)),
            keys.clone(),
            PrmEndpoint::new(prm, &me),
        )
        .challenge_scope("mcp:tools mcp:read")
        .operation_scopes(OperationScopes::new().tool("echo", ["mcp:write"]));
        let config = ClientConfig::native("world", "http://127.0.0.1:7777/callback");
        World {
            now: START,
            rng: CountingRng(7),
            servers: HashMap::from([(issuer, server)]),
            keys,
            keys_from: issuer,
            rs,
            client: Client {
                policy: TokenPolicy::for_config(&config),
                config,
                credential: None,
                clients: HashMap::new(),
            },
            log: Vec::new(),
        }
    }

    fn now(&self) -> UnixTime {
        UnixTime(self.now)
    }

    fn advance(&mut self, secs: u64) {
        self.now += secs;
    }

    /// Delivers one request to whoever serves its host.
    fn send(&mut self, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
        let host = req.uri().host().unwrap_or_default().to_owned();
        self.log
            .push(format!("{} {} {}", req.method(), host, req.uri().path()));
        let issuer = format!("https://{host}");
        if let Some(server) = self.servers.get(issuer.as_str()) {
            let mut entropy = [0u8; 64];
            rand_core::TryRng::try_fill_bytes(&mut self.rng, &mut entropy).unwrap();
            return match server.handle(UnixTime(self.now), &req, None, &entropy, None) {
                Handled::Respond(r) => r,
                other => panic!("{other:?}"),
            };
        }
        assert!(host.ends_with("mcp.example"), "nothing else exists: {host}");
        self.mcp(req)
    }

    /// The MCP server: the resource server's decision, then a trivial application.
    fn mcp(&mut self, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
        let (parts, body) = req.into_parts();
        let now = Now {
            wall: UnixTime(self.now),
            monotonic: Duration::from_secs(self.now - START),
        };
        let mut audit = |_e| {};
        let mut decision = self.rs.decide(&parts, None, now, &mut audit);
        if let Decision::WaitForKeys(wait) = decision {
            self.fetch_keys();
            decision = self.rs.handle_keys(&parts, wait, now, &mut audit);
        }
        if let Decision::NeedBody(need) = decision {
            decision = self
                .rs
                .handle_body(&parts, need, Some(&body), now, &mut audit);
        }
        match decision {
            Decision::Respond(r) => r,
            Decision::Allow(allowed) => {
                let mut r = Response::new(
                    format!(
                        r#"{{"jsonrpc":"2.0","id":1,"result":{{"sub":"{}"}}}}"#,
                        allowed.context.subject().unwrap_or("")
                    )
                    .into_bytes(),
                );
                r.headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
                r
            }
            other => panic!("unexpected decision {other:?}"),
        }
    }

    /// The resource server's key refresher: the issuer's JWK Set, from the `jwks_uri` of
    /// its metadata, over the world's wire.
    fn fetch_keys(&mut self) {
        let issuer = self.keys_from;
        let meta = self.send(
            Request::get(format!("{issuer}/.well-known/oauth-authorization-server"))
                .body(Vec::new())
                .unwrap(),
        );
        let meta: serde_json::Value = serde_json::from_slice(meta.body()).unwrap();
        let jwks = self.send(
            Request::get(meta["jwks_uri"].as_str().unwrap())
                .body(Vec::new())
                .unwrap(),
        );
        assert_eq!(jwks.status(), StatusCode::OK);
        let set = KeySet::parse(jwks.body(), &Ring, &KeySetLimits::default()).unwrap();
        *self.keys.0.write().unwrap() = Arc::new(set);
    }

    /// The client's user agent: follows the authorization URL to its redirect.
    fn browse(&mut self, url: &str) -> String {
        let resp = self.send(Request::get(url).body(Vec::new()).unwrap());
        assert_eq!(
            resp.status(),
            StatusCode::FOUND,
            "{}",
            String::from_utf8_lossy(resp.body())
        );
        resp.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Runs an authorization flow to its end and stores the result.
    fn run_flow(&mut self, mut flow: AuthFlow) {
        loop {
            let action = flow.poll_action(self.now(), &mut self.rng);
            match action {
                Action::Send(req) => {
                    let resp = self.send(req);
                    let _ = flow.handle_response(self.now(), resp.status(), resp.body());
                }
                Action::Redirect(url) => {
                    let callback = self.browse(&url);
                    flow.handle_callback(&callback).unwrap();
                }
                Action::Done(a) => {
                    let done =
                        decide_completion(&self.client.config, self.client.credential.as_ref(), &a);
                    if done.save_client {
                        self.client
                            .clients
                            .insert(a.issuer().to_owned(), a.client.clone());
                    }
                    self.client.credential = Some(done.credential);
                    return;
                }
                Action::Failed(e) => panic!("flow failed: {e:?}"),
                Action::Pending => panic!("nothing pending in memory"),
                _ => panic!("an action this world does not know"),
            }
        }
    }

    /// Refreshes the held credential, as the driver would.
    fn refresh(&mut self) -> bool {
        let old = self
            .client
            .credential
            .as_ref()
            .unwrap()
            .tokens
            .access_token
            .expose()
            .to_owned();
        let mut flow = RefreshFlow::new(&old);
        let mut step = RefreshStep::ReadStore;
        loop {
            step = match step {
                RefreshStep::ReadStore => {
                    let stored = self.client.credential.clone();
                    let client = stored
                        .as_ref()
                        .and_then(|c| self.client.clients.get(&c.issuer))
                        .cloned();
                    flow.handle_stored(self.now(), stored, client.as_ref(), None, &mut self.rng)
                }
                RefreshStep::Send(req) => {
                    let resp = self.send(req);
                    flow.handle_response(self.now(), resp.status(), resp.body())
                }
                RefreshStep::Save(c) | RefreshStep::AlreadyRefreshed(c) => {
                    let token = c.tokens.access_token.expose().to_owned();
                    self.client.credential = Some(*c);
                    self.client.policy.handle_refreshed(&token);
                    return true;
                }
                RefreshStep::Discard => {
                    self.client.credential = None;
                    return false;
                }
                RefreshStep::Reauthorize => return false,
                RefreshStep::Failed(e) => panic!("refresh failed: {e:?}"),
                other => panic!("{other:?}"),
            }
        }
    }

    /// Calls `tool` on the MCP server the way the client does: the policy decides about
    /// the held token, a 401/403 is answered by the policy (refresh, authorize, step up,
    /// give up). Returns the final status.
    fn call(&mut self, tool: &str) -> StatusCode {
        self.call_at(MCP, tool)
    }

    /// [`call`](Self::call) at another MCP URL (a tenant's).
    fn call_at(&mut self, url: &str, tool: &str) -> StatusCode {
        for _ in 0..6 {
            match self
                .client
                .policy
                .decide_token(self.now(), self.client.credential.as_ref())
            {
                TokenDecision::Refresh => {
                    self.refresh();
                }
                TokenDecision::Use | TokenDecision::NoCredential | TokenDecision::Reauthorize => {}
                _ => {}
            }
            let token = match self
                .client
                .policy
                .decide_token(self.now(), self.client.credential.as_ref())
            {
                TokenDecision::Use => self
                    .client
                    .credential
                    .as_ref()
                    .map(|c| c.tokens.access_token.expose().to_owned()),
                _ => None,
            };
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{tool}"}}}}"#
            );
            let mut req = Request::post(url).header("content-type", "application/json");
            if let Some(t) = &token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let resp = self.send(req.body(body.into_bytes()).unwrap());
            let status = resp.status();
            if status.is_success() {
                self.client.policy.handle_success(url, tool);
                return status;
            }
            let challenge = bearer_challenge(
                resp.headers()
                    .get_all("www-authenticate")
                    .iter()
                    .map(http::HeaderValue::as_bytes),
            );
            let rejection = Rejection::new(url, tool, status)
                .with_challenge(challenge.as_ref())
                .with_held(self.client.credential.as_ref())
                .with_rejected(token.as_deref());
            let reauthorize = match self.client.policy.handle_challenge(&rejection) {
                ChallengeDecision::Refresh { otherwise } => {
                    if self.refresh() {
                        continue;
                    }
                    otherwise
                }
                ChallengeDecision::Authorize(r) => r,
                ChallengeDecision::GiveUp(_) => return status,
                other => panic!("{other:?}"),
            };
            let flow = reauthorize
                .build_flow(
                    self.client.config.clone(),
                    ResourceUri::parse(url).unwrap(),
                    self.client.clients.clone().into_iter().collect(),
                    self.client.credential.as_ref(),
                    None,
                )
                .unwrap();
            self.run_flow(flow);
        }
        panic!("no answer after six rounds: {:#?}", self.log);
    }

    /// The requests logged since `before` (a length of [`World::log`]).
    fn since(&self, before: usize) -> Vec<&str> {
        self.log[before..].iter().map(String::as_str).collect()
    }

    /// A `tools/call whoami` to `url` with `token`, outside the client's policy (as an
    /// attacker replaying a token would send it).
    fn send_token(&mut self, url: &str, token: &str) -> Response<Vec<u8>> {
        self.send(
            Request::post(url)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(
                    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#
                        .to_vec(),
                )
                .unwrap(),
        )
    }

    fn requests_to(&self, host: &str) -> usize {
        self.log
            .iter()
            .filter(|l| l.split(' ').nth(1) == Some(host))
            .count()
    }

    fn scope(&self) -> String {
        self.client
            .credential
            .as_ref()
            .and_then(|c| c.tokens.scope.clone())
            .unwrap_or_default()
    }
}

/// The whole flow: 401 → PRM → AS metadata → registration → authorize → token → 200,
/// each request exactly once.
#[test]
fn the_whole_flow() {
    let mut w = World::new(AS1);
    assert_eq!(w.call("whoami"), StatusCode::OK);
    let paths: Vec<&str> = w.log.iter().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "POST mcp.example /mcp",
            "GET mcp.example /.well-known/oauth-protected-resource/mcp",
            "GET as1.example /.well-known/oauth-authorization-server",
            "POST as1.example /register",
            "GET as1.example /authorize",
            "POST as1.example /token",
            "POST mcp.example /mcp",
        ]
    );
    // The first challenge's scopes, and `offline_access` because the server offers it.
    assert_eq!(w.scope(), "mcp:tools mcp:read offline_access");
}

/// `echo` needs `mcp:write`: the 403 names it, the client asks for the union (MCP-SCOPE-13),
/// reusing its registration and discovery, and the retry passes.
#[test]
fn step_up() {
    let mut w = World::new(AS1);
    assert_eq!(w.call("whoami"), StatusCode::OK);
    let before = w.log.len();
    assert_eq!(w.call("echo"), StatusCode::OK);
    let after = w.since(before);
    assert_eq!(after.first(), Some(&"POST mcp.example /mcp"), "the 403");
    assert!(
        !after.contains(&"POST as1.example /register"),
        "the registration is reused"
    );
    assert_eq!(after.last(), Some(&"POST mcp.example /mcp"));
    let scope = w.scope();
    for s in ["mcp:tools", "mcp:read", "mcp:write"] {
        assert!(scope.split(' ').any(|x| x == s), "{s} in {scope}");
    }
}

/// Refresh ahead of expiry: inside the margin, the next call refreshes first and the MCP
/// server never sees the old token expire.
#[test]
fn refresh_ahead_of_expiry() {
    let mut w = World::new(AS1);
    assert_eq!(w.call("whoami"), StatusCode::OK);
    let first = w.client.credential.clone().unwrap();
    assert!(
        first.tokens.refresh_token.is_some(),
        "the AS issues refresh tokens"
    );
    w.advance(290); // 10 s left of 300, inside the refresh margin
    let before = w.log.len();
    assert_eq!(w.call("whoami"), StatusCode::OK);
    let after = w.since(before);
    assert_eq!(after, ["POST as1.example /token", "POST mcp.example /mcp"]);
    assert_ne!(
        w.client.credential.as_ref().unwrap().tokens.access_token,
        first.tokens.access_token
    );
}

/// Expiry in the middle of a session when the client's clock is behind: the MCP server
/// answers 401, the client refreshes once and retries; no new authorization.
#[test]
fn expiry_mid_session_refreshes_once() {
    let mut w = World::new(AS1);
    assert_eq!(w.call("whoami"), StatusCode::OK);
    // The client believes its token lives longer than it does (skew).
    if let Some(c) = w.client.credential.as_mut() {
        c.tokens.expires_at = Some(UnixTime(START + 100_000));
    }
    w.advance(400);
    let before = w.log.len();
    assert_eq!(w.call("whoami"), StatusCode::OK);
    let after = w.since(before);
    assert_eq!(
        after,
        [
            "POST mcp.example /mcp",
            "POST as1.example /token",
            "POST mcp.example /mcp"
        ]
    );
}

/// A second authorization server: the MCP server moves from AS1 to AS2. The token from
/// AS1 is refused; a refresh at AS1 yields another AS1 token, refused too; the client
/// then starts afresh, discovers AS2, registers there and discards what AS1 issued.
#[test]
fn a_second_authorization_server() {
    let mut w = World::new(AS1);
    assert_eq!(w.call("whoami"), StatusCode::OK);
    w.servers.insert(AS2, as_server(AS2, MCP));
    let moved = World::new(AS2);
    w.rs = moved.rs;
    w.keys = moved.keys;
    w.keys_from = AS2;
    *w.keys.0.write().unwrap() = jwks_of(&w.servers[AS2]);
    let before = w.requests_to("as2.example");
    assert_eq!(w.call("whoami"), StatusCode::OK);
    assert!(
        w.requests_to("as2.example") > before,
        "AS2 was discovered and used"
    );
    assert_eq!(w.client.credential.as_ref().unwrap().issuer, AS2);
    assert!(w.client.clients.contains_key(AS2), "registered at AS2");
}

/// Key rotation: the authorization server signs with a new key; the old token keeps
/// working; the first token of the new key makes the resource server fetch the JWK Set
/// once (through the issuer's metadata) and is accepted on that same request; the
/// previous key stays published, so the old token is still accepted after the fetch.
#[test]
fn key_rotation() {
    let mut w = World::new(AS1);
    assert_eq!(w.call("whoami"), StatusCode::OK);
    let old_token = w
        .client
        .credential
        .as_ref()
        .unwrap()
        .tokens
        .access_token
        .clone();
    w.servers
        .get_mut(AS1)
        .unwrap()
        .rotate_signer(Box::new(Es256Signer::generate().unwrap().with_kid("key-2")))
        .unwrap();
    assert_eq!(
        w.call("whoami"),
        StatusCode::OK,
        "the old key's token still held"
    );
    assert_eq!(w.requests_to("as1.example"), 4, "nothing fetched yet");

    w.advance(290); // the refresh margin: the next call gets a token signed with key-2
    let before = w.log.len();
    assert_eq!(w.call("whoami"), StatusCode::OK);
    let after = w.since(before);
    assert_eq!(
        after,
        [
            "POST as1.example /token",
            "POST mcp.example /mcp",
            "GET as1.example /.well-known/oauth-authorization-server",
            "GET as1.example /jwks",
        ],
        "one fetch, inside the request that needed it"
    );
    assert!(w.keys.0.read().unwrap().contains_kid("key-2"));
    let replay = w.send_token(MCP, old_token.expose());
    assert_eq!(
        replay.status(),
        StatusCode::OK,
        "the previous key is published"
    );
    let before = w.log.len();
    assert_eq!(w.call("whoami"), StatusCode::OK);
    assert_eq!(w.log.len() - before, 1, "no second fetch");
}

/// One multi-tenant MCP server: `a.mcp.example` trusts AS1, `b.mcp.example` trusts AS2.
/// The client authorizes at each through the same flow; a's token presented at b is
/// refused (`401 invalid_token`), and a host that is no tenant's is `404`.
#[test]
fn a_tenants_token_is_refused_at_another_tenant() {
    use mcp_oauth_resource_server::Tenants;
    use mcp_oauth_tenant::{IssuerTrust, Registry, Resolver, TenantId, TenantTrust};

    const A: &str = "https://a.mcp.example/mcp";
    const B: &str = "https://b.mcp.example/mcp";
    let mut w = World::new(AS1);
    let as1 = as_server(AS1, A);
    let as2 = as_server(AS2, B);
    let tenant = |id: &str, url: &str, issuer: &str| {
        let me = ResourceUri::parse(url).unwrap();
        let prm = PrmBuilder::new(me.clone())
            .authorization_server(issuer)
            .build()
            .unwrap();
        TenantTrust::new(TenantId::new(id), me.clone())
            .issuer(
                issuer,
                IssuerTrust::new(Policy::new(issuer, &me), Arc::new(KeySet::default())),
            )
            .prm(prm)
    };
    let mut registry = Registry::new(Resolver::Host);
    registry.add("a.mcp.example", tenant("a", A, AS1)).unwrap();
    registry.add("b.mcp.example", tenant("b", B, AS2)).unwrap();
    let keys: Vec<(String, Arc<dyn KeySource>)> = vec![
        (
            AS1.to_owned(),
            Arc::new(SharedKeys(RwLock::new(jwks_of(&as1)))),
        ),
        (
            AS2.to_owned(),
            Arc::new(SharedKeys(RwLock::new(jwks_of(&as2)))),
        ),
    ];
    w.rs = ResourceServer::multi_tenant(Tenants::new(registry, keys).unwrap());
    w.servers = HashMap::from([(AS1, as1), (AS2, as2)]);

    assert_eq!(w.call_at(A, "whoami"), StatusCode::OK);
    let token_a = w
        .client
        .credential
        .as_ref()
        .unwrap()
        .tokens
        .access_token
        .expose()
        .to_owned();
    assert_eq!(w.client.credential.as_ref().unwrap().issuer, AS1);
    let replay = |w: &mut World, url: &str| w.send_token(url, &token_a);
    assert_eq!(replay(&mut w, A).status(), StatusCode::OK);
    let at_b = replay(&mut w, B);
    assert_eq!(at_b.status(), StatusCode::UNAUTHORIZED);
    let challenge = at_b.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(
        challenge.contains("https://b.mcp.example/.well-known/oauth-protected-resource/mcp"),
        "{challenge}"
    );
    assert_eq!(
        replay(&mut w, "https://c.mcp.example/mcp").status(),
        StatusCode::NOT_FOUND
    );
    // The client itself authorizes at b through AS2, with b's own token.
    assert_eq!(w.call_at(B, "whoami"), StatusCode::OK);
    assert_eq!(w.client.credential.as_ref().unwrap().issuer, AS2);
}
