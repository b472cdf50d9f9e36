/* SPDX-License-Identifier: MIT */
/*
 * devices.c - simulated hardware and the PCI functions drivers open.
 *
 * Each entry of the machine description's Devices array is a device-model
 * process (include/udk/devmodel.h).  When it says hello with its PCI
 * functions, udkd publishes one IOPCIDevice nub per function under the
 * simulated bus PCI0, with the ids from its config space as properties, and
 * registers them: drivers match with IOPCIPrimaryMatch as on real hardware.
 *
 * A driver opens its provider (udk_pci_open): udkd asks the model to accept
 * a new socket and hands the driver the other end; from then on register
 * accesses, interrupts and DMA mappings go directly between the driver and
 * the model.  When a driver dies the model is told first ("client-died"),
 * so it resets the function before the next driver connects.  When the
 * model dies the hardware is gone: its nubs are terminated, which stops
 * their drivers; `udkctl sim plug NAME` brings it back.
 *
 * With --pci-sysfs, the real PCI functions of this machine are published
 * too.  A function bound to vfio-pci gets backend "vfio": when its driver
 * opens it, udkd opens /dev/vfio/vfio and the function's group and hands
 * both over (families/pci/vfio/vfio.c does the rest, so the driver process
 * needs no access to /dev/vfio of its own).  Every other function gets
 * backend "sysfs": its config space, read-only, so personalities can be
 * checked against real ids with `udkctl explain`.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "proto.h"
#include "udkd.h"
#include "util.h"

#define CONFIG_MIN 64u
#define CONFIG_MAX 4096u

struct device_model *
device_find(struct udkd *d, const char *name)
{
	for (struct device_model *m = d->devices; m; m = m->next)
		if (streq(m->name, name))
			return m;
	return NULL;
}

static uint8_t
free_slot(struct udkd *d)
{
	for (uint8_t s = 1; s < 32; s++) {
		bool used = false;
		for (struct device_model *m = d->devices; m; m = m->next)
			if (m->slot == s)
				used = true;
		if (!used)
			return s;
	}
	return 31;
}

int
devices_load(struct udkd *d, const struct udk_value *list, const char *where)
{
	if (udk_value_get_type(list) != UDK_VALUE_ARRAY)
		return udk_set_reason(-EINVAL, "%s: Devices must be an <array> of <dict>", where);
	for (size_t i = 0; i < udk_array_size(list); i++) {
		struct udk_value *e = udk_array_get(list, i);
		const char *name = udk_dict_get_string(e, "Name");
		const char *model = udk_dict_get_string(e, "Model");
		const char *loc = udk_dict_get_string(e, "Location");
		struct udk_value *props = udk_dict_get(e, "Properties");
		struct device_model *m, **tail;
		unsigned bus, slot, fn;

		if (!name || !model)
			return udk_set_reason(-EINVAL, "%s: device %zu needs a Name and a Model <string>", where, i);
		if (strchr(name, '/') || device_find(d, name))
			return udk_set_reason(-EINVAL, "%s: device name \"%s\" is repeated or holds a '/'", where, name);
		if (props && udk_value_get_type(props) != UDK_VALUE_DICT)
			return udk_set_reason(-EINVAL, "%s: Properties of device \"%s\" must be a <dict>", where, name);
		if (loc && (sscanf(loc, "%x:%x.%x", &bus, &slot, &fn) != 3 || bus || slot < 1 || slot > 31 || fn))
			return udk_set_reason(-EINVAL,
					      "%s: Location \"%s\" of device \"%s\" must be 00:SS.0 with a slot 01..1f",
					      where, loc, name);
		m = calloc(1, sizeof(*m));
		if (!m)
			return -ENOMEM;
		m->name = strdup(name);
		m->model = strdup(model);
		m->props = props ? udk_value_copy(props) : udk_value_new_dict();
		m->plugged = udk_dict_get_bool(e, "Plugged", true);
		m->slot = loc ? (uint8_t)slot : free_slot(d);
		for (tail = &d->devices; *tail; tail = &(*tail)->next)
			;
		*tail = m;
	}
	return 0;
}

static char *
find_model(struct udkd *d, const char *model)
{
	struct stat st;

	if (strchr(model, '/'))
		return access(model, X_OK) == 0 ? realpath(model, NULL) : NULL;
	for (size_t i = 0; i < d->n_model_dirs; i++) {
		char *p = strdup_printf("%s/%s", d->model_dirs[i], model);
		if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

int
device_plug(struct udkd *d, struct device_model *m)
{
	char *exe;
	int r;

	if (m->proc && m->proc->state != PROC_DEAD)
		return udk_set_reason(-EALREADY, "device %s is already plugged in (pid %d)", m->name, m->proc->pid);
	exe = find_model(d, m->model);
	if (!exe) {
		free(m->gone_reason);
		m->gone_reason = strdup_printf("no executable device model \"%s\" in the model directories", m->model);
		return udk_set_reason(-ENOENT, "device %s: %s (give udkd --models DIR)", m->name, m->gone_reason);
	}
	r = launcher_start_model(d, m, exe);
	free(exe);
	if (r < 0)
		return udk_set_reason(r, "cannot start the model of %s: %s", m->name, strerror(-r));
	m->plugged = true;
	free(m->gone_reason);
	m->gone_reason = NULL;
	log_info(d, "device %s: model %s started (pid %d)", m->name, m->model, m->proc->pid);
	return 0;
}

static void
terminate_nubs(struct udkd *d, struct device_model *m, const char *why)
{
	while (m->n_nubs) {
		struct service *s = m->nubs[--m->n_nubs];
		service_terminate(d, s, why);
		service_unref(s);
	}
}

void
device_unplug(struct udkd *d, struct device_model *m, const char *why)
{
	m->plugged = false;
	terminate_nubs(d, m, why);
	if (m->proc && m->proc->state != PROC_DEAD) {
		m->proc->state = PROC_STOPPING;
		proc_kill(d, m->proc, NULL);
	}
	free(m->gone_reason);
	m->gone_reason = strdup(why);
	log_notice(d, "device %s: %s", m->name, why);
}

void
devices_model_died(struct udkd *d, struct device_model *m, const char *how, bool expected)
{
	char *why = strdup_printf("hardware gone: the model of %s %s", m->name, how);

	m->proc = NULL;
	terminate_nubs(d, m, why ? why : "hardware gone");
	if (!expected) {
		m->crashes++;
		free(m->gone_reason);
		m->gone_reason = strdup_printf("its model %s; `udkctl sim plug %s` starts it again", how, m->name);
		log_error(d, "device %s is gone: its model %s; its drivers were stopped", m->name, how);
	}
	free(why);
}

static struct service *
pci_root(struct udkd *d)
{
	struct udk_value *props;

	if (d->pci_root && d->pci_root->state != SVC_TERMINATED)
		return d->pci_root;
	props = udk_value_new_dict();
	udk_dict_set_string(props, "IOName", "pci");
	udk_dict_set_string(props, "UDKBackend", "sim");
	if (service_new(d, d->reg.root, "PCI0", class_chain_for("IOPCIBridge"), props, &d->pci_root) < 0)
		d->pci_root = NULL;
	udk_value_unref(props);
	if (d->pci_root)
		service_register(d, d->pci_root);
	return d->pci_root;
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

static void
handle_hello(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct device_model *dm = p->model;
	struct udk_value *fns = udk_dict_get(m->body, "functions");
	struct udk_value *ids, *body;
	struct service *bus;

	if (p->state != PROC_LAUNCHING) {
		proc_reply(p, m, -EPROTO, "hello sent twice", NULL, NULL, 0);
		return;
	}
	if (udk_dict_get_int(m->body, "version", -1) != PROTO_VERSION) {
		proc_reply(p, m, -UDK_E_VERSION, "this udkd speaks another protocol version", NULL, NULL, 0);
		proc_kill(d, p, "protocol version mismatch");
		return;
	}
	if (udk_value_get_type(fns) != UDK_VALUE_ARRAY || udk_array_size(fns) < 1 || udk_array_size(fns) > 8) {
		proc_reply(p, m, -EINVAL, "a device model has 1..8 PCI functions", NULL, NULL, 0);
		proc_kill(d, p, "a hello without functions");
		return;
	}
	bus = pci_root(d);
	ids = udk_value_new_array();
	for (size_t i = 0; i < udk_array_size(fns) && bus; i++) {
		struct udk_value *f = udk_array_get(fns, i);
		size_t len = 0;
		const uint8_t *c = udk_value_get_data(udk_dict_get(f, "config"), &len);
		struct udk_value *bars = udk_dict_get(f, "bars");
		struct udk_value *props;
		struct service *nub = NULL, **n;
		char loc[32], name[80];

		if (!c || len < CONFIG_MIN || len > CONFIG_MAX || udk_array_size(bars) != 6) {
			proc_reply(p, m, -EINVAL, "each function needs 64..4096 bytes of config space and 6 BARs", NULL,
				   NULL, 0);
			proc_kill(d, p, "a malformed hello");
			udk_value_unref(ids);
			return;
		}
		snprintf(loc, sizeof(loc), "0000:00:%02x.%zu", dm->slot, i);
		props = pci_props(c, loc, "sim");
		udk_dict_set_string(props, "UDKDevice", dm->name);
		udk_dict_set_int(props, "UDKFunction", (int64_t)i);
		udk_dict_set(props, "UDKBARs", bars);
		if (i == 0)
			snprintf(name, sizeof(name), "%s", dm->name);
		else
			snprintf(name, sizeof(name), "%s.%zu", dm->name, i);
		if (service_new(d, bus, name, class_chain_for("IOPCIDevice"), props, &nub) < 0) {
			udk_value_unref(props);
			continue;
		}
		udk_value_unref(props);
		nub->owner = p;
		n = reallocarray(dm->nubs, dm->n_nubs + 1, sizeof(*n));
		if (!n)
			continue;
		dm->nubs = n;
		dm->nubs[dm->n_nubs++] = service_ref(nub);
		udk_array_append_take(ids, udk_value_new_uint(nub->id));
	}
	body = udk_value_new_dict();
	udk_dict_set_take(body, "ids", ids);
	proc_reply(p, m, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
	launcher_model_ready(p);
	log_info(d, "device %s: %zu PCI function(s) at 00:%02x", dm->name, dm->n_nubs, dm->slot);
	/* register after replying, so the model knows its ids first */
	for (size_t i = 0; i < dm->n_nubs; i++)
		service_register(d, dm->nubs[i]);
}

