#!/usr/bin/env bash
# End to end: `rampart explain` on a smallcnn trained for one short epoch on Fashion-MNIST.
# Checks the files (panels and overlays of the documented sizes, maps.safetensors with the raw
# maps, explain.json with predictions, top-5 and IG completeness), --sanity's two tables,
# --adversarial with --compare-model, explaining an image file, and the usage errors.
set -euo pipefail
bin=${RAMPART_BIN:?}
py=${RAMPART_TORCH_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" train --data fashion-mnist --model smallcnn --epochs 1 --batch 64 --lr 0.05 --limit 3000 --test-limit 200 \
    --seed 1 --threads 2 --out "$tmp/m.safetensors" >/dev/null 2>&1

"$bin" explain --model "$tmp/m.safetensors" --limit 3 --method saliency,ig,gradcam,occlusion --ig-steps 32 \
    --out "$tmp/out" --sanity --deletion-steps 8 --threads 2 > "$tmp/log.txt"
cat "$tmp/log.txt"
grep -q "Model parameter randomization" "$tmp/log.txt" || { echo "no randomization table"; exit 1; }
grep -q "Deletion / insertion AUC" "$tmp/log.txt" || { echo "no deletion/insertion table"; exit 1; }
for i in 000 001 002; do
    for m in saliency ig gradcam occlusion; do
        [ -s "$tmp/out/${i}_${m}.png" ] && [ -s "$tmp/out/${i}_${m}_overlay.png" ] || { echo "missing ${i}_${m}"; exit 1; }
    done
done
"$py" - "$tmp/out" <<'PY'
import json, struct, sys
d = sys.argv[1]
j = json.load(open(f"{d}/explain.json"))
imgs = j["images"]
assert len(imgs) == 3 and j["layer"] == "pool2", j.get("layer")
for e in imgs:
    assert e["target"] == e["pred"], e                      # --target pred
    assert len(e["top5"]) == 5 and e["top5"][0]["class"] == e["pred"], e["top5"]
    p = [t["prob"] for t in e["top5"]]
    assert p == sorted(p, reverse=True) and 0 < sum(p) <= 1 + 1e-9, p
    assert abs(e["ig_gap"]) < 0.05 * abs(e["ig_delta_f"]) + 1e-3, (e["ig_gap"], e["ig_delta_f"])   # 32 steps
    assert set(e["files"]) == {"saliency", "ig", "gradcam", "occlusion"}, e["files"]
san = j["sanity"]
assert len(san["randomization"]) == 4 * 4 and len(san["deletion_insertion"]) == 4
def png_size(path):
    b = open(path, "rb").read(24)
    assert b[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", b[16:24])
assert png_size(f"{d}/000_gradcam_overlay.png") == (112, 112)   # 28 x 4, the --view 112 default
w, h = png_size(f"{d}/000_saliency.png")
assert w > 5 * 112 and h > 112, (w, h)                          # five tiles and text
raw = open(f"{d}/maps.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
for k, shape in [("images", [3, 28, 28, 1]), ("saliency.map", [3, 28, 28]), ("saliency.attr", [3, 28, 28, 1]),
                 ("ig.attr", [3, 28, 28, 1]), ("gradcam.lowres", [3, 7, 7]), ("occlusion.map", [3, 28, 28]),
                 ("targets", [3]), ("logits", [3, 10]), ("ig.gap", [3])]:
    assert hdr[k]["shape"] == shape, (k, hdr[k]["shape"])
# IG attributions sum to f(x) - f(0) minus the reported gap
start = 8 + n
def tensor(name):
    a, b = hdr[name]["data_offsets"]
    return struct.unpack(f"<{(b - a) // 4}f", raw[start + a:start + b])
attr, gap, df = tensor("ig.attr"), tensor("ig.gap"), tensor("ig.delta_f")
for i in range(3):
    s = sum(attr[i * 784:(i + 1) * 784])
    assert abs(s - (df[i] + gap[i])) < 1e-3 * (1 + abs(df[i])), (s, df[i], gap[i])
print("ok: files, JSON, safetensors")
PY

# adversarial view, two models (the same one twice is enough to exercise it)
"$bin" explain --model "$tmp/m.safetensors" --compare-model "$tmp/m.safetensors" --adversarial --eps 0.1 \
    --attack-steps 3 --limit 2 --method gradcam --out "$tmp/adv" --threads 2 >/dev/null
[ -s "$tmp/adv/adv_000_gradcam.png" ] && [ -s "$tmp/adv/adv_001_gradcam.png" ] || { echo "no adversarial panels"; exit 1; }
grep -q '"pred_adv"' "$tmp/adv/explain.json" || { echo "no adversarial predictions in JSON"; exit 1; }

# an image file (one of our own PNGs, fitted to 28x28 gray) with a class index as target
"$bin" explain --model "$tmp/m.safetensors" --images "$tmp/out/000_gradcam_overlay.png" --target 3 \
    --method smoothgrad --samples 4 --out "$tmp/file" --threads 2 >/dev/null
grep -q '"target":	3' "$tmp/file/explain.json" || { echo "target 3 not used"; exit 1; }

# usage errors
expect_fail() { # code, then the command; stderr must say something
    local want=$1; shift
    set +e; "$@" >/dev/null 2>"$tmp/err"; local rc=$?; set -e
    [ "$rc" -eq "$want" ] && [ -s "$tmp/err" ] || { echo "expected exit $want, got $rc: $*"; cat "$tmp/err"; exit 1; }
    cat "$tmp/err"
}
expect_fail 2 "$bin" explain --model "$tmp/m.safetensors" --method nope --out "$tmp/x"
expect_fail 2 "$bin" explain --model "$tmp/m.safetensors" --out "$tmp/x" --target banana
expect_fail 2 "$bin" explain --out "$tmp/x"
expect_fail 1 "$bin" explain --model "$tmp/m.safetensors" --method cam --limit 1 --out "$tmp/x"
grep -q gradcam "$tmp/err" || { echo "CAM error should point to gradcam"; exit 1; }
expect_fail 1 "$bin" explain --model "$tmp/m.safetensors" --images "$tmp/out/000_ig.png" --target true --out "$tmp/x"
expect_fail 1 "$bin" explain --model "$tmp/m.safetensors" --layer no_such --out "$tmp/x"
echo "ok: rampart explain"
