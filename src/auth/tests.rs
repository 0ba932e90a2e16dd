use super::*;

#[cfg(feature = "server")]
mod accounts {
    use secrecy::SecretString;

    use super::*;
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
            // Same email, other case: refused on the email field.
            let err = sign_up(
                &w.db,
                &Passwords::new(1),
                "ADA@example.com",
                "Other",
                pw("another password"),
            )
            .await
            .unwrap_err();
            assert_eq!(field_of(err), ["email"]);
            // Bad input: every field named, nothing written.
            let err = sign_up(&w.db, &Passwords::new(1), "nope", "", pw("short"))
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
        }
    );

    on_both_backends!(
        log_in_checks_password_and_throttles,
        |w: World| async move {
            let actor = w.workspace("grace@example.com").await;
            let passwords = Passwords::new(2);
            let throttle = LoginThrottle::new(3, 100);
            let ok = log_in(
                &w.db,
                &passwords,
                &throttle,
                " Grace@Example.com ",
                pw("correct horse battery"),
                None,
            )
            .await
            .unwrap();
            assert_eq!(ok.user_id, actor.user_id);
            assert_eq!(ok.workspace_id, actor.workspace_id);
            let wrong = log_in(
                &w.db,
                &passwords,
                &throttle,
                "grace@example.com",
                pw("wrong password"),
                None,
            )
            .await;
            assert!(matches!(wrong, Err(CoreError::InvalidCredentials)));
            let unknown = log_in(
                &w.db,
                &passwords,
                &throttle,
                "nobody@example.com",
                pw("whatever1"),
                None,
            )
            .await;
            assert!(matches!(unknown, Err(CoreError::InvalidCredentials)));
            // Three attempts a minute for one account: the fourth is refused before any hashing.
            let third = log_in(
                &w.db,
                &passwords,
                &throttle,
                "grace@example.com",
                pw("wrong again"),
                None,
            )
            .await;
            assert!(matches!(third, Err(CoreError::InvalidCredentials)));
            let limited = log_in(
                &w.db,
                &passwords,
                &throttle,
                "grace@example.com",
                pw("correct horse battery"),
                None,
            )
            .await;
            assert!(
                matches!(limited, Err(CoreError::RateLimited { retry_after_secs }) if retry_after_secs >= 1)
            );
            // Per-client limit applies across accounts.
            let per_client = LoginThrottle::new(100, 2);
            for _ in 0..2 {
                let _ = log_in(
                    &w.db,
                    &passwords,
                    &per_client,
                    "x@example.com",
                    pw("whatever1"),
                    Some("10.0.0.1"),
                )
                .await;
            }
            let limited = log_in(
                &w.db,
                &passwords,
                &per_client,
                "grace@example.com",
                pw("correct horse battery"),
                Some("10.0.0.1"),
            )
            .await;
            assert!(matches!(limited, Err(CoreError::RateLimited { .. })));
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
