#!/bin/sh
# install.sh - `meson install` puts everything in its standard place, and
# what it installs works without the build tree.  Installs the build into a
# temporary DESTDIR, then checks:
#   - udkd in sbindir; udkctl, udk-sign, udk-bundle, udk-iig, udk-new in
#     bindir; the family commands (udkctl-NAME) in libexecdir/udk; the DTD;
#     udk-new's templates; man pages; systemd units; the empty bundle and
#     model directories;
#   - a pkg-config file for every installed library, which pkg-config
#     accepts, with paths under the prefix;
#   - every static archive is a real archive of one object (not thin), with
#     only the API global (scripts/prelink-archives.sh), and a program that
#     pulls it in links with its pkg-config file's flags alone;
#   - every installed header compiles alone as C99 (-pedantic) and as C++,
#     and twice in one file (include guards), and all of them together;
#   - the systemd units pass `systemd-analyze verify`;
#   - nothing is installed outside the prefix (the nbdkit plugin included).
# TAP output.
#
#   install.sh BUILD_ROOT
set -u
build=${1:-$UDK_BUILD_ROOT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }
check() { # check DESCRIPTION COMMAND...
	what=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok "$what"; else
		notok "$what"
		sed 's/^/#   /' "$tmp/out" | head -n 40
	fi
}

opt() { # the value of a meson option of the build
	python3 -c 'import json,sys
for o in json.load(open(sys.argv[1] + "/meson-info/intro-buildoptions.json")):
    if o["name"] == sys.argv[2]:
        print(o["value"])' "$build" "$1"
}
prefix=$(opt prefix)
libdir=$(opt libdir)
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
d=$tmp/dest
P=$d$prefix
L=$d$libdir
cc=$(python3 -c 'import json,sys
for t in json.load(open(sys.argv[1] + "/meson-info/intro-targets.json")):
    for s in t.get("target_sources", []):
        if s.get("language") == "c":
            print(" ".join(s["compiler"])); sys.exit()' "$build")
case $cc in *clang*) cxx=clang++ ;; *) cxx=g++ ;; esac
san_flags=
san=$(opt b_sanitize)
[ -n "$san" ] && [ "$san" != none ] && san_flags="-fsanitize=$san"

if ! meson install -C "$build" --no-rebuild --destdir "$d" >"$tmp/install.log" 2>&1; then
	echo "not ok 1 - meson install --destdir failed:"
	sed 's/^/#   /' "$tmp/install.log" | tail -n 30
	echo "1..1"
	exit 1
fi
ok "meson install --destdir works without rebuilding"
# a prefix of one's own (the out-of-tree test's) must not write into the system
check "every installed file is under the prefix $prefix" \
	sh -c "cd '$d' && find . ! -type d | grep -v '^\.$prefix/' | (! grep .)"
if [ -e "$build/families/audio/alsa/libasound_module_pcm_udk.so" ]; then
	sysconfdir=$(opt sysconfdir)
	case $sysconfdir in /*) ;; *) sysconfdir=$prefix/$sysconfdir ;; esac
	check "the ALSA plugin in libdir/alsa-lib, its configuration in sysconfdir/alsa/conf.d" \
		test -f "$L/alsa-lib/libasound_module_pcm_udk.so" -a -f "$d$sysconfdir/alsa/conf.d/50-udk.conf"
fi
if [ -e "$build/families/block/nbdkit-udk-plugin.so" ]; then
	check "the nbdkit plugin in nbdkit's plugin directory under the prefix" \
		sh -c "find '$P' -path '*/nbdkit/plugins/nbdkit-udk-plugin.so' | grep -q ."
fi

for f in sbin/udkd bin/udkctl bin/udk-sign bin/udk-bundle bin/udk-iig bin/udk-new; do
	check "$f is installed and executable" test -x "$P/$f"
