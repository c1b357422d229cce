#!/usr/bin/env bash
# rampart under mpirun (registered as cli_mpi when the build has MPI): sharded evaluation
# prints exactly what one process prints (JSON rows with PGD's random starts, minus the run id
# and timings), and a sharded attack or explanation writes the same files; data-parallel training with 2 processes (1 thread each) against one process
# (2 threads) -- same test accuracy within a point (the first step's gradients agree within
# 1e-5: tests/test_dist_train.c), and two 2-process runs identical to the byte; PGD training
# with augmentation killed mid-epoch on both ranks and resumed with 2 processes ends
# byte-identical to its uninterrupted run, and resumed with 1 process within 2 points of it; batch
# norm over the processes (resnet18: one step, 2 processes vs one, every tensor and running
# statistic within rounding; two 2-process runs byte-identical); dropout and stochastic depth (masks keyed by example): mobilenet_v2 and
# efficientnet_b0, one step under 3 processes against one, the same weights within the batch-norm
# rounding (the classifier after the dropout within 1e-4); a rank killed mid-run stops the job
# (no hang) with rampart's message.
set -uo pipefail
bin=${RAMPART_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { timeout 300 mpirun -np "$1" --oversubscribe --bind-to none "${@:2}"; }
rows() { grep -v '"kind":"run"' "$1" | sed 's/"run":"[^"]*"//; s/"seconds":[0-9.e+-]*//g'; }

"$bin" train --epochs 1 --limit 2000 --batch 100 --test-limit 100 --out "$tmp/m.safetensors" >/dev/null 2>&1 ||
    fail "training the model to evaluate"
ev=(eval --model "$tmp/m.safetensors" --limit 250 --batch 32 --attack pgd,fgsm --eps 0.05,0.1 --noise gaussian --json)
"$bin" "${ev[@]}" --threads 2 > "$tmp/one.jsonl" 2>/dev/null || fail "eval, one process"
mpi 2 "$bin" "${ev[@]}" --threads 1 > "$tmp/two.jsonl" 2>"$tmp/two.err" || fail "eval, 2 processes: $(cat "$tmp/two.err")"
mpi 3 "$bin" "${ev[@]}" --threads 1 > "$tmp/three.jsonl" 2>/dev/null || fail "eval, 3 processes"
[ "$(rows "$tmp/one.jsonl" | wc -l)" -ge 8 ] || fail "eval printed too few rows"
diff <(rows "$tmp/one.jsonl") <(rows "$tmp/two.jsonl") >/dev/null || fail "eval: 2 processes differ from one"
diff <(rows "$tmp/one.jsonl") <(rows "$tmp/three.jsonl") >/dev/null || fail "eval: 3 processes differ from one"
[ "$(grep -c 'conditions x' "$tmp/two.err")" = 1 ] || fail "eval: the summary line should come from rank 0 alone"

# attack: APGD with restarts on 300 images (batches of 256 and 44, one per rank): the same files
at=(attack --model "$tmp/m.safetensors" --attack apgd-ce --steps 10 --restarts 2 --limit 300)
"$bin" "${at[@]}" --out "$tmp/at1" > "$tmp/at1.log" 2>&1 || fail "attack, one process"
mpi 2 "$bin" "${at[@]}" --threads 1 --out "$tmp/at2" > "$tmp/at2.log" 2>&1 || fail "attack, 2 processes: $(cat "$tmp/at2.log")"
for f in adversarial.safetensors grid.png; do
  cmp -s "$tmp/at1/$f" "$tmp/at2/$f" || fail "attack: $f differs between 1 and 2 processes"
done
summary() { grep '^apgd-ce' "$1"; } # the result line (mpirun may add warnings of its own to the log)
[ -n "$(summary "$tmp/at1.log")" ] && [ "$(summary "$tmp/at1.log")" = "$(summary "$tmp/at2.log")" ] ||
    fail "attack: the summary differs: $(summary "$tmp/at1.log") / $(summary "$tmp/at2.log") $(cat "$tmp/at2.log")"

# explain: 70 images (chunks of 32) with saliency, SmoothGrad, IG, Grad-CAM and occlusion
ex=(explain --model "$tmp/m.safetensors" --method saliency,smoothgrad,ig,gradcam,occlusion --limit 70)
"$bin" "${ex[@]}" --out "$tmp/ex1" > "$tmp/ex1.log" 2>&1 || fail "explain, one process"
mpi 2 "$bin" "${ex[@]}" --threads 1 --out "$tmp/ex2" > "$tmp/ex2.log" 2>&1 || fail "explain, 2 processes: $(cat "$tmp/ex2.log")"
for f in maps.safetensors explain.json 000_ig.png 069_gradcam.png; do
  cmp -s "$tmp/ex1/$f" "$tmp/ex2/$f" || fail "explain: $f differs between 1 and 2 processes"
done
[ "$(ls "$tmp/ex1" | wc -l)" = "$(ls "$tmp/ex2" | wc -l)" ] || fail "explain: another number of files"

tr=(train --epochs 2 --limit 3000 --batch 100 --test-limit 1000)
"$bin" "${tr[@]}" --threads 2 --out "$tmp/a.safetensors" > "$tmp/a.log" 2>&1 || fail "train, one process"
mpi 2 "$bin" "${tr[@]}" --threads 1 --out "$tmp/b.safetensors" > "$tmp/b.log" 2>&1 || fail "train, 2 processes: $(tail -3 "$tmp/b.log")"
mpi 2 "$bin" "${tr[@]}" --threads 1 --out "$tmp/c.safetensors" > /dev/null 2>&1 || fail "train, 2 processes again"
cmp -s "$tmp/b.safetensors" "$tmp/c.safetensors" || fail "two 2-process runs differ"
grep -q "data-parallel: 2 processes" "$tmp/b.log" || fail "data-parallel not announced"
acc() { grep -o 'test acc [0-9.]*' "$1" | tail -1 | cut -d' ' -f3; }
/usr/bin/python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(abs(a - b) > 0.01)' \
    "$(acc "$tmp/a.log")" "$(acc "$tmp/b.log")" || fail "test accuracy: one process $(acc "$tmp/a.log"), 2: $(acc "$tmp/b.log")"

# resume: PGD with augmentation, 600 images in batches of 50 (12 steps an epoch)
rt=(train --epochs 2 --limit 600 --batch 50 --test-limit 50 --objective pgd --eps 0.1 --steps 2
    --augment flip,gaussian:0.1 --threads 1 --save-every 5)
mpi 2 "$bin" "${rt[@]}" --out "$tmp/full.safetensors" > "$tmp/full.log" 2>&1 || fail "pgd, 2 processes"
RAMPART_FAULT_KILL_AFTER_STEP=17 mpi 2 -x RAMPART_FAULT_KILL_AFTER_STEP "$bin" "${rt[@]}" --out "$tmp/r.safetensors" \
    > /dev/null 2>&1 && fail "the fault hook should have stopped the job"
cp "$tmp/r.safetensors" "$tmp/s.safetensors"; cp "$tmp/r.safetensors.state" "$tmp/s.safetensors.state"
mpi 2 "$bin" "${rt[@]}" --out "$tmp/r.safetensors" --resume > "$tmp/r.log" 2>&1 || fail "resume, 2 processes: $(tail -2 "$tmp/r.log")"
grep -q "resume: from .* at epoch 2, batch 4" "$tmp/r.log" || fail "resume position: $(grep resume "$tmp/r.log")"
cmp -s "$tmp/full.safetensors" "$tmp/r.safetensors" || fail "resumed with 2 processes differs from the uninterrupted run"
"$bin" "${rt[@]}" --out "$tmp/s.safetensors" --resume > "$tmp/s.log" 2>&1 || fail "resume with 1 process"
/usr/bin/python3 -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(abs(a - b) > 0.02)' \
    "$(acc "$tmp/full.log")" "$(acc "$tmp/s.log")" || fail "resumed with 1 process: test accuracy $(acc "$tmp/s.log") vs $(acc "$tmp/full.log")"

# cmp_weights A B [CLASSIFIER]: the weights after one step of a data-parallel run and of one
# process agree to rounding: every tensor within 5e-3 of its largest value (or of 1e-3 of the
# largest of its kind: batch-norm rounding, as tests/test_dist_bn.c), the classifier (prefix,
# default "classifier") within 1e-4. Rounding alone is that large on batch-norm biases, whose
# gradients are sums with much cancellation: one process with the other GEMM family
# (RAMPART_SIMD=avx2 on an AVX-512 CPU) moves MobileNetV2's by up to 8e-4 of their size, 3
# processes by 1.8e-3 (AMD Zen 4); a real difference (batch statistics or dropout masks per
# process) moves them by percents. Longer runs are not compared: rounding differences grow
# within a few steps on these early, large updates, between 2 and 3 processes as much.
cmp_weights() { /usr/bin/python3 - "$@" <<'PY'
import array, json, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: array.array('f', b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]])
            for k, v in h.items() if k != '__metadata__' and v['dtype'] == 'F32'}
