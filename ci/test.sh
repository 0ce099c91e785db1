#!/usr/bin/env bash
# The project's test command (README: "ci/test.sh").
#
#   ci/test.sh          everything: format, lints on every target, Windows under Wine, every test
#                       target (debug: overflow checks on), the chaos matrix and the fault harness
#                       optimised, the four examples, doc tests, docs. Installs the Rust
#                       targets, mingw-w64 and wine64 when missing (ci/targets.sh,
#                       ci/wine-test.sh); as root it raises net.core.rmem_max for Wine.
#   ci/test.sh --quick  day to day: format, host lints, unit tests and the fast integration tests
#                       (every tests/*.rs but those in SLOW_TESTS); no other targets, no Wine, no
#                       optimised build, nothing installed.
#
# Every stage prints its wall time, and the run its total.
set -euo pipefail
cd "$(dirname "$0")/.."

# Integration tests --quick leaves out: the chaos matrix and the fault harness (long, and run
# optimised by the full run), the wire suite and the fault matrix across network namespaces
# (root, veth, tc), and the tests that drive peers (iperf3, sockperf, spead2, tshark). A new
# tests/*.rs is quick until listed here.
SLOW_TESTS=(chaos fault_harness bench_wire netns_faults peers framing_spead framing_tshark)

# The optimised build of the chaos stage: release's optimisation (opt-level 3, no debug
# assertions, no overflow checks) without what only makes the shipped binary faster to run and
# slower to build (codegen-units = 1, thin LTO, full debug info). Its own folder,
# target/ci-release, so `cargo build --release` keeps its artifacts and neither rebuilds the
# other's.
CI_RELEASE=(
    --config 'profile.ci-release.inherits="release"'
    --config 'profile.ci-release.codegen-units=16'
    --config 'profile.ci-release.lto=false'
    --config 'profile.ci-release.debug=false'
    --config 'profile.ci-release.incremental=true'
    --profile ci-release
)

quick=0
case "${1:-}" in
"") ;;
--quick) quick=1 ;;
-h | --help)
    sed -n '4,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "ci/test.sh: unknown argument '$1' (expected --quick or nothing)" >&2
    exit 2
    ;;
esac

run_start=$SECONDS
stage_name=""
stage_start=$SECONDS
# Ends the stage running (printing its time) and starts the next, named $1.
stage() {
    if [ -n "$stage_name" ]; then
        echo "   ($stage_name: $((SECONDS - stage_start)) s)"
    fi
    stage_name=$1
    stage_start=$SECONDS
    [ -z "$1" ] || echo "== $1"
}
finish() {
    stage ""
    echo "== ci/test.sh${1:+ $1}: all passed in $((SECONDS - run_start)) s"
}

stage "cargo fmt --check"
cargo fmt --all --check

if [ "$quick" = 1 ]; then
    fast=()
    for f in tests/*.rs; do
        t=$(basename "$f" .rs)
        [[ " ${SLOW_TESTS[*]} " == *" $t "* ]] || fast+=("--test=$t")
    done
    stage "cargo clippy --all-targets -D warnings (host)"
    cargo clippy --all-targets -- -D warnings
    stage "cargo test --lib --bins and the fast integration tests (${#fast[@]}; not ${SLOW_TESTS[*]})"
    cargo test --lib --bins "${fast[@]}"
    finish --quick
    exit 0
fi

# `cargo clippy` type-checks every item: a separate `cargo build` of the lean library would only
# add its code generation.
stage "lean library: no CLI or bench dependencies (--no-default-features)"
cargo clippy --lib --no-default-features -- -D warnings

stage "other Unix targets: type-check and lint (ci/targets.sh)"
ci/targets.sh

stage "Windows under Wine: cross-built lib and integration tests (ci/wine-test.sh)"
ci/wine-test.sh

stage "cargo clippy --all-targets -D warnings"
cargo clippy --all-targets -- -D warnings

stage "cargo test --all-targets (debug: overflow checks on; includes the chaos matrix and the fault harness)"
cargo test --all-targets

stage "chaos matrix and fault harness, optimised (profile ci-release: release without LTO)"
cargo test "${CI_RELEASE[@]}" --test chaos --test fault_harness

stage "examples: paced_stream, device_flow, async_tokio, sender_group (each exits 0 only when nothing was lost)"
for example in paced_stream device_flow async_tokio sender_group; do
    cargo run --quiet "${CI_RELEASE[@]}" --example "$example"
done

stage "cargo test --doc"
cargo test --doc

stage "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps

finish
