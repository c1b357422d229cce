#!/usr/bin/env bash
# End to end: train smallcnn on 10k Fashion-MNIST images for 3 epochs through the CLI, check
# the JSON lines, reload the checkpoint with `rampart eval` and require >= 80% on 2,000 test
# images; same seed and threads => bit-identical checkpoint.
set -euo pipefail
bin=${RAMPART_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" train --data fashion-mnist --model smallcnn --epochs 3 --batch 128 --lr 0.05 --limit 10000 \
    --test-limit 2000 --seed 7 --threads 2 --out "$tmp/a.safetensors" --json > "$tmp/train.jsonl"
cat "$tmp/train.jsonl"
[ "$(grep -c '"event":"epoch"' "$tmp/train.jsonl")" -eq 3 ] || { echo "expected 3 epoch lines"; exit 1; }
"$bin" eval --model "$tmp/a.safetensors" --data fashion-mnist --limit 2000 --attack none --json > "$tmp/eval.jsonl"
cat "$tmp/eval.jsonl"
/usr/bin/python3 - "$tmp/eval.jsonl" <<'PY'
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r["kind"] != "run"]
assert len(rows) == 1, rows
r = rows[0]
assert r["condition"] == "clean" and r["n"] == 2000, r
assert r["accuracy"] >= 0.80, f"accuracy {r['accuracy']:.4f} < 0.80"
print(f"ok: accuracy {r['accuracy']:.4f} on {r['n']} images")
PY
# determinism: one more epoch-1 run twice must give identical bytes
"$bin" train --data fashion-mnist --epochs 1 --limit 2000 --test-limit 200 --seed 3 --threads 2 --out "$tmp/b1.safetensors" >/dev/null 2>&1
"$bin" train --data fashion-mnist --epochs 1 --limit 2000 --test-limit 200 --seed 3 --threads 2 --out "$tmp/b2.safetensors" >/dev/null 2>&1
cmp "$tmp/b1.safetensors" "$tmp/b2.safetensors" || { echo "same seed gave different weights"; exit 1; }
echo "ok: deterministic"
