#!/usr/bin/env bash
# rampart report end to end: two tiny models (mlp, 2 epochs on 600 images; the second with
# fast adversarial training, so its catastrophic-overfitting watch shows), evaluated with
# --json on 300 test images (attacks, noise, corruptions), explained and attacked; the page is
# checked as a file (size, no http:/https:, no script, the CSP) and in headless Chromium
# (the rendered DOM holds the expected tables and number of SVG plots; no console message, no
# CSP violation, no request of the page's own in the network log — each check shown to fire
# on a control page that breaks it; a PDF prints; the screenshot is not blank). The JSON rows
# are checked against their own schema (bitmaps against accuracies, hashes against
# sha256sum). Bad input gives one line naming the file and line, and a non-zero exit.
set -uo pipefail
bin=${RAMPART_BIN:?}
py=${RAMPART_TORCH_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "FAIL: chromium is not installed (scripts/install-deps.sh installs Debian's chromium)"; exit 1; }

# --- runs -------------------------------------------------------------------------------
train=(--data fashion-mnist --model mlp --epochs 2 --limit 600 --test-limit 200 --seed 1)
"$bin" train "${train[@]}" --out "$tmp/base.safetensors" --json > "$tmp/train_base.jsonl" 2>"$tmp/err" \
  || { cat "$tmp/err"; echo "FAIL: training"; exit 1; }
"$bin" train "${train[@]}" --objective fast --eps 0.1 --out "$tmp/robust.safetensors" --json \
  > "$tmp/train_robust.jsonl" 2>"$tmp/err" || { cat "$tmp/err"; echo "FAIL: training"; exit 1; }
"$bin" eval --model "$tmp/base.safetensors" --model "$tmp/robust.safetensors" --limit 300 --batch 100 \
  --attack fgsm,pgd,worst --eps 0.05,0.1 --steps 3 --queries 20 --noise gaussian --severity 1,3 \
  --corruptions fog,contrast --json > "$tmp/eval.jsonl" 2>"$tmp/err" || { cat "$tmp/err"; echo "FAIL: eval"; exit 1; }
"$bin" explain --model "$tmp/base.safetensors" --adversarial --compare-model "$tmp/robust.safetensors" \
  --method saliency,gradcam --limit 2 --out "$tmp/why" --json > "$tmp/explain.jsonl" 2>"$tmp/err" \
  || { cat "$tmp/err"; fail "explain --json"; }
"$bin" attack --model "$tmp/robust.safetensors" --limit 16 --steps 3 --out "$tmp/adv" --json \
  > "$tmp/attack.jsonl" 2>"$tmp/err" || { cat "$tmp/err"; fail "attack --json"; }

# --- the rows against their schema (docs/json.md) -----------------------------------------
sha() { sha256sum "$1" | cut -d' ' -f1; }
$py - "$tmp" "$(sha "$tmp/base.safetensors")" "$(sha "$tmp/robust.safetensors")" <<'PY' || fails=$((fails+1))
import base64, json, sys
tmp, sha_base, sha_rob = sys.argv[1:4]
load = lambda f: [json.loads(l) for l in open(f"{tmp}/{f}")]
ev, tb, tr = load("eval.jsonl"), load("train_base.jsonl"), load("train_robust.jsonl")
at, ex = load("attack.jsonl"), load("explain.jsonl")
for rows in (ev, tb, tr, at, ex):
    assert all(r["rampart_schema"] == 1 and r["run"] == rows[0]["run"] for r in rows), rows[0]
    assert rows[-1]["kind"] == "run" and [r["kind"] for r in rows].count("run") == 1, rows[-1]
evals = [r for r in ev if r["kind"] == "eval"]
assert len({r["test_sha256"] for r in evals}) == 1 and all(r["test_n"] == 300 for r in evals)
for r in evals:
    assert r["model_sha256"] == {"base": sha_base, "robust": sha_rob}[r["model"].rsplit("/", 1)[1].split(".")[0]], r
    if r["accuracy"] is None:
        continue
    bits = base64.b64decode(r["correct_b64"])
    assert len(bits) == (r["n"] + 7) // 8, len(bits)
    k = sum((bits[i >> 3] >> (i & 7)) & 1 for i in range(r["n"]))
    assert k == round(r["accuracy"] * r["n"]) == sum(r["class_correct"]), (k, r["accuracy"], r["class_correct"])
clean = [r for r in evals if r["condition"] == "clean"]
assert all(sum(r["class_n"]) == 300 and len(r["class_names"]) == 10 for r in clean), clean
# training rows: the last epoch's checkpoint is the one evaluated; its test set is named
assert [r for r in tb if r["kind"] == "train_epoch"][-1]["model_sha256"] == sha_base
assert all(r["test_n"] == 200 for r in tb if r["kind"] == "train_epoch")
assert any(r.get("event") == "robust_check" for r in tr), "fast-AT watch rows"
a = [r for r in at if r["kind"] == "attack"][0]
assert a["model_sha256"] == sha_rob and a["n"] == 16 and a["files"] == ["grid.png", "adversarial.safetensors"], a
e = [r for r in ex if r["kind"] == "explain"][0]
assert e["methods"] == ["saliency", "gradcam"] and e["adversarial"] is True, e
print(f"ok: {len(evals)} eval rows match their bitmaps, hashes and class counts")
PY

