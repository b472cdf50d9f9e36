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

#include "systemd.h"
#include "udkd.h"
#include "util.h"

static bool use_syslog;
static int journal_fd = -1;

void
log_open_syslog(void)
{
	openlog("udkd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = true;
}

/*
 * The journal's native protocol (systemd.c): each entry carries fields,
 * so `journalctl -u udkd UDK_DRIVER=org.example.thermo` shows one
 * driver's lines.  Lines the journal does not take go to stderr.
 */
int
log_open_journal(const char *socket_path)
{
	int fd = journal_connect(socket_path);

	if (fd < 0)
		return fd;
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = fd;
	use_syslog = false;
	return 0;
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

/* One escaped line from @source, with journal fields (NULL-terminated "KEY=value" list) if any. */
static void
log_emit(int level, const char *source, const char *safe, const char *const *fields)
{
	if (journal_fd >= 0) {
		char line[2400];
		const char *f[8];
		size_t n = 0;
		char src[320];
		snprintf(line, sizeof(line), "%s: %s", source, safe);
		snprintf(src, sizeof(src), "UDK_SOURCE=%s", source);
		f[n++] = src;
		for (size_t i = 0; fields && fields[i] && n < ARRAY_SIZE(f); i++)
			f[n++] = fields[i];
		if (journal_send(journal_fd, level, line, f, n) == 0)
			return;
	}
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
	log_emit(level, source, safe, NULL);
}

void
udkd_log_proc(int level, const char *source, const char *identifier, bool model, pid_t pid, const char *msg)
{
	char safe[2048], ident[256], id[300], p[40];
	const char *fields[] = { id, p, NULL };

	log_escape(msg, safe, sizeof(safe));
	/* a validated bundle identifier or a model's name: escaped all the same */
	log_escape(identifier ? identifier : "", ident, sizeof(ident));
	snprintf(id, sizeof(id), "%s=%s", model ? "UDK_DEVICE_MODEL" : "UDK_DRIVER", ident);
	snprintf(p, sizeof(p), "%s=%d", model ? "UDK_DEVICE_MODEL_PID" : "UDK_DRIVER_PID", (int)pid);
	log_emit(level, source, safe, fields);
}
