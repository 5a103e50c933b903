//! Publishes `order.confirmed` events the way orders does, to try shipping by hand.
//!
//! ```text
//! cargo run -p shipping --example publish_event -- [--order-id UUID] [--customer ID] [--times N] [--raw JSON]
//! ```
//!
//! Publishes the same event (same `event_id` and `order_id`) `--times` times (default 1) on
//! the durable topic exchange `orders.events` with routing key `order.confirmed`, persistent,
//! `message_id` = `event_id`, a new W3C `traceparent` header (shipping logs its trace id),
//! with publisher confirms. The body is `sample_events::OrderConfirmed`, the type orders
//! publishes. `--raw` publishes the given body instead (e.g. malformed JSON, to see it go to
//! `shipping.order-confirmed.dead`). Uses `AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`). Prints the order id on stdout, the trace id on
//! stderr.

use std::process::ExitCode;

use lapin::{
    BasicProperties, Connection, ConnectionProperties, ExchangeKind,
    options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions},
    publisher_confirm::Confirmation,
    types::{AMQPValue, FieldTable},
};
use sample_events::{EVENTS_EXCHANGE, Item, ORDER_CONFIRMED, OrderConfirmed};
use service_kit::{amqp::consume::TRACEPARENT_HEADER, tracecontext::TraceParent};
use uuid::Uuid;

struct Args {
    order_id: Uuid,
    customer: String,
    times: u32,
    raw: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        order_id: Uuid::new_v4(),
        customer: "cust-demo".to_owned(),
        times: 1,
        raw: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--order-id" => {
                args.order_id = value()?.parse().map_err(|e| format!("--order-id: {e}"))?
            }
            "--customer" => args.customer = value()?,
            "--times" => args.times = value()?.parse().map_err(|e| format!("--times: {e}"))?,
            "--raw" => args.raw = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("publish_event: {e}");
            return ExitCode::from(2);
        }
    };
    match publish(&args).await {
        Ok(()) => {
            println!("{}", args.order_id);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("publish_event: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn publish(args: &Args) -> Result<(), lapin::Error> {
    // A hand tool for a local broker: unlike the services, it has a default broker.
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            EVENTS_EXCHANGE,
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    let event = OrderConfirmed {
        event_id: Uuid::new_v4(),
        order_id: args.order_id,
        customer_id: args.customer.clone(),
        items: vec![Item {
            sku: "KB-001".to_owned(),
            quantity: 1,
        }],
        total_cents: 4999,
        confirmed_at: chrono::Utc::now(),
    };
    let event_id = event.event_id.to_string();
    let body = match &args.raw {
        Some(raw) => raw.clone().into_bytes(),
        None => event.to_json(),
    };
    let trace = TraceParent::new_root();
    eprintln!("trace id {}", trace.trace_id_hex());
    let mut headers = FieldTable::default();
    headers.insert(
        TRACEPARENT_HEADER.into(),
        AMQPValue::LongString(trace.to_string().into()),
    );
    for n in 1..=args.times {
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(event_id.clone().into())
            .with_headers(headers.clone());
        let confirmation = channel
            .basic_publish(
                EVENTS_EXCHANGE,
                ORDER_CONFIRMED,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &body,
                properties,
            )
            .await?
            .await?;
        match confirmation {
            Confirmation::Ack(None) => {
                eprintln!("published #{n}: event {event_id}, order {}", args.order_id)
            }
            Confirmation::Ack(Some(_)) => {
                eprintln!(
                    "published #{n} but it was returned: no queue is bound (start shipping first)"
                );
            }
            other => eprintln!("published #{n}: broker answered {other:?}"),
        }
    }
    channel.close(200, "done").await?;
    conn.close(200, "done").await?;
    Ok(())
}
