//! Test fixtures by domain noun, shared by the core's tests, the server's tests and the benches
//! (behind the `testing` feature; nothing in a running server turns any of it on).
//!
//! A [`World`] is one fresh database (SQLite file or PostgreSQL database), a vault, a local fake
//! provider (wiremock) that first-party keys are sent to, and the run pipeline wired to them:
//! "a workspace" ([`World::workspace`]), "with an OpenAI key" ([`World::key`]), "an agent with a
//! contract" ([`World::agent`] with [`draft`]), "run it" ([`World::run`]). [`Scripted`] is a
//! provider that panics, hangs or fails on cue, for the paths no real provider takes.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "fixtures fail loudly"
)]

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use wiremock::{MockServer, ResponseTemplate};

use crate::agents::{Agent, AgentDraft, SaveRules, create_agent};
use crate::auth::{AccountLimits, Accounts, NewAccount};
use crate::credentials::{CredentialSummary, NewKey, add_credential};
use crate::db::Db;
use crate::db::testing::{TempDir, fresh_postgres, fresh_sqlite};
use crate::error::CoreError;
use crate::providers::http::{ProviderHttp, ProviderUrls};
use crate::providers::retry::RetryPolicy;
pub use crate::providers::scripted::{Script, Scripted};
use crate::runs::{RunMode, RunRequest, RunTrigger, RunView, Runs, RunsConfig};
use crate::vault::{KeyringFile, Vault};
use crate::workspaces::{Actor, load_actor};

/// The provider key fixtures store (a canary: tests check it never leaks).
pub const KEY: &str = "sk-live-canary-7f3a9c2e51d04b8e";
/// The password of every fixture account.
pub const PASSWORD: &str = "correct horse battery";

/// Accounts with generous sign-up limits (fixtures sign up many users).
pub fn accounts() -> Accounts {
    Accounts::new(AccountLimits {
        hashing_slots: 2,
        signups_per_client_per_hour: 1000,
        signups_per_hour: 100_000,
    })
}

/// Retries without real waits.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..RetryPolicy::default()
    }
}

/// A fresh vault with a generated keyring.
pub fn vault() -> Arc<Vault> {
    Arc::new(Vault::from_file(&KeyringFile::generate()).unwrap())
}

/// One fresh database with everything a run needs, pointed at a local fake provider.
pub struct World {
    pub db: Db,
    pub vault: Arc<Vault>,
    /// Where OpenAI (`/v1/…`) and Anthropic keys are sent.
    pub upstream: MockServer,
    pub http: ProviderHttp,
    pub runs: Runs,
    _dir: Option<TempDir>,
}

impl World {
    pub async fn sqlite() -> World {
        let (db, dir) = fresh_sqlite().await.unwrap();
        World::on(db, Some(dir), RunsConfig::default()).await
    }

    pub async fn postgres() -> World {
        World::on(fresh_postgres().await.unwrap(), None, RunsConfig::default()).await
    }

    /// A world on `db` whose pipeline has `config` (its retry policy made fast).
    pub async fn on(db: Db, dir: Option<TempDir>, config: RunsConfig) -> World {
        let upstream = MockServer::start().await;
        // The fake provider is on loopback: this world's operator allows it.
        let http = ProviderHttp::new(
            ProviderUrls {
                openai: format!("{}/v1", upstream.uri()),
                anthropic: upstream.uri(),
            },
            "127.0.0.1".parse().unwrap(),
        )
        .unwrap();
        let vault = vault();
        let config = RunsConfig {
            policy: fast_retries(),
            ..config
        };
        let runs = Runs::new(db.clone(), vault.clone(), http.clone(), config);
        World {
            db,
            vault,
            upstream,
            http,
            runs,
            _dir: dir,
        }
    }

    /// The same database with another pipeline configuration (a new vault stays out of it: the
    /// keys stored so far keep opening).
    pub fn with_config(&self, config: RunsConfig) -> Runs {
        Runs::new(
            self.db.clone(),
            self.vault.clone(),
            self.http.clone(),
            RunsConfig {
                policy: fast_retries(),
                ..config
            },
        )
    }

    /// The same world with another vault (a keyring file, say).
    pub fn with_vault(self, vault: Arc<Vault>) -> World {
        let runs = Runs::new(
            self.db.clone(),
            vault.clone(),
            self.http.clone(),
            RunsConfig {
                policy: fast_retries(),
                ..RunsConfig::default()
            },
        );
        World {
            vault,
            runs,
            ..self
        }
    }

    /// What saving an agent checks in this world.
    pub fn rules(&self) -> SaveRules {
        self.runs.save_rules()
    }

    /// Signs up `email` (password [`PASSWORD`]) and returns the owner of its new workspace.
    pub async fn workspace(&self, email: &str) -> Actor {
        let form = NewAccount {
            email,
            display_name: "Test User",
            password: SecretString::from(PASSWORD.to_owned()),
        };
        let s = accounts().sign_up(&self.db, form, None).await.unwrap();
        load_actor(&self.db, &s.user_id, &s.workspace_id)
            .await
            .unwrap()
            .unwrap()
    }

