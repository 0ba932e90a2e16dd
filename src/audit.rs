//! The audit logs: per workspace, an append-only record of security-relevant changes (keys
//! added, rotated, revoked, tested; agents deleted…); per account, what happened to it (sign-up,
//! log-ins and failed ones, log-outs, password changes, sign out everywhere) — the account page
//! shows its owner the latest.

use serde::{Deserialize, Serialize};

crate::string_enum! {
    /// Something that happened to an account.
    pub enum AccountAction("account action") {
        SignedUp = "account.signed_up",
        LoggedIn = "account.logged_in",
        LogInFailed = "account.log_in_failed",
        LoggedOut = "account.logged_out",
        PasswordChanged = "account.password_changed",
        SignedOutEverywhere = "account.signed_out_everywhere",
    }
}

impl AccountAction {
    /// How the account page says it.
    pub fn label(self) -> &'static str {
        match self {
            AccountAction::SignedUp => "Account created",
            AccountAction::LoggedIn => "Logged in",
            AccountAction::LogInFailed => "Failed log-in",
            AccountAction::LoggedOut => "Logged out",
            AccountAction::PasswordChanged => "Password changed",
            AccountAction::SignedOutEverywhere => "Signed out everywhere",
        }
    }
}

/// One account event, as the account page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    pub action: AccountAction,
    /// The client's address ("" when unknown).
    pub client: String,
    pub at: i64,
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use std::net::IpAddr;

    use super::*;
    use crate::db::{Db, new_id, now_ms};
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

    /// Who an account event is about: the account (`None` for a failed log-in at an unknown
    /// email), the email as typed (normalised, at most 254 bytes) and the client's address.
    #[derive(Clone, Copy, Debug)]
    pub struct AccountSubject<'a> {
        pub user_id: Option<&'a str>,
        pub email: &'a str,
        pub client: Option<IpAddr>,
    }

    /// Appends one account event (inside the caller's transaction, or on any executor).
    pub async fn record_account<'e, E>(
        executor: E,
        subject: AccountSubject<'_>,
        action: AccountAction,
    ) -> Result<(), CoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query(
            "INSERT INTO account_events (id, user_id, email, action, client, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(subject.user_id)
        .bind(subject.email)
        .bind(action.as_str())
        .bind(subject.client.map(|c| c.to_string()).unwrap_or_default())
        .bind(now_ms())
        .execute(executor)
        .await?;
        Ok(())
    }

    /// The latest `limit` events of an account, newest first.
    pub async fn account_events(
        db: &Db,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<AccountEvent>, CoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT action, client, created_at FROM account_events WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
        rows.into_iter()
            .map(|(action, client, at)| {
                Ok(AccountEvent {
                    action: AccountAction::parse(&action)
                        .map_err(|e| CoreError::Internal(format!("stored {e}")))?,
                    client,
                    at,
                })
            })
            .collect()
    }
}
