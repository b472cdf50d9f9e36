#!/bin/sh
# protocol.sh - udk's messages have one definition (lib/common/proto.xml)
# and docs/protocol.md is generated from it by tools/udk-idl (issue 10).
# Checks, in TAP:
#   1. proto.xml is well formed and passes udk-idl's checks;
#   2. docs/protocol.md equals what udk-idl generates (regenerate with
#      `ninja -C BUILD protocol-doc`);
#   3. a family's own definition (docs/families.md, "A family's
#      messages") generates code that compiles with udk's warnings, and
#      an op outside the family's range is refused;
#   4..: udk-idl refuses a broken definition with the file, the line and
#      what to change (a number taken twice, an unknown type, a oneway op
#      with a reply, an op in the families' range).
set -u
root=${UDK_SOURCE_ROOT:-$(dirname "$0")/../..}
cd "$root" || exit 1
idl=tools/udk-idl/udk-idl
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; shift; for l in "$@"; do printf "%s\n" "$l" | sed "s/^/# /"; done; }

if out=$(python3 "$idl" check lib/common/proto.xml 2>&1); then
	ok "lib/common/proto.xml passes udk-idl check"
else
	notok "lib/common/proto.xml passes udk-idl check" "$out"
fi

if python3 "$idl" generate lib/common/proto.xml "$tmp/protocol.md" && cmp -s "$tmp/protocol.md" docs/protocol.md; then
	ok "docs/protocol.md equals what udk-idl generates from lib/common/proto.xml"
else
	notok "docs/protocol.md equals what udk-idl generates from lib/common/proto.xml" \
		"regenerate it: ninja -C BUILD protocol-doc" "$(diff -u docs/protocol.md "$tmp/protocol.md" | head -20)"
fi

# a family's definition, as docs/families.md shows it
cat >"$tmp/proto-demo.xml" <<'XML'
<protocol name="demo" family="demo" first="1700" count="100" version="1">
  <channel name="demo" summary="the demo family's messages" handlers="udkd" peer="struct driver_proc">
    <op name="DEMO_PORT_CREATE" value="1700" from="driver" to="udkd" summary="make a port">
      <request>
        <field name="object" type="uint" required="yes"/>
        <field name="base" type="string" max="32"/>
      </request>
      <reply>
        <field name="port" type="uint" required="yes"/>
      </reply>
    </op>
    <op name="DEMO_PORT_STATUS" from="udkd" to="driver" oneway="yes" summary="a port's state">
      <request>
        <field name="port" type="uint" required="yes"/>
      </request>
    </op>
  </channel>
</protocol>
XML
cat >"$tmp/use.c" <<'C'
#include "proto-demo-table.h"
struct driver_proc { int x; };
int use(const struct udk_value *body);
static void
handle_demo_demo_port_create(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
			     const struct proto_demo_port_create_req *req)
{
	(void)d; (void)p; (void)m; (void)req;
}
int
use(const struct udk_value *body)
{
	union proto_demo_req req;
	const struct proto_demo_handler *h = proto_demo_handler(OP_DEMO_PORT_CREATE);
	return h && h->info->op == 1700 && h->info->decode(body, &req, NULL, 0) == 0;
}
C
cc=${CC:-cc}
if out=$(python3 "$idl" generate lib/common/proto.xml "$tmp/proto-ops.h" 2>&1 &&
	python3 "$idl" generate "$tmp/proto-demo.xml" "$tmp/proto-demo-ops.h" "$tmp/proto-demo-ops.c" \
		"$tmp/proto-demo-table.h" "$tmp/demo.md" 2>&1 &&
	for c in "$tmp/proto-demo-ops.c" "$tmp/use.c"; do
		"$cc" -std=c17 -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow -Wformat=2 -Wstrict-prototypes \
			-I"$tmp" -Ilib/common -Iinclude -c "$c" -o "$tmp/x.o" || exit 1
	done 2>&1); then
	ok "a family's own definition generates code that compiles (proto-demo-ops.c, proto-demo-table.h)"
else
	notok "a family's own definition generates code that compiles" "$out"
fi
sed 's/value="1700"/value="1900"/' "$tmp/proto-demo.xml" >"$tmp/bad-range.xml"
if out=$(python3 "$idl" check "$tmp/bad-range.xml" 2>&1); then
	notok "udk-idl refuses a family op outside the family's range" "it accepted it"
elif printf '%s' "$out" | grep -q "bad-range.xml:3: error: op DEMO_PORT_CREATE = 1900 is outside family demo's range 1700..1799"; then
	ok "udk-idl refuses a family op outside the family's range: $out"
else
	notok "udk-idl refuses a family op outside the family's range, naming the line" "$out"
fi

# refuse BODY EXPECTED: a definition made of BODY must be refused with a
# message containing EXPECTED (and its line number)
refuse() {
	what=$1
	want=$2
	printf '<protocol name="t" version="1">\n<channel name="c" summary="s">\n%s\n</channel>\n</protocol>\n' "$3" \
		>"$tmp/bad.xml"
	if out=$(python3 "$idl" check "$tmp/bad.xml" 2>&1); then
		notok "udk-idl refuses $what" "it accepted the definition"
	elif printf '%s' "$out" | grep -q "bad.xml:[0-9]*: error: .*$want"; then
		ok "udk-idl refuses $what: $out"
	else
		notok "udk-idl refuses $what, naming the line and \"$want\"" "$out"
	fi
}
refuse "a number taken twice" "takes number 5, which op A" \
	'<op name="A" value="5" from="app" to="udkd" summary="a"/><op name="B" value="5" from="app" to="udkd" summary="b"/>'
refuse "an unknown field type" 'has type "integer"; use one of int' \
	'<op name="A" value="5" from="app" to="udkd" summary="a"><request><field name="x" type="integer"/></request></op>'
refuse "a oneway op with a reply" "is oneway and has a <reply>" \
	'<op name="A" value="5" from="app" to="udkd" oneway="yes" summary="a"><reply/></op>'
refuse "an op in the families' range" "families' range" \
	'<op name="A" value="1000" from="driver" to="udkd" summary="a"/>'
refuse "a field listed twice" 'field "x" of op A is listed twice' \
	'<op name="A" value="5" from="app" to="udkd" summary="a"><request><field name="x" type="int"/><field name="x" type="int"/></request></op>'

echo "1..$n"
exit $fail
