//! `webhook-gateway sign`: prints the headers (or the curl command) that
//! [`crate::sign`] makes of the body on stdin.

use super::{CmdError, Done, Outcome};
use crate::settings::Env;
use crate::sign::{SignArgs, SignError};

pub fn run(args: SignArgs, env: &Env) -> Outcome {
    let out = crate::sign::main(args, env).map_err(|e| match e {
        // The secret's variables, refused as the gateway refuses them, and said so alike.
        SignError::Config(e) => CmdError::Config(e),
        e => CmdError::Usage(e.to_string()),
    })?;
    print!("{out}");
    Ok(Done::Success)
}
