//! Limits and budgets: the form's rules; the ledger's invariant under concurrency (spent +
//! reserved never above the cap, settlements summing exactly) on both databases; and the gate in
//! the real pipeline — rate-limited and over-budget runs recorded with their explanations, live
//! runs reserving and settling against a local fake provider, unpriced models, the soft alert,
//! token corrections, reservations of a dead instance given back, and Redis shared by two gates.

use std::sync::Arc;
use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::budget::{Hold, Spent, ledger, release_orphans, reserve, settle};
use super::gate::{LimitsGate, RedisDown};
use super::*;
use crate::error::CoreError;
use crate::runs::{RunMode, RunStatus, RunTrigger, RunsConfig};
use crate::testing::{World, draft};

fn form(rpm: &str, tpm: &str, burst: &str, budget: &str, alert: &str) -> LimitsDraft {
    LimitsDraft {
        requests_per_minute: rpm.into(),
        tokens_per_minute: tpm.into(),
        burst: burst.into(),
        monthly_budget_usd: budget.into(),
        soft_alert_percent: alert.into(),
        hard_cap: true,
        unpriced: "refuse".into(),
    }
}

fn fields(e: Vec<crate::validation::FieldError>) -> Vec<String> {
    e.into_iter().map(|e| e.field).collect()
}

#[test]
fn the_form_reads_numbers_and_dollars_and_names_every_wrong_field() {
    let ok = parse_limits(&form("200", "100,000", "20", "$12.50", "80")).unwrap();
    assert_eq!(ok.requests_per_minute, Some(200));
    assert_eq!(ok.tokens_per_minute, Some(100_000));
    assert_eq!(ok.request_capacity(), Some(220));
    assert_eq!(ok.monthly_budget_micros, Some(12_500_000));
    assert_eq!(ok.cap_micros(), Some(12_500_000));
    assert_eq!(ok.soft_alert_percent, Some(80));
    assert_eq!(
        parse_limits(&form("", "", "", "", "")).unwrap(),
        LimitSettings::default()
    );
    assert_eq!(
        parse_limits(&form("", "", "", "0", ""))
            .unwrap()
            .cap_micros(),
        Some(0)
    );
    let wrong = parse_limits(&form("0", "60000001", "-1", "1.0000001", "101")).unwrap_err();
    assert_eq!(
        fields(wrong),
        [
            "requests_per_minute",
            "tokens_per_minute",
            "burst",
            "monthly_budget_usd",
            "soft_alert_percent"
        ]
    );
    // A burst needs a rate, an alert needs a budget; the unpriced policy is one of two.
    let orphans = parse_limits(&LimitsDraft {
        unpriced: "maybe".into(),
        ..form("", "", "5", "", "50")
    })
    .unwrap_err();
    assert_eq!(fields(orphans), ["burst", "soft_alert_percent", "unpriced"]);
    // Dollars round-trip through the form.
    for (text, micros) in [
        ("25", 25_000_000),
        ("0.000001", 1),
        ("12.5", 12_500_000),
        ("0", 0),
    ] {
        assert_eq!(parse_usd_amount(text), Ok(micros));
        assert_eq!(format_usd_amount(micros), text);
    }
    for bad in ["", ".", "1e3", "-5", "10000000.01", "1.2.3", "abc"] {
        assert!(parse_usd_amount(bad).is_err(), "{bad}");
    }
    let back = LimitsDraft::of(&ok);
    assert_eq!(parse_limits(&back).unwrap(), ok);
}

/// A tiny deterministic generator (the runs' random prices and usages).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: i64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as i64
    }
}

