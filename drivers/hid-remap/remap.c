/* SPDX-License-Identifier: MIT */
/*
 * hid-remap - a keyboard remapper, the seed's case: it seizes a keyboard
 * and types what it is configured to through a virtual keyboard.
 *
 * Personality keys (Info.plist):
 *   RemapKeys      {from: to}  e.g. caps_lock -> escape, a -> b
 *   RemapLayerKey  a key that, held, switches to the layer (swallowed)
 *   RemapLayer     {from: to}  while the layer key is held
 *   VirtualKeyboard  the Create() dictionary of its virtual keyboard
 *                  (IOClass IOUserHIDDevice, IOUserClass RemapKeyboard,
 *                  VendorID, ProductID, Product ...)
 * Key names are those of <udk/families/hid-usage.h> ("caps_lock", "a").
 *
 * The keyboard is opened with UDK_HID_OPEN_SEIZE: nothing else sees its
 * keys while the remapper runs.  What the remapper types for a key leaves
 * with that key's acknowledgement (libudk-hid batches them), so a crash
 * never loses or repeats a key: udkd gives what was not acknowledged to
 * the restarted remapper, or back to the keyboard.  A key is released as
 * what it was pressed as, even if the layer changed meanwhile.  Caps lock
 * and other LEDs the system sets on the virtual keyboard go to the real one.
 *
 * Its user client (RemapUserClient): 0 Stats -> (events, reports sent,
 * pid); with RemapTestHooks <true/> in the personality, for tests,
 * 1 Hang (its queue stops: the watchdog's case) and 2 Crash.
 */
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udk/families/hid.h>
#include <udk/userclient.h>

#define MAX_MAP 128

struct mapping {
	uint32_t from, to;
};

struct remap {
	struct udk_service *self;
	struct udk_service *vk_service;		/* the RemapKeyboard */
	struct udk_hid_device *vk;
	struct udk_hid_interface *kbd;
	struct mapping keys[MAX_MAP], layer[MAX_MAP];
	unsigned n_keys, n_layer;
	uint32_t layer_key;
	bool layer_on;
	struct mapping down[MAX_MAP];		/* source usage -> what it was pressed as */
	unsigned n_down;
	uint8_t report[8];
	uint64_t events, reports;
	bool test_hooks;			/* RemapTestHooks: Hang and Crash work */
};

static struct remap *the_remap;	/* one instance per process */

static int
read_map(struct udk_service *self, const char *key, struct mapping *m, unsigned *n)
{
	struct udk_value *props = NULL, *dict;
	int r = udk_service_copy_properties(self, &props);

	if (r < 0)
		return r;
	dict = udk_dict_get(props, key);
	*n = 0;
	for (size_t i = 0; i < udk_dict_size(dict) && *n < MAX_MAP; i++) {
		uint32_t from, to;
		const char *to_name = udk_value_get_string(udk_dict_value_at(dict, i));
		if (udk_hid_usage_parse(udk_dict_key_at(dict, i), &from) < 0 || !to_name ||
		    udk_hid_usage_parse(to_name, &to) < 0) {
			r = udk_error_set(-EINVAL, "%s.%s: %s", key, udk_dict_key_at(dict, i), udk_error_reason());
			break;
		}
		m[(*n)++] = (struct mapping){ from, to };
	}
	udk_value_unref(props);
	return r;
}

static uint32_t
lookup(const struct mapping *m, unsigned n, uint32_t usage)
{
	for (unsigned i = 0; i < n; i++)
		if (m[i].from == usage)
			return m[i].to;
	return 0;
}

static void
post(struct remap *rm, uint64_t t, uint32_t usage, bool down)
{
	if (udk_hid_boot_keyboard_update(rm->report, usage, down) < 0)
		return;
	if (udk_hid_device_handle_report(rm->vk, t, rm->report, sizeof(rm->report)) >= 0)
		rm->reports++;
}

