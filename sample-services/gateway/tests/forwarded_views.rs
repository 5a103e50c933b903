//! The gateway's document agrees with the upstream documents on everything it forwards.
//!
//! For every operation of `contracts/openapi/gateway.json`, the upstream operation it is
//! forwarded to (the same method, the path without `/api`, in `orders.json`,
//! `inventory.json` or `shipping.json`) must be documented alike: each parameter the
//! gateway passes on (name, where, required, schema), the request body (media types,
//! required, schema), and each response status both document (media types and schemas).
//! Every status the upstream documents must be documented by the gateway too (it relays it),
//! unless the gateway answers that status itself (its shared responses: 401, 403, 429, 502,
//! 504). Schemas are compared after resolving `$ref`s, on everything a client relies on
//! (property names, `type`, `format`, `required`, `enum`, lengths, bounds, item counts,
//! patterns...): only prose (`description`, `title`, `example(s)`) may differ.
//!
//! The gateway documents the very types the upstreams serve (`sample-views`), so this holds
//! by construction; the test catches a copy creeping back in, or a document regenerated on
//! one side only.

use std::{collections::BTreeSet, path::PathBuf};

use serde_json::{Map, Value};

/// The upstream serving each first path segment under `/api` (the gateway's route table:
/// `handlers.rs` forwards each operation to one of these).
const UPSTREAMS: [(&str, &str); 3] = [
    ("products", "inventory"),
    ("orders", "orders"),
    ("shipments", "shipping"),
];
/// Upstream answers the gateway never relays, so need not document: (operation, status,
/// why). Each must still be documented upstream (a stale entry fails).
const NOT_RELAYED: [(&str, &str, &str); 1] = [(
    "GET /api/orders",
    "400",
    "orders' 400 is an invalid X-Customer-Id; the gateway sends only a subject that passed its \
     own checks (the other operations' 400s are also the caller's own mistakes, documented)",
)];
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
/// Keys that are prose: they may differ between the documents.
const PROSE: [&str; 4] = ["description", "title", "example", "examples"];