void
devices_handle_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	switch (m->h.op) {
	case OP_DM_CONFIG: {
		struct udk_value *body = udk_value_new_dict();
		udk_dict_set_string(body, "name", p->model->name);
		udk_dict_set(body, "properties", p->model->props);
		proc_reply(p, m, 0, NULL, body, NULL, 0);
		udk_value_unref(body);
		break;
	}
	case OP_DM_HELLO:
		handle_hello(d, p, m);
		break;
	default:
		proc_reply(p, m, -EOPNOTSUPP, "udkd does not handle this request from a device model", NULL, NULL, 0);
		break;
	}
}

/* ---- drivers opening their provider ---- */

struct open_wait {
	struct driver_proc *driver;
	struct wire_msg req;		/* only the header is kept */
	int driver_fd;
	struct udk_value *info;
};

static void
connected(struct udkd *d, struct driver_proc *model, struct wire_msg *reply, int status, void *data)
{
	struct open_wait *w = data;

	(void)d;
	(void)model;
	if (status >= 0) {
		proc_reply(w->driver, &w->req, 0, NULL, w->info, &w->driver_fd, 1);
	} else {
		const char *why = reply ? udk_dict_get_string(reply->body, "reason") : udk_error_reason();
		proc_reply(w->driver, &w->req, status == -UDK_E_DRIVER_DIED ? -UDK_E_HARDWARE_GONE : status,
			   why ? why : "the device refused the connection", NULL, NULL, 0);
	}
	close(w->driver_fd);
	udk_value_unref(w->info);
	proc_unref(w->driver);
	free(w);
}

