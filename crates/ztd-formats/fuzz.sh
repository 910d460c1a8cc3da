#!/usr/bin/env bash
# Bounded, stable-toolchain fuzz run of the hash CSV reader (CI): ./crates/ztd-formats/fuzz.sh SECONDS [SEED]
# Builds the fuzz_hash_csv example in release mode and mutates the sample CSVs and generated files of every
# dialect and encoding for SECONDS (no panic, bounded memory, row numbering, short printable messages).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-60}"
seed="${2:-$(date +%s)}"
cargo build --release --quiet -p ztd-formats --example fuzz_hash_csv
exec ./target/release/examples/fuzz_hash_csv "$secs" "$seed"
