//! Workspaces (the tenant) and memberships with roles.
//!
//! Every row that belongs to a tenant carries `workspace_id`, and every query on such a row filters
//! by the caller's workspace: the [`Actor`] resolved from the session is the only way business
//! functions learn which workspace a request may touch.
//!
//! A workspace's **generation** counts changes to what its runs read and cache (agents, provider
//! keys, prices): every such write bumps it in the same transaction ([`bump_generation`]).
//! Memberships are read fresh on every request, so they need no bump.
//! The actor is loaded with it on every request, so caches of that configuration (see
//! `runs::catalog`) are checked against the database on every run, on every instance, at no extra
//! query: a revoked key or a deleted agent takes effect with the next request anywhere.

use serde::{Deserialize, Serialize};

crate::string_enum! {
    /// A member's role in a workspace. Ordered from least to most privileged.
    #[derive(PartialOrd, Ord)]
    pub enum Role("role") {
        /// Reads agents and runs.
        Viewer = "viewer",
        /// Builds and runs agents.
        Member = "member",
        /// Manages provider keys and members.
        Admin = "admin",
        /// Manages the workspace itself.
        Owner = "owner",
    }
}

impl Role {
    /// Members and above may create, edit, delete and run agents.
    pub fn can_build(self) -> bool {
        self >= Role::Member
    }

    /// Admins and owners manage provider keys and members.
    pub fn can_admin(self) -> bool {
        self >= Role::Admin
    }
}

/// Who is asking: a signed-in user acting in one workspace with one role. Built on the server
/// from the session and a membership row on every request, never taken from the browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub workspace_id: String,
    pub role: Role,
    /// The workspace's generation when the request started (see the module docs).
    pub generation: i64,
}

/// What the browser may know about the signed-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub role: Role,
    /// Every workspace the user is a member of, by name (the header's switcher).
    pub workspaces: Vec<WorkspaceSummary>,
}

/// A workspace the user belongs to, with their role in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceSummary {
    pub id: String,
    pub name: String,
    pub role: Role,
}

pub const MAX_WORKSPACE_NAME_CHARS: usize = 80;
/// Workspaces one person may belong to (each listed on every page's switcher).
pub const MAX_WORKSPACES: i64 = 50;