static struct device_model *
model_of(struct udkd *d, struct service *nub, size_t *ret_index)
{
	for (struct device_model *m = d->devices; m; m = m->next)
		for (size_t i = 0; i < m->n_nubs; i++)
			if (m->nubs[i] == nub) {
				*ret_index = i;
				return m;
			}
	return NULL;
}

static void
open_sysfs(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	const char *loc = udk_dict_get_string(s->props, "pci-location");
	char *path = strdup_printf("%s/%s/config", d->pci_sysfs_dir, loc ? loc : "?");
	struct udk_value *info = udk_value_new_dict();
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

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

/* VFIO (functions at the end of the file, for the PCI family's move to families/pci/) */
static void vfio_open_provider(struct udkd *d, struct driver_proc *p, const struct wire_msg *m, struct service *s);

static void
open_vfio(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *s)
{
	vfio_open_provider(d, p, m, s);
}

void
devices_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	struct udk_value *idv = udk_dict_get(m->body, "provider");
	struct service *s = udk_value_get_type(idv) == UDK_VALUE_INT ? service_by_id(d, udk_value_get_uint(idv, 0)) : NULL;
	const char *backend;
	struct device_model *dm;
	struct open_wait *w;
	struct udk_value *body;
	size_t index = 0;
	int sv[2], r;

	if (!s || s != p->provider) {
		proc_reply(p, m, -EPERM, "a driver can open only the provider it was started on", NULL, NULL, 0);
		return;
	}
	backend = udk_dict_get_string(s->props, "UDKBackend");
	if (streq(backend, "sysfs")) {
		open_sysfs(d, p, m, s);
		return;
	}
	if (streq(backend, "vfio")) {
		open_vfio(d, p, m, s);
		return;
	}
	if (!streq(backend, "sim")) {
		proc_reply(p, m, -UDK_E_UNSUPPORTED, "this provider has no PCI backend udk can open", NULL, NULL, 0);
		return;
	}
	dm = model_of(d, s, &index);
	if (!dm || !dm->proc || dm->proc->state != PROC_RUNNING) {
		proc_reply(p, m, -UDK_E_HARDWARE_GONE, "the device is gone (its model is not running)", NULL, NULL, 0);
		return;
	}
	if (wire_socketpair(sv) < 0) {
		proc_reply(p, m, -errno, "cannot make a socket pair", NULL, NULL, 0);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		close(sv[0]);
		close(sv[1]);
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	w->driver = proc_ref(p);
	wire_msg_init(&w->req);
	w->req.h = m->h;
	w->driver_fd = sv[0];
	w->info = udk_value_new_dict();
	udk_dict_set_string(w->info, "backend", "sim");
	udk_dict_set_string(w->info, "location", udk_dict_get_string(s->props, "pci-location"));
	udk_dict_set(w->info, "bars", udk_dict_get(s->props, "UDKBARs"));
	body = udk_value_new_dict();
	udk_dict_set_int(body, "function", (int64_t)index);
	udk_dict_set_uint(body, "nub", s->id);
	udk_dict_set_int(body, "client", p->pid);
	r = proc_request(d, dm->proc, OP_DM_CONNECT, body, &sv[1], 1, d->cfg.request_timeout_ms, connected, w);
	udk_value_unref(body);
	close(sv[1]);
	if (r < 0)
		connected(d, dm->proc, NULL, r, w);
}

/* ---- listing ---- */

struct udk_value *
devices_describe(struct udkd *d)
{
	struct udk_value *list = udk_value_new_array();

	for (struct device_model *m = d->devices; m; m = m->next) {
		struct udk_value *e = udk_value_new_dict(), *nubs = udk_value_new_array();
		bool running = m->proc && m->proc->state != PROC_DEAD;
		char loc[16];

		udk_dict_set_string(e, "name", m->name);
		udk_dict_set_string(e, "model", m->model);
		udk_dict_set_string(e, "state", !m->plugged ? "unplugged" : running ? "plugged" : "gone");
		snprintf(loc, sizeof(loc), "00:%02x.0", m->slot);
		udk_dict_set_string(e, "location", loc);
		if (running)
			udk_dict_set_int(e, "pid", m->proc->pid);
		if ((!running || !m->plugged) && m->gone_reason)
			udk_dict_set_string(e, "reason", m->gone_reason);
		udk_dict_set_int(e, "crashes", m->crashes);
		for (size_t i = 0; i < m->n_nubs; i++) {
			char *path = service_path(m->nubs[i]);
			if (path)
				udk_array_append_take(nubs, udk_value_new_string(path));
			free(path);
		}
		udk_dict_set_take(e, "functions", nubs);
		udk_array_append_take(list, e);
	}
	return list;
}

void
devices_fini(struct udkd *d)
{
	while (d->devices) {
		struct device_model *m = d->devices;
		d->devices = m->next;
		for (size_t i = 0; i < m->n_nubs; i++)
			service_unref(m->nubs[i]);
		free(m->nubs);
		free(m->name);
		free(m->model);
		free(m->location);
		free(m->gone_reason);
		udk_value_unref(m->props);
		free(m);
	}
}

/* ---- real hardware, read-only ---- */

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

static char *sysfs_how_to_drive(const char *loc, const char *driver, bool has_group);

int
devices_scan_sysfs(struct udkd *d)
{
	const char *root = d->pci_sysfs_dir;
	DIR *dir = opendir(root);
	struct service *host = NULL;
	struct dirent *e;
	unsigned n = 0, n_vfio = 0;

	if (!dir)
		return udk_set_reason(-errno, "cannot read %s: %s", root, strerror(errno));
	while ((e = readdir(dir))) {
		char *path, *fdir, *driver, *group;
		uint8_t c[64];
		int fd;
		struct udk_value *props;
		struct service *s = NULL;
		bool vfio;

		if (e->d_name[0] == '.')
			continue;
		path = strdup_printf("%s/%s/config", root, e->d_name);
		fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
		free(path);
		if (fd < 0)
			continue;
		if (pread(fd, c, sizeof(c), 0) != (ssize_t)sizeof(c)) {
			close(fd);
			continue;
		}
		close(fd);
		if (!host) {
			struct udk_value *hp = udk_value_new_dict();
			udk_dict_set_string(hp, "UDKBackend", "sysfs");
			if (service_new(d, d->reg.root, "PCIHost", class_chain_for("IOPCIBridge"), hp, &host) < 0) {
				udk_value_unref(hp);
				break;
			}
			udk_value_unref(hp);
			service_register(d, host);
		}
		fdir = strdup_printf("%s/%s", root, e->d_name);
		driver = fdir ? link_target(fdir, "driver") : NULL;
		group = fdir ? link_target(fdir, "iommu_group") : NULL;
		vfio = driver && group && streq(driver, "vfio-pci");
		props = pci_props(c, e->d_name, vfio ? "vfio" : "sysfs");
		if (driver)
			udk_dict_set_string(props, "UDKKernelDriver", driver);
		if (group)
			udk_dict_set_int(props, "UDKIOMMUGroup", strtol(group, NULL, 10));
		if (!vfio) {
			/* what the sysfs backend's refusals tell a driver (families/pci/pci.c) */
			char *how = sysfs_how_to_drive(e->d_name, driver, group != NULL);
			if (how)
				udk_dict_set_string(props, "UDKHowToDrive", how);
			free(how);
		}
		n_vfio += vfio;
		free(fdir);
		free(driver);
		free(group);
		if (service_new(d, host, e->d_name, class_chain_for("IOPCIDevice"), props, &s) == 0) {
			service_register(d, s);
			n++;
		}
		udk_value_unref(props);
	}
	closedir(dir);
	log_info(d, "published %u real PCI functions from %s: %u bound to vfio-pci, the rest read-only", n, root,
		 n_vfio);
	return 0;
}

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
				     "/sys/bus/pci/drivers_probe; then restart udkd (it reads sysfs when it starts)",
				     loc, driver, loc, loc, loc, loc);
	return strdup_printf("%s is bound to no kernel driver; to drive it with udk, give it to vfio-pci: modprobe "
			     "vfio-pci; echo vfio-pci > /sys/bus/pci/devices/%s/driver_override; echo %s > "
			     "/sys/bus/pci/drivers_probe; then restart udkd (it reads sysfs when it starts)",
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
	char *path = strdup_printf("%s/%s/iommu_group/devices", d->pci_sysfs_dir, loc);
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

/* Open the container and the group and hand both to the driver. */
static void
vfio_open_now(struct udkd *d, struct driver_proc *p, const struct wire_msg *m, struct service *s)
{
	const char *loc = udk_dict_get_string(s->props, "pci-location");
	int64_t group = udk_dict_get_int(s->props, "UDKIOMMUGroup", -1);
	char *path = strdup_printf("%s/%" PRId64, d->vfio_dev_dir, group);
	char *cpath = strdup_printf("%s/vfio", d->vfio_dev_dir);
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
out:
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(path);
	free(cpath);
}

/*
 * After a driver died, the next open resets the function first, as
 * PCIDriverKit does: VFIO_DEVICE_RESET through a container and group udkd
 * opens for the purpose, on a thread (the ioctl can wait for the device),
 * then the open goes on.  A device without a reset method (QEMU's edu: no
 * FLR, no PM reset, no bus reset) is said to have none.  Either way the
 * kernel already stopped its DMA: closing the dead driver's descriptors
 * turned bus mastering off and tore down its IOMMU mappings.
 */
struct vfio_seen {
	uint64_t service;
	unsigned deaths;
};
static struct vfio_seen *vfio_seen;
static size_t n_vfio_seen;

struct vfio_reset_job {
	struct udkd *d;
	struct driver_proc *driver;
	struct wire_msg req;		/* only the header is kept */
	uint64_t service;
	char *loc, *cpath, *gpath;
	char *result;
};

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

	(void)l;
	log_notice(d, "device %s: its driver died; %s", job->loc, job->result ? job->result : "out of memory");
	if (s && job->result)
		udk_dict_set_string(s->props, "UDKLastReset", job->result);
	if (job->driver->state != PROC_DEAD && s && s->state != SVC_TERMINATED)
		vfio_open_now(d, job->driver, &job->req, s);
	proc_unref(job->driver);
	free(job->loc);
	free(job->cpath);
	free(job->gpath);
	free(job->result);
	free(job);
}

