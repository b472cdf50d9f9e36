/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/hid.c - the HID family's udkd side (daemon/family.h).
 *
 * Devices: simulated ones (device models of kind "hid"), the host's Linux
 * input devices (--hid-evdev) and raw HID devices (--hid-hidraw), and the
 * virtual devices drivers make.  Each is an IOHIDDevice with DriverKit's
 * HID properties (VendorID, ProductID, Transport, Built-In,
 * DeviceUsagePairs ...) and an IOHIDInterface below it that drivers match
 * and open (device.c).  udkd owns every device node: a driver gets input
 * frames over its HID channel, never a descriptor of /dev/input, /dev/hidraw,
 * /dev/uhid or /dev/uinput (docs/families/hid.md, "Who opens what").
 *
 * Entitlements: transport.hid to match HID devices (<true/>, or the usages
 * it may read: a keyboard's must be listed), family.hid.device to be a
 * virtual HID device, family.hid.eventservice to be an event service.
 * Keyboards are protected: reading one also needs the user's grant
 * (policy.c).
 */
#include <getopt.h>
#include <inttypes.h>

#include "hid-private.h"
#include "util.h"

const struct udkd_family udkd_family_hid;

struct hid_state *
hid_state(struct udkd *d)
{
	struct hid_state *st = udkd_family_state(d, &udkd_family_hid);

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return NULL;
		st->d = d;
		st->handoff_ms = 1000;
		udkd_family_set_state(d, &udkd_family_hid, st);
	}
	return st;
}

/* ---- entitlement: transport.hid ---- */

static bool
is_wildcard(const struct udk_value *v)
{
	return udk_value_get_type(v) == UDK_VALUE_STRING && streq(udk_value_get_string(v), "*");
}

static bool
check_transport_hid(const struct udk_value *v, family_diag_fn diag, void *ctx)
{
	char msg[256];

	if (udk_value_get_type(v) == UDK_VALUE_BOOL) {
		if (!udk_value_get_bool(v, false)) {
			diag(ctx, true, NULL, "is <false/>: leave it out, or make it <true/> or the usages the driver reads");
			return false;
		}
		return true;
	}
	if (udk_value_get_type(v) != UDK_VALUE_ARRAY || !udk_array_size(v)) {
		snprintf(msg, sizeof(msg),
			 "must be <true/> (HID devices but keyboards) or a non-empty <array> of <dict>s with "
			 "DeviceUsagePage and DeviceUsage, not %s",
			 udk_value_type_name(udk_value_get_type(v)));
		diag(ctx, true, NULL, msg);
		return false;
	}
	for (size_t i = 0; i < udk_array_size(v); i++) {
		struct udk_value *e = udk_array_get(v, i), *page = udk_dict_get(e, "DeviceUsagePage"),
				 *usage = udk_dict_get(e, "DeviceUsage");
		if (udk_value_get_type(e) != UDK_VALUE_DICT ||
		    !(udk_value_get_type(page) == UDK_VALUE_INT || is_wildcard(page)) ||
		    (usage && !(udk_value_get_type(usage) == UDK_VALUE_INT || is_wildcard(usage)))) {
			snprintf(msg, sizeof(msg),
				 "item %zu must be a <dict> with an <integer> DeviceUsagePage and, optionally, an "
				 "<integer> DeviceUsage, e.g. 1 and 6 for keyboards",
				 i);
			diag(ctx, true, NULL, msg);
			return false;
		}
		for (size_t k = 0; k < udk_dict_size(e); k++)
			if (!streq(udk_dict_key_at(e, k), "DeviceUsagePage") && !streq(udk_dict_key_at(e, k), "DeviceUsage")) {
				snprintf(msg, sizeof(msg), "item %zu: \"%s\" is not a transport.hid key; use DeviceUsagePage "
							   "and DeviceUsage",
					 i, udk_dict_key_at(e, k));
				diag(ctx, true, NULL, msg);
				return false;
			}
	}
	return true;
}

static bool
protected_usage(int64_t page, int64_t usage)
{
	return page == UDK_HID_PAGE_GENERIC_DESKTOP && (usage == UDK_HID_GD_KEYBOARD || usage == UDK_HID_GD_KEYPAD);
}

