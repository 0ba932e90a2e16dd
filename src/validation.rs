//! Field errors: the one shape every form uses to say what is wrong with which input.

use serde::{Deserialize, Serialize};

/// One problem with one named input of a form. `field` is the form's field name, so the UI can
/// put `message` right under that input.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The message for `field` in `errors`, if any (the first one wins).
pub fn message_for<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_for_finds_first_error_of_field() {
        let errors = vec![
            FieldError::new("name", "required"),
            FieldError::new("model", "too long"),
            FieldError::new("name", "second"),
        ];
        assert_eq!(message_for(&errors, "name"), Some("required"));
        assert_eq!(message_for(&errors, "model"), Some("too long"));
        assert_eq!(message_for(&errors, "other"), None);
    }
}
