/* SPDX-License-Identifier: MIT */
/*
 * devmodel.c - the runtime of a device-model process, whatever its kind
 * (include/udk/devmodel.h): the connection to udkd, the main loop, the
 * drivers' channels, interrupts and DMA through the simulated IOMMU.  Each
 * family adds its kind of function (dm-private.h) in families/<name>/sim/,
 * e.g. a bus's configuration space and registers.
 *
 * The main thread runs one loop over the socket to udkd and, per
 * function, the socket of the driver that opened it.  Any thread of the
 * model may raise interrupts and do DMA.
 *
 * The simulated IOMMU is a table of the ranges the driver prepared
 * (OP_DM_DMA_MAP): IOVA, length, direction and the driver's memfd, which
 * the model maps (never populated ahead: preparing costs nothing per byte).
 * Mappings are PROT_READ unless the device may write, so even a model that
 * bypasses the table cannot write memory meant only to be read.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "dm-private.h"
#include "util.h"

#define MAX_FUNCTIONS 8

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
	return fn && (fn->chan >= 0 || fn->chans);
}

struct loop *
dm_loop(struct udk_dm *dm)
{
	return dm->loop;
}

int
dm_function_new(struct udk_dm *dm, const struct dm_kind *kind, void *kind_data, void *userdata,
		struct udk_dm_function **ret)
{
	struct udk_dm_function *fn;

	if (dm->n_fns >= MAX_FUNCTIONS)
		return udk_set_reason(-ENOSPC, "a device model has at most %d functions", MAX_FUNCTIONS);
	fn = calloc(1, sizeof(*fn));
	if (!fn)
		return -ENOMEM;
	fn->dm = dm;
	fn->index = dm->n_fns;
	fn->kind = kind;
	fn->kind_data = kind_data;
	fn->userdata = userdata;
	fn->chan = -1;
	pthread_mutex_init(&fn->chan_lock, NULL);
	pthread_mutex_init(&fn->irq_lock, NULL);
	pthread_rwlock_init(&fn->iommu_lock, NULL);
	for (unsigned i = 0; i < PROTO_MAX_VECTORS; i++)
		fn->irq_fd[i] = -1;
	dm->fns[dm->n_fns++] = fn;
	*ret = fn;
	return 0;
}

unsigned
dm_function_count(struct udk_dm *dm)
{
	return dm->n_fns;
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

void
dm_dma_clear(struct udk_dm_function *fn)
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
		wire_send_value(fn->chan, OP_DM_FAULT, WIRE_F_ONEWAY, 0, 0, b, NULL, 0);
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
	if (vector >= PROTO_MAX_VECTORS)
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

void
dm_irq_clear(struct udk_dm_function *fn)
{
	pthread_mutex_lock(&fn->irq_lock);
	for (unsigned i = 0; i < PROTO_MAX_VECTORS; i++)
		if (fn->irq_fd[i] >= 0) {
			close(fn->irq_fd[i]);
			fn->irq_fd[i] = -1;
		}
	if (fn->irq_page)
		munmap(fn->irq_page, sizeof(struct proto_irq_page));
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
	dm_dma_clear(fn);
	dm_irq_clear(fn);
	if (fn->kind->closed)
		fn->kind->closed(fn);
	if (why && fn->kind->reset)
		fn->kind->reset(fn, why);
}

void
dm_chan_reply(struct udk_dm_function *fn, const struct wire_msg *m, int status, const char *reason,
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

void
dm_chan_send(struct udk_dm_function *fn, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
	     const void *payload, size_t len)
{
	pthread_mutex_lock(&fn->chan_lock);
	if (fn->chan >= 0)
		wire_send(fn->chan, op, flags, serial, status, payload, len, NULL, 0);
	pthread_mutex_unlock(&fn->chan_lock);
}

static void
set_irq_page(struct udk_dm_function *fn, struct wire_msg *m)
{
	int fd = wire_msg_take_fd(m, 0);
	void *p = fd >= 0 ? mmap(NULL, sizeof(struct proto_irq_page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
			  : MAP_FAILED;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct proto_irq_page) || p == MAP_FAILED) {
		if (p != MAP_FAILED)
			munmap(p, sizeof(struct proto_irq_page));
		if (fd >= 0)
			close(fd);
		dm_chan_reply(fn, m, -UDK_E_PROTOCOL, "the interrupt page is not a memfd of the right size", NULL, NULL,
			      0);
		return;
	}
	close(fd);
	pthread_mutex_lock(&fn->irq_lock);
	if (fn->irq_page)
		munmap(fn->irq_page, sizeof(struct proto_irq_page));
	fn->irq_page = p;
	pthread_mutex_unlock(&fn->irq_lock);
	dm_chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
}

static void
set_irq(struct udk_dm_function *fn, struct wire_msg *m)
{
	int64_t v = udk_dict_get_int(m->body, "vector", -1);
	int fd = wire_msg_take_fd(m, 0);
	unsigned max = fn->kind->irq_vectors ? fn->kind->irq_vectors(fn) : 0;

	if (v < 0 || v >= PROTO_MAX_VECTORS || (uint64_t)v >= max) {
		if (fd >= 0)
			close(fd);
		dm_chan_reply(fn, m, -EINVAL, "the device has no such interrupt vector", NULL, NULL, 0);
		return;
	}
	pthread_mutex_lock(&fn->irq_lock);
	if (fn->irq_fd[v] >= 0)
		close(fn->irq_fd[v]);
	fn->irq_fd[v] = fd;
	pthread_mutex_unlock(&fn->irq_lock);
	dm_chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
}

static void
handle_channel(struct udk_dm_function *fn, struct wire_msg *m)
{
	if (m->h.flags & WIRE_F_REPLY)
		return;
	if (m->h.op == OP_PING) {
		dm_chan_reply(fn, m, 0, NULL, NULL, NULL, 0);
		return;
	}
	if (m->h.op < OP_DM_IRQ_PAGE || m->h.op > OP_DM_DMA_UNMAP) {
		fn->kind->message(fn, m);
		return;
	}
	if (udk_value_get_type(m->body) != UDK_VALUE_DICT) {
		dm_chan_reply(fn, m, -UDK_E_PROTOCOL, "request body must be a dictionary", NULL, NULL, 0);
		return;
	}
	switch (m->h.op) {
	case OP_DM_IRQ_PAGE:
		set_irq_page(fn, m);
		break;
	case OP_DM_IRQ_SET:
		set_irq(fn, m);
		break;
	case OP_DM_DMA_MAP: {
		int fd = wire_msg_take_fd(m, 0);
		int r = fd < 0 ? udk_set_reason(-UDK_E_PROTOCOL, "a DMA mapping needs the memory's descriptor")
			       : iommu_map(fn, udk_value_get_uint(udk_dict_get(m->body, "iova"), 0),
					   udk_value_get_uint(udk_dict_get(m->body, "length"), 0),
					   udk_value_get_uint(udk_dict_get(m->body, "offset"), 0),
					   (uint32_t)udk_dict_get_int(m->body, "direction", 0), fd);
		if (fd >= 0)
			close(fd);
		dm_chan_reply(fn, m, r, r < 0 ? udk_error_reason() : NULL, NULL, NULL, 0);
		break;
	}
	case OP_DM_DMA_UNMAP: {
		int r = iommu_unmap(fn, udk_value_get_uint(udk_dict_get(m->body, "iova"), 0),
				    udk_value_get_uint(udk_dict_get(m->body, "length"), 0));
		dm_chan_reply(fn, m, r, r < 0 ? "no such DMA mapping" : NULL, NULL, NULL, 0);
		break;
	}
	default:
		dm_chan_reply(fn, m, -EOPNOTSUPP, "the device does not know this request", NULL, NULL, 0);
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
			dm_chan_reply(fn, &m, -UDK_E_PROTOCOL, udk_error_reason(), NULL, NULL, 0);
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

/* ---- several channels per function (dm_kind.chan_message) ---- */

