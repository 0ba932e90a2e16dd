//! Idempotency keys for runs started through the API: a client that retries `POST …/runs`
//! with the same `Idempotency-Key` (and the same body) within [`WINDOW_MS`] gets the first run
//! back instead of paying for a second one. The key is claimed (a row with no run yet) before
//! the run starts, so two concurrent retries cannot both start one: the second is told the
//! first is still starting. A claim whose run could not start is released, so a corrected
//! retry is not blocked. Keys are per workspace; a claim older than the window is replaced.

use sha2::{Digest, Sha256};

use crate::db::{Db, is_unique_violation, now_ms};
use crate::error::CoreError;
use crate::workspaces::Actor;

/// How long a key answers with its first run.
pub const WINDOW_MS: i64 = 24 * 3600 * 1000;
/// The longest key accepted.
pub const MAX_KEY_CHARS: usize = 255;

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or its window passed): start the run, then [`attach`] it.
    New,
    /// The same request was made before: answer this run.
    Replay(String),
    /// The same request is still starting its run elsewhere.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

/// Whether `key` is acceptable: 1 to [`MAX_KEY_CHARS`] visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_CHARS && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The fingerprint of a request (the agent it names and its body), to tell a retry from a
/// different request that reuses a key.
pub fn fingerprint(agent: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(agent.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Claims `key` for a request with fingerprint `request`.
pub async fn claim(db: &Db, actor: &Actor, key: &str, request: &str) -> Result<Claim, CoreError> {
    let now = now_ms();
    for _ in 0..2 {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (workspace_id, idem_key, request_hash, run_id, created_at) \
             VALUES ($1, $2, $3, NULL, $4)",
        )
        .bind(&actor.workspace_id)
        .bind(key)
        .bind(request)
        .bind(now)
        .execute(db.pool())
        .await;
        match inserted {
            Ok(_) => return Ok(Claim::New),
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT request_hash, run_id, created_at FROM idempotency_keys \
             WHERE workspace_id = $1 AND idem_key = $2",
        )
        .bind(&actor.workspace_id)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
        match row {
            // Released in between: try again.
            None => continue,
            Some((_, _, at)) if now.saturating_sub(at) >= WINDOW_MS => {
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND idem_key = $2 \
                     AND created_at = $3",
                )
                .bind(&actor.workspace_id)
                .bind(key)
                .bind(at)
                .execute(db.pool())
                .await?;
            }
            Some((hash, _, _)) if hash != request => return Ok(Claim::Mismatch),
            Some((_, Some(run), _)) => return Ok(Claim::Replay(run)),
            Some((_, None, _)) => return Ok(Claim::InProgress),
        }
    }
    Ok(Claim::InProgress)
}

/// Records the run a claimed key started.
pub async fn attach(db: &Db, actor: &Actor, key: &str, run_id: &str) -> Result<(), CoreError> {
    sqlx::query(
        "UPDATE idempotency_keys SET run_id = $1 WHERE workspace_id = $2 AND idem_key = $3",
    )
    .bind(run_id)
    .bind(&actor.workspace_id)
    .bind(key)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Gives a claim up (its run could not start).
pub async fn release(db: &Db, actor: &Actor, key: &str) -> Result<(), CoreError> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE workspace_id = $1 AND idem_key = $2 AND run_id IS NULL",
    )
    .bind(&actor.workspace_id)
    .bind(key)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Deletes claims older than the window; returns how many.
pub async fn sweep(db: &Db) -> Result<u64, CoreError> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now_ms().saturating_sub(WINDOW_MS))
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::World;

    #[test]
    fn keys_and_fingerprints() {
        assert!(valid_key("retry-1"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key("é"));
        assert!(!valid_key(&"k".repeat(256)));
        assert_eq!(fingerprint("a", b"{}"), fingerprint("a", b"{}"));
        assert_ne!(fingerprint("a", b"{}"), fingerprint("b", b"{}"));
        // The separator keeps agent and body apart.
        assert_ne!(fingerprint("ab", b"c"), fingerprint("a", b"bc"));
    }

    on_both_backends!(a_key_answers_its_first_run, |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let b = w.workspace("b@example.com").await;
        assert_eq!(claim(&w.db, &a, "k1", "h1").await.unwrap(), Claim::New);
        assert_eq!(
            claim(&w.db, &a, "k1", "h1").await.unwrap(),
            Claim::InProgress
        );
        assert_eq!(claim(&w.db, &a, "k1", "h2").await.unwrap(), Claim::Mismatch);
        // Keys are per workspace.
        assert_eq!(claim(&w.db, &b, "k1", "h2").await.unwrap(), Claim::New);
        attach(&w.db, &a, "k1", "run-1").await.unwrap();
        assert_eq!(
            claim(&w.db, &a, "k1", "h1").await.unwrap(),
            Claim::Replay("run-1".into())
        );
        // Release gives up only a claim without a run.
        release(&w.db, &a, "k1").await.unwrap();
        assert_eq!(
            claim(&w.db, &a, "k1", "h1").await.unwrap(),
            Claim::Replay("run-1".into())
        );
        release(&w.db, &b, "k1").await.unwrap();
        assert_eq!(claim(&w.db, &b, "k1", "h3").await.unwrap(), Claim::New);
        // Past the window, the key is new again (and swept).
        sqlx::query("UPDATE idempotency_keys SET created_at = $1")
            .bind(now_ms() - WINDOW_MS - 1)
            .execute(w.db.pool())
            .await
            .unwrap();
        assert_eq!(claim(&w.db, &a, "k1", "h9").await.unwrap(), Claim::New);
        assert_eq!(sweep(&w.db).await.unwrap(), 1, "b's old claim");
    });
}
