//! Runs in flight, so a person can stop one — only from the run's workspace. A run is registered
//! before its id is handed to anyone (a Stop right after `started` always finds it) and removed
//! whatever way it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::error::CoreError;
use crate::workspaces::Actor;

#[derive(Clone, Default, Debug)]
pub struct InFlight(Arc<Mutex<HashMap<String, (String, CancellationToken)>>>);

impl InFlight {
    /// Registers a run; the token is cancelled by [`InFlight::cancel`].
    pub(super) fn register(&self, run_id: &str, workspace_id: &str) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut map) = self.0.lock() {
            map.insert(run_id.to_owned(), (workspace_id.to_owned(), token.clone()));
            crate::telemetry::in_flight(map.len());
        }
        token
    }

    pub(super) fn finish(&self, run_id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(run_id);
            crate::telemetry::in_flight(map.len());
        }
    }

    /// Stops a running run of the caller's workspace (members and above: viewers only read);
    /// false when there is none (or it is another workspace's). Viewers are refused.
    pub fn cancel(&self, actor: &Actor, run_id: &str) -> Result<bool, CoreError> {
        crate::workspaces::require_builder(actor)?;
        let Ok(map) = self.0.lock() else {
            return Ok(false);
        };
        Ok(match map.get(run_id) {
            Some((ws, token)) if *ws == actor.workspace_id => {
                token.cancel();
                true
            }
            _ => false,
        })
    }

    /// Stops run `run_id` if it is in flight here for `workspace_id` (a Stop forwarded by another
    /// instance, which checked the caller).
    pub(super) fn cancel_in(&self, workspace_id: &str, run_id: &str) -> bool {
        let Ok(map) = self.0.lock() else {
            return false;
        };
        match map.get(run_id) {
            Some((ws, token)) if ws == workspace_id => {
                token.cancel();
                true
            }
            _ => false,
        }
    }

    /// The ids of the runs in flight.
    pub(super) fn ids(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
