#!/usr/bin/env bash
# --precision through the CLI: an unknown value or a CPU without AVX512_BF16 (here forced by
# RAMPART_SIMD=avx2) is one clear line and a non-zero exit in every command that has the flag;
# where the CPU has it (else reported as not run), a BF16 training run learns as the FP32 one
# does (within 3 points on a small set), names its precision in the log, the JSON run line and the
# checkpoint's metadata, is deterministic, and its checkpoint evaluates in either precision.
set -uo pipefail
bin=${RAMPART_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
expect_fail() { # expect_fail "what" "needle in stderr" cmd...
  local what=$1 needle=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$what: exit $rc"; cat "$tmp/err"; return; fi
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || { fail "$what: not one line:"; cat "$tmp/err"; return; }
  grep -qF -- "$needle" "$tmp/err" || { fail "$what: stderr lacks '$needle':"; cat "$tmp/err"; return; }
  echo "ok   $what: $(cat "$tmp/err")"
}
small=(--data fashion-mnist --limit 200 --test-limit 100)
m=(--model "$tmp/none.safetensors")
for cmd in "train" "eval ${m[*]}" "bench" "predict ${m[*]} $tmp/none.png" "attack ${m[*]} --out $tmp/adv"; do
  expect_fail "${cmd%% *} --precision fp16" "--precision 'fp16': one of fp32, bf16" "$bin" $cmd --precision fp16
done
expect_fail "train bf16 below AVX-512" "has no AVX-512 with BF16 (AVX512_BF16)" \
  env RAMPART_SIMD=avx2 "$bin" train "${small[@]}" --epochs 1 --precision bf16 --out "$tmp/no.safetensors"
[ -e "$tmp/no.safetensors" ] && fail "a refused run wrote a checkpoint"
expect_fail "bench bf16 below AVX-512" "AVX512_BF16" env RAMPART_SIMD=avx2 "$bin" bench --precision bf16
"$bin" --version | grep -q '^precision: fp32' || fail "--version lacks the precision line"

if ! "$bin" --version | grep -q '^precision: fp32, bf16'; then
  echo "not run: BF16 training (this CPU has no AVX512_BF16)"
  echo "$fails failed"
  [ $fails -eq 0 ]; exit
fi
train=(--data fashion-mnist --model smallcnn --epochs 2 --limit 6000 --test-limit 2000 --seed 5 --threads 2)
"$bin" train "${train[@]}" --out "$tmp/f32.safetensors" > /dev/null 2>&1 || fail "fp32 training"
"$bin" train "${train[@]}" --precision bf16 --json --out "$tmp/b16.safetensors" > "$tmp/b16.jsonl" 2> "$tmp/b16.err" ||
  { fail "bf16 training"; cat "$tmp/b16.err"; }
grep -q 'bf16 products' "$tmp/b16.err" || fail "the log does not name the precision"
grep -q '"kind":"run".*"precision":"bf16"' "$tmp/b16.jsonl" || fail "the JSON run line does not name the precision"
/usr/bin/python3 - "$tmp/b16.safetensors" <<'PY' || fail "the checkpoint's metadata lacks precision bf16"
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
assert json.loads(f.read(n))["__metadata__"].get("precision") == "bf16"
PY
"$bin" train "${train[@]}" --precision bf16 --out "$tmp/b16b.safetensors" > /dev/null 2>&1
cmp -s "$tmp/b16.safetensors" "$tmp/b16b.safetensors" || fail "BF16: the same seed gave other weights"
acc() { # accuracy of model $1 evaluated at precision $2 on the 2,000 test images
  "$bin" eval --model "$1" --data fashion-mnist --limit 2000 --attack none --precision "$2" --json |
    /usr/bin/python3 -c 'import json,sys; print([r for r in map(json.loads, sys.stdin) if r["kind"] != "run"][0]["accuracy"])'
}
a32=$(acc "$tmp/f32.safetensors" fp32); a16=$(acc "$tmp/b16.safetensors" fp32); a16e=$(acc "$tmp/b16.safetensors" bf16)
a32e=$(acc "$tmp/f32.safetensors" bf16)
echo "accuracy: fp32-trained $a32 (bf16 eval $a32e), bf16-trained $a16 (bf16 eval $a16e)"
/usr/bin/python3 -c "
import sys; a32, a16, a16e, a32e = map(float, sys.argv[1:])
assert a32 > 0.75, 'fp32 model did not learn'
# 2 epochs on 6,000 images: seeds 5-8 in FP32 gave 77.0-81.0%, so rounding may move a run
# as far; measured here at seed 5: FP32 78.7, BF16 79.25
assert a16 > 0.75 and abs(a16 - a32) <= 0.03, f'bf16 training {a16} vs fp32 {a32}'
assert abs(a16e - a16) <= 0.005 and abs(a32e - a32) <= 0.005, 'bf16 evaluation moved accuracy'
" "$a32" "$a16" "$a16e" "$a32e" || fail "BF16 accuracy"
echo "$fails failed"
[ $fails -eq 0 ]
