/* SPDX-License-Identifier: MIT */
/*
 * serial/daemon/serial.c - the serial family's udkd side (daemon/family.h).
 *
 * Classes: IOUserSerial and IOUserUSBSerial as DriverKit names them, and
 * IOSerialBSDClient, the registry entry of a port's names.  Entitlement:
 * family.serial; no bundle without it can run as, publish or match them.
 *
 * Ports: a driver running as IOUserSerial asks for a port
 * (OP_SERIAL_PORT_CREATE).  udkd, not the driver, makes the terminal and
 * its names: it opens a pty pair, makes the slave rw for root and the
 * dialout group, and links tty.BASE-SUFFIX (call-in) and cu.BASE-SUFFIX
 * (call-out) to it in the device directory (/dev as root, --dev-dir
 * otherwise).  The driver gets the master and the slave and nothing that
 * lets it name or create a device node.  A name another port holds gets
 * the next suffix, as IOSerialBSDClient does, and the log says so.
 *
 * When the port goes (the driver destroys it, stops, dies, or its device
 * is unplugged) udkd removes the names and hangs the slave up (TIOCVHANGUP)
 * so an app reading or writing it gets a hang-up at once, not a hang.
 *
 * The CUSE backend (where the kernel has /dev/cuse and udkd is root, or
 * --serial-backend cuse): udkd opens /dev/cuse twice and answers each
 * CUSE_INIT itself, with DEVNAME=tty.NAME and DEVNAME=cu.NAME, so the
 * kernel makes /dev/tty.NAME and /dev/cu.NAME as character devices; the
 * driver gets the two descriptors, already initialised, and serves the
 * FUSE requests (open, read, write, poll, the tty ioctls) from its rings
 * (driver/cuse.c).  It cannot name a device: the naming reply is udkd's.
 * udkd keeps no copy of the descriptors: the devices go when the driver
 * closes them (destroy, stop, death).
 *
 * Everything here is a few non-blocking system calls on udkd's loop; the
 * bytes never pass through udkd.  docs/families/serial.md has the rest.
 */
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "family.h"
#include "../proto-serial.h"
#include "serial-config.h"
#include "serial-msg.h"
#include "udkd.h"
#include "util.h"

extern const struct udkd_family udkd_family_serial;

struct serial_port {
	struct serial_port *next;
	uint64_t id;
	struct driver_proc *proc;	/* reference */
	struct service *instance;	/* the driver's service (reference) */
	struct service *client;		/* its IOSerialBSDClient (reference) */
	char *name;			/* "mycustombasename-123" */
	char *dialin, *callout;		/* full paths */
	char *pts;			/* "/dev/pts/7" */
	int peer_fd;			/* the slave, to hang it up at the end */
	int watch;			/* inotify watch of the pts node, or -1 */
	bool published;			/* names linked, IOSerialBSDClient registered */
	bool cuse;			/* CUSE devices, not a pty */
	char *base, *suffix;
};

struct serial_state {
	char *dev_dir;
	int dev_fd;
	struct serial_port *ports;
	uint64_t next_id;
	gid_t gid;			/* dialout, or -1 */
	int inotify_fd;			/* closes of the ports' pts nodes */
	struct loop_source *inotify_src;
	unsigned created, collisions;
	char *backend;			/* --serial-backend: "auto" (NULL), "pty", "cuse" */
	bool backend_logged;		/* the choice was logged */
};

static struct serial_state *
state(struct udkd *d)
{
	struct serial_state *st = udkd_family_state(d, &udkd_family_serial);

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return NULL;
		st->dev_fd = -1;
		st->inotify_fd = -1;
		st->gid = (gid_t)-1;
		st->next_id = 1;
		udkd_family_set_state(d, &udkd_family_serial, st);
	}
	return st;
}

/* ---- names ---- */

static struct serial_port *
port_named(struct serial_state *st, const char *name)
{
	for (struct serial_port *p = st->ports; p; p = p->next)
		if (streq(p->name, name))
			return p;
	return NULL;
}

