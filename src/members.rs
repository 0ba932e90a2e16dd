//! Workspaces as teams: making, renaming and deleting them (the workspace itself — the tenant,
//! the actor, the roles — is `workspaces`), their members, and the invitations that bring new
//! ones in.
//!
//! Owners and admins invite by creating an **invitation link**: a one-time token (`gxi_` and
//! 32 random bytes, base64url) shown once and stored as its SHA-256, carrying the role the
//! newcomer gets, valid for [`INVITE_DAYS`] days unless revoked. A signed-in visitor with a
//! valid link joins with that role; the link is then spent.
//!
//! The rules the checks enforce: admins and owners manage members; admins cannot make, invite,
//! demote or remove owners; a workspace always keeps an owner — the last one cannot leave, be
//! removed or be demoted. Removing a member ends their access at once: every request reads the
//! membership afresh (sessions and API tokens alike), and their API tokens in the workspace are
//! revoked as well, so an invitation back does not revive them. Every change is in the audit log.

use serde::{Deserialize, Serialize};

use crate::workspaces::Role;

/// How long an invitation link stays valid.
pub const INVITE_DAYS: i64 = 7;
/// Pending invitations a workspace may hold at once.
pub const MAX_PENDING_INVITES: i64 = 100;
/// Members a workspace may have (the members page lists them all).
pub const MAX_MEMBERS: i64 = 500;
/// Invitation tokens start with this (and hold 32 random bytes, base64url: 43 characters).
pub const INVITE_PREFIX: &str = "gxi_";

/// A member as Settings → Members lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub joined_at: i64,
}

/// A pending invitation (never its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub id: String,
    pub role: Role,
    /// Who made it (display name).
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A new invitation with its token: the only time the token is answered.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewInvite {
    pub invite: Invite,
    pub token: String,
}

impl std::fmt::Debug for NewInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewInvite")
            .field("invite", &self.invite)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// What an invitation link says to whoever opens it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteInfo {
    pub workspace_name: String,
    pub role: Role,
    pub invited_by: String,
    pub expires_at: i64,
}

