/* SPDX-License-Identifier: MIT */
/*
 * pci/daemon/pci.c - the PCI family's udkd side (daemon/family.h).
 *
 * Simulated functions: a device model whose hello describes functions of
 * kind "pci" (config space and BARs) gets one IOPCIDevice nub per function
 * under the simulated bus PCI0, with the ids from its config space as
 * properties: drivers match with IOPCIPrimaryMatch as on real hardware.
 * The machine description's Location ("00:SS.0") picks the slot.
 *
 * Real functions (--pci-sysfs): the host's PCI functions are published
 * under PCIHost.  A function bound to vfio-pci gets backend "vfio": when
 * its driver opens it, udkd opens /dev/vfio/vfio and the function's group
 * and hands both over (driver/vfio.c does the rest, so the driver process
 * needs no access to /dev/vfio of its own).  Every other function gets
 * backend "sysfs": its config space, read-only, so personalities can be
 * checked against real ids with `udkctl explain`.  The kernel's pci uevents
 * keep the nubs in line with sysfs (reconcile()): functions that go, come
 * or change kernel driver.  A VFIO function the kernel wants back (removed,
 * unbound) is taken from its driver when the driver says so
 * (release_requested()).
 *
 * The entitlement is transport.pci: an array of dicts with
 * IOPCIPrimaryMatch, IOPCISecondaryMatch or IOPCIClassMatch (the
 * personality syntax, masks included); "*" is a development wildcard.
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "family.h"
#include "proto-pci.h"
#include "udkd.h"
#include "util.h"

#define CONFIG_MIN 64u
#define CONFIG_MAX 4096u

extern const struct family_matcher pci_family_matcher;
extern const struct udkd_family udkd_family_pci;

struct pci_state {
	struct service *sim_bus;	/* PCI0, made on first use */
	bool sysfs;			/* publish the real PCI functions */
	char *sysfs_dir;		/* /sys/bus/pci/devices, or a copy for tests */
	char *vfio_dir;			/* /dev/vfio */
	struct service *host;		/* PCIHost (reference), made with the first real function */
	struct loop_timer *reconcile;	/* a pass over sysfs after a burst of uevents */
};

/* Per simulated device: its slot on PCI0. */
struct pci_model {
	uint8_t slot;
};

static struct pci_state *
state(struct udkd *d)
{
	return udkd_family_state(d, &udkd_family_pci);
}

/* ---- entitlement: transport.pci ---- */

static bool
is_wildcard(const struct udk_value *v)
{
	return udk_value_get_type(v) == UDK_VALUE_STRING && streq(udk_value_get_string(v), "*");
}

static bool
check_transport_pci(const struct udk_value *v, family_diag_fn diag, void *ctx)
{
	char msg[256];

	if (udk_value_get_type(v) != UDK_VALUE_ARRAY || !udk_array_size(v)) {
		snprintf(msg, sizeof(msg),
			 "must be a non-empty <array> of <dict>s, each with IOPCIPrimaryMatch, IOPCISecondaryMatch or "
			 "IOPCIClassMatch, not %s",
			 udk_value_type_name(udk_value_get_type(v)));
		diag(ctx, true, NULL, msg);
		return false;
	}
	for (size_t i = 0; i < udk_array_size(v); i++) {
		struct udk_value *e = udk_array_get(v, i), *copy;
		bool any = false;

		if (udk_value_get_type(e) != UDK_VALUE_DICT) {
			snprintf(msg, sizeof(msg), "item %zu must be a <dict>, not %s", i,
				 udk_value_type_name(udk_value_get_type(e)));
			diag(ctx, true, NULL, msg);
			return false;
		}
		for (size_t k = 0; k < udk_dict_size(e); k++) {
			const char *name = udk_dict_key_at(e, k);
			if (streq(name, "IOPCIPrimaryMatch") || streq(name, "IOPCISecondaryMatch") ||
			    streq(name, "IOPCIClassMatch") || streq(name, "IOPCIMatch")) {
				any = true;
			} else {
				snprintf(msg, sizeof(msg),
					 "item %zu: \"%s\" is not a PCI entitlement key; use IOPCIPrimaryMatch, "
					 "IOPCISecondaryMatch or IOPCIClassMatch",
					 i, name);
				diag(ctx, true, NULL, msg);
				return false;
			}
		}
		if (!any) {
			snprintf(msg, sizeof(msg),
				 "item %zu is empty; it must name the devices, e.g. IOPCIPrimaryMatch "
				 "\"0x12345678&0xffffffff\"",
				 i);
			diag(ctx, true, NULL, msg);
			return false;
		}
		/* the values use the personality syntax: the matcher checks it */
		copy = udk_value_copy(e);
		for (size_t k = udk_dict_size(copy); k-- > 0;)
			if (is_wildcard(udk_dict_value_at(copy, k)))
				udk_dict_remove(copy, udk_dict_key_at(copy, k));
		pci_family_matcher.validate(copy, diag, ctx);
		udk_value_unref(copy);
	}
	return true;
}

static bool
entry_covers(const struct udk_value *entry, const struct udk_value *props, bool developer, bool *ret_wild)
{
	struct udk_value *copy = udk_value_copy(entry);
	int64_t score = 0;
	bool ok;

	for (size_t k = udk_dict_size(copy); k-- > 0;)
		if (is_wildcard(udk_dict_value_at(copy, k))) {
			*ret_wild = true;
			if (!developer) {
				udk_value_unref(copy);
				return false;
			}
			udk_dict_remove(copy, udk_dict_key_at(copy, k));
		}
	ok = udk_dict_size(copy) == 0 || pci_family_matcher.match(copy, props, &score, NULL);
	udk_value_unref(copy);
	return ok;
}