    /// Adds `user` to `owner`'s workspace with `role` and returns them acting there.
    pub async fn join(&self, owner: &Actor, user: &Actor, role: &str) -> Actor {
        sqlx::query(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, 0)",
        )
        .bind(&owner.workspace_id)
        .bind(&user.user_id)
        .bind(role)
        .execute(self.db.pool())
        .await
        .unwrap();
        load_actor(&self.db, &user.user_id, &owner.workspace_id)
            .await
            .unwrap()
            .unwrap()
    }

    /// The actor as a new request sees it (memberships and the workspace generation re-read).
    pub async fn fresh(&self, actor: &Actor) -> Actor {
        load_actor(&self.db, &actor.user_id, &actor.workspace_id)
            .await
            .unwrap()
            .expect("still a member")
    }

    /// Stores [`KEY`] for `provider` (an OpenAI-compatible key points at the fake's `/v1`).
    pub async fn key(&self, actor: &Actor, provider: &str) -> CredentialSummary {
        self.key_with(actor, provider, "prod", KEY).await
    }

    /// Stores `secret` for `provider` under `label`.
    pub async fn key_with(
        &self,
        actor: &Actor,
        provider: &str,
        label: &str,
        secret: &str,
    ) -> CredentialSummary {
        let base_url = match provider {
            "openai_compatible" => format!("{}/v1", self.upstream.uri()),
            _ => String::new(),
        };
        let key = NewKey {
            provider,
            label,
            base_url: &base_url,
            api_key: SecretString::from(secret.to_owned()),
        };
        add_credential(&self.db, &self.vault, &self.http.egress, actor, key)
            .await
            .unwrap()
    }

    /// Creates an agent from `draft`.
    pub async fn agent(&self, actor: &Actor, draft: &AgentDraft) -> Agent {
        self.try_agent(actor, draft).await.unwrap()
    }

    pub async fn try_agent(&self, actor: &Actor, draft: &AgentDraft) -> Result<Agent, CoreError> {
        create_agent(&self.db, &self.rules(), actor, draft).await
    }

    /// Runs `agent_id` with `input` (streamed, from the test panel) as a new request would.
    pub async fn run(&self, actor: &Actor, agent_id: &str, input: &str, mode: RunMode) -> RunView {
        self.try_run(actor, agent_id, input, mode).await.unwrap()
    }

    pub async fn try_run(
        &self,
        actor: &Actor,
        agent_id: &str,
        input: &str,
        mode: RunMode,
    ) -> Result<RunView, CoreError> {
        let actor = self.fresh(actor).await;
        self.runs.run(&actor, request(agent_id, input, mode)).await
    }

    /// [`World::try_run`] from another trigger.
    pub async fn try_run_with(
        &self,
        actor: &Actor,
        agent_id: &str,
        input: &str,
        mode: RunMode,
        trigger: RunTrigger,
    ) -> Result<RunView, CoreError> {
        let actor = self.fresh(actor).await;
        let request = RunRequest {
            trigger,
            ..request(agent_id, input, mode)
        };
        self.runs.run(&actor, request).await
    }
}

/// A streamed test-panel run of `agent_id`.
pub fn request(agent_id: &str, input: &str, mode: RunMode) -> RunRequest {
    RunRequest {
        agent_id: agent_id.to_owned(),
        input: input.to_owned(),
        mode,
        trigger: RunTrigger::TestPanel,
        stream: true,
        api_token: None,
        conversation: None,
        version: None,
        model: None,
        replay_of: None,
    }
}

/// An agent draft for `provider` (`gpt-4o-mini` unless changed), optionally with an output
/// contract.
pub fn draft(name: &str, provider: &str, output_schema: &str) -> AgentDraft {
    AgentDraft {
        name: name.into(),
        slug: String::new(),
        description: String::new(),
        provider: provider.into(),
        model: "gpt-4o-mini".into(),
        system_prompt: "Be brief.".into(),
        temperature: "0".into(),
        max_tokens: "50".into(),
        input_schema: String::new(),
        output_schema: output_schema.into(),
        prompt_template: String::new(),
        repair_output: false,
    }
}

/// An OpenAI chat-completions stream of `chunks`, then usage 1000 prompt / 500 completion.
pub fn openai_stream(chunks: &[&str]) -> ResponseTemplate {
    let mut body = String::new();
    for c in chunks {
        body.push_str(&format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
            serde_json::to_string(c).unwrap()
        ));
    }
    body.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    body.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500,\"total_tokens\":1500}}\n\n");
    body.push_str("data: [DONE]\n\n");
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

/// The same reply as [`openai_stream`], whole (a non-streamed chat completion).
pub fn openai_whole(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    }))
}
