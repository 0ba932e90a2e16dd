use super::*;

fn usage(p: i64, c: i64) -> Usage {
    Usage {
        prompt_tokens: p,
        completion_tokens: c,
    }
}

#[test]
fn snapshots_match_their_family_and_the_most_specific_wins() {
    let shipped = shipped_prices();
    let p = find_price(&[], &shipped, "openai", "gpt-4o-mini-2024-07-18").unwrap();
    assert_eq!(p.model, "gpt-4o-mini*");
    assert_eq!(
        find_price(&[], &shipped, "openai", "gpt-4o-2024-08-06")
            .unwrap()
            .model,
        "gpt-4o*"
    );
    assert_eq!(
        find_price(&[], &shipped, "openai", "gpt-4.1-mini")
            .unwrap()
            .model,
        "gpt-4.1-mini*"
    );
    assert_eq!(
        find_price(&[], &shipped, "anthropic", "claude-sonnet-4-5-20250929")
            .unwrap()
            .model,
        "claude-sonnet-4-5*"
    );
    assert!(find_price(&[], &shipped, "openai", "my-finetune").is_none());
    assert!(find_price(&[], &shipped, "openai_compatible", "gpt-4o-mini").is_none());
}

#[test]
fn costs_are_exact_micro_dollars_rounded_up() {
    let shipped = shipped_prices();
    let mini = find_price(&[], &shipped, "openai", "gpt-4o-mini").unwrap();
    // 1M input at $0.15 and 1M output at $0.60.
    assert_eq!(cost_micros(usage(1_000_000, 1_000_000), mini), 750_000);
    // 12 input + 5 output tokens = 12·0.15 + 5·0.60 = 4.8 µ$ → 5.
    assert_eq!(cost_micros(usage(12, 5), mini), 5);
    assert_eq!(cost_micros(usage(0, 0), mini), 0);
}

#[test]
fn output_limits_follow_the_model_family() {
    assert_eq!(
        max_output_tokens("openai", "gpt-4o-mini-2024-07-18"),
        16_384
    );
    assert_eq!(max_output_tokens("openai", "gpt-4.1-mini"), 32_768);
    assert_eq!(
        max_output_tokens("anthropic", "claude-3-5-haiku-latest"),
        8_192
    );
    assert_eq!(
        max_output_tokens("anthropic", "claude-sonnet-4-5-20250929"),
        64_000
    );
    assert_eq!(
        max_output_tokens("openai_compatible", "llama-3"),
        DEFAULT_MAX_OUTPUT_TOKENS
    );
    assert_eq!(
        max_output_tokens("openai", "my-finetune"),
        DEFAULT_MAX_OUTPUT_TOKENS
    );
}

#[test]
fn cost_formatting_never_shows_unpriced_as_zero() {
    assert_eq!(format_cost(None), "unpriced");
    assert_eq!(format_cost(Some(0)), "$0.000000");
    assert_eq!(format_cost(Some(1_234_567)), "$1.234567");
}

#[test]
fn typed_prices() {
    assert_eq!(parse_usd_per_mtok("0.15"), Ok(150_000));
    assert_eq!(parse_usd_per_mtok("$3"), Ok(3_000_000));
    assert_eq!(parse_usd_per_mtok(" 0.000001 "), Ok(1));
    assert_eq!(parse_usd_per_mtok(".5"), Ok(500_000));
    for bad in ["", "abc", "-1", "1.0000001", "1e3", "99999999", "20000"] {
        assert!(parse_usd_per_mtok(bad).is_err(), "{bad:?}");
    }
    assert_eq!(format_usd_per_mtok(150_000), "0.15");
    assert_eq!(format_usd_per_mtok(3_000_000), "3");
    assert_eq!(format_usd_per_mtok(0), "0");
}

#[test]
fn unknown_models_are_unpriced_and_overrides_win() {
    assert_eq!(
        price_usage(&[], "openai", "unknown", usage(10, 10), true),
        (None, CostSource::Unpriced)
    );
    let over = vec![ModelPrice {
        provider: "openai_compatible".into(),
        model: "llama-3".into(),
        input_micros_per_mtok: 1_000_000,
        output_micros_per_mtok: 2_000_000,
        effective: "2026-01-01".into(),
        source: PriceSource::Workspace,
    }];
    assert_eq!(
        price_usage(
            &over,
            "openai_compatible",
            "llama-3",
            usage(1000, 500),
            true
        ),
        (Some(2000), CostSource::ProviderUsage)
    );
    assert_eq!(
        price_usage(&[], "openai", "gpt-4o-mini", usage(1000, 0), false),
        (Some(150), CostSource::Estimated)
    );
}

#[cfg(feature = "server")]
mod overrides {
    use wiremock::Mock;
    use wiremock::matchers::method;

    use super::*;
    use crate::error::CoreError;
    use crate::runs::RunMode;
    use crate::testing::{World, draft, openai_stream};

    on_both_backends!(
        workspace_prices_price_runs_and_only_admins_set_them,
        |w: World| async move {
            let a = w.workspace("a@example.com").await;
            Mock::given(method("POST"))
                .respond_with(openai_stream(&["hi"]))
                .mount(&w.upstream)
                .await;
            w.key_with(&a, "openai_compatible", "local", crate::testing::KEY)
                .await;
            let mut d = draft("Local", "openai_compatible", "");
            d.model = "llama-3-8b".into();
            let agent = w.agent(&a, &d).await;
            let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
            assert_eq!(
                (run.cost_micros, run.cost_source),
                (None, CostSource::Unpriced),
                "never $0 for an unknown model"
            );

            let err = set_price_override(&w.db, &a, "openai_compatible", "llama 3", "x", "-1")
                .await
                .unwrap_err();
            assert!(
                matches!(err, CoreError::Validation(ref e) if e.iter().map(|f| f.field.as_str()).collect::<Vec<_>>() == ["model", "input_price", "output_price"])
            );
            set_price_override(&w.db, &a, "openai_compatible", "llama-3*", "1", "2")
                .await
                .unwrap();
            // 1000 prompt tokens × $1/M + 500 × $2/M = 1000 + 1000 µ$.
            let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
            assert_eq!(
                (run.cost_micros, run.cost_source),
                (Some(2000), CostSource::ProviderUsage)
            );
            // Replacing the price applies to the next run; deleting it makes the model unpriced again.
            set_price_override(&w.db, &a, "openai_compatible", "llama-3*", "2", "2")
                .await
                .unwrap();
            let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
            assert_eq!(run.cost_micros, Some(3000));
            // Another workspace is not affected, and members cannot set prices.
            let b = w.workspace("b@example.com").await;
            assert!(
                workspace_prices(&w.db, &b.workspace_id)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert!(matches!(
                delete_price_override(&w.db, &b, "openai_compatible", "llama-3*").await,
                Err(CoreError::NotFound)
            ));
            let m = w.workspace("m@example.com").await;
            let member = w.join(&a, &m, "member").await;
            assert!(matches!(
                set_price_override(&w.db, &member, "openai", "gpt-4o", "1", "1").await,
                Err(CoreError::Forbidden)
            ));
            delete_price_override(&w.db, &a, "openai_compatible", "llama-3*")
                .await
                .unwrap();
            let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
            assert_eq!(run.cost_micros, None);
        }
    );
}
