#!/usr/bin/env bash
# Corruptions end to end on a tiny smallcnn (1 epoch on 600 Fashion-MNIST images, 60 test
# images): `eval --corruptions` JSON rows (fields, count, the same numbers twice), saturate on
# grayscale reported not applicable (never zeros), --reference-model (CE = 1 against itself,
# relative CE 1 or undefined), one-line errors for bad corruption names and severities;
# `rampart corrupt` writes IDX that `eval --data idx:` reads back with the same n, and PNG
# class folders from a CIFAR-10-C-layout set made with numpy (np.save) that folder: reads
# back; a truncated .npy is one clear line. No test depends on the corrupted values.
set -uo pipefail
bin=${RAMPART_BIN:?}
py=${RAMPART_TORCH_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }

"$bin" train --data fashion-mnist --model smallcnn --epochs 1 --limit 600 --test-limit 50 --seed 1 \
    --out "$tmp/a.safetensors" >/dev/null 2>"$tmp/train.err" || { cat "$tmp/train.err"; echo "FAIL: training"; exit 1; }
"$bin" train --data fashion-mnist --model smallcnn --epochs 1 --limit 300 --test-limit 50 --seed 2 \
    --out "$tmp/r.safetensors" >/dev/null 2>"$tmp/train.err" || { cat "$tmp/train.err"; echo "FAIL: training"; exit 1; }
A="$tmp/a.safetensors" R="$tmp/r.safetensors"
common=(--model "$A" --limit 60 --batch 32 --seed 3)

# --- JSON rows: blur (5 corruptions) + fog at severities 1 and 3 ----------------------------
"$bin" eval "${common[@]}" --corruptions blur,fog --severity 1,3 --json > "$tmp/a.jsonl" 2>"$tmp/a.err" \
    || { cat "$tmp/a.err"; fail "eval --corruptions --json"; }
$py - "$tmp/a.jsonl" "$A" <<'PY' || fails=$((fails+1))
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r["kind"] != "run"]
cond = [r for r in rows if "condition" in r]
summ = [r for r in rows if "summary" in r]
names = {"defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur", "fog"}
assert len(cond) == 1 + 6 * 2, len(cond)            # clean + 6 corruptions x 2 severities, no attacks or noise
assert [r["condition"] for r in cond].count("clean") == 1
for r in cond:
    assert r["model"] == sys.argv[2] and r["n"] == 60 and 0 <= r["accuracy"] <= 1 and r["seconds"] >= 0, r
    if r["condition"] == "clean": continue
    assert r["condition"] == "corruption" and r["corruption"] in names, r
    assert r["family"] == ("weather" if r["corruption"] == "fog" else "blur"), r
    assert r["severity"] in (1, 3) and r["applicable"] is True and r["seed"] == 3, r
assert {(r["corruption"], r["severity"]) for r in cond if "corruption" in r} == {(n, s) for n in names for s in (1, 3)}
per = {r["corruption"]: r for r in summ if r["summary"] == "corruption"}
assert set(per) == names, per.keys()
for n, r in per.items():
    mine = [c["accuracy"] for c in cond if c.get("corruption") == n]
    assert abs(r["accuracy"] - sum(mine) / 2) < 1e-12 and r["severities"] == [1, 3], r
    assert "ce" not in r, r                       # no reference model
fam = {r["family"]: r for r in summ if r["summary"] == "family"}
assert set(fam) == {"blur", "weather"} and fam["blur"]["corruptions"] == 5, fam
allr = [r for r in summ if r["summary"] == "corruptions"]
assert len(allr) == 1 and allr[0]["corruptions"] == 6, allr
assert abs(allr[0]["accuracy"] - sum(r["accuracy"] for r in per.values()) / 6) < 1e-12
print(f"ok: {len(cond)} condition rows, {len(summ)} summary rows")
PY
"$bin" eval "${common[@]}" --corruptions blur,fog --severity 1,3 --json > "$tmp/b.jsonl" 2>/dev/null
strip() { sed -E 's/"(seconds|ece|run|started)":[^,}]*//g' "$1"; } # ece: logits of another batch size round differently
cmp <(strip "$tmp/a.jsonl") <(strip "$tmp/b.jsonl") >/dev/null || fail "same seed gave different results"
"$bin" eval "${common[@]}" --corruptions fog --severity 1-2 --batch 7 --json > "$tmp/c.jsonl" 2>/dev/null
grep '"corruption":"fog","family":"weather","severity":1,' "$tmp/a.jsonl" | strip /dev/stdin > "$tmp/a1"
grep '"corruption":"fog","family":"weather","severity":1,' "$tmp/c.jsonl" | strip /dev/stdin > "$tmp/c1"
cmp "$tmp/a1" "$tmp/c1" >/dev/null || fail "fog sev 1 differs with another batch size"