on_both_backends!(
    the_ledger_never_passes_its_cap_under_64_concurrent_runs,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let cap = 1_000_000; // $1
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..3 {
            let month = format!("2026-0{}", round + 1);
            // Random most-costs; each run then spends a random part of its reservation.
            let runs: Vec<(String, i64, i64)> = (0..64)
                .map(|i| {
                    let most = 1 + rng.next(60_000);
                    (format!("r{round}-{i}"), most, rng.next(most + 1))
                })
                .collect();
            let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
            let watcher = {
                let (db, ws, month, watching) = (
                    w.db.clone(),
                    a.workspace_id.clone(),
                    month.clone(),
                    watching.clone(),
                );
                tokio::spawn(async move {
                    let mut looks = 0;
                    while watching.load(std::sync::atomic::Ordering::Relaxed) {
                        let l = ledger(&db, &ws, &month).await.unwrap();
                        assert!(l.spent_micros + l.reserved_micros <= cap, "{l:?}");
                        looks += 1;
                        tokio::task::yield_now().await;
                    }
                    looks
                })
            };
            let tasks: Vec<_> = runs
                .iter()
                .cloned()
                .map(|(run_id, most, spends)| {
                    let (db, ws, month) = (w.db.clone(), a.workspace_id.clone(), month.clone());
                    tokio::spawn(async move {
                        let hold = Hold {
                            workspace_id: &ws,
                            scope: "",
                            run_id: &run_id,
                            month: &month,
                            amount_micros: most,
                            cap_micros: Some(cap),
                            instance_id: None,
                        };
                        let reserved = reserve(&db, &hold).await.unwrap();
                        if reserved {
                            tokio::time::sleep(Duration::from_millis(spends as u64 % 7)).await;
                            let done = settle(&db, &ws, &run_id, Spent::Micros(spends), None)
                                .await
                                .unwrap();
                            assert_eq!(done, Some(false));
                            // Settling again to the same cost changes nothing.
                            assert_eq!(
                                settle(&db, &ws, &run_id, Spent::Micros(spends), None)
                                    .await
                                    .unwrap(),
                                Some(false)
                            );
                        }
                        (reserved, spends)
                    })
                })
                .collect();
            let mut spent = 0;
            let mut admitted = 0;
            for t in tasks {
                let (reserved, spends) = t.await.unwrap();
                if reserved {
                    spent += spends;
                    admitted += 1;
                }
            }
            watching.store(false, std::sync::atomic::Ordering::Relaxed);
            assert!(watcher.await.unwrap() > 0);
            let end = ledger(&w.db, &a.workspace_id, &month).await.unwrap();
            assert_eq!(end.reserved_micros, 0, "round {round}");
            assert_eq!(
                end.spent_micros, spent,
                "round {round}: settlements sum exactly"
            );
            assert!(end.spent_micros <= cap);
            // 64 × ~30,000 on average is ~$1.9: the cap refused some, and admitted many.
            assert!(admitted > 10 && admitted < 64, "round {round}: {admitted}");
        }
    }
);

/// An OpenAI chat completion reporting `prompt` / `completion` tokens.
fn openai_used(prompt: i64, completion: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    }))
}

/// The fake provider answers every chat completion whole, with 20 prompt and 40 completion
/// tokens (gpt-4o-mini prices that at 27 µ$).
async fn answer_with_usage(w: &World) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(openai_used(20, 40))
        .mount(&w.upstream)
        .await;
}

fn gate(w: &World) -> LimitsGate {
    LimitsGate::new(w.db.clone(), None, RedisDown::Closed, None)
}

fn with_gate(w: &World, gate: &LimitsGate) -> crate::runs::Runs {
    w.with_config(RunsConfig {
        gate: Arc::new(gate.clone()),
        ..RunsConfig::default()
    })
}

async fn limit(w: &World, actor: &crate::workspaces::Actor, settings: LimitSettings) {
    set_workspace_limits(&w.db, actor, &settings).await.unwrap();
}

async fn run_on(
    w: &World,
    runs: &crate::runs::Runs,
    actor: &crate::workspaces::Actor,
    agent_id: &str,
    mode: RunMode,
    trigger: RunTrigger,
) -> Result<crate::runs::RunView, CoreError> {
    let actor = w.fresh(actor).await;
    let request = crate::runs::RunRequest {
        trigger,
        stream: false,
        ..crate::testing::request(agent_id, "hello", mode)
    };
    runs.run(&actor, request).await
}

