use super::*;

#[test]
fn the_stored_key_is_a_hash_not_the_id() {
    let k = key("Ab3dEf");
    assert_eq!(k.len(), 64);
    assert!(!k.contains("Ab3dEf"));
    assert_eq!(k, key("Ab3dEf"));
    assert_ne!(k, key("Ab3dEg"));
}

#[cfg(feature = "server")]
mod stored {
    use super::*;
    use crate::db::now_ms;
    use crate::testing::World;

    on_both_backends!(
        sessions_insert_update_expire_and_never_come_back,
        |w: World| async move {
            let me = w.workspace("s@example.com").await;
            let live = StoredSession {
                data: r#"{"uid":"x"}"#.to_owned(),
                expires_at: now_ms() + 60_000,
            };
            assert!(insert(&w.db, "k1", Some(&me.user_id), &live).await.unwrap());
            // A taken key is reported, not overwritten.
            assert!(!insert(&w.db, "k1", None, &live).await.unwrap());
            assert_eq!(load(&w.db, "k1").await.unwrap(), Some(live.clone()));
            let changed = StoredSession {
                data: r#"{"uid":"y"}"#.to_owned(),
                ..live.clone()
            };
            assert!(
                update(&w.db, "k1", Some(&me.user_id), &changed)
                    .await
                    .unwrap()
            );
            assert_eq!(load(&w.db, "k1").await.unwrap(), Some(changed.clone()));
            // Ended: a late update writes nothing.
            delete(&w.db, "k1").await.unwrap();
            assert!(
                !update(&w.db, "k1", Some(&me.user_id), &changed)
                    .await
                    .unwrap()
            );
            assert_eq!(load(&w.db, "k1").await.unwrap(), None);
            // Expired: not loaded, and swept.
            let old = StoredSession {
                expires_at: now_ms() - 1,
                ..live
            };
            assert!(insert(&w.db, "k2", Some(&me.user_id), &old).await.unwrap());
            assert_eq!(load(&w.db, "k2").await.unwrap(), None);
            assert_eq!(delete_expired(&w.db).await.unwrap(), 1);
            assert_eq!(count_for_user(&w.db, &me.user_id).await.unwrap(), 0);
        }
    );
}
