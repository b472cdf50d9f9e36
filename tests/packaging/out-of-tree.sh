#!/bin/sh
# out-of-tree.sh - a new user's path, from `meson install` to their upgraded
# driver's app printing its output and its removal (docs/tutorial.md), with nothing but
# the installed udk:
#
#   0. docs/tutorial.md's commands (sections 3 to 7) are the ones this
#      test runs, in the same order (options, numbers and paths aside);
#   1. udk is configured with a temporary prefix, built and installed
#      (so every path udkd and the tools use derives from that prefix);
#   2. `udk-new driver thermo` writes a project; it is built with
#      pkg-config alone (PKG_CONFIG_PATH, PATH: the prefix; no reference
#      to udk's source or build tree), and its own test passes;
#   3. a key is made, the bundle is signed;
#   4. udkd is started from the prefix with its own runtime and state
#      directories (bundle and model directories: its defaults, from the
#      prefix), the key is trusted, the model and the app are installed
#      with `meson install --tags runtime` and the bundle with `udkctl
#      install` while udkd runs, the simulated device is plugged in, and
#      the app prints the temperature through the driver, signed and not in
#      developer mode;
#   5. the driver is changed (CFBundleVersion 1.1, a calibration offset the
#      app shows), rebuilt, signed again and `udkctl upgrade`d: the app
#      prints the new temperature and `udkctl --json drivers` shows 1.1
#      activated; `udkctl uninstall` removes it;
#   6. a driver linked against the installed libudk-driver.so runs in
#      the sandbox, and a driver that links a family's library and
#      -ludk-driver has one driver runtime, not two.
# TAP output.  The steps depend on each other: the first failure ends it.
set -u
src=${UDK_SOURCE_ROOT:?}
build=${UDK_BUILD_ROOT:?}
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
bail() {
	n=$((n + 1))
	echo "not ok $n - $1"
	[ -f "${2:-}" ] && sed 's/^/#   /' "$2" | tail -n 60
	[ -f "$T/udkd.log" ] && { echo "# udkd's log:"; sed 's/^/#   /' "$T/udkd.log" | tail -n 40; }
	echo "1..$n"
	exit 1
}

