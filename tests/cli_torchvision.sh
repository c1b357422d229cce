#!/usr/bin/env bash
# A torchvision state_dict, used as is: torchvision's mobilenet_v2 (width 0.5, 10 classes) with
# batch-norm statistics calibrated on the images and a classifier on the centred, whitened features (so that
# predictions differ from image to image), saved as .pth and converted by
# scripts/export_torchvision.py. Then
#  - `rampart predict --arch mobilenet_v2 --num-classes 10 --width 0.5 --input-size 32` gives
#    torchvision's top-5 probabilities for each PNG (|diff| <= 1e-4) in torchvision's order;
#  - `rampart eval --arch ... --data folder:DIR` gives the accuracy torchvision gives on the
#    same folder (ImageNet normalisation on both sides);
#  - a wrong class count, a wrong architecture, and --width without --arch are clear errors.
set -euo pipefail
bin=${RAMPART_BIN:?}
py=${RAMPART_TORCH_PYTHON:-/usr/bin/python3}
src=${RAMPART_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$py" - "$tmp" <<'PY'
import json, os, sys
import numpy as np
import torch, torchvision
from PIL import Image
out = sys.argv[1]
torch.manual_seed(7)
m = torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.5)
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.weight.uniform_(0.5, 1.5)
            mod.bias.uniform_(-0.2, 0.2)
            mod.momentum = None  # running statistics: the plain average over the calibration passes
m.eval()
rng = np.random.default_rng(3)
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
paths, xs = [], []
for c in range(10):
    os.makedirs(f"{out}/set/class{c}")
    for i in range(3):
        base = rng.integers(0, 256, 3)
        img = np.clip(base + rng.normal(0, 60, (32, 32, 3)), 0, 255).astype(np.uint8)
        paths.append((f"{out}/set/class{c}/img{i}.png", c))
        Image.fromarray(img).save(paths[-1][0])
        xs.append((torch.from_numpy(img).permute(2, 0, 1).float().unsqueeze(0) / 255 - mean) / std)
x = torch.cat(xs)
with torch.no_grad():  # batch-norm statistics from these and some noise images, as training would leave them
    m.train()
    for _ in range(3):
        m(torch.cat([x, (torch.rand(30, 3, 32, 32) - mean) / std]))
    m.eval()  # a classifier on the centred, whitened features: predictions vary
    f = torch.nn.functional.adaptive_avg_pool2d(m.features(x), 1).flatten(1)
    w = torch.randn(10, f.shape[1], generator=torch.Generator().manual_seed(5)) / (f.std(0) + 1e-3)
    w *= 3.0 / (f.shape[1] ** 0.5)
    m.classifier[1].weight.copy_(w)
    m.classifier[1].bias.copy_(-(w @ f.mean(0)))
    p = torch.softmax(m(x).double(), 1)
torch.save(m.state_dict(), f"{out}/mnv2.pth")
expected, correct = {}, 0
for (path, c), pi in zip(paths, p):
    top = torch.argsort(pi, descending=True)[:5]
    expected[path] = [(int(k), float(pi[k])) for k in top]
    correct += int(top[0]) == c
n = len(paths)
json.dump({"top": expected, "accuracy": correct / n}, open(f"{out}/expected.json", "w"))
PY
"$py" "$src/scripts/export_torchvision.py" mobilenet_v2 "$tmp/mnv2.safetensors" --weights "$tmp/mnv2.pth" \
    --num-classes 10 --width 0.5

bare=(--arch mobilenet_v2 --num-classes 10 --width 0.5)
"$bin" predict --model "$tmp/mnv2.safetensors" "${bare[@]}" --input-size 32 --json "$tmp"/set/class*/img*.png \
    > "$tmp/predict.jsonl"
"$bin" eval --model "$tmp/mnv2.safetensors" "${bare[@]}" --data "folder:$tmp/set" --attack none --limit 0 --json \
    > "$tmp/eval.jsonl"
"$py" - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
exp = json.load(open(f"{tmp}/expected.json"))
rows = [json.loads(l) for l in open(f"{tmp}/predict.jsonl")]
assert len(rows) == 30, len(rows)
worst = 0.0
for r in rows:
    want = exp["top"][r["image"]]
    got = [(t["class"], t["probability"]) for t in r["top"]]
    assert [k for k, _ in got] == [k for k, _ in want], (r["image"], got, want)
    worst = max(worst, max(abs(a[1] - b[1]) for a, b in zip(got, want)))
assert worst <= 1e-4, worst
distinct = {r["top"][0]["class"] for r in rows}
assert len(distinct) >= 3, f"predictions barely vary ({distinct}): the comparison would be weak"
acc = [json.loads(l) for l in open(f"{tmp}/eval.jsonl")]
acc = [r for r in acc if r.get("condition") == "clean"]
assert len(acc) == 1 and acc[0]["n"] == 30, acc
assert abs(acc[0]["accuracy"] - exp["accuracy"]) < 1e-9, (acc[0]["accuracy"], exp["accuracy"])
print(f"predict: top-5 classes equal torchvision's, probabilities within {worst:.2e}; "
      f"eval accuracy {acc[0]['accuracy']:.4f} = torchvision's")
PY

expect_fail() { # expect_fail PATTERN ARGS...: non-zero exit and PATTERN in stderr
    local pat=$1
    shift
    if "$bin" "$@" > /dev/null 2> "$tmp/err"; then
        echo "expected failure: $*"
        exit 1
    fi
    grep -q -- "$pat" "$tmp/err" || { echo "missing '$pat' in:"; cat "$tmp/err"; exit 1; }
}
expect_fail "mnv2.safetensors" eval --model "$tmp/mnv2.safetensors" --arch mobilenet_v2 --num-classes 10 \
    --data "folder:$tmp/set"
expect_fail "give --arch too" eval --model "$tmp/mnv2.safetensors" --width 0.5 --data "folder:$tmp/set"
expect_fail "mnv2.safetensors" predict --model "$tmp/mnv2.safetensors" --arch resnet18 --num-classes 10 \
    --input-size 32 "$tmp/set/class0/img0.png"
expect_fail "classifier" eval --model "$tmp/mnv2.safetensors" --arch mobilenet_v2 --width 0.5 --num-classes 7 \
    --data "folder:$tmp/set"
echo "cli_torchvision: ok"
