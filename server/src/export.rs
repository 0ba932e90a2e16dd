//! `GET /runs/export?format=csv|jsonl&<the /runs filters>`: the runs a `/runs` view shows, every
//! one of them and whole (input and output uncut), as CSV or JSON Lines — streamed page by page
//! (20 runs at a time, read by keyset cursor), never built in memory. Signed-in members only
//! (the session cookie); the filters are checked by the same rules as the page's.
//!
//! `GET /settings/audit/export?<the audit log's filters>`: the workspace's audit log as JSON
//! Lines, newest first, streamed the same way (admins and owners).

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use galaxy_app::api::runs::{RunFilters, run_query};
use galaxy_app::state::AppState;
use galaxy_core::runs::{RunQuery, RunView, query_runs};
use serde::Deserialize;
use tower_sessions::Session;

/// Runs read per page of the export.
const PAGE: i64 = 20;

#[derive(Debug, Deserialize)]
pub struct ExportParams {
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    filters: RunFilters,
}

/// The CSV columns, in order.
const COLUMNS: &str = "id,created_at,agent,agent_version,status,mode,trigger,api_token,provider,\
model,prompt_tokens,completion_tokens,total_tokens,cost_micros,cost_source,latency_ms,ttft_ms,\
attempts,error_kind,error_message,input,output\n";

/// One CSV field: quoted when it holds a comma, quote or line break, and — so a spreadsheet never
/// runs it as a formula — prefixed with `'` when it starts with `=`, `+`, `-`, `@`, tab or CR.
fn field(out: &mut String, text: &str) {
    let guarded = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = guarded || text.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if guarded {
        out.push('\'');
    }
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quoted {
        out.push('"');
    }
}

fn csv_row(run: &RunView) -> String {
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let cells: [String; 22] = [
        run.id.clone(),
        galaxy_core::timefmt::format_utc(run.created_at),
        run.agent_name.clone(),
        run.agent_version.to_string(),
        run.status.as_str().to_owned(),
        run.mode.as_str().to_owned(),
        run.trigger.as_str().to_owned(),
        run.api_token_name.clone().unwrap_or_default(),
        run.provider.clone(),
        run.model.clone(),
        run.prompt_tokens.to_string(),
        run.completion_tokens.to_string(),
        run.total_tokens.to_string(),
        n(run.cost_micros),
        run.cost_source.as_str().to_owned(),
        run.latency_ms.to_string(),
        n(run.ttft_ms),
        run.attempts.to_string(),
        run.error_kind.clone().unwrap_or_default(),
        run.error_message.clone().unwrap_or_default(),
        run.input.clone(),
        run.output.clone().unwrap_or_default(),
    ];
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(&mut out, cell);
    }
    out.push('\n');
    out
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, message.to_owned()).into_response()
}

/// The export.
pub async fn runs(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<ExportParams>,
) -> Response {
    let actor = match galaxy_app::session::actor_of(&state, &session).await {
        Ok(Some(actor)) => actor,
        Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "Log in to export runs."),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let csv = match params.format.as_str() {
        "csv" => true,
        "jsonl" => false,
        _ => return refuse(StatusCode::BAD_REQUEST, "format is csv or jsonl."),
    };
    let query = match run_query(params.filters, PAGE) {
        Ok(q) => RunQuery { whole: true, ..q },
        Err(fields) => {
            let what: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, &what.join("\n"));
        }
    };
    let db = state.db.clone();
    // (the next page's query, or None when done; whether the header is still to be written)
    let pages = futures_util::stream::unfold((Some(query), csv), move |(next, header_due)| {
        let (db, actor) = (db.clone(), actor.clone());
        async move {
            let query = next?;
            let page = match query_runs(&db, &actor, &query).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "a runs export failed part-way");
                    return Some((
                        Err(std::io::Error::other("the export failed")),
                        (None, false),
                    ));
                }
            };
            let mut chunk = String::new();
            if header_due {
                chunk.push_str(COLUMNS);
            }
            for run in &page.runs {
                if csv {
                    chunk.push_str(&csv_row(run));
                } else if let Ok(line) = serde_json::to_string(run) {
                    chunk.push_str(&line);
                    chunk.push('\n');
                }
            }
            let following = page.next.map(|before| RunQuery {
                before: Some(before),
                ..query
            });
            Some((Ok(Bytes::from(chunk)), (following, false)))
        }
    });
    let (kind, name) = if csv {
        (
            "text/csv; charset=utf-8",
            "attachment; filename=\"runs.csv\"",
        )
    } else {
        (
            "application/x-ndjson",
            "attachment; filename=\"runs.jsonl\"",
        )
    };
    let mut response = Body::from_stream(pages).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(name));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The audit log export.
pub async fn audit(
    State(state): State<AppState>,
    session: Session,
    Query(filters): Query<galaxy_app::api::audit::AuditFilters>,
) -> Response {
    let actor = match galaxy_app::session::actor_of(&state, &session).await {
        Ok(Some(actor)) => actor,
        Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "Log in to export the audit log."),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    if !actor.role.can_admin() {
        return refuse(
            StatusCode::FORBIDDEN,
            "Only admins and owners read the audit log.",
        );
    }
    let query = match galaxy_app::api::audit::audit_query(filters, 200) {
        Ok(q) => q,
        Err(fields) => {
            let what: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect();
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, &what.join("\n"));
        }
    };
    let db = state.db.clone();
    let pages = futures_util::stream::unfold(Some(query), move |next| {
        let (db, actor) = (db.clone(), actor.clone());
        async move {
            let query = next?;
            // Read afresh for every page: someone demoted or removed mid-export stops there.
            let current =
                galaxy_core::workspaces::load_actor(&db, &actor.user_id, &actor.workspace_id).await;
            let Ok(Some(actor)) = current else {
                return Some((Err(std::io::Error::other("the export was stopped")), None));
            };
            let page = match galaxy_core::audit::list_audit(&db, &actor, &query).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "an audit export failed part-way");
                    return Some((Err(std::io::Error::other("the export failed")), None));
                }
            };
            let mut chunk = String::new();
            for entry in &page.entries {
                if let Ok(line) = serde_json::to_string(entry) {
                    chunk.push_str(&line);
                    chunk.push('\n');
                }
            }
            let following = page.next.map(|before| galaxy_core::audit::AuditQuery {
                before: Some(before),
                ..query
            });
            Some((Ok(Bytes::from(chunk)), following))
        }
    });
    let mut response = Body::from_stream(pages).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit.jsonl\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        let f = |t: &str| {
            let mut out = String::new();
            field(&mut out, t);
            out
        };
        assert_eq!(f("plain"), "plain");
        assert_eq!(f("a,b"), "\"a,b\"");
        assert_eq!(f("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(f("two\nlines"), "\"two\nlines\"");
        assert_eq!(f("=SUM(A1)"), "\"'=SUM(A1)\"");
        assert_eq!(f("-1"), "\"'-1\"");
        assert_eq!(f(""), "");
    }
}
