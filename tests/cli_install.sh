#!/usr/bin/env bash
# make install's result is usable as a library: cmake --install into a fresh prefix gives the
# command, rampart.h, librampart.so with its SONAME, librampart.a, rampart.pc and the CMake
# package; the shared library exports exactly the functions rampart.h declares (nothing
# unprefixed, nothing internal); examples/train_robust.c builds with `pkg-config --cflags --libs
# rampart` alone and through find_package(rampart), runs (a few PGD steps on Fashion-MNIST) and
# writes a checkpoint the command evaluates; rp_version() matches the header's version macros.
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

# a sanitized build's library needs the sanitizer runtime in the program too
san=""
nm "$bin" 2>/dev/null | grep __asan_init > /dev/null && san="-fsanitize=address,undefined" # grep reads it all: no SIGPIPE
export PKG_CONFIG_PATH="$lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror $san "$src/examples/train_robust.c" $(pkg-config --cflags --libs rampart) \
    -o "$tmp/train_robust" 2> "$tmp/cc.log" || { cat "$tmp/cc.log"; fail "example: pkg-config build"; }
LD_LIBRARY_PATH="$lib" "$tmp/train_robust" fashion-mnist "$tmp/robust.safetensors" 20 > "$tmp/run.log" 2>&1 ||
    { cat "$tmp/run.log"; fail "example: run"; }
v=$(grep -o 'rampart [0-9.]* (header [0-9.]*)' "$tmp/run.log")
[ -n "$v" ] && [ "$(echo "$v" | cut -d' ' -f2)" = "$(echo "$v" | tr -d '()' | cut -d' ' -f4)" ] || fail "rp_version vs header: '$v'"
grep -q "clean test accuracy" "$tmp/run.log" || fail "example: no accuracy line"
"$bin" eval --model "$tmp/robust.safetensors" --limit 50 --attack none --noise none > /dev/null 2>&1 ||
    fail "the example's checkpoint does not evaluate"
cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="$san" \
    > "$tmp/excfg.log" 2>&1 && cmake --build "$tmp/ex" > "$tmp/exbuild.log" 2>&1 ||
    { tail -20 "$tmp/excfg.log" "$tmp/exbuild.log"; fail "example: find_package(rampart) build"; }
[ "$fails" = 0 ] && echo "cli_install: all checks passed"
exit $((fails > 0))
