//! Looking back without JavaScript: compare two runs, replay one on an older version, read the
//! versions, diff two, restore and publish — every page server-rendered, every form a plain POST
//! answered with a redirect; and the REST API running the published version.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use super::*;

/// A form POST as a browser without JavaScript sends it.
pub(super) async fn form_post(
    r: &Router,
    name: &str,
    pairs: &[(&str, &str)],
    cookie: &str,
) -> Reply {
    let body = encode(pairs);
    let req = Request::post(format!("/api/{name}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "text/html")
        .header(header::REFERER, "http://127.0.0.1:3000/")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap();
    send(r, req).await
}

fn location(reply: &Reply) -> String {
    reply
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn save_prompt(r: &Router, cookie: &str, id: &str, prompt: &str) {
    let mut draft = agent_draft("Triage");
    for (k, v) in draft.iter_mut() {
        if k == "draft[system_prompt]" {
            *v = prompt.to_owned();
        }
    }
    draft.push(("id".to_owned(), id.to_owned()));
    let pairs: Vec<(&str, &str)> = draft
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let saved = call(r, "save_agent", &pairs, Some(cookie)).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
}

async fn mock_run(r: &Router, cookie: &str, agent: &str, input: &str) -> String {
    let ran = call(
        r,
        "run_agent",
        &[("agent_id", agent), ("input", input), ("mode", "mock")],
        Some(cookie),
    )
    .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
    ran.json()["id"].as_str().unwrap().to_owned()
}

#[test]
fn compare_replay_versions_restore_and_publish_without_javascript() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "history@example.com").await;
        let agent = create_agent(r, &owner, "Triage").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        save_prompt(r, &owner, &agent, "Answer briefly.").await; // version 2
        let first = mock_run(r, &owner, &agent, "my printer is on fire").await;
        save_prompt(r, &owner, &agent, "Answer at length, citing sources.").await; // version 3
        let second = mock_run(r, &owner, &agent, "my printer is on fire").await;

        // The run page: its version linked, its price table, compare with the previous run,
        // and a replay form.
        let page = get(r, &format!("/runs/{second}"), Some(&owner)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body
                .contains(&format!("href=\"/agents/{agent}/versions/3\"")),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains(&format!("/runs/compare?a={first}&amp;b={second}"))
        );
        assert!(page.body.contains("data-detail=\"price_version\""));
        assert!(page.body.contains("name=\"run_id\""));

        // Compare: the prompt change line by line, the output change, the deltas.
        let cmp = get(
            r,
            &format!("/runs/compare?a={first}&b={second}"),
            Some(&owner),
        )
        .await;
        assert_eq!(cmp.status, StatusCode::OK);
        assert!(
            cmp.body.contains("data-field-diff=\"System prompt\""),
            "{}",
            cmp.body
        );
        assert!(cmp.body.contains("<del>Answer briefly."), "{}", cmp.body);
        assert!(cmp.body.contains("<ins>Answer at length, citing sources."));
        assert!(cmp.body.contains("aria-label=\"Output changes\""));
        assert!(cmp.body.contains("data-delta=\"latency\""));
        // The runs page's checkboxes name the two runs: the same view.
        let picked = get(
            r,
            &format!("/runs/compare?run={second}&run={first}"),
            Some(&owner),
        )
        .await;
        assert!(picked.body.contains("data-field-diff=\"System prompt\""));
        assert!(
            picked
                .body
                .contains(&format!("href=\"/runs/{first}\" data-compare=\"a\""))
        );
        let none = get(r, "/runs/compare", Some(&owner)).await;
        assert!(none.body.contains("Pick two runs"));
        let list = get(r, "/runs", Some(&owner)).await;
        assert!(list.body.contains("form=\"compare-runs\""));

        // Replay the second run on version 2: the new run opens side by side with it.
        let replayed = form_post(
            r,
            "replay_run",
            &[
                ("run_id", &second),
                ("version", "2"),
                ("model", ""),
                ("mode", "mock"),
            ],
            &owner,
        )
        .await;
        assert_eq!(replayed.status, StatusCode::FOUND, "{}", replayed.body);
        let to = location(&replayed);
        assert!(
            to.starts_with(&format!("/runs/compare?a={second}&b=")),
            "{to}"
        );
        let cmp = get(r, &to, Some(&owner)).await;
        assert!(cmp.body.contains("Run B replays run A."));
        assert!(cmp.body.contains("<del>Answer at length, citing sources."));
        // The replay answers as the first run did (same version, same input).
        let new_id = to.rsplit('=').next().unwrap();
        let replay = call(r, "get_run_detail", &[("id", new_id)], Some(&owner))
            .await
            .json();
        let original = call(r, "get_run_detail", &[("id", &first)], Some(&owner))
            .await
            .json();
        assert_eq!(replay["run"]["agent_version"], 2);
        assert_eq!(replay["run"]["replay_of"], second.as_str());
        assert_eq!(replay["run"]["output"], original["run"]["output"]);
        // A bad version is explained.
        let bad = call(
            r,
            "replay_run",
            &[
                ("run_id", &second),
                ("version", "two"),
                ("model", ""),
                ("mode", "mock"),
            ],
            Some(&owner),
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);

        // Versions: newest first, who, what changed; a diff of two; restore version 2.
        let versions = get(r, &format!("/agents/{agent}/versions"), Some(&owner)).await;
        assert_eq!(versions.status, StatusCode::OK);
        assert_eq!(versions.body.matches("<tr data-version=").count(), 3);
        assert!(
            versions.body.contains(">System prompt<"),
            "{}",
            versions.body
        );
        assert!(versions.body.contains(">Created<"));
        assert!(versions.body.contains("Tester"));
        let diff = get(
            r,
            &format!("/agents/{agent}/versions/diff?a=2&b=3"),
            Some(&owner),
        )
        .await;
        assert!(diff.body.contains("<ins>Answer at length, citing sources."));
        let restored = form_post(
            r,
            "restore_agent_version",
            &[("id", &agent), ("version", "2")],
            &owner,
        )
        .await;
        assert_eq!(restored.status, StatusCode::FOUND);
        assert_eq!(location(&restored), format!("/agents/{agent}"));
        let now = call(r, "get_agent", &[("id", &agent)], Some(&owner))
            .await
            .json();
        assert_eq!(now["version"], 4);
        assert_eq!(now["config"]["system_prompt"], "Answer briefly.");
        let versions = get(r, &format!("/agents/{agent}/versions"), Some(&owner)).await;
        assert!(versions.body.contains("Restored from version 2"));
        let v2 = get(r, &format!("/agents/{agent}/versions/2"), Some(&owner)).await;
        assert!(v2.body.contains("Answer briefly."));
        assert!(v2.body.contains("Publish version 2"));
        let missing = get(r, &format!("/agents/{agent}/versions/9"), Some(&owner)).await;
        assert!(missing.body.contains("This agent has no version 9."));

        // Publish version 1: the REST API runs it unless the body names a version.
        let published = form_post(
            r,
            "publish_agent_version",
            &[("id", &agent), ("version", "1")],
            &owner,
        )
        .await;
        assert_eq!(published.status, StatusCode::FOUND);
        let versions = get(r, &format!("/agents/{agent}/versions"), Some(&owner)).await;
        assert!(versions.body.contains("data-published=\"1\""));
        let token = super::api::token(r, &owner, "ci", &["run"]).await;
        let rest = |body: &'static str| {
            Request::post(format!("/api/v1/agents/{agent}/runs"))
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap()
        };
        let run = send(r, rest(r#"{"input": "hi", "mode": "mock"}"#)).await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.body);
        assert_eq!(run.json()["agent_version"], 1);
        let run = send(r, rest(r#"{"input": "hi", "mode": "mock", "version": 3}"#)).await;
        assert_eq!(run.json()["agent_version"], 3);
        let run = send(r, rest(r#"{"input": "hi", "mode": "mock", "version": 99}"#)).await;
        assert_eq!(run.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", run.body);
        assert!(run.body.contains("no version 99"));
    })
}

/// The text of the dashboard card `name`.
fn stat<'a>(html: &'a str, name: &str) -> &'a str {
    let after = html
        .split(&format!("data-stat=\"{name}\""))
        .nth(1)
        .unwrap_or_default();
    let text = after.split_once('>').map_or("", |(_, t)| t);
    text.split('<').next().unwrap_or_default()
}

#[test]
fn the_dashboard_draws_its_charts_without_javascript() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "charts@example.com").await;
        let agent = create_agent(r, &owner, "Charted").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let other = create_agent(r, &owner, "Quiet").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for i in 0..3 {
            mock_run(r, &owner, &agent, &format!("input {i}")).await;
        }
        for (range, bars) in [("24h", 24), ("7d", 7), ("30d", 30)] {
            let page = get(r, &format!("/?range={range}"), Some(&owner)).await;
            assert_eq!(page.status, StatusCode::OK);
            for chart in ["runs", "cost", "tokens", "latency", "errors"] {
                assert!(
                    page.body.contains(&format!("data-chart=\"{chart}\"")),
                    "{chart} in {range}"
                );
            }
            // Accessible: a named image per chart and a data table with a row per bar.
            assert_eq!(page.body.matches("role=\"img\"").count(), 5);
            assert!(
                page.body
                    .contains("<title id=\"runs-title\">Runs by outcome")
            );
            assert!(
                page.body.contains("3 runs, 3 succeeded, 0 errors."),
                "{range}"
            );
            let runs_table = page.body.split("data-chart=\"runs\"").nth(1).unwrap();
            let runs_table = runs_table.split("</table>").next().unwrap();
            assert_eq!(runs_table.matches("<tr>").count(), bars + 1, "{range}");
            assert!(
                page.body
                    .contains(&format!("<option value=\"{range}\" selected"))
            );
            assert!(page.body.contains("data-top=\"runs\""));
            let top = page.body.split("data-top=\"runs\"").nth(1).unwrap();
            assert!(
                top.contains("<li data-runs=\"3\"><a href") && top.contains(">Charted<"),
                "{top}"
            );
            assert_eq!(stat(&page.body, "runs"), "3");
        }
        // One agent: its runs only; the top lists stay the workspace's.
        let quiet = get(r, &format!("/?range=30d&agent={other}"), Some(&owner)).await;
        assert_eq!(stat(&quiet.body, "runs"), "0");
        assert!(quiet.body.contains("<li data-runs=\"3\">"));
        // A bad range is explained; another workspace's agent is not found.
        let bad = get(r, "/?range=1y", Some(&owner)).await;
        assert!(bad.body.contains("Choose 24h, 7d or 30d."), "{}", bad.body);
        let outsider = sign_up(r, "outsider-charts@example.com").await;
        let theirs = call(
            r,
            "get_dashboard",
            &[("range", "30d"), ("agent", &agent)],
            Some(&outsider),
        )
        .await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND);
        let mine = call(r, "get_dashboard", &[("range", "30d")], Some(&outsider))
            .await
            .json();
        assert_eq!(mine["totals"]["runs"], 0);
        // The charts arrive drawn: the outsider's top list is empty, not the owner's.
        let html = mine["report_html"].as_str().unwrap();
        let top = html.split("data-top=\"runs\"").nth(1).unwrap();
        assert!(
            top.contains("No runs in this range.") && !top.contains("Charted"),
            "{top}"
        );
    })
}

