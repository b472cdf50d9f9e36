/* SPDX-License-Identifier: MIT */
/*
 * usb/daemon/usb.c - the USB family's udkd side (daemon/family.h).
 *
 * Devices: one IOUSBHostDevice nub per device, simulated (a device model
 * of kind "usb", under /USB0) or real (--usb-sysfs, under /USBHost,
 * host.c), with the identity properties IOUSBHostFamily publishes
 * (idVendor, idProduct, bcdDevice, bDeviceClass ...), so personalities
 * match as on macOS (match.c, the QA1076 score table).
 *
 * Interfaces, as DriverKit does it: a device's interfaces exist only in a
 * configuration.  When the driver of the device sets one
 * (udk_usb_device_set_configuration, OP_USB_CONFIGURED) or, for a device
 * no driver took, udkd sets the first usable one itself, the family
 * publishes one IOUSBHostInterface nub per interface, with the device's
 * ids and the interface's class triple; drivers of single interfaces
 * match those.  `udkctl explain` says which keys matched and, when a
 * personality wants interfaces of a device whose driver never set a
 * configuration, says so.
 *
 * The entitlement is transport.usb: an array of dicts with idVendor and
 * optionally idProduct, integers or the development wildcard "*"
 * (honoured only in developer mode).
 */
#include <getopt.h>
#include <inttypes.h>

#include "proto-usb.h"
#include "usb-daemon.h"
#include "util.h"

extern const struct family_matcher usb_family_matcher;

struct usb_state *
usb_state(struct udkd *d)
{
	return udkd_family_state(d, &udkd_family_usb);
}

/* ---- entitlement: transport.usb ---- */

static bool
is_wildcard(const struct udk_value *v)
{
	return udk_value_get_type(v) == UDK_VALUE_STRING && streq(udk_value_get_string(v), "*");
}

static bool
id_ok(const struct udk_value *v)
{
	return (udk_value_get_type(v) == UDK_VALUE_INT && udk_value_get_int(v, -1) >= 0 &&
		udk_value_get_int(v, -1) <= 0xffff) ||
	       is_wildcard(v);
}

static bool
check_transport_usb(const struct udk_value *v, family_diag_fn diag, void *ctx)
{
	char msg[256];

	if (udk_value_get_type(v) != UDK_VALUE_ARRAY || !udk_array_size(v)) {
		snprintf(msg, sizeof(msg),
			 "must be a non-empty <array> of <dict>s with idVendor (and optionally idProduct), not %s",
			 udk_value_type_name(udk_value_get_type(v)));
		diag(ctx, true, NULL, msg);
		return false;
	}
	for (size_t i = 0; i < udk_array_size(v); i++) {
		struct udk_value *e = udk_array_get(v, i);
		struct udk_value *vid = udk_dict_get(e, "idVendor"), *pid = udk_dict_get(e, "idProduct");

		if (udk_value_get_type(e) != UDK_VALUE_DICT || !vid) {
			snprintf(msg, sizeof(msg), "item %zu must be a <dict> with idVendor", i);
			diag(ctx, true, NULL, msg);
			return false;
		}
		if (!id_ok(vid) || (pid && !id_ok(pid))) {
			snprintf(msg, sizeof(msg),
				 "item %zu: idVendor and idProduct must be <integer>s from 0 to 65535, or the "
				 "development wildcard <string>*</string>",
				 i);
			diag(ctx, true, NULL, msg);
			return false;
		}
		for (size_t k = 0; k < udk_dict_size(e); k++) {
			const char *name = udk_dict_key_at(e, k);
			if (!streq(name, "idVendor") && !streq(name, "idProduct")) {
				snprintf(msg, sizeof(msg),
					 "item %zu: \"%s\" is not a USB entitlement key; use idVendor and idProduct", i,
					 name);
				diag(ctx, true, NULL, msg);
				return false;
			}
		}
	}
	return true;
}

static bool
part_covers(const struct udk_value *want, const struct udk_value *have, bool developer, bool *ret_wild)
{
	if (!want)
		return true;
	if (is_wildcard(want)) {
		*ret_wild = true;
		return developer;
	}
	return udk_value_get_type(have) == UDK_VALUE_INT && udk_value_get_int(want, -1) == udk_value_get_int(have, -2);
}

static bool
covers_transport_usb(const struct udk_value *value, const struct service *s, bool developer, char **ret_detail)
{
	bool wild = false;
	char ids[64];

	if (!udk_dict_get(s->props, "idVendor")) {
		/* a bus: the entitlement itself is enough */
		*ret_detail = strdup("is held");
		return true;
	}
	snprintf(ids, sizeof(ids), "idVendor 0x%04llx idProduct 0x%04llx",
		 (unsigned long long)udk_dict_get_int(s->props, "idVendor", 0),
		 (unsigned long long)udk_dict_get_int(s->props, "idProduct", 0));
	for (size_t i = 0; i < udk_array_size(value); i++) {
		struct udk_value *e = udk_array_get(value, i);
		if (part_covers(udk_dict_get(e, "idVendor"), udk_dict_get(s->props, "idVendor"), developer, &wild) &&
		    part_covers(udk_dict_get(e, "idProduct"), udk_dict_get(s->props, "idProduct"), developer, &wild)) {
			*ret_detail = strdup_printf("covers %s%s", ids,
						    wild ? " (a development wildcard, honoured in developer mode)" : "");
			return true;
		}
	}
	*ret_detail = strdup_printf("in Entitlements.plist does not cover %s%s; have the entitlement extended and the "
				    "bundle signed again",
				    ids,
				    wild ? " (its \"*\" is a development wildcard, honoured only in developer mode: "
					   "`udkctl developer on`)"
					 : "");
	return false;
}