void
dm_chan_reply_on(struct dm_chan *c, const struct wire_msg *m, int status, const char *reason,
		 const struct udk_value *body, const int *fds, unsigned n)
{
	struct udk_value *b = NULL;

	if (m->h.flags & WIRE_F_ONEWAY)
		return;
	if (status < 0 && reason) {
		b = udk_value_new_dict();
		udk_dict_set_string(b, "reason", reason);
		body = b;
	}
	pthread_mutex_lock(&c->lock);
	if (c->fd >= 0)
		wire_send_value(c->fd, m->h.op, WIRE_F_REPLY, m->h.serial, status, body, fds, n);
	pthread_mutex_unlock(&c->lock);
	udk_value_unref(b);
}

int
dm_chan_sendv(struct dm_chan *c, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
	      const struct iovec *iov, unsigned n_iov)
{
	int r = -ENOTCONN;

	pthread_mutex_lock(&c->lock);
	if (c->fd >= 0)
		r = wire_sendv(c->fd, op, flags, serial, status, iov, n_iov, NULL, 0);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* On the main thread: unlink, tell the kind, free. */
void
dm_chan_close(struct dm_chan *c)
{
	struct udk_dm_function *fn = c->fn;

	for (struct dm_chan **pp = &fn->chans; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	loop_source_remove(c->src);
	c->src = NULL;
	if (fn->kind->chan_closed)
		fn->kind->chan_closed(c);
	pthread_mutex_lock(&c->lock);
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void
on_chan(struct loop *l, int fd, uint32_t events, void *data)
{
	struct dm_chan *c = data;

	(void)l;
	(void)events;
	for (int i = 0; i < 256; i++) {
		struct wire_msg m;
		int r = wire_recv(fd, &m, true);
		if (r == -EAGAIN)
			break;
		if (r == -EBADMSG) {
			dm_chan_reply_on(c, &m, -UDK_E_PROTOCOL, udk_error_reason(), NULL, NULL, 0);
			continue;
		}
		if (r < 0) {
			/* the driver closed it or died */
			dm_chan_close(c);
			return;
		}
		if (!(m.h.flags & WIRE_F_REPLY)) {
			if (m.h.op == OP_PING)
				dm_chan_reply_on(c, &m, 0, NULL, NULL, NULL, 0);
			else
				c->fn->kind->chan_message(c, &m);
		}
		wire_msg_clear(&m);
		/* chan_message may have closed it */
		bool live = false;
		for (struct dm_chan *k = c->fn->chans; k; k = k->next)
			live |= k == c;
		if (!live)
			return;
	}
}

static int
chan_connect(struct udk_dm_function *fn, const struct udk_value *req, int fd)
{
	struct dm_chan *c = calloc(1, sizeof(*c));
	int r;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fn = fn;
	c->fd = fd;
	c->client = (pid_t)udk_dict_get_int(req, "client", 0);
	c->nub = udk_value_get_uint(udk_dict_get(req, "nub"), 0);
	pthread_mutex_init(&c->lock, NULL);
	r = fn->kind->chan_open ? fn->kind->chan_open(fn, c, req) : 0;
	if (r < 0) {
		pthread_mutex_destroy(&c->lock);
		close(fd);
		free(c);
		return r;
	}
	fd_set_nonblock(fd, true);
	r = loop_add_fd(fn->dm->loop, fd, EPOLLIN, on_chan, c, &c->src);
	if (r < 0) {
		if (fn->kind->chan_closed)
			fn->kind->chan_closed(c);
		pthread_mutex_destroy(&c->lock);
		close(fd);
		free(c);
		return r;
	}
	c->next = fn->chans;
	fn->chans = c;
	return 0;
}

/* ---- udkd ---- */

void
dm_udkd_reply(struct udk_dm *dm, const struct wire_msg *m, int status, const char *reason,
	      const struct udk_value *body)
{
	struct udk_value *b = NULL;

	if (m->h.flags & WIRE_F_ONEWAY)
		return;
	if (status < 0 && reason) {
		b = body ? udk_value_copy(body) : udk_value_new_dict();
		udk_dict_set_string(b, "reason", reason);
		body = b;
	}
	wire_send_value(dm->sock, m->h.op, WIRE_F_REPLY, m->h.serial, status, body, NULL, 0);
	udk_value_unref(b);
}

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

int
dm_udkd_send(struct udk_dm *dm, uint16_t op, const struct udk_value *body)
{
	/* the socket is non-blocking once the model runs: wait for room rather than drop */
	for (;;) {
		int r = wire_send_value(dm->sock, op, WIRE_F_ONEWAY, 0, 0, body, NULL, 0);
		struct pollfd pfd = { .fd = dm->sock, .events = POLLOUT };
		if (r != -EAGAIN)
			return r;
		poll(&pfd, 1, 100);
	}
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
		if (fn->kind->chan_message) {
			int r = chan_connect(fn, m->body, fd);
			udkd_reply(dm, m, r, r < 0 ? (udk_error_reason() ? udk_error_reason() : strerror(-r)) : NULL);
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
		if (fn->kind->opened)
			fn->kind->opened(fn);
		udkd_reply(dm, m, 0, NULL);
		break;
	}
	case OP_DRV_PROVIDER_EVENT: {
		struct udk_dm_function *fn = function_by_id(dm, udk_value_get_uint(udk_dict_get(m->body, "object"), 0));
		if (fn && streq(udk_dict_get_string(m->body, "event"), "client-died")) {
			udk_dm_log(dm, UDK_LOG_NOTICE, "the driver of function %u died: resetting it", fn->index);
			if (fn->kind->chan_message) {
				/* its channels end by themselves; the kind resets the rest */
				if (fn->kind->reset)
					fn->kind->reset(fn, "its driver died");
			} else if (fn->chan >= 0) {
				channel_close(fn, "its driver died");
			} else {
				dm_dma_clear(fn);
				dm_irq_clear(fn);
				if (fn->kind->reset)
					fn->kind->reset(fn, "its driver died");
			}
		}
		break;
	}
	case OP_DRV_SET_LOG_LEVEL:
		break;
	default: {
		int64_t index = udk_dict_get_int(m->body, "function", -1);
		struct udk_dm_function *fn = index >= 0 && index < dm->n_fns ? dm->fns[index] : NULL;
		if (m->h.op >= OP_FAMILY_FIRST && fn && fn->kind->udkd_message) {
			fn->kind->udkd_message(fn, m);
			break;
		}
		udkd_reply(dm, m, -EOPNOTSUPP, "a device model does not handle this");
		break;
	}
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
		fprintf(stderr, "udk device model: no function was added before udk_dm_run()\n");
		return 1;
	}
	hello = udk_value_new_dict();
	fns = udk_value_new_array();
	for (unsigned i = 0; i < dm->n_fns; i++) {
		struct udk_dm_function *fn = dm->fns[i];
		struct udk_value *f = udk_value_new_dict();
		udk_dict_set_string(f, "kind", fn->kind->name);
		r = fn->kind->describe(fn, f);
		if (r < 0) {
			fprintf(stderr, "udk device model: function %u cannot be described: %s\n", i, udk_strerror(r));
			udk_value_unref(f);
			udk_value_unref(fns);
			udk_value_unref(hello);
			return 1;
		}
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
