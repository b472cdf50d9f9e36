/* SPDX-License-Identifier: MIT */
/*
 * block/daemon/block.c - the block storage family's udkd side
 * (daemon/family.h).
 *
 * A block device is a service of class IOUserBlockStorageDevice that a
 * driver publishes (udk_block_device_create); publishing one needs the
 * family.block-storage-device entitlement.  Its clients:
 *
 *   apps open its user client (the family's, in the device's driver);
 *
 *   a driver matched on the device opens it as its provider, and a driver
 *   composing devices (RAID) opens the ones its personality lists by
 *   identifier in UDKBlockMembers (OP_BLOCK_OPEN_MEMBER).  Either way udkd
 *   makes a socket pair, hands one end to the device's driver
 *   (OP_BLOCK_CONNECT) and the other to the client driver; they talk
 *   directly from then on.  Opening members needs the entitlement too.
 */
#include "../proto-block.h"
#include "family.h"
#include "udkd.h"
#include "util.h"

extern const struct udkd_family udkd_family_block;
extern const struct family_matcher block_family_matcher;

#define CONNECT_TIMEOUT_MS 5000

struct connect_ctx {
	struct driver_proc *p;
	struct wire_msg req;
	int fd;
	uint64_t object;
};

static void
connected(struct udkd *d, struct driver_proc *owner, struct wire_msg *reply, int status, void *data)
{
	struct connect_ctx *cc = data;

	(void)d;
	(void)owner;
	if (status < 0) {
		const char *why = reply ? udk_dict_get_string(reply->body, "reason") : NULL;
		char *msg = strdup_printf("the block device's driver did not take the channel: %s",
					  why ? why : udk_strerror(status));
		proc_reply(cc->p, &cc->req, status, msg, NULL, NULL, 0);
		free(msg);
	} else {
		struct udk_value *info = udk_value_new_dict();
		udk_dict_set_string(info, "backend", "block");
		udk_dict_set_uint(info, "object", cc->object);
		proc_reply(cc->p, &cc->req, 0, NULL, info, &cc->fd, 1);
		udk_value_unref(info);
	}
	close(cc->fd);
	proc_unref(cc->p);
	free(cc);
}

static void
connect_device(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	struct connect_ctx *cc;
	struct udk_value *body;
	int sv[2], r;

	if (!s->owner || s->owner->state == PROC_DEAD) {
		proc_reply(p, m, -UDK_E_HARDWARE_GONE, "the block device's driver is not running", NULL, NULL, 0);
		return;
	}
	if (s->owner == p) {
		proc_reply(p, m, -EINVAL, "a driver cannot open a block device it serves itself", NULL, NULL, 0);
		return;
	}
	if (wire_socketpair(sv) < 0) {
		proc_reply(p, m, -errno, "cannot create the channel to the device", NULL, NULL, 0);
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
	cc->object = s->id;
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "object", s->id);
	udk_dict_set_int(body, "client", p->pid);
	udk_dict_set_string(body, "label", p->label ? p->label : "?");
	r = proc_request(d, s->owner, OP_BLOCK_CONNECT, body, &sv[1], 1, CONNECT_TIMEOUT_MS, connected, cc);
	udk_value_unref(body);
	close(sv[1]);
	if (r < 0) {
		proc_reply(p, m, r, "the block device's driver cannot be reached", NULL, NULL, 0);
		close(cc->fd);
		proc_unref(cc->p);
		free(cc);
	}
}

static void
block_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	if (!service_is_a(s, "IOBlockStorageDevice")) {
		proc_reply(p, m, -UDK_E_UNSUPPORTED, "only block devices (IOBlockStorageDevice) can be opened", NULL, NULL,
			   0);
		return;
	}
	connect_device(d, p, m, s);
}

struct find {
	const char *identifier;
	struct service *found;
};

