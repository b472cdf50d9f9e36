/* SPDX-License-Identifier: MIT */
/*
 * scsi/daemon/scsi.c - the SCSI family's udkd side (daemon/family.h).
 *
 * Classes, as DriverKit names them: a controller driver runs as
 * IOUserSCSIParallelInterfaceController (entitlement
 * family.scsicontroller); its driver library scans the bus and publishes
 * one IOSCSIPeripheralDeviceNub per LUN; peripheral drivers match those
 * with "Peripheral Device Type", vendor, product and revision (match.c)
 * and run as IOUserSCSIPeripheralDeviceType00 (or 05).
 *
 * Entitlements (docs/families/scsi.md):
 *   family.scsicontroller  <true/>, or a <dict> with iSCSIPortals: the
 *                          "host:port" portals the driver may reach (its
 *                          TCP connections are made by udkd: the sandbox
 *                          gives drivers no sockets of their own).
 *   transport.scsi         to match the LUN nubs (and, for a controller,
 *                          to publish them).  <true/> for any LUN, or an
 *                          <array> of <dict>s naming "Peripheral Device
 *                          Type", "Vendor Identification" and/or "Product
 *                          Identification" (a "*" value is a development
 *                          wildcard).  macOS asks no entitlement of
 *                          peripheral drivers; udk does, so that no
 *                          family's services are open to every bundle.
 *
 * The broker: a peripheral opening its nub gets a channel (a socket pair)
 * to the controller driver that published the nub: udkd hands one end to
 * the controller (OP_SCSI_CONNECT, which the controller's driver library
 * takes) and the other to the peripheral.  From then on they talk
 * directly.  With --scsi-sg, the host's SCSI generic devices
 * (/dev/sgN) are published as UDKSCSIGenericDevice nubs under SCSIHost;
 * an SG_IO controller driver matched on one gets the device opened by udkd.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "family.h"
#include "../proto-scsi.h"
#include "udkd.h"
#include "util.h"

extern const struct family_matcher scsi_family_matcher;
extern const struct udkd_family udkd_family_scsi;

#define CONNECT_TIMEOUT_MS 5000

struct portal_connect {
	struct portal_connect *next;
	struct udkd *d;
	struct driver_proc *p;
	struct wire_msg req;		/* header only, to answer */
	int fd;
	char portal[80];
	struct loop_source *src;
	struct loop_timer *timer;
};

struct scsi_state {
	bool sg;			/* publish /dev/sgN */
	char *sg_sysfs;			/* /sys/class/scsi_generic */
	char *dev_dir;			/* /dev */
	struct portal_connect *connects;
};

static struct scsi_state *
state(struct udkd *d)
{
	struct scsi_state *st = udkd_family_state(d, &udkd_family_scsi);

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (st)
			udkd_family_set_state(d, &udkd_family_scsi, st);
	}
	return st;
}

/* ---- entitlements ---- */

static const char *const lun_keys[] = { "Peripheral Device Type", "Vendor Identification", "Product Identification",
					NULL };

static bool
check_transport_scsi(const struct udk_value *v, family_diag_fn diag, void *ctx)
{
	char msg[256];

	if (udk_value_get_type(v) == UDK_VALUE_BOOL)
		return true;
	if (udk_value_get_type(v) != UDK_VALUE_ARRAY || !udk_array_size(v)) {
		diag(ctx, true, NULL,
		     "must be <true/> (any LUN) or a non-empty <array> of <dict>s naming \"Peripheral Device Type\", "
		     "\"Vendor Identification\" or \"Product Identification\"");
		return false;
	}
	for (size_t i = 0; i < udk_array_size(v); i++) {
		struct udk_value *e = udk_array_get(v, i);
		if (udk_value_get_type(e) != UDK_VALUE_DICT || !udk_dict_size(e)) {
			snprintf(msg, sizeof(msg), "item %zu must be a non-empty <dict>", i);
			diag(ctx, true, NULL, msg);
			return false;
		}
		for (size_t k = 0; k < udk_dict_size(e); k++) {
			const char *name = udk_dict_key_at(e, k);
			bool known = false;
			for (int j = 0; lun_keys[j]; j++)
				known |= streq(name, lun_keys[j]);
			if (!known) {
				snprintf(msg, sizeof(msg),
					 "item %zu: \"%s\" is not a SCSI entitlement key; use \"Peripheral Device Type\", "
					 "\"Vendor Identification\" or \"Product Identification\"",
					 i, name);
				diag(ctx, true, NULL, msg);
				return false;
			}
		}
	}
	return true;
}