/// The trimmed workspace name, or what is wrong with it (shared: the browser says the same).
pub fn validate_workspace_name(name: &str) -> Result<String, crate::validation::FieldError> {
    let name = name.trim();
    let err = |m: String| crate::validation::FieldError::new("name", m);
    if name.is_empty() {
        Err(err("Name the workspace.".to_owned()))
    } else if name.chars().count() > MAX_WORKSPACE_NAME_CHARS {
        Err(err(format!(
            "Use at most {MAX_WORKSPACE_NAME_CHARS} characters."
        )))
    } else if name.chars().any(char::is_control) {
        Err(err(
            "Use letters, digits, spaces and punctuation.".to_owned()
        ))
    } else {
        Ok(name.to_owned())
    }
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use super::*;
    use crate::db::Db;
    use crate::error::CoreError;

    /// Resolves the membership of `user_id` in `workspace_id` into an [`Actor`] (with the
    /// workspace's generation, in the same query), or `None` when the user is not (or no longer)
    /// a member.
    #[tracing::instrument(skip(db))]
    pub async fn load_actor(
        db: &Db,
        user_id: &str,
        workspace_id: &str,
    ) -> Result<Option<Actor>, CoreError> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT m.role, w.generation FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
             WHERE m.user_id = $1 AND m.workspace_id = $2",
        )
        .bind(user_id)
        .bind(workspace_id)
        .fetch_optional(db.pool())
        .await?;
        let Some((role, generation)) = row else {
            return Ok(None);
        };
        let role = Role::parse(&role).map_err(|e| CoreError::Internal(format!("stored {e}")))?;
        Ok(Some(Actor {
            user_id: user_id.to_owned(),
            workspace_id: workspace_id.to_owned(),
            role,
            generation,
        }))
    }

    /// [`load_actor`] for a request carrying the session stored under `session_key` (see
    /// [`crate::sessions::key`]), in the same query: `None` also when that session no longer
    /// exists or belongs to someone else. This is what lets a server keep sessions in memory:
    /// each request still proves its session is alive, at no extra query.
    #[tracing::instrument(skip(db, session_key))]
    pub async fn load_session_actor(
        db: &Db,
        user_id: &str,
        workspace_id: &str,
        session_key: &str,
    ) -> Result<Option<Actor>, CoreError> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT m.role, w.generation FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
             WHERE m.user_id = $1 AND m.workspace_id = $2 \
             AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = $3 AND s.user_id = $1)",
        )
        .bind(user_id)
        .bind(workspace_id)
        .bind(session_key)
        .fetch_optional(db.pool())
        .await?;
        let Some((role, generation)) = row else {
            return Ok(None);
        };
        let role = Role::parse(&role).map_err(|e| CoreError::Internal(format!("stored {e}")))?;
        Ok(Some(Actor {
            user_id: user_id.to_owned(),
            workspace_id: workspace_id.to_owned(),
            role,
            generation,
        }))
    }

    /// Inserts workspace `id` named `name` with `owner` as its owner, in the caller's
    /// transaction (sign-up, a new workspace, a personal one for someone left without).
    pub async fn insert_owned(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
        name: &str,
        owner: &str,
        now: i64,
    ) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO workspaces (id, name, created_by, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(name)
        .bind(owner)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at) \
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(id)
        .bind(owner)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Marks a change to what the workspace's runs read; call it inside the writing
    /// transaction.
    pub async fn bump_generation<'e, E>(executor: E, workspace_id: &str) -> Result<(), CoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query("UPDATE workspaces SET generation = generation + 1 WHERE id = $1")
            .bind(workspace_id)
            .execute(executor)
            .await?;
        Ok(())
    }

    /// The signed-in user's profile and current workspace, for the UI.
    #[tracing::instrument(skip(db))]
    pub async fn current_user(db: &Db, actor: &Actor) -> Result<CurrentUser, CoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT u.email, u.display_name, w.name FROM users u, workspaces w \
             WHERE u.id = $1 AND w.id = $2",
        )
        .bind(&actor.user_id)
        .bind(&actor.workspace_id)
        .fetch_optional(db.pool())
        .await?;
        let (email, display_name, workspace_name) = row.ok_or(CoreError::Unauthenticated)?;
        let workspaces = list_workspaces(db, &actor.user_id).await?;
        Ok(CurrentUser {
            user_id: actor.user_id.clone(),
            email,
            display_name,
            workspace_id: actor.workspace_id.clone(),
            workspace_name,
            role: actor.role,
            workspaces,
        })
    }

    /// The workspaces `user_id` belongs to, by name.
    #[tracing::instrument(skip(db))]
    pub async fn list_workspaces(
        db: &Db,
        user_id: &str,
    ) -> Result<Vec<WorkspaceSummary>, CoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT w.id, w.name, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
             WHERE m.user_id = $1 ORDER BY w.name, w.id LIMIT $2",
        )
        .bind(user_id)
        .bind(MAX_WORKSPACES)
        .fetch_all(db.pool())
        .await?;
        rows.into_iter()
            .map(|(id, name, role)| {
                Ok(WorkspaceSummary {
                    id,
                    name,
                    role: Role::parse(&role)
                        .map_err(|e| CoreError::Internal(format!("stored {e}")))?,
                })
            })
            .collect()
    }

    /// Refuses unless the actor manages keys, prices and members (admins and owners).
    pub fn require_admin(actor: &Actor) -> Result<(), CoreError> {
        if actor.role.can_admin() {
            Ok(())
        } else {
            Err(CoreError::Forbidden)
        }
    }

    /// Refuses unless the actor manages the workspace itself (owners).
    pub fn require_owner(actor: &Actor) -> Result<(), CoreError> {
        if actor.role == Role::Owner {
            Ok(())
        } else {
            Err(CoreError::Forbidden)
        }
    }

    /// Refuses unless the actor may build and run agents.
    pub fn require_builder(actor: &Actor) -> Result<(), CoreError> {
        if actor.role.can_build() {
            Ok(())
        } else {
            Err(CoreError::Forbidden)
        }
    }
}

#[cfg(test)]
mod tests;
