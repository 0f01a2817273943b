fn main() -> std::process::ExitCode {
    ferry::run(std::env::args_os()).into()
}