a, b = load(sys.argv[1]), load(sys.argv[2])
kind = lambda k: 'running_' in k
G = {s: max(max(map(abs, v)) for k, v in a.items() if kind(k) == s) for s in (False, True)}
worst = {}
for k in a:
    d = max(abs(x - y) for x, y in zip(a[k], b[k]))
    worst[k] = d / max(max(map(abs, a[k])), 1e-3 * G[kind(k)])
k = max(worst, key=worst.get)
c = max(v for k2, v in worst.items() if k2.startswith(sys.argv[3] if len(sys.argv) > 3 else 'classifier'))
print(f"worst {worst[k]:.2g} ({k}), classifier {c:.2g}")
sys.exit(0 if worst[k] <= 5e-3 and c <= 1e-4 else 1)
PY
}
# batch norm over the processes: resnet18 (batch norms, no dropout), one step of a global batch
# of 60, 2 processes (1 thread each) vs one (2 threads): every tensor, running statistics
# included, as cmp_weights allows (batch statistics per process would move the running means
# and variances by a tenth of the batch's sampling noise, far beyond it); two 2-process runs
# identical. (Test accuracy after a longer run is no measure: on this small a run it moves by
# ten points when only the GEMMs' rounding changes.)
bn=(train --model resnet18 --epochs 1 --limit 60 --batch 60 --test-limit 10 --seed 3)
"$bin" "${bn[@]}" --threads 2 --out "$tmp/bn1.safetensors" > "$tmp/bn1.log" 2>&1 || fail "resnet18, one process"
mpi 2 "$bin" "${bn[@]}" --threads 1 --out "$tmp/bn2.safetensors" > "$tmp/bn2.log" 2>&1 ||
    fail "resnet18, 2 processes: $(tail -3 "$tmp/bn2.log")"