done
check "udk-iig's DTD in share/udk" test -f "$P/share/udk/udk-iig.dtd"
check "udk-new's default template in share/udk/templates" test -f "$P/share/udk/templates/pci/meson.build"
check "udk-new lists its templates from the installed ones" \
	env UDK_TEMPLATE_DIR="$P/share/udk/templates" "$P/bin/udk-new" templates
check "the bundle directory (prefix/lib/udk/drivers) exists" test -d "$P/lib/udk/drivers"
check "the model directory (prefix/lib/udk/models) exists" test -d "$P/lib/udk/models"
for t in $(find "$build/families" -maxdepth 2 -type f -name 'udkctl-*' -perm -u+x); do
	check "family command $(basename "$t") in libexecdir/udk" test -x "$P/$(opt libexecdir)/udk/$(basename "$t")"
done
if [ -n "$(find "$build/docs/man" -name '*.[18]' 2>/dev/null)" ]; then
	for m in man8/udkd.8 man8/udkctl.8 man1/udk-sign.1 man1/udk-bundle.1 man1/udk-new.1 man1/udk-iig.1; do
		check "man page $m" test -s "$P/$(opt mandir)/$m"
	done
	for m in "$P/$(opt mandir)"/man*/*; do
		check "$(basename "$m") has NAME, SYNOPSIS, DESCRIPTION, SEE ALSO and no TODO" sh -c \
			"grep -q '^.SH NAME' '$m' && grep -q '^.SH SYNOPSIS' '$m' && grep -q '^.SH DESCRIPTION' '$m' && grep -q '^.SH SEE ALSO' '$m' && ! grep -q TODO '$m'"
	done
	if ! command -v man >/dev/null; then
		skip "the man pages render: man (man-db) is not installed"
	else
	check "the man pages render (man -l)" sh -c "for f in '$P/$(opt mandir)'/man*/*; do MANWIDTH=80 man -l \"\$f\" >/dev/null 2>\"$tmp/man.err\" && ! test -s \"$tmp/man.err\" || { cat \"$tmp/man.err\"; echo \$f; exit 1; }; done"
	fi
else
	skip "man pages: this build has none (no scdoc)"
fi
unitdir=$(opt systemdsystemunitdir)
[ -n "$unitdir" ] || unitdir=$prefix/lib/systemd/system
if [ "$unitdir" != no ]; then
	check "udkd.service and udkd.socket in $unitdir" test -f "$d$unitdir/udkd.service" -a -f "$d$unitdir/udkd.socket"
	check "udkd.service runs the installed udkd" grep -qx "ExecStart=$prefix/$(opt sbindir)/udkd" "$d$unitdir/udkd.service"
	if command -v systemd-analyze >/dev/null; then
		# verify the build's copies: the installed udkd path exists only under DESTDIR
		mkdir -p "$tmp/units"
		sed "s|^ExecStart=.*|ExecStart=$P/$(opt sbindir)/udkd|" "$d$unitdir/udkd.service" >"$tmp/units/udkd.service"
		cp "$d$unitdir/udkd.socket" "$tmp/units/udkd.socket"
		check "systemd-analyze verify accepts the units" sh -c \
			"systemd-analyze verify --man=no '$tmp/units/udkd.service' '$tmp/units/udkd.socket' 2>&1 | grep -v 'Failed to open /run/systemd\|/usr/lib/systemd/system/\|System has not been booted' | (! grep .)"
	else
		skip "systemd-analyze is not installed"
	fi
fi

