#!/usr/bin/env bash
# The project's test command (README: "ci/test.sh"). Format, lints, every test target, docs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== lean library: no CLI or bench dependencies (--no-default-features)"
cargo build --lib --no-default-features
cargo clippy --lib --no-default-features -- -D warnings

echo "== other Unix targets: type-check and lint (ci/targets.sh)"
ci/targets.sh

echo "== Windows under Wine: cross-built lib and integration tests (ci/wine-test.sh)"
ci/wine-test.sh

echo "== cargo clippy --all-targets -D warnings"
cargo clippy --all-targets -- -D warnings

echo "== cargo test --all-targets (debug: overflow checks on; includes the chaos matrix and the fault harness)"
cargo test --all-targets

echo "== chaos matrix and fault harness, release build"
cargo test --release --test chaos --test fault_harness

echo "== cargo test --doc"
cargo test --doc

echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