static bool
covers_transport_pci(const struct udk_value *value, const struct service *s, bool developer, char **ret_detail)
{
	bool wild = false;
	char ids[64];

	if (!udk_dict_get(s->props, "vendor-id")) {
		/* a bridge: the entitlement itself is enough */
		*ret_detail = strdup("is held");
		return true;
	}
	snprintf(ids, sizeof(ids), "device 0x%04llx vendor 0x%04llx",
		 (unsigned long long)udk_dict_get_int(s->props, "device-id", 0),
		 (unsigned long long)udk_dict_get_int(s->props, "vendor-id", 0));
	for (size_t i = 0; i < udk_array_size(value); i++)
		if (entry_covers(udk_array_get(value, i), s->props, developer, &wild)) {
			*ret_detail = strdup_printf("covers %s%s", ids,
						    wild ? " (a development wildcard, honoured in developer mode)" : "");
			return true;
		}
	*ret_detail = strdup_printf("in Entitlements.plist does not cover %s%s: the signature limits this driver to "
				    "the devices listed there; have the entitlement extended and the bundle signed "
				    "again",
				    ids,
				    wild ? " (its \"*\" is a development wildcard, honoured only in developer mode: "
					   "`udkctl developer on`)"
					 : "");
	return false;
}

/* ---- simulated functions ---- */

static struct service *
sim_bus(struct udkd *d)
{
	struct pci_state *st = state(d);
	struct udk_value *props;

	if (st->sim_bus && st->sim_bus->state != SVC_TERMINATED)
		return st->sim_bus;
	if (st->sim_bus)
		service_unref(st->sim_bus);
	st->sim_bus = NULL;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "IOName", "pci");
	udk_dict_set_string(props, "UDKBackend", "sim");
	if (service_new(d, d->reg.root, "PCI0", class_chain_for("IOPCIBridge"), props, &st->sim_bus) < 0)
		st->sim_bus = NULL;
	udk_value_unref(props);
	if (st->sim_bus) {
		service_ref(st->sim_bus);
		service_register(d, st->sim_bus);
	}
	return st->sim_bus;
}

static uint32_t
cfg(const uint8_t *c, unsigned off, unsigned width)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v |= (uint32_t)c[off + i] << (8 * i);
	return v;
}

/* The identity properties of a PCI function, as IOPCIFamily publishes them. */
static struct udk_value *
pci_props(const uint8_t *c, const char *location, const char *backend)
{
	struct udk_value *p = udk_value_new_dict();
	char name[32];

	udk_dict_set_int(p, "vendor-id", cfg(c, 0x00, 2));
	udk_dict_set_int(p, "device-id", cfg(c, 0x02, 2));
	udk_dict_set_int(p, "revision-id", cfg(c, 0x08, 1));
	udk_dict_set_int(p, "class-code", cfg(c, 0x09, 3));
	udk_dict_set_int(p, "subsystem-vendor-id", cfg(c, 0x2c, 2));
	udk_dict_set_int(p, "subsystem-id", cfg(c, 0x2e, 2));
	snprintf(name, sizeof(name), "pci%x,%x", cfg(c, 0x00, 2), cfg(c, 0x02, 2));
	udk_dict_set_string(p, "IOName", name);
	udk_dict_set_string(p, "pci-location", location);
	udk_dict_set_string(p, "UDKBackend", backend);
	return p;
}

static bool
is_pci_entry(const struct udk_value *entry)
{
	const char *kind = udk_dict_get_string(entry, "Kind");
	return !kind || streq(kind, "pci");
}

static uint8_t
free_slot(struct udkd *d)
{
	for (uint8_t s = 1; s < 32; s++) {
		bool used = false;
		for (struct device_model *m = d->devices; m && !used; m = m->next) {
			struct pci_model *pm = model_family_data(m, &udkd_family_pci);
			if (pm && pm->slot == s)
				used = true;
		}
		if (!used)
			return s;
	}
	return 0;
}

static int
pci_model_configure(struct udkd *d, struct device_model *m, const struct udk_value *entry)
{
	const char *loc = udk_dict_get_string(entry, "Location");
	struct pci_model *pm;
	unsigned bus, slot, fn;

	if (!is_pci_entry(entry))
		return 0;
	if (loc && (sscanf(loc, "%x:%x.%x", &bus, &slot, &fn) != 3 || bus || slot < 1 || slot > 31 || fn))
		return udk_set_reason(-EINVAL, "Location \"%s\" must be 00:SS.0 with a slot 01..1f", loc);
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	pm->slot = loc ? (uint8_t)slot : free_slot(d);
	if (!pm->slot) {
		free(pm);
		return udk_set_reason(-ENOSPC, "the simulated PCI bus has no free slot (31 devices at most)");
	}
	return model_set_family_data(m, &udkd_family_pci, pm);
}

static int
pci_model_function(struct udkd *d, struct device_model *m, size_t index, const struct udk_value *desc,
		   struct service **ret)
{
	struct pci_model *pm = model_family_data(m, &udkd_family_pci);
	size_t len = 0;
	const uint8_t *c = udk_value_get_data(udk_dict_get(desc, "config"), &len);
	struct udk_value *bars = udk_dict_get(desc, "bars");
	struct udk_value *props;
	struct service *bus = sim_bus(d), *nub = NULL;
	char loc[32], name[80];
	int r;

