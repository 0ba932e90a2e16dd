//! "Call this agent" on an agent's page: its slug, its contracts, and copy-paste examples —
//! curl and JavaScript `fetch` against the REST API, Python with the official `openai` SDK
//! against the OpenAI-compatible endpoint — with this server's real URL, the agent's slug and an
//! input that fits its input schema. The token is a placeholder (`$GALAXY_TOKEN`): tokens are
//! made on Settings → API tokens and never shown again.

use galaxy_core::agents::Agent;
use leptos::prelude::*;
use serde_json::{Map, Value, json};

use crate::api::agents::api_base_url;

/// Where examples point when the server's URL cannot be known.
const FALLBACK_BASE: &str = "http://127.0.0.1:3000";

/// The three examples for an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Examples {
    pub curl: String,
    pub python: String,
    pub javascript: String,
}

/// An input for the examples: text for an agent without an input schema, else a value shaped
/// by the schema (defaults, constants, the first enum value or example where the schema gives
/// them; placeholders by type otherwise).
pub fn sample_input(schema: Option<&Value>) -> Value {
    match schema {
        None => Value::String("Hello!".into()),
        Some(schema) => sample(schema, 0),
    }
}

fn sample(schema: &Value, depth: usize) -> Value {
    if depth > 6 {
        return Value::Null;
    }
    for key in ["const", "default"] {
        if let Some(v) = schema.get(key) {
            return v.clone();
        }
    }
    for key in ["enum", "examples"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return first.clone();
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "",
    };
    match kind {
        "object" => {
            let mut object = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    object.insert(name.clone(), sample(property, depth + 1));
                }
            }
            Value::Object(object)
        }
        "array" => match schema.get("items") {
            Some(items) => json!([sample(items, depth + 1)]),
            None => json!([]),
        },
        "string" => Value::String("example text".into()),
        "integer" | "number" => schema.get("minimum").cloned().unwrap_or(json!(1)),
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    }
}

