//! The `ringshot` binary: `send`, `recv` and `bench`. The benchmark suites (`bench`) are the
//! binary's own modules, not the library's: an app that embeds the engine never builds them.

mod bench;
mod cli;

fn main() {
    // `ringshot send --help | head` ends quietly instead of panicking on the closed pipe.
    ringshot::os::default_sigpipe();
    std::process::exit(cli::main());
}