	if (!pm)
		return udk_set_reason(-EINVAL, "the machine description gives device %s another Kind than \"pci\"",
				      m->name);
	if (!c || len < CONFIG_MIN || len > CONFIG_MAX || udk_value_get_type(bars) != UDK_VALUE_ARRAY ||
	    udk_array_size(bars) != 6)
		return udk_set_reason(-EINVAL, "each PCI function needs 64..4096 bytes of config space and 6 BARs");
	if (!bus)
		return -ENOMEM;
	snprintf(loc, sizeof(loc), "0000:00:%02x.%zu", pm->slot, index);
	props = pci_props(c, loc, "sim");
	udk_dict_set_string(props, "UDKDevice", m->name);
	udk_dict_set_int(props, "UDKFunction", (int64_t)index);
	udk_dict_set(props, "UDKBARs", bars);
	if (index == 0)
		snprintf(name, sizeof(name), "%s", m->name);
	else
		snprintf(name, sizeof(name), "%s.%zu", m->name, index);
	r = service_new(d, bus, name, class_chain_for("IOPCIDevice"), props, &nub);
	udk_value_unref(props);
	if (r < 0)
		return udk_set_reason(r, "cannot publish the function");
	if (index == 0)
		log_info(d, "device %s: PCI function(s) at 00:%02x", m->name, pm->slot);
	*ret = nub;
	return 0;
}

static void
pci_describe_model(struct udkd *d, const struct device_model *m, struct udk_value *entry)
{
	struct pci_model *pm = model_family_data(m, &udkd_family_pci);
	char loc[16];

	(void)d;
	if (!pm)
		return;
	snprintf(loc, sizeof(loc), "00:%02x.0", pm->slot);
	udk_dict_set_string(entry, "location", loc);
	udk_dict_set_string(entry, "family", "pci");
}

/* ---- the broker ---- */

static void
open_sysfs(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	const char *loc = udk_dict_get_string(s->props, "pci-location");
	char *path = strdup_printf("%s/%s/config", state(d)->sysfs_dir, loc ? loc : "?");
	struct udk_value *info = udk_value_new_dict();
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW) : -1;

	if (fd < 0) {
		char *why = strdup_printf("cannot read %s: %s", path ? path : "config", strerror(errno));
		proc_reply(p, m, -UDK_E_HARDWARE_GONE, why, NULL, NULL, 0);
		free(why);
	} else {
		udk_dict_set_string(info, "backend", "sysfs");
		udk_dict_set_string(info, "location", loc);
		udk_dict_set(info, "bars", udk_dict_get(s->props, "UDKBARs"));
		proc_reply(p, m, 0, NULL, info, &fd, 1);
		close(fd);
	}
	free(path);
	udk_value_unref(info);
}

/* VFIO (at the end of the file) */
static void vfio_open_provider(struct udkd *d, struct driver_proc *p, const struct wire_msg *m, struct service *s);
static char *sysfs_how_to_drive(const char *loc, const char *driver, bool has_group);
static void vfio_driver_died(struct udkd *d, enum udkd_event ev, void *data, void *ctx);

static void
open_vfio(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	vfio_open_provider(d, p, m, s);
}

static void
pci_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	const char *backend = udk_dict_get_string(s->props, "UDKBackend");
	struct udk_value *info;

	if (!service_is_a(s, "IOPCIDevice")) {
		proc_reply(p, m, -UDK_E_UNSUPPORTED, "only PCI functions (IOPCIDevice) can be opened, not a bus", NULL,
			   NULL, 0);
		return;
	}
	if (streq(backend, "sysfs")) {
		open_sysfs(d, p, m, s);
		return;
	}
	if (streq(backend, "vfio")) {
		open_vfio(d, p, m, s);
		return;
	}
	if (!streq(backend, "sim") || !model_of_nub(d, s, NULL)) {
		proc_reply(p, m, -UDK_E_UNSUPPORTED, "this provider has no PCI backend udk can open", NULL, NULL, 0);
		return;
	}
	info = udk_value_new_dict();
	udk_dict_set_string(info, "backend", "sim");
	udk_dict_set_string(info, "location", udk_dict_get_string(s->props, "pci-location"));
	udk_dict_set(info, "bars", udk_dict_get(s->props, "UDKBARs"));
	model_connect(d, p, m, s, info);
}

/* ---- real hardware ---- */

/* The last component of the link @dir/@name points to, or NULL. */
static char *
link_target(const char *dir, const char *name)
{
	char *path = strdup_printf("%s/%s", dir, name), buf[PATH_MAX], *slash;
	ssize_t n = path ? readlink(path, buf, sizeof(buf) - 1) : -1;

	free(path);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	slash = strrchr(buf, '/');
	return strdup(slash ? slash + 1 : buf);
}

/* PCIHost, the parent of the real functions, made on first use. */
static struct service *
host_nub(struct udkd *d)
{
	struct pci_state *st = state(d);
	struct udk_value *hp;
	struct service *host = NULL;

	if (st->host)
		return st->host;
	hp = udk_value_new_dict();
	udk_dict_set_string(hp, "UDKBackend", "sysfs");
	if (service_new(d, d->reg.root, "PCIHost", class_chain_for("IOPCIBridge"), hp, &host) == 0) {
		service_register(d, host);
		st->host = service_ref(host);
	}
	udk_value_unref(hp);
	return st->host;
}

/* What the kernel says of function @name now: its driver and IOMMU group (malloc'ed, or NULL). */
static bool
function_now(struct udkd *d, const char *name, char **ret_driver, char **ret_group)
{
	char *fdir = strdup_printf("%s/%s", state(d)->sysfs_dir, name);
	struct stat sb;
	bool there = fdir && stat(fdir, &sb) == 0;

	*ret_driver = there ? link_target(fdir, "driver") : NULL;
	*ret_group = there ? link_target(fdir, "iommu_group") : NULL;
	free(fdir);
	return there;
}

