/* SPDX-License-Identifier: MIT */
/*
 * hid/daemon/policy.c - protected-device access
 * (org.udk.hid.protected-device-access).
 *
 * Keyboards (and keypads) are protected: what is typed on them is the
 * user's.  A driver may read or seize one only when both hold:
 *
 *   its signed entitlement transport.hid lists the keyboard usage
 *   (DeviceUsagePage 1, DeviceUsage 6), so the vendor asked for it;
 *
 *   the user granted it: `udkctl access grant --hid keyboard DRIVER` for
 *   every keyboard, or `udkctl access grant --hid device:KEY DRIVER` for
 *   one (KEY is the device's UDKHIDDeviceKey).
 *
 * Built-in keyboards (i8042, SPI, I2C) follow the same rule as external
 * ones: there is no exception either way.  A refusal names the policy, the
 * device, whether it is built in, and the commands that grant access; it
 * is remembered so `udkctl access list` shows who asked.  Revoking a grant
 * closes, at once, every protected device the driver no longer may hold
 * (a seized keyboard is released and what the driver had not handled goes
 * back to it).  Grants live with udkd's other access grants
 * (daemon/access.c); this file decides what they mean.
 */
#include "hid-private.h"
#include "util.h"

#define POLICY_ID "org.udk.hid.protected-device-access"
#define POLICY "protected-device access (" POLICY_ID ")"

bool
hid_dev_protected(const struct hid_dev *dev)
{
	for (unsigned i = 0; i < dev->n_usages; i++)
		if (dev->usages[i] == UDK_HID_USAGE(UDK_HID_PAGE_GENERIC_DESKTOP, UDK_HID_GD_KEYBOARD) ||
		    dev->usages[i] == UDK_HID_USAGE(UDK_HID_PAGE_GENERIC_DESKTOP, UDK_HID_GD_KEYPAD))
			return true;
	return false;
}

static int
decide(struct udkd *d, const struct bundle *b, const struct hid_dev *dev, bool seize, bool record)
{
	const char *id = b && b->identifier ? b->identifier : "?";
	char what_dev[300];
	const char *whats[3] = { "keyboard", what_dev, NULL };
	char *detail = NULL, *path;
	bool covered;
	int r;

	if (!hid_dev_protected(dev))
		return 0;
	snprintf(what_dev, sizeof(what_dev), "device:%s", dev->key);
	path = service_path(dev->iface);
	covered = b && entitlements_cover(d, b, dev->iface, &detail);
	if (!covered) {
		r = udk_set_reason(-UDK_E_NOT_PERMITTED,
				   "%s: %s may not %s %s \"%s\" (%s, %s, %s): keyboards are protected devices and the "
				   "driver's transport.hid entitlement does not list the keyboard usage (%s); the "
				   "vendor must add {DeviceUsagePage 1, DeviceUsage 6} to it and sign the bundle again",
				   POLICY, id, seize ? "seize" : "read", dev->built_in ? "the built-in keyboard" : "the keyboard",
				   dev->product, dev->built_in ? "built-in" : "external", dev->transport, path ? path : dev->name,
				   detail ? detail : "no entitlement");
		free(detail);
		free(path);
		return r;
	}
	free(detail);
	if (access_device_granted(d, &udkd_family_hid, b, whats)) {
		free(path);
		return 0;
	}
	if (record)
		access_device_refused(d, &udkd_family_hid, b, "keyboard", dev->key);
	r = udk_set_reason(-UDK_E_NOT_PERMITTED,
			   "%s: %s may not %s %s \"%s\" (%s, %s, %s): keyboards are protected devices, and no "
			   "access grant lets this driver %s them; built-in and external keyboards follow the same "
			   "rule. To allow it: `udkctl access grant --hid keyboard %s` (every keyboard) or "
			   "`udkctl access grant --hid device:%s %s` (only this one)",
			   POLICY, id, seize ? "seize" : "read", dev->built_in ? "the built-in keyboard" : "the keyboard",
			   dev->product, dev->built_in ? "built-in" : "external", dev->transport, path ? path : dev->name,
			   seize ? "seize" : "read", id, dev->key, id);
	free(path);
	return r;
}

/*
 * A keyboard another family hands a driver (family.h, protected_check): a
 * USB boot keyboard opened over usbfs, say.  The vendor's entitlement there
 * is that family's (transport.usb names the device), so what this adds is
 * the user's grant, the same "keyboard" or "device:KEY" grant as for a
 * keyboard this family opens.
 */
int
hid_protected_check(struct udkd *d, const struct bundle *b, const struct udkd_protected_device *pd, bool record)
{
	const char *id = b && b->identifier ? b->identifier : "?";
	char what_dev[300];
	const char *whats[3] = { "keyboard", what_dev, NULL };
	char *path;
	int r;

	snprintf(what_dev, sizeof(what_dev), "device:%s", pd->key);
	if (access_device_granted(d, &udkd_family_hid, b, whats))
		return 0;
	if (record)
		access_device_refused(d, &udkd_family_hid, b, "keyboard", pd->key);
	path = pd->service ? service_path(pd->service) : NULL;
	r = udk_set_reason(-UDK_E_NOT_PERMITTED,
			   "%s: %s may not read the keyboard \"%s\" (%s, %s, %s): keyboards are protected devices "
			   "whichever family's transport reaches them, and no access grant lets this driver read "
			   "them. To allow it: `udkctl access grant --hid keyboard %s` (every keyboard) or "
			   "`udkctl access grant --hid device:%s %s` (only this one)",
			   POLICY, id, pd->product, pd->built_in ? "built-in" : "external", pd->transport,
			   path ? path : "?", id, pd->key, id);
	free(path);
	return r;
}

