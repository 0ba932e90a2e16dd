//! Text that must never reach a log: a password or an API key while it crosses the
//! browser/server boundary as a server function argument (whose `Debug` would otherwise print it).
//! On the wire it is the plain string (`serde(transparent)`), so forms and clients are unchanged;
//! on the server it becomes a `secrecy::SecretString` at once.

use serde::{Deserialize, Serialize};

/// A secret string whose `Debug` is `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted(String);

impl Redacted {
    /// The text, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl From<String> for Redacted {
    fn from(text: String) -> Redacted {
        Redacted(text)
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::Redacted;

    #[test]
    fn it_is_a_plain_string_on_the_wire_and_hidden_in_debug() {
        let secret = Redacted::from("sk-live-0123456789".to_owned());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(<redacted>)");
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(json, r#""sk-live-0123456789""#);
        let back: Redacted = serde_json::from_str(&json).unwrap();
        assert_eq!(back.expose(), "sk-live-0123456789");
    }
}
