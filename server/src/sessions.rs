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
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use galaxy_core::db::Backend;

/// Sessions kept in memory at most (past that the cache starts over).
const CACHED: usize = 10_000;

#[derive(Clone, Debug)]
enum Store {
    Sqlite(SqliteStore, SqlitePool),
    Postgres(PostgresStore, PgPool),
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
                let store = SqliteStore::new(pool.clone());
                store.migrate().await?;
                Store::Sqlite(store, pool)
            }
            Backend::Postgres => {
                let pool = PgPoolOptions::new().max_connections(4).connect(url).await?;
                let store = PostgresStore::new(pool.clone());
                store.migrate().await?;
                Store::Postgres(store, pool)
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
            Store::Sqlite(..) => "EXISTS (SELECT 1 FROM tower_sessions WHERE id = $3)",
            Store::Postgres(..) => {
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
            Store::Sqlite(s, _) => s.create(record).await,
            Store::Postgres(s, _) => s.create(record).await,
        }?;
        self.keep(record);
        Ok(())
    }

    /// Updates a session that exists; never re-creates one that was ended meanwhile (the
    /// store's own `save` is an upsert: a request that read its session just before another
    /// instance logged it out would otherwise bring it back). A session that is not new always
    /// exists when saved unless it was ended — tower-sessions `create`s the rest.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data =
            rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let id = record.id.to_string();
        let updated = match &self.store {
            Store::Sqlite(_, pool) => {
                sqlx::query("UPDATE tower_sessions SET data = ?, expiry_date = ? WHERE id = ?")
                    .bind(data)
                    .bind(record.expiry_date)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            }
            Store::Postgres(_, pool) => sqlx::query(
                "UPDATE \"tower_sessions\".\"session\" SET data = $1, expiry_date = $2 \
                     WHERE id = $3",
            )
            .bind(data)
            .bind(record.expiry_date)
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
        }
        .map_err(|e| session_store::Error::Backend(e.to_string()))?;
        if updated == 0 {
            self.forget(&record.id);
        } else {
            self.keep(record);
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cached(id) {
            return Ok(Some(record));
        }
        let record = match &self.store {
            Store::Sqlite(s, _) => s.load(id).await,
            Store::Postgres(s, _) => s.load(id).await,
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
            Store::Sqlite(s, _) => s.delete(id).await,
            Store::Postgres(s, _) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.store {
            Store::Sqlite(s, _) => s.delete_expired().await,
            Store::Postgres(s, _) => s.delete_expired().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galaxy_core::db::testing::{TempDir, fresh_postgres_url};

    fn record() -> Record {
        Record {
            id: Id::default(),
            data: HashMap::from([("user".to_owned(), serde_json::json!("u1"))]),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        }
    }

    /// Two instances on one database: a session one of them ends is not brought back by the
    /// other's save of the copy it holds, and neither serves it from memory afterwards.
    async fn a_save_never_brings_back_an_ended_session(url: &str) {
        let one = Sessions::open(url).await.unwrap();
        let two = Sessions::open(url).await.unwrap();
        let mut r = record();
        one.create(&mut r).await.unwrap();
        assert_eq!(two.load(&r.id).await.unwrap(), Some(r.clone()));
        // A save of a live session updates it.
        let mut changed = r.clone();
        changed
            .data
            .insert("seen".to_owned(), serde_json::json!(true));
        two.save(&changed).await.unwrap();
        let fresh = Sessions::open(url).await.unwrap();
        assert_eq!(fresh.load(&r.id).await.unwrap(), Some(changed.clone()));
        // Ended on one; the other's late save changes nothing.
        one.delete(&r.id).await.unwrap();
        two.save(&changed).await.unwrap();
        // (`fresh` still holds it in memory: what makes that safe is the membership query,
        // which checks the table — see the module doc. The table is what must not have it.)
        let after = Sessions::open(url).await.unwrap();
        assert_eq!(after.load(&r.id).await.unwrap(), None);
        assert_eq!(two.load(&r.id).await.unwrap(), None, "dropped from memory");
        assert_eq!(one.load(&r.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_save_never_brings_back_an_ended_session_on_sqlite() {
        let dir = TempDir::new().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        a_save_never_brings_back_an_ended_session(&url).await;
    }

    #[tokio::test]
    async fn a_save_never_brings_back_an_ended_session_on_postgres() {
        let url = fresh_postgres_url().await.unwrap();
        a_save_never_brings_back_an_ended_session(&url).await;
    }
}