static bool
entry_covers(const struct udk_value *e, int64_t page, int64_t usage, bool developer, bool *ret_wild)
{
	struct udk_value *p = udk_dict_get(e, "DeviceUsagePage"), *u = udk_dict_get(e, "DeviceUsage");

	if (is_wildcard(p) || is_wildcard(u))
		*ret_wild = true;
	if (is_wildcard(p) ? !developer : udk_value_get_int(p, -1) != page)
		return false;
	if (!u)
		return true;
	return is_wildcard(u) ? developer : udk_value_get_int(u, -1) == usage;
}

static bool
covers_transport_hid(const struct udk_value *value, const struct service *s, bool developer, char **ret_detail)
{
	struct udk_value *pairs = udk_dict_get(s->props, "DeviceUsagePairs");
	bool any = false, all_protected = true, wild = false, has_protected = false;
	char list[160] = "";
	size_t at = 0;

	if (!udk_array_size(pairs)) {
		*ret_detail = strdup("is held");
		return true;
	}
	for (size_t i = 0; i < udk_array_size(pairs); i++) {
		struct udk_value *pr = udk_array_get(pairs, i);
		int64_t page = udk_dict_get_int(pr, "DeviceUsagePage", -1), usage = udk_dict_get_int(pr, "DeviceUsage", -1);
		bool prot = protected_usage(page, usage), ok = false;
		int n;

		has_protected |= prot;
		if (udk_value_get_type(value) == UDK_VALUE_BOOL)
			ok = !prot;
		for (size_t k = 0; k < udk_array_size(value) && !ok; k++)
			ok = entry_covers(udk_array_get(value, k), page, usage, developer, &wild);
		any |= ok;
		if (prot && !ok)
			all_protected = false;
		n = snprintf(list + at, sizeof(list) - at, "%s%lld/%lld", at ? ", " : "", (long long)page, (long long)usage);
		if (n > 0 && (size_t)n < sizeof(list) - at)
			at += (size_t)n;
	}
	if (any && all_protected) {
		*ret_detail = strdup_printf("covers the device's usages (%s)%s", list,
					    wild ? " (a development wildcard, honoured in developer mode)" : "");
		return true;
	}
	if (udk_value_get_type(value) == UDK_VALUE_BOOL)
		*ret_detail = strdup_printf("is <true/>, which covers HID devices but not keyboards: this device's "
					    "usages are %s and keyboards are protected; the vendor must list "
					    "{DeviceUsagePage 1, DeviceUsage 6} in transport.hid and sign the bundle again",
					    list);
	else
		*ret_detail = strdup_printf("in Entitlements.plist does not cover this device's usages (%s)%s: the "
					    "signature limits this driver to the usages listed there; have the entitlement "
					    "extended and the bundle signed again%s",
					    list, has_protected ? ", a keyboard's among them" : "",
					    wild ? " (its \"*\" is a development wildcard, honoured only in developer mode: "
						   "`udkctl developer on`)"
						 : "");
	return false;
}

/* ---- messages ---- */

static void
hid_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	if (p->kind == PROC_KIND_MODEL) {
		hid_sim_message(d, p, m);
		return;
	}
	if (udk_value_get_type(m->body) != UDK_VALUE_DICT) {
		proc_reply(p, m, -UDK_E_PROTOCOL, "a HID request's body is a dictionary", NULL, NULL, 0);
		return;
	}
	switch (m->h.op) {
	case OP_HID_CHANNEL:
		hid_chan_open(d, p, m);
		break;
	case OP_HID_DEVICE_CREATE:
		hid_virtual_create(d, p, m);
		break;
	case OP_HID_DEVICE_DESTROY:
		hid_virtual_destroy(d, p, m);
		break;
	case OP_HID_CLOSE: {
		struct hid_handle *h =
			hid_handle_find(hid_chan_of(d, p), (uint32_t)udk_dict_get_int(m->body, "handle", 0));
		if (!h || h->owner) {
			proc_reply(p, m, -ENOENT, "no such HID device open in this driver", NULL, NULL, 0);
			break;
		}
		proc_reply(p, m, 0, NULL, NULL, NULL, 0);
		hid_handle_end(d, h, false);
		break;
	}
	case OP_HID_SET_REPORT:
	case OP_HID_GET_REPORT:
		hid_report_request(d, p, m);
		break;
	default:
		proc_reply(p, m, -EOPNOTSUPP, "udkd does not know this HID request", NULL, NULL, 0);
		break;
	}
}

