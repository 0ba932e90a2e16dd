use super::*;

#[cfg(feature = "server")]
mod accounts {
    use secrecy::SecretString;

    use super::*;
    use crate::audit::AccountAction;
    use crate::auth::throttle::{LoginThrottle, SignupThrottle};
    use crate::error::CoreError;
    use crate::testing::World;
    use crate::workspaces::Role;

    fn pw(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn field_of(e: CoreError) -> Vec<String> {
        match e {
            CoreError::Validation(errs) => errs.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn form<'a>(email: &'a str, name: &'a str, password: &str) -> NewAccount<'a> {
        NewAccount {
            email,
            display_name: name,
            password: pw(password),
        }
    }

    fn ip(s: &str) -> Option<std::net::IpAddr> {
        Some(s.parse().unwrap())
    }

    fn quota(burst: u32) -> governor::Quota {
        governor::Quota::per_hour(std::num::NonZeroU32::new(burst).unwrap())
    }

    async fn events(w: &World, user_id: &str) -> Vec<(AccountAction, String)> {
        crate::audit::account_events(&w.db, user_id, 50)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.client))
            .collect()
    }

    on_both_backends!(
        sign_up_creates_owned_workspace_and_refuses_duplicates,
        |w: World| async move {
            let actor = w.workspace("Ada@Example.com").await;
            assert_eq!(actor.role, Role::Owner);
            let me = crate::workspaces::current_user(&w.db, &actor)
                .await
                .unwrap();
            assert_eq!(me.email, "ada@example.com");
            assert_eq!(me.workspace_name, "Test User's workspace");
            let accounts = crate::testing::accounts();
            // Same email, other case: refused on the email field.
            let err = accounts
                .sign_up(
                    &w.db,
                    form("ADA@example.com", "Other", "another password"),
                    None,
                )
                .await
                .unwrap_err();
            assert_eq!(field_of(err), ["email"]);
            // Bad input: every field named, nothing written.
            let err = accounts
                .sign_up(&w.db, form("nope", "", "short"), None)
                .await
                .unwrap_err();
            assert_eq!(field_of(err), ["email", "display_name", "password"]);
            let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
                .fetch_one(w.db.pool())
                .await
                .unwrap();
            assert_eq!(users, 1);
            // The hash is argon2id, never the password.
            let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users")
                .fetch_one(w.db.pool())
                .await
                .unwrap();
            assert!(
                hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
                "{hash}"
            );
            assert!(!hash.contains("correct horse"));
            // The sign-up is on the account's record.
            assert_eq!(
                events(&w, &actor.user_id).await,
                [(AccountAction::SignedUp, String::new())]
            );
        }
    );

    on_both_backends!(
        sign_ups_are_throttled_per_client_and_never_take_every_hashing_slot,
        |w: World| async move {
            let accounts = Accounts::with_throttles(
                Passwords::new(4),
                LoginThrottle::default(),
                SignupThrottle::per_hour(2, 100),
            );
            for n in 0..2 {
                accounts
                    .sign_up(
                        &w.db,
                        form(&format!("s{n}@example.com"), "S", "long enough"),
                        ip("198.51.100.4"),
                    )
                    .await
                    .unwrap();
            }
            let third = accounts
                .sign_up(
                    &w.db,
                    form("s3@example.com", "S", "long enough"),
                    ip("198.51.100.4"),
                )
                .await;
            assert!(
                matches!(third, Err(CoreError::RateLimited { .. })),
                "{third:?}"
            );
            // Another client still may; a form error costs no attempt.
            let bad = accounts
                .sign_up(&w.db, form("bad", "S", "long enough"), ip("198.51.100.5"))
                .await;
            assert!(matches!(bad, Err(CoreError::Validation(_))));
            for n in 0..2 {
                accounts
                    .sign_up(
                        &w.db,
                        form(&format!("t{n}@example.com"), "T", "long enough"),
                        ip("198.51.100.5"),
                    )
                    .await
                    .unwrap();
            }
            // (That sign-ups hash on half the slots: `passwords::tests`.)
        }
    );

    on_both_backends!(
        log_in_checks_password_throttles_and_records_the_outcome,
        |w: World| async move {
            let actor = w.workspace("grace@example.com").await;
            let accounts = Accounts::with_throttles(
                Passwords::new(2),
                LoginThrottle::new(quota(3), quota(100), quota(100)),
                SignupThrottle::default(),
            );
            let ok = accounts
                .log_in(
                    &w.db,
                    " Grace@Example.com ",
                    pw("correct horse battery"),
                    ip("203.0.113.1"),
                )
                .await
                .unwrap();
            assert_eq!(ok.user_id, actor.user_id);
            assert_eq!(ok.workspace_id, actor.workspace_id);
            let wrong = accounts
                .log_in(
                    &w.db,
                    "grace@example.com",
                    pw("wrong password"),
                    ip("203.0.113.1"),
                )
                .await;
            assert!(matches!(wrong, Err(CoreError::InvalidCredentials)));
            let unknown = accounts
                .log_in(
                    &w.db,
                    "nobody@example.com",
                    pw("whatever1"),
                    ip("203.0.113.1"),
                )
                .await;
            assert!(matches!(unknown, Err(CoreError::InvalidCredentials)));
            // Three attempts for one (account, client): the fourth is refused before hashing.
            let third = accounts
                .log_in(
                    &w.db,
                    "grace@example.com",
                    pw("wrong again"),
                    ip("203.0.113.1"),
                )
                .await;
            assert!(matches!(third, Err(CoreError::InvalidCredentials)));
            let limited = accounts
                .log_in(
                    &w.db,
                    "grace@example.com",
                    pw("correct horse battery"),
                    ip("203.0.113.1"),
                )
                .await;
            assert!(
                matches!(limited, Err(CoreError::RateLimited { retry_after_secs }) if retry_after_secs >= 1)
            );
            // The owner from another address is not held by that.
            accounts
                .log_in(
                    &w.db,
                    "grace@example.com",
                    pw("correct horse battery"),
                    ip("203.0.113.2"),
                )
                .await
                .unwrap();
            // An absurd email is refused before it becomes a throttle key or a query.
            let long = format!("{}@example.com", "a".repeat(300));
            assert!(matches!(
                accounts.log_in(&w.db, &long, pw("whatever1"), None).await,
                Err(CoreError::InvalidCredentials)
            ));
            // What happened, newest first, with the client; throttled attempts are not rows.
            assert_eq!(
                events(&w, &actor.user_id).await,
                [
                    (AccountAction::LoggedIn, "203.0.113.2".to_owned()),
                    (AccountAction::LogInFailed, "203.0.113.1".to_owned()),
                    (AccountAction::LogInFailed, "203.0.113.1".to_owned()),
                    (AccountAction::LoggedIn, "203.0.113.1".to_owned()),
                    (AccountAction::SignedUp, String::new()),
                ]
            );
            // The unknown email's failure is recorded without an account.
            let (orphans,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM account_events WHERE user_id IS NULL AND email = 'nobody@example.com'",
            )
            .fetch_one(w.db.pool())
            .await
            .unwrap();
            assert_eq!(orphans, 1);
        }
    );

    async fn session_of(w: &World, user_id: &str, key: &str) {
        let stored = crate::sessions::StoredSession {
            data: "{}".to_owned(),
            expires_at: crate::db::now_ms() + 60_000,
        };
        assert!(
            crate::sessions::insert(&w.db, key, Some(user_id), &stored)
                .await
                .unwrap()
        );
    }

    on_both_backends!(
        changing_the_password_checks_the_old_one_and_ends_other_sessions,
        |w: World| async move {
            let me = w.workspace("hopper@example.com").await;
            let other = w.workspace("other@example.com").await;
            for key in ["mine", "laptop", "phone"] {
                session_of(&w, &me.user_id, key).await;
            }
            session_of(&w, &other.user_id, "theirs").await;
            let accounts = crate::testing::accounts();
            let change = |current: &str, new: &str| PasswordChange {
                user_id: &me.user_id,
                current: pw(current),
                new: pw(new),
                client: ip("203.0.113.7"),
                keep_session: "mine",
            };
            let wrong = accounts
                .change_password(&w.db, change("not it at all", "a new password"))
                .await
                .unwrap_err();
            assert_eq!(field_of(wrong), ["current_password"]);
            let short = accounts
                .change_password(&w.db, change(crate::testing::PASSWORD, "short"))
                .await
                .unwrap_err();
            assert_eq!(field_of(short), ["new_password"]);
            assert_eq!(
                crate::sessions::count_for_user(&w.db, &me.user_id)
                    .await
                    .unwrap(),
                3
            );
            let ended = accounts
                .change_password(&w.db, change(crate::testing::PASSWORD, "a new password"))
                .await
                .unwrap();
            assert_eq!(ended, 2);
            assert_eq!(
                crate::sessions::count_for_user(&w.db, &me.user_id)
                    .await
                    .unwrap(),
                1
            );
            assert!(
                crate::sessions::load(&w.db, "mine")
                    .await
                    .unwrap()
                    .is_some()
            );
            assert_eq!(
                crate::sessions::count_for_user(&w.db, &other.user_id)
                    .await
                    .unwrap(),
                1
            );
            // The new password works, the old one no longer does.
            assert!(
                accounts
                    .log_in(
                        &w.db,
                        "hopper@example.com",
                        pw(crate::testing::PASSWORD),
                        None
                    )
                    .await
                    .is_err()
            );
            accounts
                .log_in(&w.db, "hopper@example.com", pw("a new password"), None)
                .await
                .unwrap();
            assert!(
                events(&w, &me.user_id)
                    .await
                    .contains(&(AccountAction::PasswordChanged, "203.0.113.7".to_owned()))
            );
            // Confirming checks the same password.
            accounts
                .confirm_password(&w.db, &me.user_id, pw("a new password"), None)
                .await
                .unwrap();
            let no = accounts
                .confirm_password(&w.db, &me.user_id, pw("guess guess"), None)
                .await
                .unwrap_err();
            assert_eq!(field_of(no), ["password"]);
        }
    );

    on_both_backends!(
        signing_out_everywhere_ends_every_session_of_the_account_only,
        |w: World| async move {
            let me = w.workspace("lovelace@example.com").await;
            let other = w.workspace("babbage@example.com").await;
            session_of(&w, &me.user_id, "a").await;
            session_of(&w, &me.user_id, "b").await;
            session_of(&w, &other.user_id, "c").await;
            assert_eq!(
                sign_out_everywhere(&w.db, &me.user_id, None, None)
                    .await
                    .unwrap(),
                2
            );
            assert_eq!(
                crate::sessions::count_for_user(&w.db, &me.user_id)
                    .await
                    .unwrap(),
                0
            );
            assert_eq!(
                crate::sessions::count_for_user(&w.db, &other.user_id)
                    .await
                    .unwrap(),
                1
            );
            logged_out(&w.db, &me.user_id, ip("203.0.113.9"))
                .await
                .unwrap();
            let seen: Vec<AccountAction> = events(&w, &me.user_id)
                .await
                .into_iter()
                .map(|(a, _)| a)
                .collect();
            assert_eq!(
                seen,
                [
                    AccountAction::LoggedOut,
                    AccountAction::SignedOutEverywhere,
                    AccountAction::SignedUp
                ]
            );
        }
    );
}

/// Two instances (two `Accounts`) whose throttles count in one Redis: a guesser cannot spread
/// attempts over them; sign-ups share the count too. When Redis does not answer, each instance's
/// own throttle still holds.
mod shared {
    use std::sync::Arc;

