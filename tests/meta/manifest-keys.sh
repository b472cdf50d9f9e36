#!/bin/sh
# manifest-keys.sh - every key udkd reads has a reference (issue 18, point
# 9: "No reference for keys").  Checks, in TAP, that
#   1. every top-level Info.plist key and every personality key of the key
#      tables in daemon/bundle.c (known_info_keys, known_personality_keys,
#      and the entries of UDKDeadlines and UDKResourceLimits) is in
#      docs/bundles.md;
#   2. every entitlement name of daemon/entitlements.c (both prefixes) is
#      in docs/bundles.md;
#   3. every matching key and entitlement a family declares through its
#      interface (as `udkctl --json families` lists them, from a udkd
#      started here) is in docs/bundles.md or docs/families/NAME.md;
#   4. every machine-file key daemon/machine.c reads (and models_load() of
#      daemon/models.c, for the Devices entries) is in docs/machine.md.
# A key "is in" a page when it appears there as a whole word.  Each failure
# names the keys missing and the page to add them to.
# Usage: manifest-keys.sh UDKD UDKCTL
set -u
udkd=$(realpath "$1") || exit 1
udkctl=$(realpath "$2") || exit 1
root=${UDK_SOURCE_ROOT:-$(dirname "$0")/../..}
cd "$root" || exit 1
tmp=$(mktemp -d) || exit 1
pid=
cleanup() {
	[ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	rm -rf "$tmp"
}
trap cleanup EXIT

# the families as udkd declares them: a udkd of its own, nothing to run
mkdir -p "$tmp/run" "$tmp/state" "$tmp/bundles" "$tmp/models"
"$udkd" --runtime-dir "$tmp/run" --state-dir "$tmp/state" --bundles "$tmp/bundles" --models "$tmp/models" \
	>"$tmp/udkd.log" 2>&1 &
pid=$!
if ! UDK_RUNTIME_DIR="$tmp/run" "$udkctl" --wait 10 --json families >"$tmp/families.json" 2>"$tmp/families.err"; then
	echo "not ok 1 - udkd starts and udkctl --json families answers"
	sed 's/^/# /' "$tmp/families.err" "$tmp/udkd.log" | tail -n 30
	echo "1..1"
	exit 1
fi

python3 - "$tmp/families.json" <<'PY'
import json, os, re, sys

n = 0
failed = False


def result(ok, what, missing=(), page=""):
    global n, failed
    n += 1
    if ok:
        print("ok %d - %s" % (n, what))
    else:
        failed = True
        print("not ok %d - %s" % (n, what))
        print("# missing from %s: %s" % (page, ", ".join(missing)))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def c_array(src, name):
    """The string literals of the C array @name in @src."""
    m = re.search(r"\b%s\[\]\s*=\s*\{(.*?)\};" % re.escape(name), src, re.S)
    if not m:
        return None
    return re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))


def documented(key, text):
    return re.search(r"(?<![A-Za-z0-9_.-])%s(?![A-Za-z0-9_-])" % re.escape(key), text) is not None


def documented_entitlement(name, text, prefixes):
    """@name (with or without a prefix) as itself, or as `.REST` under
    the pages' "(com.apple.developer.driverkit… or org.udk…)" tables."""
    if documented(name, text):
        return True
    for p in prefixes:
        if name.startswith(p + "."):
            name = name[len(p):]
            break
    if not name.startswith("."):
        name = "." + name
    return re.search(r"`%s`" % re.escape(name), text) is not None


def check(keys, pages, what, entitlements=False):
    texts = "\n".join(read(p) for p in pages if os.path.exists(p))
    if entitlements:
        missing = sorted({k for k in keys if not documented_entitlement(k, texts, prefixes or [])})
    else:
        missing = sorted({k for k in keys if not documented(k, texts)})
    result(not missing, what, missing, " or ".join(pages))


bundles_md = "docs/bundles.md"
prefixes = None
bundle_c = read("daemon/bundle.c")

# 1. Info.plist and personality keys
for table in ("known_info_keys", "known_personality_keys"):
    keys = c_array(bundle_c, table)
    if not keys:
        result(False, "daemon/bundle.c has %s" % table, [table], "daemon/bundle.c")
        continue
    check(keys, [bundles_md], "every key of %s (daemon/bundle.c, %d keys) is in %s" % (table, len(keys), bundles_md))
for table, parent in (("dl", "UDKDeadlines"), ("rl", "UDKResourceLimits")):
    keys = c_array(bundle_c, table)
    if not keys:
        result(False, "daemon/bundle.c lists the entries of %s" % parent, [parent], "daemon/bundle.c")
        continue
    check(keys, [bundles_md], "every entry of %s (%s) is in %s" % (parent, ", ".join(keys), bundles_md))

# 2. entitlements: "" only with Apple's prefix, ".driver" only with udk's
ent_c = read("daemon/entitlements.c")
prefixes = c_array(ent_c, "prefixes")
m = re.search(r"\bnames\[\]\s*=\s*\{(.*?)\};", ent_c, re.S)
suffixes = re.findall(r'\{\s*"([^"]*)"\s*,', m.group(1)) if m else []
if not prefixes or not suffixes:
    result(False, "daemon/entitlements.c has its prefixes and names", ["prefixes", "names"], "daemon/entitlements.c")
else:
    ents = []
    for i, p in enumerate(prefixes):
        for s in suffixes:
            if (i == 0 and s == ".driver") or (i == 1 and s == ""):
                continue
            ents.append(p + s)
    check(ents, [bundles_md], "every entitlement of daemon/entitlements.c (%d names) is in %s" % (len(ents), bundles_md),
          entitlements=True)

# 3. what the families declare
fams = json.load(open(sys.argv[1])).get("families", [])
result(len(fams) > 0, "udkctl --json families lists %d families" % len(fams), ["families"], "udkctl --json families")
for f in fams:
    name = f.get("name", "?")
    pages = [bundles_md, "docs/families/%s.md" % name]
    doc = f.get("docs")
    if isinstance(doc, str) and doc.startswith("docs/") and doc.endswith(".md") and doc not in pages:
        pages.append(doc)
    keys = [k for k in f.get("keys", []) if isinstance(k, str)]
    if keys:
        check(keys, pages, "family %s: its matching keys (%s) are in %s" % (name, ", ".join(keys), " or ".join(pages)))
    ents = [e for e in f.get("entitlements", []) if isinstance(e, str)]
    if ents:
        check(ents, pages, "family %s: its entitlements (%s) are in %s" % (name, ", ".join(ents), " or ".join(pages)),
              entitlements=True)

# 4. the machine file: daemon/machine.c, and the Devices entries it hands
#    to models_load() in daemon/models.c
def dict_keys(src):
    return set(re.findall(r'udk_dict_get[a-z_]*\([^,()]*,\s*"([^"]+)"', src))


mkeys = dict_keys(read("daemon/machine.c"))
m = re.search(r"^models_load\(.*?^\}", read("daemon/models.c"), re.M | re.S)
result(m is not None, "daemon/models.c has models_load(), which reads the Devices entries", ["models_load"], "daemon/models.c")
if m:
    mkeys |= dict_keys(m.group(0))
mkeys = sorted(mkeys)
result(len(mkeys) > 0, "daemon/machine.c and models_load() read %d keys: %s" % (len(mkeys), ", ".join(mkeys)), ["keys"],
       "daemon/machine.c")
check(mkeys, ["docs/machine.md"], "every machine-file key udkd reads is in docs/machine.md")

print("1..%d" % n)
sys.exit(1 if failed else 0)
PY
