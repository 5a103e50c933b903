//! Logs and traces.
//!
//! Logs: JSON lines on stdout through `tracing`, filtered by `RUST_LOG` (default `info`).
//!
//! Traces: the services' `tracing` spans (each request's, each consumed message's, each call
//! to another service) are OpenTelemetry spans in the W3C trace of the work they belong to
//! ([`crate::tracecontext`]). They are exported only when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set: then over OTLP/HTTP with protobuf bodies (hyper's client, plain `http://`, no TLS)
//! to `<endpoint>/v1/traces`, or to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` when that is set
//! too, in batches from a task on the service's Tokio runtime. Without it nothing is
//! exported: no exporter, no background task, no connection. The SDK's other standard
//! variables apply once export is on (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_TRACES_SAMPLER`...); `OTEL_SERVICE_NAME` overrides the
//! service's name.
//!
//! [`init`] returns a [`Telemetry`] guard: keep it for the life of the process. Dropping it
//! exports the spans still buffered, waiting at most [`FLUSH_DEADLINE`].

use std::time::Duration;

use opentelemetry::{
    Context,
    trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
    },
};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource, runtime,
    trace::{SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::tracecontext::TraceParent;

/// The variable that turns the export of spans on: the collector's OTLP/HTTP base URL.
pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The variable naming the traces endpoint itself (the whole URL), read only when
/// [`ENDPOINT_VAR`] is set.
pub const TRACES_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The longest the end of the process waits for the last spans to be exported (inside
/// Docker's 10 s stop grace, after the drains).
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(1);

/// Where spans go: nowhere, or an OTLP/HTTP traces endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is not set: nothing is exported.
    Off,
    /// The full URL spans are posted to (`.../v1/traces`).
    Otlp { traces_url: String },
}

/// Why the export settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is invalid: {reason}")]
pub struct ExportError {
    pub variable: &'static str,
    pub value: String,
    pub reason: String,
}

impl Export {
    /// Reads the settings through `var` (the process environment: [`Export::from_env`]).
    /// Blank values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ExportError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let Some(base) = set(ENDPOINT_VAR) else {
            return Ok(Self::Off);
        };
        let (variable, url) = match set(TRACES_ENDPOINT_VAR) {
            Some(url) => (TRACES_ENDPOINT_VAR, url.trim().to_owned()),
            None => (
                ENDPOINT_VAR,
                format!("{}/v1/traces", base.trim().trim_end_matches('/')),
            ),
        };
        let invalid = |reason: String| ExportError {
            variable,
            value: if variable == ENDPOINT_VAR {
                base.clone()
            } else {
                url.clone()
            },
            reason,
        };
        let uri: http::Uri = url.parse().map_err(|e: http::uri::InvalidUri| {
            invalid(format!(
                "not a URL ({e}); expected an http:// URL such as http://otel-collector:4318"
            ))
        })?;
        match uri.scheme_str() {
            Some("http") if uri.host().is_some_and(|h| !h.is_empty()) => {
                Ok(Self::Otlp { traces_url: url })
            }
            Some("http") => Err(invalid("the URL names no host".to_owned())),
            Some("https") => Err(invalid(
                "https is not supported: the services export over plain http (no TLS, no root \
                 certificates in their images); use a collector reachable over http"
                    .to_owned(),
            )),
            _ => Err(invalid(
                "expected an http:// URL such as http://otel-collector:4318".to_owned(),
            )),
        }
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ExportError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }
}

/// The telemetry of the process. Dropping it exports the spans still buffered (at most
/// [`FLUSH_DEADLINE`]) and stops the export.
#[must_use = "dropping the guard stops the export of spans: keep it until the process ends"]
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are being exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        // The batch processor exports from a task on the Tokio runtime, which must keep
        // running meanwhile: the shutdown waits on another thread, and this one waits for it
        // at most FLUSH_DEADLINE.
        let (done, finished) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("otel-flush".to_owned())
            .spawn(move || {
                let _ = done.send(provider.shutdown());
            });
        if spawned.is_err() {
            tracing::warn!("cannot start the thread that exports the last spans");
            return;
        }
        let wait = || finished.recv_timeout(FLUSH_DEADLINE);
        let outcome = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => {
                // Waiting here would stop the very runtime the export runs on.
                tracing::debug!("not waiting for the last spans on a current-thread runtime");
                return;
            }
            Ok(_) => tokio::task::block_in_place(wait),
            Err(_) => wait(),
        };
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "exporting the last spans failed"),
            Err(_) => tracing::warn!(
                deadline_ms = FLUSH_DEADLINE.as_millis() as u64,
                "the last spans were not exported in time"
            ),
        }
    }
}

/// Installs the process's subscriber: JSON logs on stdout and, when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set, the export of spans (see the module
/// documentation). Call it once, inside the Tokio runtime, and keep the guard. A setting
/// that cannot be used is logged as an error naming the variable, and the service runs
/// without exporting; a second call (another subscriber already installed) exports nothing.
pub fn init(service: &'static str) -> Telemetry {
    init_with(service, Export::from_env())
}