# --- the page ------------------------------------------------------------------------------
html="$tmp/report.html"
"$bin" report "$tmp/train_base.jsonl" "$tmp/train_robust.jsonl" "$tmp/eval.jsonl" "$tmp/attack.jsonl" \
  "$tmp/explain.jsonl" --explain "$tmp/why" --explain "$tmp/adv" --out "$html" 2>"$tmp/err" \
  || { cat "$tmp/err"; echo "FAIL: report"; exit 1; }
size=$(stat -c %s "$html")
[ "$size" -le 2000000 ] || fail "report is $size bytes (limit 2 MB)"
grep -qiE 'https?:' "$html" && fail "the page names an http: or https: resource: $(grep -oiE '.{30}https?:.{30}' "$html" | head -1)"
grep -qi '<script' "$html" && fail "the page has a script"
grep -q "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"" "$html" || fail "no CSP meta"
grep -q 'data:image/png;base64,' "$html" || fail "no embedded pictures"
echo "ok: report.html is $size bytes, no http(s):, no script, CSP present"

# Chromium: its own background services talk to Google's hosts; any other URL came from the page
flags=(--headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 --no-first-run
       --disable-background-networking --disable-component-update --disable-sync --disable-extensions
       --host-resolver-rules="MAP * ~NOTFOUND")
browse() { # $1 page, $2 prefix of the outputs; then further chromium flags
  local page=$1 out=$2; shift 2
  timeout 120 "$chromium" "${flags[@]}" --log-net-log="$out.net.json" "$@" "file://$page" > "$out.stdout" 2> "$out.log"
}
page_urls() { grep -o '"url":"[^"]*"' "$1" | grep -vE '"url":"https?://([a-z0-9.-]+\.)?(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)[/:"]' | grep -v '"url":"file:' ; }
troubles() { grep -E 'CONSOLE|Content Security Policy|Refused to' "$1"; }

# the checks must see what they look for: a control page with an external image and a script
cat > "$tmp/control.html" <<'EOF2'
<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"></head>
<body><img src="https://example.com/x.png"><script>console.log("hello")</script></body></html>
EOF2
sed 's/<meta[^>]*>//' "$tmp/control.html" > "$tmp/control_nocsp.html"
browse "$tmp/control.html" "$tmp/c1" --dump-dom
troubles "$tmp/c1.log" >/dev/null || fail "control: a CSP violation went unseen"
browse "$tmp/control_nocsp.html" "$tmp/c2" --dump-dom
page_urls "$tmp/c2.net.json" | grep -q example.com || fail "control: the page's request went unseen in the network log"

browse "$html" "$tmp/r" --dump-dom
[ -s "$tmp/r.stdout" ] || fail "chromium rendered nothing (--dump-dom)"
if troubles "$tmp/r.log"; then fail "console messages or CSP violations on the report"; fi
if page_urls "$tmp/r.net.json"; then fail "the report made network requests"; fi
$py - "$tmp" <<'PY' || fails=$((fails+1))
import json, re, sys
tmp = sys.argv[1]
dom = open(f"{tmp}/r.stdout").read()
ev = [json.loads(l) for l in open(f"{tmp}/eval.jsonl")]
ev = [r for r in ev if r["kind"] == "eval"]
corr = {r["corruption"] for r in ev if r["condition"] == "corruption" and r["applicable"]}
noise = {r["condition"] for r in ev if "strength" in r}
# accuracy against eps (linf), one small multiple per corruption and noise, loss / accuracy / lr / the fast-AT watch
expected = 1 + len(corr) + len(noise) + 4
found = len(re.findall(r'<svg class="plot"', dom))
assert found == expected, f"{found} SVG plots in the rendered page, expected {expected}"
for sid in ["checklist", "summary", "paired", "eps", "corruptions", "noise", "classes", "training", "pictures", "attacks", "made"]:
    assert f'id="{sid}"' in dom, f"section {sid} missing"
assert dom.count("<img") >= 3, "pictures"
assert "Wilson" in dom and "McNemar" in dom
print(f"ok: rendered page holds {found} SVG plots and every section")
PY
browse "$html" "$tmp/p" --print-to-pdf="$tmp/report.pdf" --no-pdf-header-footer
head -c 5 "$tmp/report.pdf" 2>/dev/null | grep -q '%PDF-' || fail "--print-to-pdf made no PDF"
browse "$html" "$tmp/s" --window-size=1280,2000 --screenshot="$tmp/shot.png"
$py - "$tmp/shot.png" <<'PY' || fails=$((fails+1))
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
colours = len(set(im.getdata()))
assert im.size == (1280, 2000) and colours > 20, (im.size, colours)
print(f"ok: screenshot {im.size}, {colours} colours; PDF printed")
PY