async fn statuses(w: &World, ws: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT status, COALESCE(error_kind, ''), error_message FROM runs \
         WHERE workspace_id = $1 ORDER BY created_at, id",
    )
    .bind(ws)
    .fetch_all(w.db.pool())
    .await
    .unwrap()
}

on_both_backends!(
    a_request_limit_refuses_and_records_the_run_past_it,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        let gate = gate(&w);
        let runs = with_gate(&w, &gate);
        // No limits: the gate counts nothing.
        let free = run_on(
            &w,
            &runs,
            &a,
            &agent.id,
            RunMode::Mock,
            RunTrigger::TestPanel,
        )
        .await;
        assert_eq!(free.unwrap().status, RunStatus::Succeeded);
        limit(
            &w,
            &a,
            LimitSettings {
                requests_per_minute: Some(2),
                burst: Some(1),
                ..LimitSettings::default()
            },
        )
        .await;
        // 2 a minute plus a burst of 1: three at once, then one every 30 s.
        let actor = w.fresh(&a).await;
        let started = runs
            .start(
                &actor,
                crate::testing::request(&agent.id, "x", RunMode::Mock),
            )
            .await
            .unwrap();
        let rate = started.rate.unwrap().requests.unwrap();
        assert_eq!((rate.per_minute, rate.capacity, rate.remaining), (2, 3, 2));
        assert!(
            rate.full_in_ms > 25_000 && rate.full_in_ms <= 30_000,
            "{rate:?}"
        );
        started.finished().await.unwrap();
        for _ in 0..2 {
            let ok = run_on(&w, &runs, &a, &agent.id, RunMode::Mock, RunTrigger::Api).await;
            assert_eq!(ok.unwrap().status, RunStatus::Succeeded);
        }
        let refused = run_on(&w, &runs, &a, &agent.id, RunMode::Mock, RunTrigger::Api)
            .await
            .unwrap_err();
        let CoreError::RateLimited { retry_after_secs } = refused else {
            panic!("{refused:?}")
        };
        assert!((25..=30).contains(&retry_after_secs), "{retry_after_secs}");
        let recorded = statuses(&w, &a.workspace_id).await;
        assert_eq!(recorded.len(), 5);
        let (status, kind, message) = recorded.last().unwrap();
        assert_eq!(
            (status.as_str(), kind.as_str()),
            ("rate_limited", "rate_limited")
        );
        let message = message.as_deref().unwrap();
        assert!(message.contains("2 requests per minute"), "{message}");
        // Another workspace has its own limit.
        let b = w.workspace("b@example.com").await;
        let other = w.agent(&b, &draft("Echo", "openai", "")).await;
        let theirs = run_on(&w, &runs, &b, &other.id, RunMode::Mock, RunTrigger::Api).await;
        assert_eq!(theirs.unwrap().status, RunStatus::Succeeded);
        // Only admins set limits.
        let viewer = w
            .join(&a, &w.workspace("v@example.com").await, "member")
            .await;
        let denied = set_workspace_limits(&w.db, &viewer, &LimitSettings::default()).await;
        assert!(matches!(denied, Err(CoreError::Forbidden)));
    }
);

on_both_backends!(
    a_token_limit_counts_input_and_max_tokens_then_what_was_used,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        // max_tokens 50 and a short input: ~65 tokens counted at admission.
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        let gate = gate(&w);
        let runs = with_gate(&w, &gate);
        let settings = LimitSettings {
            tokens_per_minute: Some(1_000),
            ..LimitSettings::default()
        };
        limit(&w, &a, settings.clone()).await;
        let actor = w.fresh(&a).await;
        let started = runs
            .start(
                &actor,
                crate::testing::request(&agent.id, "hello", RunMode::Mock),
            )
            .await
            .unwrap();
        let counted = 1_000 - started.rate.unwrap().tokens.unwrap().remaining;
        assert!((55..=75).contains(&counted), "{counted}");
        let run = started.finished().await.unwrap();
        // Corrected to what the run used (the mock's few tokens), so the window has more left.
        let (_, tokens) = gate.windows(&a.workspace_id, &settings).await;
        let left = tokens.unwrap().remaining;
        assert!(
            left >= 1_000 - run.total_tokens - 1 && left > 1_000 - counted,
            "{left} after a run of {} tokens",
            run.total_tokens
        );
        // A run that can never fit in a minute is refused, saying why.
        let big = w
            .agent(
                &a,
                &crate::agents::AgentDraft {
                    max_tokens: "4000".into(),
                    ..draft("Big", "openai", "")
                },
            )
            .await;
        let refused = run_on(&w, &runs, &a, &big.id, RunMode::Mock, RunTrigger::TestPanel).await;
        // Not worth retrying: a field error on max_tokens (the refusal still on record).
        let Err(CoreError::Validation(fields)) = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(fields[0].field, "max_tokens");
        let recorded = statuses(&w, &a.workspace_id).await;
        let last = recorded.last().unwrap();
        assert_eq!(
            (last.0.as_str(), last.1.as_str()),
            ("rate_limited", "over_token_limit")
        );
        let message = last.2.as_deref().unwrap();
        assert!(
            message.contains("more than the workspace's limit of 1000 tokens"),
            "{message}"
        );
    }
);