/* Publish the real function @name as the kernel has it now; 1 when it is bound to vfio-pci. */
static int
publish_function(struct udkd *d, const char *name)
{
	char *path, *driver, *group;
	uint8_t c[64];
	int fd;
	struct udk_value *props;
	struct service *s = NULL, *host;
	bool vfio;

	path = strdup_printf("%s/%s/config", state(d)->sysfs_dir, name);
	fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) : -1;
	free(path);
	if (fd < 0)
		return -ENOENT;
	if (pread(fd, c, sizeof(c), 0) != (ssize_t)sizeof(c)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	if (!(host = host_nub(d)) || !function_now(d, name, &driver, &group))
		return -ENOENT;
	vfio = driver && group && streq(driver, "vfio-pci");
	props = pci_props(c, name, vfio ? "vfio" : "sysfs");
	if (driver)
		udk_dict_set_string(props, "UDKKernelDriver", driver);
	if (group)
		udk_dict_set_int(props, "UDKIOMMUGroup", strtol(group, NULL, 10));
	if (!vfio) {
		/* what the sysfs backend's refusals tell a driver (driver/pci.c) */
		char *how = sysfs_how_to_drive(name, driver, group != NULL);
		if (how)
			udk_dict_set_string(props, "UDKHowToDrive", how);
		free(how);
	}
	free(driver);
	free(group);
	if (service_new(d, host, name, class_chain_for("IOPCIDevice"), props, &s) < 0) {
		udk_value_unref(props);
		return -ENOMEM;
	}
	udk_value_unref(props);
	service_register(d, s);
	return vfio;
}

static int
scan_sysfs(struct udkd *d)
{
	const char *root = state(d)->sysfs_dir;
	DIR *dir = opendir(root);
	struct dirent *e;
	unsigned n = 0, n_vfio = 0;

	if (!dir)
		return udk_set_reason(-errno, "cannot read %s: %s", root, strerror(errno));
	while ((e = readdir(dir))) {
		int r;
		if (e->d_name[0] == '.')
			continue;
		r = publish_function(d, e->d_name);
		if (r >= 0) {
			n++;
			n_vfio += (unsigned)r;
		}
	}
	closedir(dir);
	log_info(d, "published %u real PCI functions from %s: %u bound to vfio-pci, the rest read-only", n, root,
		 n_vfio);
	return 0;
}

/* The live nub of real function @name, or NULL. */
static struct service *
function_nub(struct udkd *d, const char *name)
{
	struct service *host = state(d)->host;

	for (size_t i = 0; host && i < host->n_children; i++)
		if (host->children[i]->state != SVC_TERMINATED && streq(host->children[i]->name, name))
			return host->children[i];
	return NULL;
}

/*
 * After uevents of the pci subsystem: bring the registry in line with sysfs.
 * A function that went is gone (its apps told UDK_E_HARDWARE_GONE, its
 * driver stopped); one whose kernel driver changed (bound to vfio-pci, or
 * taken from it) is published again as it is now, so drivers match it
 * without udkd restarting; a new one is published.  Bounded by the
 * functions the kernel has.
 */
static void
reconcile(struct loop *l, void *data)
{
	struct udkd *d = data;
	struct pci_state *st = state(d);
	struct service *host = st->host;
	char **names = NULL;
	size_t n = 0;
	DIR *dir;
	struct dirent *e;

	(void)l;
	st->reconcile = NULL;
	if (d->shutting_down)
		return;
	/* the nubs first: terminating one changes the host's children */
	if (host && host->n_children && (names = calloc(host->n_children, sizeof(*names))))
		for (size_t i = 0; i < host->n_children; i++)
			if (host->children[i]->state != SVC_TERMINATED && (names[n] = strdup(host->children[i]->name)))
				n++;
	for (size_t i = 0; i < n; i++) {
		struct service *s = function_nub(d, names[i]);
		char *driver = NULL, *group = NULL, *why = NULL;
		bool there = function_now(d, names[i], &driver, &group);
		const char *had = s ? udk_dict_get_string(s->props, "UDKKernelDriver") : NULL;

		if (!s) {
			/* gone meanwhile */
		} else if (!there) {
			why = strdup_printf("the PCI function %s was removed", names[i]);
			log_notice(d, "device %s: %s", names[i], why ? why : "removed");
			udkd_service_hardware_gone(d, s, why ? why : "the PCI function was removed");
		} else if (!streq(had ? had : "", driver ? driver : "")) {
			why = strdup_printf("the PCI function %s changed kernel driver (%s -> %s); udk publishes it again as "
					    "it is now",
					    names[i], had ? had : "none", driver ? driver : "none");
			log_notice(d, "device %s: %s", names[i], why ? why : "rebound");
			udkd_service_hardware_gone(d, s, why ? why : "the PCI function changed kernel driver");
		}
		free(why);
		free(driver);
		free(group);
		free(names[i]);
	}
	free(names);
	/* then every function without a nub: new, back, or rebound */
	dir = opendir(st->sysfs_dir);
	while (dir && (e = readdir(dir))) {
		int r;
		if (e->d_name[0] == '.' || function_nub(d, e->d_name))
			continue;
		r = publish_function(d, e->d_name);
		if (r >= 0)
			log_info(d, "device %s: published (%s)", e->d_name, r ? "bound to vfio-pci" : "read-only");
	}
	if (dir)
		closedir(dir);
}

/* A uevent of the pci subsystem (udkd's uevent service hands over only the kernel's), or lost
 * events: one pass over sysfs, 100 ms later, for a whole burst. */
static void
on_uevent(struct udkd *d, const char *msg, size_t len, void *ctx)
{
	struct pci_state *st = state(d);
	bool pci = !msg;

	(void)ctx;
	for (size_t off = 0; msg && off < len && !pci; off += strlen(msg + off) + 1)
		pci = streq(msg + off, "SUBSYSTEM=pci");
	if (pci && !st->reconcile)
		loop_add_timer(d->loop, now_ns() + 100 * 1000000ull, reconcile, d, &st->reconcile);
}