/// The examples for calling the agent `slug` at `base` with `input`.
pub fn examples(base: &str, slug: &str, input: &Value) -> Examples {
    let body = json!({ "input": input }).to_string().replace('\'', r"'\''");
    let curl = format!(
        "curl -sS {base}/api/v1/agents/{slug}/runs \\\n  \
         -H \"Authorization: Bearer $GALAXY_TOKEN\" \\\n  \
         -H \"Content-Type: application/json\" \\\n  \
         -d '{body}'"
    );
    // The user message is the input: the text itself, or the JSON as text.
    let text = match input {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let python = format!(
        "import os\n\
         from openai import OpenAI\n\
         \n\
         client = OpenAI(base_url=\"{base}/v1\", api_key=os.environ[\"GALAXY_TOKEN\"])\n\
         reply = client.chat.completions.create(\n    \
         model=\"agent/{slug}\",\n    \
         messages=[{{\"role\": \"user\", \"content\": {}}}],\n\
         )\n\
         print(reply.choices[0].message.content)",
        Value::String(text)
    );
    let javascript = format!(
        "const response = await fetch(\"{base}/api/v1/agents/{slug}/runs\", {{\n  \
         method: \"POST\",\n  \
         headers: {{\n    \
         Authorization: `Bearer ${{process.env.GALAXY_TOKEN}}`,\n    \
         \"Content-Type\": \"application/json\",\n  \
         }},\n  \
         body: JSON.stringify({{ input: {input} }}),\n\
         }});\n\
         const run = await response.json();\n\
         console.log(run.output);"
    );
    Examples {
        curl,
        python,
        javascript,
    }
}

fn pretty(schema: Option<&Value>) -> Option<String> {
    schema.map(|s| serde_json::to_string_pretty(s).unwrap_or_default())
}

#[component]
pub fn CallThisAgent(agent: Agent) -> impl IntoView {
    let base = crate::deferred::seeded(|| (), |_| api_base_url());
    let slug = agent.config.slug.clone();
    let input = sample_input(agent.config.input_schema.as_ref());
    let input_schema = pretty(agent.config.input_schema.as_ref());
    let output_schema = pretty(agent.config.output_schema.as_ref());
    let shown_slug = slug.clone();
    view! {
        <section class="panel call-agent" aria-labelledby="call-agent-title">
            <h2 id="call-agent-title">"Call this agent"</h2>
            <p>
                "Slug " <code data-slug>{shown_slug}</code>
                ". Make a token on " <a href="/settings/tokens">"Settings → API tokens"</a>
                " and export it as " <code>"GALAXY_TOKEN"</code>
                ". The " <a href="/api/v1/openapi.json">"OpenAPI document"</a>
                " describes every route."
            </p>
            <dl class="contracts">
                <dt>"Input"</dt>
                <dd>{match input_schema {
                    Some(s) => view! { <pre data-schema="input">{s}</pre> }.into_any(),
                    None => view! { <span class="muted">"Any text."</span> }.into_any(),
                }}</dd>
                <dt>"Output"</dt>
                <dd>{match output_schema {
                    Some(s) => view! { <pre data-schema="output">{s}</pre> }.into_any(),
                    None => view! { <span class="muted">"Free text."</span> }.into_any(),
                }}</dd>
            </dl>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    let (slug, input) = (slug.clone(), input.clone());
                    Suspend::new(async move {
                        let base = base.await.unwrap_or_else(|_| FALLBACK_BASE.to_owned());
                        let ex = examples(&base, &slug, &input);
                        view! {
                            <h3>"curl (REST API)"</h3>
                            <pre data-example="curl"><code>{ex.curl}</code></pre>
                            <h3>"Python (the official openai SDK)"</h3>
                            <pre data-example="python"><code>{ex.python}</code></pre>
                            <h3>"JavaScript (fetch, in Node)"</h3>
                            <pre data-example="javascript"><code>{ex.javascript}</code></pre>
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_follow_the_schema() {
        assert_eq!(sample_input(None), json!("Hello!"));
        let schema = json!({
            "type": "object",
            "properties": {
                "q": {"type": "string"},
                "n": {"type": "integer", "minimum": 3},
                "tone": {"enum": ["warm", "dry"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "lang": {"type": "string", "default": "en"},
                "nested": {"properties": {"ok": {"type": ["null", "boolean"]}}}
            }
        });
        assert_eq!(
            sample_input(Some(&schema)),
            json!({"q": "example text", "n": 3, "tone": "warm", "tags": ["example text"],
                "lang": "en", "nested": {"ok": true}})
        );
        // A schema that refers to itself forever still ends.
        let deep = json!({"type": "array", "items": {"type": "array", "items": {"type": "array",
            "items": {"type": "array", "items": {"type": "array", "items": {"type": "array",
            "items": {"type": "array", "items": {"type": "array", "items": {}}}}}}}}});
        assert!(sample_input(Some(&deep)).is_array());
    }

    #[test]
    fn examples_carry_the_url_slug_and_input_quoted_for_each_language() {
        let ex = examples(
            "https://galaxy.example.com",
            "support-bot",
            &json!({"q": "it's"}),
        );
        assert!(
            ex.curl
                .starts_with("curl -sS https://galaxy.example.com/api/v1/agents/support-bot/runs")
        );
        // The single quote survives the shell's single quotes.
        assert!(
            ex.curl.ends_with(r#"-d '{"input":{"q":"it'\''s"}}'"#),
            "{}",
            ex.curl
        );
        assert!(ex.curl.contains("Bearer $GALAXY_TOKEN"));
        assert!(
            ex.python
                .contains("base_url=\"https://galaxy.example.com/v1\"")
        );
        assert!(ex.python.contains("model=\"agent/support-bot\""));
        // JSON input is the user message's text.
        assert!(
            ex.python.contains(r#""content": "{\"q\":\"it's\"}""#),
            "{}",
            ex.python
        );
        assert!(
            ex.javascript
                .contains("body: JSON.stringify({ input: {\"q\":\"it's\"} })")
        );
        let text = examples("http://127.0.0.1:3000", "echo", &json!("Hello!"));
        assert!(text.python.contains(r#""content": "Hello!""#));
        assert!(text.curl.ends_with(r#"-d '{"input":"Hello!"}'"#));
    }
}
