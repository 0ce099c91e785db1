//! The `ringshot` binary: `send`, `recv` and `bench`.

mod cli;

fn main() {
    // `ringshot send --help | head` ends quietly instead of panicking on the closed pipe.
    ringshot::os::default_sigpipe();
    std::process::exit(cli::main());
}