# --- text table: seconds column, summary ---------------------------------------------------
"$bin" eval "${common[@]}" --corruptions fog,saturate --severity 2 > "$tmp/t.txt" 2>"$tmp/t.err" || { cat "$tmp/t.err"; fail "text table"; }
cat "$tmp/t.txt"
grep -qE '^condition +a +seconds$' "$tmp/t.txt" || fail "table header lacks the seconds column"
grep -qE '^fog sev 2 +[0-9.]+% +[0-9.]+$' "$tmp/t.txt" || fail "fog row"
grep -qE '^saturate sev 2 +n/a ' "$tmp/t.txt" || fail "saturate on grayscale is not n/a"
grep -qE '^saturate \(digital\): not applicable +n/a$' "$tmp/t.txt" || fail "saturate summary is not n/a"
grep -qE '^mean over 1 applicable corruption +[0-9.]+%$' "$tmp/t.txt" || fail "mean leaves saturate out"

# --- saturate on grayscale: not applicable, never zeros -----------------------------------
"$bin" eval "${common[@]}" --corruptions saturate --severity 1,5 --json > "$tmp/s.jsonl" 2>"$tmp/s.err" || { cat "$tmp/s.err"; fail "saturate"; }
$py - "$tmp/s.jsonl" <<'PY' || fails=$((fails+1))
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r["kind"] != "run"]
sat = [r for r in rows if r.get("condition") == "corruption"]
assert len(sat) == 2 and all(r["applicable"] is False and r["accuracy"] is None and r["n"] == 0 for r in sat), sat
s = [r for r in rows if r.get("summary") == "corruption"]
assert len(s) == 1 and s[0]["applicable"] is False and s[0]["accuracy"] is None, s
a = [r for r in rows if r.get("summary") == "corruptions"]
assert a[0]["corruptions"] == 0 and a[0]["accuracy"] is None, a
print("ok: saturate on grayscale not applicable")
PY

# --- reference model: CE = 1 against itself -------------------------------------------------
"$bin" eval "${common[@]}" --reference-model "$A" --corruptions gaussian_noise,fog,contrast --severity 1,3,5 --json \
    > "$tmp/ce.jsonl" 2>"$tmp/ce.err" || { cat "$tmp/ce.err"; fail "eval --reference-model (self)"; }
"$bin" eval "${common[@]}" --reference-model "$R" --corruptions gaussian_noise,fog,contrast --severity 1,3,5 --json \
    > "$tmp/ce2.jsonl" 2>"$tmp/ce2.err" || { cat "$tmp/ce2.err"; fail "eval --reference-model (other)"; }
$py - "$tmp/ce.jsonl" "$tmp/ce2.jsonl" "$A" "$R" <<'PY' || fails=$((fails+1))
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r["kind"] != "run"]
A, R = sys.argv[3], sys.argv[4]
assert {r["model"] for r in rows} == {A}, "the model is its own reference: one column"
per = [r for r in rows if r.get("summary") == "corruption"]
assert len(per) == 3, per
for r in per:
    assert r["reference"] == A, r
    assert r["ce"] is None or abs(r["ce"] - 1) < 1e-12, r          # None only if never wrong
    assert r["relative_ce"] is None or abs(r["relative_ce"] - 1) < 1e-12, r
