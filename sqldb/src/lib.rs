//! The SQL plumbing the node and the aggregator share; each keeps its own tables.
//!
//! - [`Database::connect`] turns a URL into a connection pool: `sqlite:PATH` (the file and its
//!   directory are created when missing; WAL journal, a busy timeout) or
//!   `postgres://USER@HOST/DB`. It then runs the program's embedded [`Migration`]s.
//! - Queries go through sqlx's `Any` driver with `$N` placeholders, which both databases read;
//!   schemas keep to BIGINT, TEXT and BYTEA columns with CHECK and UNIQUE constraints.
//! - [`Database::begin_write`] begins a transaction that writes: `BEGIN IMMEDIATE` on SQLite,
//!   so two writers never deadlock upgrading their read locks.
//! - With the `harness` feature, [`harness::PgCluster`] starts a throwaway PostgreSQL cluster
//!   on a free loopback port for tests.

#[cfg(feature = "harness")]
pub mod harness;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrationSource, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, Transaction};

/// One embedded migration: its version (1, 2, …, in order), a description and its SQL.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Which database a [`Database`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a URL names: `sqlite:` or `postgres://` / `postgresql://`.
    pub fn of_url(url: &str) -> Result<Backend, OpenError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(OpenError::UnsupportedUrl(redact_url(url)))
        }
    }
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no database this build speaks.
    #[error(
        "unsupported database URL {0:?}: use sqlite:PATH (or sqlite://PATH) or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),

    /// The database could not be opened or reached.
    #[error("cannot open the {what} {url}: {source}")]
    Connect {
        /// What the database is for ("job database", "state database").
        what: &'static str,
        /// The URL, password removed.
        url: String,
        source: sqlx::Error,
    },

    /// A setting could not be applied.
    #[error("setting up the {what}: {source}")]
    Setup {
        what: &'static str,
        source: sqlx::Error,
    },

    /// The schema could not be brought up to date.
    #[error("migrating the {what}: {source}")]
    Migrate {
        what: &'static str,
        source: sqlx::migrate::MigrateError,
    },
}

/// How long a statement waits for SQLite's write lock before it fails.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Database::connect`] waits for its first connection (a server that refuses
/// connections is taken to be starting up, and is tried again until then), and how long a
/// query waits for a free connection of the pool.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection pool and the kind of database behind it. Cloning is cheap and shares the pool.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Opens the database at `url` and brings its schema up to date with `migrations`. A SQLite
    /// file (and its directory) is created when missing. `what` names the database in errors.
    /// Waits up to [`ACQUIRE_TIMEOUT`] for a server that refuses connections.
    pub async fn connect(
        url: &str,
        what: &'static str,
        migrations: &'static [Migration],
    ) -> Result<Database, OpenError> {
        Database::connect_with_timeout(url, what, migrations, ACQUIRE_TIMEOUT).await
    }

    /// [`Database::connect`] with another acquire timeout: how long to wait for the first
    /// connection, and then for a free connection of the pool.
    pub async fn connect_with_timeout(
        url: &str,
        what: &'static str,
        migrations: &'static [Migration],
        acquire_timeout: Duration,
    ) -> Result<Database, OpenError> {
        let backend = Backend::of_url(url)?;
        sqlx::any::install_default_drivers();
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating(url),
            Backend::Postgres => url.to_string(),
        };
        let options = match backend {
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        let busy =
                            format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
                        conn.execute(busy.as_str()).await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(8),
        };
        let pool = options
            .acquire_timeout(acquire_timeout)
            .connect(&url)
            .await
            .map_err(|source| OpenError::Connect {
                what,
                url: redact_url(&url),
                source,
            })?;
        if backend == Backend::Sqlite {
            // Readers never wait for the writer. The mode is kept in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await
                .map_err(|source| OpenError::Setup { what, source })?;
        }
        let migrator = Migrator::new(Embedded(migrations))
            .await
            .map_err(|source| OpenError::Migrate { what, source })?;
        migrator
            .run(&pool)
            .await
            .map_err(|source| OpenError::Migrate { what, source })?;
        Ok(Database { pool, backend })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write: `BEGIN IMMEDIATE` on SQLite (it takes the write
    /// lock at once, so two writers queue instead of failing to upgrade), a plain one on
    /// PostgreSQL.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await
    }
}

/// The `sqlite:` URL of a database file.
pub fn sqlite_url(path: &std::path::Path) -> String {
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url
}

