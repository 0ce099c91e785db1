#!/usr/bin/env bash
# Type-checks and lints the crate for the other Unix targets and Windows (no linking: their
# sysroots are not here, and `cargo clippy` does not link). One line per target.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(x86_64-unknown-freebsd x86_64-unknown-netbsd x86_64-apple-darwin aarch64-apple-darwin)
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t" >/dev/null
done

fail=0
lint() {
    local label=$1
    shift
    if cargo clippy --quiet "$@" -- -D warnings; then
        echo "targets: $label ok"
    else
        echo "targets: $label FAILED"
        fail=1
    fi
}
for t in "${TARGETS[@]}"; do
    lint "$t" --target "$t" --all-targets
done
# Windows: the GNU target is linted (its tests run under Wine in ci/wine-test.sh); the MSVC one
# is type-checked (no MSVC linker here).
for t in x86_64-pc-windows-gnu x86_64-pc-windows-msvc; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t" >/dev/null
done
lint x86_64-pc-windows-gnu --target x86_64-pc-windows-gnu --all-targets
if cargo check --quiet --target x86_64-pc-windows-msvc --all-targets; then
    echo "targets: x86_64-pc-windows-msvc (check) ok"
else
    echo "targets: x86_64-pc-windows-msvc (check) FAILED"
    fail=1
fi
lint "x86_64-pc-windows-gnu --no-default-features" --target x86_64-pc-windows-gnu --lib \
    --no-default-features
# The lean library (no CLI dependencies) on a target without io_uring.
lint "x86_64-unknown-freebsd --no-default-features" --target x86_64-unknown-freebsd --lib \
    --no-default-features
exit $fail
