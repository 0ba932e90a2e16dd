//! The audit log: an append-only record of security-relevant changes (keys added, rotated,
//! revoked, tested; agents deleted…), per workspace.

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use crate::db::{new_id, now_ms};
    use crate::error::CoreError;
    use crate::workspaces::Actor;

    /// Appends one event inside the caller's transaction (or on any executor).
    pub async fn record<'e, E>(
        executor: E,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), CoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query(
            "INSERT INTO audit_events (id, workspace_id, actor_id, action, target, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id())
        .bind(&actor.workspace_id)
        .bind(&actor.user_id)
        .bind(action)
        .bind(target)
        .bind(detail)
        .bind(now_ms())
        .execute(executor)
        .await?;
        Ok(())
    }
}
