/* SPDX-License-Identifier: MIT */
/* systemd.c - socket activation, readiness and the journal (see systemd.h). */
#include <endian.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "buf.h"
#include "systemd.h"
#include "udkd.h"
#include "util.h"

int
systemd_listen_fd(const char *path)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	uint64_t pid, n;
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int type = 0, listening = 0, fd = SYSTEMD_LISTEN_FDS_START;
	socklen_t ol = sizeof(int);

	if (!pid_s || !fds_s)
		return -1;
	if (parse_u64(pid_s, &pid) < 0 || pid != (uint64_t)getpid())
		return -1; /* meant for another process */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (parse_u64(fds_s, &n) < 0 || n == 0)
		return -1;
	if (n != 1)
		return udk_set_reason(-EINVAL,
				      "systemd passed %s sockets; udkd listens on one: give udkd.socket one "
				      "ListenSequentialPacket= line",
				      fds_s);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ol) < 0 || type != SOCK_SEQPACKET ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) < 0 || !listening ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX)
		return udk_set_reason(-EINVAL,
				      "the socket systemd passed is not a listening AF_UNIX SOCK_SEQPACKET socket: use "
				      "ListenSequentialPacket=%s in udkd.socket",
				      path);
	if (len <= offsetof(struct sockaddr_un, sun_path) ||
	    strncmp(sa.sun_path, path, len - offsetof(struct sockaddr_un, sun_path)) != 0 ||
	    strlen(path) != strnlen(sa.sun_path, len - offsetof(struct sockaddr_un, sun_path)))
		return udk_set_reason(-EINVAL,
				      "systemd passed a socket at %.*s, but udkd's socket is %s: make "
				      "ListenSequentialPacket= in udkd.socket and udkd's --runtime-dir agree",
				      (int)(len - offsetof(struct sockaddr_un, sun_path)), sa.sun_path, path);
	fd_set_cloexec(fd, true);
	fd_set_nonblock(fd, true);
	return fd;
}

void
systemd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || (n = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0; /* abstract */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	close(fd);
}

bool
journal_stream_is_stderr(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int
journal_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path)
		path = "/run/systemd/journal/socket";
	if (strlen(path) >= sizeof(sa.sun_path))
		return udk_set_reason(-ENAMETOOLONG, "journal socket path %s is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return udk_set_reason(r, "cannot reach the journal at %s: %s", path, strerror(-r));
	}
	return fd;
}

/* KEY=value, or KEY\n<64-bit little-endian length>value for values with a newline */
static void
put_field(struct buf *b, const char *key, size_t key_len, const char *value, size_t value_len)
{
	if (!memchr(value, '\n', value_len)) {
		buf_append(b, key, key_len);
		buf_putc(b, '=');
		buf_append(b, value, value_len);
	} else {
		uint64_t le = htole64((uint64_t)value_len);
		buf_append(b, key, key_len);
		buf_putc(b, '\n');
		buf_append(b, &le, sizeof(le));
		buf_append(b, value, value_len);
	}
	buf_putc(b, '\n');
}

static bool
valid_key(const char *k, size_t n)
{
	/* journald: A-Z, 0-9 and _, not starting with _ (trusted fields), at most 64 */
	if (n == 0 || n > 64 || k[0] == '_' || (k[0] >= '0' && k[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return false;
	return true;
}

int
journal_format(int priority, const char *message, const char *const *fields, size_t n_fields, char **ret,
	       size_t *ret_len)
{
	char prio[4];
	struct buf b;

	buf_init(&b, 64 * 1024);
	snprintf(prio, sizeof(prio), "%d", priority < 0 ? 0 : priority > 7 ? 7 : priority);
	put_field(&b, "PRIORITY", 8, prio, strlen(prio));
	put_field(&b, "SYSLOG_FACILITY", 15, "3", 1); /* daemon */
	put_field(&b, "SYSLOG_IDENTIFIER", 17, "udkd", 4);
	put_field(&b, "MESSAGE", 7, message, strlen(message));
	for (size_t i = 0; i < n_fields; i++) {
		const char *eq = fields[i] ? strchr(fields[i], '=') : NULL;
		if (!eq || !valid_key(fields[i], (size_t)(eq - fields[i])))
			continue;
		put_field(&b, fields[i], (size_t)(eq - fields[i]), eq + 1, strlen(eq + 1));
	}
	if (b.err) {
		int r = b.err;
		buf_free(&b);
		return r;
	}
	*ret_len = b.len;
	*ret = (char *)b.p;
	return 0;
}

int
journal_send(int fd, int priority, const char *message, const char *const *fields, size_t n_fields)
{
	char *entry = NULL;
	size_t len = 0;
	int r = journal_format(priority, message, fields, n_fields, &entry, &len);

	if (r < 0)
		return r;
	/* never block udkd's loop on the journal: a full socket drops the entry */
	r = send(fd, entry, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
	free(entry);
	return r;
}
