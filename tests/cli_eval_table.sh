#!/usr/bin/env bash
# rampart eval's table end to end on two tiny models (mlp, 1 epoch on 600 images, 40 test
# images, 3 attack steps): the JSON rows and their fields, the text table, eps as k/255,
# robust <= clean, the worst case <= every attack, transfer rows, determinism, and the error
# cases (eps < 0, unknown attack/norm/noise, bad severity, a model whose input size differs
# from the data's: the message names the file).
set -uo pipefail
bin=${RAMPART_BIN:?}
py=${RAMPART_TORCH_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }

for s in 1 2; do
  "$bin" train --data fashion-mnist --model mlp --epochs 1 --limit 600 --test-limit 50 --seed $s \
      --out "$tmp/m$s.safetensors" >/dev/null 2>"$tmp/train.err" || { cat "$tmp/train.err"; echo "FAIL: training"; exit 1; }
done
A="$tmp/m1.safetensors" B="$tmp/m2.safetensors"
common=(--model "$A" --model "$B" --limit 40 --batch 16 --steps 3 --queries 20 --seed 5)

# --- JSON rows --------------------------------------------------------------------------
"$bin" eval "${common[@]}" --attack fgsm,pgd,worst --eps 0.05,8/255 --noise gaussian,impulse --severity 1,5 \
    --json > "$tmp/a.jsonl" 2>"$tmp/a.err" || { cat "$tmp/a.err"; fail "eval --json"; }
$py - "$tmp/a.jsonl" "$A" "$B" <<'PY' || fails=$((fails+1))
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
acc = [r for r in rows if "accuracy" in r]
warn = [r for r in rows if "warning" in r]
A, B = sys.argv[2], sys.argv[3]
# 2 models x (clean + 2 noises x 2 severities + 3 attacks x 2 eps)
assert len(acc) == 2 * (1 + 4 + 6), len(acc)
assert all(set(w) >= {"warning", "check", "model"} for w in warn), warn
for m in (A, B):
    mine = [r for r in acc if r["model"] == m]
    clean = [r for r in mine if r["condition"] == "clean"]
    assert len(clean) == 1 and clean[0]["n"] == 40, clean
    c = clean[0]["accuracy"]
    for r in mine:
        assert r["n"] == 40 and 0.0 <= r["accuracy"] <= 1.0, r
        if r["condition"] in ("gaussian", "impulse"):
            assert r["severity"] in (1, 5) and r["seed"] == 5, r
            # CIFAR-10-C row for 28x28: gaussian .04/.10, impulse .01/.07
            want = {("gaussian", 1): .04, ("gaussian", 5): .10, ("impulse", 1): .01, ("impulse", 5): .07}
            assert abs(r["strength"] - want[(r["condition"], r["severity"])]) < 1e-6, r
        if r["condition"] in ("fgsm", "pgd", "worst"):
            for k in ("eps", "eps_255", "norm", "steps", "restarts", "seed", "max_norm", "in_ball"):
                assert k in r, (k, r)
            assert r["norm"] == "linf" and r["restarts"] == 1 and r["seed"] == 5 and r["in_ball"], r
            assert r["accuracy"] <= c + 1e-12, ("robust above clean", r, c)
            assert r["max_norm"] <= r["eps"] * (1 + 1e-5) + 1e-6, r
            assert "source" not in r, r
    eps = sorted({r["eps"] for r in mine if r["condition"] == "pgd"})
    assert abs(eps[0] - 8 / 255) < 1e-7 and abs(eps[1] - 0.05) < 1e-7, eps
    assert any(abs(r["eps_255"] - 8) < 1e-4 for r in mine if "eps_255" in r)
    assert [r["steps"] for r in mine if r["condition"] == "pgd"] == [3, 3]
    for e in eps:
        at = {r["condition"]: r["accuracy"] for r in mine if r.get("eps") == e}
        assert at["worst"] <= min(at["fgsm"], at["pgd"]) + 1e-12, at
print(f"ok: {len(acc)} rows, {len(warn)} warnings")
PY

# --- the same command gives the same numbers ---------------------------------------------
"$bin" eval "${common[@]}" --attack fgsm,pgd,worst --eps 0.05,8/255 --noise gaussian,impulse --severity 1,5 \
    --json > "$tmp/b.jsonl" 2>/dev/null