    use secrecy::SecretString;

    use super::*;
    use crate::auth::throttle::{LoginThrottle, SignupThrottle};
    use crate::error::CoreError;
    use crate::limiter::SharedLimiter;
    use crate::testing::World;

    fn quota(burst: u32) -> governor::Quota {
        governor::Quota::with_period(std::time::Duration::from_secs(3600))
            .unwrap()
            .allow_burst(std::num::NonZeroU32::new(burst).unwrap())
    }

    fn instance(limiter: &Arc<SharedLimiter>) -> Accounts {
        Accounts::with_throttles(
            Passwords::new(2),
            LoginThrottle::new(quota(3), quota(100), quota(100)),
            SignupThrottle::per_hour(2, 100),
        )
        .shared_through(limiter.clone())
    }

    fn redis(prefix: &str) -> Arc<SharedLimiter> {
        let url = std::env::var("GALAXY_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        Arc::new(SharedLimiter::new(&url, prefix).unwrap())
    }

    async fn attempt(accounts: &Accounts, w: &World) -> Result<(), CoreError> {
        accounts
            .log_in(
                &w.db,
                "grace@example.com",
                SecretString::from("wrong password".to_owned()),
                "203.0.113.9".parse().ok(),
            )
            .await
            .map(|_| ())
    }

    on_both_backends!(
        a_guesser_cannot_spread_attempts_over_instances,
        |w: World| async move {
            w.workspace("grace@example.com").await;
            let limiter = redis(&format!("galaxy-test:{}", crate::db::new_id()));
            let (a, b) = (instance(&limiter), instance(&limiter));
            // Three attempts for one (account, client), over both instances; the fourth is
            // refused wherever it lands.
            for accounts in [&a, &b, &a] {
                assert!(matches!(
                    attempt(accounts, &w).await,
                    Err(CoreError::InvalidCredentials)
                ));
            }
            for accounts in [&a, &b] {
                assert!(matches!(
                    attempt(accounts, &w).await,
                    Err(CoreError::RateLimited { retry_after_secs }) if retry_after_secs > 1
                ));
            }
            // Sign-ups: two an hour per client, across both.
            for (n, accounts) in [(1, &a), (2, &b)] {
                let form = NewAccount {
                    email: &format!("new{n}@example.com"),
                    display_name: "New",
                    password: SecretString::from("correct horse battery".to_owned()),
                };
                accounts
                    .sign_up(&w.db, form, "203.0.113.9".parse().ok())
                    .await
                    .unwrap();
            }
            let form = NewAccount {
                email: "new3@example.com",
                display_name: "New",
                password: SecretString::from("correct horse battery".to_owned()),
            };
            assert!(matches!(
                a.sign_up(&w.db, form, "203.0.113.9".parse().ok()).await,
                Err(CoreError::RateLimited { .. })
            ));
        }
    );

    on_both_backends!(
        without_redis_each_instance_still_throttles,
        |w: World| async move {
            w.workspace("grace@example.com").await;
            let gone = Arc::new(SharedLimiter::new("redis://127.0.0.1:9", "galaxy-test").unwrap());
            let a = instance(&gone);
            for _ in 0..3 {
                assert!(matches!(
                    attempt(&a, &w).await,
                    Err(CoreError::InvalidCredentials)
                ));
            }
            assert!(matches!(
                attempt(&a, &w).await,
                Err(CoreError::RateLimited { .. })
            ));
        }
    );
}

#[test]
fn sign_up_rules() {
    assert!(validate_sign_up("Ada@Example.com", "Ada", "correct horse").is_empty());
    let errs = validate_sign_up("nope", "", "short");
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["email", "display_name", "password"]);
    for bad in [
        "",
        "a@b",
        "@b.com",
        "a@.com",
        "a@b.com.",
        "a b@c.com",
        "a@b@c.com",
    ] {
        assert_eq!(
            validate_sign_up(bad, "A", "longenough").len(),
            1,
            "{bad:?} should be refused"
        );
    }
    let long = "x".repeat(MAX_PASSWORD_CHARS + 1);
    assert_eq!(validate_sign_up("a@b.co", "A", &long)[0].field, "password");
    assert_eq!(normalize_email("  Ada@Example.COM "), "ada@example.com");
}