on_both_backends!(
    live_runs_reserve_their_most_and_settle_to_their_cost_under_a_hard_cap,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        let gate = gate(&w);
        let runs = with_gate(&w, &gate);
        answer_with_usage(&w).await;
        // gpt-4o-mini: $0.15 / $0.60 per million tokens. A run's most is its ~15 input tokens
        // (three times: a billed attempt may be retried) and 50 output tokens: 7 + 30 = 37 µ$;
        // it costs 20 × 0.15 + 40 × 0.6 = 27 µ$.
        let estimate = runs
            .estimate(&w.fresh(&a).await, &agent.id, "hello")
            .await
            .unwrap();
        assert!(estimate.exact_tokens);
        let most = estimate.reserve_micros.unwrap();
        assert!(estimate.high_micros.unwrap() < most);
        assert!((35..=40).contains(&most), "{estimate:?}");
        assert!(estimate.low_micros.unwrap() <= 4);
        assert_eq!(estimate.remaining_micros, None);
        limit(
            &w,
            &a,
            LimitSettings {
                monthly_budget_micros: Some(100),
                ..LimitSettings::default()
            },
        )
        .await;
        // 100 µ$: three runs fit (27 spent each, and the third's 37 reserved fits in 46 left);
        // after 81 spent, a fourth's 37 does not.
        for _ in 0..3 {
            let run = run_on(
                &w,
                &runs,
                &a,
                &agent.id,
                RunMode::Live,
                RunTrigger::TestPanel,
            )
            .await;
            assert_eq!(run.unwrap().cost_micros, Some(27));
        }
        let refused = run_on(&w, &runs, &a, &agent.id, RunMode::Live, RunTrigger::Api)
            .await
            .unwrap_err();
        let CoreError::BudgetExceeded { message } = refused else {
            panic!("{refused:?}")
        };
        assert!(message.contains("monthly budget of $0.000100"), "{message}");
        assert!(message.contains("resets on"), "{message}");
        // Mock runs spend nothing and are never refused by the budget.
        let mock = run_on(&w, &runs, &a, &agent.id, RunMode::Mock, RunTrigger::Api).await;
        assert_eq!(mock.unwrap().status, RunStatus::Succeeded);
        let month = crate::timefmt::month_of(crate::db::now_ms()).0;
        let l = ledger(&w.db, &a.workspace_id, &month).await.unwrap();
        assert_eq!((l.spent_micros, l.reserved_micros), (81, 0));
        let statuses = statuses(&w, &a.workspace_id).await;
        assert_eq!(
            statuses.iter().filter(|s| s.0 == "budget_exceeded").count(),
            1,
            "{statuses:?}"
        );
        // The usage view says the same, and the estimate shows what is left.
        let usage = usage(&w.db, &w.fresh(&a).await, Some(&gate)).await.unwrap();
        assert_eq!(
            (usage.spent_micros, usage.remaining_micros()),
            (81, Some(19))
        );
        assert_eq!(usage.runs, 5);
        assert_eq!(usage.by_day.iter().map(|d| d.cost_micros).sum::<i64>(), 81);
        let estimate = runs
            .estimate(&w.fresh(&a).await, &agent.id, "hi")
            .await
            .unwrap();
        assert_eq!(estimate.remaining_micros, Some(19));
        // Raising the budget lets runs through again, on the next request.
        limit(
            &w,
            &a,
            LimitSettings {
                monthly_budget_micros: Some(200),
                ..LimitSettings::default()
            },
        )
        .await;
        let again = run_on(&w, &runs, &a, &agent.id, RunMode::Live, RunTrigger::Api).await;
        assert_eq!(again.unwrap().status, RunStatus::Succeeded);
    }
);

