//! argon2id password hashing off the async executor, on a bounded number of slots.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OnceCell, Semaphore};

use crate::error::CoreError;

/// argon2id with OWASP's minimum parameters: 19 MiB, t = 2, p = 1.
fn argon2() -> Result<Argon2<'static>, CoreError> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| CoreError::Internal(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes and verifies passwords off the async executor, at most `permits` at a time, so a
/// log-in flood cannot exhaust memory (each hash takes 19 MiB) or starve other requests.
/// New accounts hash on at most half of those slots ([`Passwords::hash_new_account`]): a sign-up
/// flood leaves log-ins the rest.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    sign_up_permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords")
    }
}

impl Passwords {
    pub fn new(concurrent_hashes: usize) -> Passwords {
        let slots = concurrent_hashes.max(1);
        Passwords {
            permits: Arc::new(Semaphore::new(slots)),
            sign_up_permits: Arc::new(Semaphore::new((slots / 2).max(1))),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// A PHC string for `password`.
    pub async fn hash(&self, password: SecretString) -> Result<String, CoreError> {
        let _permit = slot(&self.permits).await?;
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

    /// [`Passwords::hash`] for a sign-up: waits for one of the sign-up slots first.
    pub async fn hash_new_account(&self, password: SecretString) -> Result<String, CoreError> {
        let _share = slot(&self.sign_up_permits).await?;
        self.hash(password).await
    }

    /// Whether `password` matches `phc`. A malformed stored hash is an internal error.
    pub async fn verify(&self, password: SecretString, phc: String) -> Result<bool, CoreError> {
        let _permit = slot(&self.permits).await?;
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
    pub async fn verify_dummy(&self, password: SecretString) -> Result<(), CoreError> {
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

async fn slot(slots: &Semaphore) -> Result<tokio::sync::SemaphorePermit<'_>, CoreError> {
    slots
        .acquire()
        .await
        .map_err(|_| CoreError::Internal("hasher closed".into()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Sign-ups that hold every sign-up slot leave the other half to log-ins: a new account waits,
    /// a password check goes ahead.
    #[tokio::test]
    async fn a_sign_up_flood_leaves_slots_for_log_ins() {
        let p = Passwords::new(4);
        let _flood = p.sign_up_permits.acquire_many(2).await.unwrap();
        let waiting = tokio::time::timeout(
            Duration::from_millis(300),
            p.hash_new_account(SecretString::from("new account".to_owned())),
        )
        .await;
        assert!(waiting.is_err(), "a third sign-up waits for a sign-up slot");
        let phc = tokio::time::timeout(
            Duration::from_secs(10),
            p.hash(SecretString::from("log in".to_owned())),
        )
        .await
        .expect("hashing for a log-in is not held by sign-ups")
        .unwrap();
        assert!(
            p.verify(SecretString::from("log in".to_owned()), phc)
                .await
                .unwrap()
        );
    }
}
