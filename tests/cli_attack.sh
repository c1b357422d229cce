#!/usr/bin/env bash
# rampart attack end to end on a tiny model: adversarial.safetensors holds x, x_adv, y,
# pred_clean, pred_adv with the right shapes and dtypes, every x_adv is inside the eps-ball
# and [0,1], the predictions match the table's counts; grid.png is a PNG of the expected
# size; bad flags fail with a message.
set -uo pipefail
bin=${RAMPART_BIN:?}
py=${RAMPART_TORCH_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }

"$bin" train --data fashion-mnist --model mlp --epochs 1 --limit 600 --test-limit 50 --seed 3 \
    --out "$tmp/m.safetensors" >/dev/null 2>"$tmp/train.err" || { cat "$tmp/train.err"; echo "FAIL: training"; exit 1; }
"$bin" attack --model "$tmp/m.safetensors" --attack pgd --eps 0.1 --steps 5 --limit 12 --out "$tmp/out" \
    > "$tmp/stdout" 2>"$tmp/stderr" || { cat "$tmp/stderr"; fail "attack"; }
cat "$tmp/stdout"
grep -q "inside the ball" "$tmp/stdout" || fail "summary lacks the ball check"
$py - "$tmp/out" <<'PY' || fails=$((fails+1))
import json, struct, sys
d = sys.argv[1]
raw = open(f"{d}/adversarial.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
meta = head.pop("__metadata__")
assert meta["attack"] == "pgd" and meta["norm"] == "linf" and abs(float(meta["eps"]) - 0.1) < 1e-7, meta
data = raw[8 + n:]
def get(name, fmt):
    t = head[name]
    b, e = t["data_offsets"]
    return t["shape"], t["dtype"], struct.unpack(f"<{(e - b) // struct.calcsize(fmt)}{fmt}", data[b:e])
xs, xd, x = get("x", "f")
As, ad, xa = get("x_adv", "f")
assert xs == As == [12, 28, 28, 1] and xd == ad == "F32", (xs, As)
labels = {}
for k in ("y", "pred_clean", "pred_adv"):
    s, dt, v = get(k, "q")
    assert s == [12] and dt == "I64" and all(0 <= c < 10 for c in v), (k, s, dt)
    labels[k] = v
dmax = max(abs(a - b) for a, b in zip(x, xa))
assert dmax <= 0.1 + 1e-6, dmax
assert all(0.0 <= v <= 1.0 for v in xa)
assert dmax > 0.01, "no perturbation at all"
clean = sum(p == y for p, y in zip(labels["pred_clean"], labels["y"]))
adv = sum(p == y for p, y in zip(labels["pred_adv"], labels["y"]))
assert adv <= clean + 2, (adv, clean)  # PGD rarely fixes a mistake
png = open(f"{d}/grid.png", "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
w, h = struct.unpack(">II", png[16:24])
assert w >= 8 * 84 and h >= 2 * 3 * 84, (w, h)  # 2 bands of 3 rows of 84-px cells
print(f"ok: clean {clean}/12, adversarial {adv}/12, max |delta| {dmax:.4f}, grid {w}x{h}")
PY
expect_fail() { # expect_fail "what" "needle in stderr" args...
  local what=$1 needle=$2; shift 2
  "$bin" "$@" >"$tmp/o" 2>"$tmp/e"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$what: exit $rc"; cat "$tmp/e"; return; fi
  grep -qF -- "$needle" "$tmp/e" || { fail "$what: stderr lacks '$needle'"; cat "$tmp/e"; return; }
  echo "ok   $what"
}
expect_fail "no --out" "--out DIR" attack --model "$tmp/m.safetensors"
expect_fail "unknown attack" "unknown attack 'cw'" attack --model "$tmp/m.safetensors" --attack cw --out "$tmp/x"
expect_fail "negative eps" "eps must be >= 0" attack --model "$tmp/m.safetensors" --eps=-1 --out "$tmp/x"
expect_fail "missing model" "$tmp/none.safetensors" attack --model "$tmp/none.safetensors" --out "$tmp/x"
echo "$fails failed"
[ $fails -eq 0 ]
