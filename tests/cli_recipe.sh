#!/usr/bin/env bash
# rampart train --recipe and --consistency: the recipe's expansion is printed and stored in the
# checkpoint's metadata with the corruption families its training touches; an explicit flag
# overrides the recipe (--recipe generalize --consistency none is --augment augmix:3 with the
# recipe's optimiser; --lr 0.05 replaces its learning rate);
# the same seed gives the same weights with AugMix views in 0 and 2 loader workers; --sam is
# recorded and changes the weights; bad values and --consistency without a mixing augmentation
# fail with one line.
set -uo pipefail
bin=${RAMPART_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
train() { # out, extra flags...
  local out=$1; shift
  "$bin" train --data fashion-mnist --model smallcnn --epochs 1 --limit 256 --test-limit 20 --seed 4 \
      --out "$tmp/$out" "$@" >"$tmp/$out.log" 2>"$tmp/err" || { cat "$tmp/err"; fail "train $out $*"; }
}
meta() { # the checkpoint's __metadata__ "recipe" value
  python3 -c 'import json,struct,sys
f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; h=json.loads(f.read(n))
print(h["__metadata__"].get("recipe",""))' "$1"
}
train gen.safetensors --recipe generalize
grep -q "^recipe generalize = --augment augmix:3 --consistency jsd:12 --lr 0.1 --nesterov --weight-decay 5e-4$" \
    "$tmp/gen.safetensors.log" || fail "expansion not printed"
grep -q "training touches corruption families: digital,geometric; unseen: noise,blur,weather,occlusion" \
    "$tmp/gen.safetensors.log" || { fail "families not printed"; cat "$tmp/gen.safetensors.log"; }
m=$(meta "$tmp/gen.safetensors")
echo "$m" | grep -q '"recipe":"generalize"' || fail "metadata lacks the recipe: $m"
echo "$m" | grep -q '"consistency":"jsd:12"' || fail "metadata lacks the consistency: $m"
echo "$m" | grep -q '"unseen":"noise,blur,weather,occlusion"' || fail "metadata lacks the unseen families: $m"
echo "$m" | grep -q '"optimizer":"sgd","lr":0.1,"momentum":0.9,"nesterov":true,"weight_decay":0.0005' ||
    fail "metadata lacks the optimiser: $m"
opt=(--lr 0.1 --nesterov --weight-decay 5e-4)
train explicit.safetensors --augment augmix:3 --consistency jsd:12 "${opt[@]}" --workers 0
cmp -s "$tmp/gen.safetensors" "$tmp/explicit.safetensors" && fail "metadata should name the recipe"
python3 - "$tmp/gen.safetensors" "$tmp/explicit.safetensors" <<'PY' || fail "recipe and its explicit flags (0 workers) trained different weights"
import json, struct, sys
def tensors(p):
    f = open(p, "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); h.pop("__metadata__")
    return h, f.read()
(a, da), (b, db) = tensors(sys.argv[1]), tensors(sys.argv[2])
sys.exit(0 if a == b and da == db else 1)
PY
train over.safetensors --recipe generalize --consistency none
meta "$tmp/over.safetensors" | grep -q '"consistency":"none"' || fail "an explicit --consistency did not override the recipe"
train plain.safetensors --augment augmix:3 "${opt[@]}"
same_weights() { # two checkpoints' tensor bytes (the header and its metadata aside) are equal
  python3 - "$1" "$2" <<'PY'
import struct, sys
def data(p):
    f = open(p, "rb"); n = struct.unpack("<Q", f.read(8))[0]; f.read(n); return f.read()
sys.exit(0 if data(sys.argv[1]) == data(sys.argv[2]) else 1)
PY
}
same_weights "$tmp/over.safetensors" "$tmp/plain.safetensors" ||
    fail "--recipe generalize --consistency none differs from --augment augmix:3 and the recipe's optimiser"
train lr.safetensors --recipe generalize --lr 0.05 --workers 0
meta "$tmp/lr.safetensors" | grep -q '"lr":0.05,' || fail "an explicit --lr did not override the recipe's"
bad() { # expected message, flags...
  local want=$1; shift
  "$bin" train --limit 64 --epochs 1 --out "$tmp/bad.safetensors" "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  { [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF -- "$want" "$tmp/err" && [ "$(wc -l < "$tmp/err")" -le 3 ]; } ||
      { fail "$* (exit $rc)"; cat "$tmp/err"; }
}
# SAM around the recipe: recorded in the metadata, and it changes the weights
train sam.safetensors --recipe generalize --sam 0.05 --workers 0
meta "$tmp/sam.safetensors" | grep -q '"sam":0.05' || fail "metadata lacks the SAM radius: $(meta "$tmp/sam.safetensors")"
same_weights "$tmp/sam.safetensors" "$tmp/gen.safetensors" && fail "--sam 0.05 gave the weights of the run without it"
bad "needs an augmentation that makes two views" --consistency jsd
bad "needs an augmentation that makes two views" --consistency jsd --augment flip,gaussian
bad "expected none or jsd[:LAMBDA]" --consistency kl --augment augmix
bad "expected none or jsd[:LAMBDA]" --consistency jsd:-1 --augment augmix
bad "unknown recipe 'fast'" --recipe fast
bad "more than one of augmix, prime" --augment augmix,prime
bad "--sam and --save-every >= 0" --sam -0.1
bad "bad value 'nan' for --sam" --sam nan
[ -e "$tmp/bad.safetensors" ] && fail "a refused run wrote a checkpoint"
echo "$fails failed"
[ $fails -eq 0 ]
