//! Running agents and reading runs: thin adapters over the run pipeline (`galaxy_core::runs`).

use galaxy_core::charts::{ChartRange, DashboardTotals};
use galaxy_core::runs::RunView;
use leptos::prelude::*;
use leptos::server_fn::codec::{StreamingText, TextStream};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One line of a streamed run (newline-delimited JSON).
///
/// Written with the `type` first (`{"type":"delta","text":"…"}`); read through [`Line`], a flat
/// struct: serde's own reading of a tagged enum buffers each line in a generic `Content` tree
/// first, and that path compiled a second copy of `RunView`'s and `AppError`'s decoders into the
/// browser's bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", try_from = "Line")]
pub enum StreamMessage {
    Started { run_id: String },
    Delta { text: String },
    Finished { run: Box<RunView> },
    Error { error: AppError },
}

/// A [`StreamMessage`] as read: the tag and whichever field its kind has.
#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: LineKind,
    run_id: Option<String>,
    text: Option<String>,
    run: Option<Box<RunView>>,
    error: Option<AppError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum LineKind {
    Started,
    Delta,
    Finished,
    Error,
}

impl TryFrom<Line> for StreamMessage {
    type Error = &'static str;

    fn try_from(line: Line) -> Result<StreamMessage, &'static str> {
        match line.kind {
            LineKind::Started => line.run_id.map(|run_id| StreamMessage::Started { run_id }),
            LineKind::Delta => line.text.map(|text| StreamMessage::Delta { text }),
            LineKind::Finished => line.run.map(|run| StreamMessage::Finished { run }),
            LineKind::Error => line.error.map(|error| StreamMessage::Error { error }),
        }
        .ok_or("a stream line without the field its type needs")
    }
}

impl StreamMessage {
    /// The message as one NDJSON line, pure ASCII: every non-ASCII character is written as a
    /// `\uXXXX` escape. The streamed server fn's client decodes each network chunk as UTF-8 on
    /// its own, so a multi-byte character split across two chunks would fail the whole run in
    /// the browser; an ASCII line can be cut anywhere.
    pub fn line(&self) -> String {
        let mut out = Vec::with_capacity(128);
        let mut ser = serde_json::Serializer::with_formatter(&mut out, AsciiJson);
        if self.serialize(&mut ser).is_err() {
            out.clear();
        }
        out.push(b'\n');
        String::from_utf8(out).unwrap_or_default()
    }
}

/// serde_json's compact formatter, but string contents leave as ASCII (`\uXXXX` escapes,
/// surrogate pairs beyond the basic plane), which JSON readers decode back to the same text.
struct AsciiJson;

impl serde_json::ser::Formatter for AsciiJson {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut units = [0u16; 2];
        let mut plain = 0;
        for (at, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            writer.write_all(fragment.get(plain..at).unwrap_or_default().as_bytes())?;
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            plain = at + c.len_utf8();
        }
        writer.write_all(fragment.get(plain..).unwrap_or_default().as_bytes())
    }
}

/// Runs an agent and answers with the finished run (no streaming; forms without JavaScript and
/// simple clients). `mode` is `mock` or `live`. The run goes on and is recorded if the client
/// goes away.
#[server(endpoint = "run_agent", output = crate::wire::Json)]
pub async fn run_agent(agent_id: String, input: String, mode: String) -> Result<RunView, AppError> {
    use galaxy_core::runs::{RunRequest, RunTrigger};
    let (state, actor) = crate::session::require_actor().await?;
    let request = RunRequest::new(&agent_id, &input, parse_mode(&mode)?, RunTrigger::TestPanel);
    Ok(state.runs.run(&actor, request).await?)
}

#[cfg(feature = "ssr")]
fn parse_mode(mode: &str) -> Result<galaxy_core::runs::RunMode, AppError> {
    galaxy_core::runs::RunMode::parse(mode).map_err(|_| {
        AppError::from_core(galaxy_core::CoreError::field(
            "mode",
            "Choose mock or live.",
        ))
    })
}

/// The UI's triggers: the test panel and the dashboard (the API has its own).
#[cfg(feature = "ssr")]
fn parse_trigger(trigger: &str) -> Result<galaxy_core::runs::RunTrigger, AppError> {
    use galaxy_core::runs::RunTrigger;
    match RunTrigger::parse(trigger) {
        Ok(t @ (RunTrigger::TestPanel | RunTrigger::Dashboard)) => Ok(t),
        _ => Err(AppError::from_core(galaxy_core::CoreError::field(
            "trigger",
            "Runs start from the test panel or the dashboard.",
        ))),
    }
}

