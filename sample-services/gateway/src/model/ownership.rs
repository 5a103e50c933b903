//! A token acts for its subject only. Wherever a client request still names a customer
//! (a `customer_id` in a JSON body, a `customer` or `customer_id` query parameter), it must
//! name the token's subject: another customer is refused ([`CustomerMismatch`], a 403), the
//! subject itself is accepted and the name dropped, since the upstream learns the customer
//! from `X-Customer-Id` alone.

use bytes::Bytes;

/// The request names a customer other than the token's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerMismatch {
    /// Where: `customer_id` (body) or the query parameter's name.
    pub field: String,
}

/// Query parameters that name a customer.
const CUSTOMER_PARAMETERS: [&str; 2] = ["customer", "customer_id"];

/// Whether `value` names `sub` (upstreams trim ids, so padding does not make another one).
fn names(value: &str, sub: &str) -> bool {
    value.trim() == sub
}

/// The query to forward: unchanged when it names no customer, without the customer
/// parameters when they all name `sub`; `None` when nothing is left.
pub fn scrub_query(query: Option<&str>, sub: &str) -> Result<Option<String>, CustomerMismatch> {
    let Some(query) = query else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut named = false;
    for (key, value) in &pairs {
        if CUSTOMER_PARAMETERS.contains(&key.as_str()) {
            if !names(value, sub) {
                return Err(CustomerMismatch { field: key.clone() });
            }
            named = true;
        }
    }
    if !named {
        return Ok(Some(query.to_owned()).filter(|q| !q.is_empty()));
    }
    let kept: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(key, _)| !CUSTOMER_PARAMETERS.contains(&key.as_str()))
        .collect();
    if kept.is_empty() {
        return Ok(None);
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in kept {
        out.append_pair(key, value);
    }
    Ok(Some(out.finish()))
}

/// The customer a JSON object body names in `customer_id` (a string), if any.
pub fn body_customer(body: &Bytes) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(body).ok()? {
        serde_json::Value::Object(mut object) => match object.remove("customer_id")? {
            serde_json::Value::String(named) => Some(named.trim().to_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// The body to forward: unchanged unless it is a JSON object with `customer_id`, which must
/// be `sub` and is then removed. Anything that is not a JSON object goes on as it is, for
/// the upstream to refuse.
pub fn scrub_body(body: Bytes, sub: &str) -> Result<Bytes, CustomerMismatch> {
    if body.is_empty() {
        return Ok(body);
    }
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(&body) else {
        return Ok(body);
    };
    let Some(named) = object.remove("customer_id") else {
        return Ok(body);
    };
    match named.as_str() {
        Some(value) if names(value, sub) => {}
        _ => {
            return Err(CustomerMismatch {
                field: "customer_id".to_owned(),
            });
        }
    }
    let rewritten = serde_json::to_vec(&object).map_err(|_| CustomerMismatch {
        field: "customer_id".to_owned(),
    })?;
    Ok(Bytes::from(rewritten))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mismatch(field: &str) -> CustomerMismatch {
        CustomerMismatch {
            field: field.to_owned(),
        }
    }

    #[test]
    fn queries_naming_another_customer_are_refused() {
        assert_eq!(scrub_query(None, "alice"), Ok(None));
        assert_eq!(scrub_query(Some(""), "alice"), Ok(None));
        assert_eq!(
            scrub_query(Some("order_id=1&x=a%20b"), "alice"),
            Ok(Some("order_id=1&x=a%20b".to_owned())),
            "a query naming no customer is forwarded byte for byte"
        );
        assert_eq!(scrub_query(Some("customer=alice"), "alice"), Ok(None));
        assert_eq!(scrub_query(Some("customer=%20alice"), "alice"), Ok(None));
        assert_eq!(
            scrub_query(Some("order_id=1&customer_id=alice"), "alice"),
            Ok(Some("order_id=1".to_owned()))
        );
        assert_eq!(
            scrub_query(Some("customer=bob"), "alice"),
            Err(mismatch("customer"))
        );
        assert_eq!(
            scrub_query(Some("customer=alice&customer=bob"), "alice"),
            Err(mismatch("customer"))
        );
        assert_eq!(
            scrub_query(Some("customer_id="), "alice"),
            Err(mismatch("customer_id"))
        );
    }

    #[test]
    fn the_customer_a_body_names() {
        let named = |text: &str| body_customer(&Bytes::from(text.to_owned()));
        assert_eq!(
            named(r#"{"customer_id":" bob ","items":[]}"#),
            Some("bob".to_owned())
        );
        assert_eq!(named(r#"{"items":[]}"#), None);
        assert_eq!(named(r#"{"customer_id":7}"#), None);
        assert_eq!(named("not json"), None);
        assert_eq!(named(""), None);
    }

    #[test]
    fn bodies_naming_another_customer_are_refused() {
        let sub = "alice";
        let scrub = |text: &str| scrub_body(Bytes::from(text.to_owned()), sub);
        let items = r#"{"items":[{"sku":"KB-001","quantity":2}]}"#;
        assert_eq!(scrub(items), Ok(Bytes::from(items)));
        assert_eq!(scrub(""), Ok(Bytes::new()));
        assert_eq!(scrub("not json"), Ok(Bytes::from("not json")));
        assert_eq!(scrub("[1,2]"), Ok(Bytes::from("[1,2]")));

        let forwarded =
            scrub(r#"{"customer_id":"alice","items":[{"sku":"KB-001","quantity":2}]}"#).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&forwarded).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"items": [{"sku": "KB-001", "quantity": 2}]})
        );

        for other in [
            r#"{"customer_id":"bob","items":[]}"#,
            r#"{"customer_id":"","items":[]}"#,
            r#"{"customer_id":null,"items":[]}"#,
            r#"{"customer_id":7,"items":[]}"#,
            r#"{"customer_id":"alice2","items":[]}"#,
        ] {
            assert_eq!(scrub(other), Err(mismatch("customer_id")), "{other}");
        }
    }
}
