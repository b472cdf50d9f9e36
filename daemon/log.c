/* SPDX-License-Identifier: MIT */
/*
 * log.c - udkd's log: stderr with a timestamp, or syslog.
 *
 * One call is one line.  Much of what is logged comes from peers: client
 * names, paths, driver output, reasons from drivers.  A newline in any of
 * them would start a line of the peer's choosing ("12:00:00.000 notice
 * udkd: granted ..."), and terminal escapes would rewrite what an
 * administrator sees.  So every control character of the message is
 * escaped here, once, for every caller: \n, \r, \t, \\ and \xHH.
 */
#include <syslog.h>

#include "udkd.h"
#include "util.h"

static bool use_syslog;

void
log_open_syslog(void)
{
	openlog("udkd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = true;
}

void
log_escape(const char *in, char *out, size_t out_len)
{
	size_t o = 0;

	if (!out_len)
		return;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char esc[8];
		size_t n;

		if (*p == '\n')
			n = (size_t)snprintf(esc, sizeof(esc), "\\n");
		else if (*p == '\r')
			n = (size_t)snprintf(esc, sizeof(esc), "\\r");
		else if (*p == '\t')
			n = (size_t)snprintf(esc, sizeof(esc), "\\t");
		else if (*p == '\\')
			n = (size_t)snprintf(esc, sizeof(esc), "\\\\");
		else if (*p < 0x20 || *p == 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p);
		else
			esc[0] = (char)*p, esc[1] = 0, n = 1;
		if (o + n >= out_len)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
}

void
udkd_log(struct udkd *d, int level, const char *source, const char *fmt, ...)
{
	char msg[2048], safe[2048];
	va_list ap;

	if (d && level > d->cfg.log_level && !startswith(source, "bundle"))
		return;
	if (d && startswith(source, "bundle") && level > MAX(d->cfg.log_level, UDK_LOG_WARNING))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_escape(msg, safe, sizeof(safe));
	if (use_syslog) {
		syslog(level, "%s: %s", source, safe);
		return;
	}
	{
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %-7s %s: %s\n", when, ts.tv_nsec / 1000000, udk_log_level_name(level), source,
			safe);
	}
}
