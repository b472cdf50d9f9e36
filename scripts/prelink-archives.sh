#!/bin/sh
# prelink-archives.sh - run by `meson install`: turn every installed udk
# static archive (LIBDIR/libudk*.a) into an archive of one object in which
# only the API is global.
#
#   prelink-archives.sh LIBDIR
#
# Why (docs/packaging.md):
#   - one object: a program that links a static archive gets all of it or
#     none of it, so a driver that links libudk-pci.a (which needs the
#     runtime's static archive) and also -ludk-driver still has one driver
#     runtime, never half of each;
#   - only the API global: udk's internal helpers (read_file, buf_init,
#     parse_u64 ...) become local symbols and cannot clash with a driver's
#     own.  Global stay the symbols of default visibility (UDK_EXPORT) and
#     those another installed udk archive refers to (a family library uses
#     the runtime's internals, lib/driver/private.h).
#   - a real archive, never a thin one: it works without the build tree.
set -eu
libdir=${DESTDIR:-}$1
[ -d "$libdir" ] || { echo "prelink-archives.sh: no $libdir" >&2; exit 1; }
: "${LD:=ld}"
: "${OBJCOPY:=objcopy}"
: "${AR:=ar}"
: "${NM:=nm}"
: "${READELF:=readelf}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

set -- "$libdir"/libudk*.a
[ -e "$1" ] || exit 0

# one relocatable object per archive: references inside a library resolve here
for a in "$@"; do
	name=$(basename "$a" .a)
	if ! "$LD" -r -o "$tmp/$name.o" --whole-archive "$a" --no-whole-archive 2>"$tmp/ld.err"; then
		echo "prelink-archives.sh: $a left as it is: ld -r failed ($(head -n 1 "$tmp/ld.err"))" >&2
		rm -f "$tmp/$name.o"
	fi
done

for a in "$@"; do
	name=$(basename "$a" .a)
	obj="$tmp/$name.o"
	[ -e "$obj" ] || continue
	# what the other installed udk libraries need from this one
	for o in "$tmp"/*.o; do
		[ "$o" = "$obj" ] || "$NM" -u "$o" | awk '$1 == "U" { print $2 }'
	done | sort -u >"$tmp/needed"
	# readelf -sW: Num: Value Size Type Bind Vis Ndx Name
	"$READELF" -sW "$obj" | awk '($5 == "GLOBAL" || $5 == "WEAK") && $7 != "UND" { print $6, $8 }' >"$tmp/defs"
	awk '$1 == "DEFAULT" { print $2 }' "$tmp/defs" >"$tmp/keep"
	awk '{ print $2 }' "$tmp/defs" | sort -u | comm -12 - "$tmp/needed" >>"$tmp/keep"
	"$OBJCOPY" --keep-global-symbols="$tmp/keep" "$obj" "$tmp/final.o"
	rm -rf "$tmp/new.a" "$tmp/member"
	mkdir "$tmp/member"
	mv "$tmp/final.o" "$tmp/member/$name.o"
	(cd "$tmp/member" && "$AR" rcsD ../new.a "$name.o")
	# replace in one step: a reader sees the old archive or the new one
	cp "$tmp/new.a" "$a.tmp"
	chmod 644 "$a.tmp"
	mv -f "$a.tmp" "$a"
done
