//! The account business functions, behind [`Accounts`]: the hashing slots and the throttles in
//! one place, so every door that checks a password is throttled the same way.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

use super::passwords::Passwords;
use super::throttle::{LoginThrottle, SignupThrottle};
use super::{
    MAX_EMAIL_BYTES, MAX_PASSWORD_CHARS, normalize_email, validate_new_password, validate_sign_up,
};
use crate::audit::{AccountAction, AccountSubject, record_account};
use crate::db::{Db, is_unique_violation, new_id, now_ms};
use crate::error::CoreError;

/// A signed-in identity, to be stored in the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: String,
    pub workspace_id: String,
}

/// What a sign-up form sends.
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password: SecretString,
}

/// A password change: the current password proves it is the owner; every other session of
/// the account ends (the one stored under `keep_session`, the caller's, stays).
pub struct PasswordChange<'a> {
    pub user_id: &'a str,
    pub current: SecretString,
    pub new: SecretString,
    pub client: Option<IpAddr>,
    pub keep_session: &'a str,
}

/// How many sign-ups each client and the whole instance may make, and how many passwords may
/// be hashed at once.
#[derive(Clone, Copy, Debug)]
pub struct AccountLimits {
    pub hashing_slots: usize,
    pub signups_per_client_per_hour: u32,
    pub signups_per_hour: u32,
}

impl Default for AccountLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        AccountLimits {
            hashing_slots: cores * 2,
            signups_per_client_per_hour: 10,
            signups_per_hour: 600,
        }
    }
}

/// Password hashing and the log-in and sign-up throttles (see `throttle`).
#[derive(Debug)]
pub struct Accounts {
    pub passwords: Passwords,
    login: LoginThrottle,
    signup: SignupThrottle,
    /// Where the throttles count when several instances share them (`--redis-url`).
    shared: Option<std::sync::Arc<crate::limiter::SharedLimiter>>,
}

impl Accounts {
    pub fn new(limits: AccountLimits) -> Accounts {
        Accounts::with_throttles(
            Passwords::new(limits.hashing_slots),
            LoginThrottle::default(),
            SignupThrottle::per_hour(limits.signups_per_client_per_hour, limits.signups_per_hour),
        )
    }

    pub fn with_throttles(
        passwords: Passwords,
        login: LoginThrottle,
        signup: SignupThrottle,
    ) -> Accounts {
        Accounts {
            passwords,
            login,
            signup,
            shared: None,
        }
    }

    /// The same accounts with their throttles counted in `limiter`, shared by every instance.
    pub fn shared_through(
        mut self,
        limiter: std::sync::Arc<crate::limiter::SharedLimiter>,
    ) -> Accounts {
        self.shared = Some(limiter);
        self
    }

    /// Counts a log-in attempt: in the shared limiter when there is one and it answers, else
    /// in this instance's.
    async fn check_login(&self, email: &str, client: Option<IpAddr>) -> Result<(), CoreError> {
        if let Some(shared) = &self.shared {
            match self.login.check_shared(shared, email, client).await {
                Ok(verdict) => return verdict,
                Err(e) => tracing::debug!(error = %e, "log-in throttled by this instance alone"),
            }
        }
        self.login.check(email, client)
    }

    async fn login_succeeded(&self, email: &str, client: Option<IpAddr>) {
        match &self.shared {
            Some(shared) => {
                if let Err(e) = self.login.succeeded_shared(shared, email, client).await {
                    tracing::debug!(error = %e, "a known client is remembered by this instance alone");
                }
            }
            None => self.login.succeeded(email, client),
        }
    }

    async fn check_signup(&self, client: Option<IpAddr>) -> Result<(), CoreError> {
        if let Some(shared) = &self.shared {
            match self.signup.check_shared(shared, client).await {
                Ok(verdict) => return verdict,
                Err(e) => tracing::debug!(error = %e, "sign-up throttled by this instance alone"),
            }
        }
        self.signup.check(client)
    }