static void
start_uevents(struct udkd *d)
{
	if (udkd_uevents_listen(d, on_uevent, NULL) < 0)
		log_warning(d, "%s: PCI functions that come, go or change driver later are seen at udkd's next start",
			    udk_error_reason() ? udk_error_reason() : "no kernel uevents");
}

/* ---- lifecycle ---- */

static void vfio_fini(void);

static int
pci_init(struct udkd *d)
{
	struct pci_state *st = udkd_family_state(d, &udkd_family_pci);

	/* options may have created the state already */
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return -ENOMEM;
		udkd_family_set_state(d, &udkd_family_pci, st);
	}
	if (!st->sysfs_dir)
		st->sysfs_dir = strdup("/sys/bus/pci/devices");
	if (!st->vfio_dir)
		st->vfio_dir = strdup("/dev/vfio");
	if (!st->sysfs_dir || !st->vfio_dir)
		return -ENOMEM;
	/* a VFIO function whose driver died is reset before the next one opens it */
	return udkd_listen(d, UDKD_EV_PROC_DIED, vfio_driver_died, NULL);
}

static int
pci_start(struct udkd *d)
{
	if (!state(d)->sysfs)
		return 0;
	start_uevents(d);
	return scan_sysfs(d);
}

static void
pci_fini(struct udkd *d)
{
	struct pci_state *st = state(d);

	if (!st)
		return;
	if (st->reconcile)
		loop_timer_cancel(d->loop, st->reconcile);
	service_unref(st->host);
	vfio_fini();
	service_unref(st->sim_bus);
	free(st->sysfs_dir);
	free(st->vfio_dir);
	free(st);
	udkd_family_set_state(d, &udkd_family_pci, NULL);
}

static const struct udkd_family_option pci_options[] = {
	{ "pci-sysfs", optional_argument, "DIR",
	  "publish this machine's real PCI functions (DIR: a copy of /sys/bus/pci/devices); those bound to "
	  "vfio-pci are usable" },
	{ "vfio-dir", required_argument, "DIR", "where the VFIO devices are (default /dev/vfio)" },
	{ NULL, 0, NULL, NULL },
};

static int
pci_set_option(struct udkd *d, const char *name, const char *value)
{
	struct pci_state *st = state(d);

	if (!st) {
		/* options come before init */
		st = calloc(1, sizeof(*st));
		if (!st)
			return -ENOMEM;
		udkd_family_set_state(d, &udkd_family_pci, st);
	}
	if (streq(name, "pci-sysfs")) {
		st->sysfs = true;
		if (value) {
			free(st->sysfs_dir);
			st->sysfs_dir = strdup(value);
		}
		return 0;
	}
	if (streq(name, "vfio-dir")) {
		free(st->vfio_dir);
		st->vfio_dir = strdup(value);
		return 0;
	}
	return -EINVAL;
}

static struct udk_value *
pci_describe(struct udkd *d)
{
	struct pci_state *st = state(d);
	struct udk_value *v = udk_value_new_dict();

	udk_dict_set_bool(v, "sysfs", st && st->sysfs);
	if (st && st->sysfs)
		udk_dict_set_string(v, "sysfs_dir", st->sysfs_dir);
	if (st)
		udk_dict_set_string(v, "vfio_dir", st->vfio_dir);
	return v;
}

static const struct udkd_family_class pci_classes[] = {
	{ "IOPCIBridge", "IOService", "transport.pci", NULL },
	{ "IOPCIDevice", "IOService", "transport.pci", NULL },
	{ NULL, NULL, NULL, NULL },
};

static const struct udkd_family_entitlement pci_entitlements[] = {
	{ "transport.pci", check_transport_pci, covers_transport_pci },
	{ NULL, NULL, NULL },
};

/*
 * A driver says the kernel wants its VFIO function back (the function is
 * being removed, hot unplugged or unbound; VFIO's request interrupt, see
 * families/pci/driver/vfio.c).  The kernel waits until every descriptor of
 * the device is closed, so udkd treats the function as gone: the apps are
 * told UDK_E_HARDWARE_GONE, the nub is terminated and the driver stopped.
 */
static void
release_requested(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	const char *want = udk_dict_get_string(m->body, "device");
	struct service *s = NULL;
	char *why;

	if (!want) {
		proc_reply(p, m, -EINVAL, "the request names no device", NULL, NULL, 0);
		return;
	}
	/* one of the functions this process drives, by its location */
	for (size_t i = 0; i <= p->n_guests && !s; i++) {
		struct service *inst = i == 0 ? p->instance : p->guests[i - 1];
		struct service *prov = inst ? inst->provider : NULL;
		if (prov && prov->state != SVC_TERMINATED &&
		    streq(udk_dict_get_string(prov->props, "UDKBackend"), "vfio") &&
		    streq(udk_dict_get_string(prov->props, "pci-location"), want))
			s = prov;
	}
	if (!s) {
		proc_reply(p, m, -ENOENT, "no VFIO function this driver has open is at that location", NULL, NULL, 0);
		return;
	}
	proc_reply(p, m, 0, NULL, NULL, NULL, 0);
	why = strdup_printf("the kernel asked for PCI function %s back (it is being removed, unplugged or unbound from "
			    "vfio-pci); udk stops its driver so the kernel can finish",
			    want);
	log_notice(d, "device %s: %s", want, why ? why : "the kernel asked for it back");
	udkd_service_hardware_gone(d, s, why ? why : "the kernel asked for the PCI function back");
	free(why);
}