on_both_backends!(
    sixty_four_concurrent_live_runs_never_pass_the_cap,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        let gate = gate(&w);
        let runs = with_gate(&w, &gate);
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(openai_used(20, 40).set_delay(Duration::from_millis(30)))
            .mount(&w.upstream)
            .await;
        let cap = 1_000;
        limit(
            &w,
            &a,
            LimitSettings {
                monthly_budget_micros: Some(cap),
                ..LimitSettings::default()
            },
        )
        .await;
        let actor = w.fresh(&a).await;
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (runs, actor, id) = (runs.clone(), actor.clone(), agent.id.clone());
                tokio::spawn(async move {
                    let request = crate::runs::RunRequest {
                        stream: false,
                        ..crate::testing::request(&id, "hello", RunMode::Live)
                    };
                    runs.run(&actor, request).await
                })
            })
            .collect();
        let month = crate::timefmt::month_of(crate::db::now_ms()).0;
        let mut ok = 0;
        let mut over = 0;
        for t in tasks {
            let l = ledger(&w.db, &a.workspace_id, &month).await.unwrap();
            assert!(l.spent_micros + l.reserved_micros <= cap, "{l:?}");
            match t.await.unwrap() {
                Ok(run) => {
                    assert_eq!(
                        run.cost_micros,
                        Some(27),
                        "{:?} {:?}",
                        run.status,
                        run.error_message
                    );
                    ok += 1;
                }
                Err(CoreError::BudgetExceeded { .. }) => over += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        let l = ledger(&w.db, &a.workspace_id, &month).await.unwrap();
        assert_eq!(ok + over, 64);
        assert_eq!((l.spent_micros, l.reserved_micros), (27 * ok, 0));
        // At least the runs whose reservations fit at once, and never more than the cap holds.
        assert!(ok >= cap / 40 && 27 * ok <= cap, "{ok} admitted");
        assert!(over > 0);
    }
);

on_both_backends!(
    unpriced_models_are_refused_under_a_cap_or_counted_as_unknown,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        w.key(&a, "openai_compatible").await;
        let agent = w
            .agent(
                &a,
                &crate::agents::AgentDraft {
                    model: "local-llama".into(),
                    ..draft("Llama", "openai_compatible", "")
                },
            )
            .await;
        answer_with_usage(&w).await;
        let gate = gate(&w);
        let runs = with_gate(&w, &gate);
        let mut settings = LimitSettings {
            monthly_budget_micros: Some(1_000_000),
            ..LimitSettings::default()
        };
        limit(&w, &a, settings.clone()).await;
        let refused = run_on(&w, &runs, &a, &agent.id, RunMode::Live, RunTrigger::Api).await;
        let Err(CoreError::BudgetExceeded { message }) = refused else {
            panic!("{refused:?}")
        };
        assert!(message.contains("local-llama has no price"), "{message}");
        settings.unpriced = UnpricedPolicy::Allow;
        limit(&w, &a, settings.clone()).await;
        let run = run_on(&w, &runs, &a, &agent.id, RunMode::Live, RunTrigger::Api)
            .await
            .unwrap();
        assert_eq!(run.cost_micros, None);
        let month = crate::timefmt::month_of(crate::db::now_ms()).0;
        let l = ledger(&w.db, &a.workspace_id, &month).await.unwrap();
        assert_eq!(
            (l.spent_micros, l.reserved_micros, l.unpriced_runs),
            (0, 0, 1)
        );
        // Without a hard cap, the budget only alerts: unpriced runs go ahead whatever the policy.
        settings.hard_cap = false;
        settings.unpriced = UnpricedPolicy::Refuse;
        limit(&w, &a, settings).await;
        let run = run_on(&w, &runs, &a, &agent.id, RunMode::Live, RunTrigger::Api).await;
        assert_eq!(run.unwrap().status, RunStatus::Succeeded);
    }
);

