#!/usr/bin/env bash
# Run the libFuzzer harnesses (tests/fuzz/fuzz_*.c) under ASan + UBSan, each for a given time,
# and print per harness the executions, coverage (libFuzzer's edge counter "cov" and feature
# count "ft") and whether it crashed.  docs/fuzzing.md says more.
#
#   scripts/fuzz.sh [SECONDS [HARNESS...]]     (60 s each; harnesses: idx cifar npy image safetensors
#                                               trainstate report)
#
# Environment: BUILD (build-fuzz: configured here with CC=clang -DRAMPART_FUZZ=ON), OUT (fuzz-out:
# the growing corpus per harness, crash artifacts, logs), JOBS (2), FUZZ_FLAGS (extra libFuzzer
# flags), COVERAGE=1: afterwards replay each harness's grown corpus through a gcc --coverage build
# (BUILD-cov) and print the line coverage gcov measures on the reader's own source files. The committed seeds (tests/fuzz/corpus/NAME) are read, never written: a crash input worth
# keeping is copied there by hand, with the fix, so that ctest's fuzz_replay_NAME replays it.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(idx cifar npy image safetensors trainstate report)
build=${BUILD:-build-fuzz}
out=${OUT:-fuzz-out}
command -v clang > /dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 2; }
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRAMPART_FUZZ=ON > /dev/null || exit 2
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]}" > "$out.build.log" 2>&1 ||
    { tail -30 "$out.build.log"; exit 2; }
mkdir -p "$out"
status=0
printf '%-12s %12s %8s %8s %s\n' harness executions cov ft result
for n in "${names[@]}"; do
  mkdir -p "$out/corpus/$n" "$out/crashes"
  log="$out/$n.log"
  # one process; inputs that allocate more than 2 GB or run longer than 10 s count as findings
  OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 "$build/tests/fuzz/fuzz_$n" -max_total_time="$secs" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/crashes/$n-" ${FUZZ_FLAGS:-} \
      "$out/corpus/$n" "tests/fuzz/corpus/$n" > "$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
  result=ok
  if [ $rc -ne 0 ]; then
    result="CRASH: $(grep -m1 -oE 'ERROR: [A-Za-z]+: [^ ]+( [^ ]+)?|runtime error: .*|out-of-memory|timeout' "$log") (see $log, $out/crashes/$n-*)"
    status=1
  fi
  printf '%-12s %12s %8s %8s %s\n' "$n" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
[ "${COVERAGE:-0}" = 1 ] || exit $status

# Line coverage: the replay executables built with gcc --coverage, counters reset per harness.
declare -A files=([idx]="src/data/idx.c" [cifar]="src/data/cifar.c" [npy]="src/data/npy.c"
  [image]="src/data/image.c" [safetensors]="src/io/safetensors.c src/io/checkpoint.c"
  [trainstate]="src/io/trainstate.c src/io/safetensors.c" [report]="src/report/report_read.c src/report/report_model.c")
cov="$build-cov"
CC=gcc cmake -S . -B "$cov" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=--coverage -DCMAKE_EXE_LINKER_FLAGS=--coverage \
    > /dev/null || exit 2
targets=()
for n in "${names[@]}"; do targets+=("fuzz_${n}_replay"); done
cmake --build "$cov" -j "${JOBS:-2}" --target "${targets[@]}" > "$out.cov-build.log" 2>&1 ||
    { tail -30 "$out.cov-build.log"; exit 2; }
echo
printf '%-12s %s\n' harness "line coverage of the reader (gcov, grown corpus + seeds)"
for n in "${names[@]}"; do
  find "$cov" -name '*.gcda' -delete
  OMP_NUM_THREADS=1 "$cov/tests/fuzz/fuzz_${n}_replay" "$out/corpus/$n" "tests/fuzz/corpus/$n" > /dev/null 2>&1
  line=""
  for f in ${files[$n]}; do
    gcno=$(find "$cov" -path "*${f}.gcno" | head -1) # the library's object
    pct=$(cd "$(dirname "$gcno")" && gcov -n "$(basename "$gcno" .gcno).o" 2>/dev/null | grep -A1 "File '.*$f'" |
          grep -o 'Lines executed:[0-9.]*% of [0-9]*' | head -1 | sed 's/Lines executed://')
    line="$line $f ${pct:-?};"
  done
  printf '%-12s%s\n' "$n" "$line"
done
exit $status