/// The URL with its password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let auth_start = scheme_end + 3;
    let auth_end = url[auth_start..]
        .find('/')
        .map_or(url.len(), |i| auth_start + i);
    let Some(at) = url[auth_start..auth_end].rfind('@') else {
        return url.to_string();
    };
    let userinfo = &url[auth_start..auth_start + at];
    match userinfo.split_once(':') {
        Some((user, _)) => format!(
            "{}{user}:***{}",
            &url[..auth_start],
            &url[auth_start + at..]
        ),
        None => url.to_string(),
    }
}

/// A time as stored: Unix milliseconds, saturating (times before 1970 store as 0).
pub fn to_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A stored time back; negative values read as the epoch.
pub fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A `sqlite:` URL that creates the file, and its directory, when missing.
fn sqlite_url_creating(url: &str) -> String {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, params) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path == ":memory:" {
        return url.to_string();
    }
    if !path.contains('%') {
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                // A failure shows when SQLite opens the file.
                let _ = std::fs::create_dir_all(dir);
            }
        }
    }
    match params {
        Some(q) if q.split('&').any(|kv| kv.starts_with("mode=")) => url.to_string(),
        Some(_) => format!("{url}&mode=rwc"),
        None => format!("{url}?mode=rwc"),
    }
}

/// A program's migrations, as sqlx's migrator reads them.
#[derive(Debug)]
struct Embedded(&'static [Migration]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<sqlx::migrate::Migration>, BoxDynError>> + Send + 's>>
    {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|m| {
                    sqlx::migrate::Migration::new(
                        m.version,
                        Cow::Borrowed(m.description),
                        MigrationType::Simple,
                        Cow::Borrowed(m.sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(Backend::of_url("sqlite:x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of_url("postgresql://u@h/d").unwrap(),
            Backend::Postgres
        );
        assert!(matches!(
            Backend::of_url("mysql://u:secret@h/d"),
            Err(OpenError::UnsupportedUrl(u)) if !u.contains("secret")
        ));
        assert_eq!(
            redact_url("postgres://me:pw@host:5432/db"),
            "postgres://me:***@host:5432/db"
        );
        assert_eq!(redact_url("postgres://me@host/db"), "postgres://me@host/db");
        assert_eq!(sqlite_url_creating("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(sqlite_url_creating("sqlite:x.db"), "sqlite:x.db?mode=rwc");
        assert_eq!(
            sqlite_url_creating("sqlite:a.db?mode=ro"),
            "sqlite:a.db?mode=ro"
        );
        assert_eq!(
            sqlite_url_creating("sqlite:a.db?cache=shared"),
            "sqlite:a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url(std::path::Path::new("/d/a?b#c%.db")),
            "sqlite:///d/a%3Fb%23c%25.db"
        );
    }

    #[test]
    fn millis_round_trip_and_saturate() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(from_millis(to_millis(t)), t);
        assert_eq!(to_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(from_millis(-5), UNIX_EPOCH);
    }

    static MIGRATIONS: &[Migration] = &[
        Migration {
            version: 1,
            description: "one table",
            sql: "CREATE TABLE t (k BIGINT PRIMARY KEY, v TEXT NOT NULL);",
        },
        Migration {
            version: 2,
            description: "a column",
            sql: "ALTER TABLE t ADD COLUMN w BIGINT;",
        },
    ];

    #[tokio::test]
    async fn migrations_run_once_and_a_second_open_keeps_the_data() {
        let dir = std::env::temp_dir().join(format!("zknode-sqldb-{}", std::process::id()));
        let url = sqlite_url(&dir.join("sub").join("a.db"));
        let db = Database::connect(&url, "test database", MIGRATIONS)
            .await
            .unwrap();
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("INSERT INTO t (k, v, w) VALUES ($1, $2, $3)")
            .bind(1i64)
            .bind("x")
            .bind(2i64)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        db.close().await;
        let db = Database::connect(&url, "test database", MIGRATIONS)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 1);
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_clear_error_without_the_password() {
        // A refused connection is retried until the acquire timeout (the server may be starting
        // up); a short one keeps the test fast.
        let start = std::time::Instant::now();
        let err = Database::connect_with_timeout(
            "postgres://u:hunter2@127.0.0.1:1/db",
            "test database",
            MIGRATIONS,
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        let text = err.to_string();
        assert!(text.starts_with("cannot open the test database"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