fn document(service: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/openapi")
        .join(format!("{service}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `value` with every `$ref` of `doc` replaced by what it points to, and prose removed.
fn resolved(doc: &Value, value: &Value, depth: usize) -> Value {
    assert!(depth < 64, "a recursive schema: {value}");
    match value {
        Value::Object(map) => {
            if let Some(Value::String(pointer)) = map.get("$ref") {
                let target = pointer
                    .strip_prefix('#')
                    .and_then(|p| doc.pointer(p))
                    .unwrap_or_else(|| panic!("a $ref to nowhere: {pointer}"));
                return resolved(doc, target, depth + 1);
            }
            Value::Object(
                map.iter()
                    .filter(|(k, _)| !PROSE.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), resolved(doc, v, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| resolved(doc, v, depth + 1)).collect())
        }
        other => other.clone(),
    }
}

/// Where two resolved values differ, as `<at>: the gateway ..., <upstream> ...` lines.
fn differences(at: &str, gateway: &Value, upstream: &Value, name: &str, out: &mut Vec<String>) {
    match (gateway, upstream) {
        (Value::Object(g), Value::Object(u)) => {
            let keys: BTreeSet<&String> = g.keys().chain(u.keys()).collect();
            for key in keys {
                let here = format!("{at}/{key}");
                match (g.get(key), u.get(key)) {
                    (Some(gv), Some(uv)) if is_set(key) && gv.is_array() && uv.is_array() => {
                        let as_set = |v: &Value| -> BTreeSet<String> {
                            v.as_array()
                                .unwrap()
                                .iter()
                                .map(|x| x.to_string())
                                .collect()
                        };
                        if as_set(gv) != as_set(uv) {
                            out.push(format!("{here}: gateway.json {gv}, {name}.json {uv}"));
                        }
                    }
                    (Some(gv), Some(uv)) => differences(&here, gv, uv, name, out),
                    (Some(gv), None) => {
                        out.push(format!("{here}: gateway.json {gv}, {name}.json has none"))
                    }
                    (None, Some(uv)) => {
                        out.push(format!("{here}: gateway.json has none, {name}.json {uv}"))
                    }
                    (None, None) => unreachable!("a key of either"),
                }
            }
        }
        (Value::Array(g), Value::Array(u)) if g.len() == u.len() => {
            for (i, (gv, uv)) in g.iter().zip(u).enumerate() {
                differences(&format!("{at}/{i}"), gv, uv, name, out);
            }
        }
        (g, u) if g != u => out.push(format!("{at}: gateway.json {g}, {name}.json {u}")),
        _ => {}
    }
}

/// Keys whose arrays are sets (the order carries no meaning).
fn is_set(key: &str) -> bool {
    matches!(key, "required" | "enum" | "type")
}

/// The operation's parameters by (where, name), header names lowercased.
fn parameters(doc: &Value, operation: &Value) -> Map<String, Value> {
    operation["parameters"]
        .as_array()
        .map(|params| {
            params
                .iter()
                .map(|p| {
                    let p = resolved(doc, p, 0);
                    let location = p["in"].as_str().unwrap_or_default().to_owned();
                    let mut name = p["name"].as_str().unwrap_or_default().to_owned();
                    if location == "header" {
                        name = name.to_ascii_lowercase();
                    }
                    (format!("{location} {name}"), p)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every disagreement between the gateway's document and the upstream documents on what the
/// gateway forwards; empty when they agree.
fn disagreements(gateway: &Value, upstreams: &[(&str, Value)]) -> Vec<String> {
    let mut out = Vec::new();
    let paths = gateway["paths"]
        .as_object()
        .expect("gateway.json has paths");
    assert!(!paths.is_empty(), "gateway.json documents no path");
    for (path, item) in paths {
        let rest = path
            .strip_prefix("/api/")
            .unwrap_or_else(|| panic!("{path}: the gateway forwards /api/... only"));
        let segment = rest.split('/').next().unwrap_or_default();
        let (_, service) = UPSTREAMS
            .iter()
            .find(|(s, _)| *s == segment)
            .unwrap_or_else(|| panic!("{path}: no upstream serves /{segment} (UPSTREAMS)"));
        let upstream = &upstreams
            .iter()
            .find(|(name, _)| name == service)
            .unwrap_or_else(|| panic!("no document of {service}"))
            .1;
        let upstream_path = &path["/api".len()..];
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let at = format!("{} {path}", method.to_uppercase());
            let Some(forwarded) = upstream["paths"]
                .get(upstream_path)
                .and_then(|i| i.get(method))
            else {
                out.push(format!(
                    "{at}: {service}.json has no {} {upstream_path}",
                    method.to_uppercase()
                ));
                continue;
            };

            // Parameters: each one the upstream documents, the gateway must document alike
            // (the gateway passes them on); the gateway's own extras are its business.
            let ours = parameters(gateway, operation);
            for (key, theirs) in parameters(upstream, forwarded) {
                if key == "header x-customer-id" {
                    // Set by the gateway from the token, never by its clients.
                    continue;
                }
                match ours.get(&key) {
                    None => out.push(format!(
                        "{at}: parameter {key} of {service}.json is not documented by the gateway"
                    )),
                    Some(mine) => differences(
                        &format!("{at} parameter {key}"),
                        mine,
                        &theirs,
                        service,
                        &mut out,
                    ),
                }
            }

            // The request body.
            let body = |doc: &Value, op: &Value| resolved(doc, &op["requestBody"], 0);
            differences(
                &format!("{at} requestBody"),
                &body(gateway, operation),
                &body(upstream, forwarded),
                service,
                &mut out,
            );

            for (op, status, _) in NOT_RELAYED {
                if op == at && forwarded["responses"].get(status).is_none() {
                    out.push(format!(
                        "{at}: NOT_RELAYED names a {status} that {service}.json does not document"
                    ));
                }
            }

            // Responses.
            let ours = operation["responses"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let theirs = forwarded["responses"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (status, answer) in &theirs {
                let relayed = !NOT_RELAYED
                    .iter()
                    .any(|(op, st, _)| *op == at && st == status);
                match ours.get(status) {
                    None if !relayed => {}
                    None => out.push(format!(
                        "{at}: {service}.json documents a {status} the gateway relays but does not document"
                    )),
                    // The gateway's own answer (a shared response): nothing forwarded.
                    Some(mine) if mine.get("$ref").is_some() => {}
                    Some(mine) => {
                        let content = |doc: &Value, r: &Value| {
                            resolved(doc, r.get("content").unwrap_or(&Value::Null), 0)
                        };
                        differences(
                            &format!("{at} {status} content"),
                            &content(gateway, mine),
                            &content(upstream, answer),
                            service,
                            &mut out,
                        );
                    }
                }
            }
        }
    }
    out
}

fn upstream_documents() -> Vec<(&'static str, Value)> {
    UPSTREAMS
        .iter()
        .map(|(_, service)| (*service, document(service)))
        .collect()
}

#[test]
fn the_gateway_documents_what_it_forwards_as_the_upstreams_do() {
    let problems = disagreements(&document("gateway"), &upstream_documents());
    assert!(
        problems.is_empty(),
        "contracts/openapi/gateway.json disagrees with the upstream documents on what it \
         forwards (regenerate with UPDATE_CONTRACTS=1 after changing sample-views, and \
         document forwarded types from sample-views only):\n{}",
        problems.join("\n")
    );
}

/// The comparison itself: each kind of drift between copies is caught.
mod drift {
    use super::*;

    /// The problems found once `change` is applied to the gateway's document.
    fn after(change: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut gateway = document("gateway");
        change(&mut gateway);
        disagreements(&gateway, &upstream_documents())
    }

    /// The gateway's schema of `name`, for editing.
    fn schema<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
        doc.pointer_mut(&format!("/components/schemas/{name}"))
            .unwrap_or_else(|| panic!("gateway.json has no schema {name}"))
    }

    fn assert_caught(problems: &[String], needle: &str) {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "expected a disagreement mentioning {needle:?}, got {problems:#?}"
        );
    }

    #[test]
    fn another_integer_format() {
        let problems = after(|doc| {
            schema(doc, "ProductView")["properties"]["stock"]["format"] = "int64".into();
        });
        assert_caught(&problems, "GET /api/products 200 content");
        assert_caught(
            &problems,
            "/properties/stock/format: gateway.json \"int64\", inventory.json \"int32\"",
        );
    }

    #[test]
    fn an_id_that_is_no_longer_a_uuid() {
        let problems = after(|doc| {
            let id = &mut schema(doc, "Shipment")["properties"]["order_id"];
            id.as_object_mut().unwrap().remove("format");
        });
        assert_caught(
            &problems,
            "/properties/order_id/format: gateway.json has none, shipping.json \"uuid\"",
        );
    }

    #[test]
    fn a_lost_length_limit_or_item_count() {
        let problems = after(|doc| {
            schema(doc, "ItemRequest")["properties"]["sku"]
                .as_object_mut()
                .unwrap()
                .remove("maxLength");
            schema(doc, "CreateOrderRequest")["properties"]["items"]["maxItems"] = 500.into();
        });
        assert_caught(&problems, "POST /api/orders requestBody");
        assert_caught(
            &problems,
            "/sku/maxLength: gateway.json has none, orders.json 200",
        );
        assert_caught(&problems, "/maxItems: gateway.json 500, orders.json 50");
    }

    #[test]
    fn a_renamed_or_optional_field() {
        let problems = after(|doc| {
            let product = schema(doc, "ProductView");
            let stock = product["properties"]
                .as_object_mut()
                .unwrap()
                .remove("stock")
                .unwrap();
            product["properties"]["in_stock"] = stock;
            product["required"] = serde_json::json!(["sku", "name", "price_cents", "currency"]);
        });
        assert_caught(&problems, "/properties/in_stock: gateway.json");
        assert_caught(&problems, "/properties/stock: gateway.json has none");
        assert_caught(&problems, "/required: gateway.json");
    }

    #[test]
    fn a_missing_enum_value() {
        let problems = after(|doc| {
            let status = schema(doc, "StatusView");
            let values = status["enum"].as_array_mut().unwrap();
            values.pop();
        });
        assert_caught(&problems, "GET /api/orders/{id} 200 content");
        assert_caught(&problems, "/status/enum");
    }

    #[test]
    fn a_relayed_status_left_undocumented() {
        let problems = after(|doc| {
            doc["paths"]["/api/products/{sku}"]["get"]["responses"]
                .as_object_mut()
                .unwrap()
                .remove("404");
        });
        assert_caught(
            &problems,
            "GET /api/products/{sku}: inventory.json documents a 404 the gateway relays but does not document",
        );
    }

    #[test]
    fn a_parameter_of_another_type() {
        let problems = after(|doc| {
            let params = doc["paths"]["/api/orders/{id}"]["get"]["parameters"]
                .as_array_mut()
                .unwrap();
            params[0]["schema"] = serde_json::json!({"type": "integer"});
        });
        assert_caught(&problems, "GET /api/orders/{id} parameter path id/schema");
    }

    #[test]
    fn prose_may_differ() {
        let problems = after(|doc| {
            schema(doc, "ProductView")["description"] = "Something else entirely".into();
            schema(doc, "ProductView")["properties"]["sku"]["example"] = "XX-999".into();
        });
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
