/* SPDX-License-Identifier: MIT */
/* fuzz-udkd.c - the in-process udkd the handler fuzz targets share (fuzz-udkd.h). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "family.h"
#include "fuzz-udkd.h"
#include "quota.h"
#include "util.h"
#include "wire.h"
#include "work.h"

static const char machine[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>Services</key><array>"
	"<dict><key>Name</key><string>widget0</string><key>Class</key><string>UDKTestDevice</string>"
	"<key>Properties</key><dict><key>Color</key><string>blue</string><key>Size</key><integer>3</integer>"
	"</dict><key>Children</key><array><dict><key>Name</key><string>part</string><key>Class</key>"
	"<string>UDKTestPart</string></dict></array></dict>"
	"<dict><key>Name</key><string>widget1</string><key>Class</key><string>UDKTestDevice</string></dict>"
	"</array></dict></plist>\n";

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

void
fuzz_udkd_init(struct udkd *d, const char *name)
{
	char state[96], path[160];

	d->cfg = (struct udkd_config){
		.start_timeout_ms = 10000,
		.stop_timeout_ms = 3000,
		.request_timeout_ms = 5000,
		.restart_base_ms = 200,
		.restart_max_ms = 30000,
		.crash_limit = 5,
		.stable_ms = 30000,
		.log_level = UDK_LOG_ERROR,
		.power_timeout_ms = 5000,
	};
	d->listen_fd = d->signal_fd = d->inotify_fd = -1;
	snprintf(state, sizeof(state), "/tmp/udk-fuzz-%s-XXXXXX", name);
	if (!mkdtemp(state))
		abort();
	d->trust.state_dir = strdup(state);
	d->runtime_dir = strdup(state);
	d->socket_path = strdup("/nonexistent/udkd.sock");
	/* as main() does */
	if (loop_new(&d->loop) < 0 || work_new(d->loop, &d->work) < 0 || registry_init(d) < 0 || families_init(d) < 0 ||
	    trust_init(d) < 0 || access_init(d) < 0 || power_init(d) < 0 || quota_new(&d->quota) < 0)
		abort();
	quota_fd_refill(d->quota);
	service_register(d, d->reg.user_resources);
	snprintf(path, sizeof(path), "%s/machine.plist", state);
	write_file(path, machine);
	if (machine_load(d, path) < 0)
		abort();
	unlink(path);
}

void
fuzz_udkd_settle(struct udkd *d)
{
	for (int i = 0; i < 8; i++)
		loop_run_once(d->loop, 0);
}

void
fuzz_drain(int fd)
{
	static uint8_t buf[WIRE_HEADER_SIZE + WIRE_MAX_INLINE + 1];
	union {
		struct cmsghdr align;
		char c[CMSG_SPACE(sizeof(int) * (WIRE_MAX_FDS + 1))];
	} control;

	for (int i = 0; i < 256; i++) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.c,
				     .msg_controllen = sizeof(control.c) };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
				for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++)
					close(((int *)CMSG_DATA(c))[k]);
	}
}
