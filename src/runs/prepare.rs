//! The prepare stage: everything decided before a run may spend anything.
//!
//! Authorise (members and above) → size checks → load the agent version (cached, checked against
//! the workspace generation) → its schemas, compiled once per version → validate the input →
//! render the user message → for a live run, open the workspace's key. Parsing and validating a
//! large input, compiling a schema and rendering a template are CPU work on user data and run on
//! the bounded pool. Invalid input and a template error are not errors here: they are runs, refused
//! and recorded with their messages ([`Plan::Refused`]); everything else that is wrong is an error
//! the caller gets before anything is streamed.

use std::sync::Arc;

use serde_json::Value;

use super::context::Conversation;
use super::context::{RunRequest, Shared};
use super::outcome::Outcome;
use super::{
    MAX_CONVERSATION_BYTES, MAX_CONVERSATION_TURNS, MAX_INPUT_BYTES, RunMode, RunStatus, RunTrigger,
};
use crate::agents::{Agent, MAX_MODEL_CHARS};
use crate::contract::{CompiledSchema, compile};
use crate::error::CoreError;
use secrecy::{ExposeSecret, SecretString};

use crate::providers::http::BodyLimits;
use crate::providers::{ChatRequest, Provider};
use crate::template::render;
use crate::validation::FieldError;
use crate::workspaces::{Actor, require_builder};

/// Inputs at least this long are parsed and validated on the CPU pool.
const POOL_INPUT_BYTES: usize = 16 * 1024;

/// A run ready to be admitted.
pub(super) struct Prepared {
    pub actor: Actor,
    pub request: RunRequest,
    pub agent: Arc<Agent>,
    pub plan: Plan,
}

/// What the run will do.
pub(super) enum Plan {
    /// Stopped before any call: recorded as it is.
    Refused(Outcome),
    /// Call the provider.
    Call(Call),
}

pub(super) struct Call {
    pub chat: ChatRequest,
    /// The agent's provider with the opened key, or the mock.
    pub provider: Provider,
    /// The key a live run uses (recorded on the run).
    pub credential_id: Option<String>,
    /// The key's text, scrubbed out of every message the run keeps.
    pub secret: Option<SecretString>,
    /// The HTTP client for this provider (users' own endpoints get the egress-guarded one).
    pub http: reqwest::Client,
    /// The output schema the reply must match.
    pub output_schema: Option<Arc<CompiledSchema>>,
}

/// The CPU pool could not take the work in time (see `CoreError::from(CpuError)`).
pub(super) fn cpu_error(e: crate::cpu::CpuError) -> CoreError {
    CoreError::from(e)
}

/// `schema` compiled on the CPU pool; `unusable` words a compile error.
async fn compile_on_pool(
    shared: &Shared,
    schema: Value,
    unusable: impl FnOnce(String) -> CoreError,
) -> Result<Arc<CompiledSchema>, CoreError> {
    let compiled = shared
        .config
        .cpu
        .run(move || compile(&schema))
        .await
        .map_err(cpu_error)?
        .map_err(unusable)?;
    Ok(Arc::new(compiled))
}

/// The schema a chat caller's `response_format` asks for, held to an agent schema's rules and
/// compiled (uncached: it is the request's own) — refused when the agent has an output schema.
async fn caller_output_schema(
    shared: &Shared,
    agent: &Agent,
    wanted: &Value,
) -> Result<Arc<CompiledSchema>, CoreError> {
    let refuse = |m: &str| CoreError::field("response_format", m);
    if agent.config.output_schema.is_some() {
        return Err(refuse(
            "This agent has an output schema of its own, and its answers follow it; leave \
             response_format out (or change the agent's output schema).",
        ));
    }
    let bytes = wanted.to_string().len();
    if bytes > crate::contract::MAX_SCHEMA_BYTES {
        return Err(refuse(&format!(
            "response_format's schema is too large (the limit is {} KiB).",
            crate::contract::MAX_SCHEMA_BYTES / 1024
        )));
    }
    crate::contract::check_schema_shape(wanted)
        .map_err(|m| refuse(&format!("response_format's schema cannot be used: {m}.")))?;
    // Providers answer structured output as an object.
    if crate::contract::declared_type(wanted) != Some("object") {
        return Err(refuse(
            "response_format's schema must describe an object ({\"type\": \"object\", …}).",
        ));
    }
    compile_on_pool(shared, wanted.clone(), |m| {
        refuse(&format!(
            "response_format's schema is not a usable JSON Schema ({m})."
        ))
    })
    .await
}