static void
hid_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	struct hid_dev *dev = hid_dev_by_iface(d, s);

	if (!dev) {
		proc_reply(p, m, -UDK_E_UNSUPPORTED,
			   service_is_a(s, "IOHIDDevice")
				   ? "a driver reads a HID device through its IOHIDInterface: match IOProviderClass "
				     "IOHIDInterface"
				   : "this HID service has nothing to open",
			   NULL, NULL, 0);
		return;
	}
	hid_dev_open(d, p, m, dev);
}

/* ---- events ---- */

static void
on_proc_died(struct udkd *d, enum udkd_event ev, void *data, void *ctx)
{
	struct driver_proc *p = data;

	(void)ev;
	(void)ctx;
	if (p->kind == PROC_KIND_DRIVER) {
		hid_chan_proc_died(d, p);
		hid_policy_proc_died(d, p);
	}
}

static void
on_terminated(struct udkd *d, enum udkd_event ev, void *data, void *ctx)
{
	struct hid_dev *dev = hid_dev_by_service(d, data);

	(void)ev;
	(void)ctx;
	if (!dev)
		return;
	/* a virtual device outlives its driver's service: its owner's handle ends it */
	if (dev->driver_service == data) {
		service_unref(dev->driver_service);
		dev->driver_service = NULL;
		return;
	}
	hid_dev_remove(d, dev, "its service was terminated");
}

/* ---- lifecycle ---- */

static int
hid_init(struct udkd *d)
{
	struct hid_state *st = hid_state(d);

	if (!st)
		return -ENOMEM;
	if (!st->evdev_dir)
		st->evdev_dir = strdup("/dev/input");
	if (!st->hidraw_dir)
		st->hidraw_dir = strdup("/dev");
	if (!st->uhid_path)
		st->uhid_path = strdup("/dev/uhid");
	if (!st->uinput_path)
		st->uinput_path = strdup("/dev/uinput");
	if (!st->evdev_dir || !st->hidraw_dir || !st->uhid_path || !st->uinput_path)
		return -ENOMEM;
	udkd_listen(d, UDKD_EV_PROC_DIED, on_proc_died, NULL);
	udkd_listen(d, UDKD_EV_SERVICE_TERMINATED, on_terminated, NULL);
	return 0;
}

static int
hid_start(struct udkd *d)
{
	struct hid_state *st = hid_state(d);
	int r = 0;

	if (st->evdev)
		r = hid_evdev_start(d);
	if (r >= 0 && st->hidraw)
		r = hid_hidraw_start(d);
	return r;
}

static void
hid_fini(struct udkd *d)
{
	struct hid_state *st = udkd_family_state(d, &udkd_family_hid);

	if (!st)
		return;
	hid_evdev_fini(d);
	hid_hidraw_fini(d);
	while (st->devs)
		hid_dev_remove(d, st->devs, "udkd is shutting down");
	hid_chans_fini(d);
	service_unref(st->sim_bus);
	service_unref(st->virtual_bus);
	service_unref(st->evdev_bus);
	service_unref(st->hidraw_bus);
	free(st->evdev_dir);
	free(st->hidraw_dir);
	free(st->uhid_path);
	free(st->uinput_path);
	free(st);
	udkd_family_set_state(d, &udkd_family_hid, NULL);
}

static const struct udkd_family_option hid_options[] = {
	{ "hid-evdev", optional_argument, "DIR",
	  "publish this machine's Linux input devices (/dev/input/event*, or DIR) as HID devices, with hotplug" },
	{ "hid-hidraw", optional_argument, "DIR", "publish this machine's raw HID devices (/dev/hidraw*, or DIR/hidraw*)" },
	{ "hid-uhid", required_argument, "PATH", "the uhid device virtual HID devices are exported through (/dev/uhid)" },
	{ "hid-uinput", required_argument, "PATH", "the uinput device, where uhid is absent (/dev/uinput)" },
	{ "hid-handoff-ms", required_argument, "MS",
	  "how long a crashed driver's seized device waits for its next instance before it is released (1000)" },
	{ NULL, 0, NULL, NULL },
};

static int
set_path(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	return *field ? 0 : -ENOMEM;
}

