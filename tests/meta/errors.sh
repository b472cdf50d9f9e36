#!/bin/sh
# errors.sh - udk's error codes have one table (lib/common/error.c) and
# docs/errors.md is generated from it (issue 20).  Checks, in TAP:
#   1. every code of enum udk_error (include/udk/udk.h) has a full row:
#      name, words, when it happens, what to do;
#   2. every UDK_E_* name used anywhere in the source tree is in the table
#      (names the file and line of one that is not);
#   3. docs/errors.md equals `udkctl errors --markdown` (regenerate with
#      `ninja -C BUILD errors-doc`).
# Usage: errors.sh UDKCTL
set -u
udkctl=$(realpath "$1") || exit 1
root=${UDK_SOURCE_ROOT:-$(dirname "$0")/../..}
cd "$root" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

# 1. the enum against the table
sed -n '/^enum udk_error {/,/^};/p' include/udk/udk.h | grep -o 'UDK_E_[A-Z_]*' |
	grep -v -x -e UDK_E_FIRST -e UDK_E_LAST | sort -u >"$tmp/enum"
[ -s "$tmp/enum" ] || { echo "not ok 1 - no enum udk_error in include/udk/udk.h"; exit 1; }
if ! "$udkctl" --json errors >"$tmp/json"; then
	notok "udkctl --json errors runs"
else
	python3 - "$tmp/json" "$tmp/enum" >"$tmp/rows" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
enum = open(sys.argv[2]).read().split()
names = [r.get("code") for r in rows]
for name in enum:
    r = next((r for r in rows if r.get("code") == name), None)
    if r is None:
        print("MISSING %s: enum udk_error has it, the table in lib/common/error.c does not" % name)
        continue
    for k in ("words", "when", "fix"):
        if not isinstance(r.get(k), str) or len(r[k].strip()) < 10:
            print("MISSING %s: its row has no %s (lib/common/error.c)" % (name, k))
for name in names:
    if name not in enum:
        print("MISSING %s: in the table, not in enum udk_error" % name)
PY
	if [ -s "$tmp/rows" ]; then
		notok "every code of enum udk_error has a name, words, when and fix" "$(cat "$tmp/rows")"
	else
		ok "every code of enum udk_error ($(wc -l <"$tmp/enum") codes) has a name, words, when and fix"
	fi
fi

# 2. every name used in the tree; tests/iig/bad holds deliberate misspellings
grep -rnoE --include='*.c' --include='*.h' --include='*.py' --include='*.sh' --include='*.md' \
	--include='*.xml' --include='*.plist' --include='udk-iig' \
	--exclude-dir='build*' --exclude-dir=.git --exclude-dir=bad \
	'UDK_E_[A-Z_]+[A-Z]' . >"$tmp/uses"
bad=$(sed 's/^\(.*\):\(UDK_E_[A-Z_]*\)$/\2 \1/' "$tmp/uses" | while read -r name where; do
	case $name in UDK_E_FIRST | UDK_E_LAST) continue ;; esac
	grep -q -x "$name" "$tmp/enum" || echo "$name used at $where is not in the table"
done | sort -u)
if [ -n "$bad" ]; then
	notok "every UDK_E_* used in the tree is in the table" "$bad"
else
	ok "every UDK_E_* used in the tree ($(wc -l <"$tmp/uses") uses) is in the table"
fi

# 3. docs/errors.md is what the table generates
if "$udkctl" errors --markdown >"$tmp/errors.md" && cmp -s "$tmp/errors.md" docs/errors.md; then
	ok "docs/errors.md equals udkctl errors --markdown"
else
	notok "docs/errors.md equals udkctl errors --markdown" \
		"regenerate it: ninja -C BUILD errors-doc" "$(diff -u docs/errors.md "$tmp/errors.md" | head -20)"
fi
echo "1..$n"
exit $fail
