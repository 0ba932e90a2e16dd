//! Agent CRUD.

use galaxy_core::agents::{Agent, AgentDraft, AgentSummary};
use leptos::prelude::*;

use crate::error::AppError;

#[server(endpoint = "list_agents")]
pub async fn list_agents() -> Result<Vec<AgentSummary>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::agents::list_agents(&state.db, &actor).await?)
}

#[server(endpoint = "get_agent")]
pub async fn get_agent(id: String) -> Result<Agent, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::agents::get_agent(&state.db, &actor, &id).await?)
}

/// Creates (no `id`) or updates an agent; on success goes to the agent's page.
#[server(endpoint = "save_agent")]
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
#[server(endpoint = "delete_agent")]
pub async fn delete_agent(id: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::agents::delete_agent(&state.db, &actor, &id).await?;
    leptos_axum::redirect("/agents");
    Ok(())
}

/// Which input fields a prompt template uses, and which the input schema does not define.
/// Answers with the template's compile error rather than failing, so the builder can show it.
#[server(endpoint = "template_report")]
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
#[server(endpoint = "api_base_url")]
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
