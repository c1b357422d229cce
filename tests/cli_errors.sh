#!/usr/bin/env bash
# Bad input through the CLI: a clear message naming the problem and a non-zero exit, never a
# crash (exit codes >= 128 mean a signal) — and nothing already saved is lost.
set -uo pipefail
bin=${RAMPART_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
expect_fail() { # expect_fail "what" "needle in stderr" cmd...
  local what=$1 needle=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then echo "FAIL $what: exit $rc"; cat "$tmp/err"; fails=$((fails+1)); return; fi
  if ! grep -qF -- "$needle" "$tmp/err"; then echo "FAIL $what: stderr lacks '$needle':"; cat "$tmp/err"; fails=$((fails+1)); return; fi
  echo "ok   $what: $(head -c 200 "$tmp/err" | tr '\n' ' ')"
}
expect_fail "unknown flag" "unknown option '--epoch'" "$bin" train --epoch 3
expect_fail "unknown command" "unknown command" "$bin" trian
expect_fail "bad number" "bad value 'ten'" "$bin" train --epochs ten
expect_fail "unknown model" "unknown model architecture 'resnet9000'" "$bin" train --model resnet9000 --epochs 1 --limit 100 --out "$tmp/x.safetensors"
expect_fail "unknown optimizer" "unknown optimizer 'adam9'" "$bin" train --optimizer adam9
expect_fail "missing idx file" "$tmp/nope-images" "$bin" train --data "idx:$tmp/nope-images,$tmp/nope-labels" --epochs 1
expect_fail "missing checkpoint" "$tmp/missing.safetensors" "$bin" eval --model "$tmp/missing.safetensors" --limit 10
printf 'garbage' > "$tmp/trunc.safetensors"
expect_fail "truncated checkpoint" "$tmp/trunc.safetensors" "$bin" eval --model "$tmp/trunc.safetensors" --limit 10
expect_fail "too few classes" "--num-classes 3, but the data has 10 classes" "$bin" train --num-classes 3 --epochs 1 --limit 100 --out "$tmp/x.safetensors"
expect_fail "zero width" "--width > 0" "$bin" train --width 0 --out "$tmp/x.safetensors"
expect_fail "eval without model" "--model" "$bin" eval
# a failing run must not destroy an earlier checkpoint at the same path
echo "precious" > "$tmp/keep.safetensors"
expect_fail "NaN learning rate" "bad value 'nan'" "$bin" train --lr nan --out "$tmp/keep.safetensors"
grep -q precious "$tmp/keep.safetensors" || { echo "FAIL: existing checkpoint was overwritten"; fails=$((fails+1)); }
grep -q -- "--epochs N .*(default: 10)" <<<"$("$bin" train --help)" || { echo "FAIL: --help lacks defaults"; fails=$((fails+1)); }
# --summary lists the layers with totals; --num-classes widens the head
"$bin" train --model smallcnn --num-classes 12 --summary --epochs 1 --limit 200 --test-limit 50 \
    --out "$tmp/s.safetensors" >"$tmp/summary" 2>&1
grep -q "^fc2 .*1x1x12 .*1548 " "$tmp/summary" && grep -q "smallcnn: 421900 trainable parameters" "$tmp/summary" ||
  { echo "FAIL: --summary/--num-classes:"; cat "$tmp/summary"; fails=$((fails+1)); }
echo "$fails failed"
[ $fails -eq 0 ]
