//! The operations read out of the document's JSON (for 3.0 and 3.1 alike): every path
//! item and method, the path item's shared parameters, the request body, the responses and
//! their required headers, the security requirements (the document's unless an operation
//! has its own); each `$ref` followed inside the document, each schema compiled.

use std::{collections::BTreeSet, sync::Arc};

use http::Method;
use jsonschema::Validator;
use serde_json::{Map, Value};

use super::{
    operation::{Location, MediaType, Operation, Parameter, RequestBody, Response, StatusKey},
    pointer::{DocumentError, Within, escape},
    routes::Routes,
    validator::schema_validator,
};

const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("trace", Method::TRACE),
];

/// The operations of the document `doc` (its schemas in the 2020-12 dialect already) and
/// their routes.
pub(super) fn read_operations(doc: Within<'_>) -> Result<(Vec<Operation>, Routes), DocumentError> {
    let root = doc.root;
    let reader = Reader {
        doc,
        components: root.get("components").cloned().unwrap_or(Value::Null),
    };
    let global_security = match root.get("security") {
        Some(s) => reader.security(s, "/security")?,
        None => Vec::new(),
    };
    let paths = match root.get("paths") {
        Some(Value::Object(p)) => p,
        Some(_) => return Err(reader.err("/paths", "must be an object")),
        None => return Err(reader.err("/paths", "missing")),
    };
    let mut operations = Vec::new();
    let mut routes = Routes::default();
    let mut ids = BTreeSet::new();
    for (template, item) in paths {
        let item_ptr = format!("/paths/{}", escape(template));
        if !template.starts_with('/') {
            return Err(reader.err(&item_ptr, "a path must start with `/`"));
        }
        let item = reader.deref(item, &item_ptr)?;
        let Value::Object(item) = item else {
            return Err(reader.err(&item_ptr, "a path item must be an object"));
        };
        let shared = match item.get("parameters") {
            Some(p) => reader.parameters(p, &format!("{item_ptr}/parameters"))?,
            None => Vec::new(),
        };
        let mut indices = Vec::new();
        for (name, method) in METHODS.iter() {
            let Some(op) = item.get(*name) else { continue };
            let op_ptr = format!("{item_ptr}/{name}");
            let operation = reader.operation(
                op,
                &op_ptr,
                method.clone(),
                template,
                &shared,
                &global_security,
            )?;
            if !ids.insert(operation.id.clone()) {
                return Err(reader.err(
                    &format!("{op_ptr}/operationId"),
                    format!("operationId {:?} is used twice", operation.id),
                ));
            }
            indices.push(operations.len());
            operations.push(operation);
        }
        routes
            .insert(template, indices)
            .map_err(|e| reader.err(&item_ptr, format!("path template: {e}")))?;
    }
    Ok((operations, routes))
}

/// Reads operations out of the document's JSON.
struct Reader<'a> {
    doc: Within<'a>,
    /// The document's `components` (`null` without), compiled beside every schema.
    components: Value,
}

impl<'a> Reader<'a> {
    fn err(&self, pointer: &str, message: impl Into<String>) -> DocumentError {
        self.doc.err(pointer, message)
    }