/// Runs an agent and streams the run as it happens: `started` (with the run id, for Stop), then
/// `delta`s of output, then `finished` with the recorded run. Everything wrong before the
/// provider call (not signed in, unknown agent, no key, input too large) is an error status,
/// never a 200 followed by an error line; `error` ends the stream only if the finished run could
/// not be recorded. `trigger` is `test_panel` or `dashboard`.
#[server(endpoint = "run_agent_stream", output = StreamingText)]
pub async fn run_agent_stream(
    agent_id: String,
    input: String,
    mode: String,
    trigger: String,
) -> Result<TextStream<AppError>, AppError> {
    use galaxy_core::runs::{RunEvent, RunRequest};
    let (state, actor) = crate::session::require_actor().await?;
    let request = RunRequest {
        agent_id,
        input,
        mode: parse_mode(&mode)?,
        trigger: parse_trigger(&trigger)?,
        stream: true,
        api_token: None,
        conversation: None,
        version: None,
        model: None,
        replay_of: None,
    };
    let run = state.runs.start(&actor, request).await?;
    let started = StreamMessage::Started {
        run_id: run.run_id.clone(),
    };
    let rest = futures_util::stream::unfold(Some(run), |run| async move {
        let mut run = run?;
        let message = match run.next().await? {
            RunEvent::Delta(text) => StreamMessage::Delta { text },
            RunEvent::Finished(run) => StreamMessage::Finished { run },
            RunEvent::Failed(e) => StreamMessage::Error {
                error: AppError::from_core(e),
            },
        };
        Some((Ok(message.line()), Some(run)))
    });
    // Lines that are ready together leave together: one write (and one wake-up of the reader)
    // instead of one per delta.
    let stream = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, AppError>(started.line()) }),
        rest,
    );
    let stream =
        futures_util::StreamExt::map(futures_util::StreamExt::ready_chunks(stream, 64), |lines| {
            lines.into_iter().collect::<Result<String, AppError>>()
        });
    Ok(TextStream::new(stream))
}

/// Stops a running run of the caller's workspace.
#[server(endpoint = "cancel_run", output = crate::wire::Json)]
pub async fn cancel_run(run_id: String) -> Result<bool, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(state.runs.cancel(&actor, &run_id).await?)
}

/// The latest runs of one agent.
#[server(endpoint = "list_agent_runs", output = crate::wire::Json)]
pub async fn list_agent_runs(agent_id: String) -> Result<Vec<RunView>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::runs::list_runs(&state.db, &actor, Some(&agent_id), 20).await?)
}

/// One run and every provider call it made, as the run page shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    pub run: RunView,
    pub attempts: Vec<galaxy_core::runs::AttemptView>,
    /// The run of the same agent before this one ("compare with previous run").
    pub previous: Option<String>,
    /// The agent's latest version, when it still exists (the versions a replay may choose).
    pub latest_version: Option<i64>,
    /// Whether the caller may run agents (and so replay).
    pub can_run: bool,
}

/// A run of the caller's workspace with its attempts (any member; `NotFound` for any other
/// workspace's run).
#[server(endpoint = "get_run_detail", output = crate::wire::Json)]
pub async fn get_run_detail(id: String) -> Result<RunDetail, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let run = galaxy_core::runs::get_run(&state.db, &actor, &id).await?;
    let attempts = galaxy_core::runs::list_attempts(&state.db, &actor, &id).await?;
    let previous = galaxy_core::runs::previous_run(&state.db, &actor, &run).await?;
    let latest_version = match &run.agent_id {
        Some(agent) => match galaxy_core::agents::get_agent(&state.db, &actor, agent).await {
            Ok(agent) => Some(agent.version),
            Err(galaxy_core::CoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    Ok(RunDetail {
        run,
        attempts,
        previous,
        latest_version,
        can_run: actor.role.can_build(),
    })
}

/// Two runs of the caller's workspace side by side: their configuration diff, output diff and
/// the deltas (any member).
#[server(endpoint = "compare_runs", output = crate::wire::Json)]
pub async fn compare_runs(
    a: String,
    b: String,
) -> Result<galaxy_core::runs::RunComparison, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let cpu = state.runs.save_rules().cpu;
    Ok(galaxy_core::runs::compare_runs(&state.db, &cpu, &actor, a.trim(), b.trim()).await?)
}

/// Replays a run: its input again on the latest version (`version` blank) or the version named,
/// with the version's model (`model` blank) or another, in `mode`; then opens the two runs
/// side by side (`/runs/compare?a=<replayed>&b=<new>`). Waits for the new run to end.
#[server(endpoint = "replay_run", output = crate::wire::Json)]
pub async fn replay_run(
    run_id: String,
    version: String,
    model: String,
    mode: String,
) -> Result<RunView, AppError> {
    use galaxy_core::runs::{Replay, RunTrigger, replay_request};
    let (state, actor) = crate::session::require_actor().await?;
    let version = match version.trim() {
        "" | "latest" => None,
        v => Some(v.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
            AppError::from_core(galaxy_core::CoreError::field(
                "version",
                "Choose a version of the agent.",
            ))
        })?),
    };
    let replay = Replay {
        run_id,
        version,
        model: Some(model),
        mode: parse_mode(&mode)?,
    };
    galaxy_core::workspaces::require_builder(&actor)?;
    let request = replay_request(&state.db, &actor, &replay, RunTrigger::TestPanel).await?;
    let run = state.runs.run(&actor, request).await?;
    leptos_axum::redirect(&format!("/runs/compare?a={}&b={}", replay.run_id, run.id));
    Ok(run)
}