static bool
entry_covers(const struct udk_value *e, const struct udk_value *props, bool developer, bool *wild)
{
	for (size_t k = 0; k < udk_dict_size(e); k++) {
		const char *name = udk_dict_key_at(e, k);
		struct udk_value *want = udk_dict_value_at(e, k), *have = udk_dict_get(props, name);
		if (udk_value_get_type(want) == UDK_VALUE_STRING && streq(udk_value_get_string(want), "*")) {
			*wild = true;
			if (!developer)
				return false;
			continue;
		}
		if (udk_value_get_type(want) == UDK_VALUE_STRING && udk_value_get_type(have) == UDK_VALUE_STRING) {
			if (!startswith(udk_value_get_string(have), udk_value_get_string(want)))
				return false;
		} else if (!udk_value_equal(want, have)) {
			return false;
		}
	}
	return true;
}

static bool
covers_transport_scsi(const struct udk_value *value, const struct service *s, bool developer, char **ret_detail)
{
	bool wild = false;
	char what[160];

	if (!udk_dict_get(s->props, "Peripheral Device Type")) {
		*ret_detail = strdup("is held");
		return true;
	}
	snprintf(what, sizeof(what), "LUN type %lld \"%s\" \"%s\"",
		 (long long)udk_dict_get_int(s->props, "Peripheral Device Type", -1),
		 udk_dict_get_string(s->props, "Vendor Identification") ? udk_dict_get_string(s->props, "Vendor Identification") : "",
		 udk_dict_get_string(s->props, "Product Identification") ? udk_dict_get_string(s->props, "Product Identification") : "");
	if (udk_value_get_type(value) == UDK_VALUE_BOOL) {
		*ret_detail = strdup_printf("covers %s (any LUN)", what);
		return true;
	}
	for (size_t i = 0; i < udk_array_size(value); i++)
		if (entry_covers(udk_array_get(value, i), s->props, developer, &wild)) {
			*ret_detail = strdup_printf("covers %s%s", what,
						    wild ? " (a development wildcard, honoured in developer mode)" : "");
			return true;
		}
	*ret_detail = strdup_printf("in Entitlements.plist does not cover %s: list its type, vendor or product, have "
				    "the bundle signed again%s",
				    what,
				    wild ? " (its \"*\" is a development wildcard, honoured only in developer mode)" : "");
	return false;
}

static bool
check_scsicontroller(const struct udk_value *v, family_diag_fn diag, void *ctx)
{
	struct udk_value *portals;

	if (udk_value_get_type(v) == UDK_VALUE_BOOL)
		return true;
	if (udk_value_get_type(v) != UDK_VALUE_DICT) {
		diag(ctx, true, NULL, "must be <true/> or a <dict> with iSCSIPortals (an <array> of \"host:port\")");
		return false;
	}
	for (size_t k = 0; k < udk_dict_size(v); k++)
		if (!streq(udk_dict_key_at(v, k), "iSCSIPortals")) {
			diag(ctx, true, NULL, "the only key of the <dict> is iSCSIPortals");
			return false;
		}
	portals = udk_dict_get(v, "iSCSIPortals");
	if (udk_value_get_type(portals) != UDK_VALUE_ARRAY) {
		diag(ctx, true, NULL, "iSCSIPortals must be an <array> of \"host:port\" <string>s");
		return false;
	}
	for (size_t i = 0; i < udk_array_size(portals); i++)
		if (udk_value_get_type(udk_array_get(portals, i)) != UDK_VALUE_STRING) {
			diag(ctx, true, NULL, "iSCSIPortals must be an <array> of \"host:port\" <string>s");
			return false;
		}
	return true;
}

/* ---- the broker: a peripheral opens its LUN ---- */

struct connect_ctx {
	struct driver_proc *p;		/* the peripheral */
	struct wire_msg req;		/* header of its request */
	int fd;				/* its end of the channel */
	uint64_t target, lun;
};