/// The compiled `which` schema of the agent's version, compiling it (on the pool) on first use.
async fn compiled(
    shared: &Shared,
    agent: &Agent,
    which: &'static str,
) -> Result<Option<Arc<CompiledSchema>>, CoreError> {
    let (schema, field) = match which {
        "input" => (&agent.config.input_schema, "input_schema"),
        _ => (&agent.config.output_schema, "output_schema"),
    };
    let Some(schema) = schema else {
        return Ok(None);
    };
    if let Some(found) = shared.schemas.cached(&agent.id, agent.version, which) {
        return Ok(Some(found));
    }
    let compiled = compile_on_pool(shared, schema.clone(), |m| {
        CoreError::field(
            field,
            &format!("This agent's {which} schema cannot be used ({m}). Edit and save the agent."),
        )
    })
    .await?;
    shared
        .schemas
        .insert(&agent.id, agent.version, which, compiled.clone());
    Ok(Some(compiled))
}

/// The input's problems against the schema (none without a schema).
fn check_input(schema: Option<&CompiledSchema>, input: &str) -> (Option<Value>, Vec<FieldError>) {
    let parsed = serde_json::from_str::<Value>(input);
    match (schema, parsed) {
        (Some(_), Err(e)) => (
            None,
            vec![FieldError::new(
                "/",
                format!("Input must be JSON matching the input schema ({e})."),
            )],
        ),
        (Some(schema), Ok(value)) => {
            let errors = schema.errors(&value);
            (Some(value), errors)
        }
        (None, parsed) => (parsed.ok(), Vec::new()),
    }
}

/// The mock provider (in tests, the world's script when it has one).
fn mock(shared: &Shared, limits: BodyLimits) -> Provider {
    #[cfg(feature = "testing")]
    if let Some(script) = &shared.config.script {
        return Provider::Scripted(script.clone());
    }
    Provider::mock(shared.config.cpu.clone(), limits)
}

