//! The session store: tower-sessions' SQLx stores, in the same database as everything else, so a
//! session survives a restart — with the records kept in memory, so a request does not read its
//! session from the database.
//!
//! The cache is safe across instances because it is never trusted alone: every request reads its
//! membership from the database anyway (`workspaces::load_session_actor`), and that same query
//! checks that the session still exists in the store's table ([`Sessions::exists_sql`]). A
//! session ended on another instance (log-out, a new id at log-in, expiry deletion) is refused
//! at the next request here, and its cached copy dropped. What the cache may hold stale is data
//! another instance changed in a session it did not end — and after log-in a session's data
//! does not change except for the activity time (a change that matters, such as the current
//! workspace, must give the session a new id).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use galaxy_core::db::Backend;

/// Sessions kept in memory at most (past that the cache starts over).
const CACHED: usize = 10_000;

#[derive(Clone, Debug)]
enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

#[derive(Clone, Debug)]
pub struct Sessions {
    store: Store,
    cache: Arc<Mutex<HashMap<Id, Record>>>,
}

impl Sessions {
    /// Opens the store on `url` and creates its table if needed.
    pub async fn open(url: &str) -> Result<Sessions, sqlx::Error> {
        let backend =
            Backend::from_url(url).map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
        let store = match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(options)
                    .await?;
                let store = SqliteStore::new(pool);
                store.migrate().await?;
                Store::Sqlite(store)
            }
            Backend::Postgres => {
                let pool = PgPoolOptions::new().max_connections(4).connect(url).await?;
                let store = PostgresStore::new(pool);
                store.migrate().await?;
                Store::Postgres(store)
            }
        };
        Ok(Sessions {
            store,
            cache: Arc::default(),
        })
    }

    /// SQL that is true while the session whose id is bound as `$3` exists in this store's
    /// table (tower-sessions-sqlx-store's default tables).
    pub fn exists_sql(&self) -> &'static str {
        match self.store {
            Store::Sqlite(_) => "EXISTS (SELECT 1 FROM tower_sessions WHERE id = $3)",
            Store::Postgres(_) => {
                "EXISTS (SELECT 1 FROM \"tower_sessions\".\"session\" WHERE id = $3)"
            }
        }
    }

    /// Deletes expired sessions every `period`, forever (spawned at start).
    pub async fn delete_expired_every(self, period: Duration) {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            if let Err(e) = self.delete_expired().await {
                tracing::warn!(error = %e, "deleting expired sessions failed");
            }
        }
    }

    fn keep(&self, record: &Record) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHED && !cache.contains_key(&record.id) {
                cache.clear();
            }
            cache.insert(record.id, record.clone());
        }
    }

    fn forget(&self, id: &Id) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(id);
        }
    }

    fn cached(&self, id: &Id) -> Option<Record> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(id)
            .filter(|r| r.expiry_date > time::OffsetDateTime::now_utc())
            .cloned()
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match &self.store {
            Store::Sqlite(s) => s.create(record).await,
            Store::Postgres(s) => s.create(record).await,
        }?;
        self.keep(record);
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match &self.store {
            Store::Sqlite(s) => s.save(record).await,
            Store::Postgres(s) => s.save(record).await,
        }?;
        self.keep(record);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cached(id) {
            return Ok(Some(record));
        }
        let record = match &self.store {
            Store::Sqlite(s) => s.load(id).await,
            Store::Postgres(s) => s.load(id).await,
        }?;
        match &record {
            Some(r) => self.keep(r),
            None => self.forget(id),
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.forget(id);
        match &self.store {
            Store::Sqlite(s) => s.delete(id).await,
            Store::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.store {
            Store::Sqlite(s) => s.delete_expired().await,
            Store::Postgres(s) => s.delete_expired().await,
        }
    }
}