/// The dashboard's report is markup the browser places as it is: everything people typed in it
/// is escaped by the server's renderer, in the page and in the answer a range change fetches.
#[test]
fn the_dashboard_report_escapes_what_people_typed() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "escape@example.com").await;
        let name = "<img src=x onerror=alert(1)> & co";
        let agent = create_agent(r, &owner, name).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        mock_run(r, &owner, &agent, "hello").await;
        let dash = call(r, "get_dashboard", &[("range", "24h")], Some(&owner))
            .await
            .json();
        let html = dash["report_html"].as_str().unwrap();
        // In the top lists and the latest runs, as text.
        assert!(
            html.matches("&lt;img src=x onerror=alert(1)&gt; &amp; co")
                .count()
                >= 2,
            "{html}"
        );
        assert!(
            !html.contains("<img") && !html.contains("<script"),
            "{html}"
        );
        assert_eq!(dash["totals"]["runs"], 1);
        assert_eq!(dash["range"], "24h");
        let page = get(r, "/?range=24h", Some(&owner)).await;
        assert!(!page.body.contains("<img src=x"), "{}", page.body);
        assert!(page.body.contains("&lt;img src=x onerror=alert(1)&gt;"));
    })
}

#[test]
fn the_builder_hears_which_recent_outputs_a_new_output_schema_would_refuse() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "schema@example.com").await;
        let mut draft = agent_draft("Labeller");
        let schema = r#"{"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}"#;
        for (k, v) in draft.iter_mut() {
            if k == "draft[output_schema]" {
                *v = schema.to_owned();
            }
        }
        let pairs: Vec<(&str, &str)> = draft
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let saved = call(r, "save_agent", &pairs, Some(&owner)).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        let agent = saved.json()["id"].as_str().unwrap().to_owned();
        for i in 0..3 {
            mock_run(r, &owner, &agent, &format!("item {i}")).await;
        }
        let check = |schema: &'static str| {
            let agent = agent.clone();
            let owner = owner.clone();
            async move {
                let reply = call(
                    r,
                    "output_schema_check",
                    &[("id", &agent), ("output_schema", schema)],
                    Some(&owner),
                )
                .await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                reply.json()
            }
        };
        // The schema the API runs, an empty field and a half-typed one: nothing to say.
        assert!(check(schema).await.is_null());
        assert!(check("").await.is_null());
        assert!(check("{\"type\": ").await.is_null());
        // A stricter one: every output checked would be refused, and the API runs the latest.
        let stricter = check(
            r#"{"type": "object", "properties": {"score": {"type": "number"}}, "required": ["score"]}"#,
        )
        .await;
        assert_eq!(stricter["impact"]["checked"], 3, "{stricter}");
        assert_eq!(stricter["impact"]["failing"], 3);
        assert_eq!(stricter["impact"]["examples"].as_array().unwrap().len(), 3);
        assert!(stricter["published"].is_null());
        // A looser one accepts them all.
        let looser = check(r#"{"type": "object"}"#).await;
        assert_eq!(looser["impact"]["failing"], 0, "{looser}");
        assert_eq!(looser["impact"]["checked"], 3);
    });
}
