#!/usr/bin/env bash
# doc/architecture.md lists every source file of src/ ("- `name.c`: ..." in
# its Modules section), and lists none that does not exist; every exported
# function is named for its module or for a type of its header
# (check_prefixes.py, the "Names" convention).
set -euo pipefail
src=${WS_TEST_SOURCE:?}
doc=$src/doc/architecture.md
listed=$(sed -n '/^## Modules/,/^## /p' "$doc" | sed -n 's/^- `\([^`]*\.c\)`: .*/\1/p' | sort)
present=$(cd "$src/src" && find . -name '*.c' -printf '%f\n' | sort)
[ -n "$present" ] || { echo "no source files under $src/src"; echo "0 passed, 1 failed"; exit 1; }
missing=$(comm -13 <(echo "$listed") <(echo "$present"))
extra=$(comm -23 <(echo "$listed") <(echo "$present"))
[ -z "$missing" ] || echo "FAIL: not in doc/architecture.md's Modules: $missing"
[ -z "$extra" ] || echo "FAIL: in doc/architecture.md's Modules but not in src/: $extra"
prefixes=ok
python3 "$(dirname "$0")/check_prefixes.py" "$src" || prefixes=
if [ -z "$missing$extra" ] && [ -n "$prefixes" ]; then
  echo "$(echo "$present" | wc -l) files listed, function names checked; 1 passed, 0 failed"
else
  echo "0 passed, 1 failed"
  exit 1
fi