m = [r for r in rows if r.get("summary") == "corruptions"][0]
assert m["mce_over"] == "evaluated" and m["mce_corruptions"] == 3, m
assert m["mce"] is None or abs(m["mce"] - 1) < 1e-12, m
rows2 = [r for r in map(json.loads, open(sys.argv[2])) if r["kind"] != "run"]
assert {r["model"] for r in rows2} == {A, R}
ref_rows = [r for r in rows2 if r.get("condition") and r["model"] == R]
assert ref_rows and all(r.get("reference") is True for r in ref_rows), ref_rows
mine = {(r["corruption"], r["severity"]): r["accuracy"] for r in rows2 if r.get("condition") == "corruption" and r["model"] == A}
ref = {(r["corruption"], r["severity"]): r["accuracy"] for r in rows2 if r.get("condition") == "corruption" and r["model"] == R}
for r in rows2:
    if r.get("summary") == "corruption" and r["model"] == A and r["ce"] is not None:
        n = r["corruption"]
        want = sum(1 - mine[(n, s)] for s in (1, 3, 5)) / sum(1 - ref[(n, s)] for s in (1, 3, 5))
        assert abs(r["ce"] - want) < 1e-9, (r, want)
print("ok: CE against itself is 1; against another model sum err / sum err_ref")
PY
"$bin" eval "${common[@]}" --reference-model "$R" --corruptions fog --severity 3 > "$tmp/ce.txt" 2>/dev/null || fail "text CE"
grep -qE '^CE fog +[0-9.n/a]+ +1\.000$' "$tmp/ce.txt" || { cat "$tmp/ce.txt"; fail "text CE row"; }
grep -qF "not comparable with published mCE" "$tmp/ce.txt" || fail "mCE set not stated"

# --- errors: one line, non-zero exit --------------------------------------------------------
expect_fail() { # expect_fail "what" "needle in stderr" args...
  local what=$1 needle=$2; shift 2
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$what: exit $rc"; cat "$tmp/err"; return; fi
  grep -qF -- "$needle" "$tmp/err" || { fail "$what: stderr lacks '$needle'"; cat "$tmp/err"; return; }
  [ "$(wc -l < "$tmp/err")" -eq 1 ] || { fail "$what: more than one line"; cat "$tmp/err"; return; }
  echo "ok   $what: $(cat "$tmp/err")"
}
expect_fail "unknown corruption" "'fogg'" eval --model "$A" --corruptions blur,fogg
expect_fail "unknown family" "'weathr'" eval --model "$A" --corruptions weathr
expect_fail "severity 0" "'0'" eval --model "$A" --corruptions fog --severity 0
expect_fail "severity 6" "'6'" eval --model "$A" --corruptions fog --severity 6
expect_fail "severity 2-9" "'2-9'" eval --model "$A" --corruptions fog --severity 2-9
expect_fail "reference without corruptions" "--reference-model" eval --model "$A" --reference-model "$A" --attack none
expect_fail "missing reference file" "$tmp/nope.safetensors" eval --model "$A" --reference-model "$tmp/nope.safetensors" --corruptions fog
expect_fail "corrupt: unknown corruption" "'fogg'" corrupt --corruptions fogg --out "$tmp/x"
expect_fail "corrupt: severity 6" "'6'" corrupt --corruptions fog --severity 6 --out "$tmp/x"
expect_fail "corrupt: no --out" "--out" corrupt --corruptions fog
expect_fail "corrupt: --out under a missing dir" "$tmp/no/such" corrupt --corruptions fog --limit 5 --out "$tmp/no/such"
touch "$tmp/afile"
expect_fail "corrupt: --out is a file" "$tmp/afile" corrupt --corruptions fog --limit 5 --out "$tmp/afile"

# --- rampart corrupt: IDX read back by eval -------------------------------------------------
"$bin" corrupt --data fashion-mnist --corruptions fog,gaussian_noise,saturate --severity 2,4 --limit 50 --seed 3 \
    --out "$tmp/c" > "$tmp/corrupt.out" 2>"$tmp/corrupt.err" || { cat "$tmp/corrupt.err"; fail "rampart corrupt (IDX)"; }
cat "$tmp/corrupt.out"
[ "$(wc -l < "$tmp/corrupt.out")" -eq 4 ] || fail "expected 4 sets written"
grep -qF "saturate is not applicable" "$tmp/corrupt.err" || fail "saturate on grayscale not reported as skipped"
[ ! -e "$tmp/c/saturate/s2" ] || fail "saturate written for grayscale"
for s in 2 4; do
  d="$tmp/c/gaussian_noise/s$s"
  [ "$(stat -c %s "$d/images-idx3-ubyte")" -eq $((16 + 50 * 784)) ] || fail "IDX image file size"
  "$bin" eval --model "$A" --data "idx:$d/images-idx3-ubyte,$d/labels-idx1-ubyte,10" --attack none --limit 0 --json \
      > "$tmp/back.jsonl" 2>"$tmp/back.err" || { cat "$tmp/back.err"; fail "eval on the corrupted IDX"; }
  grep -q '"condition":"clean","n":50,' "$tmp/back.jsonl" || { cat "$tmp/back.jsonl"; fail "corrupted IDX read back with another n"; }
