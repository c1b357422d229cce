#!/usr/bin/env bash
# The README's example report, in one command:
#
#   scripts/make_report_example.sh       (uses build/rampart; RAMPART_BIN=... to override)
#
# Trains three smallcnn models on Fashion-MNIST — plain (erm), PGD adversarial training
# (eps 0.1) and the corruption-generalising recipe (--recipe generalize) — evaluates them
# side by side on the first $EVAL_LIMIT test images (clean; Gaussian, shot and impulse noise;
# every corruption at severities 1-5; FGSM, PGD, APGD-CE, APGD-T, Square, random noise and the
# per-image worst case at eps 0.05, 0.1, 0.2), explains a few test images under attack with the
# plain and the robust model, and writes $WORK/report.html; with a Chromium it also writes the
# screenshot docs/img/report.png (the top of the page at 1280 px) and $WORK/report.pdf.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RAMPART_BIN:-$root/build/rampart}
work=${WORK:-$root/build/report-example}
threads=${THREADS:-2}
limit=${LIMIT:-20000}       # training images
epochs=${EPOCHS:-3}
eval_limit=${EVAL_LIMIT:-1000}
mkdir -p "$work" "$root/docs/img"
[ -x "$bin" ] || { echo "no rampart binary at $bin (build first or set RAMPART_BIN)" >&2; exit 1; }
common=(--data fashion-mnist --model smallcnn --epochs "$epochs" --limit "$limit" --test-limit 2000 --seed 1
        --threads "$threads" --json)
"$bin" train "${common[@]}" --out "$work/erm.safetensors" > "$work/erm.train.jsonl"
"$bin" train "${common[@]}" --objective pgd --eps 0.1 --steps 5 --out "$work/pgd.safetensors" > "$work/pgd.train.jsonl"
"$bin" train "${common[@]}" --recipe generalize --out "$work/generalize.safetensors" > "$work/generalize.train.jsonl"
"$bin" eval --model "$work/erm.safetensors" --model "$work/pgd.safetensors" --model "$work/generalize.safetensors" \
  --limit "$eval_limit" --threads "$threads" --attack fgsm,pgd,apgd-ce,apgd-t,square,noise,worst --steps 10 \
  --queries 300 --noise gaussian,shot,impulse --corruptions all --severity 1-5 --json > "$work/eval.jsonl"
"$bin" explain --model "$work/erm.safetensors" --adversarial --compare-model "$work/pgd.safetensors" \
  --method saliency,gradcam,ig --limit 4 --threads "$threads" --out "$work/why" --json > "$work/explain.jsonl"
"$bin" report "$work"/*.train.jsonl "$work/eval.jsonl" "$work/explain.jsonl" --explain "$work/why" \
  --out "$work/report.html"
chromium=$(command -v chromium || true)
if [ -n "$chromium" ]; then
  flags=(--headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars)
  "$chromium" "${flags[@]}" --window-size=1280,1500 --screenshot="$work/report.png" "file://$work/report.html" 2>/dev/null
  "$chromium" "${flags[@]}" --print-to-pdf="$work/report.pdf" --no-pdf-header-footer "file://$work/report.html" 2>/dev/null
  cp "$work/report.png" "$root/docs/img/report.png"
fi
ls -l "$work/report.html"
