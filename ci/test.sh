#!/usr/bin/env bash
# The project's test command (README: "ci/test.sh").
#
#   ci/test.sh          everything: format, lints on every target, Windows under Wine, every test
#                       target (debug: overflow checks on), the chaos matrix and the fault harness
#                       optimised, the examples (xdp_stream as root), doc tests, docs. Installs
#                       the Rust targets, mingw-w64 and wine64 when missing (ci/targets.sh,
#                       ci/wine-test.sh); as root it raises net.core.rmem_max for Wine.
#   ci/test.sh --quick  day to day: format, host lints, unit tests (the binary's but its
#                       `::slow::` ones) and the fast integration tests (every tests/*.rs but
#                       those in SLOW_TESTS); no other targets, no Wine, no optimised build,
#                       nothing installed.
#
# Every stage prints its wall time, and the run its total.
set -euo pipefail
cd "$(dirname "$0")/.."

# Integration tests --quick leaves out: the chaos matrix and the fault harness (long, and run
# optimised by the full run), the fault matrix across network namespaces (root, veth, tc), and
# the tests that drive peers (spead2, tshark). A new tests/*.rs is quick until listed here.
SLOW_TESTS=(chaos fault_harness netns_faults framing_spead framing_tshark)
# The binary's unit tests --quick leaves out: those whose path has this (src/bench/slow/: the
# wire suite across network namespaces, live iperf3, sockperf and spead2 trials).
SLOW_UNIT=::slow::

# What an app that embeds the engine builds (--no-default-features): at most LEAN_MAX_CRATES
# crates, ringshot included, and none of the CLI's (LEAN_FORBIDDEN: a deflate, a parser
# combinator, base64, serde's derive and the syn it compiles).
LEAN_MAX_CRATES=15
LEAN_FORBIDDEN=(flate2 nom base64 serde_derive syn)

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
    sed -n '4,14p' "$0" | sed 's/^# \{0,1\}//'
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
    stage "cargo test --lib --bins and the fast integration tests (${#fast[@]}; not ${SLOW_TESTS[*]} $SLOW_UNIT)"
    cargo test --lib --bins "${fast[@]}" -- --skip "$SLOW_UNIT"
    finish --quick
    exit 0
fi

# `cargo clippy` type-checks every item: a separate `cargo build` of the lean library would only
# add its code generation. With --all-targets it also lints the tests, examples and benches
# the lean build compiles (those needing `recv`, `device` or `cli` say so in Cargo.toml).
stage "lean library: no CLI or bench dependencies (--no-default-features)"
cargo clippy --all-targets --no-default-features -- -D warnings
# `cargo tree` marks a crate it has shown before with (*).
lean=$(cargo tree --no-default-features -e normal --prefix none | sed 's/ (\*)$//' | sort -u)
lean_n=$(wc -l <<<"$lean")
lean_bad=()
for c in "${LEAN_FORBIDDEN[@]}"; do
    if grep -q "^$c v" <<<"$lean"; then lean_bad+=("$c"); fi
done
if [ "$lean_n" -gt "$LEAN_MAX_CRATES" ] || [ "${#lean_bad[@]}" -gt 0 ]; then
    echo "ci/test.sh: FAILED: the lean library (--no-default-features) pulls $lean_n crates" \
        "(at most $LEAN_MAX_CRATES)${lean_bad[*]:+, among them ${lean_bad[*]}}:" >&2
    echo "$lean" >&2
    exit 1
fi
echo "lean library: $lean_n crates (at most $LEAN_MAX_CRATES), none of ${LEAN_FORBIDDEN[*]}"

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

stage "examples: paced_stream, device_flow, async_tokio, sender_group, xdp_stream (each exits 0 only when nothing was lost)"
for example in paced_stream device_flow async_tokio sender_group; do
    cargo run --quiet "${CI_RELEASE[@]}" --example "$example"
done
# xdp_stream builds its own veth wire across two network namespaces: root only.
if [ "$(id -u)" = 0 ]; then
    cargo run --quiet "${CI_RELEASE[@]}" --example xdp_stream
else
    echo "examples: xdp_stream skipped: it needs root (network namespaces, a veth pair, AF_XDP)"
fi

stage "cargo test --doc"
cargo test --doc

stage "cargo doc (and the library's docs have no bench module: the suites are the binary's)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
doc_index=${CARGO_TARGET_DIR:-target}/doc/ringshot/index.html
if ! grep -q 'href="engine/index.html"' "$doc_index"; then
    echo "ci/test.sh: FAILED: $doc_index does not list the engine module (not the crate's docs?)" >&2
    exit 1
fi
if grep -q 'href="bench/index.html"' "$doc_index"; then
    echo "ci/test.sh: FAILED: the library's docs have a bench module ($doc_index)" >&2
    exit 1
fi

finish
