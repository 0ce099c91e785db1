//! The `ringshot` binary: `send`, `recv` and `bench`.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
