#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""run-tests.py - tests of udk-iig itself, in TAP.

  golden   every output for iigt.xml equals tests/iig/golden/ byte for byte
  bad      every tests/iig/bad/*.xml is refused, with exactly the message
           its "expect:" comment gives (file, line, what and how to fix)
  dtd      the DTD agrees: good files are valid; each bad file is valid or
           not as its "dtd:" comment says (structure errors are the DTD's
           too, errors of meaning are udk-iig's alone)
  compat   tests/iig/compat/: successors of base.xml, accepted or refused
  limits   the bounds and error names udk-iig knows equal those of
           lib/common/proto.h, include/udk/userclient.h, include/udk/udk.h,
           include/udk/client.h
  cli      output names, usage

Usage: run-tests.py --iig UDK-IIG --dtd-check DTD-CHECK --source-root DIR
       run-tests.py --iig UDK-IIG --source-root DIR --regen
--regen rewrites the golden files and the expect: lines from what udk-iig
does now; review the diff before committing it.
"""

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile

n = 0
failed = 0


def result(ok, name, detail=""):
    global n, failed
    n += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
    if not ok:
        failed += 1
        for line in detail.rstrip("\n").split("\n"):
            print("# " + line)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def comment(path, key):
    m = re.search(r"<!-- %s: (.*?) -->" % key, open(path, encoding="utf-8").read(), re.S)
    return m.group(1) if m else None


def set_comment(path, key, value):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"<!-- %s: .*? -->" % key, lambda _: "<!-- %s: %s -->" % (key, value), text, count=1,
                  flags=re.S)
    open(path, "w", encoding="utf-8").write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iig", required=True)
    ap.add_argument("--dtd-check")
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--regen", action="store_true")
    a = ap.parse_args()
    here = os.path.join(a.source_root, "tests", "iig")
    iig = [sys.executable, a.iig]
    dtd = os.path.join(a.source_root, "tools", "udk-iig", "udk-iig.dtd")
    kinds = ["-protocol.h", "-client.h", "-client.c", "-driver.h", "-driver.c", ".md"]

    # golden
    with tempfile.TemporaryDirectory() as tmp:
        outs = [os.path.join(tmp, "iigt" + k) for k in kinds]
        rc, out, err = run(iig + ["generate", os.path.join(here, "iigt.xml")] + outs)
        result(rc == 0 and not err, "golden: udk-iig generates iigt.xml", err)
        for o in outs:
            gold = os.path.join(here, "golden", os.path.basename(o))
            new = open(o, encoding="utf-8").read() if os.path.exists(o) else ""
            if a.regen:
                open(gold, "w", encoding="utf-8").write(new)
            old = open(gold, encoding="utf-8").read() if os.path.exists(gold) else ""
            diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                "golden/" + os.path.basename(o), "generated"))
            result(old == new and new != "", "golden: %s" % os.path.basename(o),
                   diff + "\nif the change is intended: tests/iig/run-tests.py --regen, and review")

    # bad definitions
    bad = sorted(f for f in os.listdir(os.path.join(here, "bad")) if f.endswith(".xml"))
    for f in bad:
        path = os.path.join(here, "bad", f)
        rc, out, err = run(iig + ["check", path])
        lines = err.strip("\n").split("\n")
        if a.regen and rc == 1 and len(lines) == 1 and lines[0].startswith(path + ":"):
            set_comment(path, "expect", lines[0][len(path):])
        want = comment(path, "expect")
        ok = rc == 1 and want is not None and err == path + want + "\n"
        result(ok, "bad: %s is refused: %s" % (f, want),
               "exit status %d, stderr:\n%s" % (rc, err))

    # the DTD
    if a.dtd_check:
        good = [os.path.join(here, "iigt.xml"), os.path.join(a.source_root, "drivers", "hello", "hello.xml"),
                os.path.join(a.source_root, "drivers", "capture", "capture.xml")]
        for path in good:
            rc, out, err = run([a.dtd_check, dtd, path])
            result(rc == 0, "dtd: %s is valid" % os.path.basename(path), err)
            rc, out, err = run(iig + ["check", path])
            result(rc == 0, "check: udk-iig accepts %s" % os.path.basename(path), err)
        codes = {"valid": 0, "invalid": 1, "malformed": 3}
        for f in bad:
            path = os.path.join(here, "bad", f)
            want = comment(path, "dtd")
            rc, out, err = run([a.dtd_check, dtd, path])
            result(want in codes and rc == codes[want], "dtd: bad/%s is %s for the DTD" % (f, want),
                   "dtd-check exit status %d\n%s" % (rc, err))
    else:
        print("ok %d - dtd # SKIP no --dtd-check given" % (n + 1))
        globals()["n"] += 1

    # compatibility of versions
    cdir = os.path.join(here, "compat")
    base = os.path.join(cdir, "base.xml")
    for f in sorted(os.listdir(cdir)):
        if f == "base.xml" or not f.endswith(".xml"):
            continue
        path = os.path.join(cdir, f)
        rc, out, err = run(iig + ["compat", base, path])
        lines = err.strip("\n").split("\n")
        if f.startswith("ok-"):
            result(rc == 0 and not err, "compat: %s follows base.xml" % f, err)
            continue
        if a.regen and rc == 1 and len(lines) == 1 and lines[0].startswith(path + ":"):
            set_comment(path, "compat", "expect: " + lines[0][len(path):])
        want = comment(path, "compat")
        want = want[len("expect: "):] if want and want.startswith("expect: ") else None
        result(rc == 1 and want is not None and err == path + want + "\n",
               "compat: %s is refused: %s" % (f, want), "exit status %d, stderr:\n%s" % (rc, err))

    # the bounds, against the headers
    rc, out, err = run(iig + ["limits"])
    lim = dict(line.split(" ", 1) for line in out.strip().split("\n"))
    proto = open(os.path.join(a.source_root, "lib", "common", "proto.h")).read()
    uc = open(os.path.join(a.source_root, "include", "udk", "userclient.h")).read()
    udk = open(os.path.join(a.source_root, "include", "udk", "udk.h")).read()

    def define(text, name):
        m = re.search(r"#define %s (\w+)" % name, text)
        return int(m.group(1).rstrip("u"), 0) if m else None
    for mine, text, theirs in (("MAX_SCALARS", proto, "PROTO_MAX_SCALARS"),
                               ("MAX_INLINE_STRUCT", proto, "PROTO_MAX_INLINE_STRUCT"),
                               ("MAX_SCALARS", uc, "UDK_MAX_SCALARS"),
                               ("MAX_INLINE_STRUCT", uc, "UDK_MAX_INLINE_STRUCT"),
                               ("METHOD_VARIABLE", uc, "UDK_METHOD_VARIABLE")):
        v = define(text, theirs)
        result(v is not None and v == int(lim[mine], 0), "limits: udk-iig's %s is %s" % (mine, theirs),
               "udk-iig says %s, the header %s: update tools/udk-iig/udk-iig" % (lim.get(mine), v))
    client = open(os.path.join(a.source_root, "include", "udk", "client.h")).read()
    v = define(client, "UDK_MAX_CALL_RANGES")
    if v is None:
        # the typed calls expose memory only where libudk has udk_call_args
        print("ok %d - limits: udk-iig's MAX_CALL_RANGES is UDK_MAX_CALL_RANGES # SKIP client.h has no "
              "UDK_MAX_CALL_RANGES (no udk_call_args yet)" % (n + 1))
        globals()["n"] += 1
    else:
        result(v == int(lim["MAX_CALL_RANGES"]), "limits: udk-iig's MAX_CALL_RANGES is UDK_MAX_CALL_RANGES",
               "udk-iig says %s, client.h %s: update tools/udk-iig/udk-iig" % (lim["MAX_CALL_RANGES"], v))
    enum = re.search(r"enum udk_error \{(.*?)\};", udk, re.S).group(1)
    names = [x for x in re.findall(r"\b(UDK_E_[A-Z_]+)\b", enum) if x not in ("UDK_E_FIRST", "UDK_E_LAST")]
    names = list(dict.fromkeys(names))
    result(names == lim["UDK_ERRORS"].split(), "limits: udk-iig knows every UDK_E_ code of udk.h",
           "udk.h: %s\nudk-iig: %s\nupdate UDK_ERRORS in tools/udk-iig/udk-iig" % (names, lim["UDK_ERRORS"]))

    # command line
    with tempfile.TemporaryDirectory() as tmp:
        rc, out, err = run(iig + ["generate", os.path.join(here, "iigt.xml"), os.path.join(tmp, "foo.h")])
        result(rc == 1 and 'cannot tell what to write to "%s"' % os.path.join(tmp, "foo.h") in err
               and "iigt-protocol.h" in err, "cli: an output name it cannot place is refused", err)
        rc, out, err = run(iig + ["generate", os.path.join(here, "iigt.xml"), os.path.join(tmp, "iigt.md")])
        result(rc == 0 and os.listdir(tmp) == ["iigt.md"], "cli: only the outputs named are written",
               "%s %s" % (err, os.listdir(tmp)))
        rc, out, err = run(iig + ["check", os.path.join(tmp, "missing.xml")])
        result(rc == 1 and err.startswith(os.path.join(tmp, "missing.xml") + ": error: cannot read it"),
               "cli: a missing file is named", err)
    rc, out, err = run(iig + ["frobnicate"])
    result(rc == 2 and "udk-iig generate" in err, "cli: usage on a wrong command", err)
    rc, out, err = run(iig + ["--version"])
    result(rc == 0 and out.startswith("udk-iig "), "cli: --version", out + err)

    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
