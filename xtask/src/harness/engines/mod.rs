//! Real database engines for tests, started by xtask itself: a private PostgreSQL (a
//! fresh `initdb` in a temporary directory) and a `redis-server` without persistence,
//! each on a free loopback port, stopped and cleaned up on drop. Missing binaries are
//! installed from Debian (`postgresql`, `redis-server`) when running as root.
//!
//! Tests find them through the variables in `mcp_oauth_tests::engines`; [`Engines::env`]
//! gives the pairs to set. `postgres` refuses to run as root, so as root initdb, the
//! server and pg_ctl run as the system user [`PG_USER`] (created when missing).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcp_oauth_tests::engines::resp::{self, Reply};
use mcp_oauth_tests::engines::{POSTGRES_VAR, REDIS_VAR};

mod wire;

use super::procs::free_port;
use super::report::{log_file, logs_dir};
use crate::util::{output, run};
use wire::pg_query;
#[cfg(test)]
use wire::{error_text, query_message, read_message, startup_message, until_ready, with_length};

/// The unprivileged system user Postgres runs as when xtask runs as root.
pub(crate) const PG_USER: &str = "mcp-oauth-pg";

/// The database tests get, in [`Postgres::url`].
const PG_DATABASE: &str = "mcp_oauth";

/// The Postgres programs xtask runs, all from one directory.
const PG_PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Where Debian installs each Postgres major version's programs (`<version>/bin`).
const PG_DEBIAN_LIB: &str = "/usr/lib/postgresql";

/// The prefix of the temporary data directories, followed by xtask's pid.
const PG_DIR_PREFIX: &str = "mcp-oauth-pg-";

/// How long an engine may take to accept connections.
const STARTUP: Duration = Duration::from_secs(30);

/// Both engines, each running or left out (see [`Engines::start`]).
pub(crate) struct Engines {
    postgres: Option<Postgres>,
    redis: Option<Redis>,
}

impl Engines {
    /// Starts Postgres and Redis. An engine that cannot start is an error when
    /// `required` (under `CI=true`, or when asked for by name); otherwise a warning on
    /// stderr, and the engine is left out.
    pub(crate) fn start(required: bool) -> Result<Engines, String> {
        let postgres = keep("Postgres", Postgres::start(), required)?;
        let redis = keep("Redis", Redis::start(), required)?;
        Ok(Engines { postgres, redis })
    }

    /// The environment variables tests read, one `(name, url)` per running engine.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(pg) = &self.postgres {
            env.push((POSTGRES_VAR, pg.url()));
        }
        if let Some(redis) = &self.redis {
            env.push((REDIS_VAR, redis.url()));
        }
        env
    }
}

/// An engine's start outcome under the policy: required → the error; not → a warning.
fn keep<T>(engine: &str, started: Result<T, String>, required: bool) -> Result<Option<T>, String> {
    match started {
        Ok(e) => Ok(Some(e)),
        Err(e) if required => Err(format!("{engine}: {e}")),
        Err(e) => {
            eprintln!("xtask: warning: {engine} did not start, its tests will skip: {e}");
            Ok(None)
        }
    }
}

/// A private PostgreSQL server: its own data directory, loopback only, trust auth.
pub(crate) struct Postgres {
    child: Child,
    port: u16,
    /// The data directory (also holds the Unix socket), removed on drop.
    dir: PathBuf,
    /// Where `initdb`, `pg_ctl` and `postgres` are.
    bin: PathBuf,
    /// The user the programs run as, when xtask runs as root.
    user: Option<&'static str>,
}

