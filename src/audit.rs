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
        SignedOutOthers = "account.signed_out_others",
        WorkspaceDeleted = "account.workspace_deleted",
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
            AccountAction::SignedOutOthers => "Signed out other sessions",
            AccountAction::WorkspaceDeleted => "Deleted a workspace",
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

/// One entry of a workspace's audit log, as its page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub actor_id: String,
    /// The actor's display name.
    pub actor: String,
    /// What happened: `member.invited`, `credential.revoked`, …
    pub action: String,
    /// What it happened to (an id, a scope, a model).
    pub target: String,
    pub detail: String,
    pub at: i64,
}

/// Which audit entries to read: filters (all optional) and a keyset cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor_id: Option<String>,
    /// An action (`member.invited`) or a family (`member.`: every action that starts so).
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Entries strictly older than this (created_at, id).
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// A page of the audit log, newest first, and the cursor of the next (older) page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<(i64, String)>,
}

/// Entries per page of the audit log page (and the most a query may ask for).
pub const AUDIT_PAGE: i64 = 50;
pub const MAX_AUDIT_PAGE: i64 = 500;
/// Actions longer than this are not an action (the filter is refused).
pub const MAX_ACTION_CHARS: usize = 64;

/// How the audit log page says an action.
pub fn action_label(action: &str) -> &str {
    match action {
        "credential.added" => "Provider key added",
        "credential.rotated" => "Provider key rotated",
        "credential.revoked" => "Provider key revoked",
        "credential.tested" => "Provider key tested",
        "api_token.created" => "API token created",
        "api_token.revoked" => "API token revoked",
        "member.invited" => "Member invited",
        "invite.revoked" => "Invitation revoked",
        "member.joined" => "Member joined",
        "member.role_changed" => "Role changed",
        "member.removed" => "Member removed",
        "member.left" => "Member left",
        "member.signed_in" => "Signed in",
        "workspace.created" => "Workspace created",
        "workspace.renamed" => "Workspace renamed",
        "agent.created" => "Agent created",
        "agent.deleted" => "Agent deleted",
        "agent.version_published" => "Version published",
        "limits.set" => "Limits changed",
        "limits.override_set" => "Limit override set",
        "limits.override_removed" => "Limit override removed",
        "budget.alert" => "Budget alert",
        "price.set" => "Price set",
        "price.deleted" => "Price removed",
        other => other,
    }
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
        record_by(
            executor,
            (&actor.workspace_id, &actor.user_id),
            action,
            target,
            detail,
        )
        .await
    }

    /// [`record`] for a user not acting through an [`Actor`] (a log-in): `(workspace, user)`.
    pub async fn record_by<'e, E>(
        executor: E,
        (workspace_id, user_id): (&str, &str),
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
        .bind(workspace_id)
        .bind(user_id)
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

    /// A page of the caller's workspace's audit log, newest first (admins and owners). The log
    /// is append-only: nothing in the code updates or deletes an entry (deleting the workspace
    /// deletes it whole).
    #[tracing::instrument(skip(db))]
    pub async fn list_audit(
        db: &Db,
        actor: &Actor,
        query: &AuditQuery,
    ) -> Result<AuditPage, CoreError> {
        crate::workspaces::require_admin(actor)?;
        if query
            .action
            .as_ref()
            .is_some_and(|a| a.chars().count() > MAX_ACTION_CHARS)
        {
            return Err(CoreError::field("action", "No action is that long."));
        }
        let limit = query.limit.clamp(1, MAX_AUDIT_PAGE);
        let mut sql = String::from(
            "SELECT e.id, e.actor_id, u.display_name, e.action, e.target, e.detail, e.created_at \
             FROM audit_events e JOIN users u ON u.id = e.actor_id WHERE e.workspace_id = $1",
        );
        let mut n = 1;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if query.actor_id.is_some() {
            sql.push_str(&format!(" AND e.actor_id = {}", next()));
        }
        let family = query.action.as_ref().filter(|a| a.ends_with('.'));
        if let Some(action) = &query.action {
            if family.is_some() {
                // A family: the prefix compared whole (no LIKE escaping to get wrong, and no
                // collation can reorder punctuation as a range would let it).
                let len = action.chars().count();
                sql.push_str(&format!(" AND substr(e.action, 1, {len}) = {}", next()));
            } else {
                sql.push_str(&format!(" AND e.action = {}", next()));
            }
        }
        if query.from_ms.is_some() {
            sql.push_str(&format!(" AND e.created_at >= {}", next()));
        }
        if query.to_ms.is_some() {
            sql.push_str(&format!(" AND e.created_at < {}", next()));
        }
        if query.before.is_some() {
            let (at, at2, id) = (next(), next(), next());
            sql.push_str(&format!(
                " AND e.created_at <= {at} AND (e.created_at < {at2} OR e.id < {id})"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY e.created_at DESC, e.id DESC LIMIT {}",
            next()
        ));
        let mut q =
            sqlx::query_as::<_, (String, String, String, String, String, String, i64)>(&sql)
                .bind(&actor.workspace_id);
        if let Some(a) = &query.actor_id {
            q = q.bind(a);
        }
        if let Some(action) = &query.action {
            q = q.bind(action);
        }
        if let Some(from) = query.from_ms {
            q = q.bind(from);
        }
        if let Some(to) = query.to_ms {
            q = q.bind(to);
        }
        if let Some((at, id)) = &query.before {
            q = q.bind(*at).bind(*at).bind(id);
        }
        let rows = q.bind(limit + 1).fetch_all(db.pool()).await?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        let entries: Vec<AuditEntry> = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(
                |(id, actor_id, name, action, target, detail, at)| AuditEntry {
                    id,
                    actor_id,
                    actor: name,
                    action,
                    target,
                    detail,
                    at,
                },
            )
            .collect();
        let next = if more {
            entries.last().map(|e| (e.at, e.id.clone()))
        } else {
            None
        };
        Ok(AuditPage { entries, next })
    }
}