static void
pci_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	if (m->h.op == OP_PCI_RELEASE_REQUESTED && p->kind == PROC_KIND_DRIVER) {
		release_requested(d, p, m);
		return;
	}
	proc_reply(p, m, -EOPNOTSUPP,
		   "udkd does not take this PCI request (the device-model channel's requests go to the model)", NULL,
		   NULL, 0);
}

const struct udkd_family udkd_family_pci = {
	UDKD_FAMILY_INIT,
	.name = "pci",
	.title = "PCI and PCI Express functions",
	.docs = "docs/families/pci.md",
	.classes = pci_classes,
	.matcher = &pci_family_matcher,
	.entitlements = pci_entitlements,
	.init = pci_init,
	.start = pci_start,
	.fini = pci_fini,
	.options = pci_options,
	.set_option = pci_set_option,
	.open_provider = pci_open_provider,
	.op_base = PCI_OP_BASE,
	.op_count = PCI_OP_COUNT,
	.message = pci_message,
	.model_kind = "pci",
	.model_function = pci_model_function,
	.model_configure = pci_model_configure,
	.describe_model = pci_describe_model,
	.describe = pci_describe,
};

/* ---- VFIO: real functions given to drivers, reset after a driver died ---- */

/* What to do so udk can drive a function the sysfs backend only reads. */
static char *
sysfs_how_to_drive(const char *loc, const char *driver, bool has_group)
{
	if (!has_group)
		return strdup_printf("%s is in no IOMMU group: this kernel runs without an IOMMU and VFIO needs one "
				     "(boot it with intel_iommu=on or amd_iommu=on); until then udk can only read its "
				     "config space",
				     loc);
	if (driver)
		return strdup_printf("%s is bound to the kernel driver %s; to drive it with udk, give it to vfio-pci: "
				     "modprobe vfio-pci; echo vfio-pci > /sys/bus/pci/devices/%s/driver_override; "
				     "echo %s > /sys/bus/pci/devices/%s/driver/unbind; echo %s > "
				     "/sys/bus/pci/drivers_probe; udkd publishes it again, bound to vfio-pci, when the kernel has done it",
				     loc, driver, loc, loc, loc, loc);
	return strdup_printf("%s is bound to no kernel driver; to drive it with udk, give it to vfio-pci: modprobe "
			     "vfio-pci; echo vfio-pci > /sys/bus/pci/devices/%s/driver_override; echo %s > "
			     "/sys/bus/pci/drivers_probe; udkd publishes it again, bound to vfio-pci, when the kernel has done it",
			     loc, loc, loc);
}

/*
 * VFIO hands out a group only when every device in it is bound to
 * vfio-pci, pci-stub, pcieport (bridges) or nothing.  A sentence naming
 * the device that stops it, or NULL.
 */
static char *
vfio_group_blocker(struct udkd *d, const char *loc, int64_t group)
{
	char *path = strdup_printf("%s/%s/iommu_group/devices", state(d)->sysfs_dir, loc);
	DIR *dir = path ? opendir(path) : NULL;
	struct dirent *e;
	char *why = NULL;

	for (int n = 0; dir && !why && n < 256 && (e = readdir(dir)); n++) {
		char *devdir, *driver;
		if (e->d_name[0] == '.' || streq(e->d_name, loc))
			continue;
		devdir = strdup_printf("%s/%s", path, e->d_name);
		driver = devdir ? link_target(devdir, "driver") : NULL;
		if (driver && !streq(driver, "vfio-pci") && !streq(driver, "pci-stub") && !streq(driver, "pcieport"))
			why = strdup_printf(
				"IOMMU group %" PRId64 " of %s is not viable: %s in the same group is bound to the kernel "
				"driver %s, and VFIO gives a group to user space only when no device in it has another "
				"driver; give %s to vfio-pci too (echo vfio-pci > /sys/bus/pci/devices/%s/driver_override; "
				"echo %s > /sys/bus/pci/devices/%s/driver/unbind; echo %s > /sys/bus/pci/drivers_probe), "
				"or unbind it",
				group, loc, e->d_name, driver, e->d_name, e->d_name, e->d_name, e->d_name, e->d_name);
		free(driver);
		free(devdir);
	}
	if (dir)
		closedir(dir);
	free(path);
	return why;
}

/* Per VFIO function: the deaths handled, a reset running, who opened it. */
struct vfio_reset_job;

struct vfio_fn {
	uint64_t service;
	unsigned deaths;		/* client_deaths handled */
	struct vfio_reset_job *job;	/* a reset running now */
	pid_t opener;			/* the driver that has (had) it open */
};
static struct vfio_fn *vfio_fns;
static size_t n_vfio_fns;

struct vfio_reset_job {
	struct udkd *d;
	uint64_t service;
	char *loc, *cpath, *gpath;
	char *result;
	/* an open that waits for the reset */
	struct driver_proc *waiting;
	struct wire_msg req;		/* only the header is kept */
};

static struct vfio_fn *
vfio_fn_of(uint64_t service)
{
	struct vfio_fn *n;

	for (size_t i = 0; i < n_vfio_fns; i++)
		if (vfio_fns[i].service == service)
			return &vfio_fns[i];
	n = reallocarray(vfio_fns, n_vfio_fns + 1, sizeof(*n));
	if (!n)
		return NULL;
	vfio_fns = n;
	vfio_fns[n_vfio_fns] = (struct vfio_fn){ service, 0, NULL, 0 };
	return &vfio_fns[n_vfio_fns++];
}

