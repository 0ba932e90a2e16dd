//! Agent CRUD.

use galaxy_core::agents::{Agent, AgentDraft, AgentSummary};
use leptos::prelude::*;

use crate::error::AppError;

#[server(endpoint = "list_agents", output = crate::wire::Json)]
pub async fn list_agents() -> Result<Vec<AgentSummary>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::agents::list_agents(&state.db, &actor).await?)
}

#[server(endpoint = "get_agent", output = crate::wire::Json)]
pub async fn get_agent(id: String) -> Result<Agent, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::agents::get_agent(&state.db, &actor, &id).await?)
}

/// The agent page's answer: the agent, as JSON text that the page's deferred part (builder,
/// test panel — `pages::agent`) reads when it is first used. Not decoded by the page itself,
/// its first load does not carry the decoder of a whole agent (BENCHMARKS.md "Bundle size").
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AgentPageView {
    /// The [`Agent`], serialized.
    pub agent: String,
}

#[server(endpoint = "agent_page", output = crate::wire::Json)]
pub async fn agent_page(id: String) -> Result<AgentPageView, AppError> {
    let agent = get_agent(id).await?;
    let agent = serde_json::to_string(&agent).map_err(|_| AppError::Request)?;
    Ok(AgentPageView { agent })
}

/// Creates (no `id`) or updates an agent; on success goes to the agent's page.
#[server(endpoint = "save_agent", output = crate::wire::Json)]
pub async fn save_agent(id: Option<String>, draft: AgentDraft) -> Result<Agent, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let rules = state.runs.save_rules();
    let agent = match id.filter(|id| !id.is_empty()) {
        Some(id) => {
            galaxy_core::agents::update_agent(&state.db, &rules, &actor, &id, &draft).await?
        }
        None => galaxy_core::agents::create_agent(&state.db, &rules, &actor, &draft).await?,
    };
    leptos_axum::redirect(&format!("/agents/{}", agent.id));
    Ok(agent)
}

/// Deletes an agent (its runs stay on record) and goes to the agents list.
#[server(endpoint = "delete_agent", output = crate::wire::Json)]
pub async fn delete_agent(id: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::agents::delete_agent(&state.db, &actor, &id).await?;
    leptos_axum::redirect("/agents");
    Ok(())
}

/// Which input fields a prompt template uses, and which the input schema does not define.
/// Answers with the template's compile error rather than failing, so the builder can show it.
#[server(endpoint = "template_report", output = crate::wire::Json)]
pub async fn template_report(
    template: String,
    input_schema: String,
) -> Result<galaxy_core::template::TemplateReport, AppError> {
    crate::session::require_actor().await?;
    if template.len() > 4 * galaxy_core::agents::MAX_TEMPLATE_CHARS {
        return Err(AppError::from_core(galaxy_core::CoreError::field(
            "prompt_template",
            "The template is too long.",
        )));
    }
    let schema = galaxy_core::contract::parse_schema_text(&input_schema).unwrap_or(None);
    Ok(galaxy_core::template::report(&template, schema.as_ref()))
}

/// The URL API callers reach this server at: `--public-url`, or else the host this request was
/// sent to (for the agent page's "Call this agent" examples).
#[server(endpoint = "api_base_url", output = crate::wire::Json)]
pub async fn api_base_url() -> Result<String, AppError> {
    let (state, _) = crate::session::require_actor().await?;
    if let Some(url) = &state.access.public_url {
        return Ok(url.clone());
    }
    let headers = leptos_axum::extract::<http::HeaderMap>()
        .await
        .unwrap_or_default();
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:3000");
    // The scheme a trusted proxy says it was reached by; http otherwise.
    let peer = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|axum::extract::ConnectInfo(peer)| peer.ip());
    let https = peer.is_some_and(|ip| state.access.trusted_proxies.trusts(ip))
        && headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    Ok(format!("{}://{host}", if https { "https" } else { "http" }))
}

/// An agent's history, newest first, a page at a time (`before`: the previous page's
/// `next_before`; blank for the newest). Any member.
#[server(endpoint = "list_agent_versions", output = crate::wire::Json)]
pub async fn list_agent_versions(
    id: String,
    before: String,
) -> Result<galaxy_core::agents::AgentVersions, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let before = version_number(&before, "before")?;
    Ok(galaxy_core::agents::list_versions(&state.db, &actor, &id, before).await?)
}

/// `text` as a version number (blank: none), or a field error on `field`.
#[cfg(feature = "ssr")]
fn version_number(text: &str, field: &str) -> Result<Option<i64>, AppError> {
    match text.trim() {
        "" => Ok(None),
        t => t
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or_else(|| {
                AppError::from_core(galaxy_core::CoreError::field(
                    field,
                    "Not a version number.",
                ))
            }),
    }
}

/// What saving an output schema would do to the runs the API answers: the agent's latest
/// outputs checked against it, and which version the API runs meanwhile.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SchemaCheck {
    pub impact: galaxy_core::agents::SchemaImpact,
    /// The published version (saving makes a draft; the API keeps running this one until a
    /// version is published), or `None`: the API runs the latest, so saving changes it at once.
    pub published: Option<i64>,
}