static int
hid_set_option(struct udkd *d, const char *name, const char *value)
{
	struct hid_state *st = hid_state(d);
	uint64_t v;

	if (!st)
		return -ENOMEM;
	if (streq(name, "hid-evdev")) {
		st->evdev = true;
		return value ? set_path(&st->evdev_dir, value) : 0;
	}
	if (streq(name, "hid-hidraw")) {
		st->hidraw = true;
		return value ? set_path(&st->hidraw_dir, value) : 0;
	}
	if (streq(name, "hid-uhid"))
		return set_path(&st->uhid_path, value);
	if (streq(name, "hid-uinput"))
		return set_path(&st->uinput_path, value);
	if (streq(name, "hid-handoff-ms")) {
		if (parse_u64(value, &v) < 0 || v > 600000)
			return udk_set_reason(-EINVAL, "--hid-handoff-ms takes 0 to 600000 milliseconds");
		st->handoff_ms = v;
		return 0;
	}
	return -EINVAL;
}

static struct udk_value *
hid_describe(struct udkd *d)
{
	struct hid_state *st = hid_state(d);
	struct udk_value *v = udk_value_new_dict();

	udk_dict_set_uint(v, "handoff_ms", st->handoff_ms);
	udk_dict_set_bool(v, "evdev", st->evdev);
	if (st->evdev)
		udk_dict_set_string(v, "evdev_dir", st->evdev_dir);
	udk_dict_set_bool(v, "hidraw", st->hidraw);
	if (st->hidraw)
		udk_dict_set_string(v, "hidraw_dir", st->hidraw_dir);
	udk_dict_set_string(v, "uhid", st->uhid_path);
	udk_dict_set_string(v, "uinput", st->uinput_path);
	udk_dict_set_take(v, "devices", hid_devices_describe(d));
	return v;
}

static void
hid_describe_model(struct udkd *d, const struct device_model *m, struct udk_value *entry)
{
	for (struct hid_dev *dev = hid_state(d)->devs; dev; dev = dev->next)
		if (dev->backend == HID_SIM && dev->model == m) {
			udk_dict_set_string(entry, "family", "hid");
			udk_dict_set_string(entry, "product", dev->product);
			return;
		}
}

static const struct udkd_family_class hid_classes[] = {
	{ "IOHIDDevice", "IOService", "transport.hid", NULL },
	{ "IOHIDInterface", "IOService", "transport.hid", NULL },
	{ "IOHIDEventService", "IOService", "transport.hid", NULL },
	{ "UDKHIDBus", "IOService", "transport.hid", NULL },
	{ "IOUserHIDDevice", "IOHIDDevice", "family.hid.device", "virtual HID device" },
	{ "AppleUserHIDDevice", "IOUserHIDDevice", NULL, "virtual HID device" },
	{ "IOUserHIDEventService", "IOHIDEventService", "family.hid.eventservice", "HID event service" },
	{ "AppleUserHIDEventService", "IOUserHIDEventService", NULL, "HID event service" },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement hid_entitlements[] = {
	{ "transport.hid", check_transport_hid, covers_transport_hid },
	{ "family.hid.device", NULL, NULL },
	{ "family.hid.eventservice", NULL, NULL },
	{ NULL, NULL, NULL },
};

static const char *const hid_property_keys[] = {
	"UDKHIDExport",
	NULL,
};

const struct udkd_family udkd_family_hid = {
	UDKD_FAMILY_INIT,
	.name = "hid",
	.title = "human interface devices: keyboards, pointers, virtual HID devices",
	.docs = "docs/families/hid.md",
	.classes = hid_classes,
	.matcher = &hid_family_matcher,
	.entitlements = hid_entitlements,
	.init = hid_init,
	.start = hid_start,
	.fini = hid_fini,
	.options = hid_options,
	.set_option = hid_set_option,
	.open_provider = hid_open_provider,
	.op_base = PROTO_HID_OP_BASE,
	.op_count = PROTO_HID_OP_COUNT,
	.message = hid_message,
	.model_kind = "hid",
	.model_function = hid_sim_model_function,
	.describe_model = hid_describe_model,
	.describe = hid_describe,
	.property_keys = hid_property_keys,
	.grant_help = "keyboard (every keyboard and keypad) or device:KEY (one device)",
	.grant_check = hid_grant_check,
	.grant_changed = hid_grant_changed,
	.protects = "keyboard",
	.protected_check = hid_protected_check,
};
