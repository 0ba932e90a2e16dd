//! Workspaces (the tenant) and memberships with roles.
//!
//! Every row that belongs to a tenant carries `workspace_id`, and every query on such a row filters
//! by the caller's workspace: the [`Actor`] resolved from the session is the only way business
//! functions learn which workspace a request may touch.

use serde::{Deserialize, Serialize};

/// A member's role in a workspace. Ordered from least to most privileged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads agents and runs.
    Viewer,
    /// Builds and runs agents.
    Member,
    /// Manages provider keys and members.
    Admin,
    /// Manages the workspace itself.
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

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
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use super::*;
    use crate::db::Db;
    use crate::error::CoreError;

    /// Resolves the membership of `user_id` in `workspace_id` into an [`Actor`], or `None` when
    /// the user is not (or no longer) a member.
    #[tracing::instrument(skip(db))]
    pub async fn load_actor(
        db: &Db,
        user_id: &str,
        workspace_id: &str,
    ) -> Result<Option<Actor>, CoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT role FROM memberships WHERE user_id = $1 AND workspace_id = $2")
                .bind(user_id)
                .bind(workspace_id)
                .fetch_optional(db.pool())
                .await?;
        Ok(row.and_then(|(role,)| {
            Role::parse(&role).map(|role| Actor {
                user_id: user_id.to_owned(),
                workspace_id: workspace_id.to_owned(),
                role,
            })
        }))
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
        Ok(CurrentUser {
            user_id: actor.user_id.clone(),
            email,
            display_name,
            workspace_id: actor.workspace_id.clone(),
            workspace_name,
            role: actor.role,
        })
    }

    /// Refuses unless the actor manages keys, prices and members (admins and owners).
    pub fn require_admin(actor: &Actor) -> Result<(), CoreError> {
        if actor.role.can_admin() {
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
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_order() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(!Role::Viewer.can_build());
        assert!(Role::Member.can_build() && !Role::Member.can_admin());
        assert!(Role::Admin.can_admin() && Role::Owner.can_admin());
    }
}
