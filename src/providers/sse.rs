//! One server-sent-events reader for every provider: parses the byte stream into events, skips
//! keep-alives (comments and empty data), ends after OpenAI's `[DONE]`, yields read and parse
//! failures as items, and — because it owns the response body — stops reading upstream as soon as
//! the consumer drops it.
//!
//! The parser (`eventsource-stream`) buffers a line, an event and invalid UTF-8 without limit, so
//! the bytes pass a guard first: a line or an event longer than the limit, a stream longer than
//! its limit, or bytes that are not UTF-8 end the stream with an error instead of growing a
//! buffer.

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt, future};

use super::ProviderError;
use super::http::BodyLimits;

/// One event: its `event:` name (empty when absent) and its `data:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// The events of a streamed response, until `[DONE]` or the end of the body.
pub fn events(
    response: reqwest::Response,
    limits: BodyLimits,
) -> impl Stream<Item = Result<SseEvent, ProviderError>> {
    events_from(response.bytes_stream(), limits)
}

/// The same over any byte stream (tests feed it directly).
pub fn events_from<S, B, E>(
    bytes: S,
    limits: BodyLimits,
) -> impl Stream<Item = Result<SseEvent, ProviderError>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    guarded(bytes, limits)
        .eventsource()
        .filter_map(|item| async move {
            match item {
                Ok(ev) if ev.data.trim().is_empty() => None,
                Ok(ev) => Some(Ok(SseEvent {
                    event: ev.event,
                    data: ev.data,
                })),
                Err(e) => Some(Err(match e {
                    eventsource_stream::EventStreamError::Transport(Refused::TooLarge(limit)) => {
                        ProviderError::TooLarge { limit }
                    }
                    other => ProviderError::Stream(other.to_string()),
                })),
            }
        })
        // `[DONE]` is passed on (it says the stream is complete) and nothing after it; nor after
        // the first error (the parser would go on reading past a refused or broken stretch, and
        // what it found there would depend on where the chunks were cut).
        .scan(false, |done, item| {
            if *done {
                return future::ready(None);
            }
            *done = item.is_err() || matches!(&item, Ok(ev) if is_done(ev));
            future::ready(Some(item))
        })
}

/// OpenAI's end-of-stream marker.
pub fn is_done(event: &SseEvent) -> bool {
    event.data.trim() == "[DONE]"
}

/// Why the guard ended a stream.
#[derive(Debug)]
enum Refused {
    Read(String),
    TooLarge(usize),
    NotUtf8,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Read(e) => f.write_str(e),
            Refused::TooLarge(limit) => write!(f, "the stream is larger than {limit} bytes"),
            Refused::NotUtf8 => f.write_str("the stream is not UTF-8"),
        }
    }
}

/// Lengths seen so far: the current line, the current event, the whole stream; and the bytes of
/// a UTF-8 character split across chunks.
#[derive(Default)]
struct Guard {
    line: usize,
    event: usize,
    total: usize,
    after_cr: bool,
    carry: Vec<u8>,
    done: bool,
}