/* ---- devices and their nubs ---- */

struct usb_device *
usb_device_of(struct udkd *d, const struct service *s)
{
	struct usb_state *st = usb_state(d);

	for (struct usb_device *dev = st ? st->devices : NULL; dev; dev = dev->next)
		if (dev->nub == s)
			return dev;
	return NULL;
}

struct usb_device *
usb_device_of_interface(struct udkd *d, const struct service *s, uint8_t *ret_iface)
{
	struct usb_state *st = usb_state(d);

	for (struct usb_device *dev = st ? st->devices : NULL; dev; dev = dev->next)
		for (size_t i = 0; i < dev->n_ifaces; i++)
			if (dev->ifaces[i] == s) {
				if (ret_iface)
					*ret_iface = (uint8_t)udk_dict_get_int(s->props, "bInterfaceNumber", 0);
				return dev;
			}
	return NULL;
}

void
usb_device_free(struct usb_device *dev)
{
	if (!dev)
		return;
	usb_host_drop_parked(dev);
	for (size_t i = 0; i < dev->n_ifaces; i++)
		service_unref(dev->ifaces[i]);
	free(dev->ifaces);
	service_unref(dev->nub);
	usb_descs_free(dev->descs);
	free(dev->sysname);
	for (unsigned i = 0; i < 32; i++)
		free(dev->kernel_drivers[i]);
	free(dev->note);
	free(dev->last_reset);
	free(dev);
}

static void
set_note(struct usb_device *dev, char *note)
{
	free(dev->note);
	dev->note = note;
}

struct udk_value *
usb_device_props(const struct usb_descs *descs, enum udk_usb_speed speed)
{
	const struct udk_usb_device_descriptor *dd = &descs->dev;
	struct udk_value *p = udk_value_new_dict(), *configs = udk_value_new_array();
	char name[48];

	udk_dict_set_int(p, "idVendor", dd->idVendor);
	udk_dict_set_int(p, "idProduct", dd->idProduct);
	udk_dict_set_int(p, "bcdDevice", dd->bcdDevice);
	udk_dict_set_int(p, "bcdUSB", dd->bcdUSB);
	udk_dict_set_int(p, "bDeviceClass", dd->bDeviceClass);
	udk_dict_set_int(p, "bDeviceSubClass", dd->bDeviceSubClass);
	udk_dict_set_int(p, "bDeviceProtocol", dd->bDeviceProtocol);
	udk_dict_set_int(p, "bMaxPacketSize0", dd->bMaxPacketSize0);
	udk_dict_set_int(p, "bNumConfigurations", dd->bNumConfigurations);
	udk_dict_set_int(p, "iManufacturer", dd->iManufacturer);
	udk_dict_set_int(p, "iProduct", dd->iProduct);
	udk_dict_set_int(p, "iSerialNumber", dd->iSerialNumber);
	udk_dict_set_int(p, "USBSpeed", speed);
	udk_dict_set_string(p, "UDKSpeed", usb_speed_name(speed));
	snprintf(name, sizeof(name), "usb%x,%x", dd->idVendor, dd->idProduct);
	udk_dict_set_string(p, "IOName", name);
	for (unsigned i = 0; i < descs->n_configs; i++) {
		const struct usb_config *c = &descs->configs[i];
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_int(e, "bConfigurationValue", c->d.bConfigurationValue);
		udk_dict_set_int(e, "bNumInterfaces", c->d.bNumInterfaces);
		if (c->problem)
			udk_dict_set_string(e, "problem", c->problem);
		udk_array_append_take(configs, e);
	}
	udk_dict_set_take(p, "UDKConfigurations", configs);
	return p;
}

static struct service *
sim_bus(struct udkd *d)
{
	struct usb_state *st = usb_state(d);
	struct udk_value *props;

	if (st->sim_bus && st->sim_bus->state != SVC_TERMINATED)
		return st->sim_bus;
	if (st->sim_bus)
		service_unref(st->sim_bus);
	st->sim_bus = NULL;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "IOName", "usb");
	udk_dict_set_string(props, "UDKBackend", "sim");
	if (service_new(d, d->reg.root, "USB0", class_chain_for("IOUSBHostController"), props, &st->sim_bus) < 0)
		st->sim_bus = NULL;
	udk_value_unref(props);
	if (st->sim_bus) {
		service_ref(st->sim_bus);
		service_register(d, st->sim_bus);
	}
	return st->sim_bus;
}

/* ---- interfaces ---- */

void
usb_drop_interfaces(struct udkd *d, struct usb_device *dev, const char *why)
{
	while (dev->n_ifaces) {
		struct service *s = dev->ifaces[--dev->n_ifaces];
		service_terminate(d, s, why);
		service_unref(s);
	}
	free(dev->ifaces);
	dev->ifaces = NULL;
	dev->config = 0;
	dev->matched = false;
}