/// A chat caller's extras within their bounds.
fn check_conversation(conversation: &Conversation) -> Result<(), CoreError> {
    if conversation.turns.len() > MAX_CONVERSATION_TURNS {
        return Err(CoreError::field(
            "messages",
            &format!(
                "Too many messages (the limit is {MAX_CONVERSATION_TURNS} before the last one)."
            ),
        ));
    }
    let bytes = conversation
        .turns
        .iter()
        .fold(conversation.system.len(), |sum, turn| {
            sum.saturating_add(turn.text.len())
        });
    if bytes > MAX_CONVERSATION_BYTES {
        return Err(CoreError::field(
            "messages",
            &format!(
                "The conversation is too long (the limit is {} KiB before the last message).",
                MAX_CONVERSATION_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

/// The version a request runs: the one it names; for the APIs, else the published one; else the
/// latest (`None`).
fn version_to_run(request: &RunRequest, agent: &Agent) -> Option<i64> {
    request.version.or(match request.trigger {
        RunTrigger::Api => agent.published_version,
        RunTrigger::TestPanel | RunTrigger::Dashboard => None,
    })
}

/// The agent with another model (a replay "with another model"), held to the builder's rule.
fn with_model(agent: &Arc<Agent>, model: &str) -> Result<Arc<Agent>, CoreError> {
    let model = model.trim();
    if model.is_empty() || model.chars().count() > MAX_MODEL_CHARS {
        return Err(CoreError::field(
            "model",
            &format!("Name a model of at most {MAX_MODEL_CHARS} characters."),
        ));
    }
    let mut changed = Agent::clone(agent);
    changed.config.model = model.to_owned();
    Ok(Arc::new(changed))
}

pub(super) async fn prepare(
    shared: &Shared,
    actor: &Actor,
    request: RunRequest,
) -> Result<Prepared, CoreError> {
    require_builder(actor)?;
    if request.input.len() > MAX_INPUT_BYTES {
        return Err(CoreError::field(
            "input",
            &format!(
                "Input is too large (the limit is {} KiB).",
                MAX_INPUT_BYTES / 1024
            ),
        ));
    }
    if let Some(conversation) = &request.conversation {
        check_conversation(conversation)?;
    }
    let agent = shared
        .catalog
        .agent(&shared.db, actor, &request.agent_id)
        .await?;
    let agent = match version_to_run(&request, &agent) {
        Some(v) if v != agent.version => {
            shared
                .catalog
                .agent_version(&shared.db, actor, &agent, v)
                .await?
        }
        _ => agent,
    };
    let agent = match &request.model {
        Some(model) => with_model(&agent, model)?,
        None => agent,
    };
    let input_schema = compiled(shared, &agent, "input").await?;
    // The agent's output schema, or the one a chat caller asks for.
    let wanted = request
        .conversation
        .as_ref()
        .and_then(|c| c.output_schema.as_ref());
    let (output_schema, output_schema_value) = match wanted {
        Some(wanted) => (
            Some(caller_output_schema(shared, &agent, wanted).await?),
            Some(wanted.clone()),
        ),
        None => (
            compiled(shared, &agent, "output").await?,
            agent.config.output_schema.clone(),
        ),
    };

    // Validate the input before any spend.
    let (parsed, errors) = if request.input.len() >= POOL_INPUT_BYTES {
        let (schema, input) = (input_schema.clone(), request.input.clone());
        shared
            .config
            .cpu
            .run(move || check_input(schema.as_deref(), &input))
            .await
            .map_err(cpu_error)?
    } else {
        check_input(input_schema.as_deref(), &request.input)
    };
    if !errors.is_empty() {
        return Ok(Prepared {
            actor: actor.clone(),
            request,
            agent,
            plan: Plan::Refused(Outcome::input_invalid(errors)),
        });
    }

    // The user message: the template rendered (fuel-limited, on the pool), or the input.
    let config = &agent.config;
    let rendered = if config.prompt_template.trim().is_empty() {
        Ok(request.input.clone())
    } else {
        let (template, input) = (config.prompt_template.clone(), request.input.clone());
        shared
            .config
            .cpu
            .run(move || render(&template, &input, parsed.as_ref()))
            .await
            .map_err(cpu_error)?
    };
    let user = match rendered {
        Ok(user) => user,
        Err(why) => {
            return Ok(Prepared {
                actor: actor.clone(),
                request,
                agent,
                plan: Plan::Refused(Outcome::refused(RunStatus::Failed, "template_error", why)),
            });
        }
    };

    // A live run needs a key for the agent's provider.
    let limits = BodyLimits::new(shared.config.max_output_bytes);
    let (provider, credential_id, secret) = match request.mode {
        RunMode::Mock => (mock(shared, limits), None, None),
        RunMode::Live => {
            let Some(stored) = shared
                .catalog
                .key(&shared.db, actor, config.provider)
                .await?
            else {
                return Err(CoreError::field(
                    "mode",
                    &format!(
                        "Live runs need a {} key. Add one in Settings → Provider keys.",
                        config.provider.label()
                    ),
                ));
            };
            let endpoint = stored.open(&shared.vault, &actor.workspace_id, &shared.http)?;
            let secret = SecretString::from(endpoint.api_key.expose_secret().to_owned());
            (
                Provider::new(endpoint, limits),
                Some(stored.id),
                Some(secret),
            )
        }
    };
    let (system, history) = match &request.conversation {
        Some(c) if !c.system.trim().is_empty() && !config.system_prompt.trim().is_empty() => (
            format!("{}\n\n{}", config.system_prompt, c.system),
            c.turns.clone(),
        ),
        Some(c) if !c.system.trim().is_empty() => (c.system.clone(), c.turns.clone()),
        Some(c) => (config.system_prompt.clone(), c.turns.clone()),
        None => (config.system_prompt.clone(), Vec::new()),
    };
    let chat = ChatRequest {
        model: config.model.clone(),
        system,
        history,
        user,
        temperature: config.temperature,
        max_tokens: config.max_tokens,
        output_schema: output_schema_value,
    };
    let http = shared.http.client_for(config.provider).clone();
    Ok(Prepared {
        actor: actor.clone(),
        request,
        agent,
        plan: Plan::Call(Call {
            chat,
            provider,
            credential_id,
            secret,
            http,
            output_schema,
        }),
    })
}
