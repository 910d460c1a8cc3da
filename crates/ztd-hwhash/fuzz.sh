#!/usr/bin/env bash
# Bounded, stable-toolchain fuzz run of the 4K hash decoder (CI): ./crates/ztd-hwhash/fuzz.sh SECONDS [SEED]
# Builds the fuzz_hwhash example in release mode and mutates generated valid hashes (bytes, re-sealed or not,
# and base64 text) for SECONDS.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-60}"
seed="${2:-$(date +%s)}"
cargo build --release --quiet -p ztd-hwhash --example fuzz_hwhash
exec ./target/release/examples/fuzz_hwhash "$secs" "$seed"