int
usb_publish_interfaces(struct udkd *d, struct usb_device *dev, uint8_t value, bool match)
{
	const struct usb_config *c = usb_descs_config(dev->descs, value);

	usb_drop_interfaces(d, dev, value ? "the device's configuration changed" : "the device was unconfigured");
	if (!value)
		return 0;
	if (!c)
		return udk_set_reason(-EINVAL, "the device has no configuration %u", value);
	if (c->problem)
		return udk_set_reason(-EINVAL, "configuration %u cannot be used: %s", value, c->problem);
	dev->ifaces = calloc(c->n_ifaces ? c->n_ifaces : 1, sizeof(*dev->ifaces));
	if (!dev->ifaces)
		return -ENOMEM;
	dev->config = value;
	dev->matched = match;
	for (unsigned i = 0; i < c->n_ifaces; i++) {
		const struct usb_alt *a = usb_iface_alt(&c->ifaces[i], 0);
		struct udk_value *p = udk_value_new_dict();
		struct service *s = NULL;
		char name[40];

		if (!a)
			a = &c->ifaces[i].alts[0];
		udk_dict_set_int(p, "bInterfaceNumber", a->d.bInterfaceNumber);
		udk_dict_set_int(p, "bAlternateSetting", a->d.bAlternateSetting);
		udk_dict_set_int(p, "bInterfaceClass", a->d.bInterfaceClass);
		udk_dict_set_int(p, "bInterfaceSubClass", a->d.bInterfaceSubClass);
		udk_dict_set_int(p, "bInterfaceProtocol", a->d.bInterfaceProtocol);
		udk_dict_set_int(p, "bNumEndpoints", a->d.bNumEndpoints);
		udk_dict_set_int(p, "iInterface", a->d.iInterface);
		udk_dict_set_int(p, "bConfigurationValue", value);
		udk_dict_set_int(p, "idVendor", dev->descs->dev.idVendor);
		udk_dict_set_int(p, "idProduct", dev->descs->dev.idProduct);
		udk_dict_set_int(p, "bcdDevice", dev->descs->dev.bcdDevice);
		udk_dict_set_int(p, "UDKAlternateSettings", c->ifaces[i].n_alts);
		udk_dict_set_string(p, "UDKBackend", udk_dict_get_string(dev->nub->props, "UDKBackend"));
		if (dev->backend == USB_USBFS && a->d.bInterfaceNumber < 32 && dev->kernel_drivers[a->d.bInterfaceNumber])
			udk_dict_set_string(p, "UDKKernelDriver", dev->kernel_drivers[a->d.bInterfaceNumber]);
		snprintf(name, sizeof(name), "IOUSBHostInterface@%u", a->d.bInterfaceNumber);
		if (service_new(d, dev->nub, name, class_chain_for("IOUSBHostInterface"), p, &s) == 0) {
			s->owner = dev->nub->owner;
			dev->ifaces[dev->n_ifaces++] = service_ref(s);
		}
		udk_value_unref(p);
	}
	{
		struct udk_value *np = udk_value_new_dict();
		udk_dict_set_int(np, "UDKCurrentConfiguration", value);
		service_set_properties(d, dev->nub, np);
		udk_value_unref(np);
	}
	if (match)
		for (size_t i = 0; i < dev->n_ifaces; i++)
			service_register(d, dev->ifaces[i]);
	log_info(d, "device %s: configuration %u, %zu interface%s published%s", dev->nub->name, value, dev->n_ifaces,
		 dev->n_ifaces == 1 ? "" : "s", match ? " for matching" : " (not matched: the driver asked so)");
	return 0;
}

static bool
has_driver(const struct service *s)
{
	for (size_t i = 0; i < s->n_children; i++)
		if (s->children[i]->istate != INST_NONE && s->children[i]->istate != INST_FAILED &&
		    s->children[i]->state != SVC_TERMINATED)
			return true;
	return false;
}

static uint8_t
first_usable_config(const struct usb_descs *descs)
{
	for (unsigned i = 0; i < descs->n_configs; i++)
		if (!descs->configs[i].problem)
			return descs->configs[i].d.bConfigurationValue;
	return 0;
}

struct configure_wait {
	uint64_t nub;
	uint8_t value;
};

static void
sim_configured(struct udkd *d, struct driver_proc *p, struct wire_msg *reply, int status, void *data)
{
	struct configure_wait *w = data;
	struct service *s = service_by_id(d, w->nub);
	struct usb_device *dev = s ? usb_device_of(d, s) : NULL;

	(void)p;
	if (dev && status >= 0 && !has_driver(dev->nub)) {
		dev->by_udkd = true;
		set_note(dev, strdup_printf("no driver matched the device, so udkd set its configuration %u", w->value));
		usb_publish_interfaces(d, dev, w->value, true);
	} else if (dev && status < 0) {
		const char *why = reply ? udk_dict_get_string(reply->body, "reason") : udk_error_reason();
		set_note(dev, strdup_printf("no driver matched the device and udkd could not set configuration %u: %s",
					    w->value, why ? why : udk_strerror(status)));
		log_warning(d, "device %s: %s", dev->nub->name, dev->note);
	}
	free(w);
}

