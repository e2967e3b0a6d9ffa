// Prevents an extra console window on Windows in release.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

fn main() -> ExitCode {
    match msgops_console::multicall::cli_args(std::env::args_os()) {
        Some(args) => msgops_cli::run(args),
        None => {
            msgops_console::run();
            ExitCode::SUCCESS
        }
    }
}
