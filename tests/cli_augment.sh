#!/usr/bin/env bash
# rampart train --augment: the same seed gives the same weights, augmentation changes them,
# --augment-prob 0 is the same as no augmentation, and a bad spec is refused with a message.
set -uo pipefail
bin=${RAMPART_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
train() { # out, extra flags...
  local out=$1; shift
  "$bin" train --data fashion-mnist --model mlp --epochs 1 --limit 600 --test-limit 20 --seed 4 --out "$tmp/$out" "$@" \
      >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "train $out $*"; }
}
same_weights() { # two checkpoints hold the same tensors (their metadata names the flags that made them)
  python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(p):
    f = open(p, "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); h.pop("__metadata__", None)
    return h, f.read()
sys.exit(0 if tensors(sys.argv[1]) == tensors(sys.argv[2]) else 1)
PY
}
spec=flip,crop:2,jitter:0.3,gaussian:0.05@0.3,shot,saltpepper:0.02
train a1.safetensors --augment "$spec"
train a2.safetensors --augment "$spec"
train none.safetensors
train p0.safetensors --augment flip,crop:2,jitter,shot --augment-prob 0
cmp -s "$tmp/a1.safetensors" "$tmp/a2.safetensors" || fail "same seed and augmentation gave different weights"
same_weights "$tmp/a1.safetensors" "$tmp/none.safetensors" && fail "augmentation changed nothing"
same_weights "$tmp/p0.safetensors" "$tmp/none.safetensors" || fail "--augment-prob 0 differs from no augmentation"
"$bin" train --augment flip,blur --limit 100 --epochs 1 --out "$tmp/x.safetensors" >/dev/null 2>"$tmp/err"
rc=$?
{ [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF "unknown augmentation 'blur'" "$tmp/err"; } || { fail "bad spec (exit $rc)"; cat "$tmp/err"; }
"$bin" train --help > "$tmp/help"; grep -q -- "--augment-prob X .*(default: 0.5)" "$tmp/help" || fail "--help lacks --augment-prob's default"
echo "$fails failed"
[ $fails -eq 0 ]
