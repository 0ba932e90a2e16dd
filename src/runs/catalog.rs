//! What a run reads about its workspace — the agent, the key for the agent's provider, the
//! workspace's price overrides and limits — kept in memory per workspace and trusted only while the
//! workspace's generation is the one the request's actor was loaded with.
//!
//! Every write to agents, keys or prices bumps the generation in its own transaction
//! (`workspaces::bump_generation`), and the actor is loaded with the generation on every request
//! (one query that was made anyway). So a cached entry is never used after a change committed
//! before the request began — on this instance or any other sharing the database — and a revoked
//! key or a deleted agent takes effect with the next request. An entry is only ever filled with
//! data read *after* the generation it is tagged with, so it can be older than the database only
//! by changes the generation check catches. Keys stay sealed in the cache (opened per run).
//!
//! Bounded: at most [`MAX_WORKSPACES`] workspaces and [`MAX_AGENTS`] agents each; past that the
//! cache starts over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::agents::{Agent, agent_at_version, get_agent};
use crate::credentials::{StoredKey, key_for_run};
use crate::db::Db;
use crate::error::CoreError;
use crate::limits::{LimitSet, limit_set};
use crate::pricing::{ModelPrice, workspace_prices};
use crate::providers::ProviderKind;
use crate::workspaces::Actor;

const MAX_WORKSPACES: usize = 10_000;
const MAX_AGENTS: usize = 1_000;

#[derive(Default)]
struct Entry {
    generation: i64,
    agents: HashMap<String, Arc<Agent>>,
    keys: HashMap<ProviderKind, Option<StoredKey>>,
    prices: Option<Arc<Vec<ModelPrice>>>,
    limits: Option<Arc<LimitSet>>,
}

#[derive(Default)]
pub(super) struct Catalog(Mutex<HashMap<String, Entry>>);

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalog")
    }
}

impl Catalog {
    /// A cached value of the actor's workspace at the actor's generation.
    fn cached<T>(&self, actor: &Actor, get: impl FnOnce(&Entry) -> Option<T>) -> Option<T> {
        let map = self.0.lock().ok()?;
        map.get(&actor.workspace_id)
            .filter(|e| e.generation == actor.generation)
            .and_then(get)
    }

    /// Keeps a value read after the actor's generation was read. An entry of an older
    /// generation starts over; a newer one (a later request got there first) is left alone.
    fn keep(&self, actor: &Actor, put: impl FnOnce(&mut Entry)) {
        let Ok(mut map) = self.0.lock() else { return };
        if map.len() >= MAX_WORKSPACES && !map.contains_key(&actor.workspace_id) {
            map.clear();
        }
        let entry = map.entry(actor.workspace_id.clone()).or_default();
        if entry.generation < actor.generation || entry.agents.len() >= MAX_AGENTS {
            *entry = Entry {
                generation: actor.generation,
                ..Entry::default()
            };
        }
        if entry.generation == actor.generation {
            put(entry);
        }
    }

    /// An agent of the actor's workspace (`NotFound` for any other).
    pub async fn agent(&self, db: &Db, actor: &Actor, id: &str) -> Result<Arc<Agent>, CoreError> {
        if let Some(agent) = self.cached(actor, |e| e.agents.get(id).cloned()) {
            return Ok(agent);
        }
        let agent = Arc::new(get_agent(db, actor, id).await?);
        self.keep(actor, |e| {
            e.agents.insert(id.to_owned(), agent.clone());
        });
        Ok(agent)
    }

    /// `agent` as it was at `version` (versions never change: cached like the agent).
    pub async fn agent_version(
        &self,
        db: &Db,
        actor: &Actor,
        agent: &Agent,
        version: i64,
    ) -> Result<Arc<Agent>, CoreError> {
        let key = format!("{}@{version}", agent.id);
        if let Some(agent) = self.cached(actor, |e| e.agents.get(&key).cloned()) {
            return Ok(agent);
        }
        let at = Arc::new(agent_at_version(db, actor, &agent.id, version).await?);
        self.keep(actor, |e| {
            e.agents.insert(key, at.clone());
        });
        Ok(at)
    }

    /// The key a run of `provider` uses, if the workspace has one.
    pub async fn key(
        &self,
        db: &Db,
        actor: &Actor,
        provider: ProviderKind,
    ) -> Result<Option<StoredKey>, CoreError> {
        if let Some(key) = self.cached(actor, |e| e.keys.get(&provider).cloned()) {
            return Ok(key);
        }
        let key = key_for_run(db, &actor.workspace_id, provider).await?;
        self.keep(actor, |e| {
            e.keys.insert(provider, key.clone());
        });
        Ok(key)
    }

    /// The workspace's price overrides.
    pub async fn prices(&self, db: &Db, actor: &Actor) -> Result<Arc<Vec<ModelPrice>>, CoreError> {
        if let Some(prices) = self.cached(actor, |e| e.prices.clone()) {
            return Ok(prices);
        }
        let prices = Arc::new(workspace_prices(db, &actor.workspace_id).await?);
        self.keep(actor, |e| e.prices = Some(prices.clone()));
        Ok(prices)
    }

    /// The workspace's limits and its per-agent and per-token overrides.
    pub async fn limits(&self, db: &Db, actor: &Actor) -> Result<Arc<LimitSet>, CoreError> {
        if let Some(limits) = self.cached(actor, |e| e.limits.clone()) {
            return Ok(limits);
        }
        let limits = Arc::new(limit_set(db, &actor.workspace_id).await?);
        self.keep(actor, |e| e.limits = Some(limits.clone()));
        Ok(limits)
    }
}