    /// Creates a user, a personal workspace and an owner membership, in one transaction, with
    /// its `account.signed_up` event.
    #[tracing::instrument(skip_all)]
    pub async fn sign_up(
        &self,
        db: &Db,
        form: NewAccount<'_>,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, CoreError> {
        let errors = validate_sign_up(form.email, form.display_name, form.password.expose_secret());
        if !errors.is_empty() {
            return Err(CoreError::Validation(errors));
        }
        self.check_signup(client).await?;
        let email = normalize_email(form.email);
        let display_name = form.display_name.trim().to_owned();
        let hash = self.passwords.hash_new_account(form.password).await?;
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
        crate::workspaces::insert_owned(
            &mut tx,
            &workspace_id,
            &format!("{display_name}'s workspace"),
            &user_id,
            now,
        )
        .await?;
        let subject = AccountSubject {
            user_id: Some(&user_id),
            email: &email,
            client,
        };
        record_account(&mut *tx, subject, AccountAction::SignedUp).await?;
        tx.commit().await?;
        tracing::info!(user_id, "user signed up");
        Ok(SignedIn {
            user_id,
            workspace_id,
        })
    }

    /// Checks email and password; the same error, after similar work, for an unknown email
    /// and a wrong password. Throttled before any hashing; the outcome is an account event.
    #[tracing::instrument(skip_all)]
    pub async fn log_in(
        &self,
        db: &Db,
        email: &str,
        password: SecretString,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, CoreError> {
        let email = normalize_email(email);
        if email.len() > MAX_EMAIL_BYTES
            || password.expose_secret().chars().count() > MAX_PASSWORD_CHARS
        {
            return Err(CoreError::InvalidCredentials);
        }
        self.check_login(&email, client).await?;
        let user: Option<(String, String)> =
            sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(db.pool())
                .await?;
        let failed = |user_id: Option<String>| {
            let email = email.clone();
            async move {
                let subject = AccountSubject {
                    user_id: user_id.as_deref(),
                    email: &email,
                    client,
                };
                record_account(db.pool(), subject, AccountAction::LogInFailed).await?;
                Err(CoreError::InvalidCredentials)
            }
        };
        let Some((user_id, hash)) = user else {
            self.passwords.verify_dummy(password).await?;
            return failed(None).await;
        };
        if !self.passwords.verify(password, hash).await? {
            return failed(Some(user_id)).await;
        }
        // The personal workspace: the oldest membership, owner first.
        let ws: Option<(String,)> = sqlx::query_as(
            "SELECT workspace_id FROM memberships WHERE user_id = $1 \
             ORDER BY CASE role WHEN 'owner' THEN 0 ELSE 1 END, created_at LIMIT 1",
        )
        .bind(&user_id)
        .fetch_optional(db.pool())
        .await?;
        // Someone who left or lost every workspace gets a new personal one.
        let workspace_id = match ws {
            Some((id,)) => id,
            None => crate::members::personal_workspace(db, &user_id).await?,
        };
        self.login_succeeded(&email, client).await;
        let subject = AccountSubject {
            user_id: Some(&user_id),
            email: &email,
            client,
        };
        record_account(db.pool(), subject, AccountAction::LoggedIn).await?;
        // And in the workspace the session opens, for its admins' audit log.
        let from = client.map(|c| c.to_string()).unwrap_or_default();
        crate::audit::record_by(
            db.pool(),
            (&workspace_id, &user_id),
            "member.signed_in",
            &user_id,
            &from,
        )
        .await?;
        tracing::info!(user_id, "user logged in");
        Ok(SignedIn {
            user_id,
            workspace_id,
        })
    }

    /// Re-authentication: whether `password` is the signed-in user's, throttled as a log-in.
    /// A wrong one is a field error on `password`.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_password(
        &self,
        db: &Db,
        user_id: &str,
        password: SecretString,
        client: Option<IpAddr>,
    ) -> Result<(), CoreError> {
        let (email, hash) = user_email_and_hash(db, user_id).await?;
        if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
            return Err(wrong_password("password"));
        }
        self.check_login(&email, client).await?;
        if self.passwords.verify(password, hash).await? {
            Ok(())
        } else {
            Err(wrong_password("password"))
        }
    }

    /// Changes the password after checking the current one, ends every other session of the
    /// account, and records `account.password_changed`. Returns how many sessions ended.
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        db: &Db,
        change: PasswordChange<'_>,
    ) -> Result<u64, CoreError> {
        if let Some(error) = validate_new_password("new_password", change.new.expose_secret()) {
            return Err(CoreError::Validation(vec![error]));
        }
        let (email, hash) = user_email_and_hash(db, change.user_id).await?;
        if change.current.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
            return Err(wrong_password("current_password"));
        }
        self.check_login(&email, change.client).await?;
        if !self.passwords.verify(change.current, hash).await? {
            return Err(wrong_password("current_password"));
        }
        let new_hash = self.passwords.hash(change.new).await?;
        let mut tx = db.pool().begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(&new_hash)
            .bind(change.user_id)
            .execute(&mut *tx)
            .await?;
        let ended =
            crate::sessions::end_for_user(&mut *tx, change.user_id, Some(change.keep_session))
                .await?;
        let subject = AccountSubject {
            user_id: Some(change.user_id),
            email: &email,
            client: change.client,
        };
        record_account(&mut *tx, subject, AccountAction::PasswordChanged).await?;
        tx.commit().await?;
        tracing::info!(user_id = change.user_id, ended, "password changed");
        Ok(ended)
    }
}