sanitize=$(python3 -c 'import json,sys
for o in json.load(open(sys.argv[1] + "/meson-info/intro-buildoptions.json")):
    if o["name"] == "b_sanitize":
        print(o["value"])' "$build")
if [ "$sanitize" != none ]; then
	echo "1..0 # SKIP the packaging path builds udk again without sanitizers: the gcc suite runs it"
	exit 0
fi

# 0. docs/tutorial.md's commands, sections 3 to 7, are this test's, in its
#    order: each command, reduced to its words (options, numbers and paths
#    dropped: the test's paths are temporary), is found below in turn
python3 - "$src/docs/tutorial.md" "$0" >"/tmp/udk-oot-tutorial.$$" 2>&1 <<'PY'
import re, sys
PLAIN = re.compile(r"^[A-Za-z][\w./-]*$")

def key(cmd):
    words = []
    for w in cmd.split():
        if w.startswith("-") or w.isdigit():
            continue
        if not PLAIN.match(w):
            break
        words.append(w)
    return " ".join(words)

doc = open(sys.argv[1]).read()
m = re.search(r"^## 3\..*?(?=^## 8\.)", doc, re.S | re.M)
if not m:
    sys.exit("docs/tutorial.md has no sections 3 to 7")
cmds = []
for block in re.findall(r"^```sh\n(.*?)^```", m.group(0), re.S | re.M):
    for line in block.splitlines():
        line = line.split(" #")[0].strip()
        for part in line.split("&&"):
            if part.strip() and key(part):
                cmds.append((part.strip(), key(part)))
test = []
for line in open(sys.argv[2]):
    line = re.sub(r"^\s*(if\s+)?(!\s+)?", "", line)
    for part in re.split(r"&&|\|\||;", line):
        test.append(key(part.strip()))
at = 0
for cmd, k in cmds:
    try:
        at = test.index(k, at) + 1
    except ValueError:
        sys.exit("the tutorial's `%s` (%s) is not run by the test after the command before it (the test's command %d)"
                 % (cmd, k, at))
print("%d commands" % len(cmds))
PY
if [ $? != 0 ]; then
	n=$((n + 1))
	echo "not ok $n - docs/tutorial.md's commands are this test's, in its order"
	sed 's/^/#   /' "/tmp/udk-oot-tutorial.$$"
	rm -f "/tmp/udk-oot-tutorial.$$"
	echo "1..$n"
	exit 1
fi
ok "docs/tutorial.md's commands (sections 3 to 7, $(cat "/tmp/udk-oot-tutorial.$$")) are this test's, in its order"
rm -f "/tmp/udk-oot-tutorial.$$"

T=$(mktemp -d /tmp/udk-out-of-tree.XXXXXX)
udkd_pid=
cleanup() {
	if [ -n "$udkd_pid" ]; then
		kill "$udkd_pid" 2>/dev/null
		wait "$udkd_pid" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
# drivers run as uids of their own when this runs as root: they need to reach the prefix
chmod 755 "$T"
P=$T/prefix

# 1. install udk
meson setup "$T/udk-build" "$src" --prefix="$P" -Dtests=false -Dwerror=true >"$T/setup.log" 2>&1 ||
	bail "meson setup of udk with --prefix=$P" "$T/setup.log"
ninja -C "$T/udk-build" >"$T/build.log" 2>&1 || bail "udk builds" "$T/build.log"
meson install -C "$T/udk-build" >"$T/install.log" 2>&1 || bail "meson install" "$T/install.log"
ok "udk builds and installs into the temporary prefix $P"
libdir=$(sed -n 's/^libdir=//p' "$P"/lib*/*/pkgconfig/udk.pc "$P"/lib*/pkgconfig/udk.pc 2>/dev/null | head -n 1)
libdir=$(echo "$libdir" | sed "s|\${prefix}|$P|")
[ -d "$libdir" ] || bail "udk.pc names the libdir ($libdir)"

# from here on: the installed udk only
export PATH="$P/bin:$P/sbin:/usr/bin:/bin"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
unset UDK_SOURCE_ROOT UDK_BUILD_ROOT UDK_TEMPLATE_DIR UDK_RUNTIME_DIR
mkdir "$T/work"
cd "$T/work" || bail "cd $T/work"

# 2. a project from the template, built with pkg-config alone
udk-new driver thermo >"$T/new.log" 2>&1 || bail "udk-new driver thermo" "$T/new.log"
for f in meson.build thermo.xml driver/thermo.c driver/Info.plist driver/Entitlements.plist app/thermo-app.c \
	model/thermo-model.c machine.plist tests/run-test.sh; do
	[ -f "thermo/$f" ] || bail "udk-new wrote thermo/$f" "$T/new.log"
done
ok "udk-new driver thermo writes a driver, its bundle files, an app, a device model, an interface and a test"
cd thermo || bail "cd thermo"
meson setup build --prefix="$P" >"$T/p-setup.log" 2>&1 || bail "the project configures with pkg-config" "$T/p-setup.log"
ninja -C build >"$T/p-build.log" 2>&1 || bail "the project builds" "$T/p-build.log"
[ -x build/Thermo.dext/thermo-driver ] || bail "the bundle build/Thermo.dext holds the driver" "$T/p-build.log"
ok "the project builds against the installed udk: driver, bundle, app, device model"
grep -l -e "$src" -e "$build" -e "$T/udk-build" build/build.ninja build/compile_commands.json >"$T/refs" 2>&1
[ $? = 1 ] || bail "the project's build refers to udk's source or build tree (or grep failed)" "$T/refs"
ok "the project's build names neither udk's source tree nor its build tree"
if readelf -d build/thermo-driver | grep -q 'NEEDED.*libudk'; then
	readelf -d build/thermo-driver >"$T/readelf"
	bail "the family driver is static as far as udk goes" "$T/readelf"
fi
ok "the driver (a family's) needs no udk shared library"
meson test -C build >"$T/p-test.log" 2>&1 || { cat build/meson-logs/testlog.txt >>"$T/p-test.log"; bail "the project's own test passes" "$T/p-test.log"; }
ok "the project's own test passes (a private udkd, developer mode)"

# 3. sign
udk-sign keygen "$T/mykey" >"$T/keygen.log" 2>&1 || bail "udk-sign keygen" "$T/keygen.log"
meson configure build -Dsigning_key="$T/mykey.secret" >"$T/p-conf.log" 2>&1 || bail "meson configure -Dsigning_key" "$T/p-conf.log"
ninja -C build >"$T/p-build2.log" 2>&1 || bail "the signed bundle builds" "$T/p-build2.log"
udk-sign verify --key "$T/mykey.public" build/Thermo.dext >"$T/verify.log" 2>&1 || bail "udk-sign verify of the bundle" "$T/verify.log"
ok "the bundle is signed with a new key"

# 4. a running udkd from the prefix: its own runtime and state directories, default bundle and model directories
mkdir -p "$T/state"
udkd --runtime-dir "$T/run" --state-dir "$T/state" --machine "$PWD/machine.plist" >"$T/udkd.log" 2>&1 &
udkd_pid=$!
export UDK_RUNTIME_DIR="$T/run"
udkctl --wait 10 status >"$T/status.log" 2>&1 || bail "udkd from the prefix starts" "$T/status.log"
grep -q "0 bundles from 1 directories" "$T/udkd.log" || bail "udkd reads its default bundle directory" "$T/udkd.log"
ok "udkd starts from the prefix with its default bundle directory, $P/lib/udk/drivers"
udkctl trust add "$T/mykey.public" >"$T/trust.log" 2>&1 || bail "udkctl trust add" "$T/trust.log"
udkctl developer >"$T/dev.log" 2>&1
grep -q "developer mode off" "$T/dev.log" || bail "developer mode is off" "$T/dev.log"
meson install -C build --tags runtime >"$T/p-install.log" 2>&1 || bail "the project's model and app install" "$T/p-install.log"
[ -x "$P/lib/udk/models/thermo-model" ] && [ -x "$P/bin/thermo-app" ] ||
	bail "meson install --tags runtime puts the model and the app in the prefix" "$T/p-install.log"
[ -e "$P/lib/udk/drivers/Thermo.dext" ] && bail "meson install --tags runtime leaves the bundle to udkctl install" "$T/p-install.log"
ok "meson install --tags runtime puts the model and the app in the prefix, not the bundle"
udkctl install build/Thermo.dext >"$T/install-bundle.log" 2>&1 || bail "udkctl install build/Thermo.dext" "$T/install-bundle.log"
grep -q "Thermo.dext: activated" "$T/install-bundle.log" || bail "udkctl install says the bundle is activated" "$T/install-bundle.log"
[ -f "$P/lib/udk/drivers/Thermo.dext/Info.plist" ] ||
	bail "udkctl install puts the bundle in the running udkd's bundle directory" "$T/install-bundle.log"
ok "udkctl install puts the signed bundle in the running udkd's bundle directory: $(head -n 1 "$T/install-bundle.log")"
udkctl sim plug thermo0 >"$T/plug.log" 2>&1 || bail "udkctl sim plug thermo0" "$T/plug.log"
if ! udkctl wait ThermoDriver 30 >"$T/wait.log" 2>&1; then
	udkctl drivers >>"$T/wait.log" 2>&1
	bail "the driver starts on the simulated device" "$T/wait.log"
fi
udkctl drivers com.example.thermo >"$T/drivers.log" 2>&1
grep -q "signature: valid, key .* trusted" "$T/drivers.log" || bail "udkctl drivers says the bundle is signed by a trusted key" "$T/drivers.log"
ok "the signed driver runs on the simulated device (not in developer mode)"
thermo-app >"$T/app.log" 2>&1 || bail "thermo-app runs" "$T/app.log"
grep -Eq '^Thermo sensor 0x[0-9a-f]+: 21\.500 degrees Celsius \(reading 1\)$' "$T/app.log" ||
	bail "thermo-app prints the temperature" "$T/app.log"
ok "thermo-app prints: $(cat "$T/app.log")"

# 5. change the driver, rebuild, sign, upgrade; then uninstall
sed -i 's|<string>1\.0</string>|<string>1.1</string>|' driver/Info.plist
grep -q '<string>1\.1</string>' driver/Info.plist || bail "CFBundleVersion 1.0 is bumped to 1.1 in driver/Info.plist"
sed -i 's|\*ret_millicelsius = (int32_t)t;|*ret_millicelsius = (int32_t)t + 250;	/* calibration offset */|' driver/thermo.c
grep -q 'calibration offset' driver/thermo.c || bail "a calibration offset is added in driver/thermo.c's ReadTemperature"
ninja -C build >"$T/p-build3.log" 2>&1 || bail "the changed driver builds and is signed" "$T/p-build3.log"
udk-sign verify --key "$T/mykey.public" build/Thermo.dext >"$T/verify2.log" 2>&1 || bail "udk-sign verify of the new bundle" "$T/verify2.log"
udkctl upgrade build/Thermo.dext >"$T/upgrade.log" 2>&1 || bail "udkctl upgrade build/Thermo.dext" "$T/upgrade.log"
grep -q "com.example.thermo: activated: upgraded from version 1.0 to 1.1" "$T/upgrade.log" ||
	bail "udkctl upgrade says version 1.1 replaced 1.0" "$T/upgrade.log"
ok "udkctl upgrade: $(head -n 1 "$T/upgrade.log")"
udkctl --json drivers com.example.thermo >"$T/drivers.json" 2>&1 || bail "udkctl --json drivers com.example.thermo" "$T/drivers.json"
python3 - "$T/drivers.json" >"$T/json-check.log" 2>&1 <<'PY' || bail "udkctl --json drivers shows version 1.1 activated, upgraded from 1.0" "$T/json-check.log"
import json, sys
found = []
def walk(v):
    if isinstance(v, dict):
        if v.get("identifier") == "com.example.thermo" or v.get("CFBundleIdentifier") == "com.example.thermo":
            found.append(v)
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(json.load(open(sys.argv[1])))
ok = [b for b in found if b.get("version") == "1.1" and isinstance(b.get("lifecycle"), dict)
      and b["lifecycle"].get("state") == "activated" and b["lifecycle"].get("from_version") == "1.0"]
if len(ok) != 1:
    print("com.example.thermo entries:", json.dumps(found, indent=1))
    sys.exit(1)
PY
ok "udkctl --json drivers: com.example.thermo version 1.1, lifecycle activated, from version 1.0"
if ! udkctl wait ThermoDriver 30 >"$T/wait2.log" 2>&1; then
	udkctl drivers com.example.thermo >>"$T/wait2.log" 2>&1
	bail "the new version of the driver starts on the simulated device" "$T/wait2.log"
fi
thermo-app >"$T/app2.log" 2>&1 || bail "thermo-app runs against the new version" "$T/app2.log"
grep -Eq '^Thermo sensor 0x[0-9a-f]+: 21\.750 degrees Celsius \(reading [0-9]+\)$' "$T/app2.log" ||
	bail "thermo-app prints the temperature with the new version's offset (21.750)" "$T/app2.log"
ok "after the upgrade thermo-app prints: $(cat "$T/app2.log")"
udkctl uninstall com.example.thermo >"$T/uninstall.log" 2>&1 || bail "udkctl uninstall com.example.thermo" "$T/uninstall.log"
[ -e "$P/lib/udk/drivers/Thermo.dext" ] && bail "udkctl uninstall removes $P/lib/udk/drivers/Thermo.dext" "$T/uninstall.log"
udkctl --json drivers >"$T/drivers-after.json" 2>&1 || bail "udkctl --json drivers after the uninstall" "$T/drivers-after.json"
grep -q 'com\.example\.thermo' "$T/drivers-after.json" && bail "udkctl --json drivers no longer lists com.example.thermo" "$T/drivers-after.json"
ok "udkctl uninstall com.example.thermo: the bundle is gone from the bundle directory and from udkctl drivers"

# 6. a driver linked against the installed libudk-driver.so, in the sandbox
mkdir -p "$T/dyn"
cat >"$T/dyn/dyn.c" <<'C'
#include <udk/driver.h>
static int start(struct udk_service *self, struct udk_service *provider)
{
	(void)provider;
	udk_log_info("dynamic driver started");
	return udk_service_register(self);
}
static const struct udk_class dyn = { UDK_CLASS_INIT, .name = "DynDriver", .start = start };
int main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &dyn, NULL };
	return udk_driver_main(argc, argv, classes);
}
C
cat >"$T/dyn/Info.plist" <<'P'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>com.example.dyn</string>
<key>CFBundleExecutable</key><string>dyn-driver</string>
<key>IOKitPersonalities</key><dict><key>Dyn</key><dict>
<key>IOProviderClass</key><string>IOUserResources</string>
<key>IOResourceMatch</key><string>IOKit</string>
<key>IOMatchCategory</key><string>DynDriver</string>
<key>IOUserClass</key><string>DynDriver</string>
<key>IOUserServerName</key><string>com.example.dyn</string>
</dict></dict></dict></plist>
P
cat >"$T/dyn/Entitlements.plist" <<'P'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>com.apple.developer.driverkit</key><true/></dict></plist>
P
# shell words: pkg-config's output is flags
# shellcheck disable=SC2046
cc -o "$T/dyn/dyn-driver" "$T/dyn/dyn.c" $(pkg-config --cflags --libs udk-driver) -Wl,-rpath,"$libdir" \
	>"$T/dyn.log" 2>&1 || bail "a driver links against the installed libudk-driver.so" "$T/dyn.log"
