#!/usr/bin/env bash
# Cross-builds the crate for x86_64-pc-windows-gnu and runs, under Wine, the library tests and the
# integration tests that make sense on Windows; prints each runner's summary line. Installs what
# it needs (the Rust target, mingw-w64, wine64) and skips, with the reason, only where Wine cannot
# be installed. Runnable alone from the project root.
#
#   ci/wine-test.sh            the tests
#   ci/wine-test.sh --cli      also `ringshot send` -> `recv --json` over loopback and
#                              `ringshot bench` under Wine
#   ci/wine-test.sh --cli-only only those
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
# The integration tests that make sense on Windows: loopback send -> receive for every backend,
# the ACK window against the device emulator, the fault harness, trust of the ACK source, the
# binary's contract (exit statuses, --json), the device emulator end to end, framing.
TESTS=(send_engine flow_control fault_harness trust cli cli_ux device_e2e framing framing_cli)
# Tests of those files that cannot pass under Wine, each with the reason:
# - cli_ux docs_cli_md_is_current: docs/cli.md is the Linux help; Windows's `--backend` lists
#   iocp instead of uring and mmsg, by design.
# - cli_ux nothing_listening_warns_and_maps_print_as_name_count: needs the ICMP port-unreachable
#   report for a datagram sent to a closed port (ECONNREFUSED); Wine does not pass it on.
# - device_e2e without_flow_control_the_device_overflows_and_says_so: needs the sender to outrun
#   the device's drain; under Wine the sender is the slower side, so the asserted overflow does
#   not happen.
SKIPS=(
    "cli_ux docs_cli_md_is_current"
    "cli_ux nothing_listening_warns_and_maps_print_as_name_count"
    "device_e2e without_flow_control_the_device_overflows_and_says_so"
)
# The examples run under Wine (each exits 0 only when nothing was lost): sender_group, N
# engines as one sender (SenderGroup: each engine pinned, with its own socket and receiver).
EXAMPLES=(sender_group)
# Not run under Wine at all:
# - chaos: its matrix is the Unix backends (uring, mmsg, send) with device restarts and
#   netem-style faults; `mmsg` and `uring` are configuration errors on Windows.
# - framing_tshark, framing_spead, path_mtu, netns_faults: Linux peers (tshark, spead2), network
#   namespaces and veth pairs, none of which exist under Wine.
# - the binary's unit tests (`cargo test --bins`: the CLI's parsers and the bench suites, whose
#   wire and peers tests need namespaces and Linux peers, and whose SDR plumbing test needs the
#   sender to reach 20k packets/s, which under Wine it does not); `--cli` runs the binary itself.

skip() {
    echo "wine-test: SKIPPED: $*"
    exit 0
}

