//! Limits and budgets over HTTP: `GET`/`PUT /api/v1/workspace/limits` and
//! `GET /api/v1/workspace/usage` with their scopes and field errors; a request limit answered
//! with the `x-ratelimit-*` headers, then 429 + Retry-After on both APIs with the refused runs on
//! record; a spent budget answered 402 `budget_exceeded`; and the pages showing it all without
//! JavaScript (Settings → Limits & budget, the dashboard's bar, the admins' banner).

use axum::http::StatusCode;
use serde_json::json;

use super::api::{api, error_type, token};
use super::*;

#[test]
fn limits_are_set_over_rest_and_enforced_with_headers_429_and_402_on_both_apis() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "limits-owner@example.com").await;
        create_agent(r, &owner, "Limited").await;
        add_openai_key(r, &owner, "prod", "sk-limits-test-key-0001").await;
        let admin = token(r, &owner, "ops", &["admin", "read", "run"]).await;
        let runner = token(r, &owner, "runner", &["run"]).await;

        // Nothing set: no limits, the default policies.
        let none = api(
            r,
            "GET",
            "/api/v1/workspace/limits",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(none.status, StatusCode::OK, "{}", none.body);
        assert_eq!(
            none.json(),
            json!({ "requests_per_minute": null, "tokens_per_minute": null, "burst": null,
                    "monthly_budget_usd": null, "soft_alert_percent": null, "hard_cap": true,
                    "unpriced_models": "refuse" })
        );
        // Only an admin token may change them; a wrong field is named; an unknown one refused.
        let body = json!({ "requests_per_minute": 2, "monthly_budget_usd": 12.5, "soft_alert_percent": 80 });
        let denied = api(
            r,
            "PUT",
            "/api/v1/workspace/limits",
            Some(&runner),
            Some(body.clone()),
            &[],
        )
        .await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);
        let wrong = json!({ "requests_per_minute": 0, "monthly_budget_usd": -1, "unpriced_models": "maybe" });
        let wrong = api(
            r,
            "PUT",
            "/api/v1/workspace/limits",
            Some(&admin),
            Some(wrong),
            &[],
        )
        .await;
        assert_eq!(
            wrong.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            wrong.body
        );
        let fields: Vec<String> = wrong.json()["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            fields,
            [
                "requests_per_minute",
                "monthly_budget_usd",
                "unpriced_models"
            ]
        );
        let unknown = api(
            r,
            "PUT",
            "/api/v1/workspace/limits",
            Some(&admin),
            Some(json!({ "rpm": 5 })),
            &[],
        )
        .await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
        let set = api(
            r,
            "PUT",
            "/api/v1/workspace/limits",
            Some(&admin),
            Some(body),
            &[],
        )
        .await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert_eq!(set.json()["monthly_budget_usd"], 12.5);
        let read = api(
            r,
            "GET",
            "/api/v1/workspace/limits",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(read.json()["requests_per_minute"], 2);

        // Two a minute: the headers count down, then 429 with Retry-After.
        let run = json!({ "input": "hello", "mode": "mock" });
        for remaining in ["1", "0"] {
            let ok = api(
                r,
                "POST",
                "/api/v1/agents/limited/runs",
                Some(&runner),
                Some(run.clone()),
                &[],
            )
            .await;
            assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
            assert_eq!(ok.headers["x-ratelimit-limit-requests"], "2");
            assert_eq!(ok.headers["x-ratelimit-remaining-requests"], remaining);
            let reset = ok.headers["x-ratelimit-reset-requests"].to_str().unwrap();
            assert!(reset.ends_with('s'), "{reset}");
        }
        let limited = api(
            r,
            "POST",
            "/api/v1/agents/limited/runs",
            Some(&runner),
            Some(run.clone()),
            &[],
        )
        .await;
        assert_eq!(
            limited.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            limited.body
        );
        assert_eq!(error_type(&limited), "rate_limited");
        let wait: u64 = limited.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=30).contains(&wait), "{wait}");
        // The OpenAI-compatible endpoint shares the limit, in OpenAI's shape.
        let chat =
            json!({ "model": "agent/limited", "messages": [{ "role": "user", "content": "hi" }] });
        let oai = api(
            r,
            "POST",
            "/v1/chat/completions",
            Some(&runner),
            Some(chat),
            &[("x-galaxy-mode", "mock")],
        )
        .await;
        assert_eq!(oai.status, StatusCode::TOO_MANY_REQUESTS, "{}", oai.body);
        assert_eq!(oai.json()["error"]["code"], "rate_limit_exceeded");
        assert!(oai.headers.contains_key("retry-after"));
        // Both refusals are runs on record, saying why.
        let refused = api(
            r,
            "GET",
            "/api/v1/runs?status=rate_limited",
            Some(&admin),
            None,
            &[],
        )
        .await;
        let refused = refused.json();
        let refused = refused["data"].as_array().unwrap();
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(
            refused[0]["error_message"]
                .as_str()
                .unwrap()
                .contains("2 requests per minute")
        );

        // A spent budget: live runs answer 402 budget_exceeded (the run is on record).
        let zero = json!({ "monthly_budget_usd": 0 });
        let set = api(
            r,
            "PUT",
            "/api/v1/workspace/limits",
            Some(&admin),
            Some(zero),
            &[],
        )
        .await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        let live = json!({ "input": "hello", "mode": "live" });
        let broke = api(
            r,
            "POST",
            "/api/v1/agents/limited/runs",
            Some(&runner),
            Some(live),
            &[],
        )
        .await;
        assert_eq!(broke.status, StatusCode::PAYMENT_REQUIRED, "{}", broke.body);
        assert_eq!(error_type(&broke), "budget_exceeded");
        let message = broke.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("resets on"), "{message}");
        let chat =
            json!({ "model": "agent/limited", "messages": [{ "role": "user", "content": "hi" }] });
        // OpenAI's own answer for a spent quota, which its SDKs know not to retry.
        let oai = api(
            r,
            "POST",
            "/v1/chat/completions",
            Some(&runner),
            Some(chat),
            &[],
        )
        .await;
        assert_eq!(oai.status, StatusCode::TOO_MANY_REQUESTS, "{}", oai.body);
        assert_eq!(oai.json()["error"]["code"], "insufficient_quota");
        assert!(
            oai.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("monthly budget")
        );

        // Usage: the month's runs, nothing spent, nothing left.
        let usage = api(r, "GET", "/api/v1/workspace/usage", Some(&admin), None, &[]).await;
        assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
        let usage = usage.json();
        assert_eq!(usage["runs"], 6, "{usage}");
        assert_eq!(usage["spent_micros"], 0);
        assert_eq!(usage["budget_micros"], 0);
        assert_eq!(usage["remaining_micros"], 0);
        assert_eq!(usage["by_day"].as_array().unwrap().len(), 1);
        assert!(usage["month"].as_str().unwrap().len() == 7);
        assert!(usage["requests"].is_null());

        // The pages, without JavaScript: the banner on every page for the owner (the budget is
        // used up), the dashboard's spend line, the settings form with the values.
        for page in ["/", "/agents", "/settings/limits"] {
            let html = get(r, page, Some(&owner)).await;
            assert_eq!(html.status, StatusCode::OK);
            assert!(html.body.contains("data-banner=\"budget\""), "{page}");
            assert!(
                html.body.contains("live runs are refused until then"),
                "{page}"
            );
        }
        let dashboard = get(r, "/", Some(&owner)).await.body;
        assert!(dashboard.contains("Spend and limits"));
        assert!(dashboard.contains("$0.000000 of $0.000000 spent this month"));
        let settings = get(r, "/settings/limits", Some(&owner)).await.body;
        assert!(settings.contains("name=\"monthly_budget_usd\""));
        assert!(
            settings.contains("value=\"0\""),
            "the saved budget is in the form"
        );
    });
}