static void
on_event(struct udk_hid_interface *iface, const struct udk_hid_event *ev, void *ctx)
{
	struct remap *rm = ctx;
	uint32_t usage, to;

	(void)iface;
	rm->events++;
	if (ev->type != UDK_HID_EVENT_KEYBOARD)
		return;
	usage = UDK_HID_USAGE(ev->key.usage_page, ev->key.usage);
	if (rm->layer_key && usage == rm->layer_key) {
		rm->layer_on = ev->key.value;
		return;
	}
	if (ev->key.value) {
		to = rm->layer_on ? lookup(rm->layer, rm->n_layer, usage) : 0;
		if (!to)
			to = lookup(rm->keys, rm->n_keys, usage);
		if (!to)
			to = usage;
		if (rm->n_down < MAX_MAP)
			rm->down[rm->n_down++] = (struct mapping){ usage, to };
		post(rm, ev->timestamp_ns, to, true);
	} else {
		to = usage;
		for (unsigned i = 0; i < rm->n_down; i++)
			if (rm->down[i].from == usage) {
				to = rm->down[i].to;
				rm->down[i] = rm->down[--rm->n_down];
				break;
			}
		post(rm, ev->timestamp_ns, to, false);
	}
}

static void
on_closed(struct udk_hid_interface *iface, int status, const char *reason, void *ctx)
{
	(void)iface;
	(void)ctx;
	udk_log_notice("the keyboard was taken away (%s): %s", udk_error_name(status), reason);
}

/* LEDs the system sets on the virtual keyboard go to the real one. */
static int
vk_set_report(struct udk_hid_device *dev, enum udk_hid_report_type type, const uint8_t *report, size_t len, void *ctx)
{
	struct remap *rm = ctx;

	(void)dev;
	if (!rm->kbd || type != UDK_HID_REPORT_OUTPUT || !udk_hid_interface_get_descriptor(rm->kbd))
		return 0;
	return udk_hid_interface_set_report(rm->kbd, type, report, len);
}

/* ---- the virtual keyboard (IOClass IOUserHIDDevice) ---- */

static int
vk_start(struct udk_service *self, struct udk_service *provider)
{
	static const struct udk_hid_device_ops ops = { UDK_HID_DEVICE_OPS_INIT, .set_report = vk_set_report };
	size_t len;
	const uint8_t *desc = udk_hid_boot_keyboard_descriptor(&len);

	(void)provider;
	return udk_hid_device_create(self, desc, len, NULL, NULL, &ops, the_remap, &the_remap->vk);
}

static const struct udk_class vk_class = {
	UDK_CLASS_INIT,
	.name = "RemapKeyboard",
	.start = vk_start,
};

/* ---- the remapper ---- */

static int
remap_start(struct udk_service *self, struct udk_service *provider)
{
	static const struct udk_hid_interface_ops ops = { UDK_HID_INTERFACE_OPS_INIT, .event = on_event,
							  .closed = on_closed };
	struct remap *rm = udk_service_get_ivars(self);
	char key[256] = "", layer[64];
	int r;

	rm->self = self;
	{
		struct udk_value *props = NULL;
		if (udk_service_copy_properties(self, &props) >= 0)
			rm->test_hooks = udk_dict_get_bool(props, "RemapTestHooks", false);
		udk_value_unref(props);
	}
	the_remap = rm;
	/* never its own output: its virtual keyboard is a keyboard too */
	udk_service_get_string_property(provider, "UDKHIDDeviceKey", key, sizeof(key));
	if (!strncmp(key, "virtual:", 8))
		return udk_error_set(-UDK_E_UNSUPPORTED, "%s is a virtual keyboard: the remapper reads real keyboards", key);
	/* nor a raw HID device: hidraw has no grab, the kernel would go on
	 * typing the keys the remapper remaps (it reads the evdev device) */
	{
		char backend[32] = "";
		udk_service_get_string_property(provider, "UDKHIDBackend", backend, sizeof(backend));
		if (!strcmp(backend, "hidraw"))
			return udk_error_set(-UDK_E_UNSUPPORTED,
					     "%s is a raw HID device (hidraw has no grab): the remapper reads the keyboard's "
					     "input device",
					     key);
	}
	r = read_map(self, "RemapKeys", rm->keys, &rm->n_keys);
	if (r >= 0)
		r = read_map(self, "RemapLayer", rm->layer, &rm->n_layer);
	if (r < 0)
		return r;
	if (udk_service_get_string_property(self, "RemapLayerKey", layer, sizeof(layer)) == 0 &&
	    udk_hid_usage_parse(layer, &rm->layer_key) < 0)
		return udk_error_set(-EINVAL, "RemapLayerKey: %s", udk_error_reason());
	r = udk_service_create_from_properties(self, "VirtualKeyboard", &rm->vk_service);
	if (r < 0)
		return r;
	r = udk_hid_interface_open(self, provider, UDK_HID_OPEN_SEIZE, NULL, &ops, rm, &rm->kbd);
	if (r < 0) {
		char *why = udk_error_reason() ? strdup(udk_error_reason()) : NULL;
		udk_service_terminate(rm->vk_service);
		udk_service_unref(rm->vk_service);
		rm->vk_service = NULL;
		r = udk_error_set(r, "%s", why ? why : "cannot seize the keyboard");
		free(why);
		return r;
	}
	udk_log_info("remapping keyboard %s: %u key(s), layer of %u key(s)", key, rm->n_keys, rm->n_layer);
	return udk_service_register(self);
}