# libraries, pkg-config files
export PKG_CONFIG_SYSROOT_DIR="$d" PKG_CONFIG_LIBDIR="$L/pkgconfig:/usr/lib/x86_64-linux-gnu/pkgconfig:/usr/lib/pkgconfig:/usr/share/pkgconfig"
for a in "$L"/libudk*.a; do
	base=$(basename "$a" .a)
	pc=${base#lib}
	check "$base.a has a pkg-config file, $pc.pc, that pkg-config accepts" pkg-config --validate "$pc"
	check "$pc.pc links $base" sh -c "pkg-config --libs --static '$pc' | grep -q -e '$base.a' -e '-l${base#lib}'"
	# the whole archive pulled in (it is one object): pkg-config's flags resolve all it calls
	# (and the sanitizer runtime, in a sanitizer build)
	sym=$(nm -g --defined-only "$a" | awk 'NF == 3 && $2 == "T" && $3 ~ /^udk_/ { print $3; exit }')
	check "a program that uses $base.a links with \`pkg-config --libs $pc\` alone" sh -c \
		"echo 'int main(void) { return 0; }' >'$tmp/empty.c' && unset PKG_CONFIG_SYSROOT_DIR &&
		 $cc $san_flags -o '$tmp/linked' '$tmp/empty.c' -Wl,-u,$sym \$(pkg-config --define-variable=prefix='$P' --libs '$pc') &&
		 LD_LIBRARY_PATH='$L' '$tmp/linked'"
	check "$base.a is a real archive (not thin)" sh -c "head -c 8 '$a' | grep -q '^!<arch>'"
	check "$base.a holds one object" sh -c "[ \$(ar t '$a' | wc -l) = 1 ]"
	# globals: the API (udk_*) and what another udk archive needs (lib/driver/private.h)
	nm -g --defined-only "$a" | awk 'NF == 3 { print $3 }' | grep -v '^udk_' >"$tmp/others" || true
	if [ -s "$tmp/others" ]; then
		for o in "$L"/libudk*.a; do [ "$o" = "$a" ] || nm -u "$o"; done | awk '$1 == "U" { print $2 }' | sort -u >"$tmp/needed"
		extra=$(sort -u "$tmp/others" | comm -23 - "$tmp/needed")
		if [ -n "$extra" ]; then
			notok "$base.a has globals that are neither API nor needed by another udk library:"
			echo "$extra" | sed 's/^/#   /'
		else
			ok "$base.a: its $(wc -l <"$tmp/others") non-API globals are what other udk libraries need"
		fi
	else
		ok "$base.a: only udk_ symbols are global"
	fi
done
for so in "$L"/libudk*.so; do
	[ -e "$so" ] || continue
	pc=$(basename "$so" .so)
	pc=${pc#lib}
	check "$pc.pc exists for $(basename "$so")" pkg-config --validate "$pc"
done
for pc in "$L"/pkgconfig/udk*.pc; do
	check "$(basename "$pc") names the prefix $prefix" grep -qx "prefix=$prefix" "$pc"
done

# headers
inc=$d$prefix/$(opt includedir)
headers=$(cd "$inc" && find udk -name '*.h' | sort)
[ -n "$headers" ] || notok "no headers installed in $inc"
cflags=$(pkg-config --cflags udk udk-driver libplist-2.0 libxml-2.0)
for h in $headers; do
	printf '#include <%s>\n#include <%s>\n' "$h" "$h" >"$tmp/one.c"
	check "$h compiles alone as C99, twice" $cc -std=c99 -pedantic-errors -Wall -Wextra -Werror -fsyntax-only $cflags -I"$inc" "$tmp/one.c"
	cp "$tmp/one.c" "$tmp/one.cpp"
	check "$h compiles alone as C++11" $cxx -std=c++11 -pedantic-errors -Wall -Wextra -Werror -fsyntax-only $cflags -I"$inc" "$tmp/one.cpp"
done
for h in $headers; do printf '#include <%s>\n' "$h"; done >"$tmp/all.c"
cp "$tmp/all.c" "$tmp/all.cpp"
check "all headers together compile as C99" $cc -std=c99 -pedantic-errors -Wall -Wextra -Werror -fsyntax-only $cflags -I"$inc" "$tmp/all.c"
check "all headers together compile as C++17" $cxx -std=c++17 -pedantic-errors -Wall -Wextra -Werror -fsyntax-only $cflags -I"$inc" "$tmp/all.cpp"
echo "1..$n"
exit $fail
