//! The page for people at `/` (browsers ask for `text/html`): the participants, the latest
//! pact of each consumer and provider with its latest verification, the verification matrix
//! and what is deployed where. Plain HTML with inline CSS, no script, every value escaped.

use std::fmt::Write;

use crate::{error::Result, matrix::failed_interactions, store::Store};

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A time as `2026-12-02 06:30:12` (UTC).
fn when(time: &str) -> String {
    esc(&time.replace('T', " ").chars().take(19).collect::<String>())
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#fafbfc}\
h1{font-size:1.5rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.8rem 0 .5rem}\
p.sub{color:#5b6475;margin:0 0 1rem}table{border-collapse:collapse;background:#fff;min-width:40rem}\
th,td{border:1px solid #d9dee7;padding:.35rem .6rem;text-align:left;vertical-align:top}\
th{background:#eef1f6;font-weight:600}.ok{color:#137333;font-weight:600}.bad{color:#b3261e;font-weight:600}\
.none{color:#8a6d00}code{font-size:.9em}.empty{color:#5b6475;font-style:italic}";

/// Renders the page from the store's current data.
pub async fn render(store: &Store) -> Result<String> {
    let pacticipants = store.pacticipants().await?;
    let publications = store.all_publications().await?;
    let verifications = store.all_verifications().await?;
    let deployments = store.all_current_deployments().await?;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Harness broker</title>\
         <style>{STYLE}</style></head><body><h1>Harness contract broker</h1>\
         <p class=\"sub\">{} pacticipants · {} pact publications · {} verification results · \
         the HAL API is at this URL with <code>Accept: application/hal+json</code></p>",
        pacticipants.len(),
        publications.len(),
        verifications.len()
    );

    h.push_str("<h2>Pacticipants</h2>");
    if pacticipants.is_empty() {
        h.push_str("<p class=\"empty\">Nothing published yet.</p>");
    } else {
        h.push_str("<table id=\"pacticipants\"><tr><th>Name</th><th>Main branch</th><th>Latest version</th><th>Deployed</th></tr>");
        for p in &pacticipants {
            let latest = store.latest_version(&p.name, None, None).await?;
            let deployed: Vec<String> = deployments
                .iter()
                .filter(|d| d.pacticipant == p.name)
                .map(|d| format!("{} in {}", esc(&d.version), esc(&d.environment)))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.name),
                esc(p.main_branch.as_deref().unwrap_or("–")),
                latest
                    .map(|v| format!(
                        "{}{}",
                        esc(&v.number),
                        if v.branches.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", esc(&v.branches.join(", ")))
                        }
                    ))
                    .unwrap_or_else(|| "–".to_owned()),
                if deployed.is_empty() {
                    "–".to_owned()
                } else {
                    deployed.join("<br>")
                }
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Latest pacts</h2>");
    let mut seen = std::collections::HashSet::new();
    let latest: Vec<_> = publications
        .iter()
        .filter(|p| seen.insert((p.consumer.clone(), p.provider.clone())))
        .collect();
    if latest.is_empty() {
        h.push_str("<p class=\"empty\">No pacts yet.</p>");
    } else {
        h.push_str("<table id=\"pacts\"><tr><th>Consumer</th><th>Version</th><th>Provider</th><th>Published</th><th>Latest verification</th></tr>");
        for p in latest {
            let verification = verifications
                .iter()
                .find(|v| v.pact_version_id == p.pact_version_id);
            let status = match verification {
                Some(v) if v.success => format!(
                    "<span class=\"ok\">✔ verified</span> by {} {}",
                    esc(&v.provider),
                    esc(&v.provider_version)
                ),
                Some(v) => format!(
                    "<span class=\"bad\">✘ failed</span> by {} {}",
                    esc(&v.provider),
                    esc(&v.provider_version)
                ),
                None => "<span class=\"none\">never verified</span>".to_owned(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
                esc(&p.consumer),
                esc(&p.version),
                if p.branches.is_empty() {
                    String::new()
                } else {
                    format!(" <small>({})</small>", esc(&p.branches.join(", ")))
                },
                esc(&p.provider),
                when(&p.created_at)
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Verification matrix</h2>");
    if verifications.is_empty() {
        h.push_str("<p class=\"empty\">No verification results yet.</p>");
    } else {
        h.push_str("<table id=\"matrix\"><tr><th>Consumer</th><th>Consumer version(s)</th><th>Provider</th><th>Provider version</th><th>Result</th><th>Verified</th></tr>");
        for v in &verifications {
            let versions: Vec<&str> = publications
                .iter()
                .filter(|p| p.pact_version_id == v.pact_version_id)
                .map(|p| p.version.as_str())
                .collect();
            let result = if v.success {
                "<span class=\"ok\">✔ passed</span>".to_owned()
            } else {
                let failed = failed_interactions(&v.test_results);
                format!(
                    "<span class=\"bad\">✘ failed</span>{}",
                    if failed.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", esc(&failed.join("; ")))
                    }
                )
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{result}</td><td>{}</td></tr>",
                esc(&v.consumer),
                esc(&versions.join(", ")),
                esc(&v.provider),
                esc(&v.provider_version),
                when(&v.created_at)
            );
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>Environments</h2>");
    let environments = store.environments().await?;
    if environments.is_empty() {
        h.push_str("<p class=\"empty\">No environments yet.</p>");
    } else {
        h.push_str("<table id=\"environments\"><tr><th>Environment</th><th>Production</th><th>Currently deployed</th></tr>");
        for e in &environments {
            let here: Vec<String> = deployments
                .iter()
                .filter(|d| d.environment_uuid == e.uuid)
                .map(|d| format!("{} {}", esc(&d.pacticipant), esc(&d.version)))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(e.display_name.as_deref().unwrap_or(&e.name)),
                if e.production { "yes" } else { "no" },
                if here.is_empty() {
                    "–".to_owned()
                } else {
                    here.join("<br>")
                }
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>");
    Ok(h)
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_are_escaped() {
        assert_eq!(
            super::esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
