use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system's malloc: glibc's slows as a run's heap grows (lint over
/// 5,000 releases spent a fifth of its time in malloc and free, and grew faster than the number
/// of releases). Without transparent huge pages, so its peak memory stays near glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A Tab in a shell whose completion `kanari completions` registered: answered, then exit.
    kanari::commands::complete::answer_the_shell();
    let cli = kanari::cli::Cli::parse();
    match kanari::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}", kanari::describe(&err));
            ExitCode::from(kanari::exit_code_of(&err))
        }
    }
}
