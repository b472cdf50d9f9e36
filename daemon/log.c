/* SPDX-License-Identifier: MIT */
/* log.c - udkd's log: stderr with a timestamp, or syslog. */
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
udkd_log(struct udkd *d, int level, const char *source, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (d && level > d->cfg.log_level && !startswith(source, "bundle"))
		return;
	if (d && startswith(source, "bundle") && level > MAX(d->cfg.log_level, UDK_LOG_WARNING))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (use_syslog) {
		syslog(level, "%s: %s", source, msg);
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
			msg);
	}
}
