//! `--dev`: placeholder until the first-run issue lands.
use std::process::ExitCode;

pub fn main(_args: crate::config::RunArgs, _env: crate::config::Env) -> ExitCode {
    eprintln!("--dev is not built yet");
    ExitCode::from(64)
}