static void
find_identifier(struct udkd *d, struct service *s, void *data)
{
	struct find *f = data;

	(void)d;
	if (!f->found && s->state == SVC_REGISTERED && service_is_a(s, "IOBlockStorageDevice") &&
	    streq(udk_dict_get_string(s->props, "UDKBlockIdentifier"), f->identifier))
		f->found = s;
}

static bool
lists_member(const struct driver_proc *p, const char *identifier)
{
	struct udk_value *list = p->personality ? udk_dict_get(p->personality->dict, "UDKBlockMembers") : NULL;

	for (size_t i = 0; i < udk_array_size(list); i++)
		if (streq(udk_value_get_string(udk_array_get(list, i)), identifier))
			return true;
	list = p->personality ? udk_dict_get(p->personality->dict, "UDKBlockSpares") : NULL;
	for (size_t i = 0; i < udk_array_size(list); i++)
		if (streq(udk_value_get_string(udk_array_get(list, i)), identifier))
			return true;
	return false;
}

static void
open_member(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	const char *identifier = udk_dict_get_string(m->body, "identifier");
	struct find f = { identifier, NULL };
	char *why;

	if (p->kind != PROC_KIND_DRIVER || !p->bundle) {
		proc_reply(p, m, -EPERM, "only drivers open block devices by identifier", NULL, NULL, 0);
		return;
	}
	if (!identifier || !*identifier || strlen(identifier) > 95) {
		proc_reply(p, m, -EINVAL, "a block device identifier is 1..95 characters", NULL, NULL, 0);
		return;
	}
	if (!entitlements_hold(p->bundle, "family.block-storage-device")) {
		proc_reply(p, m, -UDK_E_ENTITLEMENT,
			   "opening block devices by identifier needs the entitlement "
			   "com.apple.developer.driverkit.family.block-storage-device",
			   NULL, NULL, 0);
		return;
	}
	if (!lists_member(p, identifier)) {
		why = strdup_printf("block device \"%s\" is not in the personality's UDKBlockMembers or UDKBlockSpares; "
				    "a driver opens only the devices its personality names",
				    identifier);
		proc_reply(p, m, -EPERM, why, NULL, NULL, 0);
		free(why);
		return;
	}
	registry_walk(d, find_identifier, &f);
	if (!f.found) {
		why = strdup_printf("no block device with identifier \"%s\" is registered (yet)", identifier);
		proc_reply(p, m, -ENOENT, why, NULL, NULL, 0);
		free(why);
		return;
	}
	connect_device(d, p, m, f.found);
}

static void
block_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	if (m->h.op == OP_BLOCK_OPEN_MEMBER) {
		open_member(d, p, m);
		return;
	}
	proc_reply(p, m, -EOPNOTSUPP, "udkd does not take this block request from a driver", NULL, NULL, 0);
}

static const struct udkd_family_class block_classes[] = {
	{ "IOBlockStorageDevice", "IOService", "family.block-storage-device", NULL },
	{ "IOUserBlockStorageDevice", "IOBlockStorageDevice", NULL, "block storage device" },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement block_entitlements[] = {
	{ "family.block-storage-device", NULL, NULL },
	{ NULL, NULL, NULL },
};

static struct udk_value *
block_describe(struct udkd *d)
{
	struct udk_value *v = udk_value_new_dict();

	(void)d;
	udk_dict_set_string(v, "nbd", "families/block/nbdkit: nbdkit-udk-plugin exports a block device over NBD");
	return v;
}

const struct udkd_family udkd_family_block = {
	UDKD_FAMILY_INIT,
	.name = "block",
	.title = "block storage devices",
	.docs = "docs/families/block.md",
	.classes = block_classes,
	.matcher = &block_family_matcher,
	.entitlements = block_entitlements,
	.open_provider = block_open_provider,
	.op_base = BLOCK_OP_BASE,
	.op_count = BLOCK_OP_COUNT,
	.message = block_message,
	.describe = block_describe,
};