static void
connected(struct udkd *d, struct driver_proc *owner, struct wire_msg *reply, int status, void *data)
{
	struct connect_ctx *cc = data;

	(void)d;
	(void)owner;
	if (status < 0) {
		const char *why = reply ? udk_dict_get_string(reply->body, "reason") : NULL;
		char *msg = strdup_printf("the controller driver did not take the channel: %s",
					  why ? why : udk_strerror(status));
		proc_reply(cc->p, &cc->req, status, msg, NULL, NULL, 0);
		free(msg);
	} else {
		struct udk_value *info = udk_value_new_dict();
		udk_dict_set_string(info, "backend", "controller");
		udk_dict_set_uint(info, "target", cc->target);
		udk_dict_set_uint(info, "lun", cc->lun);
		proc_reply(cc->p, &cc->req, 0, NULL, info, &cc->fd, 1);
		udk_value_unref(info);
	}
	close(cc->fd);
	proc_unref(cc->p);
	free(cc);
}

static void
open_lun(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	struct connect_ctx *cc;
	struct udk_value *body;
	int sv[2], r;

	if (!s->owner || s->owner->state == PROC_DEAD) {
		proc_reply(p, m, -UDK_E_HARDWARE_GONE, "the LUN's controller driver is not running", NULL, NULL, 0);
		return;
	}
	if (wire_socketpair(sv) < 0) {
		proc_reply(p, m, -errno, "cannot create the channel to the controller", NULL, NULL, 0);
		return;
	}
	cc = calloc(1, sizeof(*cc));
	if (!cc) {
		close(sv[0]);
		close(sv[1]);
		proc_reply(p, m, -ENOMEM, "out of memory", NULL, NULL, 0);
		return;
	}
	cc->p = proc_ref(p);
	cc->req.h = m->h;
	cc->fd = sv[0];
	cc->target = udk_value_get_uint(udk_dict_get(s->props, "SCSI Target Identifier"), 0);
	cc->lun = udk_value_get_uint(udk_dict_get(s->props, "SCSI Logical Unit Number"), 0);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "nub", s->id);
	udk_dict_set_int(body, "client", p->pid);
	udk_dict_set_string(body, "label", p->label ? p->label : "?");
	r = proc_request(d, s->owner, OP_SCSI_CONNECT, body, &sv[1], 1, CONNECT_TIMEOUT_MS, connected, cc);
	udk_value_unref(body);
	close(sv[1]);
	if (r < 0) {
		proc_reply(p, m, r, "the LUN's controller driver cannot be reached", NULL, NULL, 0);
		close(cc->fd);
		proc_unref(cc->p);
		free(cc);
	}
}

static void
open_sg(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	const char *dev = udk_dict_get_string(s->props, "UDKDeviceNode");
	char *path = dev ? strdup_printf("%s/%s", state(d)->dev_dir, dev) : NULL;
	int fd = path ? open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW) : -1;
	struct udk_value *info;

	if (fd < 0) {
		char *why = strdup_printf("cannot open %s: %s; load the sg module and give udkd access to the device",
					  path ? path : "the sg device", strerror(errno));
		proc_reply(p, m, errno == EBUSY ? -UDK_E_BUSY : -UDK_E_HARDWARE_GONE, why, NULL, NULL, 0);
		free(why);
		free(path);
		return;
	}
	info = udk_value_new_dict();
	udk_dict_set_string(info, "backend", "sg");
	udk_dict_set_string(info, "device", path);
	proc_reply(p, m, 0, NULL, info, &fd, 1);
	udk_value_unref(info);
	close(fd);
	free(path);
}

static void
scsi_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	if (service_is_a(s, "IOSCSIPeripheralDeviceNub")) {
		open_lun(d, p, m, s);
		return;
	}
	if (service_is_a(s, "UDKSCSIGenericDevice")) {
		open_sg(d, p, m, s);
		return;
	}
	proc_reply(p, m, -UDK_E_UNSUPPORTED,
		   "only LUNs (IOSCSIPeripheralDeviceNub) and SCSI generic devices can be opened, not a controller",
		   NULL, NULL, 0);
}