impl Postgres {
    /// Finds (or installs) the binaries, runs initdb in a fresh temporary directory,
    /// starts the server on a free loopback port, waits until it answers a query and
    /// creates the `mcp_oauth` database.
    pub(crate) fn start() -> Result<Postgres, String> {
        let bin = pg_bin_dir()?;
        let user = if is_root()? {
            ensure_user(PG_USER)?;
            Some(PG_USER)
        } else {
            None
        };
        sweep_stale_dirs();
        let dir = std::env::temp_dir().join(format!("{PG_DIR_PREFIX}{}", std::process::id()));
        make_data_dir(&dir, user)?;
        let port = free_port()?;
        let child = match init_and_spawn(&bin, &dir, port, user) {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let mut pg = Postgres {
            child,
            port,
            dir,
            bin,
            user,
        };
        pg.wait_ready()?;
        pg_query(
            pg.addr(),
            "postgres",
            &format!("CREATE DATABASE {PG_DATABASE}"),
        )
        .map_err(|e| format!("CREATE DATABASE {PG_DATABASE}: {e}"))?;
        eprintln!("xtask: Postgres at {}", pg.url());
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/mcp_oauth`.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{PG_DATABASE}", self.port)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits until `SELECT 1` succeeds; fails with the log's tail if the server exits or
    /// takes longer than [`STARTUP`].
    fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < STARTUP {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "postgres exited ({status}){}",
                    log_tail("postgres.log")
                ));
            }
            match pg_query(self.addr(), "postgres", "SELECT 1") {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "postgres did not accept connections within {} s (last: {last}){}",
            STARTUP.as_secs(),
            log_tail("postgres.log")
        ))
    }
}

/// `initdb` into `dir`, then `postgres` on `port` (its log in `target/interop/`).
fn init_and_spawn(
    bin: &Path,
    dir: &Path,
    port: u16,
    user: Option<&'static str>,
) -> Result<Child, String> {
    output(
        pg_command(bin, "initdb", user)
            .arg("-D")
            .arg(dir)
            .args(["--auth=trust", "-U", "postgres", "--no-sync"])
            .args(["--encoding=UTF8", "--locale=C"]),
    )
    .map_err(|e| format!("initdb: {e}"))?;
    let log = log_file("postgres.log")?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    pg_command(bin, "postgres", user)
        .arg("-D")
        .arg(dir)
        .arg("-k")
        .arg(dir)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "fsync=off"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("could not start postgres: {e}"))
}

impl Drop for Postgres {
    /// `pg_ctl stop -m fast`, a kill if the server is still there, then the directory.
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl", self.user)
            .args(["stop", "-m", "fast", "-w", "-t", "10", "-D"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `redis-server` without persistence on a loopback port.
pub(crate) struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Finds (or installs) `redis-server`, starts it on a free loopback port and waits
    /// for `PING` to answer `+PONG`.
    pub(crate) fn start() -> Result<Redis, String> {
        let bin = match find_program(&path_dirs(), "redis-server") {
            Some(bin) => bin,
            None => {
                apt_install("redis-server", "redis-server")?;
                find_program(&path_dirs(), "redis-server")
                    .ok_or("redis-server is still not on the PATH after installing it")?
            }
        };
        let port = free_port()?;
        let log = log_file("redis.log")?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", bin.display()))?;
        let mut redis = Redis { child, port };
        redis.wait_ready()?;
        eprintln!("xtask: Redis at {}", redis.url());
        Ok(redis)
    }

    /// `redis://127.0.0.1:PORT/`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Waits until `PING` answers `+PONG`; fails with the log's tail if the server exits
    /// or takes longer than [`STARTUP`].
    fn wait_ready(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < STARTUP {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "redis-server exited ({status}){}",
                    log_tail("redis.log")
                ));
            }
            match ping(addr) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "redis-server did not answer PING within {} s (last: {last}){}",
            STARTUP.as_secs(),
            log_tail("redis.log")
        ))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `PING` → `+PONG` over a fresh connection.
fn ping(addr: SocketAddr) -> Result<(), String> {
    let mut s = connect(addr)?;
    match resp::command(&mut s, &["PING"]).map_err(|e| e.to_string())? {
        Reply::Simple(p) if p == "PONG" => Ok(()),
        other => Err(format!("PING answered {other:?}")),
    }
}

