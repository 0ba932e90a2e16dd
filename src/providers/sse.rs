//! One server-sent-events reader for every provider: parses the byte stream into events, skips
//! keep-alives (comments and empty data), ends at OpenAI's `[DONE]`, yields read and parse
//! failures as items, and — because it owns the response body — stops reading upstream as soon as
//! the consumer drops it.

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};

use super::ProviderError;

/// One event: its `event:` name (empty when absent) and its `data:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// The events of a streamed response, until `[DONE]` or the end of the body.
pub fn events(response: reqwest::Response) -> impl Stream<Item = Result<SseEvent, ProviderError>> {
    events_from(response.bytes_stream())
}

/// The same over any byte stream (tests feed it directly).
pub fn events_from<S, B, E>(bytes: S) -> impl Stream<Item = Result<SseEvent, ProviderError>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    bytes
        .eventsource()
        .filter_map(|item| async move {
            match item {
                Ok(ev) if ev.data.trim().is_empty() => None,
                Ok(ev) => Some(Ok(SseEvent {
                    event: ev.event,
                    data: ev.data,
                })),
                Err(e) => Some(Err(ProviderError::Stream(e.to_string()))),
            }
        })
        .take_while(|item| {
            let done = matches!(item, Ok(ev) if ev.data.trim() == "[DONE]");
            async move { !done }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(chunks: Vec<&'static str>) -> Vec<Result<SseEvent, ProviderError>> {
        let stream = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(c.as_bytes().to_vec())),
        );
        events_from(stream).collect().await
    }

    #[tokio::test]
    async fn splits_events_across_chunks_skips_keepalives_and_stops_at_done() {
        let got = collect(vec![
            ": keep-alive\n\n",
            "event: message_start\nda",
            "ta: {\"a\":1}\n\n",
            "data: \n\n",
            "data: {\"b\":2}\n\ndata: [DONE]\n\n",
            "data: {\"after\":\"done\"}\n\n",
        ])
        .await;
        let events: Vec<SseEvent> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events,
            [
                SseEvent {
                    event: "message_start".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: "message".into(),
                    data: "{\"b\":2}".into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn read_errors_are_items() {
        let stream = futures_util::stream::iter(vec![
            Ok::<_, String>(b"data: {}\n\n".to_vec()),
            Err("connection reset".to_owned()),
        ]);
        let got: Vec<_> = events_from(stream).collect().await;
        assert!(got[0].is_ok());
        assert!(matches!(&got[1], Err(ProviderError::Stream(m)) if m.contains("connection reset")));
    }
}
