/* SPDX-License-Identifier: MIT */
/*
 * devmodel.c - the runtime of a device-model process (include/udk/devmodel.h).
 *
 * The main thread runs one loop over the socket to udkd and, per PCI
 * function, the socket of the driver that opened it.  It emulates config
 * space (header, BAR sizing, capability list) and calls the model's
 * register callbacks.  Any thread of the model may raise MSIs and do DMA.
 *
 * The simulated IOMMU is a table of the ranges the driver prepared
 * (OP_PCI_DMA_MAP): IOVA, length, direction and the driver's memfd, which
 * the model maps (never populated ahead: preparing costs nothing per byte).
 * Mappings are PROT_READ unless the device may write, so even a model that
 * bypasses the table cannot write memory meant only to be read.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <udk/families/pci-devmodel.h>

#include "loop.h"
#include "proto-pci.h"
#include "util.h"
#include "wire.h"

#define CONFIG_SIZE 4096u
#define MAX_FUNCTIONS 8
#define CAP_PM 0x01
#define CAP_MSI 0x05
#define CAP_MSIX 0x11
#define CAP_EXP 0x10

struct mapping {
	uint64_t iova;
	uint64_t len;
	bool device_writes;		/* direction includes IN */
	bool device_reads;		/* direction includes OUT */
	void *base;			/* page-aligned mmap */
	size_t base_len;
	uint8_t *addr;			/* iova's byte */
	int refs;			/* udk_dm_dma_get() holders */
};

struct udk_dm_function {
	struct udk_dm *dm;
	unsigned index;
	uint64_t id;			/* the nub's registry id */
	struct udk_dm_ops ops;
	void *userdata;
	uint8_t config[CONFIG_SIZE];
	uint32_t bar_value[6];		/* what the driver wrote to the BAR registers */
	struct udk_dm_bar bars[6];
	int bar_fd[6];
	void *bar_addr[6];
	uint32_t msi_cap, msix_cap, pm_cap;

	/* the driver's channel; the fd is written from any thread under chan_lock */
	pthread_mutex_t chan_lock;
	int chan;
	struct loop_source *chan_src;
	pid_t client;

	/* interrupts */
	pthread_mutex_t irq_lock;
	struct proto_pci_irq_page *irq_page;
	int irq_fd[PROTO_PCI_MAX_VECTORS];

	/* the IOMMU table, sorted by iova */
	pthread_rwlock_t iommu_lock;
	struct mapping **maps;
	size_t n_maps;
	uint64_t faults;
	/* udk_dm_dma_get() pointers still held (under iommu_lock) */
	struct held {
		uint8_t *ptr;
		struct mapping *m;
	} *held;
	size_t n_held;
};

struct udk_dm {
	int sock;
	struct loop *loop;
	struct loop_source *sock_src;
	char *name;
	struct udk_value *props;
	struct udk_dm_function *fns[MAX_FUNCTIONS];
	unsigned n_fns;
	uint32_t serial;
	int log_level;
};

#define HAS_OP(fn, field)                                                                                      \
	((fn)->ops.struct_size >= offsetof(struct udk_dm_ops, field) + sizeof((fn)->ops.field) && (fn)->ops.field)