#[test]
fn the_settings_form_saves_limits_for_admins_only_and_shows_the_estimate() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "form-owner@example.com").await;
        let agent = create_agent(r, &owner, "Estimated").await;
        let save = |rpm: &'static str| {
            vec![
                ("requests_per_minute", rpm),
                ("tokens_per_minute", "100000"),
                ("burst", "5"),
                ("monthly_budget_usd", "25"),
                ("soft_alert_percent", "80"),
                ("hard_cap", "on"),
                ("unpriced", "allow"),
            ]
        };
        let wrong = call(r, "save_limits", &save("lots"), Some(&owner)).await;
        assert_eq!(
            wrong.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            wrong.body
        );
        assert!(wrong.body.contains("requests_per_minute"), "{}", wrong.body);
        let saved = call(r, "save_limits", &save("120"), Some(&owner)).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        let usage = call(r, "get_usage", &[], Some(&owner)).await.json();
        assert_eq!(usage["limits"]["requests_per_minute"], 120);
        assert_eq!(usage["limits"]["unpriced"], "allow");
        assert_eq!(usage["requests"]["capacity"], 125);
        assert_eq!(usage["requests"]["remaining"], 125);
        // The estimate before Run: gpt-4o-mini, max 100 tokens, and the budget left.
        let id = agent["id"].as_str().unwrap();
        let estimate = call(
            r,
            "estimate_run",
            &[("agent_id", id), ("input", "hello there")],
            Some(&owner),
        )
        .await;
        assert_eq!(estimate.status, StatusCode::OK, "{}", estimate.body);
        let e = estimate.json();
        assert_eq!(e["max_tokens"], 100);
        assert_eq!(e["exact_tokens"], true);
        assert!(e["low_micros"].as_i64().unwrap() < e["high_micros"].as_i64().unwrap());
        assert_eq!(e["remaining_micros"], 25_000_000);
        let page = get(r, &format!("/agents/{id}"), Some(&owner)).await.body;
        assert!(page.contains("data-estimate=\"cost\""));
        assert!(
            page.contains("Budget left this month: $25"),
            "the estimate renders on the server"
        );
    });
}