done
"$bin" corrupt --data fashion-mnist --corruptions fog --severity 2 --limit 20 --out "$tmp/c" >/dev/null 2>&1 || fail "re-run"
[ "$(stat -c %s "$tmp/c/fog/s2/images-idx3-ubyte")" -eq $((16 + 20 * 784)) ] || fail "re-run did not replace the set"
[ -z "$(ls -A "$tmp/c/fog" | grep -v '^s[24]$')" ] || { ls -A "$tmp/c/fog"; fail "temporary files left behind"; }

# --- CIFAR-10-C layout made by numpy; corrupt writes PNG folders; a truncated .npy ---------
mkdir -p "$tmp/npy"
$py - "$tmp/npy" <<'PY' || fail "numpy files"
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
np.save(f"{d}/fog.npy", rng.integers(0, 256, size=(5 * 10, 32, 32, 3), dtype=np.uint8))
np.save(f"{d}/labels.npy", np.tile(np.arange(10), 5).astype(np.int64))
x = open(f"{d}/fog.npy", "rb").read()
open(f"{d}/snow.npy", "wb").write(x[:-100])
PY
"$bin" corrupt --data "cifar10-c:$tmp/npy,fog,2" --corruptions contrast --severity 1 --out "$tmp/p" > "$tmp/p.out" 2>"$tmp/p.err" \
    || { cat "$tmp/p.err"; fail "rampart corrupt (PNG)"; }
[ "$(find "$tmp/p/contrast/s1" -name '*.png' | wc -l)" -eq 10 ] || fail "expected 10 PNGs"
[ -d "$tmp/p/contrast/s1/airplane" ] && [ -d "$tmp/p/contrast/s1/truck" ] || fail "class folders by CIFAR-10 name"
"$bin" train --data "folder:$tmp/p/contrast/s1" --model mlp --epochs 1 --batch 4 --out "$tmp/m32.safetensors" \
    >/dev/null 2>"$tmp/m32.err" || { cat "$tmp/m32.err"; fail "training on the PNG set"; }
"$bin" eval --model "$tmp/m32.safetensors" --data "cifar10-c:$tmp/npy,fog,2" --attack none --json > "$tmp/c10.jsonl" 2>"$tmp/c10.err" \
    || { cat "$tmp/c10.err"; fail "eval on cifar10-c"; }
grep -q '"n":10,' "$tmp/c10.jsonl" || fail "cifar10-c severity 2 should hold 10 images"
expect_fail "truncated .npy" "$tmp/npy/snow.npy: truncated" eval --model "$tmp/m32.safetensors" --data "cifar10-c:$tmp/npy,snow,1" --attack none
expect_fail "cifar10-c severity 6" "SEVERITY '6'" eval --model "$tmp/m32.safetensors" --data "cifar10-c:$tmp/npy,fog,6" --attack none
# --adapt-bn: refused with attacks, without corruption or noise rows, on a model without batch norm
expect_fail "adapt-bn with an attack" "give --corruptions or --noise and no --attack" eval --model "$A" --corruptions fog --attack fgsm --adapt-bn
expect_fail "adapt-bn alone" "give --corruptions or --noise and no --attack" eval --model "$A" --adapt-bn
expect_fail "adapt-bn without batch norm" "has no batch norm to adapt" eval --model "$A" --corruptions fog --severity 1 --limit 20 --adapt-bn
grep -q '"ece":' "$tmp/rows.jsonl" 2>/dev/null || grep -rqs '"ece":' "$tmp"/*.jsonl || fail "no ece in the JSON rows"
"$bin" eval --help > "$tmp/help"; grep -q -- "--corruptions VALUE" "$tmp/help" || fail "--help lacks --corruptions"
"$bin" corrupt --help > "$tmp/help"; grep -q -- "--severity VALUE .*(default: 1-5)" "$tmp/help" || fail "corrupt --help lacks the severity default"

echo "$fails failed"
[ $fails -eq 0 ]
