#!/usr/bin/env bash
# Bounded, stable-toolchain fuzz run of one parser of untrusted input (what CI runs; `fuzz/` itself needs nightly):
#   fuzz/stable.sh TARGET SECONDS [SEED]
# Targets (each a release-built example that mutates a seed corpus and checks: no panic, bounded time and memory):
#   rules     ztd-rules  fuzz_parse     rule parser, printer round trip, evaluate == explain, index == brute force
#   odata     ztd-odata  fuzz_query     OData query options, $filter evaluation, $expand projection, JSON batch bodies; short errors
#   hash-csv  ztd-formats fuzz_hash_csv hash CSV reader, every dialect and encoding, bounded memory
#   hwhash    ztd-hwhash fuzz_hwhash    4K hash decoder, raw and base64
#   oauth     ztd-oauth  fuzz_oauth     client assertions, certificate credentials, user codes, PKCE
#   drs       ztd-drs    fuzz_drs       key blobs, transport keys, PKCS#10, device certificates, PRT JWS/JWE, nonces, join body
#   mdm-soap  ztd-mdm    fuzz_enrollment MDM enrollment SOAP: discovery, GetPolicies, RST/RSTR, faults, provisioning documents
#   syncml    ztd-mdm    fuzz_syncml    OMA-DM SyncML messages, parse(to_xml(m)) == m
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  rules) crate=ztd-rules example=fuzz_parse ;;
  odata) crate=ztd-odata example=fuzz_query ;;
  hash-csv) crate=ztd-formats example=fuzz_hash_csv ;;
  hwhash) crate=ztd-hwhash example=fuzz_hwhash ;;
  oauth) crate=ztd-oauth example=fuzz_oauth ;;
  drs) crate=ztd-drs example=fuzz_drs ;;
  mdm-soap) crate=ztd-mdm example=fuzz_enrollment ;;
  syncml) crate=ztd-mdm example=fuzz_syncml ;;
  *) echo "usage: fuzz/stable.sh rules|odata|hash-csv|hwhash|oauth|drs|mdm-soap|syncml SECONDS [SEED]" >&2; exit 2 ;;
esac
secs="${2:-60}"
seed="${3:-$(date +%s)}"
cargo build --release --quiet -p "$crate" --example "$example"
exec "./target/release/examples/$example" "$secs" "$seed"
