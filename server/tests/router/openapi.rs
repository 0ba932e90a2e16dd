//! `/api/v1/openapi.json`: a valid OpenAPI 3.1 document (it parses as one, every reference
//! resolves) that lists every route the API serves with its method, its errors and its bearer
//! scheme — generated from the handlers, so a route added without its annotation fails here.

use axum::http::{StatusCode, header};
use serde_json::Value;

use super::api::api;
use super::*;

/// Every `$ref` in `node`.
fn refs(node: &Value, found: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => found.push(r.clone()),
                    _ => refs(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_is_valid_and_lists_every_route() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        // No token needed: it describes the API and holds no workspace's data.
        let reply = api(r, "GET", "/api/v1/openapi.json", None, None, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
        let doc = reply.json();

        // It is an OpenAPI 3.1 document, as a validating parser reads it.
        assert_eq!(doc["openapi"], "3.1.0");
        let parsed = oas3::from_json(&reply.body).expect("a valid OpenAPI 3.1 document");
        assert_eq!(parsed.info.title, "Galaxy API");
        // Every reference points at something in the document.
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 10, "{found:?}");
        for r in &found {
            let pointer = r.strip_prefix('#').expect("local references only");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        for schema in [
            "RunView",
            "ErrorEnvelope",
            "ApiAgent",
            "CreateRun",
            "RunStatus",
        ] {
            assert!(
                doc["components"]["schemas"].get(schema).is_some(),
                "{schema} is not in the document"
            );
        }
        assert_eq!(
            doc["components"]["schemas"]["RunStatus"]["enum"]
                .as_array()
                .unwrap()
                .len(),
            galaxy_core::runs::RunStatus::ALL.len()
        );
        let bearer = &doc["components"]["securitySchemes"]["bearer"];
        assert_eq!(
            (bearer["type"].as_str(), bearer["scheme"].as_str()),
            (Some("http"), Some("bearer"))
        );

        // Every route the router serves is in it, with its method; every operation that needs a
        // token says so and documents the 401.
        let routes: Vec<&(&str, &str)> = galaxy_server::api::PATHS
            .iter()
            .chain(galaxy_server::api::openai::PATHS)
            .collect();
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(
            paths
                .values()
                .map(|p| p.as_object().unwrap().len())
                .sum::<usize>(),
            routes.len(),
            "the document has routes the router does not serve: {:?}",
            paths.keys().collect::<Vec<_>>()
        );
        for (method, path) in routes {
            let op = &doc["paths"][*path][method.to_lowercase()];
            assert!(op.is_object(), "{method} {path} is not in the document");
            assert!(op["responses"]["200"].is_object(), "{method} {path}");
            if *path != "/api/v1/openapi.json" {
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
                assert_eq!(
                    op["security"][0]
                        .as_object()
                        .map(|s| s.contains_key("bearer")),
                    Some(true),
                    "{method} {path}"
                );
            }
        }
        // The run endpoint documents its streamed form and its idempotency key.
        let create = &doc["paths"]["/api/v1/agents/{agent}/runs"]["post"];
        assert!(create["responses"]["200"]["content"]["text/event-stream"].is_object());
        assert!(
            create["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "Idempotency-Key")
        );
        assert!(create["requestBody"]["content"]["application/json"].is_object());
    });
}