void
usb_configure_unclaimed(struct udkd *d, struct usb_device *dev)
{
	uint8_t value;

	if (!dev->nub || dev->nub->state != SVC_REGISTERED || has_driver(dev->nub) || dev->n_ifaces)
		return;
	if (dev->backend == USB_USBFS) {
		/* Linux configured it already when it enumerated it */
		value = (uint8_t)udk_dict_get_int(dev->nub->props, "UDKActiveConfiguration", 0);
		if (!value) {
			set_note(dev, strdup("no driver matched the device and Linux left it unconfigured"));
			return;
		}
		dev->by_udkd = true;
		set_note(dev, strdup_printf("no driver matched the device: its interfaces are those of configuration %u, "
					    "which Linux set when it enumerated it",
					    value));
		usb_publish_interfaces(d, dev, value, true);
		return;
	}
	value = first_usable_config(dev->descs);
	if (!value) {
		set_note(dev, strdup_printf("no driver matched the device, and it has no usable configuration%s%s",
					    dev->descs->n_configs ? ": " : "",
					    dev->descs->n_configs ? dev->descs->configs[0].problem : ""));
		log_warning(d, "device %s: %s", dev->nub->name, dev->note);
		return;
	}
	if (!dev->model || !dev->model->proc) {
		return;
	}
	{
		struct configure_wait *w = calloc(1, sizeof(*w));
		struct udk_value *body = udk_value_new_dict();
		if (!w) {
			udk_value_unref(body);
			return;
		}
		w->nub = dev->nub->id;
		w->value = value;
		udk_dict_set_int(body, "function", (int64_t)dev->fn_index);
		udk_dict_set_int(body, "value", value);
		if (proc_request(d, dev->model->proc, OP_USB_DM_SET_CONFIGURATION, body, NULL, 0,
				 d->cfg.request_timeout_ms, sim_configured, w) < 0)
			free(w);
		udk_value_unref(body);
	}
}

/* After the hello: udkd registered the nubs by now. */
static void
check_unclaimed(struct loop *l, void *data)
{
	struct udkd *d = ((void **)data)[0];
	uint64_t id = (uint64_t)(uintptr_t)((void **)data)[1];
	struct service *s = service_by_id(d, id);
	struct usb_device *dev = s ? usb_device_of(d, s) : NULL;

	(void)l;
	free(data);
	if (dev)
		usb_configure_unclaimed(d, dev);
}

static void
post_check_unclaimed(struct udkd *d, struct service *nub)
{
	void **data = calloc(2, sizeof(void *));

	if (!data)
		return;
	data[0] = d;
	data[1] = (void *)(uintptr_t)nub->id;
	if (loop_post(d->loop, check_unclaimed, data) < 0)
		free(data);
}

/* ---- simulated devices ---- */

static bool
is_usb_entry(const struct udk_value *entry)
{
	return streq(udk_dict_get_string(entry, "Kind"), "usb");
}

static int
usb_model_configure(struct udkd *d, struct device_model *m, const struct udk_value *entry)
{
	const char *host = udk_dict_get_string(entry, "Host");
	struct usb_model *um;

	(void)d;
	if (!is_usb_entry(entry)) {
		if (udk_dict_get(entry, "Host"))
			return udk_set_reason(-EINVAL, "Host is a key of USB devices (Kind usb)");
		return 0;
	}
	if (host && !streq(host, "udk") && !streq(host, "linux"))
		return udk_set_reason(-EINVAL,
				      "Host \"%s\" must be \"udk\" (udk drivers drive it) or \"linux\" (exported to "
				      "Linux's vhci-hcd)",
				      host);
	um = calloc(1, sizeof(*um));
	if (!um)
		return -ENOMEM;
	um->linux_host = streq(host, "linux");
	um->vhci_port = -1;
	return model_set_family_data(m, &udkd_family_usb, um);
}

static int
usb_model_function(struct udkd *d, struct device_model *m, size_t index, const struct udk_value *desc,
		   struct service **ret)
{
	struct usb_model *um = model_family_data(m, &udkd_family_usb);
	struct usb_state *st = usb_state(d);
	size_t len = 0;
	const uint8_t *blob = udk_value_get_data(udk_dict_get(desc, "descriptors"), &len);
	struct udk_value *strings = udk_dict_get(desc, "strings"), *props;
	int64_t speed = udk_dict_get_int(desc, "speed", UDK_USB_SPEED_HIGH);
	struct usb_descs *descs = NULL;
	struct usb_device *dev;
	struct service *bus = sim_bus(d), *nub = NULL;
	char name[80];
	int r;

