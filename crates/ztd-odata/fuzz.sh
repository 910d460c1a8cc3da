#!/usr/bin/env bash
# Bounded, stable-toolchain fuzz run of the OData query parser and filter evaluation (CI):
# ./crates/ztd-odata/fuzz.sh SECONDS [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-60}"
seed="${2:-$(date +%s)}"
cargo build --release --quiet -p ztd-odata --example fuzz_query
exec ./target/release/examples/fuzz_query "$secs" "$seed"
