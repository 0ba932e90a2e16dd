//! How server functions' answers travel: JSON, as serde_json text — but decoded in the browser
//! from `&str`, the way Leptos decodes a resource the server rendered into the page.
//!
//! server_fn's own `Json` decodes with `serde_json::from_slice`, resources with `from_str`: two
//! readers, so the compiler emitted every answer type's `Deserialize` twice into the WASM. One
//! reader halves that code (BENCHMARKS.md "Bundle size"). The bytes on the wire are the same
//! JSON (`application/json`).

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON read from text: see the module docs. `#[server(output = crate::wire::Json)]`.
pub struct JsonText;

/// A `POST` whose answer is [`JsonText`].
pub type Json = Post<JsonText>;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = DecodeError;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(|_| DecodeError::NotUtf8)?;
        serde_json::from_str(text).map_err(DecodeError::Json)
    }
}

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the answer is not UTF-8 text")]
    NotUtf8,
    #[error(transparent)]
    Json(serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_bytes() {
        let bytes = <JsonText as Encodes<Vec<String>>>::encode(&vec!["é".to_owned()]).unwrap();
        assert_eq!(&bytes[..], "[\"é\"]".as_bytes());
        let back: Vec<String> = JsonText::decode(bytes).unwrap();
        assert_eq!(back, ["é"]);
        let bad: Result<Vec<String>, _> = JsonText::decode(Bytes::from_static(b"[\"\xff\"]"));
        assert!(matches!(bad, Err(DecodeError::NotUtf8)));
        let bad: Result<Vec<String>, _> = JsonText::decode(Bytes::from_static(b"[1"));
        assert!(matches!(bad, Err(DecodeError::Json(_))));
    }
}
