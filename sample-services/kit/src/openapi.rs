//! Keeps `contracts/openapi/<service>.json` in step with the code.
//!
//! Each service has a test calling [`check_contract`] with its generated document. The test
//! fails when the checked-in file differs; run it with `UPDATE_CONTRACTS=1` to rewrite it.

use std::path::PathBuf;

/// The path of `contracts/openapi/<service>.json`, from a crate's manifest dir
/// (`sample-services/<service>`).
pub fn contract_path(manifest_dir: &str, service: &str) -> PathBuf {
    PathBuf::from(manifest_dir)
        .join("../../contracts/openapi")
        .join(format!("{service}.json"))
}

/// Renders a document the way it is checked in: pretty JSON with a trailing newline.
pub fn render(doc: &utoipa::openapi::OpenApi) -> String {
    let mut s = doc
        .to_pretty_json()
        .expect("an OpenAPI document serialises");
    s.push('\n');
    s
}

/// Panics with a readable message when the checked-in contract differs from `doc`;
/// with `UPDATE_CONTRACTS=1`, writes it instead.
pub fn check_contract(manifest_dir: &str, service: &str, doc: &utoipa::openapi::OpenApi) {
    let path = contract_path(manifest_dir, service);
    let fresh = render(doc);
    if std::env::var("UPDATE_CONTRACTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("has a parent"))
            .expect("create contracts dir");
        std::fs::write(&path, &fresh).expect("write contract");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != fresh {
        let first_diff = current
            .lines()
            .zip(fresh.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| {
                format!(
                    "first difference at line {}:\n  checked in: {a}\n  generated:  {b}",
                    i + 1
                )
            })
            .unwrap_or_else(|| "the files differ in length".to_owned());
        panic!(
            "{} is stale: it no longer matches the service's generated OpenAPI document.\n{first_diff}\n\
             Regenerate with: UPDATE_CONTRACTS=1 cargo nextest run --workspace openapi",
            path.display()
        );
    }
}
