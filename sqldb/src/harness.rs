//! A throwaway PostgreSQL cluster for tests (feature `harness`): `initdb` in a temporary directory, `pg_ctl start`
//! on a free loopback port with its unix socket in that directory, stopped and deleted on drop.
//!
//! The binaries are found through `ZKNODE_PG_BIN` (a directory), `pg_config --bindir`, `PATH`,
//! or `/usr/lib/postgresql/*/bin` (newest first). When none is found, [`PgCluster::start`]
//! returns `None` and the caller skips with the printed reason, unless
//! `ZKNODE_REQUIRE_POSTGRES=1`, which makes that a failure. PostgreSQL refuses to run as root:
//! under root the cluster runs as the `postgres` user (or `nobody`), which owns the directory.

use std::net::TcpListener;
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A running PostgreSQL cluster; stopped and deleted on drop.
pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    user: Option<(u32, u32)>,
    port: u16,
}

impl PgCluster {
    /// Starts a fresh cluster. `None` (with the reason printed) when PostgreSQL is not
    /// installed; any other failure panics with the server's log.
    pub fn start() -> Option<PgCluster> {
        let Some(bin) = find_bin_dir() else {
            let reason = "PostgreSQL is not installed (no initdb on PATH, in `pg_config \
                          --bindir` or under /usr/lib/postgresql/*/bin; ci/install-deps.sh \
                          installs it)";
            if std::env::var("ZKNODE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("ZKNODE_REQUIRE_POSTGRES=1 but {reason}");
            }
            eprintln!("skipping the PostgreSQL half of this test: {reason}");
            return None;
        };
        let user = if is_root() {
            Some(unprivileged_user())
        } else {
            None
        };
        // Under root the cluster's user must reach the directory: /tmp is open to everyone,
        // a TMPDIR under /root may not be.
        let dir = if user.is_some() {
            tempfile::Builder::new()
                .prefix("zknode-pg-")
                .tempdir_in("/tmp")
        } else {
            tempfile::Builder::new().prefix("zknode-pg-").tempdir()
        }
        .expect("temporary directory for PostgreSQL");
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir(&sock).expect("socket directory");
        if let Some((uid, gid)) = user {
            for p in [dir.path(), sock.as_path()] {
                chown(p, Some(uid), Some(gid)).expect("chown the PostgreSQL directory");
            }
        }
        let mut cluster = PgCluster {
            bin,
            dir,
            user,
            port: 0,
        };
        let out = cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "zknode".as_ref(),
                "--auth=trust".as_ref(),
                "--no-sync".as_ref(),
                "--locale=C".as_ref(),
                "--encoding=UTF8".as_ref(),
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Settings go in the config file, so that no path needs quoting on a command line.
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n\
             synchronous_commit = off\nfull_page_writes = off\nmax_connections = 60\n",
            sock.display()
        );
        append(&data.join("postgresql.conf"), &conf);
        // A free port can be taken between our probe and the server's bind: try a few.
        let log = cluster.dir.path().join("server.log");
        for attempt in 0..5 {
            let port = free_port();
            append(&data.join("postgresql.conf"), &format!("port = {port}\n"));
            let out = cluster.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "start".as_ref(),
                ],
            );
            if out.status.success() {
                cluster.port = port;
                return Some(cluster);
            }
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            if attempt == 4 || !server_log.contains("could not bind") {
                panic!(
                    "pg_ctl start failed:\n{}{}\nserver log:\n{server_log}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// The URL of the `postgres` database over TCP.
    pub fn url(&self) -> String {
        format!("postgres://zknode@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the data, the socket and the server log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs a PostgreSQL binary as the cluster's user.
    fn run(&self, name: &str, args: &[&std::ffi::OsStr]) -> Output {
        let mut cmd = Command::new(self.bin.join(name));
        cmd.args(args)
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.join(name).display()))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.dir.path().join("data");
            let out = self.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-m".as_ref(),
                    "immediate".as_ref(),
                    "-w".as_ref(),
                    "stop".as_ref(),
                ],
            );
            if !out.status.success() {
                eprintln!(
                    "pg_ctl stop failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes()).expect("write postgresql.conf");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The directory with `initdb` and `pg_ctl`.
fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(d) = std::env::var_os("ZKNODE_PG_BIN") {
        let d = PathBuf::from(d);
        return has_tools(&d).then_some(d);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if has_tools(&d) {
                return Some(d);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_tools(&d) {
                // Debian links initdb into PATH; pg_ctl beside the link may be a wrapper, so
                // prefer the real directory of initdb.
                let real = std::fs::canonicalize(d.join("initdb"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf));
                return Some(real.filter(|r| has_tools(r)).unwrap_or(d));
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has_tools(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// Whether this process runs as root (effective uid 0).
fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            // Uid: real effective saved filesystem
            return line.split_whitespace().nth(2) == Some("0");
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The uid and gid to run PostgreSQL as under root: `postgres`, else `nobody`.
fn unprivileged_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let find = |name: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == name)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
    };
    find("postgres")
        .or_else(|| find("nobody"))
        .unwrap_or((65534, 65534))
}

/// Where a test database lives: a SQLite file in a temporary directory, or a fresh PostgreSQL
/// cluster; both are deleted when this is dropped.
pub struct TestLocation {
    /// The URL to connect to.
    pub url: String,
    _guard: LocationGuard,
}

enum LocationGuard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] PgCluster),
}

impl TestLocation {
    /// A SQLite database at `path` (relative, its directories not created yet) inside a new
    /// temporary directory.
    pub fn sqlite(path: &str) -> TestLocation {
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestLocation {
            url: crate::sqlite_url(&dir.path().join(path)),
            _guard: LocationGuard::Sqlite(dir),
        }
    }

    /// The `postgres` database of a fresh cluster; `None` (with the reason printed) when
    /// PostgreSQL is not installed, as [`PgCluster::start`].
    pub async fn postgres() -> Option<TestLocation> {
        let cluster = tokio::task::spawn_blocking(PgCluster::start)
            .await
            .expect("the cluster start task")?;
        Some(TestLocation {
            url: cluster.url(),
            _guard: LocationGuard::Postgres(cluster),
        })
    }
}

/// Declares each named scenario twice, as `sqlite::NAME` and `postgres::NAME` tokio tests. The
/// invoking file defines `TestDb` with `async fn sqlite() -> TestDb`, `async fn postgres() ->
/// Option<TestDb>` (`None` skips) and a `db` field with `async fn close(&self)`, and each
/// scenario as `async fn NAME(t: &TestDb)`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = super::TestDb::sqlite().await;
                    super::$name(&t).await;
                    t.db.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(t) = super::TestDb::postgres().await else { return };
                    super::$name(&t).await;
                    t.db.close().await;
                }
            )*
        }
    };
}