/// Ends every session of the account — but the one stored under `keep`, when given (sign out
/// the others) — and records it. How many ended.
#[tracing::instrument(skip(db, keep))]
pub async fn sign_out_everywhere(
    db: &Db,
    user_id: &str,
    keep: Option<&str>,
    client: Option<IpAddr>,
) -> Result<u64, CoreError> {
    let email = user_email(db, user_id).await?;
    let ended = crate::sessions::end_for_user(db.pool(), user_id, keep).await?;
    let subject = AccountSubject {
        user_id: Some(user_id),
        email: &email,
        client,
    };
    let action = if keep.is_some() {
        AccountAction::SignedOutOthers
    } else {
        AccountAction::SignedOutEverywhere
    };
    record_account(db.pool(), subject, action).await?;
    Ok(ended)
}

/// Changes the account's display name (shown to the workspaces' members and in audit logs).
#[tracing::instrument(skip(db))]
pub async fn rename_account(
    db: &Db,
    user_id: &str,
    display_name: &str,
) -> Result<String, CoreError> {
    let name = crate::auth::validate_display_name(display_name)
        .map_err(|e| CoreError::Validation(vec![e]))?;
    sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
        .bind(&name)
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(name)
}

/// Records a log-out (the session itself is ended by the caller).
pub async fn logged_out(db: &Db, user_id: &str, client: Option<IpAddr>) -> Result<(), CoreError> {
    let email = user_email(db, user_id).await?;
    let subject = AccountSubject {
        user_id: Some(user_id),
        email: &email,
        client,
    };
    record_account(db.pool(), subject, AccountAction::LoggedOut).await
}

fn wrong_password(field: &str) -> CoreError {
    CoreError::field(field, "That is not your current password.")
}

async fn user_email(db: &Db, user_id: &str) -> Result<String, CoreError> {
    let (email,): (String,) = sqlx::query_as("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::Unauthenticated)?;
    Ok(email)
}

async fn user_email_and_hash(db: &Db, user_id: &str) -> Result<(String, String), CoreError> {
    sqlx::query_as("SELECT email, password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::Unauthenticated)
}