readelf -d "$T/dyn/dyn-driver" | grep -q 'NEEDED.*libudk-driver\.so' || bail "the dynamic driver needs libudk-driver.so"
udk-bundle "$T/dyn/Dyn.dext" "$T/dyn/Info.plist" "$T/dyn/dyn-driver" "$T/dyn/Entitlements.plist" >>"$T/dyn.log" 2>&1 &&
	udk-sign sign --key "$T/mykey.secret" "$T/dyn/Dyn.dext" >>"$T/dyn.log" 2>&1 ||
	bail "the dynamic driver's bundle is made and signed" "$T/dyn.log"
udkctl install "$T/dyn/Dyn.dext" >>"$T/dyn.log" 2>&1 || bail "udkctl install of the dynamic driver's bundle" "$T/dyn.log"
if ! udkctl wait DynDriver 30 >"$T/dynwait.log" 2>&1; then
	udkctl drivers com.example.dyn >>"$T/dynwait.log" 2>&1
	bail "a driver linked against libudk-driver.so starts in the sandbox" "$T/dynwait.log"
fi
grep -q 'com.example.dyn.*dynamic driver started' "$T/udkd.log" || bail "the dynamic driver's log line reaches udkd" "$T/udkd.log"
ok "a driver linked against $libdir/libudk-driver.so runs in the sandbox"

# shellcheck disable=SC2046
cc -o "$T/mixed" build/thermo-driver.p/driver_thermo.c.o build/thermo-driver.p/meson-generated_.._thermo-driver.c.o \
	$(pkg-config --libs udk-driver) $(pkg-config --libs udk-pci) -Wl,--no-as-needed >"$T/mixed.log" 2>&1 ||
	bail "a driver links with both -ludk-driver and udk-pci's libraries" "$T/mixed.log"
nm "$T/mixed" >"$T/mixed.nm"
for s in udk_driver_main udk_service_register udk_pci_open udk_log; do
	grep -q " T $s\$" "$T/mixed.nm" || bail "linked with both, the executable holds $s itself (one runtime)" "$T/mixed.nm"
done
ok "a driver linking udk-pci and -ludk-driver holds the whole runtime itself: one runtime, not two"

kill "$udkd_pid"
wait "$udkd_pid"
status=$?
udkd_pid=
[ "$status" = 0 ] || bail "udkd stops cleanly (status $status)" "$T/udkd.log"
ok "udkd stops cleanly"
echo "1..$n"