#[test]
fn an_agent_s_own_limit_is_set_listed_and_removed_over_rest() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "override-owner@example.com").await;
        create_agent(r, &owner, "Narrow").await;
        let admin = token(r, &owner, "ops", &["admin", "read", "run"]).await;
        let path = "/api/v1/workspace/limits/overrides/agent:narrow";
        let bad = api(
            r,
            "PUT",
            "/api/v1/workspace/limits/overrides/narrow",
            Some(&admin),
            Some(json!({ "requests_per_minute": 1 })),
            &[],
        )
        .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
        let missing = api(
            r,
            "PUT",
            "/api/v1/workspace/limits/overrides/agent:nope",
            Some(&admin),
            Some(json!({ "requests_per_minute": 1 })),
            &[],
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
        let empty = api(r, "PUT", path, Some(&admin), Some(json!({})), &[]).await;
        assert_eq!(
            empty.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            empty.body
        );
        let set = api(
            r,
            "PUT",
            path,
            Some(&admin),
            Some(json!({ "requests_per_minute": 1 })),
            &[],
        )
        .await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert_eq!(set.json()["data"][0]["requests_per_minute"], 1);
        let run = json!({ "input": "hello", "mode": "mock" });
        let first = api(
            r,
            "POST",
            "/api/v1/agents/narrow/runs",
            Some(&admin),
            Some(run.clone()),
            &[],
        )
        .await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.headers["x-ratelimit-limit-requests"], "1");
        let second = api(
            r,
            "POST",
            "/api/v1/agents/narrow/runs",
            Some(&admin),
            Some(run.clone()),
            &[],
        )
        .await;
        assert_eq!(
            second.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            second.body
        );
        let listed = api(
            r,
            "GET",
            "/api/v1/workspace/limits/overrides",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let listed = listed.json();
        assert_eq!(listed["data"][0]["kind"], "agent");
        assert_eq!(listed["data"][0]["target_name"], "Narrow");
        assert_eq!(listed["data"][0]["requests_per_minute"], 1);
        let gone = api(r, "DELETE", path, Some(&admin), None, &[]).await;
        assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
        assert_eq!(gone.json()["data"], json!([]));
        let again = api(r, "DELETE", path, Some(&admin), None, &[]).await;
        assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
        let third = api(
            r,
            "POST",
            "/api/v1/agents/narrow/runs",
            Some(&admin),
            Some(run),
            &[],
        )
        .await;
        assert_eq!(third.status, StatusCode::OK, "{}", third.body);
        // The Settings page lists what is set, without JavaScript.
        let set = api(
            r,
            "PUT",
            path,
            Some(&admin),
            Some(json!({ "monthly_budget_usd": 2 })),
            &[],
        )
        .await;
        assert_eq!(set.status, StatusCode::OK);
        let page = get(r, "/settings/limits", Some(&owner)).await.body;
        assert!(page.contains("Agent · Narrow"), "the override is listed");
        assert!(page.contains("$2.000000"));
    });
}