/// Whether `text` has the shape of an invitation token (checked before any lookup).
pub fn looks_like_invite(text: &str) -> bool {
    text.strip_prefix(INVITE_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Whether `actor_role` may give (invite with, or change a member to) `role`: admins give any
/// role but owner; owners give any.
pub fn may_grant(actor_role: Role, role: Role) -> bool {
    actor_role.can_admin() && (role < Role::Owner || actor_role == Role::Owner)
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use base64::Engine;
    use sqlx::Row;

    use super::*;
    use crate::api_tokens::hash;
    use crate::audit;
    use crate::db::{Db, new_id, now_ms};
    use crate::error::CoreError;
    use crate::workspaces::{
        Actor, MAX_WORKSPACES, WorkspaceSummary, require_admin, require_owner,
        validate_workspace_name,
    };

    const DAY_MS: i64 = 24 * 3600 * 1000;

    fn stored_role(text: &str) -> Result<Role, CoreError> {
        Role::parse(text).map_err(|e| CoreError::Internal(format!("stored {e}")))
    }

    /// Every member of the caller's workspace, owners first, then by name (any member).
    #[tracing::instrument(skip(db))]
    pub async fn list_members(db: &Db, actor: &Actor) -> Result<Vec<Member>, CoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.display_name, u.email, m.role, m.created_at \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.workspace_id = $1 ORDER BY u.display_name, u.email LIMIT $2",
        )
        .bind(&actor.workspace_id)
        .bind(MAX_MEMBERS)
        .fetch_all(db.pool())
        .await?;
        let mut members = rows
            .iter()
            .map(|r| {
                Ok(Member {
                    user_id: r.try_get("id")?,
                    display_name: r.try_get("display_name")?,
                    email: r.try_get("email")?,
                    role: stored_role(&r.try_get::<String, _>("role")?)?,
                    joined_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>, CoreError>>()?;
        members.sort_by_key(|m| std::cmp::Reverse(m.role));
        Ok(members)
    }

    /// Takes the workspace's row lock for the rest of the transaction (a no-op write: on
    /// PostgreSQL a row lock, on SQLite the write lock), so two owners demoting or removing each
    /// other at once are serialised and the second sees the first's change — a workspace never
    /// ends without an owner. Every read-then-write transaction here starts with it: on SQLite a
    /// transaction that read first cannot wait for the write lock (it fails busy at once).
    async fn lock_workspace(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        workspace: &str,
    ) -> Result<(), CoreError> {
        sqlx::query("UPDATE workspaces SET generation = generation WHERE id = $1")
            .bind(workspace)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Revokes the pending invitations `user` made that their role no longer lets them give
    /// (all of them when they are no longer a member: `role` is `None`).
    async fn revoke_invites_beyond(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        workspace: &str,
        user: &str,
        role: Option<Role>,
    ) -> Result<(), CoreError> {
        let beyond: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| role.is_none_or(|mine| !may_grant(mine, **r)))
            .map(|r| r.as_str())
            .collect();
        if beyond.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = beyond.iter().map(|r| format!("'{r}'")).collect();
        sqlx::query(&format!(
            "UPDATE invites SET revoked_at = $1 WHERE workspace_id = $2 AND created_by = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL AND role IN ({})",
            list.join(", ")
        ))
        .bind(now_ms())
        .bind(workspace)
        .bind(user)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The member's role and the workspace's owner count, read in the caller's transaction.
    async fn role_and_owners(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        workspace: &str,
        user: &str,
    ) -> Result<(Role, i64), CoreError> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT m.role, (SELECT COUNT(*) FROM memberships o \
             WHERE o.workspace_id = m.workspace_id AND o.role = 'owner') \
             FROM memberships m WHERE m.workspace_id = $1 AND m.user_id = $2",
        )
        .bind(workspace)
        .bind(user)
        .fetch_optional(&mut **tx)
        .await?;
        let (role, owners) = row.ok_or(CoreError::NotFound)?;
        Ok((stored_role(&role)?, owners))
    }

    fn last_owner() -> CoreError {
        CoreError::field(
            "role",
            "A workspace needs an owner: make another member an owner first.",
        )
    }

    /// Gives a member another role (admins and owners; only owners make or unmake owners; the
    /// last owner keeps the role).
    #[tracing::instrument(skip(db))]
    pub async fn change_role(
        db: &Db,
        actor: &Actor,
        user_id: &str,
        role: Role,
    ) -> Result<(), CoreError> {
        require_admin(actor)?;
        let mut tx = db.pool().begin().await?;
        lock_workspace(&mut tx, &actor.workspace_id).await?;
        let (current, owners) = role_and_owners(&mut tx, &actor.workspace_id, user_id).await?;
        if current == role {
            return Ok(());
        }
        if !may_grant(actor.role, role) || !may_grant(actor.role, current) {
            return Err(CoreError::Forbidden);
        }
        if current == Role::Owner && owners <= 1 {
            return Err(last_owner());
        }
        sqlx::query("UPDATE memberships SET role = $1 WHERE workspace_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(&actor.workspace_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        revoke_invites_beyond(&mut tx, &actor.workspace_id, user_id, Some(role)).await?;
        let detail = format!("{} → {}", current.as_str(), role.as_str());
        audit::record(&mut *tx, actor, "member.role_changed", user_id, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member (admins and owners; owners only by owners), or the caller themselves
    /// (leaving). The last owner cannot go. Their API tokens in the workspace are revoked.
    #[tracing::instrument(skip(db))]
    pub async fn remove_member(db: &Db, actor: &Actor, user_id: &str) -> Result<(), CoreError> {
        let leaving = user_id == actor.user_id;
        if !leaving {
            require_admin(actor)?;
        }
        let mut tx = db.pool().begin().await?;
        lock_workspace(&mut tx, &actor.workspace_id).await?;
        let (current, owners) = role_and_owners(&mut tx, &actor.workspace_id, user_id).await?;
        if !leaving && !may_grant(actor.role, current) {
            return Err(CoreError::Forbidden);
        }
        if current == Role::Owner && owners <= 1 {
            return Err(CoreError::field(
                "member",
                "A workspace needs an owner: make another member an owner first, or delete the workspace.",
            ));
        }
        sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(&actor.workspace_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 \
             WHERE workspace_id = $2 AND created_by = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(&actor.workspace_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let action = if leaving {
            "member.left"
        } else {
            "member.removed"
        };
        audit::record(&mut *tx, actor, action, user_id, current.as_str()).await?;
        tx.commit().await?;
        Ok(())
    }

    fn generate() -> String {
        let bytes: [u8; 32] = rand::random();
        format!(
            "{INVITE_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    /// Makes an invitation link giving `role` (admins and owners; owner invitations only by
    /// owners), valid for [`INVITE_DAYS`] days.
    #[tracing::instrument(skip(db))]
    pub async fn create_invite(db: &Db, actor: &Actor, role: Role) -> Result<NewInvite, CoreError> {
        require_admin(actor)?;
        if !may_grant(actor.role, role) {
            return Err(CoreError::Forbidden);
        }
        let now = now_ms();
        let mut tx = db.pool().begin().await?;
        lock_workspace(&mut tx, &actor.workspace_id).await?;
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM invites WHERE workspace_id = $1 AND accepted_at IS NULL \
             AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(&actor.workspace_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if pending >= MAX_PENDING_INVITES {
            return Err(CoreError::field(
                "role",
                &format!(
                    "This workspace has {MAX_PENDING_INVITES} pending invitations: revoke some first."
                ),
            ));
        }
        let (id, token) = (new_id(), generate());
        let expires_at = now + INVITE_DAYS * DAY_MS;
        sqlx::query(
            "INSERT INTO invites (id, workspace_id, token_hash, role, created_by, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&actor.workspace_id)
        .bind(hash(&token))
        .bind(role.as_str())
        .bind(&actor.user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        audit::record(&mut *tx, actor, "member.invited", &id, role.as_str()).await?;
        let (name,): (String,) = sqlx::query_as("SELECT display_name FROM users WHERE id = $1")
            .bind(&actor.user_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(NewInvite {
            invite: Invite {
                id,
                role,
                created_by: name,
                created_at: now,
                expires_at,
            },
            token,
        })
    }

    /// The workspace's pending invitations, newest first (admins and owners).
    #[tracing::instrument(skip(db))]
    pub async fn list_invites(db: &Db, actor: &Actor) -> Result<Vec<Invite>, CoreError> {
        require_admin(actor)?;
        let rows = sqlx::query(
            "SELECT i.id, i.role, u.display_name, i.created_at, i.expires_at \
             FROM invites i JOIN users u ON u.id = i.created_by \
             WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL \
             AND i.expires_at > $2 ORDER BY i.created_at DESC, i.id DESC LIMIT $3",
        )
        .bind(&actor.workspace_id)
        .bind(now_ms())
        .bind(MAX_PENDING_INVITES)
        .fetch_all(db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Invite {
                    id: r.try_get("id")?,
                    role: stored_role(&r.try_get::<String, _>("role")?)?,
                    created_by: r.try_get("display_name")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect()
    }

    /// Revokes a pending invitation (admins and owners): its link stops working.
    #[tracing::instrument(skip(db))]
    pub async fn revoke_invite(db: &Db, actor: &Actor, id: &str) -> Result<(), CoreError> {
        require_admin(actor)?;
        let mut tx = db.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE invites SET revoked_at = $1 WHERE id = $2 AND workspace_id = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(id)
        .bind(&actor.workspace_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(CoreError::NotFound);
        }
        audit::record(&mut *tx, actor, "invite.revoked", id, "").await?;
        tx.commit().await?;
        Ok(())
    }

    fn no_invite() -> CoreError {
        CoreError::field(
            "token",
            "This invitation link is not valid: it may have been used, revoked or expired. Ask for a new one.",
        )
    }

    /// The pending invitation behind `token`: (id, workspace, role, info).
    async fn pending(
        db: &Db,
        token: &str,
    ) -> Result<(String, String, Role, InviteInfo), CoreError> {
        if !looks_like_invite(token) {
            return Err(no_invite());
        }
        // The creator must still be a member who may give the role (a removed or demoted
        // admin's links die with their authority).
        let row = sqlx::query(
            "SELECT i.id, i.workspace_id, i.role, i.expires_at, w.name, u.display_name, \
             c.role AS creator_role \
             FROM invites i JOIN workspaces w ON w.id = i.workspace_id \
             JOIN users u ON u.id = i.created_by \
             JOIN memberships c ON c.workspace_id = i.workspace_id AND c.user_id = i.created_by \
             WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL \
             AND i.expires_at > $2",
        )
        .bind(hash(token))
        .bind(now_ms())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(no_invite)?;
        let role = stored_role(&row.try_get::<String, _>("role")?)?;
        if !may_grant(
            stored_role(&row.try_get::<String, _>("creator_role")?)?,
            role,
        ) {
            return Err(no_invite());
        }
        Ok((
            row.try_get("id")?,
            row.try_get("workspace_id")?,
            role,
            InviteInfo {
                workspace_name: row.try_get("name")?,
                role,
                invited_by: row.try_get("display_name")?,
                expires_at: row.try_get("expires_at")?,
            },
        ))
    }

    /// What a pending invitation link offers (anyone holding the link may read this).
    #[tracing::instrument(skip_all)]
    pub async fn invite_info(db: &Db, token: &str) -> Result<InviteInfo, CoreError> {
        Ok(pending(db, token).await?.3)
    }

    /// Joins the signed-in user to the invitation's workspace with its role, spending the link;
    /// answers the workspace's id. Someone already a member keeps their role and the link stays
    /// unspent.
    #[tracing::instrument(skip(db, token))]
    pub async fn accept_invite(db: &Db, user_id: &str, token: &str) -> Result<String, CoreError> {
        let (id, workspace, role, _) = pending(db, token).await?;
        let mut tx = db.pool().begin().await?;
        lock_workspace(&mut tx, &workspace).await?;
        let member: Option<(String,)> =
            sqlx::query_as("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
                .bind(&workspace)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if member.is_some() {
            return Ok(workspace);
        }
        let (members, mine): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM memberships WHERE workspace_id = $1), \
             (SELECT COUNT(*) FROM memberships WHERE user_id = $2)",
        )
        .bind(&workspace)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        if members >= MAX_MEMBERS {
            return Err(CoreError::field(
                "token",
                &format!("This workspace has {MAX_MEMBERS} members, the most it may have."),
            ));
        }
        if mine >= MAX_WORKSPACES {
            return Err(CoreError::field(
                "token",
                &format!(
                    "You belong to {} workspaces, the most one person may: leave one first.",
                    MAX_WORKSPACES
                ),
            ));
        }
        let now = now_ms();
        // One-time: of two acceptances at once, one spends the link and the other finds it spent.
        let spent = sqlx::query(
            "UPDATE invites SET accepted_by = $1, accepted_at = $2 \
             WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(user_id)
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Err(no_invite());
        }
        // Joined meanwhile by another acceptance of theirs: keep that, leave this link unspent.
        let joined = sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&workspace)
        .bind(user_id)
        .bind(role.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if joined.rows_affected() == 0 {
            return Ok(workspace);
        }
        let joined = Actor {
            user_id: user_id.to_owned(),
            workspace_id: workspace.clone(),
            role,
            generation: 0,
        };
        audit::record(&mut *tx, &joined, "member.joined", &id, role.as_str()).await?;
        tx.commit().await?;
        Ok(workspace)
    }

    /// The workspace a session falls back to when its own is gone (left, removed, deleted):
    /// the user's oldest membership — or, for someone left with none, a new personal one.
    /// `None` only when the account itself is gone.
    #[tracing::instrument(skip(db))]
    pub async fn fallback_workspace(db: &Db, user_id: &str) -> Result<Option<String>, CoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT workspace_id FROM memberships WHERE user_id = $1 \
             ORDER BY created_at, workspace_id LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?;
        if let Some((id,)) = row {
            return Ok(Some(id));
        }
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(db.pool())
            .await?;
        match exists {
            Some(_) => Ok(Some(personal_workspace(db, user_id).await?)),
            None => Ok(None),
        }
    }

    /// Creates "<name>'s workspace", owned by `user_id` (someone with no workspace left).
    pub async fn personal_workspace(db: &Db, user_id: &str) -> Result<String, CoreError> {
        let (name,): (String,) = sqlx::query_as("SELECT display_name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(db.pool())
            .await?;
        let (id, now) = (crate::db::new_id(), crate::db::now_ms());
        let mut tx = db.pool().begin().await?;
        crate::workspaces::insert_owned(&mut tx, &id, &format!("{name}'s workspace"), user_id, now)
            .await?;
        tx.commit().await?;
        tracing::info!(user_id, workspace_id = id, "personal workspace made");
        Ok(id)
    }

    /// Creates a workspace owned by the caller (who then switches to it).
    #[tracing::instrument(skip(db))]
    pub async fn create_workspace(
        db: &Db,
        actor: &Actor,
        name: &str,
    ) -> Result<WorkspaceSummary, CoreError> {
        let name = validate_workspace_name(name).map_err(|e| CoreError::Validation(vec![e]))?;
        let mut tx = db.pool().begin().await?;
        // The person's row first: their creations are counted one at a time, and the
        // transaction writes from its first statement (SQLite never has to upgrade a read).
        sqlx::query("UPDATE users SET display_name = display_name WHERE id = $1")
            .bind(&actor.user_id)
            .execute(&mut *tx)
            .await?;
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE user_id = $1")
                .bind(&actor.user_id)
                .fetch_one(&mut *tx)
                .await?;
        if count >= MAX_WORKSPACES {
            return Err(CoreError::field(
                "name",
                &format!("You belong to {MAX_WORKSPACES} workspaces, the most one person may."),
            ));
        }
        let (id, now) = (crate::db::new_id(), crate::db::now_ms());
        crate::workspaces::insert_owned(&mut tx, &id, &name, &actor.user_id, now).await?;
        let owner = Actor {
            workspace_id: id.clone(),
            role: Role::Owner,
            ..actor.clone()
        };
        crate::audit::record(&mut *tx, &owner, "workspace.created", &id, &name).await?;
        tx.commit().await?;
        Ok(WorkspaceSummary {
            id,
            name,
            role: Role::Owner,
        })
    }

    /// Renames the caller's workspace (owners).
    #[tracing::instrument(skip(db))]
    pub async fn rename_workspace(db: &Db, actor: &Actor, name: &str) -> Result<(), CoreError> {
        require_owner(actor)?;
        let name = validate_workspace_name(name).map_err(|e| CoreError::Validation(vec![e]))?;
        let mut tx = db.pool().begin().await?;
        lock_workspace(&mut tx, &actor.workspace_id).await?;
        let (before,): (String,) = sqlx::query_as("SELECT name FROM workspaces WHERE id = $1")
            .bind(&actor.workspace_id)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2")
            .bind(&name)
            .bind(&actor.workspace_id)
            .execute(&mut *tx)
            .await?;
        let detail = format!("{before} → {name}");
        crate::audit::record(
            &mut *tx,
            actor,
            "workspace.renamed",
            &actor.workspace_id,
            &detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the caller's workspace with everything in it — agents and their versions, runs,
    /// provider keys, API tokens, limits, budget records, invitations, its audit log — once
    /// `confirm` repeats its name exactly (owners). A person's last workspace stays: there is
    /// nowhere to go without one. Every member's session falls back to another workspace of
    /// theirs on its next request.
    #[tracing::instrument(skip(db))]
    pub async fn delete_workspace(db: &Db, actor: &Actor, confirm: &str) -> Result<(), CoreError> {
        require_owner(actor)?;
        let (name,): (String,) = sqlx::query_as("SELECT name FROM workspaces WHERE id = $1")
            .bind(&actor.workspace_id)
            .fetch_one(db.pool())
            .await?;
        if confirm != name {
            return Err(CoreError::field(
                "confirm",
                "Type the workspace's name exactly to delete it.",
            ));
        }
        let mut tx = db.pool().begin().await?;
        // The write lock first: two deletions at once are serialised and each counts afresh.
        sqlx::query("UPDATE workspaces SET generation = generation WHERE id = $1")
            .bind(&actor.workspace_id)
            .execute(&mut *tx)
            .await?;
        let (count, going): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM memberships WHERE user_id = $1), \
             (SELECT COUNT(*) FROM runs WHERE workspace_id = $2 \
              AND status IN ('queued', 'running'))",
        )
        .bind(&actor.user_id)
        .bind(&actor.workspace_id)
        .fetch_one(&mut *tx)
        .await?;
        if count <= 1 {
            return Err(CoreError::field(
                "confirm",
                "This is your only workspace: create another before deleting this one.",
            ));
        }
        if going > 0 {
            return Err(CoreError::field(
                "confirm",
                "Runs are still going in this workspace: wait for them to end (or stop them), then delete it.",
            ));
        }
        sqlx::query("DELETE FROM workspaces WHERE id = $1")
            .bind(&actor.workspace_id)
            .execute(&mut *tx)
            .await?;
        // Its audit log went with it: the deletion stays on the deleting account's record.
        let (email,): (String,) = sqlx::query_as("SELECT email FROM users WHERE id = $1")
            .bind(&actor.user_id)
            .fetch_one(&mut *tx)
            .await?;
        let subject = crate::audit::AccountSubject {
            user_id: Some(&actor.user_id),
            email: &email,
            client: None,
        };
        crate::audit::record_account(
            &mut *tx,
            subject,
            crate::audit::AccountAction::WorkspaceDeleted,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(workspace_id = actor.workspace_id, "workspace deleted");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
