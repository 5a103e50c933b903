//! Writes the reports of the sample run (the one the report tests use) into a folder, for a
//! look at them in a browser: `cargo run -p harness-report --example sample -- DIR`
//! (`scripts/report-screenshot.sh` renders `report.html` with headless Chromium).

#[path = "../tests/sample/mod.rs"]
mod sample;

use harness_core::run::RunOutcome;

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: sample DIR");
        return std::process::ExitCode::from(2);
    };
    match harness_report::write_reports(
        std::path::Path::new(&dir),
        &sample::run(Some(RunOutcome::Failed)),
    ) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write the reports: {e}");
            std::process::ExitCode::from(3)
        }
    }
}
