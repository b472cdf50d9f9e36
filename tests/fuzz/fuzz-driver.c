/* SPDX-License-Identifier: MIT */
/*
 * The driver->udkd handlers (daemon/launcher.c, through the table generated
 * from lib/common/proto.xml), driven in process as fuzz-control drives the
 * control socket: a udkd with a real registry (services from a machine
 * description), trust store, access and power state, and one driver
 * process whose instance runs on widget0.  udkd's end of the driver's
 * socket pair is read as on_sock() reads it, and every message goes to
 * launcher_handle_message().  Each input is a sequence of at most
 * MAX_FRAMES frames:
 *
 *	u8 kind, u16 length (little endian), length bytes
 *
 *   kind & 1 == 0   the bytes are sent as one datagram, header and all
 *   kind & 1 == 1   the first 8 bytes are {u16 op, u16 flags, u32 serial},
 *                   the rest the payload; the header's size is made right
 *   kind & 2        the message carries a descriptor (of /dev/null)
 *
 * After each frame the replies are read and dropped and udkd's loop runs
 * until idle (bounded).  Then the services the driver published are
 * terminated, as when a driver dies, so inputs do not add up.  Anything
 * that crashes, leaks or hangs here is a bug a sandboxed driver could
 * trigger in the root daemon.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "family.h"
#include "fuzz-udkd.h"
#include "outbox.h"
#include "proto.h"
#include "quota.h"
#include "udkd.h"
#include "util.h"
#include "wire.h"
#include "work.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAMES 32

static struct udkd d;


static struct driver_proc *proc;
static struct service *instance;

static void
setup(void)
{
	struct udk_value *classes = udk_value_new_array();
	struct service *widget;

	fuzz_udkd_init(&d, "driver");
	widget = service_by_path(&d, "IOService:/widget0");
	if (!widget)
		for (size_t i = 0; i < d.reg.n_all && !widget; i++)
			if (streq(d.reg.all[i]->name, "widget0"))
				widget = d.reg.all[i];
	if (!widget)
		abort();
	proc = calloc(1, sizeof(*proc));
	if (!proc)
		abort();
	proc->refcount = 1;
	proc->d = &d;
	proc->kind = PROC_KIND_DRIVER;
	proc->label = strdup("org.udk.fuzz.driver");
	proc->pidfd = proc->sock = proc->log_fd = -1;	/* pid 0: proc_kill() signals nothing */
	proc->state = PROC_RUNNING;
	proc->provider = widget;
	outbox_init(&proc->out);
	udk_array_append_take(classes, udk_value_new_string("FuzzDriver"));
	if (service_new(&d, widget, "FuzzDriver", classes, NULL, &instance) < 0)
		abort();
	udk_value_unref(classes);
	instance->owner = proc;
	instance->istate = INST_RUNNING;
	proc->instance = instance;
	service_register(&d, instance);
	fuzz_udkd_settle(&d);
}

static void
send_frame(int fd, uint8_t kind, const uint8_t *p, size_t len)
{
	union {
		struct cmsghdr align;
		char c[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct wire_header h;
	uint8_t *msg = NULL;
	int nfd = -1;

	if (kind & 1) {
		if (len < 8)
			return;
		memset(&h, 0, sizeof(h));
		memcpy(&h.op, p, 2);
		memcpy(&h.flags, p + 2, 2);
		memcpy(&h.serial, p + 4, 4);
		h.flags &= (uint16_t)~WIRE_F_LARGE;
		h.size = (uint32_t)(WIRE_HEADER_SIZE + len - 8);
		msg = malloc(h.size);
		if (!msg)
			return;
		memcpy(msg, &h, sizeof(h));
		if (len > 8)
			memcpy(msg + WIRE_HEADER_SIZE, p + 8, len - 8);
		iov = (struct iovec){ msg, h.size };
	} else {
		if (!len)
			return;
		iov = (struct iovec){ (void *)p, len };
	}
	if ((kind & 2) && (nfd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		struct cmsghdr *c;
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.c;
		mh.msg_controllen = sizeof(control.c);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &nfd, sizeof(int));
	}
	sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (nfd >= 0)
		close(nfd);
	free(msg);
}

/* What on_sock() does with what the driver sent: bounded, as there. */
static void
serve(void)
{
	for (int i = 0; i < 64 && proc->state != PROC_DEAD; i++) {
		struct wire_msg m;
		int r = wire_recv(proc->sock, &m, true);

		if (r == -EAGAIN)
			break;
		if (r == -EBADMSG)
			continue; /* on_sock() kills the driver; nothing was handled */
		if (r < 0)
			break;
		launcher_handle_message(&d, proc, &m);
		wire_msg_clear(&m);
	}
}

/* The driver is gone as far as this input goes: what it published goes too. */
static void
forget_published(void)
{
	struct service **mine = calloc(d.reg.n_all + 1, sizeof(*mine));
	size_t n = 0;

	if (!mine)
		abort();
	for (size_t i = 0; i < d.reg.n_all; i++)
		if (d.reg.all[i]->owner == proc && d.reg.all[i] != instance &&
		    d.reg.all[i]->state != SVC_TERMINATED)
			mine[n++] = service_ref(d.reg.all[i]);
	for (size_t i = 0; i < n; i++) {
		service_terminate(&d, mine[i], "fuzz input done");
		service_unref(mine[i]);
	}
	free(mine);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	int sv[2];
	size_t off = 0;

	if (!ready) {
		setup();
		ready = true;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	proc->sock = sv[0];
	proc->kill_sent = false;
	proc->kill_code = 0;
	for (int n = 0; n < MAX_FRAMES && size - off >= 3; n++) {
		uint8_t kind = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		off += 3;
		len = MIN(len, size - off);
		send_frame(sv[1], kind, data + off, len);
		off += len;
		serve();
		fuzz_udkd_settle(&d);
		fuzz_drain(sv[1]);
	}
	forget_published();
	fuzz_udkd_settle(&d);
	outbox_clear(&proc->out);
	proc->sock = -1;
	close(sv[0]);
	close(sv[1]);
	return 0;
}
