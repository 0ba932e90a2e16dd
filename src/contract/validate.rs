//! The browser's validator ([`Node::errors`]): derived from the model, with the same verdict as
//! the server's `jsonschema` for every schema the model can produce, and exact comparison of JSON
//! numbers.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::{Kind, Node, escape_pointer};
use crate::validation::FieldError;

impl Node {
    /// Every violation of `instance`, as field errors at JSON pointers (`/` for the root). A
    /// missing required field is reported at the field's own pointer, so a form can show it next
    /// to the field. Empty means valid — the same verdict as the server's `jsonschema` validator.
    pub fn errors(&self, instance: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        self.check(instance, "", &mut out);
        out
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.errors(instance).is_empty()
    }

    fn check(&self, v: &Value, at: &str, out: &mut Vec<FieldError>) {
        let mut fail = |m: String| {
            out.push(FieldError::new(if at.is_empty() { "/" } else { at }, m));
        };
        match &self.kind {
            Kind::String {
                min_length,
                max_length,
                pattern,
            } => {
                let Some(s) = v.as_str() else {
                    return fail("Enter text.".into());
                };
                match outside(s.chars().count() as u64, *min_length, *max_length) {
                    Some(Limit::Below(min)) => fail(format!("Use at least {min} characters.")),
                    Some(Limit::Above(max)) => fail(format!("Use at most {max} characters.")),
                    None => {}
                }
                if let Some(p) = pattern {
                    // A pattern outside the portable subset is a model problem; the form cannot
                    // be submitted with it, so it does not also fail here.
                    if let Ok(re) = super::browser_regex(p)
                        && !re.is_match(s)
                    {
                        fail(format!("Must match the pattern {p}."));
                    }
                }
            }
            Kind::Number { minimum, maximum } | Kind::Integer { minimum, maximum } => {
                let Some(n) = v.as_number() else {
                    return fail("Enter a number.".into());
                };
                if matches!(self.kind, Kind::Integer { .. }) && !is_integer(n) {
                    return fail("Enter a whole number.".into());
                }
                if let Some(min) = minimum
                    && cmp_numbers(n, min) == Ordering::Less
                {
                    fail(format!("Must be at least {min}."));
                }
                if let Some(max) = maximum
                    && cmp_numbers(n, max) == Ordering::Greater
                {
                    fail(format!("Must be at most {max}."));
                }
            }
            Kind::Boolean => {
                if !v.is_boolean() {
                    fail("Choose yes or no.".into());
                }
            }
            Kind::Enum { values } => match v.as_str() {
                Some(s) if values.iter().any(|x| x == s) => {}
                _ => fail(format!("Choose one of: {}.", values.join(", "))),
            },
            Kind::Object { fields, additional } => {
                let Some(map) = v.as_object() else {
                    return fail("Must be an object.".into());
                };
                for f in fields {
                    let child = format!("{at}/{}", escape_pointer(&f.name));
                    match map.get(&f.name) {
                        Some(x) => f.node.check(x, &child, out),
                        None if f.required => out.push(FieldError::new(child, "Required.")),
                        None => {}
                    }
                }
                if !additional {
                    for k in map.keys() {
                        if !fields.iter().any(|f| &f.name == k) {
                            out.push(FieldError::new(
                                if at.is_empty() { "/" } else { at },
                                format!("Unexpected field \"{k}\"."),
                            ));
                        }
                    }
                }
            }
            Kind::Array {
                items,
                min_items,
                max_items,
            } => {
                let Some(list) = v.as_array() else {
                    return fail("Must be a list.".into());
                };
                match outside(list.len() as u64, *min_items, *max_items) {
                    Some(Limit::Below(min)) => fail(format!("Add at least {min} items.")),
                    Some(Limit::Above(max)) => fail(format!("Use at most {max} items.")),
                    None => {}
                }
                for (i, x) in list.iter().enumerate() {
                    items.check(x, &format!("{at}/{i}"), out);
                }
            }
        }
    }
}

/// The limit a count breaks.
enum Limit {
    Below(u64),
    Above(u64),
}

/// Whether `n` is outside `min..=max` (a model with min above max is a model problem; either
/// breach makes the value invalid, as it does for the server).
fn outside(n: u64, min: Option<u64>, max: Option<u64>) -> Option<Limit> {
    match (min, max) {
        (Some(min), _) if n < min => Some(Limit::Below(min)),
        (_, Some(max)) if n > max => Some(Limit::Above(max)),
        _ => None,
    }
}

/// Integer per JSON Schema 2020-12: a number with no fractional part (`1.0` counts).
pub fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// Exact comparison of two JSON numbers (integers beyond 2^53 are not rounded).
pub fn cmp_numbers(a: &Number, b: &Number) -> Ordering {
    fn int(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(x), None) => cmp_int_float(x, b.as_f64().unwrap_or(0.0)),
        (None, Some(y)) => cmp_int_float(y, a.as_f64().unwrap_or(0.0)).reverse(),
        (None, None) => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

fn cmp_int_float(i: i128, f: f64) -> Ordering {
    const LIMIT: f64 = 1.0e30; // far beyond every i64/u64, well inside i128
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f <= -LIMIT {
        return Ordering::Greater;
    }
    let t = f.trunc();
    // Exact: |t| < 1e30 < 2^127 and t has no fraction.
    let ti = t as i128;
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        other => other,
    }
}
