#!/usr/bin/env bash
# Exact resume: a run killed (SIGKILL, by the RAMPART_FAULT_KILL_AFTER_STEP hook) in the middle
# of epoch 2, after a mid-epoch --save-every save, and resumed with --resume ends with a
# checkpoint byte-identical to the uninterrupted run's -- for erm, and for PGD training with
# augmentation resumed with other thread and worker counts; the checkpoint left by the killed
# run is whole; a state older than the checkpoint beside it (killed between the two writes) is
# used and said so; resuming a finished run does nothing; a missing, truncated or mismatched
# state fails with one line naming the file and a non-zero exit.
set -uo pipefail
bin=${RAMPART_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
# 600 images in batches of 50: 12 steps an epoch
train() { # out, extra flags...
  local out=$1; shift
  "$bin" train --data fashion-mnist --model smallcnn --epochs 3 --limit 600 --batch 50 --test-limit 50 --seed 3 \
      --out "$tmp/$out" "$@" >"$tmp/$out.log" 2>"$tmp/$out.err"
}
check_resume() { # name, save-every, kill step, flags...
  local name=$1 every=$2 kill=$3; shift 3
  train "$name-full.safetensors" "$@" || fail "$name: uninterrupted run: $(cat "$tmp/$name-full.safetensors.err")"
  RAMPART_FAULT_KILL_AFTER_STEP=$kill train "$name.safetensors" --save-every "$every" "$@"
  local rc=$?
  [ $rc = 137 ] || fail "$name: the fault hook should have killed the run (exit $rc)"
  "$bin" eval --model "$tmp/$name.safetensors" --limit 20 --attack none --noise none >/dev/null 2>&1 ||
      fail "$name: the killed run's checkpoint is not whole"
  train "$name.safetensors" --save-every "$every" "$@" --resume --threads 1 --workers 0 ||
      fail "$name: resume: $(cat "$tmp/$name.safetensors.err")"
  grep -q "resume: from $tmp/$name.safetensors.state at epoch 2" "$tmp/$name.safetensors.log" ||
      fail "$name: resume position not reported: $(cat "$tmp/$name.safetensors.log")"
  cmp -s "$tmp/$name-full.safetensors" "$tmp/$name.safetensors" || fail "$name: resumed checkpoint differs from the uninterrupted run's"
}
check_resume erm 5 17                                       # state at step 15, killed at 17
check_resume pgd 4 18 --objective pgd --eps 0.1 --steps 2 --augment flip,gaussian:0.1
check_resume ema 5 17 --ema 0.9                             # the weight average goes on where it stopped
# the checkpoint is the average, not the last weights (the same run without --ema differs)
cmp -s "$tmp/erm-full.safetensors" "$tmp/ema-full.safetensors" && fail "ema: the checkpoint is the plain run's"

# killed between the checkpoint and the state: an older state beside a newer checkpoint
RAMPART_FAULT_KILL_AFTER_STEP=13 train old.safetensors       # state: end of epoch 1
cp "$tmp/old.safetensors.state" "$tmp/keep.state"
RAMPART_FAULT_KILL_AFTER_STEP=25 train old.safetensors --resume   # checkpoint and state: end of epoch 2
cp "$tmp/keep.state" "$tmp/old.safetensors.state"
train old.safetensors --resume || fail "older state: $(cat "$tmp/old.safetensors.err")"
grep -q "is not the checkpoint .* was written with" "$tmp/old.safetensors.log" || fail "older state not reported"
cmp -s "$tmp/erm-full.safetensors" "$tmp/old.safetensors" || fail "resume from an older state differs"

train erm-full.safetensors --resume || fail "resuming a finished run"
grep -q "already finished all 3 epochs" "$tmp/erm-full.safetensors.log" || fail "finished run not reported"

expect_error() { # name, pattern, flags...
  local name=$1 pat=$2; shift 2
  train "$name" "$@" && fail "$name: should fail"
  [ "$(wc -l <"$tmp/$name.err")" -le 2 ] || fail "$name: more than one error line: $(cat "$tmp/$name.err")"
  grep -q -- "$pat" "$tmp/$name.err" || fail "$name: message lacks '$pat': $(cat "$tmp/$name.err")"
}
expect_error none.safetensors "no training state $tmp/none.safetensors.state" --resume
head -c 2000 "$tmp/erm.safetensors.state" > "$tmp/cut.safetensors.state"
expect_error cut.safetensors "cut.safetensors.state" --resume
cp "$tmp/pgd.safetensors.state" "$tmp/other.safetensors.state"
expect_error other.safetensors "objective: the state was saved with 'pgd" --resume
cp "$tmp/erm.safetensors.state" "$tmp/batch.safetensors.state"
expect_error batch.safetensors "batch: the state was saved with '50', this run has '25'" --resume --batch 25
expect_error neg.safetensors "--save-every" --save-every -1
expect_error ema1.safetensors "--ema in \[0, 1)" --ema 1
expect_error emanan.safetensors "bad value 'nan' for --ema" --ema nan
cp "$tmp/erm.safetensors.state" "$tmp/noema.safetensors.state"
expect_error noema.safetensors "ema: the state was saved with '(none)', this run has '0.5'" --resume --ema 0.5
cp "$tmp/ema.safetensors.state" "$tmp/wasema.safetensors.state"
expect_error wasema.safetensors "ema: the state was saved with '0.899999976', this run has none" --resume
[ "$fails" = 0 ] && echo "cli_resume: all checks passed"
exit $((fails > 0))