/* ---- iSCSI portals: TCP connections made for the driver ---- */

static void
portal_free(struct udkd *d, struct portal_connect *pc)
{
	struct scsi_state *st = state(d);

	for (struct portal_connect **pp = &st->connects; *pp; pp = &(*pp)->next)
		if (*pp == pc) {
			*pp = pc->next;
			break;
		}
	loop_source_remove(pc->src);
	loop_timer_cancel(d->loop, pc->timer);
	if (pc->fd >= 0)
		close(pc->fd);
	proc_unref(pc->p);
	free(pc);
}

static void
portal_done(struct udkd *d, struct portal_connect *pc, int err)
{
	if (err) {
		char *why = strdup_printf("cannot connect to the iSCSI portal %s: %s", pc->portal, strerror(err));
		proc_reply(pc->p, &pc->req, err == ETIMEDOUT ? -UDK_E_DEADLINE : -UDK_E_HARDWARE_GONE, why, NULL, NULL,
			   0);
		free(why);
	} else {
		int one = 1;
		setsockopt(pc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fd_set_nonblock(pc->fd, false);
		proc_reply(pc->p, &pc->req, 0, NULL, NULL, &pc->fd, 1);
	}
	portal_free(d, pc);
}

static void
portal_writable(struct loop *l, int fd, uint32_t events, void *data)
{
	struct portal_connect *pc = data;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)l;
	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	portal_done(pc->d, pc, err);
}

static void
portal_timeout(struct loop *l, void *data)
{
	struct portal_connect *pc = data;

	(void)l;
	pc->timer = NULL;
	portal_done(pc->d, pc, ETIMEDOUT);
}

static bool
portal_allowed(const struct driver_proc *p, const char *portal, bool developer)
{
	struct udk_value *v = p->bundle ? udk_dict_get(p->bundle->ent.granted, "family.scsicontroller") : NULL;
	struct udk_value *list = udk_dict_get(v, "iSCSIPortals");

	for (size_t i = 0; i < udk_array_size(list); i++) {
		const char *e = udk_value_get_string(udk_array_get(list, i));
		if (streq(e, portal) || (developer && streq(e, "*")))
			return true;
	}
	return false;
}

static void
portal_connect(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	const char *host = udk_dict_get_string(m->body, "host");
	int64_t port = udk_dict_get_int(m->body, "port", -1);
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct portal_connect *pc;
	char portal[80], sport[16];
	int r;

	if (!host || strlen(host) > 46 || port < 1 || port > 65535) {
		proc_reply(p, m, -EINVAL, "a portal is a numeric address and a port 1..65535", NULL, NULL, 0);
		return;
	}
	snprintf(portal, sizeof(portal), "%s:%lld", host, (long long)port);
	if (!portal_allowed(p, portal, d->trust.developer)) {
		char *why = strdup_printf("the iSCSI portal %s is not in the driver's family.scsicontroller entitlement "
					  "(iSCSIPortals); add it and sign the bundle again",
					  portal);
		proc_reply(p, m, -UDK_E_ENTITLEMENT, why, NULL, NULL, 0);
		free(why);
		return;
	}
	snprintf(sport, sizeof(sport), "%lld", (long long)port);
	/* numeric only: udkd never waits for a name server */
	if (getaddrinfo(host, sport, &hints, &ai) != 0 || !ai) {
		char *why = strdup_printf("\"%s\" is not a numeric IPv4 or IPv6 address", host);
		proc_reply(p, m, -EINVAL, why, NULL, NULL, 0);
		free(why);
		return;
	}
	pc = calloc(1, sizeof(*pc));
	if (!pc) {
		freeaddrinfo(ai);
		proc_reply(p, m, -ENOMEM, "out of memory", NULL, NULL, 0);
		return;
	}
	pc->d = d;
	pc->p = proc_ref(p);
	pc->req.h = m->h;
	snprintf(pc->portal, sizeof(pc->portal), "%s", portal);
	pc->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	r = pc->fd < 0 ? -errno : connect(pc->fd, ai->ai_addr, ai->ai_addrlen) < 0 ? -errno : 0;
	freeaddrinfo(ai);
	pc->next = state(d)->connects;
	state(d)->connects = pc;
	if (r == 0) {
		portal_done(d, pc, 0);
		return;
	}
	if (r != -EINPROGRESS) {
		portal_done(d, pc, -r);
		return;
	}
	if (loop_add_fd(d->loop, pc->fd, EPOLLOUT, portal_writable, pc, &pc->src) < 0 ||
	    loop_add_timer(d->loop, now_ns() + CONNECT_TIMEOUT_MS * 1000000ull, portal_timeout, pc, &pc->timer) < 0)
		portal_done(d, pc, ENOMEM);
}

