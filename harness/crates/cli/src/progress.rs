//! Progress for people: the events of a command rendered as spinners (one per service and
//! per level) on a terminal, or as one plain line per event when stderr is a log.

use std::sync::{Arc, Mutex};

use harness::{Event, EventSink};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Renders events: a spinner per service, finished lines for what is done.
/// One plain line per event, for logs (stderr is not a terminal).
pub(crate) fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Swept {
            containers,
            networks,
        } => {
            format!(
                "removed leftovers of dead runs: {containers} container(s), {networks} network(s)"
            )
        }
        Event::InstallingTool { tool, package } => {
            format!("installing {tool} (apt package {package})")
        }
        Event::SweepFailed { run_id, error } => {
            format!("could not remove leftovers of dead run {run_id} (going on): {error}")
        }
        Event::SweepUndecided { run_ids } => format!(
            "left alone {} run(s) whose owner cannot be checked from here: {}",
            run_ids.len(),
            run_ids.join(", ")
        ),
        Event::ReaperReady { image, elapsed } => format!(
            "reaper {image} watching this process's runs (up in {:.2}s)",
            elapsed.as_secs_f64()
        ),
        Event::ReaperDisabled => {
            "reaper disabled (HARNESS_REAPER_DISABLED): after a crash only the next run's sweep cleans up".to_owned()
        }
        Event::ImageWorking {
            service,
            reference,
            how,
        } => format!("{service}: image {reference}: {how}"),
        Event::ImageReady {
            service,
            reference,
            built: true,
            elapsed,
        } => {
            format!(
                "{service}: image {reference} built in {:.1}s",
                elapsed.as_secs_f64()
            )
        }
        Event::ImageReady {
            service,
            reference,
            built: false,
            ..
        } => format!("{service}: image {reference} present"),
        Event::ServiceStarting { service } => format!("{service}: starting container"),
        Event::ServiceWaiting { service, rule } => format!("{service}: waiting for {rule}"),
        Event::ServiceReady {
            service,
            url,
            elapsed,
        } => format!(
            "{service}: ready in {:.2}s {}",
            elapsed.as_secs_f64(),
            url.as_deref().unwrap_or_default()
        ),
        Event::ServiceAttached { service, url } => format!("{service}: attached to {url}"),
        Event::ServiceExited {
            service,
            exit_code,
            log_tail,
        } => format!(
            "{service}: its container exited with code {exit_code} while the stack is up; last lines of its log:\n{log_tail}"
        ),
        Event::Stopping { run_id } => format!("removing run {run_id}"),
        Event::LevelStarted { level } => format!("level {level}: started"),
        Event::LevelStep { level, step } => format!("level {level}: {step}"),
        // Progress lines for failures only (the log would otherwise get a line per test).
        Event::LevelProgress {
            level,
            last,
            passed,
            failed,
            last_passed: false,
        } => format!("level {level}: {last} FAILED ({passed} passed, {failed} failed so far)"),
        Event::LevelFinished(summary) => level_line(summary),
        Event::PactVerifying {
            consumer,
            provider,
            source,
            interactions,
        } => format!("verifying {provider} against the pact {consumer} -> {provider} ({interactions} interaction(s), {source})"),
        Event::InteractionVerified(r) => format!(
            "{} -> {}: {} ... {}",
            r.consumer,
            r.provider,
            r.description,
            if r.passed() { "passed" } else { "FAILED" }
        ),
        Event::OpenApiVerifying {
            service,
            document,
            operations,
            seed,
        } => format!("verifying {service} against {document} ({operations} operation(s), seed {seed})"),
        Event::OperationVerified(r) => format!(
            "{}: {} {} ({}) ... {} ({} request(s))",
            r.service,
            r.method,
            r.path,
            r.operation,
            if r.passed() { "passed" } else { "FAILED" },
            r.requests.total()
        ),
        Event::RunStarted {
            run_id,
            levels,
            dir: Some(dir),
        } => format!(
            "harness run {run_id}: levels {}; reports in {}",
            levels.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", "),
            dir.display()
        ),
        Event::Notice { message } => message.clone(),
        Event::Warning { message } => format!("warning: {message}"),
        Event::NoPacts {
            provider, failed, ..
        } => format!(
            "no pacts found for provider {provider}{}",
            if *failed { " (a failure)" } else { " (allowed)" }
        ),
        _ => return None,
    })
}

