//! The `techconf` binary: API server and command line.
fn main() -> std::process::ExitCode {
    techconf::cli::main()
}