impl Guard {
    fn check(&mut self, chunk: &[u8], limits: BodyLimits) -> Result<(), Refused> {
        self.total = self.total.saturating_add(chunk.len());
        if self.total > limits.max_stream_bytes() {
            return Err(Refused::TooLarge(limits.max_stream_bytes()));
        }
        let joined;
        let bytes: &[u8] = if self.carry.is_empty() {
            chunk
        } else {
            joined = [std::mem::take(&mut self.carry).as_slice(), chunk].concat();
            &joined
        };
        if let Err(e) = std::str::from_utf8(bytes) {
            if e.error_len().is_some() {
                return Err(Refused::NotUtf8);
            }
            self.carry = bytes[e.valid_up_to()..].to_vec();
        }
        let max = limits.max_event_bytes();
        for &b in chunk {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    // An empty line ends the event.
                    if self.line == 0 {
                        self.event = 0;
                    }
                    self.line = 0;
                    self.after_cr = b == b'\r';
                }
                _ => {
                    self.after_cr = false;
                    self.line += 1;
                    self.event += 1;
                    if self.event > max {
                        return Err(Refused::TooLarge(max));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The byte stream, ended with an error at the first breach of the limits.
fn guarded<S, B, E>(bytes: S, limits: BodyLimits) -> impl Stream<Item = Result<B, Refused>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    bytes.scan(Guard::default(), move |guard, item| {
        if guard.done {
            return future::ready(None);
        }
        let out = match item {
            Err(e) => {
                guard.done = true;
                Err(Refused::Read(e.to_string()))
            }
            Ok(b) => match guard.check(b.as_ref(), limits) {
                Ok(()) => Ok(b),
                Err(e) => {
                    guard.done = true;
                    Err(e)
                }
            },
        };
        future::ready(Some(out))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyLimits = BodyLimits {
        max_output_bytes: 1024,
    };

    async fn collect(
        chunks: Vec<Vec<u8>>,
        limits: BodyLimits,
    ) -> Vec<Result<SseEvent, ProviderError>> {
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        events_from(stream, limits).collect().await
    }

    fn text(chunks: &[&str]) -> Vec<Vec<u8>> {
        chunks.iter().map(|c| c.as_bytes().to_vec()).collect()
    }

    #[tokio::test]
    async fn splits_events_across_chunks_skips_keepalives_and_stops_at_done() {
        let got = collect(
            text(&[
                ": keep-alive\n\n",
                "event: message_start\nda",
                "ta: {\"a\":1}\n\n",
                "data: \n\n",
                "data: {\"b\":2}\n\ndata: [DONE]\n\n",
                "data: {\"after\":\"done\"}\n\n",
            ]),
            LIMITS,
        )
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
                SseEvent {
                    event: "message".into(),
                    data: "[DONE]".into()
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
        let got: Vec<_> = events_from(stream, LIMITS).collect().await;
        assert!(got[0].is_ok());
        assert!(matches!(&got[1], Err(ProviderError::Stream(m)) if m.contains("connection reset")));
    }

    #[tokio::test]
    async fn an_endless_line_or_event_ends_the_stream_without_buffering_it() {
        let limit = LIMITS.max_event_bytes();
        // One line with no end, fed in small chunks.
        let line: Vec<Vec<u8>> = std::iter::once(b"data: ".to_vec())
            .chain(std::iter::repeat_n(vec![b'x'; 4096], limit / 4096 + 2))
            .collect();
        let got = collect(line, LIMITS).await;
        assert!(
            matches!(got.last(), Some(Err(ProviderError::TooLarge { limit: l })) if *l == limit),
            "{:?}",
            got.last()
        );
        // Many short lines that never close the event.
        let event: Vec<Vec<u8>> =
            std::iter::repeat_n(b"data: yyyyyyyy\n".to_vec(), limit / 10).collect();
        let got = collect(event, LIMITS).await;
        assert!(matches!(
            got.last(),
            Some(Err(ProviderError::TooLarge { .. }))
        ));
        // Many small complete events: fine until the whole stream passes its own limit.
        let one = b"data: {\"c\":1}\n\n".to_vec();
        let n = LIMITS.max_stream_bytes() / one.len() + 2;
        let got = collect(std::iter::repeat_n(one, n).collect(), LIMITS).await;
        assert!(got.len() > 1000 && got[..1000].iter().all(Result::is_ok));
        assert!(matches!(
            got.last(),
            Some(Err(ProviderError::TooLarge { .. }))
        ));
    }

    #[tokio::test]
    async fn utf8_split_across_chunks_is_fine_and_invalid_bytes_end_the_stream() {
        let word = "data: {\"t\":\"é\"}\n\n".as_bytes();
        let at = word.iter().position(|b| *b == 0xc3).unwrap() + 1;
        let got = collect(vec![word[..at].to_vec(), word[at..].to_vec()], LIMITS).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().unwrap().data, "{\"t\":\"é\"}");
        let got = collect(vec![b"data: \xff\xfe\n\n".to_vec()], LIMITS).await;
        assert!(
            matches!(&got[0], Err(ProviderError::Stream(m)) if m.contains("UTF-8")),
            "{got:?}"
        );
    }
}
