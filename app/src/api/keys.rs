//! Provider keys: add, list, test, rotate, revoke (admins and owners). The key goes from the
//! browser to the server once, when it is added or rotated; only summaries come back. Adding,
//! rotating and revoking also need a recent password (`confirm_password`).

use galaxy_core::credentials::CredentialSummary;
use galaxy_core::providers::ProviderKind;
use galaxy_core::redacted::Redacted;
use leptos::prelude::*;

use crate::error::AppError;

#[server(endpoint = "list_keys", output = crate::wire::Json)]
pub async fn list_keys() -> Result<Vec<CredentialSummary>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::credentials::list_credentials(&state.db, &actor).await?)
}

/// Providers with a usable key: what live mode can run (any member may ask).
#[server(endpoint = "live_providers", output = crate::wire::Json)]
pub async fn live_providers() -> Result<Vec<ProviderKind>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::credentials::providers_with_keys(&state.db, &actor).await?)
}

#[server(endpoint = "add_key", output = crate::wire::Json)]
pub async fn add_key(
    provider: String,
    label: String,
    base_url: String,
    api_key: Redacted,
) -> Result<CredentialSummary, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::require_admin(&actor)?;
    crate::session::require_recent_password(&state).await?;
    let key = galaxy_core::credentials::NewKey {
        provider: &provider,
        label: &label,
        base_url: &base_url,
        api_key: api_key.into_inner().into(),
    };
    Ok(galaxy_core::credentials::add_credential(
        &state.db,
        &state.vault,
        &state.http.egress,
        &actor,
        key,
    )
    .await?)
}

#[server(endpoint = "rotate_key", output = crate::wire::Json)]
pub async fn rotate_key(id: String, api_key: Redacted) -> Result<CredentialSummary, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::require_admin(&actor)?;
    crate::session::require_recent_password(&state).await?;
    Ok(galaxy_core::credentials::rotate_credential(
        &state.db,
        &state.vault,
        &actor,
        &id,
        api_key.into_inner().into(),
    )
    .await?)
}

#[server(endpoint = "revoke_key", output = crate::wire::Json)]
pub async fn revoke_key(id: String) -> Result<CredentialSummary, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::require_admin(&actor)?;
    crate::session::require_recent_password(&state).await?;
    Ok(galaxy_core::credentials::revoke_credential(&state.db, &actor, &id).await?)
}

/// A real, cheap provider call (list models) with the stored key.
#[server(endpoint = "test_key", output = crate::wire::Json)]
pub async fn test_key(id: String) -> Result<galaxy_core::credentials::KeyTest, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(
        galaxy_core::credentials::test_credential(
            &state.db,
            &state.vault,
            &state.http,
            &actor,
            &id,
        )
        .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::{AddKey, RotateKey};
    use crate::api::auth::{LogIn, SignUp};

    /// Server fn arguments are `Debug` (the macro derives it): a key or a password inside them
    /// prints as `<redacted>`, so no log of a request's arguments can hold one.
    #[test]
    fn keys_and_passwords_never_print() {
        let printed = [
            format!(
                "{:?}",
                AddKey {
                    provider: "openai".into(),
                    label: "prod".into(),
                    base_url: String::new(),
                    api_key: "sk-secret-key-1".to_owned().into(),
                }
            ),
            format!(
                "{:?}",
                RotateKey {
                    id: "k".into(),
                    api_key: "sk-secret-key-2".to_owned().into(),
                }
            ),
            format!(
                "{:?}",
                LogIn {
                    email: "a@example.com".into(),
                    password: "hunter2-secret".to_owned().into(),
                    next: String::new(),
                }
            ),
            format!(
                "{:?}",
                SignUp {
                    email: "a@example.com".into(),
                    display_name: "A".into(),
                    password: "hunter3-secret".to_owned().into(),
                    next: String::new(),
                }
            ),
        ];
        for text in printed {
            assert!(!text.contains("secret"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
    }
}