	if (!bus)
		return -ENOMEM;
	if (!blob)
		return udk_set_reason(-EINVAL, "a USB function needs its descriptors");
	if (speed < UDK_USB_SPEED_LOW || speed > UDK_USB_SPEED_SUPER_PLUS)
		return udk_set_reason(-EINVAL, "speed %lld is not a USB speed", (long long)speed);
	if (udk_value_get_type(strings) != UDK_VALUE_ARRAY || udk_array_size(strings) > 254)
		return udk_set_reason(-EINVAL, "strings must be an array of at most 254 strings");
	r = usb_descs_parse(blob, len, &descs);
	if (r < 0)
		return r;
	props = usb_device_props(descs, (enum udk_usb_speed)speed);
	udk_dict_set_string(props, "UDKBackend", um && um->linux_host ? "linux" : "sim");
	udk_dict_set_string(props, "UDKDevice", m->name);
	udk_dict_set_int(props, "UDKFunction", (int64_t)index);
	udk_dict_set_int(props, "locationID", (int64_t)(0x01000000u | ((uint32_t)(m->name[0]) << 16) | (index << 8)));
#define STR(key, idx)                                                                                          \
	do {                                                                                                   \
		size_t _i = (idx);                                                                             \
		const char *_s = _i ? udk_value_get_string(udk_array_get(strings, _i - 1)) : NULL;             \
		if (_s)                                                                                        \
			udk_dict_set_string(props, key, _s);                                                   \
	} while (0)
	STR("USB Vendor Name", descs->dev.iManufacturer);
	STR("USB Product Name", descs->dev.iProduct);
	STR("USB Serial Number", descs->dev.iSerialNumber);
#undef STR
	if (index == 0)
		snprintf(name, sizeof(name), "%s", m->name);
	else
		snprintf(name, sizeof(name), "%s.%zu", m->name, index);
	if (um && um->linux_host) {
		/* Linux's drivers drive it: no udk driver matches it */
		udk_dict_set_string(props, "UDKHost", "linux");
		r = service_new(d, bus, name, class_chain_for("IOService"), props, &nub);
		udk_value_unref(props);
		usb_descs_free(descs);
		if (r < 0)
			return udk_set_reason(r, "cannot publish the device");
		usb_export_model(d, m, nub, (enum udk_usb_speed)speed);
		*ret = nub;
		return 0;
	}
	r = service_new(d, bus, name, class_chain_for("IOUSBHostDevice"), props, &nub);
	udk_value_unref(props);
	if (r < 0) {
		usb_descs_free(descs);
		return udk_set_reason(r, "cannot publish the device");
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		usb_descs_free(descs);
		return -ENOMEM;
	}
	dev->backend = USB_SIM;
	dev->descs = descs;
	dev->speed = (enum udk_usb_speed)speed;
	dev->model = m;
	dev->fn_index = index;
	dev->nub = service_ref(nub);
	dev->next = st->devices;
	st->devices = dev;
	for (unsigned i = 0; i < descs->n_configs; i++)
		if (descs->configs[i].problem)
			log_warning(d, "device %s: configuration %u cannot be used: %s", m->name,
				    descs->configs[i].d.bConfigurationValue, descs->configs[i].problem);
	log_info(d, "device %s: USB %04x:%04x, %s speed, %u configuration%s", m->name, descs->dev.idVendor,
		 descs->dev.idProduct, usb_speed_name((unsigned)speed), descs->n_configs, descs->n_configs == 1 ? "" : "s");
	post_check_unclaimed(d, nub);
	*ret = nub;
	return 0;
}

static void
usb_describe_model(struct udkd *d, const struct device_model *m, struct udk_value *entry)
{
	struct usb_model *um = model_family_data(m, &udkd_family_usb);

	(void)d;
	if (!um)
		return;
	udk_dict_set_string(entry, "family", "usb");
	udk_dict_set_string(entry, "host", um->linux_host ? "linux (vhci-hcd)" : "udk");
	if (um->linux_host && um->vhci_port >= 0)
		udk_dict_set_int(entry, "vhci_port", um->vhci_port);
	if (um->export_error[0])
		udk_dict_set_string(entry, "export_error", um->export_error);
}

/* ---- the broker ---- */

static bool
alt_is_boot_keyboard(const struct usb_alt *a)
{
	/* HID class, boot interface subclass, keyboard protocol */
	return a->d.bInterfaceClass == 3 && a->d.bInterfaceSubClass == 1 && a->d.bInterfaceProtocol == 1;
}

/* Whether opening @dev (its interface @iface when @is_iface) hands a driver a boot keyboard. */
static bool
opens_keyboard(const struct usb_device *dev, bool is_iface, uint8_t iface)
{
	for (unsigned c = 0; c < dev->descs->n_configs; c++) {
		const struct usb_config *cfg = &dev->descs->configs[c];
		for (unsigned i = 0; i < cfg->n_ifaces; i++) {
			const struct usb_iface *it = &cfg->ifaces[i];
			/* an interface: that number in any configuration (erring on the user's side) */
			if (is_iface && it->number != iface)
				continue;
			for (unsigned a = 0; a < it->n_alts; a++)
				if (alt_is_boot_keyboard(&it->alts[a]))
					return true;
		}
	}
	return false;
}

/*
 * A keyboard is the user's however a driver reaches it: the family that
 * guards keyboards decides (udkd_protected_check), with the same grant as
 * for a keyboard it opens itself.  0, or the refusal with its reason.
 */