/// [`init`] with the export settings given.
pub fn init_with(service: &'static str, export: Result<Export, ExportError>) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false);
    let already = tracing::dispatcher::has_been_set();
    let built = match (&export, already) {
        (Ok(Export::Otlp { traces_url }), false) => Some(provider(service, traces_url)),
        _ => None,
    };
    let (provider, problem) = match built {
        Some(Ok(provider)) => (Some(provider), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service))
            .with_level(true)
            .with_threads(false)
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init()
        .is_ok();
    let telemetry = Telemetry {
        provider: provider.filter(|_| installed),
    };
    let traces = match &export {
        Ok(Export::Otlp { traces_url }) if telemetry.exporting() => traces_url.as_str(),
        _ => "off",
    };
    tracing::info!(
        service,
        version = env!("CARGO_PKG_VERSION"),
        traces,
        "starting"
    );
    match (export, problem) {
        (Err(e), _) => tracing::error!(
            variable = e.variable,
            error = %e,
            "spans are not exported: the setting is invalid"
        ),
        (_, Some(e)) => tracing::error!(
            variable = ENDPOINT_VAR,
            error = %e,
            "spans are not exported: the OTLP exporter cannot be built"
        ),
        (Ok(Export::Otlp { .. }), None) if !telemetry.exporting() => tracing::warn!(
            "spans are not exported: a tracing subscriber was installed before this one"
        ),
        _ => {}
    }
    telemetry
}

/// The tracer provider exporting to `traces_url` in batches from a Tokio task.
fn provider(
    service: &'static str,
    traces_url: &str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url)
        .build()?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none_or(|v| v.is_empty()) {
        resource = resource.with_service_name(service);
    }
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_span_processor(BatchSpanProcessor::builder(exporter, runtime::Tokio).build())
        .build())
}

/// Makes `trace` (a remote context: the incoming `traceparent`, or the one a message
/// carries) the parent of `span`. Nothing happens without the OpenTelemetry layer.
pub(crate) fn continue_trace(span: &tracing::Span, trace: TraceParent) {
    let remote = SpanContext::new(
        TraceId::from_bytes(trace.trace_id),
        SpanId::from_bytes(trace.parent_id),
        TraceFlags::new(trace.flags),
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(Context::new().with_remote_span_context(remote));
}

/// `span` as a `traceparent` (its trace, its own id as the parent id, its flags), when it is
/// an OpenTelemetry span: spans are exported, and `span` is enabled.
pub(crate) fn span_trace(span: &tracing::Span) -> Option<TraceParent> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| TraceParent {
        trace_id: span_context.trace_id().to_bytes(),
        parent_id: span_context.span_id().to_bytes(),
        flags: span_context.trace_flags().to_u8(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn nothing_is_exported_without_the_endpoint() {
        assert_eq!(Export::from_vars(vars(&[])), Ok(Export::Off));
        assert_eq!(
            Export::from_vars(vars(&[(ENDPOINT_VAR, "  ")])),
            Ok(Export::Off)
        );
        // The traces endpoint alone does not turn export on.
        assert_eq!(
            Export::from_vars(vars(&[(
                TRACES_ENDPOINT_VAR,
                "http://collector:4318/v1/traces"
            )])),
            Ok(Export::Off)
        );
    }

    #[test]
    fn the_endpoint_is_a_base_url_and_the_traces_endpoint_a_whole_one() {
        assert_eq!(
            Export::from_vars(vars(&[(ENDPOINT_VAR, "http://collector:4318/")])),
            Ok(Export::Otlp {
                traces_url: "http://collector:4318/v1/traces".to_owned()
            })
        );
        assert_eq!(
            Export::from_vars(vars(&[
                (ENDPOINT_VAR, "http://collector:4318"),
                (TRACES_ENDPOINT_VAR, "http://traces:9999/otlp/spans"),
            ])),
            Ok(Export::Otlp {
                traces_url: "http://traces:9999/otlp/spans".to_owned()
            })
        );
    }

    #[test]
    fn unusable_endpoints_are_refused_naming_the_variable() {
        let err = Export::from_vars(vars(&[(ENDPOINT_VAR, "https://collector:4318")])).unwrap_err();
        assert_eq!(err.variable, ENDPOINT_VAR);
        assert!(err.to_string().contains("https is not supported"), "{err}");
        let err = Export::from_vars(vars(&[(ENDPOINT_VAR, "collector:4318")])).unwrap_err();
        assert!(err.to_string().contains(ENDPOINT_VAR), "{err}");
        assert!(err.reason.contains("http://"), "{err}");
        let err = Export::from_vars(vars(&[
            (ENDPOINT_VAR, "http://collector:4318"),
            (TRACES_ENDPOINT_VAR, "http://exa mple/v1/traces"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, TRACES_ENDPOINT_VAR);
    }
}
