# Helpers for guest tests (sourced).  A guest test prints TAP on stdout:
#   plan N; ok "what"; not_ok "what"; skip "what" "why"; check "what" CMD...
# and may start a private udkd with udkd_start (stopped at exit).
set -u
B=$UDK_BUILD_ROOT
S=$UDK_SOURCE_ROOT
T=$(mktemp -d /tmp/udk-guest-test.XXXXXX)
chmod 755 "$T"
n=0
plan() { echo "1..$1"; }
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check "what" command...: ok when the command succeeds
check() {
	what=$1
	shift
	if "$@" >>"$T/check.out" 2>&1; then ok "$what"; else not_ok "$what"; tail -n 20 "$T/check.out" | sed 's/^/# /'; fi
}
# contains FILE TEXT: TEXT occurs in FILE, else the file goes to the log
contains() {
	if grep -qF -- "$2" "$1"; then return 0; fi
	echo "# expected \"$2\" in $1:" >&2
	sed 's/^/#   /' "$1" >&2
	return 1
}
note() { echo "# $*"; }

udkd_pid=""
udkd_stop() {
	[ -n "$udkd_pid" ] || return 0
	kill "$udkd_pid" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$udkd_pid" 2>/dev/null || break; sleep 0.5; done
	kill -9 "$udkd_pid" 2>/dev/null
	udkd_pid=""
}
cleanup() {
	udkd_stop
	[ -f "$T/udkd.log" ] && sed 's/^/udkd: /' "$T/udkd.log" >&2
	rm -rf "$T"
}
trap cleanup EXIT
# killed at the timeout (runner.sh's timeout signals the whole process group):
# say what udkd logged before anything else, since the KILL follows in 5 s and
# stopping udkd may take longer; then the EXIT trap cleans up
killed_at_timeout() {
	echo "# killed at the timeout; udkd log:" >&2
	[ -f "$T/udkd.log" ] && sed 's/^/udkd: /' "$T/udkd.log" >&2
	rm -f "$T/udkd.log"
	exit 124
}
trap killed_at_timeout TERM INT

# udkd_start ARGS...: a private udkd with its own runtime and state
# directories, developer mode on (the build's bundles are not signed), the
# build's example bundles; waits until it answers.
udkd_start() {
	mkdir -p "$T/run" "$T/state"
	echo on >"$T/state/developer-mode"
	"$B/daemon/udkd" --runtime-dir "$T/run" --state-dir "$T/state" --bundles "$B/drivers" \
		--restart-base-ms 20 "$@" >"$T/udkd.log" 2>&1 &
	udkd_pid=$!
	# TCG on a loaded host can take tens of seconds to scan the bundles
	if "$B/tools/udkctl" --runtime-dir "$T/run" --wait 60 status >/dev/null 2>&1; then return 0; fi
	echo "# udkd did not answer within 60 s; its log:" >&2
	sed 's/^/#   /' "$T/udkd.log" >&2
	return 1
}
udkctl() { "$B/tools/udkctl" --runtime-dir "$T/run" "$@"; }
# wait_for SECONDS CMD...: until the command succeeds
wait_for() {
	s=$1
	shift
	i=0
	while [ $i -lt $((s * 5)) ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}
