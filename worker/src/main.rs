//! `techconf-worker`: the email fan-out worker. Run as many as you like against one database.
use std::process::ExitCode;

use techconf::config::Settings;

fn main() -> ExitCode {
    techconf::config::load_env_file();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let settings = Settings::from_env()?;
        let _telemetry = techconf::telemetry::init(settings.log_format);
        techconf::cli::run_worker(settings).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