/// A page of `/runs`: the runs, and the cursor of the next (older) page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunsPageView {
    pub runs: Vec<RunView>,
    pub next: Option<String>,
}

/// How many runs a page of `/runs` shows.
pub const RUNS_PAGE: i64 = 50;

/// The filters of `/runs`, as its URL names them (empty: any).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunFilters {
    pub agent: String,
    pub status: String,
    pub mode: String,
    pub trigger: String,
    pub provider: String,
    pub model: String,
    /// An API token's id.
    pub token: String,
    /// Text in the input or output.
    pub q: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    pub from: String,
    pub to: String,
    /// The previous page's `next`.
    pub cursor: String,
}

/// A list's `from`..`to` filter (`YYYY-MM-DD`, UTC, both days included) as milliseconds; a
/// field error for each that is not a date.
#[cfg(feature = "ssr")]
pub fn date_range(
    from: &str,
    to: &str,
    errors: &mut Vec<galaxy_core::validation::FieldError>,
) -> (Option<i64>, Option<i64>) {
    let mut date = |text: &str, field: &'static str| {
        Some(text.trim()).filter(|t| !t.is_empty()).and_then(|t| {
            galaxy_core::timefmt::parse_date(t)
                .ok_or_else(|| {
                    errors.push(galaxy_core::validation::FieldError::new(
                        field,
                        "A date: YYYY-MM-DD.",
                    ))
                })
                .ok()
        })
    };
    let from_ms = date(from, "from");
    // Through the end of the day asked for.
    let to_ms = date(to, "to").map(|d| d + 86_400_000);
    (from_ms, to_ms)
}

/// A keyset cursor (`<created_at>_<id>`, a page's `next`), or a field error saying `wrong`.
#[cfg(feature = "ssr")]
pub fn cursor_of(
    text: &str,
    wrong: &str,
    errors: &mut Vec<galaxy_core::validation::FieldError>,
) -> Option<(i64, String)> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let parsed = text
        .split_once('_')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_owned())));
    if parsed.is_none() {
        errors.push(galaxy_core::validation::FieldError::new("cursor", wrong));
    }
    parsed
}

/// The query `filters` ask for, `limit` at a time, or every field error.
#[cfg(feature = "ssr")]
pub fn run_query(
    filters: RunFilters,
    limit: i64,
) -> Result<galaxy_core::runs::RunQuery, Vec<galaxy_core::validation::FieldError>> {
    use galaxy_core::runs::{RunQuery, RunStatus, RunTrigger};
    use galaxy_core::validation::FieldError;
    let RunFilters {
        agent,
        status,
        mode,
        trigger,
        provider,
        model,
        token,
        q,
        from,
        to,
        cursor,
    } = filters;
    let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let mut errors = Vec::new();
    let status = given(&status).and_then(|s| {
        RunStatus::parse(&s)
            .map_err(|_| errors.push(FieldError::new("status", "Not a run status.")))
            .ok()
    });
    let mode = given(&mode).and_then(|s| {
        galaxy_core::runs::RunMode::parse(&s)
            .map_err(|_| errors.push(FieldError::new("mode", "Mock or live.")))
            .ok()
    });
    let provider = given(&provider).and_then(|s| {
        galaxy_core::providers::ProviderKind::parse(&s)
            .map(|p| p.as_str().to_owned())
            .map_err(|_| errors.push(FieldError::new("provider", "Not a provider.")))
            .ok()
    });
    let trigger = given(&trigger).and_then(|s| {
        RunTrigger::parse(&s)
            .map_err(|_| errors.push(FieldError::new("trigger", "Not a place runs start from.")))
            .ok()
    });
    let (from_ms, to_ms) = date_range(&from, &to, &mut errors);
    let before = cursor_of(&cursor, "Not a page of this list.", &mut errors);
    if q.chars().count() > galaxy_core::runs::MAX_SEARCH_CHARS {
        errors.push(FieldError::new("q", "Search for at most 100 characters."));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RunQuery {
        agent_id: given(&agent),
        status,
        mode,
        trigger,
        provider,
        model: given(&model),
        api_token_id: given(&token),
        from_ms,
        to_ms,
        text: given(&q),
        before,
        limit,
        whole: false,
    })
}

