//! Prompt templates: an agent's user message written with input fields, rendered by `minijinja`.
//!
//! A template sees each top-level input field by name (`{{ question }}`) and the whole input as
//! `input` (`{{ input | tojson }}`). Without a template, the input JSON itself is the user
//! message. The builder asks [`report`] which fields a template uses and which of them the input
//! schema does not define; rendering is bounded (fuel, output size) so a template cannot stall a
//! worker.

use serde::{Deserialize, Serialize};

/// What the builder shows under the template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateReport {
    /// Input fields the template uses, in alphabetical order.
    pub used: Vec<String>,
    /// Used names the input schema does not define.
    pub unknown: Vec<String>,
    /// Why the template does not compile.
    pub error: Option<String>,
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use minijinja::{Environment, UndefinedBehavior};
    use serde_json::Value;

    use super::TemplateReport;

    /// Largest rendered user message, in bytes.
    pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;
    /// Names every template may use that are not input fields.
    const GLOBALS: [&str; 6] = ["input", "range", "dict", "namespace", "debug", "loop"];

    fn environment() -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_fuel(Some(100_000));
        env
    }

    fn explain(e: &minijinja::Error) -> String {
        match e.line() {
            Some(line) => format!(
                "line {line}: {}",
                e.detail().unwrap_or(&e.kind().to_string())
            ),
            None => e
                .detail()
                .map_or_else(|| e.kind().to_string(), str::to_owned),
        }
    }

    /// Checks that a template compiles; blank is fine (no template).
    pub fn check(template: &str) -> Result<(), String> {
        if template.trim().is_empty() {
            return Ok(());
        }
        environment()
            .template_from_str(template)
            .map(|_| ())
            .map_err(|e| format!("The template does not compile: {}", explain(&e)))
    }

    /// Which input fields `template` uses, and which the input schema does not define.
    pub fn report(template: &str, input_schema: Option<&Value>) -> TemplateReport {
        if template.trim().is_empty() {
            return TemplateReport::default();
        }
        let env = environment();
        let t = match env.template_from_str(template) {
            Ok(t) => t,
            Err(e) => {
                return TemplateReport {
                    error: Some(format!("The template does not compile: {}", explain(&e))),
                    ..TemplateReport::default()
                };
            }
        };
        let mut used: Vec<String> = t
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !GLOBALS.contains(&v.as_str()))
            .collect();
        used.sort();
        let known = |name: &str| {
            input_schema
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .is_some_and(|p| p.contains_key(name))
        };
        let unknown = used.iter().filter(|n| !known(n)).cloned().collect();
        TemplateReport {
            used,
            unknown,
            error: None,
        }
    }

    /// The user message for `input`: the rendered template, or the input JSON without one.
    pub fn render(
        template: &str,
        input_text: &str,
        input: Option<&Value>,
    ) -> Result<String, String> {
        if template.trim().is_empty() {
            return Ok(input_text.to_owned());
        }
        let parsed;
        let input = match input {
            Some(v) => v,
            None => {
                parsed = serde_json::from_str::<Value>(input_text)
                    .unwrap_or_else(|_| Value::String(input_text.to_owned()));
                &parsed
            }
        };
        let mut ctx = match input {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        ctx.insert("input".into(), input.clone());
        let env = environment();
        let compiled = env
            .template_from_str(template)
            .map_err(|e| format!("The prompt template failed: {}", explain(&e)))?;
        // Written through a writer that stops at the cap: a loop over a large input field fails
        // at 1 MiB instead of building gigabytes first.
        let mut out = Capped(Vec::new());
        let rendered = compiled.render_captured_to(Value::Object(ctx), &mut out);
        if out.0.len() > MAX_RENDERED_BYTES {
            return Err(format!(
                "The prompt template produced more than {} KiB.",
                MAX_RENDERED_BYTES / 1024
            ));
        }
        rendered.map_err(|e| format!("The prompt template failed: {}", explain(&e)))?;
        String::from_utf8(out.0).map_err(|_| "The prompt template produced invalid text.".into())
    }

    /// Bytes written so far; refuses to hold more than one byte past the cap.
    struct Capped(Vec<u8>);

    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = (MAX_RENDERED_BYTES + 1).saturating_sub(self.0.len());
            if buf.len() > room {
                self.0.extend_from_slice(&buf[..room]);
                return Err(std::io::Error::other("the rendered template is too large"));
            }
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_fields_and_the_whole_input() {
        let t = "Q: {{ question }} ({{ tone | default('neutral') }}) {{ input | tojson }}";
        let out = render(t, "", Some(&json!({"question": "Why?"}))).unwrap();
        assert_eq!(out, r#"Q: Why? (neutral) {"question":"Why?"}"#);
        // Without a template the input JSON is the message, as sent.
        assert_eq!(render("  ", "{\"a\": 1}", None).unwrap(), "{\"a\": 1}");
        // Text input that is not JSON is still available as `input`.
        assert_eq!(render("[{{ input }}]", "hello", None).unwrap(), "[hello]");
    }

    #[test]
    fn reports_used_and_unknown_fields() {
        let schema = json!({"type": "object", "properties": {"question": {}, "tone": {}}});
        let r = report(
            "{% for x in range(2) %}{{ question }}{{ loop.index }}{% endfor %}{{ tone }}{{ topic.name }}{{ input }}",
            Some(&schema),
        );
        assert_eq!(r.used, ["question", "tone", "topic"]);
        assert_eq!(r.unknown, ["topic"]);
        assert_eq!(r.error, None);
        assert_eq!(report("", Some(&schema)), TemplateReport::default());
    }

    #[test]
    fn errors_are_clear_and_runaway_templates_stop() {
        let err = check("Hello {{ name ").unwrap_err();
        assert!(
            err.starts_with("The template does not compile: line 1"),
            "{err}"
        );
        assert!(report("{% if %}", None).error.is_some());
        let err = render(
            "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}",
            "",
            Some(&json!({})),
        )
        .unwrap_err();
        assert!(err.starts_with("The prompt template failed"), "{err}");
        // Few loop steps, each writing a large field: stopped at the output cap, not after.
        let big = "y".repeat(100 * 1024);
        let err = render(
            "{% for a in range(20) %}{{ text }}{% endfor %}",
            "",
            Some(&json!({ "text": big })),
        )
        .unwrap_err();
        assert!(err.contains("more than 1024 KiB"), "{err}");
        let ok = render(
            "{% for a in range(5) %}{{ text }}{% endfor %}",
            "",
            Some(&json!({ "text": "ab" })),
        )
        .unwrap();
        assert_eq!(ok, "ababababab");
    }
}

/// Templates are typed by users: any text, built from the pieces of the template language so
/// the renderer meets loops, filters, macros and broken syntax — rendering ends (fuel), within
/// its output cap, with a message or a result, never a panic.
#[cfg(test)]
mod untrusted_tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn template() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "{{ ",
            " }}",
            "{% ",
            " %}",
            "{# ",
            " #}",
            "for x in ",
            "range(100000)",
            "endfor",
            "if ",
            "else",
            "endif",
            "input",
            "question",
            ".",
            "|",
            "tojson",
            "join(', ')",
            "upper",
            "length",
            "default('x')",
            "~",
            "*",
            "+",
            "'ab'",
            "9999999999",
            "loop",
            "recursive",
            "macro m()",
            "endmacro",
            "m()",
            "set y = ",
            "namespace()",
            "(",
            ")",
            "[",
            "]",
            "x",
            " ",
            "\n",
            "{{",
            "}}",
            "{%",
            "%}",
            "raw",
            "endraw",
            "include 'a'",
            "extends 'b'",
            "debug()",
            "dict(a=1)",
            "filter upper",
            "endfilter",
        ]);
        prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn any_template_renders_within_bounds_or_says_why(
            t in template(),
            question in ".{0,30}",
        ) {
            let input = json!({ "question": question, "items": [1, 2, 3] });
            match render(&t, "", Some(&input)) {
                Ok(text) => prop_assert!(text.len() <= MAX_RENDERED_BYTES),
                Err(message) => prop_assert!(!message.is_empty() && message.len() < 2_000),
            }
            let report = report(&t, None);
            prop_assert!(report.used.len() <= t.len());
        }
    }
}