/// A level's closing line: its status and totals.
fn level_line(s: &harness::run::LevelSummary) -> String {
    use harness::run::LevelStatus;
    format!(
        "level {}: {} ({} passed, {} failed, {} skipped, {} flaky) in {:.1}s{}",
        s.level,
        match s.status {
            LevelStatus::Passed => "passed",
            LevelStatus::Failed => "FAILED",
            LevelStatus::NotConfigured => "not configured",
            LevelStatus::NotRun => "not run",
        },
        s.passed,
        s.failed,
        s.skipped,
        s.flaky,
        s.duration.as_secs_f64(),
        s.note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    )
}

/// The sink that draws progress, and the display to clear before a command prints its
/// result.
pub(crate) fn progress() -> (EventSink, MultiProgress) {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        let sink: EventSink = Arc::new(|event: Event| {
            if let Some(line) = describe(&event) {
                eprintln!("{line}");
            }
        });
        return (
            sink,
            MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden()),
        );
    }
    let multi = MultiProgress::new();
    let bars: Arc<Mutex<std::collections::HashMap<String, ProgressBar>>> = Arc::default();
    let style = ProgressStyle::with_template("{spinner} {prefix:>12} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let m = multi.clone();
    let sink: EventSink = Arc::new(move |event: Event| {
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        let mut bar = |key: &str| {
            bars.entry(key.to_owned())
                .or_insert_with(|| {
                    let b = m.add(ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(key.to_owned());
                    b.enable_steady_tick(std::time::Duration::from_millis(120));
                    b
                })
                .clone()
        };
        match event {
            Event::Swept {
                containers,
                networks,
            } => {
                let _ = m.println(format!("removed leftovers of dead runs: {containers} container(s), {networks} network(s)"));
            }
            Event::InstallingTool { .. }
            | Event::ServiceExited { .. }
            | Event::SweepFailed { .. }
            | Event::SweepUndecided { .. }
            | Event::ReaperReady { .. }
            | Event::ReaperDisabled
            | Event::PactVerifying { .. }
            | Event::InteractionVerified(_)
            | Event::OpenApiVerifying { .. }
            | Event::OperationVerified(_)
            | Event::NoPacts { .. }
            | Event::RunStarted { .. }
            | Event::Notice { .. }
            | Event::Warning { .. } => {
                if let Some(line) = describe(&event) {
                    let _ = m.println(line);
                }
            }
            Event::ImageWorking {
                service,
                reference,
                how,
            } => bar(&service).set_message(format!("image {reference}: {how}")),
            Event::ImageReady {
                service,
                reference,
                built,
                elapsed,
            } => {
                let what = if built {
                    format!("built in {:.1}s", elapsed.as_secs_f64())
                } else {
                    "present".to_owned()
                };
                bar(&service).set_message(format!("image {reference} {what}"));
            }
            Event::ServiceStarting { service } => {
                bar(&service).set_message("starting container".to_owned())
            }
            Event::ServiceWaiting { service, rule } => {
                bar(&service).set_message(format!("waiting for {rule}"))
            }
            Event::ServiceReady {
                service,
                url,
                elapsed,
            } => {
                let b = bar(&service);
                b.finish_with_message(format!(
                    "ready in {:.1}s {}",
                    elapsed.as_secs_f64(),
                    url.unwrap_or_default()
                ));
            }
            Event::ServiceAttached { service, url } => {
                bar(&service).finish_with_message(format!("attached to {url}"))
            }
            Event::Stopping { run_id } => {
                let _ = m.println(format!("removing run {run_id}"));
            }
            // A spinner per level of `harness run`: what it does now, its tests as they end.
            Event::LevelStarted { level } => {
                bar(&format!("level {level}")).set_message("started".to_owned())
            }
            Event::LevelStep { level, step } => bar(&format!("level {level}")).set_message(step),
            Event::LevelProgress {
                level,
                passed,
                failed,
                last,
                last_passed,
            } => {
                if !last_passed {
                    // A failure is worth a line of its own as it happens.
                    let _ = m.println(format!("level {level}: {last} FAILED"));
                }
                bar(&format!("level {level}"))
                    .set_message(format!("{passed} passed, {failed} failed; last: {last}"));
            }
            Event::LevelFinished(summary) => {
                bar(&format!("level {}", summary.level)).finish_with_message(level_line(&summary))
            }
            _ => {}
        }
    });
    (sink, multi)
}