on_both_backends!(
    crossing_the_soft_alert_is_audited_once_and_shown_to_admins,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        answer_with_usage(&w).await;
        let gate = gate(&w);
        let runs = with_gate(&w, &gate);
        let settings = LimitSettings {
            monthly_budget_micros: Some(100),
            soft_alert_percent: Some(50),
            hard_cap: false,
            ..LimitSettings::default()
        };
        limit(&w, &a, settings.clone()).await;
        let member = w
            .join(&a, &w.workspace("m@example.com").await, "member")
            .await;
        // 27 of 100: below the alert.
        run_on(&w, &runs, &a, &agent.id, RunMode::Live, RunTrigger::Api)
            .await
            .unwrap();
        assert_eq!(alert_for(&w.db, &w.fresh(&a).await).await.unwrap(), None);
        // 54: crossed. Twice more (past the budget: no hard cap) raises nothing new.
        for _ in 0..3 {
            run_on(&w, &runs, &a, &agent.id, RunMode::Live, RunTrigger::Api)
                .await
                .unwrap();
        }
        let alert = alert_for(&w.db, &w.fresh(&a).await).await.unwrap().unwrap();
        assert_eq!(
            (alert.spent_micros, alert.budget_micros, alert.exhausted),
            (108, 100, false)
        );
        assert!(alert.message().contains("(108%)"), "{}", alert.message());
        assert_eq!(
            alert_for(&w.db, &w.fresh(&member).await).await.unwrap(),
            None
        );
        let audited: Vec<(String,)> = sqlx::query_as(
            "SELECT detail FROM audit_events WHERE workspace_id = $1 AND action = 'budget.alert'",
        )
        .bind(&a.workspace_id)
        .fetch_all(w.db.pool())
        .await
        .unwrap();
        assert_eq!(audited.len(), 1, "{audited:?}");
        assert!(audited[0].0.contains("percent=50"));
        // A new budget clears the banner until it is crossed again.
        limit(
            &w,
            &a,
            LimitSettings {
                monthly_budget_micros: Some(1_000),
                ..settings
            },
        )
        .await;
        assert_eq!(alert_for(&w.db, &w.fresh(&a).await).await.unwrap(), None);
        let changes: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM audit_events WHERE workspace_id = $1 AND action = 'limits.set'",
        )
        .bind(&a.workspace_id)
        .fetch_one(w.db.pool())
        .await
        .unwrap();
        assert_eq!(changes.0, 2);
    }
);

on_both_backends!(
    a_dead_instance_s_reservations_are_given_back,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let month = crate::timefmt::month_of(crate::db::now_ms()).0;
        let live = crate::instances::register(&w.db, Duration::from_secs(60))
            .await
            .unwrap();
        for (run_id, instance) in [
            ("gone", Some("dead-instance")),
            ("here", Some(live.id.as_str())),
        ] {
            let hold = Hold {
                workspace_id: &a.workspace_id,
                scope: "",
                run_id,
                month: &month,
                amount_micros: 500,
                cap_micros: Some(1_000),
                instance_id: instance,
            };
            assert!(reserve(&w.db, &hold).await.unwrap());
        }
        // Full: a third is refused.
        let third = Hold {
            workspace_id: &a.workspace_id,
            scope: "",
            run_id: "third",
            month: &month,
            amount_micros: 1,
            cap_micros: Some(1_000),
            instance_id: None,
        };
        assert!(!reserve(&w.db, &third).await.unwrap());
        // The dead instance's run never got a row: its reservation goes back; the live one's stays.
        assert_eq!(
            release_orphans(&w.db, Some(&live.id), 30_000)
                .await
                .unwrap(),
            1
        );
        let l = ledger(&w.db, &a.workspace_id, &month).await.unwrap();
        assert_eq!((l.spent_micros, l.reserved_micros), (0, 500));
        assert!(reserve(&w.db, &third).await.unwrap());
    }
);