static void
scsi_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	switch (m->h.op) {
	case OP_SCSI_PORTAL_CONNECT:
		if (p->kind != PROC_KIND_DRIVER) {
			proc_reply(p, m, -EPERM, "only drivers connect to portals", NULL, NULL, 0);
			return;
		}
		portal_connect(d, p, m);
		return;
	default:
		proc_reply(p, m, -EOPNOTSUPP, "udkd does not take this SCSI request from a driver", NULL, NULL, 0);
		return;
	}
}

static void
proc_died(struct udkd *d, enum udkd_event ev, void *data, void *ctx)
{
	struct driver_proc *p = data;
	struct scsi_state *st = state(d);

	(void)ev;
	(void)ctx;
	for (struct portal_connect *pc = st ? st->connects : NULL, *next; pc; pc = next) {
		next = pc->next;
		if (pc->p == p)
			portal_free(d, pc);
	}
}

/* ---- SCSI generic devices of the host (--scsi-sg) ---- */

/* A sysfs attribute (sysfs says 4096 bytes for every file: read what is there). */
static char *
read_attr(const char *dir, const char *name)
{
	char *path = strdup_printf("%s/%s", dir, name), buf[256];
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	free(path);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return strdup(buf);
}

static int
scan_sg(struct udkd *d)
{
	struct scsi_state *st = state(d);
	DIR *dir = opendir(st->sg_sysfs);
	struct service *host = NULL;
	struct dirent *e;
	unsigned n = 0;

	if (!dir)
		return udk_set_reason(-errno, "cannot read %s: %s (load the sg module)", st->sg_sysfs, strerror(errno));
	while ((e = readdir(dir))) {
		char *ddir, *vendor, *model, *rev, *type;
		struct udk_value *props;
		struct service *s = NULL;

		if (!startswith(e->d_name, "sg"))
			continue;
		if (!host) {
			struct udk_value *hp = udk_value_new_dict();
			udk_dict_set_string(hp, "UDKBackend", "sg");
			if (service_new(d, d->reg.root, "SCSIHost", class_chain_for("UDKSCSIHostBus"), hp, &host) < 0) {
				udk_value_unref(hp);
				break;
			}
			udk_value_unref(hp);
			service_register(d, host);
		}
		ddir = strdup_printf("%s/%s/device", st->sg_sysfs, e->d_name);
		vendor = ddir ? read_attr(ddir, "vendor") : NULL;
		model = ddir ? read_attr(ddir, "model") : NULL;
		rev = ddir ? read_attr(ddir, "rev") : NULL;
		type = ddir ? read_attr(ddir, "type") : NULL;
		props = udk_value_new_dict();
		udk_dict_set_string(props, "UDKDeviceNode", e->d_name);
		udk_dict_set_string(props, "UDKBackend", "sg");
		udk_dict_set_string(props, "IOName", e->d_name);
		if (vendor)
			udk_dict_set_string(props, "UDKVendor", vendor);
		if (model)
			udk_dict_set_string(props, "UDKModel", model);
		if (rev)
			udk_dict_set_string(props, "UDKRevision", rev);
		if (type)
			udk_dict_set_int(props, "UDKDeviceType", strtol(type, NULL, 10));
		if (service_new(d, host, e->d_name, class_chain_for("UDKSCSIGenericDevice"), props, &s) == 0) {
			service_register(d, s);
			n++;
		}
		udk_value_unref(props);
		free(ddir);
		free(vendor);
		free(model);
		free(rev);
		free(type);
	}
	closedir(dir);
	log_info(d, "published %u SCSI generic devices from %s", n, st->sg_sysfs);
	return 0;
}

