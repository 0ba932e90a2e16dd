//! Signed-in sessions as stored: one row per session in the `sessions` table, under the
//! SHA-256 of its id ([`key`]), with the user it belongs to — so the table never holds a value
//! that works as a cookie (a leaked backup or a read-only SQL injection signs nobody in), and a
//! user's sessions can be ended together ([`end_for_user`]: "sign out everywhere", and every
//! other session at a password change).
//!
//! The server's `SessionStore` (tower-sessions) is a thin adapter over these functions; every
//! request proves its session still exists with its membership query
//! (`workspaces::load_session_actor`).

/// The stored key of a session id: lower-case hex SHA-256 of the id as the cookie carries it.
#[cfg(feature = "server")]
pub fn key(session_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(session_id.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use crate::db::{Db, is_unique_violation, now_ms};
    use crate::error::CoreError;

    /// A stored session: its data (JSON) and when it expires (ms since the epoch).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct StoredSession {
        pub data: String,
        pub expires_at: i64,
    }

    /// Inserts a new session; `false` when the key is taken (the caller picks another id).
    pub async fn insert(
        db: &Db,
        key: &str,
        user_id: Option<&str>,
        session: &StoredSession,
    ) -> Result<bool, CoreError> {
        let done = sqlx::query(
            "INSERT INTO sessions (id, user_id, data, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(key)
        .bind(user_id)
        .bind(&session.data)
        .bind(session.expires_at)
        .execute(db.pool())
        .await;
        match done {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Updates a session that exists; `false` (and nothing written) when it was ended
    /// meanwhile — a late save never brings an ended session back.
    pub async fn update(
        db: &Db,
        key: &str,
        user_id: Option<&str>,
        session: &StoredSession,
    ) -> Result<bool, CoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET user_id = $2, data = $3, expires_at = $4 WHERE id = $1",
        )
        .bind(key)
        .bind(user_id)
        .bind(&session.data)
        .bind(session.expires_at)
        .execute(db.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The session stored under `key`, unless it has expired.
    pub async fn load(db: &Db, key: &str) -> Result<Option<StoredSession>, CoreError> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
        )
        .bind(key)
        .bind(now_ms())
        .fetch_optional(db.pool())
        .await?;
        Ok(row.map(|(data, expires_at)| StoredSession { data, expires_at }))
    }

    /// Ends one session.
    pub async fn delete(db: &Db, key: &str) -> Result<(), CoreError> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(key)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Deletes expired sessions; how many.
    pub async fn delete_expired(db: &Db) -> Result<u64, CoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(db.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Ends every session of `user_id` but the one stored under `except` (if any); how many.
    /// Inside the caller's transaction (a password change), or on the pool.
    pub async fn end_for_user<'e, E>(
        executor: E,
        user_id: &str,
        except: Option<&str>,
    ) -> Result<u64, CoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(except.unwrap_or(""))
            .execute(executor)
            .await?;
        Ok(done.rows_affected())
    }

    /// How many live sessions `user_id` has (the account page shows it).
    pub async fn count_for_user(db: &Db, user_id: &str) -> Result<i64, CoreError> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at > $2")
                .bind(user_id)
                .bind(now_ms())
                .fetch_one(db.pool())
                .await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
