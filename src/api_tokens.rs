//! API tokens: how code calls a workspace's agents (the REST API under `/api/v1` and the
//! OpenAI-compatible `/v1`). A token is `gx_` followed by 32 random bytes (base64url, 43
//! characters); only its SHA-256 and a short display prefix are stored, and the token itself is
//! shown once, at creation. A token has a name, scopes ([`ApiScope`]), an optional expiry, the
//! member who created it and its created / last-used / revoked times.
//!
//! A token acts as its creator in the creator's workspace, with the **intersection** of its
//! scopes and the creator's current role: a `run` token of a viewer cannot run, an `admin` token
//! of a member cannot manage keys. Removing the creator from the workspace disables their
//! tokens — verification ([`authenticate`]) is one query that joins the membership, so a
//! revocation or a removal takes effect with the next request, on every instance, at the cost of
//! the membership query every request makes anyway. Admins and owners create and revoke tokens;
//! every member sees the list (never a secret). Creation and revocation are audited.

use serde::{Deserialize, Serialize};

use crate::validation::FieldError;

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "gx_";
/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;
/// Characters of a whole token: the prefix and 32 bytes in unpadded base64url.
pub const TOKEN_CHARS: usize = 3 + 43;
/// Characters of a token kept for display (`gx_` and the first 6 of the random part).
pub const DISPLAY_CHARS: usize = 9;
pub const MAX_NAME_CHARS: usize = 60;
/// The longest expiry a token may be given, in days.
pub const MAX_EXPIRY_DAYS: i64 = 3650;
/// The expiries the form offers (days; 0 = never); the first is the default.
pub const EXPIRY_CHOICES: [(i64, &str); 5] = [
    (30, "30 days"),
    (7, "7 days"),
    (90, "90 days"),
    (365, "1 year"),
    (0, "Never"),
];

crate::string_enum! {
    /// What a token may do (always within its creator's role).
    pub enum ApiScope("API token scope") {
        /// Call agents (start runs).
        Run = "run",
        /// Read agents and runs.
        Read = "read",
        /// Manage the workspace through the API (limits, keys, members).
        Admin = "admin",
    }
}

impl ApiScope {
    /// Human wording for the form.
    pub fn describe(self) -> &'static str {
        match self {
            ApiScope::Run => "run — call agents",
            ApiScope::Read => "read — read agents and runs",
            ApiScope::Admin => "admin — manage the workspace",
        }
    }
}

crate::string_enum! {
    /// Where a token is in its life, when it was read.
    pub enum TokenStatus("API token status") {
        Active = "active",
        Expired = "expired",
        Revoked = "revoked",
    }
}

