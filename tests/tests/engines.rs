//! The engines `cargo xtask` starts for tests are the real thing: a Redis that runs Lua,
//! and a Postgres whose conditional update lets exactly one of many concurrent
//! connections spend a single-use code. Each test skips without its engine, except
//! under `CI=true` (see `mcp_oauth_tests::engines`); run them with
//! `cargo xtask engines -- cargo test -p mcp-oauth-tests --test engines`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::TcpStream;
use std::sync::Arc;

use mcp_oauth_tests::engines::resp::{Reply, command};
use mcp_oauth_tests::engines::{host_port, postgres_url, redis_url};
use tokio::sync::Barrier;
use tokio_postgres::NoTls;

/// Connections racing for the one code.
const RACERS: usize = 16;

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

#[test]
fn redis_stores_values_and_runs_lua() {
    let Some(url) = redis_url() else { return };
    let mut redis = TcpStream::connect(host_port(&url).expect("host:port in the URL")).unwrap();
    // Keys of our own, so a reused server (`cargo xtask engines` kept running) passes too.
    let (k, counter) = (
        format!("engines-test-k-{}", std::process::id()),
        format!("engines-test-counter-{}", std::process::id()),
    );
    let mut send = |args: &[&str]| command(&mut redis, args).unwrap();

    assert_eq!(send(&["SET", &k, "v"]), Reply::Simple("OK".into()));
    assert_eq!(send(&["GET", &k]), bulk("v"));
    assert_eq!(send(&["DEL", &counter]), Reply::Integer(0));
    let incr = "return redis.call('INCR', KEYS[1])";
    assert_eq!(send(&["EVAL", incr, "1", &counter]), Reply::Integer(1));
    assert_eq!(send(&["EVAL", incr, "1", &counter]), Reply::Integer(2));
    assert_eq!(send(&["DEL", &k, &counter]), Reply::Integer(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_16_connections_spends_a_code() {
    let Some(url) = postgres_url() else { return };
    let connect = || async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    };
    let admin = connect().await;
    let table = format!("codes_{}", std::process::id());
    admin
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (id text PRIMARY KEY, spent boolean NOT NULL DEFAULT false);
             INSERT INTO {table} (id) VALUES ('code-1');"
        ))
        .await
        .unwrap();

    // Every racer is connected before any of them tries: the updates really race.
    let barrier = Arc::new(Barrier::new(RACERS));
    let spend = format!("UPDATE {table} SET spent = true WHERE id = $1 AND NOT spent RETURNING id");
    let mut racers = Vec::new();
    for _ in 0..RACERS {
        let (client, barrier, spend) = (connect().await, barrier.clone(), spend.clone());
        racers.push(tokio::spawn(async move {
            barrier.wait().await;
            client.query(&spend, &[&"code-1"]).await.unwrap()
        }));
    }
    let mut winners = Vec::new();
    for r in racers {
        winners.extend(r.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one connection spends the code");
    assert_eq!(winners[0].get::<_, &str>(0), "code-1");

    let spent: bool = admin
        .query_one(
            &format!("SELECT spent FROM {table} WHERE id = 'code-1'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(spent);
    admin
        .batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}
