//! Storage: one store API over SQLite (the embedded default) and PostgreSQL.
//!
//! The choice: one `sqlx::AnyPool` and portable SQL written once (`$1` placeholders, which both
//! backends accept; `TEXT` ids; integer millisecond timestamps; `BIGINT` for every integer column so
//! both decode to `i64`; `ON CONFLICT`/`RETURNING`, which both support). The same migrations run on
//! both, and the same tests run on both. Queries are built at run time, so no database is needed at
//! compile time.
//!
//! SQLite is opened with WAL, `synchronous = NORMAL`, foreign keys on and a busy timeout on every
//! pooled connection (sqlx sets none of these for the Any driver), and [`Db::check_settings`]
//! verifies them at start. WAL with NORMAL survives an application crash; a power loss can lose the
//! last commits, never corrupt the file. Checkpoints run in the background, off the commit path.
//! Statements written together go through [`Writes`]: one round trip on SQLite (the statements,
//! with their values bound as `?` positional parameters, joined into one `BEGIN … COMMIT` text),
//! one transaction on PostgreSQL.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::error::CoreError;

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The pool and its backend. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// Migrations shared by both backends (the SQL in `migrations/` is portable).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// `wal_autocheckpoint` is only a backstop (10,000 pages, ~40 MB) for a checkpointer that could
/// not keep up: checkpoints run in the background (see [`checkpoint_forever`]).
/// `journal_size_limit` truncates the WAL file back to 64 MB once a checkpoint has reset it.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 10000; \
     PRAGMA journal_size_limit = 67108864;";

/// How often the background checkpointer folds the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite: or postgres:// (got scheme {0:?})")]
    UnsupportedUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("the database is not configured as required: {0}")]
    Settings(String),
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, DbError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(DbError::UnsupportedUrl(other.to_owned())),
        }
    }
}

impl Db {
    /// Opens a pool on `url` (`sqlite://path?mode=rwc` or `postgres://…`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = AnyPoolOptions::new()
            // SQLite runs each connection on a thread of its own and has one writer: a few
            // connections serve the reads (runs' writes go through one recorder); more only add
            // threads to switch between.
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(url).await.map_err(DbError::Connect)?;
        if backend == Backend::Sqlite {
            tokio::spawn(checkpoint_forever(pool.clone()));
        }
        Ok(Db { pool, backend })
    }

    /// Opens, migrates and checks: what the server does at start.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        db.check_settings().await?;
        Ok(db)
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        MIGRATOR.run(&self.pool).await.map_err(DbError::Migrate)
    }

    /// Verifies the SQLite settings took effect (no-op on PostgreSQL).
    pub async fn check_settings(&self) -> Result<(), DbError> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await.map_err(DbError::Connect)?;
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .map_err(DbError::Connect)?;
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .map_err(DbError::Connect)?;
        let (busy,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .map_err(DbError::Connect)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::Settings(format!(
                "journal_mode is {mode}, expected wal"
            )));
        }
        if fk != 1 {
            return Err(DbError::Settings("foreign_keys is off".into()));
        }
        if busy < 1000 {
            return Err(DbError::Settings(format!("busy_timeout is {busy} ms")));
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `SELECT 1`: for readiness checks.
    pub async fn ping(&self) -> Result<(), CoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool: new acquisitions fail at once; waits up to 5 s for connections in use to
    /// come back (sqlx's `close` can otherwise wait for ever on a connection that is never
    /// returned, which would hang a shutdown).
    pub async fn close(&self) {
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("database pool did not close within 5 s");
        }
    }
}

/// SQLite's WAL is folded back into the database file here, every [`CHECKPOINT_EVERY`], instead of
/// by whichever commit crosses SQLite's 1,000-page threshold: that commit would otherwise wait for
/// the copy and its fsync (milliseconds to a hundred here), and with it every run batched behind
/// it. A passive checkpoint never blocks readers or writers; it ends when the pool closes.
async fn checkpoint_forever(pool: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let done: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        match done {
            // Frames still in the WAL (`log - checkpointed`) wait for a reader to move on; the
            // next tick takes them.
            Ok((busy, log, checkpointed)) => {
                tracing::trace!(busy, log, checkpointed, "WAL checkpoint");
            }
            Err(_) if pool.is_closed() => return,
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

/// The database's clock, in Unix milliseconds, as SQL for `backend` (leases and expiries are
/// timed on it, so servers whose clocks differ agree).
pub fn db_now(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS BIGINT)",
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

/// A value bound to a statement of [`Writes`].
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_owned()))
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::Text(v)
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::Int(v)
    }
}

