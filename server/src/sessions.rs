//! The session store: tower-sessions' `SessionStore` over `galaxy_core::sessions` — the
//! `sessions` table in the same database as everything else, each row under the SHA-256 of its
//! id and with its user (so "sign out everywhere" and a password change can end them) — with the
//! records kept in memory, so a request does not read its session from the database.
//!
//! The cache is safe across instances because it is never trusted alone: every request reads its
//! membership from the database anyway (`workspaces::load_session_actor`), and that same query
//! checks that the session still exists in the table. A session ended on another instance
//! (log-out, a new id at log-in, sign out everywhere, expiry deletion) is refused at the next
//! request here, and its cached copy dropped. What the cache may hold stale is data another
//! instance changed in a session it did not end — and after log-in a session's data does not
//! change except for activity and confirmation times (a change that matters, such as the current
//! workspace, must give the session a new id).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use galaxy_core::db::Db;
use galaxy_core::sessions::{self, StoredSession};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

/// Sessions kept in memory at most (past that the cache starts over).
const CACHED: usize = 10_000;
/// The session field that names its user (see the app's `session` module).
const USER_FIELD: &str = "uid";

#[derive(Clone, Debug)]
pub struct Sessions {
    db: Db,
    cache: Arc<Mutex<HashMap<Id, Record>>>,
}

fn backend(e: galaxy_core::CoreError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// A record as stored: its data as JSON, its expiry in ms, its user.
fn stored(record: &Record) -> session_store::Result<(StoredSession, Option<String>)> {
    let data = serde_json::to_string(&record.data)
        .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let expires_at = i64::try_from(record.expiry_date.unix_timestamp_nanos() / 1_000_000)
        .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let user = record
        .data
        .get(USER_FIELD)
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Ok((StoredSession { data, expires_at }, user))
}

fn record(id: Id, session: StoredSession) -> session_store::Result<Record> {
    let data = serde_json::from_str(&session.data)
        .map_err(|e| session_store::Error::Decode(e.to_string()))?;
    let expiry_date =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(session.expires_at) * 1_000_000)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
    Ok(Record {
        id,
        data,
        expiry_date,
    })
}

impl Sessions {
    /// The store on Galaxy's database (its table comes with the migrations).
    pub fn new(db: Db) -> Sessions {
        Sessions {
            db,
            cache: Arc::default(),
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

fn key(id: &Id) -> String {
    sessions::key(&id.to_string())
}

#[async_trait]
impl SessionStore for Sessions {
    /// Stores a new session, under a fresh id if its id is taken.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let (session, user) = stored(record)?;
        while !sessions::insert(&self.db, &key(&record.id), user.as_deref(), &session)
            .await
            .map_err(backend)?
        {
            record.id = Id::default();
        }
        self.keep(record);
        Ok(())
    }

    /// Updates a session that exists; never re-creates one that was ended meanwhile (a request
    /// that read its session just before another instance logged it out would otherwise bring
    /// it back). A session that is not new always exists when saved unless it was ended —
    /// tower-sessions `create`s the rest.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (session, user) = stored(record)?;
        if sessions::update(&self.db, &key(&record.id), user.as_deref(), &session)
            .await
            .map_err(backend)?
        {
            self.keep(record);
        } else {
            self.forget(&record.id);
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cached(id) {
            return Ok(Some(record));
        }
        match sessions::load(&self.db, &key(id)).await.map_err(backend)? {
            Some(session) => {
                let record = record(*id, session)?;
                self.keep(&record);
                Ok(Some(record))
            }
            None => {
                self.forget(id);
                Ok(None)
            }
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.forget(id);
        sessions::delete(&self.db, &key(id)).await.map_err(backend)
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sessions::delete_expired(&self.db)
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galaxy_core::db::testing::{fresh_postgres, fresh_sqlite};

    fn record() -> Record {
        Record {
            id: Id::default(),
            data: HashMap::from([("other".to_owned(), serde_json::json!("x"))]),
            // Whole milliseconds: what the table keeps.
            expiry_date: (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
                .replace_nanosecond(0)
                .unwrap(),
        }
    }

    /// Two instances on one database: a session one of them ends is not brought back by the
    /// other's save of the copy it holds, and neither serves it from memory afterwards; the
    /// table holds a hash of the id, never the id.
    async fn a_save_never_brings_back_an_ended_session(db: Db) {
        let one = Sessions::new(db.clone());
        let two = Sessions::new(db.clone());
        let mut r = record();
        one.create(&mut r).await.unwrap();
        assert_eq!(two.load(&r.id).await.unwrap(), Some(r.clone()));
        let (stored_id,): (String,) = sqlx::query_as("SELECT id FROM sessions")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_ne!(stored_id, r.id.to_string());
        assert_eq!(stored_id, sessions::key(&r.id.to_string()));
        // A save of a live session updates it.
        let mut changed = r.clone();
        changed
            .data
            .insert("seen".to_owned(), serde_json::json!(true));
        two.save(&changed).await.unwrap();
        let fresh = Sessions::new(db.clone());
        assert_eq!(fresh.load(&r.id).await.unwrap(), Some(changed.clone()));
        // Ended on one; the other's late save changes nothing.
        one.delete(&r.id).await.unwrap();
        two.save(&changed).await.unwrap();
        // (`fresh` still holds it in memory: what makes that safe is the membership query,
        // which checks the table — see the module doc. The table is what must not have it.)
        let after = Sessions::new(db.clone());
        assert_eq!(after.load(&r.id).await.unwrap(), None);
        assert_eq!(two.load(&r.id).await.unwrap(), None, "dropped from memory");
        assert_eq!(one.load(&r.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_save_never_brings_back_an_ended_session_on_sqlite() {
        let (db, _dir) = fresh_sqlite().await.unwrap();
        a_save_never_brings_back_an_ended_session(db).await;
    }

    #[tokio::test]
    async fn a_save_never_brings_back_an_ended_session_on_postgres() {
        let db = fresh_postgres().await.unwrap();
        a_save_never_brings_back_an_ended_session(db.clone()).await;
        db.close().await;
    }
}
