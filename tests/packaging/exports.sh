#!/bin/sh
# exports.sh - udk's shared libraries export their public API and nothing
# else (lib/udk.map, -fvisibility=hidden + UDK_EXPORT).  For each shared
# library of the build: every exported symbol is udk_-prefixed, carries the
# symbol version UDK_0.1 and is declared UDK_EXPORT in an installed header
# (include/udk/*.h, families/*/include/udk/families/*.h).  TAP output.
#
#   exports.sh BUILD_ROOT SOURCE_ROOT
set -u
build=${1:-$UDK_BUILD_ROOT}
src=${2:-$UDK_SOURCE_ROOT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }

# what the installed headers declare with UDK_EXPORT: the identifier before its "("
cat "$src"/include/udk/*.h "$src"/families/*/include/udk/families/*.h |
	tr '\n' ' ' | sed 's/;/;\n/g' | grep 'UDK_EXPORT' |
	grep -o '[A-Za-z_][A-Za-z0-9_]*[[:space:]]*(' | sed 's/[[:space:]]*($//' |
	grep '^udk_' | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || { echo "1..1"; echo "not ok 1 - found no UDK_EXPORT declarations in $src"; exit 1; }

libs=$(find "$build" -type f -name 'libudk*.so.*' ! -path '*.p/*' | sort)
[ -n "$libs" ] || { echo "1..1"; echo "not ok 1 - no shared libraries in $build/lib"; exit 1; }
for lib in $libs; do
	name=$(basename "$lib")
	# readelf --dyn-syms -W: Num: Value Size Type Bind Vis Ndx Name[@version]
	readelf --dyn-syms -W "$lib" | awk '$7 != "UND" && ($5 == "GLOBAL" || $5 == "WEAK") { print $8 }' |
		sort -u >"$tmp/exported"
	count=$(wc -l <"$tmp/exported")
	if [ "$count" -lt 10 ]; then
		notok "$name exports $count symbols: too few to be its API"
		continue
	fi
	bad=$(grep -v '^udk_' "$tmp/exported" | grep -v '^UDK_0\.1$' || true)
	if [ -n "$bad" ]; then
		notok "$name exports symbols outside udk_:"
		echo "$bad" | sed 's/^/#   /'
	else
		ok "$name: its $count exported symbols are all udk_-prefixed"
	fi
	unversioned=$(grep -v '@@UDK_0\.1$' "$tmp/exported" | grep -v '^UDK_0\.1$' || true)
	if [ -n "$unversioned" ]; then
		notok "$name exports symbols without the version UDK_0.1:"
		echo "$unversioned" | sed 's/^/#   /'
	else
		ok "$name: every exported symbol has the version UDK_0.1"
	fi
	sed 's/@.*//' "$tmp/exported" | grep '^udk_' | sort -u >"$tmp/names"
	undeclared=$(comm -23 "$tmp/names" "$tmp/declared")
	if [ -n "$undeclared" ]; then
		notok "$name exports symbols no installed header declares UDK_EXPORT:"
		echo "$undeclared" | sed 's/^/#   /'
	else
		ok "$name: every exported symbol is declared UDK_EXPORT in an installed header"
	fi
done
echo "1..$n"
exit $fail