mpi 2 "$bin" "${bn[@]}" --threads 1 --out "$tmp/bn3.safetensors" > /dev/null 2>&1 || fail "resnet18, 2 processes again"
cmp -s "$tmp/bn2.safetensors" "$tmp/bn3.safetensors" || fail "resnet18: two 2-process runs differ"
r=$(cmp_weights "$tmp/bn1.safetensors" "$tmp/bn2.safetensors" fc) || fail "resnet18: 2 processes vs one: $r"
echo "resnet18, 2 processes vs one: $r"

# dropout and stochastic depth: every example's masks keyed by (seed, epoch, sample), so one step
# of a global batch of 60 (20 per process) under 3 processes gives one process's weights; the
# classifier after the dropout within 1e-4 (masks drawn per process would move it by ~1e-2)
i=0
# the last with a weight average, which after one step is that step's weights (checked below)
for spec in "mobilenet_v2 --width 0.25" "efficientnet_b0" "mobilenet_v2 --width 0.25 --ema 0.5"; do
  m=${spec%% *}$((i++))
  do=(train --epochs 1 --limit 60 --batch 60 --test-limit 10 --seed 3 --model $spec)
  "$bin" "${do[@]}" --threads 2 --out "$tmp/$m.1.safetensors" > /dev/null 2>&1 || fail "$m, one process"
  mpi 3 "$bin" "${do[@]}" --threads 1 --out "$tmp/$m.3.safetensors" > "$tmp/$m.log" 2>&1 ||
      fail "$m, 3 processes: $(tail -3 "$tmp/$m.log")"
  grep -q "data-parallel: 3 processes" "$tmp/$m.log" || fail "$m: data-parallel not announced"
  r=$(cmp_weights "$tmp/$m.1.safetensors" "$tmp/$m.3.safetensors") || fail "$m: 3 processes vs one: $r"
  echo "$m ($spec), 3 processes vs one: $r"
done
r=$(cmp_weights "$tmp/mobilenet_v20.3.safetensors" "$tmp/mobilenet_v22.3.safetensors")
[[ $r == "worst 0 "* ]] || fail "--ema under 3 processes: the average after one step is not that step's weights: $r"

# rank 1 killed mid-run: the job stops (no hang), rampart says why on the rank that survives
timeout 120 mpirun --oversubscribe --bind-to none -np 1 "$bin" train --epochs 2 --limit 600 --batch 50 \
    --threads 1 --out "$tmp/k.safetensors" : -np 1 -x RAMPART_FAULT_KILL_AFTER_STEP=5 "$bin" train --epochs 2 \
    --limit 600 --batch 50 --threads 1 --out "$tmp/k.safetensors" > /dev/null 2>"$tmp/k.err"
rc=$?
[ $rc != 0 ] && [ $rc != 124 ] || fail "killed rank: exit $rc (124: hung)"
grep -q "rampart: rank 0 of 2: stopped by the MPI runtime" "$tmp/k.err" || fail "killed rank: no message from rampart"
[ "$fails" = 0 ] && echo "cli_mpi: all checks passed"
exit $((fails > 0))