/// A loopback connection with bounded connect, read and write times.
fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .and_then(|()| s.set_write_timeout(Some(Duration::from_secs(5))))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`, installing Debian's
/// `postgresql` when none has them.
fn pg_bin_dir() -> Result<PathBuf, String> {
    let found = || {
        let dirs = pg_candidate_dirs(&path_dirs(), &debian_pg_versions());
        dirs.into_iter()
            .find(|d| PG_PROGRAMS.iter().all(|p| d.join(p).is_file()))
    };
    if let Some(dir) = found() {
        return Ok(dir);
    }
    apt_install("initdb, pg_ctl and postgres", "postgresql")?;
    found().ok_or_else(|| {
        format!("initdb, pg_ctl and postgres are still not on the PATH nor in {PG_DEBIAN_LIB}/*/bin after installing postgresql")
    })
}

/// Where to look for the Postgres programs, in order: the PATH, then Debian's
/// `/usr/lib/postgresql/<version>/bin`, newest version first.
fn pg_candidate_dirs(path: &[PathBuf], debian_versions: &[String]) -> Vec<PathBuf> {
    let mut versions = debian_versions.to_vec();
    versions.sort_by_key(|v| {
        std::cmp::Reverse(
            v.split('.')
                .map(|n| n.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>(),
        )
    });
    let debian = versions
        .iter()
        .map(|v| Path::new(PG_DEBIAN_LIB).join(v).join("bin"));
    path.iter().cloned().chain(debian).collect()
}

/// The version folders under [`PG_DEBIAN_LIB`] (none if it is missing).
fn debian_pg_versions() -> Vec<String> {
    std::fs::read_dir(PG_DEBIAN_LIB)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The directories of `$PATH`.
fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

/// The first `dir/name` that is a file.
fn find_program(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Installs a Debian package with apt-get when running as root; otherwise an error
/// naming the command to run.
fn apt_install(what: &str, package: &str) -> Result<(), String> {
    if !is_root()? {
        return Err(format!(
            "{what} not found; install them with `sudo apt-get install -y {package}`"
        ));
    }
    eprintln!("xtask: {what} not found; installing Debian's {package}");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "--no-install-recommends", package]))
}

/// Whether xtask runs as root (`id -u` is 0).
fn is_root() -> Result<bool, String> {
    Ok(output(Command::new("id").arg("-u"))?.trim() == "0")
}

/// Creates the system user `user` (no home, no login) unless it exists.
fn ensure_user(user: &str) -> Result<(), String> {
    if id(user, "-u").is_ok() {
        return Ok(());
    }
    eprintln!("xtask: creating the system user {user} to run Postgres (it refuses root)");
    run(Command::new("useradd").args([
        "--system",
        "--no-create-home",
        "--user-group",
        "--shell",
        "/usr/sbin/nologin",
        user,
    ]))
}

/// `id FLAG user` as a number (`-u`: the uid, `-g`: the primary gid).
fn id(user: &str, flag: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .map_err(|e| format!("id: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("no user {user}"))
}

/// A fresh, empty data directory (mode 0700), owned by `user` when given.
fn make_data_dir(dir: &Path, user: Option<&str>) -> Result<(), String> {
    let shown = dir.display();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{shown}: {e}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{shown}: {e}"))?;
        if let Some(user) = user {
            let (uid, gid) = (id(user, "-u")?, id(user, "-g")?);
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {shown} to {user}: {e}"))?;
        }
    }
    Ok(())
}

/// Removes data directories left by xtask runs that ended without dropping their
/// [`Postgres`] (a Ctrl-C kills xtask and, through the terminal, the server too): those
/// whose pid suffix names no running process.
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(stale_pid) else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The xtask pid in a data directory's name, `mcp-oauth-pg-<pid>`.
fn stale_pid(name: &str) -> Option<u32> {
    if !Path::new("/proc/self").exists() {
        return None; // no /proc: cannot tell a live pid, keep everything
    }
    name.strip_prefix(PG_DIR_PREFIX)?.parse().ok()
}

/// `program` from `bin`, run as `user` (through `setpriv`) when given, in the temporary
/// directory (the user may not be allowed into the current one).
fn pg_command(bin: &Path, program: &str, user: Option<&str>) -> Command {
    let program = bin.join(program);
    let mut cmd = match user {
        Some(user) => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid", user, "--regid", user, "--clear-groups", "--"])
                .arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.current_dir(std::env::temp_dir());
    cmd
}

/// The last lines of a log in `target/interop/`, to append to an error.
fn log_tail(name: &str) -> String {
    let path = logs_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    format!(
        "; the end of {}:\n{}",
        path.display(),
        last_lines(&text, 15)
    )
}

/// The last `n` lines of `text`.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .get(lines.len().saturating_sub(n)..)
        .unwrap_or_default()
        .join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    /// The directories as `OsStr`s, to compare with string literals.
    fn names(dirs: &[PathBuf]) -> Vec<&OsStr> {
        dirs.iter().map(|d| d.as_os_str()).collect()
    }

    /// A backend message: `tag`, length, `body`.
    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        with_length(Some(tag), body.to_vec())
    }

    #[test]
    fn the_path_comes_first_then_debian_versions_newest_first() {
        let path = [PathBuf::from("/usr/local/bin"), PathBuf::from("/usr/bin")];
        let versions = ["9.6", "15", "16", "13"].map(String::from);
        assert_eq!(
            names(&pg_candidate_dirs(&path, &versions)),
            [
                "/usr/local/bin",
                "/usr/bin",
                "/usr/lib/postgresql/16/bin",
                "/usr/lib/postgresql/15/bin",
                "/usr/lib/postgresql/13/bin",
                "/usr/lib/postgresql/9.6/bin",
            ]
        );
        assert!(pg_candidate_dirs(&[], &[]).is_empty());
    }

    #[test]
    fn a_program_is_found_in_the_first_directory_that_has_it() {
        let dir = std::env::temp_dir().join(format!("xtask-find-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("prog"), "").unwrap();
        assert_eq!(
            find_program(&[a.clone(), b.clone()], "prog"),
            Some(b.join("prog"))
        );
        std::fs::write(a.join("prog"), "").unwrap();
        assert_eq!(find_program(&[a.clone(), b], "prog"), Some(a.join("prog")));
        assert_eq!(find_program(&[a], "other"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn startup_and_query_messages_match_the_protocol() {
        let m = startup_message("postgres", "db");
        // length, protocol 3.0, then NUL-terminated pairs and a final NUL.
        let body = b"\0\x03\0\0user\0postgres\0database\0db\0\0";
        assert_eq!(&m[..4], (body.len() as u32 + 4).to_be_bytes());
        assert_eq!(&m[4..], body);
        assert_eq!(query_message("SELECT 1"), b"Q\0\0\0\x0dSELECT 1\0");
    }

    #[test]
    fn messages_are_read_until_ready_and_errors_reported() {
        let ready = msg(b'Z', b"I");
        let ok = [msg(b'R', &[0; 4]), msg(b'S', b"a\0b\0"), ready.clone()].concat();
        assert_eq!(until_ready(&mut ok.as_slice()), Ok(()));
        let fail = [msg(b'E', b"SFATAL\0VFATAL\0Mno such db\0\0"), ready].concat();
        assert_eq!(
            until_ready(&mut fail.as_slice()),
            Err("FATAL: no such db".into())
        );
        let password = msg(b'R', b"\0\0\0\x05salt");
        assert!(
            until_ready(&mut password.as_slice())
                .unwrap_err()
                .contains("password")
        );
        // An error, then the server closes the connection: the error is reported.
        let closed = msg(b'E', b"SFATAL\0Mstarting up\0\0");
        assert_eq!(
            until_ready(&mut closed.as_slice()),
            Err("FATAL: starting up".into())
        );
        assert!(until_ready(&mut &b""[..]).is_err(), "closed without a word");
        assert!(
            read_message(&mut &b"Z\0\0\0\x02"[..]).is_err(),
            "length below 4"
        );
    }

    #[test]
    fn an_error_response_shows_severity_and_message() {
        assert_eq!(
            error_text(b"SERROR\0VERROR\0C42P04\0Mdatabase exists\0\0"),
            "ERROR: database exists"
        );
        assert_eq!(error_text(b""), ": ");
    }

    #[test]
    fn stale_directories_are_recognised_by_their_pid() {
        if Path::new("/proc/self").exists() {
            assert_eq!(stale_pid("mcp-oauth-pg-1234"), Some(1234));
        }
        assert_eq!(stale_pid("mcp-oauth-pg-x"), None);
        assert_eq!(stale_pid("other-1234"), None);
    }

    #[test]
    fn a_failed_engine_is_an_error_only_when_required() {
        assert_eq!(keep("E", Ok::<_, String>(1), true), Ok(Some(1)));
        assert_eq!(keep::<u8>("E", Err("gone".into()), false), Ok(None));
        assert_eq!(
            keep::<u8>("E", Err("gone".into()), true),
            Err("E: gone".into())
        );
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
        assert_eq!(last_lines("", 5), "");
    }
}