static void *
vfio_reset_thread(void *data)
{
	struct vfio_reset_job *job = data;

	job->result = vfio_reset_function(job->loc, job->cpath, job->gpath);
	if (loop_post(job->d->loop, vfio_reset_done, job) < 0)
		abort(); /* the open would wait forever */
	return NULL;
}

static void
vfio_open_provider(struct udkd *d, struct driver_proc *p, const struct wire_msg *m, struct service *s)
{
	const char *loc = udk_dict_get_string(s->props, "pci-location");
	int64_t group = udk_dict_get_int(s->props, "UDKIOMMUGroup", -1);
	struct vfio_seen *seen = NULL;
	struct vfio_reset_job *job;
	pthread_t t;
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
	for (size_t i = 0; i < n_vfio_seen; i++)
		if (vfio_seen[i].service == s->id)
			seen = &vfio_seen[i];
	if (!seen) {
		struct vfio_seen *n = reallocarray(vfio_seen, n_vfio_seen + 1, sizeof(*n));
		if (n) {
			vfio_seen = n;
			seen = &vfio_seen[n_vfio_seen++];
			*seen = (struct vfio_seen){ s->id, s->client_deaths };
		}
	}
	if (!seen || seen->deaths == s->client_deaths || !loc) {
		vfio_open_now(d, p, m, s);
		return;
	}
	seen->deaths = s->client_deaths;
	job = calloc(1, sizeof(*job));
	if (!job) {
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		return;
	}
	job->d = d;
	job->driver = proc_ref(p);
	wire_msg_init(&job->req);
	job->req.h = m->h;
	job->service = s->id;
	job->loc = strdup(loc);
	job->cpath = strdup_printf("%s/vfio", d->vfio_dev_dir);
	job->gpath = strdup_printf("%s/%" PRId64, d->vfio_dev_dir, group);
	if (!job->loc || !job->cpath || !job->gpath || pthread_create(&t, NULL, vfio_reset_thread, job) != 0) {
		/* no thread: reset here, bounded by the kernel's own reset timeouts */
		if (job->loc && job->cpath && job->gpath)
			job->result = vfio_reset_function(job->loc, job->cpath, job->gpath);
		vfio_reset_done(d->loop, job);
		return;
	}
	pthread_detach(t);
}
