//! Refresh: single-flight across tasks and processes, `invalid_grant`, a 401 refreshes
//! once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;

/// Two tasks refreshing the same credential at once: one refresh request, both get the
/// new token (the rotating refresh token is spent exactly once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_refresh_once() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let store = Arc::new(MemoryStore::new());
    let server = seed(store.clone(), &base).await;
    let oauth = client(store.clone());
    let (a, b) = tokio::join!(oauth.access_token(&server), oauth.access_token(&server));
    assert_eq!(a.unwrap().as_deref(), Some("at-1"));
    assert_eq!(b.unwrap().as_deref(), Some("at-1"));
    assert_eq!(world.lock().unwrap().refreshes, ["rt-0"]);
}

const CHILD_STORE: &str = "MCP_OAUTH_TEST_CHILD_STORE";
const CHILD_SERVER: &str = "MCP_OAUTH_TEST_CHILD_SERVER";

/// Run only as a child of `two_processes_refresh_once`: refreshes through the file store.
#[tokio::test(flavor = "current_thread")]
#[ignore = "a helper process for two_processes_refresh_once"]
async fn refresh_child() {
    let (Ok(store), Ok(server)) = (std::env::var(CHILD_STORE), std::env::var(CHILD_SERVER)) else {
        return;
    };
    let server = ResourceUri::parse(&server).unwrap();
    let oauth = client(Arc::new(FileStore::new(store)));
    let token = oauth.access_token(&server).await.unwrap().unwrap();
    println!("CHILD-TOKEN {token}");
}

/// Two processes sharing a file store refresh the same credential at once: the file lock
/// makes the second find the first one's tokens, so the refresh token is spent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_once() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let dir = std::env::temp_dir().join(format!("mcp-oauth-refresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("store.json");
    let store = Arc::new(FileStore::new(&path));
    let server = seed(store.clone(), &base).await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the store is readable by its owner only"
        );
    }

    let exe = std::env::current_exe().unwrap();
    let spawn = || {
        tokio::process::Command::new(&exe)
            .args([
                "--exact",
                "client::tests::refresh::refresh_child",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_STORE, &path)
            .env(CHILD_SERVER, server.as_str())
            .output()
    };
    let (a, b) = tokio::join!(spawn(), spawn());
    let tokens: Vec<String> = [a.unwrap(), b.unwrap()]
        .iter()
        .map(|o| {
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            assert!(o.status.success(), "{out}");
            out.lines()
                .find_map(|l| l.strip_prefix("CHILD-TOKEN "))
                .unwrap_or_else(|| panic!("no token in {out}"))
                .to_owned()
        })
        .collect();
    assert_eq!(tokens, ["at-1", "at-1"]);
    assert_eq!(world.lock().unwrap().refreshes, ["rt-0"]);
    let stored = store.credential(server.as_str()).unwrap().unwrap();
    assert_eq!(stored.tokens.refresh_token.unwrap().expose(), "rt-1");
    let _ = std::fs::remove_dir_all(&dir);
}

/// After `invalid_grant` the store is read again; an unchanged dead credential is
/// dropped and the caller is told to run the flow.
#[tokio::test(flavor = "current_thread")]
async fn a_spent_refresh_token_drops_the_credential() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let store = Arc::new(MemoryStore::new());
    let server = seed(store.clone(), &base).await;
    world.lock().unwrap().refresh = 7; // the stored rt-0 is no longer valid
    let oauth = client(store.clone());
    assert_eq!(oauth.access_token(&server).await.unwrap(), None);
    assert!(store.credential(server.as_str()).unwrap().is_none());
    assert_eq!(world.lock().unwrap().refreshes, ["rt-0"]);
}

/// A 401 for the stored token refreshes once; a 401 for the refreshed token runs the
/// whole flow instead of refreshing in a loop.
#[tokio::test(flavor = "current_thread")]
async fn a_401_refreshes_once_then_reauthorizes() {
    let world = Shared::default();
    let base = start(world.clone()).await;
    let store = Arc::new(MemoryStore::new());
    let server = seed(store.clone(), &base).await;
    let oauth = client(store.clone());
    let (status, headers) = mcp(&base, None).await;
    let t1 = oauth
        .handle_challenge(&server, status, &headers, Some("at-0"), "x")
        .await
        .unwrap();
    assert_eq!(t1, "at-1");
    let authorizations = |w: &Shared| {
        w.lock()
            .unwrap()
            .log
            .iter()
            .filter(|(_, p)| p == "/authorize")
            .count()
    };
    let before = authorizations(&world);
    let t2 = oauth
        .handle_challenge(&server, status, &headers, Some("at-1"), "x")
        .await
        .unwrap();
    assert_eq!(authorizations(&world), before + 1, "the whole flow ran");
    assert_eq!(t2, "at-0");
}
