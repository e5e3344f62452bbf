//! The REST API through HTTP, checked against its own OpenAPI document: every documented route
//! answers, every answer's status is documented for its route, and every JSON body conforms to the
//! documented schema (types, required properties, enums, bounds, `$ref`s).

mod common;

use common::rescoring::{rescorer, start};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use wardwatch::rescore::history::InMemorySource;

/// Check `value` against an OpenAPI 3.0 schema; errors name the JSON path.
fn conforms(doc: &Value, schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").ok_or(format!("{path}: unsupported $ref {r}"))?;
        return conforms(doc, &doc["components"]["schemas"][name], value, path);
    }
    if value.is_null() {
        return if schema["nullable"] == json!(true) { Ok(()) } else { Err(format!("{path}: null is not allowed")) };
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let ok = match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        _ => true,
    };
    if !ok {
        return Err(format!("{path}: expected {ty}, got {value}"));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            return Err(format!("{path}: {value} is not one of {values:?}"));
        }
    }
    if let (Some(n), Some(min)) = (value.as_f64(), schema.get("minimum").and_then(Value::as_f64)) {
        if n < min {
            return Err(format!("{path}: {n} < minimum {min}"));
        }
    }
    if let (Some(n), Some(max)) = (value.as_f64(), schema.get("maximum").and_then(Value::as_f64)) {
        if n > max {
            return Err(format!("{path}: {n} > maximum {max}"));
        }
    }
    if let Some(obj) = value.as_object() {
        for req in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let key = req.as_str().unwrap();
            if !obj.contains_key(key) {
                return Err(format!("{path}: required property `{key}` is missing"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => conforms(doc, s, v, &format!("{path}.{k}"))?,
                None if schema["additionalProperties"] == json!(false) => {
                    return Err(format!("{path}: property `{k}` is not documented"));
                }
                None => {
                    if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                        conforms(doc, extra, v, &format!("{path}.{k}"))?;
                    }
                }
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            conforms(doc, items, v, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

struct Api {
    doc: Value,
    base: String,
    client: reqwest::Client,
}

impl Api {
    /// Send a request and check the answer against the document; the status and JSON body.
    async fn call(&self, method: &str, route: &str, body: Option<String>) -> (u16, Value) {
        let url = format!("{}{route}", self.base);
        let req = match method {
            "get" => self.client.get(url),
            _ => self.client.post(url).header("content-type", "application/json").body(body.unwrap_or_default()),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let op = &self.doc["paths"][route][method];
        assert!(op.is_object(), "{method} {route} is not documented");
        let documented = &op["responses"][status.to_string()];
        assert!(documented.is_object(), "{method} {route} answered {status}, which is not documented: {text}");
        let Some(schema) = documented["content"].get("application/json").map(|c| &c["schema"]) else {
            return (status, Value::Null);
        };
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {route}: not JSON ({e}): {text}"));
        if let Err(e) = conforms(&self.doc, schema, &value, "$") {
            panic!("{method} {route} → {status} does not match its schema: {e}\n{text}");
        }
        (status, value)
    }
}

fn sample(score: f64, artifact: f64) -> Value {
    json!({"alertname": "HypoxiaDetected", "severity": "critical", "entity": "patient", "focus": "spo2",
           "features": {"score": score, "artifact": artifact}})
}

async fn api(with_model: bool) -> (Api, common::rescoring::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let chain = if with_model {
        Ok(rescorer(Arc::new(InMemorySource::new()), Duration::from_secs(1)))
    } else {
        Err("rescoring is disabled in the configuration".to_string())
    };
    let running = start(dir.path(), chain).await;
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let doc: Value = client.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    (Api { doc, base, client }, running, dir)
}

#[tokio::test]
async fn every_documented_route_answers_as_documented() {
    let (api, _running, _dir) = api(true).await;
    assert_eq!(api.doc["openapi"], "3.0.3");
    let (status, health) = api.call("get", "/health", None).await;
    assert_eq!((status, health["model_version"].as_str()), (200, Some("test-model-1")));
    let (status, info) = api.call("get", "/model_info", None).await;
    assert_eq!(status, 200);
    assert_eq!(info["window"]["step_seconds"], 5.0);
    assert!(info["policy"]["escalate_at"].is_number(), "{info}");
    let (status, p) = api.call("post", "/predict", Some(sample(0.95, 0.01).to_string())).await;
    assert_eq!((status, p["decision"].as_str()), (200, Some("escalate")));
    let (_, p) = api.call("post", "/predict", Some(sample(0.2, 0.9).to_string())).await;
    assert_eq!(p["decision"], "downgrade");
    let batch = json!({"samples": [sample(0.95, 0.0), sample(0.5, 0.1), sample(0.1, 0.99)]});
    let (status, b) = api.call("post", "/batch_predict", Some(batch.to_string())).await;
    assert_eq!(status, 200);
    let decisions: Vec<&str> =
        b["results"].as_array().unwrap().iter().map(|r| r["decision"].as_str().unwrap()).collect();
    assert_eq!(decisions, ["escalate", "keep", "downgrade"], "results keep the samples' order");
    for route in ["/-/healthy", "/-/ready", "/metrics", "/openapi.json", "/runbooks", "/"] {
        assert_eq!(api.call("get", route, None).await.0, 200, "{route}");
    }
    let payload = common::rescoring::hypoxia_payload("firing", "p00003", "2026-11-22T01:00:00Z", "aa01");
    assert_eq!(api.call("post", "/webhook", Some(payload)).await.0, 200);
    let (status, e) = api.call("post", "/-/reload", None).await;
    assert_eq!(status, 503, "an embedded sidecar has no file to reload from: {e}");
}

#[tokio::test]
async fn bad_requests_get_a_documented_4xx_with_a_json_error_naming_the_problem() {
    let (api, _running, _dir) = api(true).await;
    // The console's feedback form, answered badly: a JSON error, documented.
    let doc = &api.doc["paths"]["/alerts/{id}/feedback"]["post"]["responses"];
    for (form, want) in [("feedback=maybe", 422), ("feedback=real", 404)] {
        let url = format!("{}/alerts/0123456789abcdef/feedback", api.base);
        let r = api.client.post(url).header("content-type", "application/x-www-form-urlencoded").body(form).send();
        let r = r.await.unwrap();
        assert_eq!(r.status().as_u16(), want, "{form}");
        assert!(doc[want.to_string()]["content"]["application/json"].is_object(), "{want} is documented as JSON");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].is_string(), "{e}");
    }
    let (status, e) = api.call("post", "/predict", Some("{not json".into())).await;
    assert_eq!(status, 400);
    assert!(e["error"].as_str().unwrap().contains("invalid request body"), "{e}");
    let (status, e) = api.call("post", "/predict", Some(json!({"features": {}, "colour": "red"}).to_string())).await;
    assert_eq!(status, 400, "unknown fields are refused: {e}");
    let (status, e) = api.call("post", "/predict", Some(json!({"features": {"heart": 1.0}}).to_string())).await;
    assert_eq!(status, 422);
    assert!(e["error"].as_str().unwrap().contains("unknown feature `heart`"), "{e}");
    let (status, e) = api.call("post", "/predict", Some(json!({"features": {"score": "high"}}).to_string())).await;
    assert_eq!(status, 400, "{e}");
    let negative = json!({"features": {"score": 0.5, "artifact": 0.1}, "firing_for_seconds": -1});
    assert_eq!(api.call("post", "/predict", Some(negative.to_string())).await.0, 422);
    let batch = json!({"samples": [sample(0.5, 0.1), {"features": {"x": 1.0}}]});
    let (status, e) = api.call("post", "/batch_predict", Some(batch.to_string())).await;
    assert_eq!(status, 422);
    assert!(e["error"].as_str().unwrap().starts_with("samples[1].features"), "the failing sample is named: {e}");
    let huge = format!("{{\"features\": {{\"score\": 0.5, \"pad\": \"{}\"}}}}", "x".repeat(70 * 1024));
    assert_eq!(api.call("post", "/predict", Some(huge)).await.0, 413);
    let many = json!({"samples": vec![json!({"features": {"score": 0.5, "artifact": 0.1}}); 10_001]});
    let (status, e) = api.call("post", "/batch_predict", Some(many.to_string())).await;
    assert_eq!(status, 413, "{e}");
}

#[tokio::test]
async fn without_a_model_scoring_routes_answer_503_and_health_says_why() {
    let (api, _running, _dir) = api(false).await;
    let (status, health) = api.call("get", "/health", None).await;
    assert_eq!(status, 200);
    assert!(health["rescoring"].as_str().unwrap().contains("disabled"), "{health}");
    assert_eq!(api.call("get", "/model_info", None).await.0, 503);
    assert_eq!(api.call("post", "/predict", Some(sample(0.5, 0.5).to_string())).await.0, 503);
    assert_eq!(api.call("post", "/batch_predict", Some(json!({"samples": []}).to_string())).await.0, 503);
}
