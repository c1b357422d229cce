#!/usr/bin/env bash
# docs/api-reference.md is what scripts/make_api_reference.py makes of include/rampart.h (a
# changed header without a regenerated page fails here), and every function the header declares
# has an entry in it.
set -uo pipefail
src=${RAMPART_SOURCE_DIR:?}
fails=0
fail() { echo "FAIL $*"; fails=$((fails+1)); }
/usr/bin/python3 "$src/scripts/make_api_reference.py" --check "$src/include/rampart.h" "$src/docs/api-reference.md" ||
    fail "docs/api-reference.md is stale"
declared=$(grep -oE '[ *]rp_[a-z0-9_]+\(' "$src/include/rampart.h" | tr -d ' *(' | sort -u)
listed=$(grep '^### ' "$src/docs/api-reference.md" | grep -oE '`rp_[a-z0-9_]+`' | tr -d '`' | sort -u)
[ "$(echo "$declared" | wc -l)" -gt 50 ] || fail "found only $(echo "$declared" | wc -l) declarations in rampart.h"
missing=$(comm -23 <(echo "$declared") <(echo "$listed") | head -5)
[ -z "$missing" ] || fail "functions without an entry in docs/api-reference.md: $missing"
# the check itself notices a change: a header with one more declaration gives another page
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's|^const char \*rp_version(void);|const char *rp_version(void);\n/* A function added to the header. */\nint rp_added(void);|' \
    "$src/include/rampart.h" > "$tmp/rampart.h"
/usr/bin/python3 "$src/scripts/make_api_reference.py" --check "$tmp/rampart.h" "$src/docs/api-reference.md" 2> /dev/null &&
    fail "--check passes a header with a new function"
/usr/bin/python3 "$src/scripts/make_api_reference.py" "$tmp/rampart.h" "$tmp/ref.md"
grep -q '^### `rp_added`$' "$tmp/ref.md" || fail "a new function gets no entry"
[ "$fails" = 0 ] && echo "cli_api_reference: all checks passed"
exit $((fails > 0))
