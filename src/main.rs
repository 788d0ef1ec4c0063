use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = kanari::cli::Cli::parse();
    match kanari::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}", kanari::describe(&err));
            ExitCode::from(kanari::exit_code_of(&err))
        }
    }
}
