#!/usr/bin/env bash
# The explanation figures of the README, in one command:
#
#   scripts/make_explain_figures.sh            (uses build/rampart; RAMPART_BIN=... to override)
#
# Trains two smallcnn models on Fashion-MNIST (a plain one, objective erm, and a robust one,
# objective pgd at eps 0.1; kept in $WORK and reused by later runs), explains the first test
# images with both, clean and under a PGD attack against each model, and copies a few small PNGs
# of one image (the first of 16 that both models classify correctly and that the attack flips on
# the plain model only) to docs/img/:
#   explain_adv_saliency.png   rows: plain model, robust model; columns: clean image | saliency
#                              overlay | adversarial image | saliency overlay (each map its own scale)
#   explain_adv_gradcam.png    the same with Grad-CAM (layer pool2, 7x7, upsampled bilinearly)
#   explain_adv_ig.png         the same with Integrated Gradients (signed: red for, blue against)
#   explain_methods_plain.png  saliency panel (|grad|, positive and negative parts) of the plain model
#   explain_methods_robust.png the same for the robust model
# and writes $WORK/sanity.txt (randomization test and deletion/insertion AUC of both models).
# Colours: viridis for maps >= 0, blue-white-red for signed maps; overlay weight 0.5.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RAMPART_BIN:-$root/build/rampart}
work=${WORK:-$root/build/explain-figures}
eps=${EPS:-0.1}
threads=${THREADS:-2}
limit=${LIMIT:-10000}
epochs=${EPOCHS:-2}
first=${FIRST:-0}        # index of the test image shown in the figures
mkdir -p "$work" "$root/docs/img"
[ -x "$bin" ] || { echo "no rampart binary at $bin (build first or set RAMPART_BIN)" >&2; exit 1; }
"$bin" train --help > "$work/train_help.txt" # (grep -q on a pipe can SIGPIPE rampart under pipefail)
if ! grep -q -- '--eps' "$work/train_help.txt"; then
    echo "this rampart cannot train robust models yet ('rampart train' has no --eps)" >&2
    exit 1
fi
train() { # name objective...
    local name=$1; shift
    [ -f "$work/$name.safetensors" ] && return
    "$bin" train --data fashion-mnist --model smallcnn --epochs "$epochs" --limit "$limit" --batch 128 --lr 0.05 \
        --seed 1 --threads "$threads" --out "$work/$name.safetensors" "$@"
}
train plain --objective erm
train robust --objective pgd --eps "$eps"
"$bin" eval --model "$work/plain.safetensors" --model "$work/robust.safetensors" --data fashion-mnist --limit 1000 \
    --attack pgd --eps "$eps" --noise none --threads "$threads" | tee "$work/eval.txt"

common=(--data fashion-mnist --start "$first" --threads "$threads" --view 112)
"$bin" explain --model "$work/plain.safetensors" --compare-model "$work/robust.safetensors" --adversarial \
    --attack pgd --eps "$eps" --attack-steps 20 --limit 16 --method saliency,gradcam,ig --out "$work/adv" "${common[@]}"
"$bin" explain --model "$work/plain.safetensors" --limit 16 --method saliency --out "$work/plain" "${common[@]}"
"$bin" explain --model "$work/robust.safetensors" --limit 16 --method saliency --out "$work/robust" "${common[@]}"
# show the first image that both models get right, the attack flips on the plain model but not on
# the robust one (else the first image)
pick=$(python3 - "$work/adv/explain.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
plain, robust = (m["images"] for m in j["adversarial"])
for i, e in enumerate(j["images"]):
    y = e["label"]
    if plain[i]["pred_clean"] == y == robust[i]["pred_clean"] and plain[i]["pred_adv"] != y == robust[i]["pred_adv"]:
        print(i)
        break
else:
    print(0)
PY
)
idx=$(printf %03d "$pick")
echo "figures show test image $((first + pick))"
{
    echo "== plain model"
    "$bin" explain --model "$work/plain.safetensors" --limit 32 --method saliency,ig,guided,gradcam --sanity \
        --out "$work/sanity_plain" "${common[@]}"
    echo "== robust model"
    "$bin" explain --model "$work/robust.safetensors" --limit 32 --method saliency,ig,guided,gradcam --sanity \
        --out "$work/sanity_robust" "${common[@]}"
} | tee "$work/sanity.txt"

cp "$work/adv/adv_${idx}_saliency.png" "$root/docs/img/explain_adv_saliency.png"
cp "$work/adv/adv_${idx}_gradcam.png" "$root/docs/img/explain_adv_gradcam.png"
cp "$work/adv/adv_${idx}_ig.png" "$root/docs/img/explain_adv_ig.png"
cp "$work/plain/${idx}_saliency.png" "$root/docs/img/explain_methods_plain.png"
cp "$work/robust/${idx}_saliency.png" "$root/docs/img/explain_methods_robust.png"
ls -l "$root"/docs/img/explain_*.png
