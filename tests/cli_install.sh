#!/usr/bin/env bash
# make install's result is usable as a library: cmake --install into a fresh prefix gives the
# command, rampart.h, librampart.so with its SONAME, librampart.a, rampart.pc and the CMake
# package; the shared library exports exactly the functions rampart.h declares (nothing
# unprefixed, nothing internal) and the static one defines no other global symbol, and a
# program linked against the static library alone runs; rampart.h compiles as C++ too; the examples build with
# `pkg-config --cflags --libs rampart` alone and through find_package(rampart) and run on
# Fashion-MNIST: train_robust (a few PGD steps) writes a checkpoint the command evaluates,
# evaluate_robust measures it under corruptions and attacks (robust <= clean, every perturbation
# in its ball), explain_png writes its maps as PNG files; rp_version() matches the header's
# version macros.
set -uo pipefail
bin=${RAMPART_BIN:?}
src=${RAMPART_SOURCE_DIR:?}
build=$(dirname "$bin")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; exit 1; }
lib=$(ls -d "$prefix"/lib*/ | head -1)
for f in bin/rampart include/rampart.h; do [ -e "$prefix/$f" ] || fail "not installed: $f"; done
for f in librampart.a librampart.so pkgconfig/rampart.pc cmake/rampart/rampartConfig.cmake cmake/rampart/rampartTargets.cmake; do
  [ -e "$lib/$f" ] || fail "not installed: lib/$f"
done
soname=$(objdump -p "$lib/librampart.so" | awk '/SONAME/ {print $2}')
[ "$soname" = librampart.so.0 ] || fail "SONAME is '$soname', not librampart.so.0"

# exports: exactly the header's functions
nm -D --defined-only "$lib/librampart.so" | awk '$2 ~ /^[TDRB]$/ {print $3}' | sed 's/@.*//' | sort -u > "$tmp/exported"
grep -oE '[ *]rp_[a-z0-9_]+\(' "$src/include/rampart.h" | tr -d ' *(' | sort -u > "$tmp/declared"
[ -s "$tmp/exported" ] || fail "nothing exported"
extra=$(comm -23 "$tmp/exported" "$tmp/declared" | grep -v '^RAMPART_0$' | head -5)
missing=$(comm -13 "$tmp/exported" "$tmp/declared" | head -5)
[ -z "$extra" ] || fail "exported but not in rampart.h: $extra"
[ -z "$missing" ] || fail "declared in rampart.h but not exported: $missing"

# the static library: nothing global but the same functions (internal names localised)
nm -g --defined-only "$lib/librampart.a" | awk 'NF == 3 {print $3}' | sort -u > "$tmp/static.syms"
[ -s "$tmp/static.syms" ] || fail "librampart.a defines nothing global"
extra=$(comm -23 "$tmp/static.syms" "$tmp/declared" | head -5)
[ -z "$extra" ] || fail "librampart.a: global but not in rampart.h: $extra"

# a sanitized build's library needs the sanitizer runtime in the program too
san=""
nm "$bin" 2>/dev/null | grep __asan_init > /dev/null && san="-fsanitize=address,undefined" # grep reads it all: no SIGPIPE
export PKG_CONFIG_PATH="$lib/pkgconfig"
for ex in train_robust evaluate_robust explain_png; do
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Wextra -Werror $san "$src/examples/$ex.c" $(pkg-config --cflags --libs rampart) \
      -o "$tmp/$ex" 2> "$tmp/cc.log" || { cat "$tmp/cc.log"; fail "example $ex: pkg-config build"; }
