//! Settings → Members: the members and their roles, invitation links, role changes, removal,
//! and the invitation page's join.

use galaxy_core::members::{Invite, Member, NewInvite};
use galaxy_core::workspaces::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What Settings → Members shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersView {
    pub members: Vec<Member>,
    /// The caller, to mark "you" and offer "leave".
    pub me: String,
    pub my_role: Role,
    /// Pending invitations (admins and owners; empty for others).
    pub invites: Vec<Invite>,
}

/// The workspace's members (any member) and, for admins, its pending invitations.
#[server(endpoint = "list_members", output = crate::wire::Json)]
pub async fn list_members() -> Result<MembersView, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let members = galaxy_core::members::list_members(&state.db, &actor).await?;
    let invites = if actor.role.can_admin() {
        galaxy_core::members::list_invites(&state.db, &actor).await?
    } else {
        Vec::new()
    };
    Ok(MembersView {
        members,
        me: actor.user_id,
        my_role: actor.role,
        invites,
    })
}

#[cfg(feature = "ssr")]
fn role_of(text: &str) -> Result<Role, AppError> {
    Role::parse(text.trim()).map_err(|_| {
        AppError::from_core(galaxy_core::CoreError::field(
            "role",
            "Choose viewer, member, admin or owner.",
        ))
    })
}

/// Makes an invitation link giving `role` (admins and owners): its token is answered once.
#[server(endpoint = "create_invite", output = crate::wire::Json)]
pub async fn create_invite(role: String) -> Result<NewInvite, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let role = role_of(&role)?;
    // Granting access is as sensitive as a key: a recent password.
    crate::session::require_recent_password(&state).await?;
    Ok(galaxy_core::members::create_invite(&state.db, &actor, role).await?)
}

/// Revokes a pending invitation (admins and owners).
#[server(endpoint = "revoke_invite", output = crate::wire::Json)]
pub async fn revoke_invite(id: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::members::revoke_invite(&state.db, &actor, &id).await?;
    leptos_axum::redirect("/settings/members");
    Ok(())
}

/// Gives a member another role (admins and owners, within the rules of `galaxy_core::members`).
#[server(endpoint = "change_member_role", output = crate::wire::Json)]
pub async fn change_member_role(user_id: String, role: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let role = role_of(&role)?;
    crate::session::require_recent_password(&state).await?;
    galaxy_core::members::change_role(&state.db, &actor, &user_id, role).await?;
    leptos_axum::redirect("/settings/members");
    Ok(())
}

/// Removes a member (admins and owners), or leaves when `user_id` is the caller; someone who
/// left goes to another workspace of theirs.
#[server(endpoint = "remove_member", output = crate::wire::Json)]
pub async fn remove_member(user_id: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    if user_id != actor.user_id {
        crate::session::require_recent_password(&state).await?;
    }
    galaxy_core::members::remove_member(&state.db, &actor, &user_id).await?;
    if user_id == actor.user_id {
        if let Some(other) =
            galaxy_core::members::fallback_workspace(&state.db, &actor.user_id).await?
        {
            crate::session::switch_to(&other).await?;
        }
        crate::session::redirect_whole("/");
    } else {
        leptos_axum::redirect("/settings/members");
    }
    Ok(())
}

/// What an invitation link offers, and whether the visitor is signed in (anyone with the link).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitePage {
    pub info: galaxy_core::members::InviteInfo,
    pub signed_in: bool,
}

#[server(endpoint = "invite_info", output = crate::wire::Json)]
pub async fn invite_info(token: String) -> Result<InvitePage, AppError> {
    let state = crate::session::state()?;
    let info = galaxy_core::members::invite_info(&state.db, &token).await?;
    let signed_in = crate::session::current_actor(&state).await?.is_some();
    Ok(InvitePage { info, signed_in })
}

/// Joins the invitation's workspace (signed in), switches to it, and goes to its dashboard.
#[server(endpoint = "accept_invite", output = crate::wire::Json)]
pub async fn accept_invite(token: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let workspace = galaxy_core::members::accept_invite(&state.db, &actor.user_id, &token).await?;
    crate::session::switch_to(&workspace).await?;
    crate::session::redirect_whole("/");
    Ok(())
}