    /// Follows `$ref`s of non-schema objects (parameters, bodies, responses, headers).
    fn deref(&self, value: &'a Value, pointer: &str) -> Result<&'a Value, DocumentError> {
        self.doc.deref(value, pointer)
    }

    /// Compiles a schema (its `$ref`s resolved against the document's components).
    fn validator(&self, schema: &Value, pointer: &str) -> Result<Arc<Validator>, DocumentError> {
        self.doc.check_refs(schema, pointer)?;
        schema_validator(schema, &self.components).map_err(|m| self.err(pointer, m))
    }

    fn security(&self, value: &Value, pointer: &str) -> Result<Vec<Vec<String>>, DocumentError> {
        let Value::Array(reqs) = value else {
            return Err(self.err(pointer, "must be an array of security requirements"));
        };
        reqs.iter()
            .enumerate()
            .map(|(i, r)| match r {
                Value::Object(m) => {
                    for name in m.keys() {
                        if self
                            .doc
                            .root
                            .pointer(&format!("/components/securitySchemes/{}", escape(name)))
                            .is_none()
                        {
                            return Err(self.err(
                                &format!("{pointer}/{i}"),
                                format!(
                                    "security scheme {name:?} is not in components.securitySchemes"
                                ),
                            ));
                        }
                    }
                    Ok(m.keys().cloned().collect())
                }
                _ => Err(self.err(&format!("{pointer}/{i}"), "must be an object")),
            })
            .collect()
    }

    fn parameters(&self, value: &'a Value, pointer: &str) -> Result<Vec<Parameter>, DocumentError> {
        let Value::Array(list) = value else {
            return Err(self.err(pointer, "must be an array"));
        };
        let mut out = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let ptr = format!("{pointer}/{i}");
            let p = self.deref(p, &ptr)?;
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&ptr, "a parameter needs a `name`"))?;
            let location = match p.get("in").and_then(Value::as_str) {
                Some("path") => Location::Path,
                Some("query") => Location::Query,
                Some("header") => Location::Header,
                Some("cookie") => Location::Cookie,
                other => {
                    return Err(self.err(
                        &format!("{ptr}/in"),
                        format!("`in` must be path, query, header or cookie, not {other:?}"),
                    ));
                }
            };
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            if location == Location::Path && !required {
                return Err(self.err(&ptr, format!("path parameter {name:?} must be required")));
            }
            let schema = p
                .get("schema")
                .or_else(|| {
                    p.get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next())
                        .and_then(|m| m.get("schema"))
                })
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()));
            let validator = self.validator(&schema, &format!("{ptr}/schema"))?;
            let mut examples = all_examples(p);
            if examples.is_empty() {
                examples = all_examples(&schema);
            }
            out.push(Parameter {
                name: name.to_owned(),
                location,
                required,
                schema,
                examples,
                validator,
            });
        }
        Ok(out)
    }

    fn content(
        &self,
        value: Option<&'a Value>,
        pointer: &str,
    ) -> Result<Vec<MediaType>, DocumentError> {
        let Some(value) = value else {
            return Ok(Vec::new());
        };
        let Value::Object(map) = value else {
            return Err(self.err(pointer, "`content` must be an object of media types"));
        };
        let mut out = Vec::new();
        for (range, media) in map {
            let ptr = format!("{pointer}/{}", escape(range));
            if !range.contains('/') {
                return Err(self.err(&ptr, format!("{range:?} is not a media type")));
            }
            let schema = media.get("schema").cloned();
            let validator = match &schema {
                Some(s) => Some(self.validator(s, &format!("{ptr}/schema"))?),
                None => None,
            };
            let examples = all_examples(media);
            out.push(MediaType {
                range: range.to_ascii_lowercase(),
                schema,
                examples,
                validator,
            });
        }
        Ok(out)
    }

    fn operation(
        &self,
        op: &'a Value,
        ptr: &str,
        method: Method,
        template: &str,
        shared: &[Parameter],
        global_security: &[Vec<String>],
    ) -> Result<Operation, DocumentError> {
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{method} {template}"));
        let mut parameters = match op.get("parameters") {
            Some(p) => self.parameters(p, &format!("{ptr}/parameters"))?,
            None => Vec::new(),
        };
        for p in shared {
            if !parameters
                .iter()
                .any(|q| q.name == p.name && q.location == p.location)
            {
                parameters.push(p.clone());
            }
        }
        for name in template_params(template) {
            if !parameters
                .iter()
                .any(|p| p.location == Location::Path && p.name == name)
            {
                return Err(self.err(
                    &format!("{ptr}/parameters"),
                    format!("path parameter {{{name}}} of {template} is not declared"),
                ));
            }
        }
        let body = match op.get("requestBody") {
            Some(b) => {
                let bptr = format!("{ptr}/requestBody");
                let b = self.deref(b, &bptr)?;
                Some(RequestBody {
                    required: b.get("required").and_then(Value::as_bool).unwrap_or(false),
                    content: self.content(b.get("content"), &format!("{bptr}/content"))?,
                })
            }
            None => None,
        };
        let Some(Value::Object(resps)) = op.get("responses") else {
            return Err(self.err(
                &format!("{ptr}/responses"),
                "an operation needs `responses`",
            ));
        };
        let mut responses = Vec::new();
        for (key, resp) in resps {
            let rptr = format!("{ptr}/responses/{}", escape(key));
            let status = StatusKey::parse(key).ok_or_else(|| {
                self.err(
                    &rptr,
                    format!("{key:?} is not a status code, `4XX` or `default`"),
                )
            })?;
            let resp = self.deref(resp, &rptr)?;
            let mut required_headers = Vec::new();
            if let Some(Value::Object(headers)) = resp.get("headers") {
                for (name, h) in headers {
                    let h = self.deref(h, &format!("{rptr}/headers/{}", escape(name)))?;
                    if h.get("required").and_then(Value::as_bool).unwrap_or(false) {
                        required_headers.push(name.to_ascii_lowercase());
                    }
                }
            }
            responses.push(Response {
                key: status,
                content: self.content(resp.get("content"), &format!("{rptr}/content"))?,
                required_headers,
            });
        }
        responses.sort_by_key(|r| r.key);
        let security = match op.get("security") {
            Some(s) => self.security(s, &format!("{ptr}/security"))?,
            None => global_security.to_vec(),
        };
        Ok(Operation {
            id,
            method,
            path: template.to_owned(),
            parameters,
            body,
            responses,
            security,
        })
    }
}

/// `example`, then the values of `examples`: a map of Example Objects (OpenAPI) or, in a
/// schema, an array (JSON Schema).
fn all_examples(v: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = v.get("example").cloned().into_iter().collect();
    match v.get("examples") {
        Some(Value::Object(named)) => {
            out.extend(named.values().filter_map(|e| e.get("value").cloned()))
        }
        Some(Value::Array(list)) => out.extend(list.iter().cloned()),
        _ => {}
    }
    out
}

/// The `{name}`s of a path template.
fn template_params(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
}