impl TokenStatus {
    /// The status of a token with these times, at `now` (ms).
    pub fn at(now: i64, expires_at: Option<i64>, revoked_at: Option<i64>) -> TokenStatus {
        if revoked_at.is_some() {
            TokenStatus::Revoked
        } else if expires_at.is_some_and(|t| t <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

/// A token as every member may see it: never the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenSummary {
    pub id: String,
    pub name: String,
    /// The token's first characters (`gx_AbC123`), to recognise it.
    pub prefix: String,
    pub scopes: Vec<ApiScope>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// As of when it was read.
    pub status: TokenStatus,
}

/// A token just created: the only time its secret is answered.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub summary: ApiTokenSummary,
    pub token: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("summary", &self.summary)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// A new token's form, checked (shared, so the browser shows the same errors): the trimmed name,
/// the scopes (each once, in [`ApiScope::ALL`] order) and the expiry in days (`None` = never).
pub fn validate_new_token(
    name: &str,
    scopes: &[String],
    expires_in_days: &str,
) -> Result<(String, Vec<ApiScope>, Option<i64>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = name.trim();
    if name.is_empty() {
        errors.push(FieldError::new(
            "name",
            "Name the token after what uses it, e.g. \"billing service\".",
        ));
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError::new(
            "name",
            format!("Use at most {MAX_NAME_CHARS} characters."),
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "Remove control characters from the name.",
        ));
    }
    let mut chosen = Vec::new();
    for s in scopes {
        match ApiScope::parse(s.trim()) {
            Ok(scope) => chosen.push(scope),
            Err(_) => {
                errors.push(FieldError::new("scopes", "Scopes are run, read and admin."));
                break;
            }
        }
    }
    let scopes: Vec<ApiScope> = ApiScope::ALL
        .iter()
        .copied()
        .filter(|s| chosen.contains(s))
        .collect();
    if scopes.is_empty() && !errors.iter().any(|e| e.field == "scopes") {
        errors.push(FieldError::new("scopes", "Choose at least one scope."));
    }
    let days = expires_in_days.trim();
    let expiry = match days {
        "" | "0" | "never" => Ok(None),
        d => match d.parse::<i64>() {
            Ok(n) if (1..=MAX_EXPIRY_DAYS).contains(&n) => Ok(Some(n)),
            _ => Err(()),
        },
    };
    if expiry.is_err() {
        errors.push(FieldError::new(
            "expires_in_days",
            format!("Enter a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or never."),
        ));
    }
    match expiry {
        Ok(expiry) if errors.is_empty() => Ok((name.to_owned(), scopes, expiry)),
        _ => Err(errors),
    }
}

/// Whether `text` has the shape of a token (checked before anything is looked up).
pub fn looks_like_token(text: &str) -> bool {
    text.len() == TOKEN_CHARS
        && text.starts_with(TOKEN_PREFIX)
        && text[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    use sqlx::Row;
    use sqlx::any::AnyRow;

    use super::*;
    use crate::audit;
    use crate::db::{Db, new_id, now_ms};
    use crate::error::CoreError;
    use crate::workspaces::{Actor, Role, require_admin};

    /// How stale a token's `last_used_at` may get before a request refreshes it (one write a
    /// minute at most, however busy the token).
    const TOUCH_EVERY_MS: i64 = 60_000;
    const DAY_MS: i64 = 24 * 3600 * 1000;

    /// The stored hash of a token: lower-case hex SHA-256. A token holds 256 random bits, so a
    /// fast hash is the right one (there is nothing to brute-force), and looking the hash up by
    /// index reveals nothing about a near miss.
    pub fn hash(token: &str) -> String {
        let digest = Sha256::digest(token.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn generate() -> String {
        let bytes: [u8; TOKEN_BYTES] = rand::random();
        format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    }

    /// Who is calling with a token: its creator in the token's workspace, and what the token
    /// may do.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct TokenActor {
        pub actor: Actor,
        pub token_id: String,
        pub token_name: String,
        pub scopes: Vec<ApiScope>,
    }

    /// An API token as a run keeps it: its id and its name.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ApiTokenRef {
        pub id: String,
        pub name: String,
    }

    impl TokenActor {
        /// The token, as the runs it starts keep it.
        pub fn token_ref(&self) -> ApiTokenRef {
            ApiTokenRef {
                id: self.token_id.clone(),
                name: self.token_name.clone(),
            }
        }

        /// Refuses (`Forbidden`) unless the token has `scope` and its creator's role allows
        /// what the scope is for: `run` needs a builder, `admin` an admin, `read` any member.
        pub fn require(&self, scope: ApiScope) -> Result<&Actor, CoreError> {
            let role_allows = match scope {
                ApiScope::Run => self.actor.role.can_build(),
                ApiScope::Admin => self.actor.role.can_admin(),
                ApiScope::Read => self.actor.role >= Role::Viewer,
            };
            if self.scopes.contains(&scope) && role_allows {
                Ok(&self.actor)
            } else {
                Err(CoreError::Forbidden)
            }
        }
    }

    fn parse_scopes(text: &str) -> Result<Vec<ApiScope>, CoreError> {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| ApiScope::parse(s).map_err(|e| CoreError::Internal(format!("stored {e}"))))
            .collect()
    }

    fn join_scopes(scopes: &[ApiScope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    const COLUMNS: &str = "t.id, t.name, t.prefix, t.scopes, u.display_name, t.created_at, \
        t.expires_at, t.last_used_at, t.revoked_at";

    fn summary(row: &AnyRow) -> Result<ApiTokenSummary, CoreError> {
        let expires_at: Option<i64> = row.try_get("expires_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        Ok(ApiTokenSummary {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            scopes: parse_scopes(&row.try_get::<String, _>("scopes")?)?,
            created_by: row.try_get("display_name")?,
            created_at: row.try_get("created_at")?,
            expires_at,
            last_used_at: row.try_get("last_used_at")?,
            revoked_at,
            status: TokenStatus::at(now_ms(), expires_at, revoked_at),
        })
    }

    /// Creates a token (admins and owners). The answer is the only copy of the secret.
    #[tracing::instrument(skip(db))]
    pub async fn create_token(
        db: &Db,
        actor: &Actor,
        name: &str,
        scopes: &[String],
        expires_in_days: &str,
    ) -> Result<CreatedToken, CoreError> {
        require_admin(actor)?;
        let (name, scopes, days) =
            validate_new_token(name, scopes, expires_in_days).map_err(CoreError::Validation)?;
        let token = generate();
        let id = new_id();
        let now = now_ms();
        let expires_at = days.map(|d| now.saturating_add(d.saturating_mul(DAY_MS)));
        let prefix = token[..DISPLAY_CHARS].to_owned();
        let mut tx = db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, workspace_id, created_by, name, prefix, token_hash, \
             scopes, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&actor.workspace_id)
        .bind(&actor.user_id)
        .bind(&name)
        .bind(&prefix)
        .bind(hash(&token))
        .bind(join_scopes(&scopes))
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::record(&mut *tx, actor, "api_token.created", &id, &name).await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.created_by WHERE t.id = $1"
        ))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
        let summary = summary(&row)?;
        tx.commit().await?;
        tracing::info!(token_id = id, "API token created");
        Ok(CreatedToken { summary, token })
    }

    /// The workspace's tokens, newest first (every member; never a secret).
    #[tracing::instrument(skip(db))]
    pub async fn list_tokens(db: &Db, actor: &Actor) -> Result<Vec<ApiTokenSummary>, CoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.created_by \
             WHERE t.workspace_id = $1 ORDER BY t.created_at DESC, t.id DESC LIMIT 500"
        ))
        .bind(&actor.workspace_id)
        .fetch_all(db.pool())
        .await?;
        rows.iter().map(summary).collect()
    }

    /// Revokes a token of the caller's workspace (admins and owners); it stops working with the
    /// next request. Revoking a revoked token changes nothing.
    #[tracing::instrument(skip(db))]
    pub async fn revoke_token(db: &Db, actor: &Actor, id: &str) -> Result<(), CoreError> {
        require_admin(actor)?;
        // Written first: a SQLite transaction that read first may not get to write.
        let mut tx = db.pool().begin().await?;
        let revoked: Option<(String,)> = sqlx::query_as(
            "UPDATE api_tokens SET revoked_at = $1 \
             WHERE id = $2 AND workspace_id = $3 AND revoked_at IS NULL RETURNING name",
        )
        .bind(now_ms())
        .bind(id)
        .bind(&actor.workspace_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((name,)) = revoked else {
            drop(tx);
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT id FROM api_tokens WHERE id = $1 AND workspace_id = $2")
                    .bind(id)
                    .bind(&actor.workspace_id)
                    .fetch_optional(db.pool())
                    .await?;
            return exists.map(|_| ()).ok_or(CoreError::NotFound);
        };
        audit::record(&mut *tx, actor, "api_token.revoked", id, &name).await?;
        tx.commit().await?;
        tracing::info!(token_id = id, "API token revoked");
        Ok(())
    }

    /// The caller of a request bearing `token`, or `Unauthenticated` — for a malformed, unknown,
    /// expired or revoked token, or one whose creator is no longer a member (one answer for all,
    /// so a caller learns nothing about which). One query, which also loads the membership and
    /// the workspace's generation; `last_used_at` is refreshed in the background at most once a
    /// minute.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(db: &Db, token: &str) -> Result<TokenActor, CoreError> {
        if !looks_like_token(token) {
            return Err(CoreError::Unauthenticated);
        }
        let now = now_ms();
        let row = sqlx::query(
            "SELECT t.id, t.name, t.scopes, t.workspace_id, t.created_by, t.last_used_at, \
             m.role, w.generation FROM api_tokens t \
             JOIN memberships m ON m.workspace_id = t.workspace_id AND m.user_id = t.created_by \
             JOIN workspaces w ON w.id = t.workspace_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(hash(token))
        .bind(now)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::Unauthenticated)?;
        let role: String = row.try_get("role")?;
        let caller = TokenActor {
            actor: Actor {
                user_id: row.try_get("created_by")?,
                workspace_id: row.try_get("workspace_id")?,
                role: Role::parse(&role).map_err(|e| CoreError::Internal(format!("stored {e}")))?,
                generation: row.try_get("generation")?,
            },
            token_id: row.try_get("id")?,
            token_name: row.try_get("name")?,
            scopes: parse_scopes(&row.try_get::<String, _>("scopes")?)?,
        };
        let last_used: Option<i64> = row.try_get("last_used_at")?;
        if last_used.is_none_or(|t| now.saturating_sub(t) >= TOUCH_EVERY_MS) {
            let (db, id) = (db.clone(), caller.token_id.clone());
            tokio::spawn(async move {
                let done = sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&id)
                    .execute(db.pool())
                    .await;
                if let Err(e) = done {
                    tracing::warn!(token_id = id, error = %e, "could not record a token's use");
                }
            });
        }
        Ok(caller)
    }
}

#[cfg(test)]
mod tests;