UDK_EXPORT void
udk_dm_log(struct udk_dm *dm, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	struct udk_value *b;

	if (level > dm->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b = udk_value_new_dict();
	udk_dict_set_int(b, "level", level);
	udk_dict_set_string(b, "message", msg);
	wire_send_value(dm->sock, OP_DRV_LOG, WIRE_F_ONEWAY, 0, 0, b, NULL, 0);
	udk_value_unref(b);
}

/* A request to udkd before the loop runs: send, then read the reply. */
static int
dm_call(struct udk_dm *dm, uint16_t op, struct udk_value *body, struct udk_value **ret)
{
	uint32_t serial = ++dm->serial;
	struct udk_value *empty = body ? NULL : udk_value_new_dict();
	int r = wire_send_value(dm->sock, op, 0, serial, 0, body ? body : empty, NULL, 0);

	udk_value_unref(empty);
	if (r < 0)
		return r;
	for (;;) {
		struct wire_msg m;
		r = wire_recv(dm->sock, &m, false);
		if (r < 0)
			return r;
		if ((m.h.flags & WIRE_F_REPLY) && m.h.serial == serial) {
			r = m.h.status;
			if (r < 0)
				udk_set_reason_str(udk_dict_get_string(m.body, "reason"));
			else if (ret)
				*ret = TAKE_PTR(m.body);
			wire_msg_clear(&m);
			return r;
		}
		wire_msg_clear(&m);
	}
}

UDK_EXPORT int
udk_dm_new(int argc, char **argv, struct udk_dm **ret)
{
	const char *fdenv = getenv("UDK_DRIVER_FD"), *lvl = getenv("UDK_LOG_LEVEL");
	struct udk_value *reply = NULL;
	struct udk_dm *dm;
	uint64_t fd;
	int r;

	(void)argc;
	udk_return_val_if_fail(ret, -EINVAL);
	if (!fdenv || parse_u64(fdenv, &fd) < 0) {
		fprintf(stderr,
			"%s is a udk device model: udkd starts it for a Devices entry of the machine description.\n",
			argv && argv[0] ? argv[0] : "this program");
		return -ENOTCONN;
	}
	signal(SIGPIPE, SIG_IGN);
	dm = calloc(1, sizeof(*dm));
	if (!dm)
		return -ENOMEM;
	dm->sock = (int)fd;
	dm->log_level = lvl && udk_log_level_parse(lvl) > 0 ? udk_log_level_parse(lvl) : UDK_LOG_INFO;
	fd_set_cloexec(dm->sock, true);
	r = loop_new(&dm->loop);
	if (r >= 0)
		r = dm_call(dm, OP_DM_CONFIG, NULL, &reply);
	if (r < 0) {
		fprintf(stderr, "udk device model: udkd did not give the configuration: %s\n", udk_strerror(r));
		if (dm->loop)
			loop_free(dm->loop);
		free(dm);
		return r;
	}
	dm->name = strdup(udk_dict_get_string(reply, "name") ? udk_dict_get_string(reply, "name") : "device");
	dm->props = udk_value_ref(udk_dict_get(reply, "properties"));
	if (!dm->props)
		dm->props = udk_value_new_dict();
	udk_value_unref(reply);
	*ret = dm;
	return 0;
}

UDK_EXPORT const struct udk_value *
udk_dm_get_properties(struct udk_dm *dm)
{
	return dm ? dm->props : NULL;
}

UDK_EXPORT const char *
udk_dm_get_name(struct udk_dm *dm)
{
	return dm ? dm->name : NULL;
}

UDK_EXPORT void *
udk_dm_function_get_userdata(struct udk_dm_function *fn)
{
	return fn ? fn->userdata : NULL;
}

UDK_EXPORT struct udk_dm *
udk_dm_function_get_model(struct udk_dm_function *fn)
{
	return fn ? fn->dm : NULL;
}

UDK_EXPORT bool
udk_dm_function_is_open(struct udk_dm_function *fn)
{
	return fn && fn->chan >= 0;
}

UDK_EXPORT void *
udk_dm_bar_address(struct udk_dm_function *fn, int bar)
{
	if (!fn || bar < 0 || bar > 5)
		return NULL;
	return fn->bar_addr[bar];
}

/* ---- config space ---- */

static void
put(uint8_t *c, unsigned off, unsigned width, uint32_t v)
{
	for (unsigned i = 0; i < width; i++)
		c[off + i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get(const uint8_t *c, unsigned off, unsigned width)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v |= (uint32_t)c[off + i] << (8 * i);
	return v;
}

static unsigned
log2u(unsigned v)
{
	unsigned r = 0;

	while ((1u << r) < v)
		r++;
	return r;
}

static void
build_config(struct udk_dm_function *fn, const struct udk_dm_pci_config *cfg)
{
	uint8_t *c = fn->config;
	unsigned cap = 0x40;
	unsigned prev_off = 0;

	put(c, 0x00, 2, cfg->vendor_id);
	put(c, 0x02, 2, cfg->device_id);
	put(c, 0x08, 1, cfg->revision);
	put(c, 0x09, 3, cfg->class_code & 0xffffff);
	put(c, 0x0e, 1, 0x00); /* header type 0 */
	put(c, 0x2c, 2, cfg->subsystem_vendor_id);
	put(c, 0x2e, 2, cfg->subsystem_id);
	put(c, 0x3d, 1, 1); /* INTA# */
	/* BARs: the address bits read as assigned by firmware */
	for (unsigned i = 0; i < 6; i++) {
		const struct udk_dm_bar *b = &cfg->bars[i];
		uint32_t lo;
		if (!b->size)
			continue;
		lo = 0xe0000000u + (fn->index << 24) + (i << 20);
		lo &= ~(uint32_t)(b->size - 1) | 0xfu;
		if (b->flags & UDK_DM_BAR_MEM64)
			lo |= 0x4;
		if (b->flags & UDK_DM_BAR_PREFETCH)
			lo |= 0x8;
		fn->bar_value[i] = lo;
		if (b->flags & UDK_DM_BAR_MEM64 && i < 5)
			fn->bar_value[++i] = 0;
	}
	/* the capability list */
#define ADD_CAP(id, len)                                                                                       \
	do {                                                                                                   \
		if (prev_off)                                                                                  \
			c[prev_off + 1] = (uint8_t)cap;                                                        \
		else                                                                                           \
			c[0x34] = (uint8_t)cap;                                                                \
		c[cap] = (id);                                                                                 \
		prev_off = cap;                                                                                \
		cap += (len);                                                                                  \
	} while (0)
	if (cfg->power_management) {
		fn->pm_cap = cap;
		ADD_CAP(CAP_PM, 8);
		put(c, fn->pm_cap + 2, 2, 0x0003); /* version 3 */
	}
	if (cfg->msi_vectors) {
		fn->msi_cap = cap;
		ADD_CAP(CAP_MSI, 16);
		/* 64-bit capable, multiple message capable */
		put(c, fn->msi_cap + 2, 2, 0x0080 | (log2u(cfg->msi_vectors) << 1));
	}
	if (cfg->msix_vectors) {
		fn->msix_cap = cap;
		ADD_CAP(CAP_MSIX, 12);
		put(c, fn->msix_cap + 2, 2, (uint32_t)(cfg->msix_vectors - 1) & 0x7ff);
	}
	/* a PCI Express endpoint */
	ADD_CAP(CAP_EXP, 0x3c);
	put(c, prev_off + 2, 2, 0x0002);
#undef ADD_CAP
	if (c[0x34])
		put(c, 0x06, 2, 0x0010); /* status: capabilities list */
}

static uint32_t
config_read(struct udk_dm_function *fn, uint32_t off, unsigned width)
{
	if (off >= 0x10 && off < 0x28 && width == 4 && !(off & 3))
		return fn->bar_value[(off - 0x10) / 4];
	return get(fn->config, off, width);
}

static void
config_write(struct udk_dm_function *fn, uint32_t off, unsigned width, uint32_t v)
{
	if (off >= 0x10 && off < 0x28) {
		/* BAR sizing: writable bits are the address bits above the size */
		unsigned i = (off - 0x10) / 4;
		const struct udk_dm_bar *b = &fn->bars[i];
		bool upper = i > 0 && (fn->bars[i - 1].flags & UDK_DM_BAR_MEM64) && fn->bars[i - 1].size;
		if (width != 4)
			return;
		if (upper) {
			fn->bar_value[i] = v & (uint32_t)(~(fn->bars[i - 1].size - 1) >> 32);
		} else if (b->size) {
			uint32_t flags = fn->bar_value[i] & 0xf;
			fn->bar_value[i] = (v & ~(uint32_t)(b->size - 1) & ~0xfu) | flags;
		}
		return;
	}
	if (off == 0x04 && width >= 2) {
		put(fn->config, 0x04, 2, v & 0x0547); /* io, mem, master, parity, serr, intx-disable */
		return;
	}
	if ((fn->msi_cap && off >= fn->msi_cap + 2 && off < fn->msi_cap + 16) ||
	    (fn->msix_cap && off >= fn->msix_cap + 2 && off < fn->msix_cap + 4) ||
	    (fn->pm_cap && off >= fn->pm_cap + 4 && off < fn->pm_cap + 6)) {
		put(fn->config, off, width, v);
		return;
	}
	if (off >= 0x40 && HAS_OP(fn, config_write))
		fn->ops.config_write(fn, off, width, v);
}

UDK_EXPORT int
udk_dm_add_pci_function(struct udk_dm *dm, const struct udk_dm_pci_config *cfg, const struct udk_dm_ops *ops,
			void *userdata, struct udk_dm_function **ret)
{
	struct udk_dm_function *fn;

	udk_return_val_if_fail(dm && cfg && ops && ops->struct_size, -EINVAL);
	if (dm->n_fns >= MAX_FUNCTIONS)
		return udk_set_reason(-ENOSPC, "a device model has at most %d PCI functions", MAX_FUNCTIONS);
	if (cfg->msi_vectors > 32 || cfg->msix_vectors > PROTO_PCI_MAX_VECTORS)
		return udk_set_reason(-EINVAL, "at most 32 MSI and %d MSI-X vectors", PROTO_PCI_MAX_VECTORS);
	fn = calloc(1, sizeof(*fn));
	if (!fn)
		return -ENOMEM;
	fn->dm = dm;
	fn->index = dm->n_fns;
	fn->ops = *ops;
	if (fn->ops.struct_size > sizeof(fn->ops))
		fn->ops.struct_size = sizeof(fn->ops);
	fn->userdata = userdata;
	fn->chan = -1;
	pthread_mutex_init(&fn->chan_lock, NULL);
	pthread_mutex_init(&fn->irq_lock, NULL);
	pthread_rwlock_init(&fn->iommu_lock, NULL);
	for (unsigned i = 0; i < PROTO_PCI_MAX_VECTORS; i++)
		fn->irq_fd[i] = -1;
	for (unsigned i = 0; i < 6; i++) {
		const struct udk_dm_bar *b = &cfg->bars[i];
		fn->bar_fd[i] = -1;
		fn->bars[i] = *b;
		if (b->size && (b->size < 16 || (b->size & (b->size - 1)))) {
			free(fn);
			return udk_set_reason(-EINVAL, "BAR %u: size %llu is not a power of two of at least 16", i,
					      (unsigned long long)b->size);
		}
		if (b->size && (b->flags & UDK_DM_BAR_MAPPABLE)) {
			fn->bar_fd[i] = memfd_create("udk-bar", MFD_CLOEXEC | MFD_ALLOW_SEALING);
			if (fn->bar_fd[i] < 0 || ftruncate(fn->bar_fd[i], (off_t)b->size) < 0 ||
			    fcntl(fn->bar_fd[i], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
				return -errno;
			fn->bar_addr[i] = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fn->bar_fd[i], 0);
			if (fn->bar_addr[i] == MAP_FAILED)
				return -errno;
			/* a ROM: the driver's mapping can only read */
			if ((b->flags & UDK_DM_BAR_READONLY) && fcntl(fn->bar_fd[i], F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0)
				return -errno;
		}
	}
	build_config(fn, cfg);
	dm->fns[dm->n_fns++] = fn;
	if (ret)
		*ret = fn;
	return 0;
}

/* ---- the IOMMU ---- */

static void
mapping_release(struct mapping *m)
{
	if (--m->refs == 0) {
		munmap(m->base, m->base_len);
		free(m);
	}
}

static void
iommu_clear(struct udk_dm_function *fn)
{
	pthread_rwlock_wrlock(&fn->iommu_lock);
	for (size_t i = 0; i < fn->n_maps; i++)
		mapping_release(fn->maps[i]);
	free(fn->maps);
	fn->maps = NULL;
	fn->n_maps = 0;
	pthread_rwlock_unlock(&fn->iommu_lock);
}

/* Under the lock: the mapping holding @iova, or NULL. */
static struct mapping *
iommu_find(struct udk_dm_function *fn, uint64_t iova)
{
	size_t lo = 0, hi = fn->n_maps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct mapping *m = fn->maps[mid];
		if (iova < m->iova)
			hi = mid;
		else if (iova - m->iova >= m->len)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

static int
iommu_map(struct udk_dm_function *fn, uint64_t iova, uint64_t len, uint64_t offset, uint32_t dir, int fd)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t map_off = offset & ~((uint64_t)page - 1);
	struct mapping *m;
	struct stat st;
	size_t pos = 0;
	int prot = 0;

	if (!len || iova + len < iova || dir < 1 || dir > 3)
		return udk_set_reason(-EINVAL, "a DMA mapping needs a length and a direction");
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < offset || (uint64_t)st.st_size - offset < len)
		return udk_set_reason(-EINVAL, "the memory behind the DMA mapping is smaller than the mapping");
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->iova = iova;
	m->len = len;
	m->device_writes = dir & 1;	/* UDK_MEMORY_DIRECTION_IN */
	m->device_reads = dir & 2;	/* UDK_MEMORY_DIRECTION_OUT */
	if (m->device_reads)
		prot |= PROT_READ;
	if (m->device_writes)
		prot |= PROT_READ | PROT_WRITE;
	m->base_len = (size_t)(len + (offset - map_off));
	m->base = mmap(NULL, m->base_len, prot, MAP_SHARED, fd, (off_t)map_off);
	if (m->base == MAP_FAILED) {
		int e = -errno;
		free(m);
		return udk_set_reason(e, "cannot map the driver's memory: %s", strerror(-e));
	}
	m->addr = (uint8_t *)m->base + (offset - map_off);
	m->refs = 1;
	pthread_rwlock_wrlock(&fn->iommu_lock);
	while (pos < fn->n_maps && fn->maps[pos]->iova < iova)
		pos++;
	/* no overlap with neighbours */
	if ((pos > 0 && fn->maps[pos - 1]->iova + fn->maps[pos - 1]->len > iova) ||
	    (pos < fn->n_maps && iova + len > fn->maps[pos]->iova)) {
		pthread_rwlock_unlock(&fn->iommu_lock);
		munmap(m->base, m->base_len);
		free(m);
		return udk_set_reason(-EEXIST, "IOVA 0x%llx+%llu overlaps a mapping", (unsigned long long)iova,
				      (unsigned long long)len);
	}
	struct mapping **n = reallocarray(fn->maps, fn->n_maps + 1, sizeof(*n));
	if (!n) {
		pthread_rwlock_unlock(&fn->iommu_lock);
		munmap(m->base, m->base_len);
		free(m);
		return -ENOMEM;
	}
	fn->maps = n;
	memmove(&fn->maps[pos + 1], &fn->maps[pos], (fn->n_maps - pos) * sizeof(*n));
	fn->maps[pos] = m;
	fn->n_maps++;
	pthread_rwlock_unlock(&fn->iommu_lock);
	return 0;
}

static int
iommu_unmap(struct udk_dm_function *fn, uint64_t iova, uint64_t len)
{
	int r = -ENOENT;

	pthread_rwlock_wrlock(&fn->iommu_lock);
	for (size_t i = 0; i < fn->n_maps; i++) {
		struct mapping *m = fn->maps[i];
		if (m->iova == iova && m->len == len) {
			memmove(&fn->maps[i], &fn->maps[i + 1], (fn->n_maps - i - 1) * sizeof(*fn->maps));
			fn->n_maps--;
			mapping_release(m);
			r = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&fn->iommu_lock);
	return r;
}

static void
report_fault(struct udk_dm_function *fn, uint64_t iova, uint64_t len, bool write, const char *why)
{
	struct udk_value *b = udk_value_new_dict();

	__atomic_add_fetch(&fn->faults, 1, __ATOMIC_RELAXED);
	udk_dict_set_uint(b, "iova", iova);
	udk_dict_set_uint(b, "length", len);
	udk_dict_set_bool(b, "write", write);
	udk_dict_set_string(b, "reason", why);
	pthread_mutex_lock(&fn->chan_lock);
	if (fn->chan >= 0)
		wire_send_value(fn->chan, OP_PCI_FAULT, WIRE_F_ONEWAY, 0, 0, b, NULL, 0);
	pthread_mutex_unlock(&fn->chan_lock);
	udk_value_unref(b);
}

static int
dma_access(struct udk_dm_function *fn, uint64_t iova, void *buf, uint64_t len, bool write)
{
	uint64_t done = 0;

	pthread_rwlock_rdlock(&fn->iommu_lock);
	while (done < len) {
		uint64_t at = iova + done;
		struct mapping *m = iommu_find(fn, at);
		uint64_t k;
		const char *why = NULL;

		if (!m)
			why = "the IOVA was not prepared for DMA";
		else if (write && !m->device_writes)
			why = "the device wrote memory prepared only to be read (direction OUT)";
		else if (!write && !m->device_reads)
			why = "the device read memory prepared only to be written (direction IN)";
		if (why) {
			pthread_rwlock_unlock(&fn->iommu_lock);
			report_fault(fn, at, len - done, write, why);
			return udk_set_reason(-UDK_E_IOMMU_FAULT, "IOMMU fault at 0x%llx: %s", (unsigned long long)at,
					      why);
		}
		k = MIN(len - done, m->len - (at - m->iova));
		if (write)
			memcpy(m->addr + (at - m->iova), (uint8_t *)buf + done, k);
		else
			memcpy((uint8_t *)buf + done, m->addr + (at - m->iova), k);
		done += k;
	}
	pthread_rwlock_unlock(&fn->iommu_lock);
	return 0;
}

UDK_EXPORT int
udk_dm_dma_read(struct udk_dm_function *fn, uint64_t iova, void *buf, uint64_t len)
{
	udk_return_val_if_fail(fn && (buf || !len), -EINVAL);
	return dma_access(fn, iova, buf, len, false);
}

UDK_EXPORT int
udk_dm_dma_write(struct udk_dm_function *fn, uint64_t iova, const void *buf, uint64_t len)
{
	udk_return_val_if_fail(fn && (buf || !len), -EINVAL);
	return dma_access(fn, iova, (void *)buf, len, true);
}

UDK_EXPORT int
udk_dm_dma_get(struct udk_dm_function *fn, uint64_t iova, uint64_t len, bool write, void **ret)
{
	struct mapping *m;
	const char *why = NULL;

	udk_return_val_if_fail(fn && ret && len, -EINVAL);
	pthread_rwlock_wrlock(&fn->iommu_lock);
	m = iommu_find(fn, iova);
	if (!m || iova + len < iova || iova + len - m->iova > m->len)
		why = "the range was not prepared for DMA (or spans two preparations)";
	else if (write ? !m->device_writes : !m->device_reads)
		why = write ? "the range is prepared only to be read" : "the range is prepared only to be written";
	if (why) {
		pthread_rwlock_unlock(&fn->iommu_lock);
		report_fault(fn, iova, len, write, why);
		return udk_set_reason(-UDK_E_IOMMU_FAULT, "IOMMU fault at 0x%llx: %s", (unsigned long long)iova, why);
	}
	{
		struct held *h = reallocarray(fn->held, fn->n_held + 1, sizeof(*h));
		if (!h) {
			pthread_rwlock_unlock(&fn->iommu_lock);
			return -ENOMEM;
		}
		fn->held = h;
		m->refs++;
		*ret = m->addr + (iova - m->iova);
		fn->held[fn->n_held++] = (struct held){ *ret, m };
	}
	pthread_rwlock_unlock(&fn->iommu_lock);
	return 0;
}

UDK_EXPORT void
udk_dm_dma_put(struct udk_dm_function *fn, void *ptr)
{
	if (!fn || !ptr)
		return;
	/* the mapping stays alive while held, even if the driver completed it */
	pthread_rwlock_wrlock(&fn->iommu_lock);
	for (size_t i = 0; i < fn->n_held; i++)
		if (fn->held[i].ptr == ptr) {
			mapping_release(fn->held[i].m);
			fn->held[i] = fn->held[--fn->n_held];
			break;
		}
	pthread_rwlock_unlock(&fn->iommu_lock);
}

/* ---- interrupts ---- */

UDK_EXPORT int
udk_dm_raise_msi(struct udk_dm_function *fn, unsigned vector)
{
	uint64_t one = 1;
	int r = 0;

	udk_return_val_if_fail(fn, -EINVAL);
	if (vector >= PROTO_PCI_MAX_VECTORS)
		return -EINVAL;
	pthread_mutex_lock(&fn->irq_lock);
	if (fn->irq_fd[vector] < 0) {
		r = -ENXIO;
	} else {
		if (fn->irq_page) {
			atomic_store_explicit(&fn->irq_page->vec[vector].raised_ns, now_ns(), memory_order_relaxed);
			/* release paired with the driver's load-acquire of count in
			 * its interrupt handler: raised_ns is written first */
			atomic_fetch_add_explicit(&fn->irq_page->vec[vector].count, 1, memory_order_release);
		}
		if (write(fn->irq_fd[vector], &one, sizeof(one)) < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&fn->irq_lock);
	return r;
}

static void
irq_clear(struct udk_dm_function *fn)
{
	pthread_mutex_lock(&fn->irq_lock);
	for (unsigned i = 0; i < PROTO_PCI_MAX_VECTORS; i++)
		if (fn->irq_fd[i] >= 0) {
			close(fn->irq_fd[i]);
			fn->irq_fd[i] = -1;
		}
	if (fn->irq_page)
		munmap(fn->irq_page, sizeof(*fn->irq_page));
	fn->irq_page = NULL;
	pthread_mutex_unlock(&fn->irq_lock);
}

/* ---- the driver's channel ---- */

static void
channel_close(struct udk_dm_function *fn, const char *why)
{
	if (fn->chan < 0)
		return;
	loop_source_remove(fn->chan_src);
	fn->chan_src = NULL;
	pthread_mutex_lock(&fn->chan_lock);
	close(fn->chan);
	fn->chan = -1;
	pthread_mutex_unlock(&fn->chan_lock);
	iommu_clear(fn);
	irq_clear(fn);
	if (HAS_OP(fn, closed))
		fn->ops.closed(fn);
	if (why && HAS_OP(fn, reset))
		fn->ops.reset(fn, why);
}

static void
chan_reply(struct udk_dm_function *fn, const struct wire_msg *m, int status, const char *reason,
	   const struct udk_value *body, const int *fds, unsigned n)
{
	struct udk_value *b = NULL;

	if (status < 0 && reason) {
		b = udk_value_new_dict();
		udk_dict_set_string(b, "reason", reason);
		body = b;
	}
	pthread_mutex_lock(&fn->chan_lock);
	if (fn->chan >= 0)
		wire_send_value(fn->chan, m->h.op, WIRE_F_REPLY, m->h.serial, status, body, fds, n);
	pthread_mutex_unlock(&fn->chan_lock);
	udk_value_unref(b);
}

static bool
valid_width(uint32_t w)
{
	return w == 1 || w == 2 || w == 4 || w == 8;
}

static void
handle_rw(struct udk_dm_function *fn, struct wire_msg *m)
{
	struct proto_pci_rw rw;
	int status = 0;

	if (m->len != sizeof(rw) || m->n_fds) {
		if (m->h.op != OP_PCI_MEM_WRITE)
			chan_reply(fn, m, -UDK_E_PROTOCOL, "malformed register access", NULL, NULL, 0);
		return;
	}
	memcpy(&rw, m->payload, sizeof(rw));
	if (!valid_width(rw.width)) {
		status = -EINVAL;
	} else if (rw.space == 0) {
		if (rw.width == 8 || rw.offset >= CONFIG_SIZE || rw.offset + rw.width > CONFIG_SIZE || (rw.offset % rw.width))
			status = -EINVAL;
		else if (m->h.op == OP_PCI_CFG_READ)
			rw.value = config_read(fn, (uint32_t)rw.offset, rw.width);
		else
			config_write(fn, (uint32_t)rw.offset, rw.width, (uint32_t)rw.value);
	} else if (rw.space >= 1 && rw.space <= 6 && fn->bars[rw.space - 1].size) {
		unsigned bar = rw.space - 1;
		const struct udk_dm_bar *b = &fn->bars[bar];
		if (rw.offset >= b->size || rw.width > b->size - rw.offset || (rw.offset % rw.width)) {
			status = -EINVAL;
		} else if (fn->bar_addr[bar]) {
			uint8_t *p = (uint8_t *)fn->bar_addr[bar] + rw.offset;
			if (m->h.op == OP_PCI_MEM_READ) {
				rw.value = 0;
				memcpy(&rw.value, p, rw.width);
			} else if (!(b->flags & UDK_DM_BAR_READONLY)) {
				memcpy(p, &rw.value, rw.width);
			}
		} else if (m->h.op == OP_PCI_MEM_READ) {
			rw.value = HAS_OP(fn, mmio_read) ? fn->ops.mmio_read(fn, (int)bar, rw.offset, rw.width) : ~0ull;
		} else if (HAS_OP(fn, mmio_write)) {
			fn->ops.mmio_write(fn, (int)bar, rw.offset, rw.width, rw.value);
		}
	} else {
		status = -EINVAL;
	}
	if (m->h.op == OP_PCI_MEM_WRITE)
		return; /* posted */
	if (status < 0) {
		chan_reply(fn, m, status, "the offset, width or BAR is out of range", NULL, NULL, 0);
		return;
	}
	pthread_mutex_lock(&fn->chan_lock);
	if (fn->chan >= 0)
		wire_send(fn->chan, m->h.op, WIRE_F_REPLY, m->h.serial, 0, &rw, sizeof(rw), NULL, 0);
	pthread_mutex_unlock(&fn->chan_lock);
}

static void
handle_channel(struct udk_dm_function *fn, struct wire_msg *m)
{
	if (m->h.flags & WIRE_F_REPLY)
		return;
	switch (m->h.op) {
	case OP_PCI_CFG_READ:
	case OP_PCI_CFG_WRITE:
	case OP_PCI_MEM_READ:
	case OP_PCI_MEM_WRITE:
		handle_rw(fn, m);
		return;
	case OP_PING:
		chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
		return;
	default:
		break;
	}
	if (udk_value_get_type(m->body) != UDK_VALUE_DICT) {
		chan_reply(fn, m, -UDK_E_PROTOCOL, "request body must be a dictionary", NULL, NULL, 0);
		return;
	}
	switch (m->h.op) {
	case OP_PCI_BAR_MAP: {
		int64_t bar = udk_dict_get_int(m->body, "bar", -1);
		struct udk_value *b;
		if (bar < 0 || bar > 5 || fn->bar_fd[bar] < 0) {
			chan_reply(fn, m, -UDK_E_UNSUPPORTED, "that BAR is not mappable memory; use register accesses",
				   NULL, NULL, 0);
			break;
		}
		b = udk_value_new_dict();
		udk_dict_set_uint(b, "size", fn->bars[bar].size);
		udk_dict_set_bool(b, "readonly", fn->bars[bar].flags & UDK_DM_BAR_READONLY);
		chan_reply(fn, m, 0, NULL, b, &fn->bar_fd[bar], 1);
		udk_value_unref(b);
		break;
	}
	case OP_PCI_IRQ_PAGE: {
		int fd = wire_msg_take_fd(m, 0);
		void *p = fd >= 0 ? mmap(NULL, sizeof(struct proto_pci_irq_page), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
					 0)
				  : MAP_FAILED;
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct proto_pci_irq_page) ||
		    p == MAP_FAILED) {
			if (p != MAP_FAILED)
				munmap(p, sizeof(struct proto_pci_irq_page));
			if (fd >= 0)
				close(fd);
			chan_reply(fn, m, -UDK_E_PROTOCOL, "the interrupt page is not a memfd of the right size", NULL,
				   NULL, 0);
			break;
		}
		close(fd);
		pthread_mutex_lock(&fn->irq_lock);
		if (fn->irq_page)
			munmap(fn->irq_page, sizeof(*fn->irq_page));
		fn->irq_page = p;
		pthread_mutex_unlock(&fn->irq_lock);
		chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
		break;
	}
	case OP_PCI_IRQ_SET: {
		int64_t v = udk_dict_get_int(m->body, "vector", -1);
		int fd = wire_msg_take_fd(m, 0);
		unsigned max = MAX(get(fn->config, fn->msix_cap + 2, 2) + (fn->msix_cap ? 1u : 0u),
				   fn->msi_cap ? 1u << ((get(fn->config, fn->msi_cap + 2, 2) >> 1) & 7) : 0u);
		if (v < 0 || v >= PROTO_PCI_MAX_VECTORS || (uint64_t)v >= max) {
			if (fd >= 0)
				close(fd);
			chan_reply(fn, m, -EINVAL, "the device has no such interrupt vector", NULL, NULL, 0);
			break;
		}
		pthread_mutex_lock(&fn->irq_lock);
		if (fn->irq_fd[v] >= 0)
			close(fn->irq_fd[v]);
		fn->irq_fd[v] = fd;
		pthread_mutex_unlock(&fn->irq_lock);
		chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
		break;
	}
	case OP_PCI_DMA_MAP: {
		int fd = wire_msg_take_fd(m, 0);
		int r = fd < 0 ? udk_set_reason(-UDK_E_PROTOCOL, "a DMA mapping needs the memory's descriptor")
			       : iommu_map(fn, udk_value_get_uint(udk_dict_get(m->body, "iova"), 0),
					   udk_value_get_uint(udk_dict_get(m->body, "length"), 0),
					   udk_value_get_uint(udk_dict_get(m->body, "offset"), 0),
					   (uint32_t)udk_dict_get_int(m->body, "direction", 0), fd);
		if (fd >= 0)
			close(fd);
		chan_reply(fn, m, r, r < 0 ? udk_error_reason() : NULL, NULL, NULL, 0);
		break;
	}
	case OP_PCI_DMA_UNMAP: {
		int r = iommu_unmap(fn, udk_value_get_uint(udk_dict_get(m->body, "iova"), 0),
				    udk_value_get_uint(udk_dict_get(m->body, "length"), 0));
		chan_reply(fn, m, r, r < 0 ? "no such DMA mapping" : NULL, NULL, NULL, 0);
		break;
	}
	case OP_PCI_RESET:
		iommu_clear(fn);
		for (unsigned i = 0; i < 6; i++)
			if (fn->bar_addr[i] && !(fn->bars[i].flags & UDK_DM_BAR_READONLY))
				memset(fn->bar_addr[i], 0, fn->bars[i].size);
		put(fn->config, 0x04, 2, 0);
		if (HAS_OP(fn, reset))
			fn->ops.reset(fn, "its driver asked for a function level reset");
		chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
		break;
	default:
		chan_reply(fn, m, -EOPNOTSUPP, "the device does not know this request", NULL, NULL, 0);
		break;
	}
}

static void
on_channel(struct loop *l, int fd, uint32_t events, void *data)
{
	struct udk_dm_function *fn = data;

	(void)l;
	(void)events;
	for (int i = 0; i < 256 && fn->chan == fd; i++) {
		struct wire_msg m;
		int r = wire_recv(fd, &m, true);
		if (r == -EAGAIN)
			break;
		if (r == -EBADMSG) {
			chan_reply(fn, &m, -UDK_E_PROTOCOL, udk_error_reason(), NULL, NULL, 0);
			continue;
		}
		if (r < 0) {
			/* the driver went away; udkd tells us if it died */
			channel_close(fn, NULL);
			break;
		}
		handle_channel(fn, &m);
		wire_msg_clear(&m);
	}
}

/* ---- udkd ---- */

static struct udk_dm_function *
function_by_id(struct udk_dm *dm, uint64_t id)
{
	for (unsigned i = 0; i < dm->n_fns; i++)
		if (dm->fns[i]->id == id)
			return dm->fns[i];
	return NULL;
}

static void
udkd_reply(struct udk_dm *dm, const struct wire_msg *m, int status, const char *reason)
{
	struct udk_value *b = NULL;

	if (m->h.flags & WIRE_F_ONEWAY)
		return;
	if (reason) {
		b = udk_value_new_dict();
		udk_dict_set_string(b, "reason", reason);
	}
	wire_send_value(dm->sock, m->h.op, WIRE_F_REPLY, m->h.serial, status, b, NULL, 0);
	udk_value_unref(b);
}

static void
handle_udkd(struct udk_dm *dm, struct wire_msg *m)
{
	switch (m->h.op) {
	case OP_PING:
		udkd_reply(dm, m, 0, NULL);
		break;
	case OP_DM_CONNECT: {
		int64_t index = udk_dict_get_int(m->body, "function", -1);
		struct udk_dm_function *fn = index >= 0 && index < dm->n_fns ? dm->fns[index] : NULL;
		int fd = wire_msg_take_fd(m, 0);
		char why[128];
		if (!fn || fd < 0) {
			if (fd >= 0)
				close(fd);
			udkd_reply(dm, m, -EINVAL, "no such function");
			break;
		}
		if (fn->chan >= 0) {
			close(fd);
			snprintf(why, sizeof(why), "the function is open by another driver (pid %d)", fn->client);
			udkd_reply(dm, m, -UDK_E_BUSY, why);
			break;
		}
		fd_set_nonblock(fd, true);
		fn->chan = fd;
		fn->client = (pid_t)udk_dict_get_int(m->body, "client", 0);
		loop_add_fd(dm->loop, fd, EPOLLIN, on_channel, fn, &fn->chan_src);
		if (HAS_OP(fn, opened))
			fn->ops.opened(fn);
		udkd_reply(dm, m, 0, NULL);
		break;
	}
	case OP_DRV_PROVIDER_EVENT: {
		struct udk_dm_function *fn = function_by_id(dm, udk_value_get_uint(udk_dict_get(m->body, "object"), 0));
		if (fn && streq(udk_dict_get_string(m->body, "event"), "client-died")) {
			udk_dm_log(dm, UDK_LOG_NOTICE, "the driver of function %u died: resetting it", fn->index);
			if (fn->chan >= 0)
				channel_close(fn, "its driver died");
			else {
				iommu_clear(fn);
				irq_clear(fn);
				if (HAS_OP(fn, reset))
					fn->ops.reset(fn, "its driver died");
			}
		}
		break;
	}
	case OP_DRV_SET_LOG_LEVEL:
		break;
	default:
		udkd_reply(dm, m, -EOPNOTSUPP, "a device model does not handle this");
		break;
	}
}

static void
on_udkd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct udk_dm *dm = data;

	(void)events;
	for (int i = 0; i < 64; i++) {
		struct wire_msg m;
		int r = wire_recv(fd, &m, true);
		if (r == -EAGAIN)
			break;
		if (r < 0 && r != -EBADMSG) {
			/* udkd is gone: so is the hardware */
			loop_quit(l);
			break;
		}
		if (r == 0) {
			handle_udkd(dm, &m);
			wire_msg_clear(&m);
		}
	}
}

UDK_EXPORT int
udk_dm_run(struct udk_dm *dm)
{
	struct udk_value *hello, *fns, *reply = NULL, *ids;
	int r;

	udk_return_val_if_fail(dm, -EINVAL);
	if (!dm->n_fns) {
		fprintf(stderr, "udk device model: no PCI function was added before udk_dm_run()\n");
		return 1;
	}
	hello = udk_value_new_dict();
	fns = udk_value_new_array();
	for (unsigned i = 0; i < dm->n_fns; i++) {
		struct udk_dm_function *fn = dm->fns[i];
		struct udk_value *f = udk_value_new_dict(), *bars = udk_value_new_array();
		uint8_t cfg[256];
		memcpy(cfg, fn->config, sizeof(cfg));
		for (unsigned b = 0; b < 6; b++)
			put(cfg, 0x10 + 4 * b, 4, fn->bar_value[b]);
		udk_dict_set_string(f, "kind", "pci");
		udk_dict_set_data(f, "config", cfg, sizeof(cfg));
		for (unsigned b = 0; b < 6; b++) {
			struct udk_value *bv = udk_value_new_dict();
			udk_dict_set_uint(bv, "size", fn->bars[b].size);
			udk_dict_set_int(bv, "flags", fn->bars[b].flags);
			udk_array_append_take(bars, bv);
		}
		udk_dict_set_take(f, "bars", bars);
		udk_array_append_take(fns, f);
	}
	udk_dict_set_int(hello, "version", PROTO_VERSION);
	udk_dict_set_int(hello, "pid", getpid());
	udk_dict_set_take(hello, "functions", fns);
	r = dm_call(dm, OP_DM_HELLO, hello, &reply);
	udk_value_unref(hello);
	if (r < 0) {
		fprintf(stderr, "udk device model: udkd refused the device: %s\n",
			udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return 1;
	}
	ids = udk_dict_get(reply, "ids");
	for (unsigned i = 0; i < dm->n_fns && i < udk_array_size(ids); i++)
		dm->fns[i]->id = udk_value_get_uint(udk_array_get(ids, i), 0);
	udk_value_unref(reply);
	fd_set_nonblock(dm->sock, true);
	loop_add_fd(dm->loop, dm->sock, EPOLLIN, on_udkd, dm, &dm->sock_src);
	loop_run(dm->loop);
	return 0;
}

struct post {
	void (*fn)(void *);
	void *ctx;
};

static void
run_post(struct loop *l, void *data)
{
	struct post *p = data;

	(void)l;
	p->fn(p->ctx);
	free(p);
}

UDK_EXPORT int
udk_dm_post(struct udk_dm *dm, void (*fn)(void *ctx), void *ctx)
{
	struct post *p;
	int r;

	udk_return_val_if_fail(dm && fn, -EINVAL);
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->ctx = ctx;
	r = loop_post(dm->loop, run_post, p);
	if (r < 0)
		free(p);
	return r;
}