static int
keyboard_check(struct udkd *d, struct driver_proc *p, struct usb_device *dev, struct service *s)
{
	const char *product = udk_dict_get_string(dev->nub->props, "USB Product Name");
	const char *serial = udk_dict_get_string(dev->nub->props, "USB Serial Number");
	char *key, *name = NULL;
	int r;

	if (serial && *serial)
		key = strdup_printf("usb:%04x:%04x:%s", dev->descs->dev.idVendor, dev->descs->dev.idProduct, serial);
	else
		key = strdup_printf("usb:%04x:%04x:%s", dev->descs->dev.idVendor, dev->descs->dev.idProduct,
				    dev->sysname ? dev->sysname : dev->nub->name);
	if (!product || !*product)
		product = name = strdup_printf("USB keyboard %04x:%04x", dev->descs->dev.idVendor,
					       dev->descs->dev.idProduct);
	if (!key || !product) {
		free(key);
		free(name);
		return udk_set_reason(-ENOMEM, "out of memory");
	}
	struct udkd_protected_device pd = { "keyboard", key, product, "USB", false, s };
	r = udkd_protected_check(d, p, &pd);
	free(key);
	free(name);
	return r;
}

static void
usb_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	uint8_t iface = 0;
	struct usb_device *dev = usb_device_of(d, s);
	bool is_iface = false;
	struct udk_value *info, *keys = NULL;

	if (!dev) {
		dev = usb_device_of_interface(d, s, &iface);
		is_iface = dev != NULL;
	}
	if (!dev) {
		proc_reply(p, m, -UDK_E_UNSUPPORTED,
			   "only USB devices (IOUSBHostDevice) and interfaces (IOUSBHostInterface) can be opened, not a bus",
			   NULL, NULL, 0);
		return;
	}
	if (!is_iface && dev->opener && dev->opener != p && dev->opener->state != PROC_DEAD) {
		char *why = strdup_printf("the device is open by another driver (%s, pid %d): a device has one driver "
					  "at a time",
					  usb_who(dev->opener), dev->opener->pid);
		proc_reply(p, m, -UDK_E_BUSY, why, NULL, NULL, 0);
		free(why);
		return;
	}
	if (opens_keyboard(dev, is_iface, iface)) {
		int r = keyboard_check(d, p, dev, s);
		if (r < 0) {
			proc_reply(p, m, r, udk_error_reason(), NULL, NULL, 0);
			udk_clear_reason();
			return;
		}
	}
	if (!is_iface) {
		dev->opener = p;
		dev->opened_ms = wall_ms();
		if (!dev->by_udkd || !dev->n_ifaces)
			set_note(dev, strdup_printf("its driver %s (pid %d) opened the device and has not set a "
						    "configuration, so none of its interfaces exists yet: the driver "
						    "calls udk_usb_device_set_configuration(dev, value, true) to publish "
						    "them",
						    usb_who(p), p->pid));
	}
	if (dev->backend == USB_USBFS) {
		usb_host_open(d, p, m, dev, is_iface ? iface : -1);
		return;
	}
	info = udk_value_new_dict();
	udk_dict_set_string(info, "backend", "sim");
	udk_dict_set_data(info, "descriptors", dev->descs->blob, dev->descs->blob_len);
	udk_dict_set_int(info, "speed", dev->speed);
	udk_dict_set_int(info, "configuration", dev->config);
	udk_dict_set_uint(info, "device", dev->nub->id);
	if (is_iface) {
		keys = udk_value_new_dict();
		udk_dict_set_int(keys, "interface", iface);
		udk_dict_set_int(info, "interface", iface);
	}
	model_connect_ex(d, p, m, s, info, keys);
	udk_value_unref(keys);
}

/* ---- messages ---- */

