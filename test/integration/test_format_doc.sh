#!/usr/bin/env bash
# doc/format.md must be exact: its hand-recovery recipes (the Python snippet
# with an independent AES-GCM implementation, and lz4 -d / tail | head) must
# recover objects that walship wrote, for every compression x encryption.
set -euo pipefail
W=${WS_TEST_BUILD:?}/src/walship
DOC=${WS_TEST_SOURCE:?}/doc/format.md
t=$(mktemp -d /tmp/ws-format-doc.XXXXXX)
trap 'rm -rf "$t"' EXIT
mkdir "$t/repo"
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else echo "FAIL: $*"; fail=$((fail + 1)); fi; }

sed -n '/^```python/,/^```$/p' "$DOC" | sed '1d;$d' > "$t/recover.py"
openssl rand -base64 32 > "$t/key"
# sizes around the 256 KiB chunk: empty, small, exact multiple, multiple + 1
for size in 0 1000 262144 524289 3000000; do
  head -c "$size" /dev/urandom > "$t/rand"
  { head -c $((size / 2)) /dev/zero; head -c $((size - size / 2)) "$t/rand"; } > "$t/plain"
  for comp in lz4 none; do
    export WALSHIP_REPO="file://$t/repo" WALSHIP_COMPRESS=$comp
    unset WALSHIP_ENCRYPTION_KEY_FILE
    "$W" repo-put "plain-$comp-$size" "$t/plain" >/dev/null
    obj="$t/repo/user/plain-$comp-$size.ws"
    if [ "$comp" = lz4 ]; then
      check sh -c "lz4 -d -c < '$obj' | cmp -s - '$t/plain'"
    else
      check sh -c "tail -c +73 '$obj' | head -c -56 | cmp -s - '$t/plain'"
    fi
    # trailer: the plaintext SHA-256 is the last 32 bytes
    check test "$(tail -c 32 "$obj" | od -An -tx1 | tr -d ' \n')" = "$(sha256sum < "$t/plain" | cut -d' ' -f1)"
    export WALSHIP_ENCRYPTION_KEY_FILE="$t/key"
    "$W" repo-put "enc-$comp-$size" "$t/plain" >/dev/null
    obj="$t/repo/user/enc-$comp-$size.ws"
    if [ "$comp" = lz4 ]; then
      check sh -c "/usr/bin/python3 '$t/recover.py' '$t/key' '$obj' | lz4 -d -c | cmp -s - '$t/plain'"
    else
      check sh -c "/usr/bin/python3 '$t/recover.py' '$t/key' '$obj' | cmp -s - '$t/plain'"
    fi
  done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