/// One statement of [`Writes`]: text with placeholders written by [`Statement::bind`].
pub struct Statement {
    sql: String,
    args: Vec<Arg>,
    backend: Backend,
}

impl Statement {
    /// Appends SQL text (never a value: values go through [`Statement::bind`]).
    pub fn sql(&mut self, text: &str) -> &mut Statement {
        self.sql.push_str(text);
        self
    }

    /// Appends a placeholder for `arg`: `$n` on PostgreSQL, `?` on SQLite (positional across the
    /// joined statements, and cheaper for SQLite to bind than a named `$n`).
    pub fn bind(&mut self, arg: impl Into<Arg>) -> &mut Statement {
        self.args.push(arg.into());
        match self.backend {
            Backend::Sqlite => self.sql.push('?'),
            Backend::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.args.len().to_string());
            }
        }
        self
    }
}

/// Statements committed together, as few round trips as the backend allows: on SQLite one text
/// (`BEGIN; …; COMMIT`) and so one trip to its worker thread — a write of a run and its attempts
/// costs one hop instead of four —, on PostgreSQL one transaction. A single statement commits on
/// its own.
pub struct Writes {
    backend: Backend,
    statements: Vec<Statement>,
    args: usize,
}

impl Writes {
    pub fn new(backend: Backend) -> Writes {
        Writes {
            backend,
            statements: Vec::new(),
            args: 0,
        }
    }

    /// Values bound so far.
    pub fn args(&self) -> usize {
        self.args
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Adds a statement built by `build`.
    pub fn add(&mut self, build: impl FnOnce(&mut Statement)) {
        let mut st = Statement {
            sql: String::new(),
            args: Vec::new(),
            backend: self.backend,
        };
        build(&mut st);
        self.args += st.args.len();
        self.statements.push(st);
    }

    fn bound<'q>(
        sql: &'q str,
        args: Vec<Arg>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let mut q = sqlx::query(sql);
        for a in args {
            q = match a {
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
            };
        }
        q
    }

    /// Commits every statement, or none.
    pub async fn commit(self, db: &Db) -> Result<(), sqlx::Error> {
        let Writes {
            backend,
            mut statements,
            ..
        } = self;
        match (backend, statements.len()) {
            (_, 0) => Ok(()),
            (_, 1) => {
                let st = statements.remove(0);
                Writes::bound(&st.sql, st.args).execute(db.pool()).await?;
                Ok(())
            }
            (Backend::Sqlite, _) => {
                let mut text = String::from("BEGIN; ");
                let mut args = Vec::new();
                for st in statements {
                    debug_assert!(
                        st.args.len() <= SQLITE_MAX_ARGS,
                        "one statement binds too much"
                    );
                    text.push_str(&st.sql);
                    text.push_str("; ");
                    args.extend(st.args);
                }
                text.push_str("COMMIT");
                // Until the text has run to its COMMIT (or been rolled back), the connection may
                // hold an open transaction: if this future is dropped part-way, or the ROLLBACK
                // fails, the connection is closed instead of going back to the pool, so no later
                // caller ever writes inside a transaction it did not begin.
                let mut conn = CloseUnlessSettled {
                    conn: db.pool().acquire().await?,
                    settled: false,
                };
                let done = Writes::bound(&text, args).execute(&mut *conn.conn).await;
                match done {
                    Ok(_) => {
                        conn.settled = true;
                        Ok(())
                    }
                    Err(e) => {
                        // A statement failed part-way: the transaction is still open on this
                        // connection; end it before the connection goes back to the pool.
                        conn.settled = sqlx::query("ROLLBACK")
                            .execute(&mut *conn.conn)
                            .await
                            .is_ok();
                        Err(e)
                    }
                }
            }
            (Backend::Postgres, _) => {
                let mut tx = db.pool().begin().await?;
                for st in statements {
                    Writes::bound(&st.sql, st.args).execute(&mut *tx).await?;
                }
                tx.commit().await
            }
        }
    }
}

/// Most values SQLite binds in one statement.
const SQLITE_MAX_ARGS: usize = 32_766;