/* Whether dev_dir/@entry is in use by something that is not a stale link of ours. */
static bool
entry_busy(struct serial_state *st, const char *entry)
{
	struct stat sb;
	char target[256];
	ssize_t n;

	if (fstatat(st->dev_fd, entry, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (!S_ISLNK(sb.st_mode))
		return true;
	n = readlinkat(st->dev_fd, entry, target, sizeof(target) - 1);
	if (n <= 0)
		return true;
	target[n] = 0;
	/* a link into /dev/pts whose pty is gone was left by an earlier udkd */
	if (!strncmp(target, "/dev/pts/", 9) && access(target, F_OK) < 0) {
		unlinkat(st->dev_fd, entry, 0);
		return false;
	}
	return true;
}

static bool
name_free(struct serial_state *st, const char *name)
{
	char a[128], b[128];

	snprintf(a, sizeof(a), "tty.%s", name);
	snprintf(b, sizeof(b), "cu.%s", name);
	return !port_named(st, name) && !entry_busy(st, a) && !entry_busy(st, b);
}

static char *
compose(const char *base, const char *suffix)
{
	return *suffix ? strdup_printf("%s-%s", base, suffix) : strdup(base);
}

/*
 * The name for @base and @suffix, or the next free one: a numeric suffix
 * counts up (123 -> 124), any other gets a number appended (as
 * IOSerialBSDClient does).  NULL when 1000 tries are taken.
 */
static char *
pick_name(struct serial_state *st, const char *base, const char *suffix, char **ret_suffix)
{
	char *name = compose(base, suffix);

	if (name && name_free(st, name)) {
		*ret_suffix = strdup(suffix);
		return name;
	}
	free(name);
	for (unsigned i = 1; i < 1000; i++) {
		char next[64];

		if (serial_suffix_numeric(suffix))
			snprintf(next, sizeof(next), "%llu", strtoull(suffix, NULL, 10) + i);
		else
			snprintf(next, sizeof(next), "%s%u", suffix, i);
		name = compose(base, next);
		if (name && name_free(st, name)) {
			*ret_suffix = strdup(next);
			return name;
		}
		free(name);
	}
	return NULL;
}

/* IOTTYBaseName / IOTTYSuffix: the request, the personality, the provider. */
static const char *
name_part(struct driver_proc *p, const struct udk_value *body, const char *req_key, const char *key, char *buf,
	  size_t len)
{
	const struct udk_value *sources[3] = {
		udk_dict_get(body, req_key),
		p->personality ? udk_dict_get(p->personality->dict, key) : NULL,
		p->provider ? udk_dict_get(p->provider->props, key) : NULL,
	};

	for (int i = 0; i < 3; i++) {
		const struct udk_value *v = sources[i];
		if (udk_value_get_type(v) == UDK_VALUE_STRING)
			return udk_value_get_string(v);
		if (udk_value_get_type(v) == UDK_VALUE_INT) {
			snprintf(buf, len, "%lld", (long long)udk_value_get_int(v, 0));
			return buf;
		}
	}
	return NULL;
}

/* ---- ports ---- */

static void
port_free(struct udkd *d, struct serial_state *st, struct serial_port *port, const char *why)
{
	char entry[128];

	for (struct serial_port **pp = &st->ports; *pp; pp = &(*pp)->next)
		if (*pp == port) {
			*pp = port->next;
			break;
		}
	if (port->published && !port->cuse) {
		snprintf(entry, sizeof(entry), "tty.%s", port->name);
		unlinkat(st->dev_fd, entry, 0);
		snprintf(entry, sizeof(entry), "cu.%s", port->name);
		unlinkat(st->dev_fd, entry, 0);
	}
	if (port->watch >= 0)
		inotify_rm_watch(st->inotify_fd, port->watch);
	if (port->peer_fd >= 0) {
		/* apps that have the port open get a hang-up now, even if the
		 * driver process lingers (needs CAP_SYS_ADMIN; else it comes
		 * when the driver's master closes) */
		ioctl(port->peer_fd, TIOCVHANGUP);
		close(port->peer_fd);
	}
	if (port->published)
		log_info(d, "serial port %s removed (%s): %s and %s are gone", port->name, why, port->dialin,
			 port->callout);
	if (port->client && port->client->state != SVC_TERMINATED)
		service_terminate(d, port->client, why);
	service_unref(port->client);
	service_unref(port->instance);
	proc_unref(port->proc);
	free(port->name);
	free(port->dialin);
	free(port->callout);
	free(port->pts);
	free(port->base);
	free(port->suffix);
	free(port);
}

static int
open_dev_dir(struct udkd *d, struct serial_state *st)
{
	if (st->dev_fd >= 0)
		return 0;
	if (!st->dev_dir) {
		st->dev_dir = geteuid() == 0 ? strdup("/dev") : strdup_printf("%s/dev", d->runtime_dir);
		if (!st->dev_dir)
			return -ENOMEM;
		if (geteuid() != 0)
			mkdir(st->dev_dir, 0755);
	}
	st->dev_fd = open(st->dev_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (st->dev_fd < 0)
		return udk_set_reason(-errno, "cannot open the device directory %s: %s; give udkd --dev-dir DIR",
				      st->dev_dir, strerror(errno));
	return 0;
}

/* ---- the CUSE backend ---- */

#define CUSE_READ_BUF (16u * 1024)	/* more than the kernel's minimum (8 KiB) */
#define CUSE_MAX_IO (64u * 1024)	/* max_read, max_write: bytes per request */

/* Whether ports become CUSE devices; the choice is logged once. */
static bool
want_cuse(struct udkd *d, struct serial_state *st)
{
	bool asked = st->backend && streq(st->backend, "cuse");
	const char *why = NULL;

	if (st->backend && streq(st->backend, "pty"))
		why = "--serial-backend pty";
	else if (!UDK_HAVE_CUSE)
		why = "udk was built without libfuse3 (scripts/deps.sh installs libfuse3-dev)";
	else if (geteuid() != 0)
		why = "udkd is not root";
	else if (!st->dev_dir || !streq(st->dev_dir, "/dev"))
		why = "CUSE devices are named in /dev only, and --dev-dir names another directory";
	else if (access("/dev/cuse", F_OK) < 0)
		why = "there is no /dev/cuse (the kernel lacks CUSE, or modprobe cuse)";
	if (!st->backend_logged) {
		st->backend_logged = true;
		if (!why)
			log_info(d, "serial: ports are CUSE character devices (/dev/cuse): the full tty ioctl set, "
				 "modem lines and break reach the driver");
		else if (asked)
			log_warning(d, "serial: --serial-backend cuse, but %s; ports are ptys", why);
		else
			log_info(d, "serial: ports are ptys: %s", why);
	}
	return !why;
}

/*
 * One CUSE device named @devname: open /dev/cuse and answer the CUSE_INIT
 * the kernel queues at once, with our name.  The kernel makes the device
 * (and devtmpfs its node) while it takes the reply.  Non-blocking.
 */
static int
cuse_make(struct serial_state *st, const char *devname, int *ret_fd, uint32_t *ret_minor)
{
	struct fuse_in_header ih;
	struct cuse_init_in in;
	struct fuse_out_header oh;
	struct cuse_init_out out;
	char info[128], *buf = NULL;
	struct iovec iov[3];
	struct stat sb;
	int fd, r, ilen;
	ssize_t n;

	fd = open("/dev/cuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return udk_set_reason(-errno, "cannot open /dev/cuse: %s", strerror(errno));
	buf = malloc(CUSE_READ_BUF);
	if (!buf) {
		r = -ENOMEM;
		goto fail;
	}
	n = read(fd, buf, CUSE_READ_BUF);
	if (n < (ssize_t)(sizeof(ih) + sizeof(in))) {
		r = udk_set_reason(n < 0 ? -errno : -EPROTO, "/dev/cuse gave no CUSE_INIT: %s",
				   n < 0 ? strerror(errno) : "a short request");
		goto fail;
	}
	memcpy(&ih, buf, sizeof(ih));
	memcpy(&in, buf + sizeof(ih), sizeof(in));
	if (ih.opcode != CUSE_INIT || in.major != FUSE_KERNEL_VERSION || in.minor < 11) {
		r = udk_set_reason(-EPROTO, "/dev/cuse spoke FUSE %u.%u (opcode %u); the serial family needs CUSE_INIT "
				   "of 7.11 or later", in.major, in.minor, ih.opcode);
		goto fail;
	}
	memset(&out, 0, sizeof(out));
	out.major = FUSE_KERNEL_VERSION;
	out.minor = MIN(in.minor, (uint32_t)FUSE_KERNEL_MINOR_VERSION);
	out.flags = CUSE_UNRESTRICTED_IOCTL;	/* the tty ioctls are not _IOC-encoded */
	out.max_read = CUSE_MAX_IO;
	out.max_write = CUSE_MAX_IO;
	ilen = snprintf(info, sizeof(info), "DEVNAME=%s", devname) + 1;
	oh.len = (uint32_t)(sizeof(oh) + sizeof(out) + (size_t)ilen);
	oh.error = 0;
	oh.unique = ih.unique;
	iov[0] = (struct iovec){ &oh, sizeof(oh) };
	iov[1] = (struct iovec){ &out, sizeof(out) };
	iov[2] = (struct iovec){ info, (size_t)ilen };
	n = writev(fd, iov, 3);
	if (n != (ssize_t)oh.len) {
		r = udk_set_reason(n < 0 ? -errno : -EIO, "/dev/cuse refused the CUSE_INIT reply for %s: %s", devname,
				   n < 0 ? strerror(errno) : "a short write");
		goto fail;
	}
	/* the kernel made the device while it took the reply; a name it
	 * refused (one taken) shows here */
	if (fstatat(st->dev_fd, devname, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISCHR(sb.st_mode)) {
		r = udk_set_reason(-EEXIST, "the kernel made no CUSE device /dev/%s (its log says why)", devname);
		goto fail;
	}
	free(buf);
	*ret_fd = fd;
	*ret_minor = out.minor;
	return 0;
fail:
	free(buf);
	close(fd);
	return r;
}

static void
reply_err(struct driver_proc *p, struct wire_msg *m, int code, const char *fmt, ...) UDK_PRINTF(4, 5);

static void
reply_err(struct driver_proc *p, struct wire_msg *m, int code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	proc_reply(p, m, code, msg, NULL, NULL, 0);
}

static void
port_create(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct serial_state *st = state(d);
	uint64_t object = udk_value_get_uint(udk_dict_get(m->body, "object"), 0);
	char bbuf[32], sbuf[32], why[200];
	const char *base, *suffix;
	char *name = NULL, *got_suffix = NULL, pts[64];
	struct udk_value *reply;
	struct serial_port *port;
	int master = -1, peer = -1, fds[2], r;
	unsigned n_ports = 0;
	bool cuse = false;
	uint32_t cuse_minor = 0;

	if (!st)
		return reply_err(p, m, -ENOMEM, "out of memory");
	if (!p->instance || object != p->instance->id || !service_is_a(p->instance, "IOUserSerial"))
		return reply_err(p, m, -UDK_E_UNSUPPORTED,
				 "only a driver running as IOUserSerial (IOClass IOUserSerial or IOUserUSBSerial) can "
				 "create serial ports, for its own service");
	for (struct serial_port *q = st->ports; q; q = q->next)
		n_ports += q->proc == p;
	if (n_ports >= 32)
		return reply_err(p, m, -ENOSPC, "a driver may have at most 32 serial ports");
	base = name_part(p, m->body, "base", "IOTTYBaseName", bbuf, sizeof(bbuf));
	suffix = name_part(p, m->body, "suffix", "IOTTYSuffix", sbuf, sizeof(sbuf));
	if (!base)
		base = "serial";
	if (!suffix)
		suffix = "";
	if (!serial_name_ok(base, false, why, sizeof(why)))
		return reply_err(p, m, -EINVAL, "the base name (IOTTYBaseName) %s", why);
	if (!serial_name_ok(suffix, true, why, sizeof(why)))
		return reply_err(p, m, -EINVAL, "the suffix (IOTTYSuffix) %s", why);
	if ((r = open_dev_dir(d, st)) < 0) {
		const char *reason = udk_error_reason();
		return reply_err(p, m, r, "%s", reason ? reason : "cannot open the device directory");
	}
	name = pick_name(st, base, suffix, &got_suffix);
	if (!name || !got_suffix) {
		free(name);
		free(got_suffix);
		return reply_err(p, m, -EEXIST, "every name from %s-%s on is taken", base, suffix);
	}

	if (want_cuse(d, st)) {
		char dev[2][128];
		uint32_t minor = 0;

		snprintf(dev[0], sizeof(dev[0]), "tty.%s", name);
		snprintf(dev[1], sizeof(dev[1]), "cu.%s", name);
		if ((r = cuse_make(st, dev[0], &master, &minor)) < 0 || (r = cuse_make(st, dev[1], &peer, &minor)) < 0) {
			const char *reason = udk_error_reason();
			log_warning(d, "serial port %s: %s; this port is a pty", name, reason ? reason : strerror(-r));
			if (master >= 0)
				close(master);	/* its device goes with it */
			master = -1;
		} else {
			cuse = true;
			cuse_minor = minor;
		}
	}
	if (cuse)
		goto made;
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (master < 0 || unlockpt(master) < 0 || ptsname_r(master, pts, sizeof(pts)) != 0) {
		r = -errno;
		reply_err(p, m, r, "cannot open a pty for the port: %s", strerror(errno));
		goto out;
	}
	peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (peer < 0) {
		r = -errno;
		reply_err(p, m, r, "cannot open the pty's slave: %s", strerror(errno));
		goto out;
	}
	if (geteuid() == 0) {
		/* as a UART's node: root and the dialout group */
		if (fchown(peer, 0, st->gid) < 0 || fchmod(peer, 0660) < 0)
			log_warning(d, "serial port %s: cannot set the owner of %s: %s", name, pts, strerror(errno));
	}
made:
	port = calloc(1, sizeof(*port));
	if (!port) {
		r = -ENOMEM;
		goto out;
	}
	port->cuse = cuse;
	port->id = st->next_id++;
	port->proc = proc_ref(p);
	port->instance = service_ref(p->instance);
	port->name = name;
	name = NULL;
	port->pts = cuse ? NULL : strdup(pts);
	port->base = strdup(base);
	port->suffix = strdup(got_suffix);
	port->dialin = strdup_printf("%s/tty.%s", st->dev_dir, port->name);
	port->callout = strdup_printf("%s/cu.%s", st->dev_dir, port->name);
	/* CUSE: udkd keeps no descriptor, so the devices go with the driver's */
	port->peer_fd = cuse ? -1 : fcntl(peer, F_DUPFD_CLOEXEC, 3);
	port->watch = !cuse && st->inotify_fd >= 0
			      ? inotify_add_watch(st->inotify_fd, pts, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)
			      : -1;
	port->next = st->ports;
	st->ports = port;
	st->created++;
	if (strcmp(got_suffix, suffix) != 0) {
		st->collisions++;
		log_notice(d, "serial port: %s%s%s is taken; %s gets %s, the next suffix (as IOSerialBSDClient does)",
			   base, *suffix ? "-" : "", suffix, p->bundle ? p->bundle->identifier : "a driver", port->name);
	}

	reply = udk_value_new_dict();
	udk_dict_set_uint(reply, "port", port->id);
	udk_dict_set_string(reply, "name", port->name);
	udk_dict_set_string(reply, "base", base);
	udk_dict_set_string(reply, "suffix", got_suffix);
	udk_dict_set_string(reply, "dialin", port->dialin);
	udk_dict_set_string(reply, "callout", port->callout);
	udk_dict_set_string(reply, "backend", cuse ? "cuse" : "pty");
	if (cuse) {
		udk_dict_set_uint(reply, "fuse_minor", cuse_minor);
		udk_dict_set_uint(reply, "max_io", CUSE_MAX_IO);
	}
	fds[0] = master;
	fds[1] = peer;
	proc_reply(p, m, 0, NULL, reply, fds, 2);
	udk_value_unref(reply);
out:
	if (master >= 0)
		close(master);
	if (peer >= 0)
		close(peer);
	free(name);
	free(got_suffix);
}

static void
port_publish(struct udkd *d, struct serial_state *st, struct driver_proc *p, struct wire_msg *m,
	     struct serial_port *port)
{
	struct udk_value *props;
	char entry[128];

	if (port->published)
		return proc_reply(p, m, 0, NULL, NULL, NULL, 0);
	if (port->cuse)
		goto devices_made;
	snprintf(entry, sizeof(entry), "tty.%s", port->name);
	if (symlinkat(port->pts, st->dev_fd, entry) < 0)
		return reply_err(p, m, -errno, "cannot make %s/%s: %s", st->dev_dir, entry, strerror(errno));
	snprintf(entry, sizeof(entry), "cu.%s", port->name);
	if (symlinkat(port->pts, st->dev_fd, entry) < 0) {
		int e = errno;
		reply_err(p, m, -e, "cannot make %s/%s: %s", st->dev_dir, entry, strerror(e));
		snprintf(entry, sizeof(entry), "tty.%s", port->name);
		unlinkat(st->dev_fd, entry, 0);
		return;
	}
devices_made:
	if (port->cuse) {
		/* the kernel made them root 0600; as a UART's node: root and
		 * the dialout group */
		for (int i = 0; i < 2; i++) {
			snprintf(entry, sizeof(entry), "%s.%s", i ? "cu" : "tty", port->name);
			if (fchownat(st->dev_fd, entry, 0, st->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
			    fchmodat(st->dev_fd, entry, 0660, 0) < 0)
				log_warning(d, "serial port %s: cannot set the owner of /dev/%s: %s", port->name, entry,
					    strerror(errno));
		}
	}
	port->published = true;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "IOTTYDevice", port->name);
	udk_dict_set_string(props, "IOTTYBaseName", port->base);
	udk_dict_set_string(props, "IOTTYSuffix", port->suffix);
	udk_dict_set_string(props, "IODialinDevice", port->dialin);
	udk_dict_set_string(props, "IOCalloutDevice", port->callout);
	udk_dict_set_string(props, "UDKSerialBackend", port->cuse ? "cuse" : "pty");
	if (port->pts)
		udk_dict_set_string(props, "UDKSerialPty", port->pts);
	if (service_new(d, port->instance, "IOSerialBSDClient", class_chain_for("IOSerialBSDClient"), props,
			&port->client) == 0) {
		service_ref(port->client);
		service_register(d, port->client);
	}
	udk_value_unref(props);
	log_info(d, "serial port %s of %s: %s and %s (%s %s)", port->name,
		 p->bundle ? p->bundle->identifier : "a driver", port->dialin, port->callout,
		 port->cuse ? "CUSE" : "pty", port->cuse ? "character devices" : port->pts);
	proc_reply(p, m, 0, NULL, NULL, NULL, 0);
}

static struct serial_port *
port_of(struct serial_state *st, struct driver_proc *p, const struct udk_value *body)
{
	uint64_t id = udk_value_get_uint(udk_dict_get(body, "port"), 0);

	for (struct serial_port *q = st ? st->ports : NULL; q; q = q->next)
		if (q->id == id && q->proc == p)
			return q;
	return NULL;
}

static void
serial_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct serial_state *st = state(d);
	struct serial_port *port;
	char why[200];

	if (p->kind != PROC_KIND_DRIVER) {
		if (!(m->h.flags & WIRE_F_ONEWAY))
			reply_err(p, m, -EOPNOTSUPP, "serial ports are made by drivers, not device models");
		return;
	}
	switch (m->h.op) {
	case OP_SERIAL_PORT_CREATE:
		port_create(d, p, m);
		return;
	case OP_SERIAL_PORT_STATUS: {
		struct udk_value *props;
		port = port_of(st, p, m->body);
		if (!port || !port->client)
			return;
		props = serial_filter_status(udk_dict_get(m->body, "status"), why, sizeof(why));
		if (!props) {
			log_warning(d, "%s sent a bad serial status for %s: %s", p->label, port->name, why);
			return;
		}
		if (udk_dict_get(props, "UDKSerialRefusal"))
			log_warning(d, "serial port %s: %s", port->name,
				    udk_dict_get_string(props, "UDKSerialRefusal"));
		service_set_properties(d, port->client, props);
		udk_value_unref(props);
		return;
	}
	case OP_SERIAL_PORT_PUBLISH:
		port = port_of(st, p, m->body);
		if (!port)
			return reply_err(p, m, -ENOENT, "this driver has no such serial port");
		port_publish(d, st, p, m, port);
		return;
	case OP_SERIAL_PORT_DESTROY:
		port = port_of(st, p, m->body);
		if (!port)
			return reply_err(p, m, -ENOENT, "this driver has no such serial port");
		port_free(d, st, port, "the driver closed it");
		proc_reply(p, m, 0, NULL, NULL, NULL, 0);
		return;
	default:
		if (!(m->h.flags & WIRE_F_ONEWAY))
			reply_err(p, m, -EOPNOTSUPP, "the serial family has no request %u", m->h.op);
	}
}

/*
 * An app closed the port.  The family holds the slave open (settings
 * persist, the master never sees a hang-up), so the kernel's last close
 * never comes and an app's TIOCEXCL would outlive it: clear it here, as
 * the last close does on a UART.
 */
static void
on_inotify(struct loop *l, int fd, uint32_t events, void *data)
{
	struct udkd *d = data;
	struct serial_state *st = state(d);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)l;
	(void)events;
	for (ssize_t off = 0; st && n > 0 && off + (ssize_t)sizeof(struct inotify_event) <= n;) {
		const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
		for (struct serial_port *p = st->ports; p; p = p->next)
			if (p->watch == ev->wd && p->peer_fd >= 0)
				ioctl(p->peer_fd, TIOCNXCL);
		off += (ssize_t)sizeof(*ev) + ev->len;
	}
}

/* ---- events ---- */

static void
on_event(struct udkd *d, enum udkd_event ev, void *data, void *ctx)
{
	struct serial_state *st = state(d);
	struct serial_port *port, *next;

	(void)ctx;
	if (!st)
		return;
	for (port = st->ports; port; port = next) {
		next = port->next;
		if (ev == UDKD_EV_PROC_DIED && port->proc == data)
			port_free(d, st, port, "its driver ended");
		else if (ev == UDKD_EV_SERVICE_TERMINATED && (port->client == data || port->instance == data))
			port_free(d, st, port, port->client == data ? "its device went away" : "its driver stopped");
		else
			continue;
		next = st->ports;	/* port_free may have removed others (terminations nest) */
	}
}

/* ---- lifecycle ---- */

static int
serial_init(struct udkd *d)
{
	struct serial_state *st = state(d);
	struct group gr, *res = NULL;
	char buf[4096];

	if (!st)
		return -ENOMEM;
	if (getgrnam_r("dialout", &gr, buf, sizeof(buf), &res) == 0 && res)
		st->gid = res->gr_gid;
	st->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (st->inotify_fd >= 0 && loop_add_fd(d->loop, st->inotify_fd, EPOLLIN, on_inotify, d, &st->inotify_src) < 0) {
		close(st->inotify_fd);
		st->inotify_fd = -1;
	}
	if (st->inotify_fd < 0)
		log_warning(d, "serial: no inotify (%s): an app's TIOCEXCL will outlive it until the port goes",
			    strerror(errno));
	udkd_listen(d, UDKD_EV_PROC_DIED, on_event, NULL);
	udkd_listen(d, UDKD_EV_SERVICE_TERMINATED, on_event, NULL);
	return 0;
}

static void
serial_fini(struct udkd *d)
{
	struct serial_state *st = udkd_family_state(d, &udkd_family_serial);

	if (!st)
		return;
	while (st->ports)
		port_free(d, st, st->ports, "udkd is stopping");
	if (st->dev_fd >= 0)
		close(st->dev_fd);
	if (st->inotify_src)
		loop_source_remove(st->inotify_src);
	if (st->inotify_fd >= 0)
		close(st->inotify_fd);
	free(st->dev_dir);
	free(st->backend);
	free(st);
	udkd_family_set_state(d, &udkd_family_serial, NULL);
}

static const struct udkd_family_option serial_options[] = {
	{ "dev-dir", required_argument, "DIR",
	  "where serial ports get their names tty.NAME and cu.NAME (default /dev as root, RUNTIME/dev otherwise)" },
	{ "serial-backend", required_argument, "auto|pty|cuse",
	  "what a serial port is: a CUSE character device (auto: when /dev/cuse exists, udkd is root and the "
	  "names go in /dev) or a pty" },
	{ NULL, 0, NULL, NULL },
};

static int
serial_set_option(struct udkd *d, const char *name, const char *value)
{
	struct serial_state *st = state(d);

	if (!st)
		return -ENOMEM;
	if (streq(name, "dev-dir")) {
		free(st->dev_dir);
		st->dev_dir = strdup(value);
		return st->dev_dir ? 0 : -ENOMEM;
	}
	if (streq(name, "serial-backend")) {
		if (!streq(value, "auto") && !streq(value, "pty") && !streq(value, "cuse"))
			return udk_set_reason(-EINVAL, "--serial-backend takes auto, pty or cuse, not \"%s\"", value);
		free(st->backend);
		st->backend = streq(value, "auto") ? NULL : strdup(value);
		return 0;
	}
	return -EINVAL;
}

static struct udk_value *
serial_describe(struct udkd *d)
{
	struct serial_state *st = state(d);
	struct udk_value *v = udk_value_new_dict(), *list = udk_value_new_array();

	if (st) {
		udk_dict_set_string(v, "dev_dir", st->dev_dir ? st->dev_dir : (geteuid() == 0 ? "/dev" : "RUNTIME/dev"));
		udk_dict_set_uint(v, "ports_created", st->created);
		udk_dict_set_uint(v, "name_collisions", st->collisions);
		for (struct serial_port *q = st->ports; q; q = q->next) {
			struct udk_value *e = udk_value_new_dict();
			const char *refusal = q->client ? udk_dict_get_string(q->client->props, "UDKSerialRefusal") : NULL;
			udk_dict_set_string(e, "name", q->name);
			udk_dict_set_string(e, "dialin", q->dialin);
			udk_dict_set_string(e, "callout", q->callout);
			udk_dict_set_string(e, "backend", q->cuse ? "cuse" : "pty");
			if (q->pts)
				udk_dict_set_string(e, "pty", q->pts);
			udk_dict_set_string(e, "driver", q->proc->bundle ? q->proc->bundle->identifier : "?");
			if (q->client && udk_dict_get(q->client->props, "UDKSerialLine"))
				udk_dict_set(e, "line", udk_dict_get(q->client->props, "UDKSerialLine"));
			if (refusal)
				udk_dict_set_string(e, "last_refusal", refusal);
			udk_array_append_take(list, e);
		}
	}
	udk_dict_set_take(v, "ports", list);
	return v;
}

/* ---- personality keys: the names (they name, they do not match) ---- */

static const char *const serial_keys[] = { "IOTTYBaseName", "IOTTYSuffix", NULL };

static void
serial_validate(const struct udk_value *personality, family_diag_fn diag, void *ctx)
{
	for (int i = 0; serial_keys[i]; i++) {
		const struct udk_value *v = udk_dict_get(personality, serial_keys[i]);
		char why[200], msg[300];

		if (!v)
			continue;
		if (udk_value_get_type(v) == UDK_VALUE_INT && i == 1)
			continue;
		if (udk_value_get_type(v) != UDK_VALUE_STRING) {
			snprintf(msg, sizeof(msg), "must be a <string>%s, not %s", i == 1 ? " or an <integer>" : "",
				 udk_value_type_name(udk_value_get_type(v)));
			diag(ctx, true, serial_keys[i], msg);
		} else if (!serial_name_ok(udk_value_get_string(v), i == 1, why, sizeof(why))) {
			snprintf(msg, sizeof(msg), "%s; it becomes part of the device names tty.BASE-SUFFIX and cu.BASE-SUFFIX",
				 why);
			diag(ctx, true, serial_keys[i], msg);
		}
	}
}

static bool
serial_match(const struct udk_value *personality, const struct udk_value *props, int64_t *score,
	     struct udk_value *report)
{
	(void)props;
	(void)score;
	for (int i = 0; report && serial_keys[i]; i++)
		if (udk_dict_get(personality, serial_keys[i]))
			match_report_add(report, serial_keys[i], "note",
					 "names the serial port (tty.BASE-SUFFIX, cu.BASE-SUFFIX); it takes no part in "
					 "matching");
	return true;
}

static const struct family_matcher serial_matcher = {
	.family = "serial",
	.keys = serial_keys,
	.validate = serial_validate,
	.match = serial_match,
};

static const struct udkd_family_class serial_classes[] = {
	{ "IOSerialStreamSync", "IOService", "family.serial", NULL },
	{ "IOUserSerial", "IOService", "family.serial", "serial port" },
	{ "IOUserUSBSerial", "IOUserSerial", NULL, "USB serial port" },
	{ "IOSerialBSDClient", "IOService", "family.serial", NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement serial_entitlements[] = {
	{ "family.serial", NULL, NULL },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_serial = {
	UDKD_FAMILY_INIT,
	.name = "serial",
	.title = "serial ports",
	.docs = "docs/families/serial.md",
	.classes = serial_classes,
	.matcher = &serial_matcher,
	.entitlements = serial_entitlements,
	.init = serial_init,
	.fini = serial_fini,
	.options = serial_options,
	.set_option = serial_set_option,
	.op_base = SERIAL_OP_BASE,
	.op_count = SERIAL_OP_COUNT,
	.message = serial_message,
	.describe = serial_describe,
};