static void
handle_configured(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct service *s = service_by_id(d, udk_value_get_uint(udk_dict_get(m->body, "device"), 0));
	struct usb_device *dev = s ? usb_device_of(d, s) : NULL;
	int64_t value = udk_dict_get_int(m->body, "configuration", -1);
	bool match = udk_dict_get_bool(m->body, "match", true);
	struct udk_value *body, *list;
	int r;

	if (!dev || p->provider != s) {
		proc_reply(p, m, -EPERM, "only the driver of a USB device tells udkd its configuration", NULL, NULL, 0);
		return;
	}
	if (value < 0 || value > 255) {
		proc_reply(p, m, -EINVAL, "bConfigurationValue is 0..255", NULL, NULL, 0);
		return;
	}
	dev->by_udkd = false;
	r = usb_publish_interfaces(d, dev, (uint8_t)value, match);
	if (r < 0) {
		proc_reply(p, m, r, udk_error_reason(), NULL, NULL, 0);
		return;
	}
	if (!value)
		set_note(dev, strdup_printf("its driver %s (pid %d) unconfigured the device (configuration 0), so it has "
					    "no interfaces",
					    usb_who(p), p->pid));
	else if (!match)
		set_note(dev, strdup_printf("its driver %s (pid %d) set configuration %u without interface matching "
					    "(match_interfaces false): the interface nubs exist but no driver is matched "
					    "to them",
					    usb_who(p), p->pid, (unsigned)value));
	else
		set_note(dev, strdup_printf("its driver %s (pid %d) set configuration %u: its interfaces are published",
					    usb_who(p), p->pid, (unsigned)value));
	body = udk_value_new_dict();
	list = udk_value_new_array();
	for (size_t i = 0; i < dev->n_ifaces; i++) {
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_int(e, "number", udk_dict_get_int(dev->ifaces[i]->props, "bInterfaceNumber", 0));
		udk_dict_set_uint(e, "id", dev->ifaces[i]->id);
		udk_array_append_take(list, e);
	}
	udk_dict_set_take(body, "interfaces", list);
	proc_reply(p, m, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

static void
usb_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	if (udk_value_get_type(m->body) != UDK_VALUE_DICT) {
		proc_reply(p, m, -UDK_E_PROTOCOL, "request body must be a dictionary", NULL, NULL, 0);
		return;
	}
	switch (m->h.op) {
	case OP_USB_CONFIGURED:
		if (p->kind != PROC_KIND_DRIVER)
			break;
		handle_configured(d, p, m);
		return;
	default:
		break;
	}
	proc_reply(p, m, -EOPNOTSUPP, "udkd's USB family does not handle this request", NULL, NULL, 0);
}

/* ---- events ---- */

static void
on_proc_died(struct udkd *d, enum udkd_event ev, void *data, void *ctx)
{
	struct driver_proc *p = data;
	struct usb_state *st = usb_state(d);

	(void)ev;
	(void)ctx;
	if (p->kind != PROC_KIND_DRIVER || !st)
		return;
	for (struct usb_device *dev = st->devices; dev; dev = dev->next) {
		bool device_driver = p->provider == dev->nub, iface_driver = false;
		for (size_t i = 0; i < dev->n_ifaces; i++)
			iface_driver |= p->provider == dev->ifaces[i];
		if (!device_driver && !iface_driver)
			continue;
		if (dev->opener == p)
			dev->opener = NULL;
		if (device_driver && p->crashed) {
			free(dev->last_reset);
			dev->last_reset = strdup_printf("its driver %s (pid %d) died: udk reset the port%s", usb_who(p), p->pid,
							dev->backend == USB_SIM ? " and the device is unconfigured until a "
										  "driver sets a configuration"
										: "");
			log_notice(d, "device %s: %s", dev->nub->name, dev->last_reset);
			if (dev->backend == USB_SIM) {
				/* the model heard "client-died" and reset itself */
				usb_drop_interfaces(d, dev, "the driver of the device died; the port was reset");
				set_note(dev, strdup_printf("its driver %s (pid %d) died; the port was reset and the device is "
							    "unconfigured until its driver sets a configuration again",
							    usb_who(p), p->pid));
			}
		}
		if (dev->backend == USB_USBFS)
			usb_host_released(d, dev, p->crashed);
	}
}

static void
on_terminated(struct udkd *d, enum udkd_event ev, void *data, void *ctx)
{
	struct service *s = data;
	struct usb_state *st = usb_state(d);

	(void)ev;
	(void)ctx;
	if (!st)
		return;
	for (struct usb_device **pp = &st->devices; *pp; pp = &(*pp)->next) {
		struct usb_device *dev = *pp;
		if (dev->nub == s) {
			*pp = dev->next;
			usb_device_free(dev);
			return;
		}
		for (size_t i = 0; i < dev->n_ifaces; i++)
			if (dev->ifaces[i] == s) {
				service_unref(s);
				dev->ifaces[i] = dev->ifaces[--dev->n_ifaces];
				return;
			}
	}
}

/* ---- explain ---- */

static void
usb_explain(struct udkd *d, const struct personality *p, const struct service *s, struct udk_value *report)
{
	uint8_t iface = 0;
	struct usb_device *dev = usb_device_of(d, s);
	bool wants_iface = streq(p->provider_class, "IOUSBHostInterface");
	char *path;

	if (dev) {
		for (unsigned i = 0; i < dev->descs->n_configs; i++)
			if (dev->descs->configs[i].problem)
				match_report_add(report, "USB descriptors", "note", "configuration %u cannot be used: %s",
						 dev->descs->configs[i].d.bConfigurationValue, dev->descs->configs[i].problem);
		if (!wants_iface)
			return;
		path = service_path(s);
		if (dev->n_ifaces)
			match_report_add(report, "IOUSBHostInterface", "note",
					 "the personality matches interfaces and this is a device; %s: its %zu "
					 "interface%s %s under %s%s",
					 dev->note ? dev->note : "a configuration is set", dev->n_ifaces,
					 dev->n_ifaces == 1 ? " is" : "s are", dev->matched ? "published" : "published but not registered for matching",
					 path ? path : s->name, dev->matched ? " (explain this personality on them)" : "");
		else
			match_report_add(report, "IOUSBHostInterface", "note",
					 "the personality matches interfaces and this is a device: a device's interfaces "
					 "exist only once a configuration is set, and %s",
					 dev->note ? dev->note
						   : "none is set yet (no driver has opened the device, and udkd has not "
						     "configured it)");
		free(path);
		return;
	}
	dev = usb_device_of_interface(d, s, &iface);
	if (dev)
		match_report_add(report, "USB interface", "note",
				 "interface %u of configuration %u (class 0x%02llx, subclass 0x%02llx, protocol 0x%02llx): %s",
				 iface, dev->config, (unsigned long long)udk_dict_get_int(s->props, "bInterfaceClass", 0),
				 (unsigned long long)udk_dict_get_int(s->props, "bInterfaceSubClass", 0),
				 (unsigned long long)udk_dict_get_int(s->props, "bInterfaceProtocol", 0),
				 dev->note ? dev->note : "published");
}

/* ---- lifecycle ---- */

static struct usb_state *
state_get_or_new(struct udkd *d)
{
	struct usb_state *st = usb_state(d);

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return NULL;
		udkd_family_set_state(d, &udkd_family_usb, st);
	}
	return st;
}

