//! W3C trace context through orders' HTTP hops: an order placed with a `traceparent`
//! reaches inventory (the reservation) and payments (the authorisation) in the same trace,
//! through orders' intake queue, each call with a parent id of its own. The mocks record
//! every call's headers; this runs inside `orders::orders_with_mocked_peers`, on its stack,
//! while the peers answer as a healthy system would.

use std::time::Duration;

use harness::{mock::MockControl, openapi::RecordingClient};
use serde_json::json;

/// A `traceparent` as the mocks saw it: version, trace id, parent id, flags.
fn parse(header: &str) -> (String, String, String, String) {
    let parts: Vec<&str> = header.split('-').collect();
    assert_eq!(parts.len(), 4, "a traceparent of four parts: {header:?}");
    assert_eq!(parts[1].len(), 32, "{header:?}");
    assert_eq!(parts[2].len(), 16, "{header:?}");
    (
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
        parts[3].to_owned(),
    )
}

/// The `traceparent` of the call `control` received for `operation` about `order_id`.
async fn traceparent_of(control: &MockControl, operation: &str, order_id: &str) -> String {
    let calls = control.calls_to(operation).await.unwrap();
    let call = calls
        .iter()
        .find(|c| c.body.as_ref().is_some_and(|b| b["order_id"] == order_id))
        .unwrap_or_else(|| panic!("no {operation} call about order {order_id}"));
    call.header("traceparent")
        .unwrap_or_else(|| panic!("{operation} for order {order_id} carried no traceparent"))
        .to_owned()
}

/// Places an order with a known `traceparent` and checks the reservation and the payment
/// continued its trace.
pub(crate) async fn orders_calls_continue_the_callers_trace(
    client: &RecordingClient,
    base: &str,
    inventory: &MockControl,
    payments: &MockControl,
    within: Duration,
) {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let parent_id = "00f067aa0ba902b7";
    let incoming = format!("00-{trace_id}-{parent_id}-01");
    let r = client
        .send(
            client
                .post(format!("{base}/orders"))
                .header("traceparent", &incoming)
                .json(&json!({"items": [{"sku": "KB-001", "quantity": 2}]})),
        )
        .await
        .unwrap_or_else(|e| panic!("it-trace: {e}"));
    assert_eq!(r.status(), 202);
    let order: serde_json::Value = r.json().await.unwrap();
    let id = order["id"].as_str().unwrap().to_owned();
    let order = integration_suite::final_order(client, base, &id, within).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");

    let mut parents = vec![parent_id.to_owned()];
    for (control, operation) in [
        (inventory, "create_reservation"),
        (payments, "create_payment"),
    ] {
        let sent = traceparent_of(control, operation, &id).await;
        let (version, trace, parent, flags) = parse(&sent);
        assert_eq!(version, "00", "{operation}: {sent}");
        assert_eq!(
            trace, trace_id,
            "{operation} is not in the trace of the request that placed the order ({incoming}): {sent}"
        );
        assert_eq!(flags, "01", "{operation} keeps the sampled flag: {sent}");
        assert!(
            !parents.contains(&parent),
            "{operation} has a parent id of its own (not the caller's, not another call's): {sent}"
        );
        assert_ne!(parent, "0000000000000000", "{operation}: {sent}");
        parents.push(parent);
    }
}