strip() { sed -E 's/"(seconds|run|started)":[^,}]*//g' "$1"; }
cmp <(strip "$tmp/a.jsonl") <(strip "$tmp/b.jsonl") >/dev/null || fail "same seed gave different results"

# --- text table ---------------------------------------------------------------------------
"$bin" eval "${common[@]}" --attack fgsm --eps 8/255,0.1 > "$tmp/t.txt" 2>"$tmp/t.err" || { cat "$tmp/t.err"; fail "text table"; }
cat "$tmp/t.txt"
grep -qE '^condition +m1 +m2$' "$tmp/t.txt" || fail "table header lacks the two model columns"
grep -qE '^clean +[0-9.]+% +[0-9.]+%$' "$tmp/t.txt" || fail "table lacks the clean row"
grep -qF 'fgsm linf eps 0.03137 (8/255)' "$tmp/t.txt" || fail "eps not shown as decimal and k/255"
grep -qF 'fgsm linf eps 0.1 (25.5/255)' "$tmp/t.txt" || fail "eps 0.1 row missing"
grep -qF 'n = 40 of 10000' "$tmp/t.txt" || fail "table lacks n"
[ "$(grep -c '%' "$tmp/t.txt")" -eq 3 ] || fail "expected 3 rows (clean + 2 fgsm)"

# --- transfer: crafted on A, evaluated on both ---------------------------------------------
"$bin" eval "${common[@]}" --attack pgd --eps 0.1 --source-model "$A" --json > "$tmp/s.jsonl" 2>/dev/null \
    || fail "transfer eval"
$py - "$tmp/s.jsonl" "$tmp/a.jsonl" "$A" <<'PY' || fails=$((fails+1))
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"accuracy"' in l]
pgd = [r for r in rows if r["condition"] == "pgd"]
assert len(pgd) == 2 and all(r["source"] == sys.argv[3] for r in pgd), pgd
print("ok: transfer rows name their source")
PY

# --- errors -----------------------------------------------------------------------------
expect_fail() { # expect_fail "what" "needle in stderr" args...
  local what=$1 needle=$2; shift 2
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$what: exit $rc"; cat "$tmp/err"; return; fi
  grep -qF -- "$needle" "$tmp/err" || { fail "$what: stderr lacks '$needle'"; cat "$tmp/err"; return; }
  echo "ok   $what: $(head -c 160 "$tmp/err" | tr '\n' ' ')"
}
expect_fail "negative eps" "eps must be >= 0" eval --model "$A" --attack fgsm --eps=-0.1
expect_fail "bad eps" "bad eps '0.1x'" eval --model "$A" --attack fgsm --eps 0.1x
expect_fail "unknown attack" "unknown attack 'cw'" eval --model "$A" --attack cw
expect_fail "unknown norm" "unknown norm 'l3'" eval --model "$A" --attack pgd --norm l3
expect_fail "unknown noise" "unknown noise 'blur'" eval --model "$A" --noise blur
expect_fail "bad severity" "bad severity '6'" eval --model "$A" --noise gaussian --severity 6
# a model trained on 8x8 images cannot be evaluated on 28x28 Fashion-MNIST
$py - "$tmp" <<'PY'
import struct, sys
d = sys.argv[1]
n = 64
with open(f"{d}/img8", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 8, 8) + bytes((i * 7 + j) % 256 for i in range(n) for j in range(64)))
with open(f"{d}/lab8", "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
PY
"$bin" train --data "idx:$tmp/img8,$tmp/lab8,10" --test-data "idx:$tmp/img8,$tmp/lab8,10" --model mlp --epochs 1 \
    --out "$tmp/small.safetensors" >/dev/null 2>&1 || fail "training the 8x8 model"
expect_fail "input size differs" "$tmp/small.safetensors: data images are 28x28x1 but the model expects 8x8x1" \
    eval --model "$A" --model "$tmp/small.safetensors" --attack none
expect_fail "source input size differs" "$tmp/small.safetensors" eval --model "$A" --source-model "$tmp/small.safetensors" --attack fgsm
"$bin" eval --help > "$tmp/help"; grep -q -- "--eps VALUE .*(default: 0.05,0.1,0.2)" "$tmp/help" || fail "--help lacks the eps default"

echo "$fails failed"
[ $fails -eq 0 ]
