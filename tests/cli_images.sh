#!/usr/bin/env bash
# Image-file data sets through the CLI: a generated Tiny-ImageNet-layout folder (3 classes of
# 16x16 JPEGs whose colour tells the class, some grayscale) with one truncated JPEG.
# Without --skip-bad training stops with an error naming that file; with it, the file is
# counted and reported, training runs (test accuracy >= 0.9: the task is trivial), the
# checkpoint records the sorted wnids as class names, and `rampart predict` names them.
set -euo pipefail
bin=${RAMPART_BIN:?}
py=${RAMPART_TORCH_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" - "$tmp/tin" <<'PY'
import os, sys
import numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(1)
wnids = ["n03000000", "n01000000", "n02000000"]  # sorted: n01 (red), n02 (green), n03 (blue)
colour = {"n01000000": (220, 30, 30), "n02000000": (30, 200, 40), "n03000000": (40, 50, 210)}
os.makedirs(f"{out}/val/images")
open(f"{out}/wnids.txt", "w").write("\n".join(wnids) + "\n")
def image(w, path, gray):
    img = np.clip(np.array(colour[w]) + rng.normal(0, 25, (16, 16, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(img)
    (im.convert("L") if gray else im).save(path, quality=90)
for w in wnids:
    os.makedirs(f"{out}/train/{w}/images")
    for i in range(60):
        image(w, f"{out}/train/{w}/images/{w}_{i}.JPEG", i % 15 == 0 and w != "n03000000")
with open(f"{out}/val/val_annotations.txt", "w") as f:
    for i in range(30):
        w = wnids[i % 3]
        image(w, f"{out}/val/images/val_{i}.JPEG", False)
        f.write(f"val_{i}.JPEG\t{w}\t0\t0\t15\t15\n")
data = open(f"{out}/train/n02000000/images/n02000000_7.JPEG", "rb").read()
open(f"{out}/train/n02000000/images/n02000000_7.JPEG", "wb").write(data[: len(data) // 2])
image("n01000000", f"{out}/red.jpg", False)
PY
args=(--data "tiny-imagenet:$tmp/tin,16" --model smallcnn --epochs 3 --batch 32 --lr 0.05 --seed 2 --threads 2
      --workers 2 --augment flip --out "$tmp/m.safetensors")
if "$bin" train "${args[@]}" > /dev/null 2> "$tmp/err"; then
    echo "training on a set with a truncated JPEG succeeded without --skip-bad"; exit 1
fi
cat "$tmp/err"
grep -q "n02000000_7.JPEG: truncated JPEG" "$tmp/err" || { echo "the error does not name the file"; exit 1; }
"$bin" train "${args[@]}" --skip-bad --json > "$tmp/train.jsonl" 2> "$tmp/err"
cat "$tmp/err" "$tmp/train.jsonl"
grep -q -- "--skip-bad left out 1 unreadable training image of tiny-imagenet:" "$tmp/err" ||
    { echo "no skip report"; exit 1; }
grep -q "n02000000_7.JPEG" "$tmp/err" || { echo "skip report does not name the file"; exit 1; }
grep -q "on 179 images 16x16x3, 3 classes" "$tmp/err" || { echo "expected 179 training images"; exit 1; }
"$bin" predict --model "$tmp/m.safetensors" --top 1 --json "$tmp/tin/red.jpg" > "$tmp/pred.jsonl"
cat "$tmp/pred.jsonl"
"$py" - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
acc = [r["test_accuracy"] for r in map(json.loads, open(f"{tmp}/train.jsonl")) if r["kind"] == "train_epoch"]
assert acc[-1] >= 0.9, acc
p = json.loads(open(f"{tmp}/pred.jsonl").readline())
assert p["top"][0]["name"] == "n01000000" and p["top"][0]["class"] == 0, p
print("ok: image folders", acc)
PY