# eval --report: the same page straight from an evaluation
"$bin" eval --model "$tmp/base.safetensors" --limit 100 --attack fgsm --eps 0.1 --report "$tmp/e.html" \
  > "$tmp/e.out" 2>"$tmp/err" || { cat "$tmp/err"; fail "eval --report"; }
grep -q 'id="summary"' "$tmp/e.html" 2>/dev/null || fail "eval --report wrote no page"
grep -q '^clean' "$tmp/e.out" || fail "eval --report lost the text table"

# strings from the rows are escaped: a hostile model path shows as text, never as markup
sed -E 's#"model":"[^"]*/base\.safetensors"#"model":"<script>alert(1)</script>\&amp;.safetensors"#' "$tmp/eval.jsonl" \
  > "$tmp/hostile.jsonl"
grep -q '<script>' "$tmp/hostile.jsonl" || fail "hostile rows not made"
"$bin" report "$tmp/hostile.jsonl" --out "$tmp/hostile.html" 2>/dev/null || fail "report of hostile rows"
grep -qi '<script' "$tmp/hostile.html" && fail "a model path went into the page unescaped"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;' "$tmp/hostile.html" || fail "the hostile path is not shown escaped"

# --- bad input -------------------------------------------------------------------------------
expect_fail() { # $1 what, $2 a string the message must hold, then the command
  local what=$1 want=$2; shift 2
  "$@" > /dev/null 2> "$tmp/bad.err"
  local rc=$?
  if [ $rc -ne 0 ] && grep -qF -- "$want" "$tmp/bad.err" && [ "$(wc -l < "$tmp/bad.err")" -eq 1 ]; then
    echo "ok   $what: $(cat "$tmp/bad.err")"
  else
    fail "$what (exit $rc): $(cat "$tmp/bad.err")"
  fi
}
head -c 300 "$tmp/eval.jsonl" > "$tmp/trunc.jsonl"
expect_fail "truncated line" "trunc.jsonl:1: not a JSON object" "$bin" report "$tmp/trunc.jsonl" --out "$tmp/x.html"
{ head -3 "$tmp/eval.jsonl"; echo '{"model": "m", "accuracy": 0.5}'; } > "$tmp/foreign.jsonl"
expect_fail "not rampart's" "foreign.jsonl:4: not a rampart JSON line" "$bin" report "$tmp/foreign.jsonl" --out "$tmp/x.html"
sed '2s/"rampart_schema":1/"rampart_schema":2/' "$tmp/eval.jsonl" > "$tmp/v2.jsonl"
expect_fail "unknown schema version" "v2.jsonl:2: rampart_schema 2 is not one this rampart reads" \
  "$bin" report "$tmp/v2.jsonl" --out "$tmp/x.html"
: > "$tmp/empty.jsonl"
expect_fail "empty file" "empty.jsonl: empty" "$bin" report "$tmp/empty.jsonl" --out "$tmp/x.html"
expect_fail "missing file" "nope.jsonl: cannot open" "$bin" report "$tmp/nope.jsonl" --out "$tmp/x.html"
"$bin" eval --model "$tmp/base.safetensors" --limit 50 --attack none --json > "$tmp/other.jsonl" 2>/dev/null
expect_fail "two test sets" "other.jsonl:1: a row of another test set" \
  "$bin" report "$tmp/eval.jsonl" "$tmp/other.jsonl" --out "$tmp/x.html"
expect_fail "missing --explain folder" "nowhere: no such folder" \
  "$bin" report "$tmp/eval.jsonl" --explain "$tmp/nowhere" --out "$tmp/x.html"
sed '3s/"correct_b64":"[^"]*"/"correct_b64":"AAAA"/' "$tmp/eval.jsonl" > "$tmp/bits.jsonl"
expect_fail "bitmap of the wrong size" "bits.jsonl:3: correct_b64" "$bin" report "$tmp/bits.jsonl" --out "$tmp/x.html"
[ -e "$tmp/x.html" ] && fail "a failed report left a page"
# --skip-bad: what is valid still renders, and the page says what was left out
"$bin" report "$tmp/eval.jsonl" "$tmp/trunc.jsonl" "$tmp/other.jsonl" --skip-bad --out "$tmp/skip.html" 2>"$tmp/skip.err" \
  || fail "--skip-bad did not render"
grep -q "skipped: .*trunc.jsonl:1" "$tmp/skip.err" || fail "--skip-bad did not name the bad line"
grep -q "input problems skipped" "$tmp/skip.html" 2>/dev/null || fail "--skip-bad page does not list what it left out"

if [ $fails -ne 0 ]; then echo "$fails failed"; exit 1; fi
echo "all ok"
