//! Provider credentials (API keys), per workspace. The key itself is sealed by the [`crate::vault`]
//! before it is stored and never leaves the server again: the browser sees a summary (provider,
//! label, last four characters, dates, status). Admins and owners add, test, rotate and revoke;
//! every change writes an audit event. Rotation adds a new key that becomes the one runs use,
//! while the superseded key keeps working until it is revoked.

use serde::{Deserialize, Serialize};

use crate::providers::ProviderKind;
use crate::validation::FieldError;

pub const MAX_LABEL_CHARS: usize = 60;
pub const MAX_KEY_CHARS: usize = 512;

crate::string_enum! {
    /// Where a key is in its life.
    pub enum CredentialStatus("credential status") {
        /// The key runs use.
        Active = "active",
        /// Replaced by a rotation; still works until revoked.
        Superseded = "superseded",
        /// Erased; never used again.
        Revoked = "revoked",
    }
}

/// A credential as the browser may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialSummary {
    pub id: String,
    pub provider: ProviderKind,
    pub label: String,
    pub base_url: Option<String>,
    pub last4: String,
    pub status: CredentialStatus,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_tested_at: Option<i64>,
    pub last_test_ok: Option<bool>,
}

/// Result of a connection test, for the UI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTest {
    pub ok: bool,
    pub message: String,
}

/// The add-key form's rules (shared, so the browser shows the same errors).
pub fn validate_new_credential(
    provider: &str,
    label: &str,
    base_url: &str,
    api_key: &str,
) -> Result<(ProviderKind, String, Option<String>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let kind = ProviderKind::parse_field(provider, &mut errors);
    let label = label.trim();
    if label.is_empty() {
        errors.push(FieldError::new(
            "label",
            "Give the key a label, e.g. \"production\".",
        ));
    } else if label.chars().count() > MAX_LABEL_CHARS {
        errors.push(FieldError::new(
            "label",
            format!("Use at most {MAX_LABEL_CHARS} characters."),
        ));
    }
    if let Err(m) = check_key(api_key) {
        errors.push(FieldError::new("api_key", m));
    }
    let base_url = base_url.trim();
    let base = match kind {
        Some(ProviderKind::OpenAiCompatible) => match check_base_url(base_url) {
            Ok(u) => Some(u),
            Err(m) => {
                errors.push(FieldError::new("base_url", m));
                None
            }
        },
        _ if !base_url.is_empty() => {
            errors.push(FieldError::new(
                "base_url",
                "Only OpenAI-compatible endpoints take a base URL.",
            ));
            None
        }
        _ => None,
    };
    match kind {
        Some(kind) if errors.is_empty() => Ok((kind, label.to_owned(), base)),
        _ => Err(errors),
    }
}

/// The rules for a key typed into a form.
pub fn check_key(api_key: &str) -> Result<(), String> {
    let key = api_key.trim();
    if key.is_empty() {
        return Err("Paste the API key.".into());
    }
    if key.chars().count() > MAX_KEY_CHARS
        || key.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(
            "That does not look like an API key (no spaces, at most 512 characters).".into(),
        );
    }
    if key.chars().count() < 8 {
        return Err("That key is too short.".into());
    }
    Ok(())
}

