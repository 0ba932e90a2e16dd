//! `GET /api/v1/agents` and `GET /api/v1/agents/{agent}` (`read` scope).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use galaxy_app::state::AppState;
use galaxy_core::agents::{Agent, AgentSummary, get_agent, list_agents};
use galaxy_core::api_tokens::ApiScope;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{ApiError, caller};

/// An agent as the API lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiAgentSummary {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    /// `openai`, `anthropic` or `openai_compatible`.
    #[schema(value_type = String)]
    pub provider: &'static str,
    pub model: String,
    pub version: i64,
    pub updated_at: i64,
    pub input_schema: Option<Value>,
}

impl From<AgentSummary> for ApiAgentSummary {
    fn from(a: AgentSummary) -> Self {
        ApiAgentSummary {
            id: a.id,
            slug: a.slug,
            name: a.name,
            description: a.description,
            provider: a.provider.as_str(),
            model: a.model,
            version: a.version,
            updated_at: a.updated_at,
            input_schema: a.input_schema,
        }
    }
}

/// One agent: its current version's configuration and contracts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiAgent {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    /// `openai`, `anthropic` or `openai_compatible`.
    #[schema(value_type = String)]
    pub provider: &'static str,
    pub model: String,
    pub version: i64,
    pub system_prompt: String,
    pub prompt_template: String,
    pub temperature: f64,
    pub max_tokens: i64,
    pub repair_output: bool,
    /// What a run takes (`null`: any text).
    pub input_schema: Option<Value>,
    /// What a run answers (`null`: free text).
    pub output_schema: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Agent> for ApiAgent {
    fn from(a: Agent) -> Self {
        let c = a.config;
        ApiAgent {
            id: a.id,
            slug: c.slug,
            name: c.name,
            description: c.description,
            provider: c.provider.as_str(),
            model: c.model,
            version: a.version,
            system_prompt: c.system_prompt,
            prompt_template: c.prompt_template,
            temperature: c.temperature,
            max_tokens: c.max_tokens,
            repair_output: c.repair_output,
            input_schema: c.input_schema,
            output_schema: c.output_schema,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    pub data: Vec<ApiAgentSummary>,
}

/// The workspace's agents.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    responses(
        (status = 200, description = "The token's workspace's agents.", body = AgentList),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the read scope.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["read"])))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AgentList>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Read)?;
    let agents = list_agents(&state.db, actor).await?;
    Ok(Json(AgentList {
        data: agents.into_iter().map(Into::into).collect(),
    }))
}

/// One agent: its current version's configuration and contracts.
#[utoipa::path(get, path = "/api/v1/agents/{agent}", tag = "agents",
    params(("agent" = String, Path, description = "The agent's id or slug.")),
    responses(
        (status = 200, description = "The agent.", body = ApiAgent),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the read scope.", body = super::ErrorEnvelope),
        (status = 404, description = "No such agent in the token's workspace.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["read"])))]
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(agent): Path<String>,
) -> Result<Json<ApiAgent>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Read)?;
    Ok(Json(get_agent(&state.db, actor, &agent).await?.into()))
}
