#!/usr/bin/env bash
# Bounded, stable-toolchain fuzz run of the rule parser (CI): ./crates/ztd-rules/fuzz.sh SECONDS [SEED]
# Builds the fuzz_parse example in release mode and mutates a corpus of spec rules for SECONDS.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-60}"
seed="${2:-$(date +%s)}"
cargo build --release --quiet -p ztd-rules --example fuzz_parse
exec ./target/release/examples/fuzz_parse "$secs" "$seed"
