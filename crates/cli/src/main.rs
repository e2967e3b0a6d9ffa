fn main() -> std::process::ExitCode {
    msgops_cli::run(std::env::args_os())
}