fn check_base_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "Enter the endpoint's base URL, e.g. https://example.com/v1".to_owned())?;
    if rest.is_empty()
        || rest.starts_with('/')
        || url.chars().any(|c| c.is_whitespace())
        || url.len() > 300
    {
        return Err("Enter the endpoint's base URL, e.g. https://example.com/v1".to_owned());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The last four characters, all a person ever sees again.
pub fn last4(api_key: &str) -> String {
    let chars: Vec<char> = api_key.trim().chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use secrecy::{ExposeSecret, SecretString};
    use sha2::{Digest, Sha256};
    use sqlx::Row;
    use sqlx::any::AnyRow;

    use super::*;
    use crate::audit;
    use crate::db::{Db, new_id, now_ms};
    use crate::error::CoreError;
    use crate::providers::egress::EgressPolicy;
    use crate::providers::http::{BodyLimits, ProviderHttp};
    use crate::providers::{Endpoint, Provider, scrub};
    use crate::vault::{AAD_VERSION, Binding, Sealed, Vault, VaultError};
    use crate::workspaces::{Actor, bump_generation, require_admin};

    /// Records that a run used key `id` of `workspace_id` at `at`: a statement of the run's
    /// own commit.
    pub fn mark_used(writes: &mut crate::db::Writes, workspace_id: &str, id: &str, at: i64) {
        writes.add(|st| {
            st.sql("UPDATE provider_credentials SET last_used_at = ")
                .bind(at)
                .sql(" WHERE id = ")
                .bind(id)
                .sql(" AND workspace_id = ")
                .bind(workspace_id);
        });
    }

    /// Whether key `id` of `workspace_id` may still be used: not revoked (a rotated key's runs
    /// finish with it). Asked before a run retries.
    pub async fn still_usable(db: &Db, workspace_id: &str, id: &str) -> Result<bool, CoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT status FROM provider_credentials WHERE id = $1 AND workspace_id = $2",
        )
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(db.pool())
        .await?;
        Ok(row.is_some_and(|(status,)| status != "revoked"))
    }

    fn fingerprint(key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    const COLUMNS: &str = "id, provider, label, base_url, last4, status, created_at, rotated_at, \
        last_used_at, last_tested_at, last_test_ok";

    fn summary(row: &AnyRow) -> Result<CredentialSummary, CoreError> {
        let provider: String = row.try_get("provider")?;
        let status: String = row.try_get("status")?;
        let ok: Option<i64> = row.try_get("last_test_ok")?;
        let stored =
            |e: crate::string_enum::UnknownValue| CoreError::Internal(format!("stored {e}"));
        Ok(CredentialSummary {
            id: row.try_get("id")?,
            provider: ProviderKind::parse(&provider).map_err(stored)?,
            label: row.try_get("label")?,
            base_url: row.try_get("base_url")?,
            last4: row.try_get("last4")?,
            status: CredentialStatus::parse(&status).map_err(stored)?,
            created_at: row.try_get("created_at")?,
            rotated_at: row.try_get("rotated_at")?,
            last_used_at: row.try_get("last_used_at")?,
            last_tested_at: row.try_get("last_tested_at")?,
            last_test_ok: ok.map(|v| v != 0),
        })
    }

    async fn insert(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        vault: &Vault,
        actor: &Actor,
        kind: ProviderKind,
        label: &str,
        base_url: Option<&str>,
        api_key: &SecretString,
    ) -> Result<String, CoreError> {
        let id = new_id();
        let key = api_key.expose_secret().trim();
        let sealed = vault
            .seal(
                &SecretString::from(key.to_owned()),
                &Binding {
                    workspace_id: &actor.workspace_id,
                    provider: kind.as_str(),
                    credential_id: &id,
                    base_url,
                },
            )
            .map_err(|e| CoreError::Internal(format!("vault: {e}")))?;
        sqlx::query(
            "INSERT INTO provider_credentials (id, workspace_id, provider, label, base_url, key_id, \
             ciphertext, last4, fingerprint, status, created_by, created_at, aad_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', $10, $11, $12)",
        )
        .bind(&id)
        .bind(&actor.workspace_id)
        .bind(kind.as_str())
        .bind(label)
        .bind(base_url)
        .bind(i64::from(sealed.key_id))
        .bind(&sealed.blob)
        .bind(last4(key))
        .bind(fingerprint(key))
        .bind(&actor.user_id)
        .bind(now_ms())
        .bind(i64::from(sealed.aad_version))
        .execute(&mut **tx)
        .await?;
        Ok(id)
    }

    /// A key as typed into the add-key form.
    pub struct NewKey<'a> {
        pub provider: &'a str,
        pub label: &'a str,
        /// OpenAI-compatible endpoints only; checked against `egress`.
        pub base_url: &'a str,
        pub api_key: SecretString,
    }

    /// Stores a new key (admins and owners).
    #[tracing::instrument(skip(db, vault, egress, key))]
    pub async fn add_credential(
        db: &Db,
        vault: &Vault,
        egress: &EgressPolicy,
        actor: &Actor,
        key: NewKey<'_>,
    ) -> Result<CredentialSummary, CoreError> {
        require_admin(actor)?;
        let NewKey {
            provider,
            label,
            base_url,
            api_key,
        } = key;
        let (kind, label, base_url) =
            validate_new_credential(provider, label, base_url, api_key.expose_secret())
                .map_err(CoreError::Validation)?;
        if let Some(url) = &base_url {
            egress
                .check_url(url)
                .map_err(|m| CoreError::field("base_url", &m))?;
        }
        let mut tx = db.pool().begin().await?;
        let id = insert(
            &mut tx,
            vault,
            actor,
            kind,
            &label,
            base_url.as_deref(),
            &api_key,
        )
        .await?;
        audit::record(
            &mut *tx,
            actor,
            "credential.added",
            &id,
            &format!("{} · {label}", kind.as_str()),
        )
        .await?;
        bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        tracing::info!(
            credential_id = id,
            provider = kind.as_str(),
            "provider key added"
        );
        get_credential(db, actor, &id).await
    }

    pub async fn get_credential(
        db: &Db,
        actor: &Actor,
        id: &str,
    ) -> Result<CredentialSummary, CoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM provider_credentials WHERE id = $1 AND workspace_id = $2"
        ))
        .bind(id)
        .bind(&actor.workspace_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
        summary(&row)
    }

    /// Every key of the workspace, newest first (admins and owners).
    pub async fn list_credentials(
        db: &Db,
        actor: &Actor,
    ) -> Result<Vec<CredentialSummary>, CoreError> {
        require_admin(actor)?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM provider_credentials WHERE workspace_id = $1 \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(&actor.workspace_id)
        .fetch_all(db.pool())
        .await?;
        rows.iter().map(summary).collect()
    }

    /// Which providers have a usable key (for the test panel; any member may ask).
    pub async fn providers_with_keys(
        db: &Db,
        actor: &Actor,
    ) -> Result<Vec<ProviderKind>, CoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT provider FROM provider_credentials \
             WHERE workspace_id = $1 AND status IN ('active', 'superseded')",
        )
        .bind(&actor.workspace_id)
        .fetch_all(db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(p,)| ProviderKind::parse(&p).ok())
            .collect())
    }

    /// Replaces a key: the new one is used from now on; the old one keeps working until revoked.
    #[tracing::instrument(skip(db, vault, api_key))]
    pub async fn rotate_credential(
        db: &Db,
        vault: &Vault,
        actor: &Actor,
        id: &str,
        api_key: SecretString,
    ) -> Result<CredentialSummary, CoreError> {
        require_admin(actor)?;
        check_key(api_key.expose_secret()).map_err(|m| CoreError::field("api_key", &m))?;
        let old = get_credential(db, actor, id).await?;
        if old.status == CredentialStatus::Revoked {
            return Err(CoreError::field(
                "api_key",
                "This key is revoked; add a new key instead.",
            ));
        }
        let mut tx = db.pool().begin().await?;
        let new_id = insert(
            &mut tx,
            vault,
            actor,
            old.provider,
            &old.label,
            old.base_url.as_deref(),
            &api_key,
        )
        .await?;
        sqlx::query(
            "UPDATE provider_credentials SET status = 'superseded', rotated_at = $1 \
             WHERE id = $2 AND workspace_id = $3",
        )
        .bind(now_ms())
        .bind(id)
        .bind(&actor.workspace_id)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut *tx,
            actor,
            "credential.rotated",
            id,
            &format!("replaced by {new_id}"),
        )
        .await?;
        bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        get_credential(db, actor, &new_id).await
    }

    /// Revokes a key: no run uses it again. The ciphertext is erased.
    #[tracing::instrument(skip(db))]
    pub async fn revoke_credential(
        db: &Db,
        actor: &Actor,
        id: &str,
    ) -> Result<CredentialSummary, CoreError> {
        require_admin(actor)?;
        let mut tx = db.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE provider_credentials SET status = 'revoked', revoked_at = $1, ciphertext = '' \
             WHERE id = $2 AND workspace_id = $3 AND status <> 'revoked'",
        )
        .bind(now_ms())
        .bind(id)
        .bind(&actor.workspace_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // Unknown, another workspace's, or already revoked: say which without leaking.
            drop(tx);
            let existing = get_credential(db, actor, id).await?;
            return Ok(existing);
        }
        audit::record(&mut *tx, actor, "credential.revoked", id, "").await?;
        bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        get_credential(db, actor, id).await
    }

    /// A stored key as a run needs it: still sealed (opened per use, so no plaintext key sits in
    /// a cache).
    #[derive(Clone, Debug)]
    pub struct StoredKey {
        pub id: String,
        pub provider: ProviderKind,
        base_url: Option<String>,
        sealed: Sealed,
    }

    fn aad_version_of(row: &AnyRow) -> Result<u32, CoreError> {
        let v: i64 = row.try_get("aad_version")?;
        u32::try_from(v).map_err(|_| CoreError::Internal("aad version".into()))
    }

    fn stored(row: &AnyRow) -> Result<StoredKey, CoreError> {
        let provider: String = row.try_get("provider")?;
        let key_id: i64 = row.try_get("key_id")?;
        Ok(StoredKey {
            id: row.try_get("id")?,
            provider: ProviderKind::parse(&provider)
                .map_err(|e| CoreError::Internal(format!("stored {e}")))?,
            base_url: row.try_get("base_url")?,
            sealed: Sealed {
                key_id: u32::try_from(key_id).map_err(|_| CoreError::Internal("key id".into()))?,
                blob: row.try_get("ciphertext")?,
                aad_version: aad_version_of(row)?,
            },
        })
    }

    impl StoredKey {
        /// Opens the key and says where it goes: first-party keys only ever to the operator's
        /// URL, OpenAI-compatible keys to their own base URL — if the egress policy still
        /// allows it (a field error on `mode` otherwise).
        pub fn open(
            &self,
            vault: &Vault,
            workspace_id: &str,
            http: &ProviderHttp,
        ) -> Result<Endpoint, CoreError> {
            self.check_egress(http)
                .map_err(|m| CoreError::field("mode", &format!("This key's endpoint: {m}")))?;
            let urls = &http.urls;
            let api_key = vault
                .open_sealed(
                    &self.sealed,
                    &Binding {
                        workspace_id,
                        provider: self.provider.as_str(),
                        credential_id: &self.id,
                        base_url: self.base_url.as_deref(),
                    },
                )
                .map_err(|e| match e {
                    // Changed outside Galaxy (its base URL edited in the database, say): the key
                    // is not sent anywhere; the person re-enters it.
                    VaultError::Decrypt => {
                        tracing::warn!(credential_id = self.id, "a stored key does not decrypt");
                        CoreError::field(
                            "mode",
                            "This provider key cannot be opened: it was changed outside Galaxy. \
                             Rotate it in Settings → Provider keys.",
                        )
                    }
                    other => CoreError::Internal(format!("vault: {other}")),
                })?;
            let base_url = match self.provider {
                ProviderKind::OpenAi => urls.openai.clone(),
                ProviderKind::Anthropic => urls.anthropic.clone(),
                ProviderKind::OpenAiCompatible => self
                    .base_url
                    .clone()
                    .ok_or_else(|| CoreError::Internal("compatible key without base URL".into()))?,
            };
            Ok(Endpoint {
                kind: self.provider,
                base_url,
                api_key,
                extra_headers: Vec::new(),
            })
        }
    }

    impl StoredKey {
        /// Whether the egress policy allows this key's endpoint now (the row may predate it).
        fn check_egress(&self, http: &ProviderHttp) -> Result<(), String> {
            match (&self.provider, &self.base_url) {
                (ProviderKind::OpenAiCompatible, Some(url)) => http.egress.check_url(url),
                _ => Ok(()),
            }
        }
    }

    /// How many provider keys are stored sealed (revoked keys are erased and do not count).
    pub async fn count_sealed(db: &Db) -> Result<i64, CoreError> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM provider_credentials WHERE ciphertext <> ''")
                .fetch_one(db.pool())
                .await?;
        Ok(n)
    }

    /// Checks that `vault` opens the stored keys — one per master key id they were sealed
    /// with —, so a keyring that is not the one they were sealed with (a lost file regenerated,
    /// a wrong `GALAXY_KEYRING`) is found at start, not at the first run. The message names
    /// the master keys it cannot open, never a key.
    pub async fn check_vault_opens_keys(db: &Db, vault: &Vault) -> Result<(), String> {
        let samples = sqlx::query(
            "SELECT p.id, p.workspace_id, p.provider, p.base_url, p.key_id, p.ciphertext, \
             p.aad_version, n.stored \
             FROM provider_credentials p JOIN ( \
               SELECT key_id, MIN(id) AS first_id, COUNT(*) AS stored FROM provider_credentials \
               WHERE ciphertext <> '' GROUP BY key_id \
             ) n ON p.id = n.first_id ORDER BY p.key_id",
        )
        .fetch_all(db.pool())
        .await
        .map_err(|e| format!("reading the stored provider keys: {e}"))?;
        let mut unopened = Vec::new();
        for row in &samples {
            let opened = (|| {
                let key_id: i64 = row.try_get("key_id").ok()?;
                let sealed = Sealed {
                    key_id: u32::try_from(key_id).ok()?,
                    blob: row.try_get("ciphertext").ok()?,
                    aad_version: aad_version_of(row).ok()?,
                };
                let workspace_id: String = row.try_get("workspace_id").ok()?;
                let provider: String = row.try_get("provider").ok()?;
                let id: String = row.try_get("id").ok()?;
                let base_url: Option<String> = row.try_get("base_url").ok()?;
                let binding = Binding {
                    workspace_id: &workspace_id,
                    provider: &provider,
                    credential_id: &id,
                    base_url: base_url.as_deref(),
                };
                vault.open_sealed(&sealed, &binding).ok()
            })();
            if opened.is_none() {
                let key_id: i64 = row.try_get("key_id").unwrap_or_default();
                let stored: i64 = row.try_get("stored").unwrap_or_default();
                unopened.push(format!("master key {key_id} ({stored} provider keys)"));
            }
        }
        if unopened.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "this keyring cannot open {}: the keys were sealed with another keyring; restore \
                 that keyring file (or GALAXY_KEYRING) before starting",
                unopened.join(", ")
            ))
        }
    }

    /// The key a run of `provider` uses: the newest active one, else the newest superseded one.
    pub async fn key_for_run(
        db: &Db,
        workspace_id: &str,
        provider: ProviderKind,
    ) -> Result<Option<StoredKey>, CoreError> {
        let row = sqlx::query(
            "SELECT id, provider, base_url, key_id, ciphertext, aad_version FROM provider_credentials \
             WHERE workspace_id = $1 AND provider = $2 AND status IN ('active', 'superseded') \
             ORDER BY CASE status WHEN 'active' THEN 0 ELSE 1 END, created_at DESC LIMIT 1",
        )
        .bind(workspace_id)
        .bind(provider.as_str())
        .fetch_optional(db.pool())
        .await?;
        row.as_ref().map(stored).transpose()
    }

    /// Calls the provider's cheap "list models" with the stored key (admins and owners).
    #[tracing::instrument(skip(db, vault, http))]
    pub async fn test_credential(
        db: &Db,
        vault: &Vault,
        http: &ProviderHttp,
        actor: &Actor,
        id: &str,
    ) -> Result<KeyTest, CoreError> {
        require_admin(actor)?;
        let row = sqlx::query(
            "SELECT id, provider, base_url, key_id, ciphertext, aad_version FROM provider_credentials \
             WHERE id = $1 AND workspace_id = $2 AND status <> 'revoked'",
        )
        .bind(id)
        .bind(&actor.workspace_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
        let key = stored(&row)?;
        let test = if let Err(message) = key.check_egress(http) {
            KeyTest { ok: false, message }
        } else {
            let ep = key.open(vault, &actor.workspace_id, http)?;
            let secret = ep.api_key.expose_secret().to_owned();
            let limits = BodyLimits::new(crate::providers::DEFAULT_MAX_OUTPUT_BYTES);
            let client = http.client_for(key.provider);
            match Provider::new(ep, limits).check_key(client).await {
                Ok(()) => KeyTest {
                    ok: true,
                    message: "The provider accepted the key.".into(),
                },
                Err(e) => KeyTest {
                    ok: false,
                    message: scrub(&e.explain(), &[&secret]),
                },
            }
        };
        sqlx::query(
            "UPDATE provider_credentials SET last_tested_at = $1, last_test_ok = $2 \
             WHERE id = $3 AND workspace_id = $4",
        )
        .bind(now_ms())
        .bind(i64::from(test.ok))
        .bind(id)
        .bind(&actor.workspace_id)
        .execute(db.pool())
        .await?;
        audit::record(
            db.pool(),
            actor,
            "credential.tested",
            id,
            if test.ok { "ok" } else { "failed" },
        )
        .await?;
        Ok(test)
    }

    /// Re-seals every stored key whose master key is not the active one, or whose associated
    /// data is of an older layout; returns how many. Safe while the server runs: each row is
    /// updated only if it still holds the ciphertext that was read.
    pub async fn rewrap_all(db: &Db, vault: &Vault) -> Result<u64, CoreError> {
        let active = i64::from(vault.active_key_id());
        let rows = sqlx::query(
            "SELECT id, workspace_id, provider, base_url, key_id, ciphertext, aad_version \
             FROM provider_credentials \
             WHERE (key_id <> $1 OR aad_version < $2) AND status <> 'revoked'",
        )
        .bind(active)
        .bind(i64::from(AAD_VERSION))
        .fetch_all(db.pool())
        .await?;
        let mut done = 0;
        for row in &rows {
            let s = stored(row)?;
            let workspace_id: String = row.try_get("workspace_id")?;
            let binding = Binding {
                workspace_id: &workspace_id,
                provider: s.provider.as_str(),
                credential_id: &s.id,
                base_url: s.base_url.as_deref(),
            };
            let new = vault
                .rewrap(&s.sealed, &binding)
                .map_err(|e| CoreError::Internal(format!("vault: {e}")))?;
            // Each key with its workspace's generation, in one transaction: a cached copy of the
            // old ciphertext is never trusted past this commit.
            let mut tx = db.pool().begin().await?;
            let updated = sqlx::query(
                "UPDATE provider_credentials SET key_id = $1, ciphertext = $2, aad_version = $6 \
                 WHERE id = $3 AND key_id = $4 AND ciphertext = $5",
            )
            .bind(i64::from(new.key_id))
            .bind(&new.blob)
            .bind(&s.id)
            .bind(i64::from(s.sealed.key_id))
            .bind(&s.sealed.blob)
            .bind(i64::from(new.aad_version))
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() > 0 {
                bump_generation(&mut *tx, &workspace_id).await?;
            }
            tx.commit().await?;
            done += updated.rows_affected();
        }
        Ok(done)
    }

    /// How many stored keys each master key still seals.
    pub async fn rows_per_master_key(db: &Db) -> Result<Vec<(u32, i64)>, CoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT key_id, COUNT(*) FROM provider_credentials WHERE status <> 'revoked' \
             GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, n)| u32::try_from(k).ok().map(|k| (k, n)))
            .collect())
    }
}

#[cfg(test)]
mod tests;
