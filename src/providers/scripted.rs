//! A provider that follows a script — answers, fails, hangs or panics on cue — for the paths no
//! real provider takes on demand (tests only: behind the `testing` feature, and used only where a
//! test configures it).

#![expect(
    clippy::panic,
    reason = "panicking on cue is what this provider is for"
)]

use std::sync::Arc;

use super::{ChatRequest, ChatResponse, EventStream, FinishReason, ProviderError, StreamEvent};

/// What a [`Scripted`] provider does with a request.
#[derive(Clone, Debug)]
pub enum Script {
    /// Answers with this text.
    Reply(String),
    /// Streams these pieces, then panics.
    PanicAfter(Vec<String>),
    /// Fails with this error.
    Fail(ProviderError),
    /// Never answers.
    Hang,
}

/// A provider that follows a script (replaces the mock in a world configured with it).
#[derive(Clone)]
pub struct Scripted(Arc<dyn Fn(&ChatRequest) -> Script + Send + Sync>);

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

impl Scripted {
    pub fn new(script: impl Fn(&ChatRequest) -> Script + Send + Sync + 'static) -> Scripted {
        Scripted(Arc::new(script))
    }

    pub(crate) async fn complete(
        &self,
        request: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        match (self.0)(request) {
            Script::Reply(text) => Ok(ChatResponse {
                text,
                usage: None,
                finish_reason: None,
                model: None,
            }),
            Script::PanicAfter(_) => panic!("scripted panic"),
            Script::Fail(e) => Err(e),
            Script::Hang => std::future::pending().await,
        }
    }

    pub(crate) async fn stream(&self, request: &ChatRequest) -> Result<EventStream, ProviderError> {
        use futures_util::StreamExt;
        match (self.0)(request) {
            Script::Reply(text) => Ok(Box::pin(futures_util::stream::iter([
                Ok(StreamEvent::Delta(text)),
                Ok(StreamEvent::Finish(FinishReason::Stop)),
            ]))),
            Script::PanicAfter(pieces) => {
                let deltas = futures_util::stream::iter(
                    pieces.into_iter().map(|p| Ok(StreamEvent::Delta(p))),
                );
                let boom =
                    futures_util::stream::once(async { panic!("scripted panic mid-stream") });
                Ok(Box::pin(deltas.chain(boom)))
            }
            Script::Fail(e) => Err(e),
            Script::Hang => std::future::pending().await,
        }
    }
}
