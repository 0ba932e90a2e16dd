//! Accounts: sign-up and log-in rules (shared, so the browser shows the same field errors the
//! server enforces) and, on the server, argon2id password hashing, log-in throttling and the
//! sign-up / log-in business functions.

use crate::validation::FieldError;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;
pub const MAX_DISPLAY_NAME_CHARS: usize = 80;

/// Trims and lower-cases an email: emails are unique case-insensitively.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Field errors for a sign-up form (`email`, `display_name`, `password`).
pub fn validate_sign_up(email: &str, display_name: &str, password: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(m) = check_email(&normalize_email(email)) {
        errors.push(FieldError::new("email", m));
    }
    let name = display_name.trim();
    if name.is_empty() {
        errors.push(FieldError::new("display_name", "Enter your name."));
    } else if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        errors.push(FieldError::new(
            "display_name",
            format!("Use at most {MAX_DISPLAY_NAME_CHARS} characters."),
        ));
    }
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "password",
            format!("Use at least {MIN_PASSWORD_CHARS} characters."),
        ));
    } else if n > MAX_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "password",
            format!("Use at most {MAX_PASSWORD_CHARS} characters."),
        ));
    }
    errors
}

fn check_email(email: &str) -> Result<(), &'static str> {
    if email.is_empty() {
        return Err("Enter your email address.");
    }
    if email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Err("Enter a valid email address.");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(())
        }
        _ => Err("Enter a valid email address."),
    }
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use std::num::NonZeroU32;
    use std::sync::Arc;

    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};
    use governor::clock::{Clock, DefaultClock};
    use governor::{DefaultKeyedRateLimiter, Quota};
    use secrecy::{ExposeSecret, SecretString};
    use tokio::sync::{OnceCell, Semaphore};

    use super::*;
    use crate::db::{Db, is_unique_violation, new_id, now_ms};
    use crate::error::CoreError;

    /// argon2id with OWASP's minimum parameters: 19 MiB, t = 2, p = 1.
    fn argon2() -> Result<Argon2<'static>, CoreError> {
        let params = Params::new(19 * 1024, 2, 1, None)
            .map_err(|e| CoreError::Internal(format!("argon2 params: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Hashes and verifies passwords off the async executor, at most `permits` at a time, so a
    /// log-in flood cannot exhaust memory (each hash takes 19 MiB) or starve other requests.
    #[derive(Clone)]
    pub struct Passwords {
        permits: Arc<Semaphore>,
        dummy: Arc<OnceCell<String>>,
    }

    impl std::fmt::Debug for Passwords {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Passwords")
        }
    }

    impl Passwords {
        pub fn new(concurrent_hashes: usize) -> Passwords {
            Passwords {
                permits: Arc::new(Semaphore::new(concurrent_hashes.max(1))),
                dummy: Arc::new(OnceCell::new()),
            }
        }

        /// A PHC string for `password`.
        pub async fn hash(&self, password: SecretString) -> Result<String, CoreError> {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| CoreError::Internal("hasher closed".into()))?;
            tokio::task::spawn_blocking(move || {
                let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
                    .map_err(|e| CoreError::Internal(format!("salt: {e}")))?;
                argon2()?
                    .hash_password(password.expose_secret().as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(|e| CoreError::Internal(format!("hash: {e}")))
            })
            .await
            .map_err(|e| CoreError::Internal(format!("hash task: {e}")))?
        }

        /// Whether `password` matches `phc`. A malformed stored hash is an internal error.
        pub async fn verify(&self, password: SecretString, phc: String) -> Result<bool, CoreError> {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| CoreError::Internal("hasher closed".into()))?;
            tokio::task::spawn_blocking(move || {
                let parsed = PasswordHash::new(&phc)
                    .map_err(|e| CoreError::Internal(format!("stored hash: {e}")))?;
                Ok(argon2()?
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok())
            })
            .await
            .map_err(|e| CoreError::Internal(format!("verify task: {e}")))?
        }

        /// Spends the same work as a real check, for unknown emails: same answer, similar timing.
        async fn verify_dummy(&self, password: SecretString) -> Result<(), CoreError> {
            let dummy = self
                .dummy
                .get_or_try_init(|| async {
                    let random: String = (0..24).map(|_| rand::random::<char>()).collect();
                    self.hash(SecretString::from(random)).await
                })
                .await?
                .clone();
            self.verify(password, dummy).await.map(|_| ())
        }
    }

    /// Log-in throttling: per account (5 a minute, bursts of 5) and per client address (30 a
    /// minute). Checked before any hashing.
    pub struct LoginThrottle {
        per_account: DefaultKeyedRateLimiter<String>,
        per_client: DefaultKeyedRateLimiter<String>,
    }

    impl std::fmt::Debug for LoginThrottle {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("LoginThrottle")
        }
    }

    impl Default for LoginThrottle {
        fn default() -> Self {
            LoginThrottle::new(5, 30)
        }
    }

    impl LoginThrottle {
        pub fn new(per_account_per_minute: u32, per_client_per_minute: u32) -> LoginThrottle {
            let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
            LoginThrottle {
                per_account: DefaultKeyedRateLimiter::keyed(quota(per_account_per_minute)),
                per_client: DefaultKeyedRateLimiter::keyed(quota(per_client_per_minute)),
            }
        }

        fn check(&self, email: &str, client: Option<&str>) -> Result<(), CoreError> {
            let clock = DefaultClock::default();
            let refuse = |nu: governor::NotUntil<_>| CoreError::RateLimited {
                retry_after_secs: nu.wait_time_from(clock.now()).as_secs().max(1),
            };
            if let Some(client) = client {
                self.per_client
                    .check_key(&client.to_owned())
                    .map_err(refuse)?;
            }
            self.per_account
                .check_key(&email.to_owned())
                .map_err(refuse)?;
            // Bound memory: forget keys whose limits have fully replenished.
            if self.per_account.len() > 10_000 {
                self.per_account.retain_recent();
            }
            if self.per_client.len() > 10_000 {
                self.per_client.retain_recent();
            }
            Ok(())
        }
    }

    /// A signed-in identity, to be stored in the session.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct SignedIn {
        pub user_id: String,
        pub workspace_id: String,
    }

    /// Creates a user, a personal workspace and an owner membership, in one transaction.
    #[tracing::instrument(skip(db, passwords, password))]
    pub async fn sign_up(
        db: &Db,
        passwords: &Passwords,
        email: &str,
        display_name: &str,
        password: SecretString,
    ) -> Result<SignedIn, CoreError> {
        let errors = validate_sign_up(email, display_name, password.expose_secret());
        if !errors.is_empty() {
            return Err(CoreError::Validation(errors));
        }
        let email = normalize_email(email);
        let display_name = display_name.trim().to_owned();
        let hash = passwords.hash(password).await?;
        let now = now_ms();
        let user_id = new_id();
        let workspace_id = new_id();
        let mut tx = db.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, display_name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user_id)
        .bind(&email)
        .bind(&display_name)
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(CoreError::field(
                    "email",
                    "An account with this email already exists. Log in instead.",
                ));
            }
            other => other?,
        };
        sqlx::query(
            "INSERT INTO workspaces (id, name, created_by, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&workspace_id)
        .bind(format!("{display_name}'s workspace"))
        .bind(&user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at) \
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(&workspace_id)
        .bind(&user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(user_id, "user signed up");
        Ok(SignedIn {
            user_id,
            workspace_id,
        })
    }

    /// Checks email and password; the same error, after similar work, for an unknown email and a
    /// wrong password. `client` (the peer address) feeds the per-client throttle.
    #[tracing::instrument(skip(db, passwords, throttle, password))]
    pub async fn log_in(
        db: &Db,
        passwords: &Passwords,
        throttle: &LoginThrottle,
        email: &str,
        password: SecretString,
        client: Option<&str>,
    ) -> Result<SignedIn, CoreError> {
        let email = normalize_email(email);
        throttle.check(&email, client)?;
        if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
            return Err(CoreError::InvalidCredentials);
        }
        let user: Option<(String, String)> =
            sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(db.pool())
                .await?;
        let Some((user_id, hash)) = user else {
            passwords.verify_dummy(password).await?;
            return Err(CoreError::InvalidCredentials);
        };
        if !passwords.verify(password, hash).await? {
            return Err(CoreError::InvalidCredentials);
        }
        // The personal workspace: the oldest membership, owner first.
        let ws: Option<(String,)> = sqlx::query_as(
            "SELECT workspace_id FROM memberships WHERE user_id = $1 \
             ORDER BY CASE role WHEN 'owner' THEN 0 ELSE 1 END, created_at LIMIT 1",
        )
        .bind(&user_id)
        .fetch_optional(db.pool())
        .await?;
        let (workspace_id,) = ws.ok_or(CoreError::InvalidCredentials)?;
        tracing::info!(user_id, "user logged in");
        Ok(SignedIn {
            user_id,
            workspace_id,
        })
    }
}

#[cfg(test)]
mod tests;