done
# a program linked against the static library alone (pkg-config --static for its dependencies)
# runs: the localised archive resolves its internal references itself
cat > "$tmp/static.c" << 'EOF'
#include <rampart.h>
#include <stdio.h>
int main(void)
{
    float x[28 * 28];
    for (int i = 0; i < 28 * 28; i++) x[i] = (float)(i % 28) / 27.0f;
    rp_ctx *ctx = rp_ctx_create(1);
    rp_status s = rp_corrupt(ctx, "fog", 3, x, 1, 28, 28, 1, 1, 0);
    printf("rampart %s: fog %s, x[100] = %.4f\n", rp_version(), s == RP_OK ? "ok" : rp_ctx_error(ctx), (double)x[100]);
    rp_ctx_destroy(ctx);
    return s == RP_OK && x[100] != (float)(100 % 28) / 27.0f ? 0 : 1;
}
EOF
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror $san "$tmp/static.c" $(pkg-config --cflags rampart) "$lib/librampart.a" \
    $(pkg-config --static --libs rampart | sed 's/-lrampart\b//') -o "$tmp/static" 2> "$tmp/static.log" &&
    "$tmp/static" >> "$tmp/static.log" 2>&1 || { cat "$tmp/static.log"; fail "a program linked against librampart.a alone"; }
ldd "$tmp/static" 2>/dev/null | grep -q librampart && fail "the static program loads librampart.so"
if command -v c++ > /dev/null; then # the header is C++-clean (extern "C", no C-only syntax)
  echo '#include <rampart.h>
int main() { return rp_corruption_count() > 0 ? 0 : 1; }' > "$tmp/cxx.cc"
  # shellcheck disable=SC2046
  c++ -Wall -Wextra -Werror $san "$tmp/cxx.cc" $(pkg-config --cflags --libs rampart) -o "$tmp/cxx" 2> "$tmp/cxx.log" &&
      LD_LIBRARY_PATH="$lib" "$tmp/cxx" || { cat "$tmp/cxx.log"; fail "rampart.h from C++"; }
fi
LD_LIBRARY_PATH="$lib" "$tmp/train_robust" fashion-mnist "$tmp/robust.safetensors" 20 > "$tmp/run.log" 2>&1 ||
    { cat "$tmp/run.log"; fail "example: run"; }
v=$(grep -o 'rampart [0-9.]* (header [0-9.]*)' "$tmp/run.log")
[ -n "$v" ] && [ "$(echo "$v" | cut -d' ' -f2)" = "$(echo "$v" | tr -d '()' | cut -d' ' -f4)" ] || fail "rp_version vs header: '$v'"
grep -q "clean test accuracy" "$tmp/run.log" || fail "example: no accuracy line"
"$bin" eval --model "$tmp/robust.safetensors" --limit 50 --attack none --noise none > /dev/null 2>&1 ||
    fail "the example's checkpoint does not evaluate"
LD_LIBRARY_PATH="$lib" "$tmp/evaluate_robust" "$tmp/robust.safetensors" fashion-mnist 40 0.1 3 > "$tmp/eval.log" 2>&1 ||
    { cat "$tmp/eval.log"; fail "example evaluate_robust: run"; }
for row in clean gaussian_noise fog stripe geometric fgsm pgd-10 "worst case"; do
  grep -q "^  $row " "$tmp/eval.log" || fail "evaluate_robust: no row '$row'"
done
grep -q "saturate *n/a" "$tmp/eval.log" || fail "evaluate_robust: saturate is not n/a on gray images"
mkdir -p "$tmp/png"
LD_LIBRARY_PATH="$lib" "$tmp/explain_png" "$tmp/robust.safetensors" fashion-mnist "$tmp/png" 2 > "$tmp/explain.log" 2>&1 ||
    { cat "$tmp/explain.log"; fail "example explain_png: run"; }
for m in saliency ig gradcam; do
  for i in 0 1; do
    f="$tmp/png/explain_${i}_$m.png"
    [ "$(head -c 8 "$f" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "explain_png: $f is not a PNG"
  done
done
grep -q "down to conv1" "$tmp/explain.log" || fail "explain_png: no randomization rows"
cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" \
    > "$tmp/excfg.log" 2>&1 && cmake --build "$tmp/ex" > "$tmp/exbuild.log" 2>&1 ||
    { tail -20 "$tmp/excfg.log" "$tmp/exbuild.log"; fail "examples: find_package(rampart) build"; }
for ex in train_robust evaluate_robust explain_png; do [ -x "$tmp/ex/$ex" ] || fail "find_package build made no $ex"; done
[ "$fails" = 0 ] && echo "cli_install: all checks passed"
exit $((fails > 0))