static int
remap_stop(struct udk_service *self, struct udk_service *provider)
{
	struct remap *rm = udk_service_get_ivars(self);

	(void)provider;
	/* the keyboard first: it is the user's again at once */
	udk_hid_interface_close(rm->kbd);
	rm->kbd = NULL;
	udk_hid_device_destroy(rm->vk);
	rm->vk = NULL;
	if (rm->vk_service) {
		udk_service_terminate(rm->vk_service);
		udk_service_unref(rm->vk_service);
		rm->vk_service = NULL;
	}
	return 0;
}

/* ---- the test user client ---- */

static int
m_stats(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	(void)uc;
	(void)ref;
	args->scalar_output[0] = the_remap ? the_remap->events : 0;
	args->scalar_output[1] = the_remap ? the_remap->reports : 0;
	args->scalar_output[2] = (uint64_t)getpid();
	args->scalar_output_count = 3;
	return 0;
}

static void
hang(void *ctx)
{
	sem_t *hung = ctx;

	sem_post(hung);
	for (;;)
		pause();
}

static int
m_hang(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	(void)uc;
	(void)ref;
	(void)args;
	if (!the_remap->test_hooks)
		return udk_error_set(-EPERM, "Hang is a test hook: set RemapTestHooks in the personality");
	/*
	 * The queue that reads the keyboard (and answers udkd's pings) stops.
	 * The call returns once it has (this runs on the user client's own
	 * queue), so keys typed after it are never handled by the queue
	 * before it stops.
	 */
	static sem_t hung;
	int r;

	if (sem_init(&hung, 0, 0) < 0)
		return udk_error_set(-errno, "Hang: sem_init: %s", strerror(errno));
	r = udk_queue_dispatch_async(udk_service_get_default_queue(the_remap->self), hang, &hung);
	if (r < 0)
		return r;
	while (sem_wait(&hung) < 0 && errno == EINTR)
		;
	return 0;
}

static int
m_crash(struct udk_service *uc, void *ref, struct udk_method_args *args)
{
	(void)uc;
	(void)ref;
	(void)args;
	if (!the_remap || !the_remap->test_hooks)
		return udk_error_set(-EPERM, "Crash is a test hook: set RemapTestHooks in the personality");
	abort();
}

static const struct udk_method_dispatch methods[] = {
	{ m_stats, "Stats", 0, 0, 0, 3, 0 },
	{ m_hang, "Hang", 0, 0, 0, 0, 0 },
	{ m_crash, "Crash", 0, 0, 0, 0, 0 },
};

static const struct udk_class uc_class = {
	UDK_CLASS_INIT,
	.name = "RemapUserClient",
	.methods = methods,
	.n_methods = sizeof(methods) / sizeof(methods[0]),
};

static const struct udk_class remap_class = {
	UDK_CLASS_INIT,
	.name = "Remapper",
	.ivars_size = sizeof(struct remap),
	.start = remap_start,
	.stop = remap_stop,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &remap_class, &vk_class, &uc_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