/* Open the container and the group and hand both to the driver. */
static void
vfio_open_now(struct udkd *d, struct driver_proc *p, const struct wire_msg *m, struct service *s)
{
	const char *loc = udk_dict_get_string(s->props, "pci-location");
	int64_t group = udk_dict_get_int(s->props, "UDKIOMMUGroup", -1);
	char *path = strdup_printf("%s/%" PRId64, state(d)->vfio_dir, group);
	char *cpath = strdup_printf("%s/vfio", state(d)->vfio_dir);
	struct udk_value *info;
	int fds[2] = { -1, -1 };

	if (!path || !cpath) {
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		goto out;
	}
	fds[0] = open(cpath, O_RDWR | O_CLOEXEC);
	if (fds[0] < 0) {
		char *why = strdup_printf("%s: cannot open %s: %s; load the vfio-pci module (modprobe vfio-pci) and "
					  "give udkd access to it",
					  loc, cpath, strerror(errno));
		proc_reply(p, m, -UDK_E_UNSUPPORTED, why, NULL, NULL, 0);
		free(why);
		goto out;
	}
	fds[1] = open(path, O_RDWR | O_CLOEXEC);
	if (fds[1] < 0) {
		int err = errno;
		char *why = strdup_printf(
			"%s: cannot open %s: %s; %s", loc, path, strerror(err),
			err == EBUSY ? "another process holds its IOMMU group (a second udkd, or a virtual machine)"
				     : "bind the function to vfio-pci (echo vfio-pci > /sys/bus/pci/devices/LOC/"
				       "driver_override; echo LOC > /sys/bus/pci/drivers_probe) and give udkd access "
				       "to the group");
		proc_reply(p, m, err == EBUSY ? -UDK_E_BUSY : -UDK_E_UNSUPPORTED, why, NULL, NULL, 0);
		free(why);
		goto out;
	}
	info = udk_value_new_dict();
	udk_dict_set_string(info, "backend", "vfio");
	udk_dict_set_string(info, "location", loc);
	udk_dict_set(info, "bars", udk_dict_get(s->props, "UDKBARs"));
	proc_reply(p, m, 0, NULL, info, fds, 2);
	udk_value_unref(info);
	{
		struct vfio_fn *fn = vfio_fn_of(s->id);
		if (fn)
			fn->opener = p->pid;
	}
out:
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(path);
	free(cpath);
}

/*
 * When a driver of a VFIO function dies (UDKD_EV_PROC_DIED), udkd resets
 * the function at once, before another driver can open it, as
 * PCIDriverKit does: VFIO_DEVICE_RESET through a container and group udkd
 * opens for the purpose, on a thread (the ioctl can wait for the device).
 * An open that arrives meanwhile waits for the reset.  A device without a
 * reset method (QEMU's edu: no FLR, no PM reset, no bus reset) is said to
 * have none.  Either way the kernel already stopped its DMA: closing the
 * dead driver's descriptors turned bus mastering off and tore down its
 * IOMMU mappings.
 */
static char *
vfio_reset_function(const char *loc, const char *cpath, const char *gpath)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_device_info di = { .argsz = sizeof(di) };
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	int c = open(cpath, O_RDWR | O_CLOEXEC), g = open(gpath, O_RDWR | O_CLOEXEC), fd = -1;
	uint16_t cmd = 0;
	const char *step = NULL;
	char *res;

	errno = 0;
	if (c < 0)
		step = "opening the container";
	else if (g < 0)
		step = "opening the group";
	else if (ioctl(g, VFIO_GROUP_GET_STATUS, &gs) < 0)
		step = "reading the group status";
	else if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		step = "the group is not viable";
	else if (ioctl(g, VFIO_GROUP_SET_CONTAINER, &c) < 0)
		step = "joining the container";
	else if (ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
		step = "choosing the IOMMU";
	else if ((fd = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, loc)) < 0)
		step = "getting the device";
	else if (ioctl(fd, VFIO_DEVICE_GET_INFO, &di) < 0)
		step = "reading the device info";
	if (step) {
		res = strdup_printf("could not reset it: %s: %s", step, errno ? strerror(errno) : "refused");
	} else {
		const char *master = "";
		if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri) == 0 &&
		    pread(fd, &cmd, sizeof(cmd), (off_t)(ri.offset + 4)) == (ssize_t)sizeof(cmd))
			master = (cmd & 4) ? "; bus mastering was still on"
					   : "; the kernel had turned bus mastering off when the driver's descriptors "
					     "closed, so its DMA stopped";
		if (ioctl(fd, VFIO_DEVICE_RESET) == 0)
			res = strdup_printf("reset it (VFIO_DEVICE_RESET)%s", master);
		else if (!(di.flags & VFIO_DEVICE_FLAGS_RESET))
			res = strdup_printf("the device has no reset method (no function level, power management or "
					    "bus reset; VFIO_DEVICE_RESET: %s): its registers stay as the driver left "
					    "them%s",
					    strerror(errno), master);
		else
			res = strdup_printf("could not reset it: VFIO_DEVICE_RESET: %s%s", strerror(errno), master);
	}
	if (fd >= 0)
		close(fd);
	if (g >= 0)
		close(g);
	if (c >= 0)
		close(c);
	return res;
}

static void
vfio_reset_done(struct loop *l, void *data)
{
	struct vfio_reset_job *job = data;
	struct udkd *d = job->d;
	struct service *s = service_by_id(d, job->service);
	struct vfio_fn *fn = vfio_fn_of(job->service);

	(void)l;
	if (fn)
		fn->job = NULL;
	log_notice(d, "device %s: its driver died; %s", job->loc, job->result ? job->result : "out of memory");
	if (s && job->result)
		udk_dict_set_string(s->props, "UDKLastReset", job->result);
	if (job->waiting) {
		if (job->waiting->state != PROC_DEAD && s && s->state != SVC_TERMINATED)
			vfio_open_now(d, job->waiting, &job->req, s);
		proc_unref(job->waiting);
	}
	free(job->loc);
	free(job->cpath);
	free(job->gpath);
	free(job->result);
	free(job);
}

