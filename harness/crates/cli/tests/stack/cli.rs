//! The CLI's documented exit codes and messages for bad input and a missing engine.

use std::process::Command;

/// Runs harness; (exit code, stderr).
fn harness(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let (code, _, err) = harness_with(args, envs);
    (code, err)
}

/// Runs harness; (exit code, stdout, stderr).
fn harness_out(args: &[&str]) -> (i32, String, String) {
    harness_with(args, &[])
}

fn harness_with(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run harness");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_docker_engine_is_exit_code_3_with_a_plain_message() {
    let (code, err) = harness(
        &["clean"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no Docker engine reachable"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_bad_manifest_is_exit_code_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.toml");
    std::fs::write(&path, "[services.a]\nimage = \"x\"\nportz = [1]\n").unwrap();
    let (code, err) = harness(&["up", "--manifest", path.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{}:3", path.display())) && err.contains("portz"),
        "{err}"
    );

    let (code, err) = harness(&["up", "--manifest", "/nonexistent/stack.toml"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the manifest"), "{err}");
}

#[test]
fn a_bad_attach_is_exit_code_2() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/one.toml");
    let (code, err) = harness(&["up", "--manifest", manifest, "--attach", "payments"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("NAME=URL"), "{err}");
    let (code, err) = harness(
        &[
            "up",
            "--manifest",
            manifest,
            "--attach",
            "nope=http://127.0.0.1:1",
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn clean_run_takes_a_run_id() {
    let (code, err) = harness(&["clean", "--run", "Not/A-Run"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--run Not/A-Run"), "{err}");
    // A run that does not exist (any more): nothing to remove, not an error.
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["clean", "--run", "0000000000"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("removed 0 container(s) and 0 network(s) of run 0000000000"),
        "{stdout}"
    );
}

#[test]
fn clean_reports_deletes_old_run_folders_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    for (i, run) in ["aaaa000001", "aaaa000002", "aaaa000003"]
        .iter()
        .enumerate()
    {
        let logs = dir.path().join(run).join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("svc.log"), "x").unwrap();
        // Distinct modification times, oldest first.
        let t =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + i as u64);
        std::fs::File::open(dir.path().join(run))
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    std::fs::write(dir.path().join("README.md"), "keep").unwrap();
    std::fs::create_dir_all(dir.path().join("notarun")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["clean", "--reports", "1", "--reports-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("deleted 2 report folder(s)"), "{stdout}");
    assert!(dir.path().join("aaaa000003/logs/svc.log").exists());
    assert!(!dir.path().join("aaaa000001").exists());
    assert!(!dir.path().join("aaaa000002").exists());
    assert!(dir.path().join("README.md").exists());
    assert!(dir.path().join("notarun").exists());
}

#[test]
fn contract_verify_an_unparsable_pact_is_exit_code_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pact = dir.path().join("shop-catalog.json");
    std::fs::write(
        &pact,
        "{\n  \"consumer\": {\"name\": \"shop\"},\n  \"provider\": ",
    )
    .unwrap();
    let (code, err) = harness(
        &[
            "contract",
            "verify",
            "--pacts",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&pact.display().to_string()) && err.contains("line 3"),
        "{err}"
    );
    // A file named on the command line that is not there is bad input too.
    let (code, err) = harness(
        &["contract", "verify", "--pacts", "/nonexistent/pact.json"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/pact.json"), "{err}");
}

#[test]
fn contract_verify_a_bad_harness_toml_is_exit_code_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("harness.toml");
    std::fs::write(
        &config,
        "[contract]\npacts = \"p\"\nif_no_pact = \"pass\"\n",
    )
    .unwrap();
    let (code, err) = harness(
        &["contract", "verify", "--config", config.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{}:3", config.display())), "{err}");
}

#[test]
fn contract_verify_starts_the_state_program_with_the_stack_endpoints_and_telemetry_off() {
    // The program dumps its environment and exits without listening: the verification
    // stops with its log, and what it was given is on disk.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("env.txt");
    let pacts = dir.path().join("pacts");
    std::fs::create_dir(&pacts).unwrap();
    let config = dir.path().join("harness.toml");
    std::fs::write(
        &config,
        format!(
            "[stack]\nmanifest = {manifest:?}\n[contract]\npacts = \"pacts\"\n\
             [contract.states]\ncommand = [\"sh\", \"-c\", \"env > {dump}; echo no states here; exit 7\"]\n\
             [contract.providers.payments]\n",
            manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/one.toml"),
            dump = dump.display(),
        ),
    )
    .unwrap();
    let (code, err) = harness(
        &["contract", "verify", "--config", config.to_str().unwrap()],
        &[("PACT_DO_NOT_TRACK", "false")],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("exited") && err.contains("no states here"),
        "{err}"
    );
    let env = std::fs::read_to_string(&dump).unwrap();
    assert!(env.lines().any(|l| l == "PACT_DO_NOT_TRACK=true"), "{env}");
    assert!(
        env.lines()
            .any(|l| l.starts_with("HARNESS_PAYMENTS_URL=http://127.0.0.1:")),
        "{env}"
    );
    assert!(
        env.lines()
            .any(|l| l.starts_with("HARNESS_STATES_ADDR=127.0.0.1:")),
        "{env}"
    );
}

fn payments_document() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../contracts/openapi/payments.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// harness.toml for the one-service fixture, documents from the workspace.
fn openapi_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("harness.toml");
    std::fs::write(
        &config,
        format!(
            "[stack]\nmanifest = {manifest:?}\n[openapi]\ndocuments = {docs:?}\n",
            manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/one.toml"),
            docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../contracts/openapi"),
        ),
    )
    .unwrap();
    config
}

#[test]
fn contract_openapi_starts_the_service_and_passes_then_fails_on_planted_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let config = openapi_config(dir.path());
    let config = config.to_str().unwrap();
    let (code, out, err) = harness_out(&[
        "contract",
        "openapi",
        "--service",
        "payments",
        "--config",
        config,
        "--max-examples",
        "30",
        "--seed",
        "5",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("POST /payments") && out.contains("create_payment"),
        "{out}"
    );
    assert!(out.contains("(seed 5): 4 passed, 0 failed"), "{out}");

    // A field retyped and a status removed: each named with its operation and rule.
    let mut planted = payments_document();
    planted["components"]["schemas"]["PaymentView"]["properties"]["amount_cents"] =
        serde_json::json!({"type": "string"});
    planted["paths"]["/payments/{id}"]["get"]["responses"]
        .as_object_mut()
        .unwrap()
        .remove("404");
    let planted_path = dir.path().join("payments-planted.json");
    std::fs::write(&planted_path, planted.to_string()).unwrap();
    let (code, out, err) = harness_out(&[
        "contract",
        "openapi",
        "--service",
        "payments",
        "--config",
        config,
        "--openapi",
        planted_path.to_str().unwrap(),
        "--max-examples",
        "30",
        "--seed",
        "5",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("create_payment [body_conforms]: 201: /amount_cents: "),
        "{out}"
    );
    assert!(
        out.contains("get_payment [status_documented]: 404: GET /payments/{id} documents 200, 400"),
        "{out}"
    );
    assert!(
        out.contains("reproduce: curl -sS -i -X POST 'http://127.0.0.1:"),
        "{out}"
    );
    assert!(
        out.contains("harness contract openapi --service payments --seed 5"),
        "{out}"
    );
}

#[test]
fn contract_openapi_a_bad_document_is_exit_code_2_naming_file_and_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let config = openapi_config(dir.path());
    let mut doc = payments_document();
    doc["paths"]["/payments"]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        serde_json::json!({"$ref": "#/components/schemas/Nope"});
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let (code, _, err) = harness_out(&[
        "contract",
        "openapi",
        "--service",
        "payments",
        "--config",
        config.to_str().unwrap(),
        "--openapi",
        bad.to_str().unwrap(),
        "--url",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad.json: /paths/~1payments/post/requestBody/content/application~1json/schema: $ref #/components/schemas/Nope points to nothing"),
        "{err}"
    );
    let (code, _, err) = harness_out(&[
        "contract",
        "openapi",
        "--service",
        "nosuch",
        "--config",
        config.to_str().unwrap(),
        "--url",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("nosuch.json") && err.contains("--openapi FILE"),
        "{err}"
    );
    // A protected document without credentials would pass on 401s: refused before any
    // request, with the fix.
    let gateway = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../contracts/openapi/gateway.json"
    );
    let (code, _, err) = harness_out(&[
        "contract",
        "openapi",
        "--service",
        "gateway",
        "--config",
        config.to_str().unwrap(),
        "--openapi",
        gateway,
        "--url",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("requires credentials") && err.contains("[openapi.services.gateway]"),
        "{err}"
    );
}

/// `harness mock`: serves a contract's mock on 127.0.0.1, prints every call, and on SIGTERM
/// exits 1 because a request was not accepted by the contract.
#[test]
fn mock_command_serves_a_contract_and_reports_what_it_did_not_accept() {
    use std::io::{BufRead, BufReader, Read, Write};
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../contracts/openapi/payments.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["mock", "--openapi", doc.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let addr = url.trim_start_matches("http://");
    let send = |request: String| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    let body = r#"{"order_id":"5b0f1e5e-2f55-4a49-9d0b-6d3c2a4d9a10","customer_id":"c","amount_cents":5,"currency":"EUR"}"#;
    let ok = send(format!(
        "POST /payments HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert!(ok.starts_with("HTTP/1.1 20"), "{ok}");
    let bad = send(
        "GET /payments/not-a-uuid HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_owned(),
    );
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("[create_payment] -> 20"), "{rest}");
    assert!(
        rest.contains("not accepted: get_payment: path.id"),
        "{rest}"
    );
    assert!(rest.contains("2 call(s), 1 problem(s)"), "{rest}");
}

#[test]
fn mock_command_refuses_an_unreadable_contract_with_exit_code_2() {
    let (code, _, err) = harness_out(&["mock", "--pact", "/nonexistent/pact.json"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/pact.json"), "{err}");
    let (code, _, err) = harness_out(&["mock"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn harness_load_refuses_bad_thresholds_profiles_and_configs_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("harness.toml");
    std::fs::write(
        &config,
        "[load]\ncommand = [\"true\"]\n[load.profiles.smoke]\nthresholds = [\"p95 < 1s\"]\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, err) = harness(
        &["load", "--config", config, "--threshold", "p95 << 2s"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad threshold \"p95 << 2s\" at column 6") && err.contains("       ^"),
        "{err}"
    );
    let (code, err) = harness(&["load", "--config", config, "--profile", "soak"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no load profile \"soak\"") && err.contains("smoke"),
        "{err}"
    );

    // A bad threshold in harness.toml names the file, the line and the column.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[load]\ncommand = [\"true\"]\n[load.profiles.smoke]\nthresholds = [\n  \"p95 < 1s\",\n  \"p42(x) < 5%\",\n]\n",
    )
    .unwrap();
    let (code, err) = harness(&["load", "--config", bad.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{}:6", bad.display())) && err.contains("p42 is a duration"),
        "{err}"
    );

    let none = dir.path().join("none.toml");
    std::fs::write(&none, "").unwrap();
    let (code, err) = harness(&["load", "--config", none.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no [load] section"), "{err}");
}