apt_install() {
    command -v apt-get >/dev/null || return 1
    if [ -z "${WINE_TEST_APT_UPDATED:-}" ]; then
        apt-get update -qq >/dev/null || return 1
        WINE_TEST_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET" >/dev/null
command -v x86_64-w64-mingw32-gcc >/dev/null || apt_install gcc-mingw-w64-x86-64 ||
    skip "x86_64-w64-mingw32-gcc is missing and could not be installed"
WINE=""
for w in wine64 /usr/lib/wine/wine64 wine; do
    if command -v "$w" >/dev/null; then WINE=$(command -v "$w"); break; fi
done
if [ -z "$WINE" ]; then
    apt_install wine64 || apt_install wine || skip "wine could not be installed (apt-get install wine64 failed)"
    for w in wine64 /usr/lib/wine/wine64 wine; do
        if command -v "$w" >/dev/null; then WINE=$(command -v "$w"); break; fi
    done
    [ -n "$WINE" ] || skip "wine was installed but no wine64 launcher was found"
fi

TARGET_DIR=${CARGO_TARGET_DIR:-target}
export WINEPREFIX=${WINEPREFIX:-$PWD/$TARGET_DIR/wine-prefix}
export WINEDEBUG=-all
# Prefer the ProcessPrng stand-in next to the executables over Wine's own bcryptprimitives.
export WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree,mshtml="
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$WINE
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
# Two test threads: the Wine server serialises socket calls, so more only add contention.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-2}

# Wine's SO_RCVBUF goes to the host socket without SO_RCVBUFFORCE, so the host's rmem_max caps
# the tests' receive buffers; a slow Wine receiver then overflows a few-MiB buffer and the
# exact-count tests see losses that are the receiver's. Raise the cap where we may.
want=$((512 << 20))
have=$(cat /proc/sys/net/core/rmem_max 2>/dev/null || echo "$want")
if [ "$have" -lt "$want" ]; then
    if sysctl -qw net.core.rmem_max="$want" 2>/dev/null; then
        echo "wine-test: raised net.core.rmem_max from $have to $want for Wine's receive buffers"
    else
        echo "wine-test: net.core.rmem_max is $have and cannot be raised: exact-count tests may see receiver overflows"
    fi
fi

mkdir -p "$WINEPREFIX"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "wine-test: creating the Wine prefix at $WINEPREFIX (first start is slow)"
    "$WINE" wineboot --init >/dev/null 2>&1 || true
    # wineboot returns while the prefix's services still start; wait for them to settle so the
    # first tests do not race them (bounded: the server may also linger idle).
    if command -v wineserver >/dev/null; then
        timeout 120 wineserver -w || true
    fi
fi

echo "wine-test: $("$WINE" --version 2>/dev/null | head -1), target $TARGET"
cargo build --quiet --target "$TARGET" --bins
cargo test --quiet --target "$TARGET" --no-run --lib "${TESTS[@]/#/--test=}" 2>&1 | grep -v '^ *Executable' || true
cargo build --quiet --target "$TARGET" "${EXAMPLES[@]/#/--example=}"

# The stand-in DLL next to every test executable and the binary.
OUT=$TARGET_DIR/$TARGET/debug
x86_64-w64-mingw32-gcc -shared -O2 -o "$OUT/bcryptprimitives.dll" ci/wine/processprng.c -lbcrypt
cp "$OUT/bcryptprimitives.dll" "$OUT/deps/"
cp "$OUT/bcryptprimitives.dll" "$OUT/examples/"

fail=0
# `--skip NAME` for every skipped test of integration test $1.
skips_of() {
    local entry
    for entry in "${SKIPS[@]}"; do
        if [ "${entry%% *}" = "$1" ]; then printf -- '--skip\n%s\n' "${entry#* }"; fi
    done
}

run() {
    local label=$1
    shift
    local log
    log=$(mktemp)
    if cargo test --quiet --target "$TARGET" "$@" >"$log" 2>&1; then
        echo "wine-test: $label: $(grep -E '^test result:' "$log" | tail -1)"
    else
        echo "wine-test: $label FAILED"
        tail -60 "$log"
        fail=1
    fi
    rm -f "$log"
}
if [ "${1:-}" != "--cli-only" ]; then
    run "lib" --lib
    for t in "${TESTS[@]}"; do
        mapfile -t skip_args < <(skips_of "$t")
        if [ "${#skip_args[@]}" -gt 0 ]; then
            run "$t (skipped under Wine: $(printf '%s ' "${skip_args[@]}" | sed 's/--skip //g'))" --test "$t" -- "${skip_args[@]}"
        else
            run "$t" --test "$t"
        fi
    done
    for example in "${EXAMPLES[@]}"; do
        out=$(mktemp)
        err=$(mktemp)
        if timeout 300 cargo run --quiet --target "$TARGET" --example "$example" >"$out" 2>"$err"; then
            echo "wine-test: example $example: $(tail -1 "$out")"
        else
            echo "wine-test: example $example FAILED"
            tail -20 "$out" "$err"
            fail=1
        fi
        rm -f "$out" "$err"
    done
fi

if [ "${1:-}" = "--cli" ] || [ "${1:-}" = "--cli-only" ]; then
    exe=$OUT/ringshot.exe
    port_file=$(mktemp)
    "$WINE" "$exe" recv --bind 127.0.0.1:47110 --count 20000 --idle-exit-ms 10s --json >"$port_file" 2>/dev/null &
    rpid=$!
    sleep 3
    echo "wine-test: \$ wine ringshot.exe send --to 127.0.0.1:47110 --backend iocp --count 20000 --rate 2kpps --payload 1200 --json"
    "$WINE" "$exe" send --to 127.0.0.1:47110 --backend iocp --count 20000 --rate 2kpps --payload 1200 --json 2>/dev/null
    wait "$rpid" || true
    echo "wine-test: \$ wine ringshot.exe recv --bind 127.0.0.1:47110 --count 20000 --idle-exit-ms 10s --json"
    cat "$port_file"
    rm -f "$port_file"
    # Numbers under Wine are not Windows numbers: this shows the suite runs, nothing more.
    echo "wine-test: \$ wine ringshot.exe bench --suite throughput --case-secs 1 --payloads 1472"
    bench_err=$(mktemp)
    if ! "$WINE" "$exe" bench --suite throughput --case-secs 1 --payloads 1472 2>"$bench_err"; then
        echo "wine-test: ringshot bench FAILED"
        tail -20 "$bench_err"
        fail=1
    fi
    rm -f "$bench_err"
fi
exit $fail