/// The workspace's runs, newest first, filtered, a page at a time. Any member.
#[server(endpoint = "list_runs_page", output = crate::wire::Json)]
pub async fn list_runs_page(filters: RunFilters) -> Result<RunsPageView, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let query = run_query(filters, RUNS_PAGE).map_err(galaxy_core::CoreError::Validation)?;
    let page = galaxy_core::runs::query_runs(&state.db, &actor, &query).await?;
    Ok(RunsPageView {
        runs: page.runs,
        next: page.next.map(|(at, id)| format!("{at}_{id}")),
    })
}

/// The dashboard as the browser gets it: what it shows (the range form reads `range` and
/// `agent_id`), and the report already drawn (`crate::dashboard_report`: totals, charts, latest
/// runs, spend and limits — static markup, so the drawing code stays out of the WASM). The
/// totals are also here as numbers (the page shows them in the report).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardView {
    pub totals: DashboardTotals,
    pub range: ChartRange,
    /// The agent chosen (`None`: the workspace).
    pub agent_id: Option<String>,
    /// The report's markup, rendered by the server.
    pub report_html: String,
}

/// The dashboard over `range` (`24h`, `7d` or `30d`; blank: 7 days), for one agent (`agent`, id
/// or slug) or the whole workspace (blank). Any member.
#[server(endpoint = "get_dashboard", output = crate::wire::Json)]
pub async fn get_dashboard(
    #[server(default)] range: String,
    #[server(default)] agent: String,
) -> Result<DashboardView, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let range = match range.trim() {
        "" => ChartRange::Week,
        r => ChartRange::parse(r).map_err(|_| {
            AppError::from_core(galaxy_core::CoreError::field(
                "range",
                "Choose 24h, 7d or 30d.",
            ))
        })?,
    };
    let agent = Some(agent.trim()).filter(|a| !a.is_empty());
    let (stats, usage) = tokio::join!(
        galaxy_core::charts::dashboard(&state.db, &actor, range, agent),
        galaxy_core::limits::usage(&state.db, &actor, Some(&state.limits)),
    );
    let stats = stats?;
    // Spend and limits are part of the report when they can be read; the rest stands without.
    let usage = usage
        .inspect_err(|e| tracing::warn!(error = %e, "dashboard: usage not read"))
        .ok();
    Ok(DashboardView {
        totals: stats.totals,
        range: stats.charts.range,
        agent_id: stats.charts.agent_id.clone(),
        report_html: crate::dashboard_report::render(stats, usage),
    })
}

#[cfg(test)]
mod tests {
    use super::StreamMessage;

    #[test]
    fn a_line_is_ascii_and_reads_back_as_the_same_text() {
        let text = "naïve — 日本語 🚀 \"quoted\" \\ tab\t end".to_owned();
        let message = StreamMessage::Delta { text: text.clone() };
        let line = message.line();
        assert!(line.is_ascii(), "{line}");
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
        assert!(
            line.contains("\\ud83d\\ude80"),
            "emoji as a surrogate pair: {line}"
        );
        let back: StreamMessage = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn every_kind_reads_back_and_a_line_missing_its_field_is_refused() {
        use crate::error::AppError;
        for message in [
            StreamMessage::Started {
                run_id: "r1".to_owned(),
            },
            StreamMessage::Delta {
                text: "hi".to_owned(),
            },
            StreamMessage::Error {
                error: AppError::Request,
            },
        ] {
            let line = message.line();
            assert!(line.starts_with("{\"type\":"), "{line}");
            let back: StreamMessage = serde_json::from_str(line.trim()).unwrap();
            assert_eq!(back, message);
        }
        for bad in [
            r#"{"type":"delta"}"#,
            r#"{"type":"started","text":"x"}"#,
            r#"{"type":"other","text":"x"}"#,
            r#"{"text":"x"}"#,
        ] {
            assert!(serde_json::from_str::<StreamMessage>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_line_cut_anywhere_leaves_valid_utf8_pieces() {
        let line = StreamMessage::Delta {
            text: "€€€ 🚀🚀".repeat(10),
        }
        .line();
        for cut in 0..line.len() {
            let (a, b) = line.as_bytes().split_at(cut);
            assert!(
                std::str::from_utf8(a).is_ok() && std::str::from_utf8(b).is_ok(),
                "cut at {cut}"
            );
        }
    }
}