fn redis_url() -> String {
    std::env::var("GALAXY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

on_both_backends!(
    two_gates_on_one_redis_enforce_one_limit_and_a_silent_redis_closes_the_api,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        let prefix = format!("galaxy-test:{}", crate::db::new_id());
        let shared = |url: &str| {
            Some(Arc::new(
                crate::limiter::SharedLimiter::new(url, &prefix).unwrap(),
            ))
        };
        let one = with_gate(
            &w,
            &LimitsGate::new(w.db.clone(), shared(&redis_url()), RedisDown::Closed, None),
        );
        let two = with_gate(
            &w,
            &LimitsGate::new(w.db.clone(), shared(&redis_url()), RedisDown::Closed, None),
        );
        limit(
            &w,
            &a,
            LimitSettings {
                requests_per_minute: Some(4),
                ..LimitSettings::default()
            },
        )
        .await;
        let mut ok = 0;
        for i in 0..8 {
            let runs = if i % 2 == 0 { &one } else { &two };
            match run_on(&w, runs, &a, &agent.id, RunMode::Mock, RunTrigger::Api).await {
                Ok(_) => ok += 1,
                Err(CoreError::RateLimited { .. }) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(ok, 4, "one limit across both gates");
        // A Redis that does not answer: the API is refused (retry later), the test panel counts
        // in this process.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", silent.local_addr().unwrap());
        let down = with_gate(
            &w,
            &LimitsGate::new(w.db.clone(), shared(&url), RedisDown::Closed, None),
        );
        let started = std::time::Instant::now();
        let api = run_on(&w, &down, &a, &agent.id, RunMode::Mock, RunTrigger::Api).await;
        assert!(
            matches!(
                api,
                Err(CoreError::Busy {
                    retry_after_secs: 5
                })
            ),
            "{api:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        let panel = run_on(
            &w,
            &down,
            &a,
            &agent.id,
            RunMode::Mock,
            RunTrigger::TestPanel,
        )
        .await;
        assert_eq!(panel.unwrap().status, RunStatus::Succeeded);
        let recorded = statuses(&w, &a.workspace_id).await;
        assert!(
            recorded.iter().any(|s| s.1 == "limits_unavailable"),
            "{recorded:?}"
        );
        // `local` counts the API's runs here too.
        let local = with_gate(
            &w,
            &LimitsGate::new(w.db.clone(), shared(&url), RedisDown::Local, None),
        );
        let api = run_on(&w, &local, &a, &agent.id, RunMode::Mock, RunTrigger::Api).await;
        assert_eq!(api.unwrap().status, RunStatus::Succeeded);
        drop(silent);
    }
);

on_both_backends!(
    an_agent_s_and_a_token_s_own_limits_apply_on_top_of_the_workspace_s,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        w.key(&a, "openai").await;
        let x = w.agent(&a, &draft("X", "openai", "")).await;
        let y = w.agent(&a, &draft("Y", "openai", "")).await;
        let token = crate::api_tokens::create_token(&w.db, &a, "ci", &["run".into()], "30")
            .await
            .unwrap();
        let token_ref = crate::runs::ApiTokenRef {
            id: token.summary.id.clone(),
            name: "ci".into(),
        };
        answer_with_usage(&w).await;
        let gate = gate(&w);
        let runs = with_gate(&w, &gate);
        let with_token = |agent: &str, mode: RunMode| crate::runs::RunRequest {
            trigger: RunTrigger::Api,
            stream: false,
            api_token: Some(token_ref.clone()),
            ..crate::testing::request(agent, "hello", mode)
        };
        // Agent X: one request a minute; Y is not limited.
        let one = LimitSettings {
            requests_per_minute: Some(1),
            ..LimitSettings::default()
        };
        set_override(&w.db, &a, OverrideKind::Agent, &x.id, &one)
            .await
            .unwrap();
        run_on(&w, &runs, &a, &x.id, RunMode::Mock, RunTrigger::Api)
            .await
            .unwrap();
        let refused = run_on(&w, &runs, &a, &x.id, RunMode::Mock, RunTrigger::Api).await;
        assert!(
            matches!(refused, Err(CoreError::RateLimited { .. })),
            "{refused:?}"
        );
        let message = statuses(&w, &a.workspace_id)
            .await
            .pop()
            .unwrap()
            .2
            .unwrap();
        assert!(
            message.contains("this agent: 1 requests per minute"),
            "{message}"
        );
        for _ in 0..3 {
            run_on(&w, &runs, &a, &y.id, RunMode::Mock, RunTrigger::Api)
                .await
                .unwrap();
        }
        // The token: a 50 µ$ budget. Its first live run (37 µ$ held, 27 spent) fits, the second
        // does not; runs without the token go on.
        let capped = LimitSettings {
            monthly_budget_micros: Some(50),
            ..LimitSettings::default()
        };
        set_override(&w.db, &a, OverrideKind::Token, &token.summary.id, &capped)
            .await
            .unwrap();
        let actor = w.fresh(&a).await;
        runs.run(&actor, with_token(&y.id, RunMode::Live))
            .await
            .unwrap();
        let over = runs.run(&actor, with_token(&y.id, RunMode::Live)).await;
        let Err(CoreError::BudgetExceeded { message }) = over else {
            panic!("{over:?}")
        };
        assert!(
            message.contains("this API token's monthly budget of $0.000050"),
            "{message}"
        );
        run_on(&w, &runs, &a, &y.id, RunMode::Live, RunTrigger::Api)
            .await
            .unwrap();
        let month = crate::timefmt::month_of(crate::db::now_ms()).0;
        let scope = scope_of(OverrideKind::Token, &token.summary.id);
        let theirs = super::budget::scope_ledger(&w.db, &a.workspace_id, &scope, &month)
            .await
            .unwrap();
        assert_eq!((theirs.spent_micros, theirs.reserved_micros), (27, 0));
        let all = ledger(&w.db, &a.workspace_id, &month).await.unwrap();
        assert_eq!((all.spent_micros, all.reserved_micros), (54, 0));
        // Listed with names and spend; only admins change them; other workspaces' targets are
        // not found; removing one lifts it.
        let listed = overrides(&w.db, &a.workspace_id).await.unwrap();
        let names: Vec<(&str, i64)> = listed
            .iter()
            .map(|o| (o.target_name.as_str(), o.spent_micros))
            .collect();
        assert_eq!(names.len(), 2);
        assert!(
            names.contains(&("X", 0)) && names.contains(&("ci", 27)),
            "{names:?}"
        );
        let member = w
            .join(&a, &w.workspace("m@example.com").await, "member")
            .await;
        let denied = set_override(&w.db, &member, OverrideKind::Agent, &y.id, &one).await;
        assert!(matches!(denied, Err(CoreError::Forbidden)));
        let b = w.workspace("b@example.com").await;
        let foreign = set_override(&w.db, &b, OverrideKind::Agent, &x.id, &one).await;
        assert!(matches!(foreign, Err(CoreError::NotFound)));
        delete_override(&w.db, &a, OverrideKind::Token, &token.summary.id)
            .await
            .unwrap();
        let actor = w.fresh(&a).await;
        runs.run(&actor, with_token(&y.id, RunMode::Live))
            .await
            .unwrap();
        assert!(matches!(
            delete_override(&w.db, &a, OverrideKind::Token, &token.summary.id).await,
            Err(CoreError::NotFound)
        ));
        // Deleting an agent deletes its own limits.
        crate::agents::delete_agent(&w.db, &a, &x.id).await.unwrap();
        assert!(overrides(&w.db, &a.workspace_id).await.unwrap().is_empty());
        // An override needs a limit.
        assert!(parse_override("", "", "").is_err());
        assert_eq!(
            parse_override("5", "", "1").unwrap().monthly_budget_micros,
            Some(1_000_000)
        );
    }
);