/* ---- lifecycle ---- */

static int
scsi_init(struct udkd *d)
{
	struct scsi_state *st = state(d);

	if (!st)
		return -ENOMEM;
	if (!st->sg_sysfs)
		st->sg_sysfs = strdup("/sys/class/scsi_generic");
	if (!st->dev_dir)
		st->dev_dir = strdup("/dev");
	if (!st->sg_sysfs || !st->dev_dir)
		return -ENOMEM;
	return udkd_listen(d, UDKD_EV_PROC_DIED, proc_died, NULL);
}

static int
scsi_start(struct udkd *d)
{
	return state(d)->sg ? scan_sg(d) : 0;
}

static void
scsi_fini(struct udkd *d)
{
	struct scsi_state *st = udkd_family_state(d, &udkd_family_scsi);

	if (!st)
		return;
	while (st->connects)
		portal_free(d, st->connects);
	free(st->sg_sysfs);
	free(st->dev_dir);
	free(st);
	udkd_family_set_state(d, &udkd_family_scsi, NULL);
}

static const struct udkd_family_option scsi_options[] = {
	{ "scsi-sg", optional_argument, "DIR",
	  "publish this machine's SCSI generic devices (DIR: a copy of /sys/class/scsi_generic) for SG_IO drivers" },
	{ "scsi-dev-dir", required_argument, "DIR", "where the sg device nodes are (default /dev)" },
	{ NULL, 0, NULL, NULL },
};

static int
scsi_set_option(struct udkd *d, const char *name, const char *value)
{
	struct scsi_state *st = state(d);

	if (!st)
		return -ENOMEM;
	if (streq(name, "scsi-sg")) {
		st->sg = true;
		if (value) {
			free(st->sg_sysfs);
			st->sg_sysfs = strdup(value);
		}
		return 0;
	}
	if (streq(name, "scsi-dev-dir")) {
		free(st->dev_dir);
		st->dev_dir = strdup(value);
		return 0;
	}
	return -EINVAL;
}

static struct udk_value *
scsi_describe(struct udkd *d)
{
	struct scsi_state *st = udkd_family_state(d, &udkd_family_scsi);
	struct udk_value *v = udk_value_new_dict();

	udk_dict_set_bool(v, "sg", st && st->sg);
	if (st && st->sg)
		udk_dict_set_string(v, "sg_sysfs", st->sg_sysfs);
	udk_dict_set_string(v, "tool", "udkctl scsi PATH CDB... (families/scsi/tools/udkctl-scsi)");
	return v;
}

static const struct udkd_family_class scsi_classes[] = {
	{ "IOSCSIParallelInterfaceController", "IOService", "family.scsicontroller", NULL },
	{ "IOUserSCSIParallelInterfaceController", "IOSCSIParallelInterfaceController", NULL, "SCSI controller" },
	{ "IOSCSIPeripheralDeviceNub", "IOService", "transport.scsi", NULL },
	{ "IOUserSCSIPeripheralDeviceType00", "IOService", "transport.scsi", "SCSI peripheral (block commands)" },
	{ "IOUserSCSIPeripheralDeviceType05", "IOService", "transport.scsi", "SCSI peripheral (multimedia commands)" },
	{ "UDKSCSIHostBus", "IOService", "family.scsicontroller", NULL },
	{ "UDKSCSIGenericDevice", "IOService", "family.scsicontroller", NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement scsi_entitlements[] = {
	{ "family.scsicontroller", check_scsicontroller, NULL },
	{ "transport.scsi", check_transport_scsi, covers_transport_scsi },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_scsi = {
	UDKD_FAMILY_INIT,
	.name = "scsi",
	.title = "SCSI controllers and peripherals",
	.docs = "docs/families/scsi.md",
	.classes = scsi_classes,
	.matcher = &scsi_family_matcher,
	.entitlements = scsi_entitlements,
	.init = scsi_init,
	.start = scsi_start,
	.fini = scsi_fini,
	.options = scsi_options,
	.set_option = scsi_set_option,
	.open_provider = scsi_open_provider,
	.op_base = SCSI_OP_BASE,
	.op_count = SCSI_OP_COUNT,
	.message = scsi_message,
	.describe = scsi_describe,
};