/// The builder's output schema (as typed) against the agent's last outputs — `None` when it is
/// the schema the API runs now, or is empty or not a schema yet (the field says why).
#[server(endpoint = "output_schema_check", output = crate::wire::Json)]
pub async fn output_schema_check(
    id: String,
    output_schema: String,
) -> Result<Option<SchemaCheck>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let agent = galaxy_core::agents::get_agent(&state.db, &actor, &id).await?;
    let Ok(Some(schema)) = galaxy_core::contract::parse_schema_text(&output_schema) else {
        return Ok(None);
    };
    let live = agent.published_version.unwrap_or(agent.version);
    let running = galaxy_core::agents::agent_at_version(&state.db, &actor, &agent.id, live).await?;
    if running.config.output_schema.as_ref() == Some(&schema) {
        return Ok(None);
    }
    let impact = galaxy_core::agents::output_schema_impact(
        &state.db,
        &state.runs.save_rules().cpu,
        &actor,
        &agent.id,
        &schema,
    )
    .await;
    match impact {
        Ok(impact) => Ok(Some(SchemaCheck {
            impact,
            published: agent.published_version,
        })),
        // Not a schema that compiles: the form reports that itself.
        Err(galaxy_core::CoreError::Validation(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One version as its page shows it: the version whole, whether the caller may restore or
/// publish, and — when its output schema differs from what the API runs now — how the agent's
/// latest outputs fare against it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VersionView {
    pub version: galaxy_core::agents::AgentVersion,
    pub can_build: bool,
    pub impact: Option<galaxy_core::agents::SchemaImpact>,
}

/// One version of an agent (any member).
#[server(endpoint = "get_agent_version", output = crate::wire::Json)]
pub async fn get_agent_version(id: String, version: String) -> Result<VersionView, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::agents::get_agent(&state.db, &actor, &id).await?;
    let n = version_number(&version, "version")?.ok_or_else(|| {
        AppError::from_core(galaxy_core::CoreError::field("version", "Name a version."))
    })?;
    let version = galaxy_core::agents::get_version(&state.db, &actor, &id, n).await?;
    // What the API runs now: the published version, or else the latest.
    let live = version.published.unwrap_or(version.current);
    let impact = if live == n {
        None
    } else {
        let running = galaxy_core::agents::get_version(&state.db, &actor, &id, live).await?;
        match &version.config.output_schema {
            Some(schema) if version.config.output_schema != running.config.output_schema => Some(
                galaxy_core::agents::output_schema_impact(
                    &state.db,
                    &state.runs.save_rules().cpu,
                    &actor,
                    &version.agent_id,
                    schema,
                )
                .await?,
            ),
            _ => None,
        }
    };
    Ok(VersionView {
        version,
        can_build: actor.role.can_build(),
        impact,
    })
}

/// Two versions of an agent and how the second differs from the first (any member).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VersionDiff {
    pub agent_id: String,
    pub agent_name: String,
    pub a: i64,
    pub b: i64,
    pub diff: galaxy_core::diff::Bounded<Vec<galaxy_core::diff::FieldDiff>>,
}

#[server(endpoint = "diff_agent_versions", output = crate::wire::Json)]
pub async fn diff_agent_versions(
    id: String,
    a: String,
    b: String,
) -> Result<VersionDiff, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let missing =
        |f: &str| AppError::from_core(galaxy_core::CoreError::field(f, "Choose a version."));
    let agent = galaxy_core::agents::get_agent(&state.db, &actor, &id).await?;
    let a = version_number(&a, "a")?.ok_or_else(|| missing("a"))?;
    let b = version_number(&b, "b")?.ok_or_else(|| missing("b"))?;
    let va = galaxy_core::agents::get_version(&state.db, &actor, &agent.id, a).await?;
    let vb = galaxy_core::agents::get_version(&state.db, &actor, &agent.id, b).await?;
    let diff = state
        .runs
        .save_rules()
        .cpu
        .run(move || galaxy_core::agents::config_diff(&va.config, &vb.config))
        .await
        .map_err(galaxy_core::CoreError::from)?;
    Ok(VersionDiff {
        agent_id: agent.id,
        agent_name: agent.config.name,
        a,
        b,
        diff,
    })
}

/// Restores a version: saves a new version equal to it, then opens the agent.
#[server(endpoint = "restore_agent_version", output = crate::wire::Json)]
pub async fn restore_agent_version(id: String, version: i64) -> Result<Agent, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let rules = state.runs.save_rules();
    let agent =
        galaxy_core::agents::restore_version(&state.db, &rules, &actor, &id, version).await?;
    leptos_axum::redirect(&format!("/agents/{}", agent.id));
    Ok(agent)
}

/// Publishes a version (the one API calls run), or — `version` blank — lets the API run the
/// latest; then opens the agent's versions.
#[server(endpoint = "publish_agent_version", output = crate::wire::Json)]
pub async fn publish_agent_version(id: String, version: String) -> Result<Agent, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let version = version_number(&version, "version")?;
    let agent = galaxy_core::agents::publish_version(&state.db, &actor, &id, version).await?;
    leptos_axum::redirect(&format!("/agents/{}/versions", agent.id));
    Ok(agent)
}