int
hid_policy_check(struct udkd *d, const struct bundle *b, const struct hid_dev *dev, bool seize)
{
	return decide(d, b, dev, seize, true);
}

bool
hid_policy_allows(struct udkd *d, const struct bundle *b, const struct hid_dev *dev, bool seize)
{
	bool ok = decide(d, b, dev, seize, false) == 0;

	udk_clear_reason();
	return ok;
}

int
hid_grant_check(struct udkd *d, const char *what, char **ret_normalized)
{
	(void)d;
	if (streq(what, "keyboard") || streq(what, "keyboards") || streq(what, "keypad")) {
		*ret_normalized = strdup("keyboard");
		return *ret_normalized ? 0 : -ENOMEM;
	}
	if (startswith(what, "device:") && strlen(what) > 7 && strlen(what) < 290) {
		for (const char *c = what; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return udk_set_reason(-EINVAL, "a device key has no control characters");
		*ret_normalized = strdup(what);
		return *ret_normalized ? 0 : -ENOMEM;
	}
	return udk_set_reason(-EINVAL,
			      "\"%s\" is not a HID grant: grant \"keyboard\" (every keyboard and keypad, built-in or "
			      "not) or \"device:KEY\" (one device; `udkctl families hid` lists each device's key)",
			      what ? what : "");
}

static void
clear_exclusions(struct service *s, const char *driver)
{
	size_t w = 0;

	/* only the refusals of this policy: a driver that failed for its own reasons stays out */
	for (size_t i = 0; i < s->n_excluded; i++) {
		const struct bundle *b = s->excluded[i].personality ? s->excluded[i].personality->bundle : NULL;
		if (b && streq(b->identifier, driver) && s->excluded[i].reason && strstr(s->excluded[i].reason, POLICY_ID))
			free(s->excluded[i].reason);
		else
			s->excluded[w++] = s->excluded[i];
	}
	s->n_excluded = w;
}

struct retry {
	struct udkd *d;
	struct service *provider;
	char *driver;
};

static void
on_retry(struct loop *l, void *data)
{
	struct retry *rt = data;

	(void)l;
	if (rt->provider->state != SVC_TERMINATED) {
		clear_exclusions(rt->provider, rt->driver);
		match_service(rt->d, rt->provider);
	}
	service_unref(rt->provider);
	free(rt->driver);
	free(rt);
}

/*
 * A driver whose Start() failed for want of a grant ended.  If the grant
 * came meanwhile (the user answered while it was starting), it tries
 * again: the refusal is not remembered against a driver that now may.
 */
void
hid_policy_proc_died(struct udkd *d, struct driver_proc *p)
{
	struct service *inst = p->instance, *prov = p->provider;
	struct hid_dev *dev;
	struct retry *rt;

	if (!inst || !inst->fail_reason || !strstr(inst->fail_reason, POLICY_ID) || !prov || !p->bundle ||
	    !p->bundle->identifier)
		return;
	dev = hid_dev_by_iface(d, prov);
	if (!dev || !hid_policy_allows(d, p->bundle, dev, true))
		return;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return;
	rt->d = d;
	rt->provider = service_ref(prov);
	rt->driver = strdup(p->bundle->identifier);
	loop_add_timer(d->loop, now_ns(), on_retry, rt, NULL);
}

void
hid_grant_changed(struct udkd *d, const char *driver, const char *what, bool granted)
{
	struct hid_state *st = hid_state(d);

	if (granted) {
		/* drivers that failed to start on a keyboard for want of it try again where they now may */
		struct bundle *b = bundle_find(d, driver);
		for (struct hid_dev *dev = st->devs; b && dev; dev = dev->next)
			if (hid_dev_protected(dev) && !dev->gone && hid_policy_allows(d, b, dev, true)) {
				clear_exclusions(dev->iface, driver);
				match_service(d, dev->iface);
			}
		return;
	}
	/* revoked: what the driver may no longer hold is closed at once */
	for (struct hid_dev *dev = st->devs, *next; dev; dev = next) {
		next = dev->next;
		for (struct hid_handle *h = dev->readers, *hn; h; h = hn) {
			struct bundle *b = h->chan->proc->bundle;
			hn = h->dnext;
			if (!streq(h->bundle, driver) || decide(d, b, dev, h->seize, false) == 0)
				continue;
			{
				char *why = strdup_printf("access to %s (%s) was revoked (`udkctl access revoke --hid %s "
							  "%s`)",
							  dev->name, dev->product, what, driver);
				udkd_log(d, UDK_LOG_NOTICE, "hid", "%s: %s loses it: the grant was revoked%s", dev->name,
					 driver, h->seize ? "; the device is released" : "");
				hid_handle_close(d, h, -UDK_E_REVOKED, why ? why : "access was revoked");
				free(why);
			}
		}
	}
	udk_clear_reason();
}
