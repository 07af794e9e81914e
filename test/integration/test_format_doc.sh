#!/usr/bin/env bash
# doc/format.md must be exact: its hand-recovery recipes (the Python snippet
# with an independent AES-GCM implementation, and lz4 -d / tail | head) must
# recover objects that walship wrote, for every compression x encryption,
# and with key files of every kind the key rule names.
set -euo pipefail
W=${WS_TEST_BUILD:?}/src/walship
DOC=${WS_TEST_SOURCE:?}/doc/format.md
t=$(mktemp -d /tmp/ws-format-doc.XXXXXX)
trap 'rm -rf "$t"' EXIT
umask 077 # key files must not be readable by others (walship refuses them)
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
# Key files of every kind (doc/format.md, "Keys"): the recipe reads them as
# walship does.  Raw keys ending in 0x0a, 0x0d and \r\n; text keys with and
# without a final newline.
head -c 5000 /dev/urandom > "$t/small"
raw31=$(mktemp "$t/raw.XXXXXX")
printf '\x9c\x01\xf3\x88\x17\xe0\x00\x81\xc2\x02\xfe\x90\x13\xa7\xb4\x1f\xd9\x06\xee\x7f\x85\xc0\x19\xab\xf0\x03\x99\xde\x1c\xb7\x8e' > "$raw31"
b64=$(openssl rand -base64 32)
mk() { cat "$raw31" > "$t/k-$1"; printf "$2" >> "$t/k-$1"; }
mk raw-lf '\n'
mk raw-cr '\r'
mk raw-crlf 'A\r\n'
printf '%s' "$b64" > "$t/k-text"
printf '%s\n' "$b64" > "$t/k-text-lf"
printf '%s\r\n' "$b64" > "$t/k-text-crlf"
export WALSHIP_REPO="file://$t/repo" WALSHIP_COMPRESS=none
for k in raw-lf raw-cr raw-crlf text text-lf text-crlf; do
  export WALSHIP_ENCRYPTION_KEY_FILE="$t/k-$k"
  "$W" repo-put "key-$k" "$t/small" >/dev/null
  check sh -c "/usr/bin/python3 '$t/recover.py' '$t/k-$k' '$t/repo/user/key-$k.ws' | cmp -s - '$t/small'"
done
# The three text files are one key; the raw ones are three keys.
id() { head -c 40 "$t/repo/user/key-$1.ws" | tail -c 16 | od -An -tx1 | tr -d ' \n'; }
check test "$(id text)" = "$(id text-lf)"
check test "$(id text)" = "$(id text-crlf)"
check test "$(id raw-lf)" != "$(id raw-cr)"
# An object written before this key rule, with a raw key that ended in \n
# (then read without it): the recipe finds the material its header names.
echo 'gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp+goaKjpKWmp6ipqqusra4K' | base64 -d > "$t/k-old"
echo 'VypNGEAAAAB3YWxzaGlwAAEAAQAAAAQAJssVHzAJi0m4VsvpJs0hf/I4x7NJkv71fGYHYIqCtAIMlgH6v9YKsNp992yYQygbA/r9keINSIr6UInkWLelrm2l+s46PgWwQFrOZ1gtzhglWU3zXypNGDAAAAB3c3RyYWlsABQAAAAAAAAAfcG5M0ff5XdHQPTjNxKcWorqnrmV7NgGGWE1+iDyhJs=' |
  base64 -d > "$t/old.ws"
check sh -c "test \"\$(/usr/bin/python3 '$t/recover.py' '$t/k-old' '$t/old.ws')\" = 'walship key fixture'"
mkdir -p "$t/repo/user" && cp "$t/old.ws" "$t/repo/user/old.ws"
export WALSHIP_ENCRYPTION_KEY_FILE="$t/k-old"
check sh -c "'$W' repo-get old '$t/old.out' && test \"\$(cat '$t/old.out')\" = 'walship key fixture'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
