//! Accounts: sign-up and log-in rules (shared, so the browser shows the same field errors the
//! server enforces) and, on the server, [`Accounts`]: argon2id password hashing
//! (`passwords`), the log-in and sign-up throttles (`throttle`), the client's address behind
//! trusted proxies (`client`) and the account business functions — sign up, log in, confirm the
//! password (re-authentication), change it, sign out everywhere — each recorded as an account
//! event (`audit`).

use crate::validation::FieldError;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;
pub const MAX_DISPLAY_NAME_CHARS: usize = 80;

/// Trims and lower-cases an email: emails are unique case-insensitively.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Emails longer than this (RFC 5321's path limit) are refused before anything keys on them.
pub const MAX_EMAIL_BYTES: usize = 254;

/// Field errors for a new password (`field` names the input).
pub fn validate_new_password(field: &str, password: &str) -> Option<FieldError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Some(FieldError::new(
            field,
            format!("Use at least {MIN_PASSWORD_CHARS} characters."),
        ))
    } else if n > MAX_PASSWORD_CHARS {
        Some(FieldError::new(
            field,
            format!("Use at most {MAX_PASSWORD_CHARS} characters."),
        ))
    } else {
        None
    }
}

/// Field errors for a sign-up form (`email`, `display_name`, `password`).
pub fn validate_sign_up(email: &str, display_name: &str, password: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(m) = check_email(&normalize_email(email)) {
        errors.push(FieldError::new("email", m));
    }
    if let Err(e) = validate_display_name(display_name) {
        errors.push(e);
    }
    errors.extend(validate_new_password("password", password));
    errors
}

/// The trimmed display name, or what is wrong with it (field `display_name`).
pub fn validate_display_name(display_name: &str) -> Result<String, FieldError> {
    let name = display_name.trim();
    if name.is_empty() {
        Err(FieldError::new("display_name", "Enter your name."))
    } else if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        Err(FieldError::new(
            "display_name",
            format!("Use at most {MAX_DISPLAY_NAME_CHARS} characters."),
        ))
    } else if name.chars().any(char::is_control) {
        Err(FieldError::new(
            "display_name",
            "Use letters, digits, spaces and punctuation.",
        ))
    } else {
        Ok(name.to_owned())
    }
}

fn check_email(email: &str) -> Result<(), &'static str> {
    if email.is_empty() {
        return Err("Enter your email address.");
    }
    if email.len() > MAX_EMAIL_BYTES || email.chars().any(char::is_whitespace) {
        return Err("Enter a valid email address.");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(())
        }
        _ => Err("Enter a valid email address."),
    }
}

#[cfg(feature = "server")]
mod accounts;
#[cfg(feature = "server")]
pub mod client;
#[cfg(feature = "server")]
mod passwords;
#[cfg(feature = "server")]
pub mod throttle;

#[cfg(feature = "server")]
pub use accounts::*;
#[cfg(feature = "server")]
pub use passwords::Passwords;

#[cfg(test)]
mod tests;
