//! Settings → Audit log: who did what to which target and when (admins and owners).

use galaxy_core::audit::AuditEntry;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The audit log's filters, as its URL names them (empty: any).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditFilters {
    /// A member's user id.
    pub actor: String,
    /// An action, or a family ending in `.` (`member.`).
    pub action: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    pub from: String,
    pub to: String,
    /// The previous page's `next`.
    pub cursor: String,
}

/// The query `filters` ask for, `limit` at a time, or every field error.
#[cfg(feature = "ssr")]
pub fn audit_query(
    filters: AuditFilters,
    limit: i64,
) -> Result<galaxy_core::audit::AuditQuery, Vec<galaxy_core::validation::FieldError>> {
    use galaxy_core::audit::AuditQuery;
    use galaxy_core::validation::FieldError;
    let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let mut errors = Vec::new();
    let (from_ms, to_ms) = crate::api::runs::date_range(&filters.from, &filters.to, &mut errors);
    let before =
        crate::api::runs::cursor_of(&filters.cursor, "Not a page of this log.", &mut errors);
    let action = given(&filters.action);
    if action
        .as_ref()
        .is_some_and(|a| a.chars().count() > galaxy_core::audit::MAX_ACTION_CHARS)
    {
        errors.push(FieldError::new("action", "No action is that long."));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(AuditQuery {
        actor_id: given(&filters.actor),
        action,
        from_ms,
        to_ms,
        before,
        limit,
    })
}

/// A page of the audit log and who may be picked in its actor filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub entries: Vec<AuditEntry>,
    pub next: Option<String>,
    /// (user id, display name) of the current members.
    pub actors: Vec<(String, String)>,
}

#[server(endpoint = "list_audit", output = crate::wire::Json)]
pub async fn list_audit(#[server(default)] filters: AuditFilters) -> Result<AuditView, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::require_admin(&actor)?;
    let query = audit_query(filters, galaxy_core::audit::AUDIT_PAGE)
        .map_err(galaxy_core::CoreError::Validation)?;
    let page = galaxy_core::audit::list_audit(&state.db, &actor, &query).await?;
    let actors = galaxy_core::members::list_members(&state.db, &actor)
        .await?
        .into_iter()
        .map(|m| (m.user_id, m.display_name))
        .collect();
    Ok(AuditView {
        entries: page.entries,
        next: page.next.map(|(at, id)| format!("{at}_{id}")),
        actors,
    })
}