static int
usb_init(struct udkd *d)
{
	struct usb_state *st = state_get_or_new(d);

	if (!st)
		return -ENOMEM;
	if (!st->sysfs_dir)
		st->sysfs_dir = strdup("/sys/bus/usb/devices");
	if (!st->dev_dir)
		st->dev_dir = strdup("/dev/bus/usb");
	if (!st->vhci_dir)
		st->vhci_dir = strdup("/sys/devices/platform/vhci_hcd.0");
	if (!st->sysfs_dir || !st->dev_dir || !st->vhci_dir)
		return -ENOMEM;
	udkd_listen(d, UDKD_EV_PROC_DIED, on_proc_died, NULL);
	udkd_listen(d, UDKD_EV_SERVICE_TERMINATED, on_terminated, NULL);
	return 0;
}

static int
usb_start(struct udkd *d)
{
	return usb_state(d)->host ? usb_host_start(d) : 0;
}

static void
usb_fini(struct udkd *d)
{
	struct usb_state *st = usb_state(d);

	if (!st)
		return;
	usb_host_fini(d);
	while (st->devices) {
		struct usb_device *dev = st->devices;
		st->devices = dev->next;
		usb_device_free(dev);
	}
	service_unref(st->sim_bus);
	service_unref(st->host_bus);
	free(st->sysfs_dir);
	free(st->dev_dir);
	free(st->vhci_dir);
	free(st);
	udkd_family_set_state(d, &udkd_family_usb, NULL);
}

static const struct udkd_family_option usb_options[] = {
	{ "usb-sysfs", optional_argument, "DIR",
	  "publish this machine's real USB devices (DIR: a copy of /sys/bus/usb/devices) and follow hot plug; udk "
	  "drivers get them through usbfs" },
	{ "usb-dev-dir", required_argument, "DIR", "where the usbfs device nodes are (default /dev/bus/usb)" },
	{ "vhci-dir", required_argument, "DIR",
	  "the vhci-hcd device that simulated devices with Host linux attach to (default "
	  "/sys/devices/platform/vhci_hcd.0)" },
	{ NULL, 0, NULL, NULL },
};

static int
usb_set_option(struct udkd *d, const char *name, const char *value)
{
	struct usb_state *st = state_get_or_new(d);
	char **slot = NULL;

	if (!st)
		return -ENOMEM;
	if (streq(name, "usb-sysfs")) {
		st->host = true;
		slot = value ? &st->sysfs_dir : NULL;
	} else if (streq(name, "usb-dev-dir")) {
		slot = &st->dev_dir;
	} else if (streq(name, "vhci-dir")) {
		slot = &st->vhci_dir;
	} else {
		return -EINVAL;
	}
	if (slot) {
		free(*slot);
		*slot = strdup(value);
		if (!*slot)
			return -ENOMEM;
	}
	return 0;
}

static struct udk_value *
usb_describe(struct udkd *d)
{
	struct usb_state *st = usb_state(d);
	struct udk_value *v = udk_value_new_dict();
	unsigned n_sim = 0, n_real = 0;

	for (struct usb_device *dev = st ? st->devices : NULL; dev; dev = dev->next) {
		if (dev->backend == USB_SIM)
			n_sim++;
		else
			n_real++;
	}
	udk_dict_set_bool(v, "host_devices", st && st->host);
	if (st && st->host) {
		udk_dict_set_string(v, "sysfs_dir", st->sysfs_dir);
		udk_dict_set_string(v, "dev_dir", st->dev_dir);
		udk_dict_set_bool(v, "hotplug", st->hotplug);
	}
	udk_dict_set_int(v, "simulated_devices", n_sim);
	udk_dict_set_int(v, "real_devices", n_real);
	if (st)
		udk_dict_set_string(v, "vhci_dir", st->vhci_dir);
	return v;
}

static const struct udkd_family_class usb_classes[] = {
	{ "IOUSBHostController", "IOService", "transport.usb", NULL },
	{ "IOUSBHostDevice", "IOService", "transport.usb", NULL },
	{ "IOUSBHostInterface", "IOService", "transport.usb", NULL },
	{ "IOUserUSBHostDevice", "IOService", "transport.usb", "USB device driver (a plain service)" },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement usb_entitlements[] = {
	{ "transport.usb", check_transport_usb, covers_transport_usb },
	{ NULL, NULL, NULL },
};

const struct udkd_family udkd_family_usb = {
	UDKD_FAMILY_INIT,
	.name = "usb",
	.title = "USB devices and interfaces",
	.docs = "docs/families/usb.md",
	.classes = usb_classes,
	.matcher = &usb_family_matcher,
	.entitlements = usb_entitlements,
	.init = usb_init,
	.start = usb_start,
	.fini = usb_fini,
	.options = usb_options,
	.set_option = usb_set_option,
	.open_provider = usb_open_provider,
	.op_base = USB_OP_BASE,
	.op_count = USB_OP_COUNT,
	.message = usb_message,
	.model_kind = "usb",
	.model_function = usb_model_function,
	.model_configure = usb_model_configure,
	.describe_model = usb_describe_model,
	.describe = usb_describe,
	.explain = usb_explain,
};
