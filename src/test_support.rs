//! Helpers shared by the store and live-mode tests.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use secrecy::SecretString;

use crate::auth::{Passwords, sign_up};
use crate::db::Db;
use crate::workspaces::{Actor, load_actor};

/// Signs up `email` (password "correct horse battery") and returns the owner of its workspace.
pub async fn signed_up(db: &Db, email: &str) -> Actor {
    let s = sign_up(
        db,
        &Passwords::new(2),
        email,
        "Test User",
        SecretString::from("correct horse battery".to_owned()),
    )
    .await
    .unwrap();
    load_actor(db, &s.user_id, &s.workspace_id)
        .await
        .unwrap()
        .unwrap()
}

/// Adds `user` to `owner`'s workspace with `role` and returns them acting there.
pub async fn join_as(db: &Db, owner: &Actor, user: &Actor, role: &str) -> Actor {
    sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, 0)",
    )
    .bind(&owner.workspace_id)
    .bind(&user.user_id)
    .bind(role)
    .execute(db.pool())
    .await
    .unwrap();
    load_actor(db, &user.user_id, &owner.workspace_id)
        .await
        .unwrap()
        .unwrap()
}