/* Reset threads still running, so udkd's exit waits for them before its loop goes. */
static pthread_mutex_t vfio_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t vfio_threads_cond = PTHREAD_COND_INITIALIZER;
static unsigned vfio_threads;
static bool vfio_closing;

static void *
vfio_reset_thread(void *data)
{
	struct vfio_reset_job *job = data;

	job->result = vfio_reset_function(job->loc, job->cpath, job->gpath);
	pthread_mutex_lock(&vfio_threads_lock);
	/* udkd is stopping: nobody waits for the result (the job goes with the process) */
	if (!vfio_closing && loop_post(job->d->loop, vfio_reset_done, job) < 0)
		abort(); /* an open would wait forever */
	vfio_threads--;
	pthread_cond_broadcast(&vfio_threads_cond);
	pthread_mutex_unlock(&vfio_threads_lock);
	return NULL;
}

/* pci_fini: no reset thread touches udkd after this returns. */
static void
vfio_fini(void)
{
	pthread_mutex_lock(&vfio_threads_lock);
	vfio_closing = true;
	while (vfio_threads)
		pthread_cond_wait(&vfio_threads_cond, &vfio_threads_lock);
	pthread_mutex_unlock(&vfio_threads_lock);
	free(vfio_fns);
	vfio_fns = NULL;
	n_vfio_fns = 0;
}

/* Reset function @s of @fn now; @waiting's open @m (if any) goes on after it. */
static void
vfio_reset_start(struct udkd *d, struct vfio_fn *fn, struct service *s, struct driver_proc *waiting,
		 const struct wire_msg *m)
{
	const char *loc = udk_dict_get_string(s->props, "pci-location");
	int64_t group = udk_dict_get_int(s->props, "UDKIOMMUGroup", -1);
	struct vfio_reset_job *job = calloc(1, sizeof(*job));
	pthread_t t;

	if (!job) {
		if (waiting)
			proc_reply(waiting, m, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	job->d = d;
	job->service = s->id;
	if (waiting) {
		job->waiting = proc_ref(waiting);
		wire_msg_init(&job->req);
		job->req.h = m->h;
	}
	job->loc = strdup(loc ? loc : "?");
	job->cpath = strdup_printf("%s/vfio", state(d)->vfio_dir);
	job->gpath = strdup_printf("%s/%" PRId64, state(d)->vfio_dir, group);
	fn->job = job;
	log_info(d, "device %s: its driver died; resetting it before another driver opens it", job->loc);
	pthread_mutex_lock(&vfio_threads_lock);
	if (job->loc && job->cpath && job->gpath && pthread_create(&t, NULL, vfio_reset_thread, job) == 0) {
		vfio_threads++;
		pthread_detach(t);
		pthread_mutex_unlock(&vfio_threads_lock);
		return;
	}
	pthread_mutex_unlock(&vfio_threads_lock);
	/* no thread: reset here, bounded by the kernel's own reset timeouts */
	if (job->loc && job->cpath && job->gpath)
		job->result = vfio_reset_function(job->loc, job->cpath, job->gpath);
	vfio_reset_done(d->loop, job);
}

/* UDKD_EV_PROC_DIED: a driver of a VFIO function that died (not stopped) leaves it to be reset. */
static void
vfio_driver_died(struct udkd *d, enum udkd_event ev, void *data, void *ctx)
{
	struct driver_proc *p = data;
	struct service *s = p->provider;
	struct vfio_fn *fn;

	(void)ev;
	(void)ctx;
	if (!s || d->shutting_down || !streq(udk_dict_get_string(s->props, "UDKBackend"), "vfio") ||
	    !(fn = vfio_fn_of(s->id)) || fn->deaths == s->client_deaths)
		return;
	fn->deaths = s->client_deaths;
	/* a driver that never opened the function left nothing to reset */
	if (!fn->job && fn->opener == p->pid)
		vfio_reset_start(d, fn, s, NULL, NULL);
}

static void
vfio_open_provider(struct udkd *d, struct driver_proc *p, const struct wire_msg *m, struct service *s)
{
	const char *loc = udk_dict_get_string(s->props, "pci-location");
	int64_t group = udk_dict_get_int(s->props, "UDKIOMMUGroup", -1);
	struct vfio_fn *fn;
	char *why;

	if (group < 0) {
		why = strdup_printf("%s is in no IOMMU group: this kernel runs without an IOMMU and VFIO needs one "
				    "(boot it with intel_iommu=on or amd_iommu=on)",
				    loc ? loc : "the function");
		proc_reply(p, m, -UDK_E_UNSUPPORTED, why, NULL, NULL, 0);
		free(why);
		return;
	}
	if (loc && (why = vfio_group_blocker(d, loc, group))) {
		proc_reply(p, m, -UDK_E_BUSY, why, NULL, NULL, 0);
		free(why);
		return;
	}
	fn = vfio_fn_of(s->id);
	if (fn && fn->job) {
		/* the reset after the last driver's death is running: open after it */
		if (fn->job->waiting) {
			proc_reply(p, m, -UDK_E_BUSY, "the function is being reset and another driver waits for it",
				   NULL, NULL, 0);
			return;
		}
		fn->job->waiting = proc_ref(p);
		wire_msg_init(&fn->job->req);
		fn->job->req.h = m->h;
		return;
	}
	if (fn && fn->deaths != s->client_deaths) {
		/* a death the event did not cover */
		fn->deaths = s->client_deaths;
		vfio_reset_start(d, fn, s, p, m);
		return;
	}
	vfio_open_now(d, p, m, s);
}