/// A pooled connection that is closed, not returned to the pool, unless it was marked settled.
struct CloseUnlessSettled {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    settled: bool,
}

impl Drop for CloseUnlessSettled {
    fn drop(&mut self) {
        if !self.settled {
            self.conn.close_on_drop();
        }
    }
}

/// True when `e` says the database could not take the statement now, whatever it was: SQLite busy
/// or locked past its timeout, PostgreSQL connection loss, serialization failure, deadlock, lack of
/// resources or shutdown. Anything else the database answers is about the statement itself.
pub fn is_transient(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    let code = db.code();
    let code = code.as_deref().unwrap_or_default();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLite reports extended result codes; the primary code is the low byte.
        return code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
    }
    // A PostgreSQL SQLSTATE (five characters, often all digits): its class is the first two.
    ["08", "40", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
}

/// True when `e` is a unique-constraint violation (both backends).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

/// A new time-ordered id (UUIDv7), as stored.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Fresh, migrated databases for tests: one SQLite file in a temporary directory, or one new
/// PostgreSQL database per call on the server named by `GALAXY_TEST_PG_URL` (default
/// `postgres://postgres@127.0.0.1:5432/postgres`). A test that asks for PostgreSQL fails when the
/// server does not answer: the suite never skips a backend silently.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// The admin URL of the PostgreSQL server tests use.
    pub fn pg_admin_url() -> String {
        std::env::var("GALAXY_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    /// A temporary directory that lives as long as the returned guard.
    pub struct TempDir(std::path::PathBuf);

    impl TempDir {
        pub fn new() -> std::io::Result<TempDir> {
            let dir = std::env::temp_dir().join(format!("galaxy-test-{}", new_id()));
            std::fs::create_dir_all(&dir)?;
            Ok(TempDir(dir))
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A fresh, migrated SQLite database; keep the `TempDir` alive as long as the `Db`.
    pub async fn fresh_sqlite() -> Result<(Db, TempDir), DbError> {
        let dir = TempDir::new().map_err(|e| DbError::Settings(e.to_string()))?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("galaxy.db").display()
        );
        let db = Db::open(&url).await?;
        Ok((db, dir))
    }

    /// The URL of a new, empty PostgreSQL database (named `galaxy_t_<uuid>`).
    pub async fn fresh_postgres_url() -> Result<String, DbError> {
        let admin_url = pg_admin_url();
        let admin = Db::connect(&admin_url).await?;
        let name = format!("galaxy_t_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.pool())
            .await
            .map_err(DbError::Connect)?;
        admin.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(admin_url.as_str());
        Ok(format!("{base}/{name}"))
    }

    /// A fresh, migrated PostgreSQL database.
    pub async fn fresh_postgres() -> Result<Db, DbError> {
        Db::open(&fresh_postgres_url().await?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::list_agents;
    use crate::runs::RunsConfig;
    use crate::testing::{World, draft};

    #[tokio::test]
    async fn sqlite_is_configured_and_durable_across_reopen() {
        let dir = testing::TempDir::new().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
        let db = Db::open(&url).await.unwrap();
        let w = World::on(db.clone(), None, RunsConfig::default()).await;
        let actor = w.workspace("a@example.com").await;
        w.agent(&actor, &draft("Kept", "openai", "")).await;
        // Every pooled connection has the settings, not just the first.
        let mut conns = Vec::new();
        for _ in 0..3 {
            conns.push(db.pool().acquire().await.unwrap());
        }
        for conn in &mut conns {
            let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!((fk, sync), (1, 1), "foreign keys on, synchronous NORMAL");
        }
        drop(conns);
        db.check_settings().await.unwrap();
        db.close().await;
        // Reopen (migrations are idempotent) and find the data.
        let db = Db::open(&url).await.unwrap();
        assert_eq!(list_agents(&db, &actor).await.unwrap()[0].name, "Kept");
        db.close().await;
    }

    /// Statements committed together land together or not at all, on both backends.
    async fn writes_commit_all_or_nothing(db: Db) {
        sqlx::query("CREATE TABLE w (id TEXT PRIMARY KEY, n BIGINT)")
            .execute(db.pool())
            .await
            .unwrap();
        let mut w = Writes::new(db.backend());
        w.add(|s| {
            s.sql("INSERT INTO w (id, n) VALUES (")
                .bind("a")
                .sql(", ")
                .bind(1)
                .sql(")");
        });
        w.add(|s| {
            s.sql("INSERT INTO w (id, n) VALUES (")
                .bind("b")
                .sql(", ")
                .bind(None::<i64>)
                .sql(")");
        });
        assert_eq!(w.args(), 4);
        w.commit(&db).await.unwrap();
        let mut w = Writes::new(db.backend());
        w.add(|s| {
            s.sql("INSERT INTO w (id, n) VALUES (")
                .bind("c")
                .sql(", ")
                .bind(3)
                .sql(")");
        });
        // A duplicate id: the whole commit is refused, `c` included.
        w.add(|s| {
            s.sql("INSERT INTO w (id, n) VALUES (")
                .bind("a")
                .sql(", ")
                .bind(4)
                .sql(")");
        });
        assert!(w.commit(&db).await.is_err());
        let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM w ORDER BY id")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(ids, [("a".to_owned(),), ("b".to_owned(),)]);
        // The connection came back clean: the next commit works.
        let mut w = Writes::new(db.backend());
        w.add(|s| {
            s.sql("INSERT INTO w (id, n) VALUES (")
                .bind("d")
                .sql(", ")
                .bind(5)
                .sql(")");
        });
        w.add(|s| {
            s.sql("UPDATE w SET n = ")
                .bind(6)
                .sql(" WHERE id = ")
                .bind("d");
        });
        w.commit(&db).await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT n FROM w WHERE id = 'd'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 6);
    }

    #[tokio::test]
    async fn writes_are_atomic_on_sqlite() {
        let (db, _dir) = testing::fresh_sqlite().await.unwrap();
        writes_commit_all_or_nothing(db).await;
    }

    #[tokio::test]
    async fn writes_are_atomic_on_postgres() {
        let db = testing::fresh_postgres().await.unwrap();
        writes_commit_all_or_nothing(db.clone()).await;
        db.close().await;
    }

    /// Busy and lost-connection errors are transient; an error about the statement is not.
    #[tokio::test]
    async fn transient_errors_are_told_from_refusals_on_sqlite() {
        use sqlx::Connection;
        let dir = testing::TempDir::new().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::open(&url).await.unwrap();
        let mut holder = sqlx::AnyConnection::connect(&url).await.unwrap();
        let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
        other.execute("PRAGMA busy_timeout = 0").await.unwrap();
        holder.execute("BEGIN IMMEDIATE").await.unwrap();
        let busy = other.execute("BEGIN IMMEDIATE").await.unwrap_err();
        assert!(is_transient(&busy), "{busy:?}");
        holder.execute("ROLLBACK").await.unwrap();
        let duplicate = refused_duplicate(&db).await;
        assert!(!is_transient(&duplicate), "{duplicate:?}");
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        db.close().await;
    }

    #[tokio::test]
    async fn transient_errors_are_told_from_refusals_on_postgres() {
        use sqlx::Connection;
        let db = testing::fresh_postgres().await.unwrap();
        // A connection of its own, out of the pool: with a 1 ms timeout any later statement on it
        // (resetting the timeout too, on a busy machine) could be cancelled, so it is closed
        // instead of reset and returned.
        let mut conn = db.pool().acquire().await.unwrap().detach();
        conn.execute("SET statement_timeout = 1").await.unwrap();
        let cancelled = conn.execute("SELECT pg_sleep(1)").await.unwrap_err();
        assert!(is_transient(&cancelled), "{cancelled:?}");
        conn.close().await.unwrap();
        let duplicate = refused_duplicate(&db).await;
        assert!(!is_transient(&duplicate), "{duplicate:?}");
        db.close().await;
    }

    async fn refused_duplicate(db: &Db) -> sqlx::Error {
        db.pool()
            .execute("CREATE TABLE d (id TEXT PRIMARY KEY)")
            .await
            .unwrap();
        db.pool()
            .execute("INSERT INTO d (id) VALUES ('a')")
            .await
            .unwrap();
        let e = db
            .pool()
            .execute("INSERT INTO d (id) VALUES ('a')")
            .await
            .unwrap_err();
        assert!(is_unique_violation(&e));
        e
    }

    #[tokio::test]
    async fn unsupported_urls_are_refused_by_name() {
        let err = Db::connect("mysql://localhost/x").await.unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }
}
