//! The `pwreset` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    pwreset::run()
}
