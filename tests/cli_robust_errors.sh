#!/usr/bin/env bash
# Robust-objective flags of `rampart train`: bad values give a usage error (exit 2) naming the
# flag and the problem, never a crash; good ones (8/255, every objective) train.
set -uo pipefail
bin=${RAMPART_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
expect_usage() { # expect_usage "what" "needle in stderr" args...
  local what=$1 needle=$2; shift 2
  "$bin" train "$@" --out "$tmp/x.safetensors" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -ne 2 ]; then echo "FAIL $what: exit $rc (expected 2)"; cat "$tmp/err"; fails=$((fails+1)); return; fi
  if ! grep -qF -- "$needle" "$tmp/err"; then echo "FAIL $what: stderr lacks '$needle':"; cat "$tmp/err"; fails=$((fails+1)); return; fi
  echo "ok   $what: $(head -c 200 "$tmp/err" | tr '\n' ' ')"
}
expect_usage "negative eps" "--eps '-0.1'" --objective pgd --eps -0.1
expect_usage "eps not a number" "--eps 'big'" --objective pgd --eps big
expect_usage "eps k/0" "--eps '8/0'" --objective fgsm --eps 8/0
expect_usage "zero eps for pgd" "--eps must be > 0 for --objective pgd" --objective pgd --eps 0
expect_usage "unknown adv norm" "unknown norm 'l3' for --adv-norm (one of: infinity l2 l1)" --objective advreg --adv-norm l3
expect_usage "l1 for pgd" "unknown norm 'l1' for --norm (one of: infinity l2)" --objective pgd --norm l1
expect_usage "empty clip range" "--adv-clip '1,0'" --objective advreg --adv-clip 1,0
expect_usage "clip not a pair" "--adv-clip '0'" --objective advreg --adv-clip 0
expect_usage "random init without eps" "--adv-random-init needs --adv-pgd-eps > 0" --objective advreg --adv-random-init
expect_usage "alpha above 1" "--alpha must be in [0, 1]" --objective fgsm --alpha 2
expect_usage "negative beta" "--beta must be >= 0" --objective trades --beta -1
expect_usage "zero steps" "--steps must be >= 1" --objective pgd --steps 0
expect_usage "zero adv step" "--adv-step must be > 0" --objective advreg --adv-step 0
expect_usage "negative multiplier" "--adv-multiplier must be >= 0" --objective advreg --adv-multiplier -0.2
expect_usage "unknown objective" "unknown objective 'madry'" --objective madry
"$bin" train --help >"$tmp/help"
grep -q -- "--adv-multiplier X .*(default: 0.2)" "$tmp/help" || { echo "FAIL: --help lacks --adv-multiplier's default"; fails=$((fails+1)); }
grep -q -- "--adv-norm VALUE .*(default: l2)" "$tmp/help" || { echo "FAIL: --help lacks --adv-norm's default"; fails=$((fails+1)); }
# every objective runs end to end on a few images (eps as k/255)
for obj in advreg fgsm fast pgd trades; do
  if "$bin" train --objective "$obj" --eps 8/255 --steps 2 --model mlp --limit 128 --test-limit 64 --epochs 1 \
       --batch 64 --out "$tmp/$obj.safetensors" >"$tmp/out" 2>"$tmp/err" && [ -s "$tmp/$obj.safetensors" ]; then
    echo "ok   $obj trains: $(grep -m1 'epoch 1/1' "$tmp/out")"
  else
    echo "FAIL $obj did not train:"; cat "$tmp/err"; fails=$((fails+1))
  fi
done
# fast adversarial training watches a held-out batch for catastrophic overfitting every epoch
if "$bin" train --objective fast --eps 0.1 --model mlp --limit 600 --test-limit 64 --epochs 1 --batch 64 \
     --out "$tmp/fast.safetensors" >"$tmp/out" 2>"$tmp/err" &&
   grep -q "holding out the last 256 training images" "$tmp/err" &&
   grep -Eq "epoch 1: held-out PGD-10 accuracy [0-9.]+, FGSM accuracy [0-9.]+" "$tmp/out"; then
  echo "ok   fast watch: $(grep -m1 'held-out' "$tmp/out")"
else
  echo "FAIL fast watch:"; cat "$tmp/out" "$tmp/err"; fails=$((fails+1))
fi
echo "$fails failed"
[ $fails -eq 0 ]
