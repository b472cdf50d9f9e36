/* SPDX-License-Identifier: MIT */
/*
 * peripheral.c - SCSI peripherals (IOUserSCSIPeripheralDeviceType00 ...):
 * UserSendCDB over the channel udkd brokered to the LUN's controller.
 *
 * Requests are checked here first (CDB length, buffer length and
 * direction) so a bad one is refused with a named error before any other
 * process sees it; the controller checks again.  Memory the driver sends
 * again and again (its buffers, a block client's buffers) is registered
 * with the controller once per descriptor and named by an id afterwards;
 * the controller maps it once and an HBA can keep its DMA mapping.  A
 * reader thread takes the completions and wakes the senders.
 */
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>

#include "private.h"
#include "scsi-driver.h"
#include "util.h"
#include "wire.h"

#define MAX_CACHED_REGIONS 64
#define GRACE_MS 10000			/* beyond the task's own timeout, for a controller that hangs */

struct pending {
	struct pending *next;
	uint64_t tag;
	/* sync */
	bool sync, done;
	pthread_cond_t cond;
	struct udk_scsi_response *rsp;
	int result;
	/* async */
	udk_scsi_done_fn fn;
	void *ctx;
	struct udk_queue *queue;
};

struct cached_region {
	struct cached_region *next;
	struct udk_memory_descriptor *md;	/* reference */
	uint64_t id;
};

struct udk_scsi_peripheral {
	struct udk_service *provider;
	int fd;
	pthread_mutex_t lock;		/* pending, regions, the socket's sends */
	pthread_t reader;
	bool dead;
	int dead_code;
	char dead_reason[256];
	uint64_t next_tag;
	struct pending *pending;
	struct cached_region *regions;
	unsigned n_regions;
	uint64_t next_region;
	struct udk_scsi_inquiry identity;
	uint64_t target, lun;
};

static void
response_from_done(struct udk_scsi_response *rsp, const struct proto_scsi_done *d, size_t len)
{
	memset(rsp, 0, sizeof(*rsp));
	rsp->service_response = (enum udk_scsi_service_response)d->service_response;
	rsp->status = (uint8_t)d->status;
	rsp->sense_length = MIN(d->sense_length, (uint32_t)sizeof(rsp->sense));
	memcpy(rsp->sense, d->sense, rsp->sense_length);
	rsp->realized_count = d->realized;
	rsp->error = d->error;
	if (len > offsetof(struct proto_scsi_done, reason)) {
		size_t n = MIN(len - offsetof(struct proto_scsi_done, reason), sizeof(rsp->reason) - 1);
		n = MIN(n, d->reason_length);
		memcpy(rsp->reason, d->reason, n);
		rsp->reason[n] = 0;
	}
}

struct async_done {
	struct udk_scsi_peripheral *p;
	udk_scsi_done_fn fn;
	void *ctx;
	int result;
	struct udk_scsi_response rsp;
};

static void
run_async(void *data)
{
	struct async_done *a = data;

	a->fn(a->p, a->result, &a->rsp, a->ctx);
	free(a);
}

/* Hand @rsp to @pe's sender and free @pe (under no lock). */
static void
complete(struct udk_scsi_peripheral *p, struct pending *pe, const struct udk_scsi_response *rsp)
{
	int result = rsp->error;

	if (pe->sync) {
		pthread_mutex_lock(&p->lock);
		*pe->rsp = *rsp;
		pe->result = result;
		pe->done = true;
		pthread_cond_signal(&pe->cond);
		pthread_mutex_unlock(&p->lock);
		return; /* the sender frees it */
	}
	if (pe->queue) {
		struct async_done *a = malloc(sizeof(*a));
		if (a) {
			a->p = p;
			a->fn = pe->fn;
			a->ctx = pe->ctx;
			a->result = result;
			a->rsp = *rsp;
			if (udk_queue_dispatch_async(pe->queue, run_async, a) == 0) {
				udk_queue_unref(pe->queue);
				free(pe);
				return;
			}
			free(a);
		}
	}
	pe->fn(p, result, rsp, pe->ctx);
	udk_queue_unref(pe->queue);
	free(pe);
}

static struct pending *
take_pending(struct udk_scsi_peripheral *p, uint64_t tag)
{
	for (struct pending **pp = &p->pending; *pp; pp = &(*pp)->next)
		if ((*pp)->tag == tag) {
			struct pending *pe = *pp;
			*pp = pe->next;
			return pe;
		}
	return NULL;
}

static void
fail_all(struct udk_scsi_peripheral *p, int code, const char *reason)
{
	struct udk_scsi_response rsp;

	pthread_mutex_lock(&p->lock);
	if (!p->dead) {
		p->dead = true;
		p->dead_code = code;
		snprintf(p->dead_reason, sizeof(p->dead_reason), "%s", reason);
	}
	pthread_mutex_unlock(&p->lock);
	memset(&rsp, 0, sizeof(rsp));
	rsp.service_response = UDK_SCSI_SERVICE_RESPONSE_SERVICE_DELIVERY_OR_TARGET_FAILURE;
	rsp.error = code;
	snprintf(rsp.reason, sizeof(rsp.reason), "%s", reason);
	for (;;) {
		struct pending *pe;
		pthread_mutex_lock(&p->lock);
		pe = p->pending;
		if (pe)
			p->pending = pe->next;
		pthread_mutex_unlock(&p->lock);
		if (!pe)
			break;
		complete(p, pe, &rsp);
	}
}

static void *
reader_main(void *data)
{
	struct udk_scsi_peripheral *p = data;

	pthread_setname_np(pthread_self(), "scsi-periph");
	for (;;) {
		struct wire_msg m;
		int r = wire_recv(p->fd, &m, false);
		if (r == -EBADMSG)
			continue;
		if (r < 0) {
			fail_all(p, -UDK_E_HARDWARE_GONE,
				 "the LUN's controller went away (its driver stopped or crashed, or the device was removed)");
			return NULL;
		}
		if (m.h.op == OP_SCSI_CH_DONE && m.len >= PROTO_SCSI_DONE_MIN && m.len <= sizeof(struct proto_scsi_done)) {
			struct proto_scsi_done d;
			struct udk_scsi_response rsp;
			struct pending *pe;
			memset(&d, 0, sizeof(d));
			memcpy(&d, m.payload, m.len);
			response_from_done(&rsp, &d, m.len);
			pthread_mutex_lock(&p->lock);
			pe = take_pending(p, d.tag);
			pthread_mutex_unlock(&p->lock);
			if (pe)
				complete(p, pe, &rsp);
		}
		wire_msg_clear(&m);
	}
}

UDK_EXPORT int
udk_scsi_peripheral_open(struct udk_service *provider, struct udk_scsi_peripheral **ret)
{
	struct udk_value *body, *reply = NULL;
	struct udk_scsi_peripheral *p;
	char buf[64];
	int fd = -1, r;

	udk_return_val_if_fail(provider && ret, -EINVAL);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "provider", udk_service_get_id(provider));
	r = rt_call_fd(OP_DRV_OPEN_PROVIDER, body, &reply, &fd);
	udk_value_unref(body);
	if (r < 0)
		return r;
	if (fd < 0 || !streq(udk_dict_get_string(reply, "backend"), "controller")) {
		if (fd >= 0)
			close(fd);
		udk_value_unref(reply);
		return udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the LUN without a channel to its controller");
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		close(fd);
		udk_value_unref(reply);
		return -ENOMEM;
	}
	p->provider = udk_service_ref(provider);
	p->fd = fd;
	p->target = udk_value_get_uint(udk_dict_get(reply, "target"), 0);
	p->lun = udk_value_get_uint(udk_dict_get(reply, "lun"), 0);
	udk_value_unref(reply);
	pthread_mutex_init(&p->lock, NULL);
	p->identity.device_type = (uint8_t)udk_service_get_int_property(provider, "Peripheral Device Type", 0x1f);
	if (udk_service_get_string_property(provider, "Vendor Identification", buf, sizeof(buf)) >= 0)
		snprintf(p->identity.vendor, sizeof(p->identity.vendor), "%.8s", buf);
	if (udk_service_get_string_property(provider, "Product Identification", buf, sizeof(buf)) >= 0)
		snprintf(p->identity.product, sizeof(p->identity.product), "%.16s", buf);
	if (udk_service_get_string_property(provider, "Product Revision Level", buf, sizeof(buf)) >= 0)
		snprintf(p->identity.revision, sizeof(p->identity.revision), "%.4s", buf);
	r = -pthread_create(&p->reader, NULL, reader_main, p);
	if (r < 0) {
		close(fd);
		udk_service_unref(p->provider);
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

UDK_EXPORT void
udk_scsi_peripheral_close(struct udk_scsi_peripheral *p)
{
	if (!p)
		return;
	shutdown(p->fd, SHUT_RDWR);
	pthread_join(p->reader, NULL);
	fail_all(p, -UDK_E_TERMINATED, "the peripheral closed its LUN");
	close(p->fd);
	while (p->regions) {
		struct cached_region *r = p->regions;
		p->regions = r->next;
		udk_memory_descriptor_unref(r->md);
		free(r);
	}
	udk_service_unref(p->provider);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

UDK_EXPORT int
udk_scsi_peripheral_get_identity(struct udk_scsi_peripheral *p, struct udk_scsi_inquiry *ret)
{
	udk_return_val_if_fail(p && ret, -EINVAL);
	*ret = p->identity;
	return 0;
}

/* Under p->lock: the region id of @md, registering it (0: send the fd with the task). */
static uint64_t
region_for(struct udk_scsi_peripheral *p, struct udk_memory_descriptor *md)
{
	struct proto_scsi_region rg;
	struct cached_region *cr, **pp;
	uint64_t off;
	int fd;

	for (pp = &p->regions; *pp; pp = &(*pp)->next)
		if ((*pp)->md == md) {
			cr = *pp;
			*pp = cr->next; /* most recently used first */
			cr->next = p->regions;
			p->regions = cr;
			return cr->id;
		}
	if (md_backing(md, &fd, &off) < 0)
		return 0;
	if (p->n_regions >= MAX_CACHED_REGIONS) {
		/* forget the least recently used */
		for (pp = &p->regions; (*pp)->next; pp = &(*pp)->next)
			;
		cr = *pp;
		*pp = NULL;
		memset(&rg, 0, sizeof(rg));
		rg.id = cr->id;
		wire_send(p->fd, OP_SCSI_CH_UNREGION, WIRE_F_ONEWAY, 0, 0, &rg, sizeof(rg), NULL, 0);
		udk_memory_descriptor_unref(cr->md);
		free(cr);
		p->n_regions--;
	}
	cr = calloc(1, sizeof(*cr));
	if (!cr)
		return 0;
	memset(&rg, 0, sizeof(rg));
	rg.id = ++p->next_region;
	rg.offset = off;
	rg.length = udk_memory_descriptor_get_length(md);
	rg.direction = udk_memory_descriptor_get_direction(md);
	if (wire_send(p->fd, OP_SCSI_CH_REGION, WIRE_F_ONEWAY, 0, 0, &rg, sizeof(rg), &fd, 1) < 0) {
		free(cr);
		return 0;
	}
	cr->md = udk_memory_descriptor_ref(md);
	cr->id = rg.id;
	cr->next = p->regions;
	p->regions = cr;
	p->n_regions++;
	return cr->id;
}

UDK_EXPORT void
udk_scsi_peripheral_forget_memory(struct udk_scsi_peripheral *p, struct udk_memory_descriptor *md)
{
	if (!p || !md)
		return;
	pthread_mutex_lock(&p->lock);
	for (struct cached_region **pp = &p->regions; *pp; pp = &(*pp)->next)
		if ((*pp)->md == md) {
			struct cached_region *cr = *pp;
			struct proto_scsi_region rg = { .id = cr->id };
			*pp = cr->next;
			p->n_regions--;
			if (!p->dead)
				wire_send(p->fd, OP_SCSI_CH_UNREGION, WIRE_F_ONEWAY, 0, 0, &rg, sizeof(rg), NULL, 0);
			udk_memory_descriptor_unref(cr->md);
			free(cr);
			break;
		}
	pthread_mutex_unlock(&p->lock);
}

static int
check_request(const struct udk_scsi_request *rq)
{
	if (!rq)
		return -EINVAL;
	if (rq->cdb_length == 0 || rq->cdb_length > UDK_SCSI_CDB_MAX)
		return udk_error_set(-EMSGSIZE,
				     "a CDB is 1..16 bytes; this one is %u (refused before the controller saw it)",
				     rq->cdb_length);
	if (rq->direction > UDK_SCSI_DATA_TO_TARGET)
		return udk_error_set(-EINVAL, "direction %u is not NONE, FROM_TARGET or TO_TARGET", rq->direction);
	if (rq->direction == UDK_SCSI_DATA_NONE && rq->requested_count)
		return udk_error_set(-EINVAL, "a task without a data direction cannot move %llu bytes",
				     (unsigned long long)rq->requested_count);
	if (rq->requested_count) {
		uint64_t have = rq->buffer ? udk_memory_descriptor_get_length(rq->buffer) : 0;
		uint32_t dir = rq->buffer ? udk_memory_descriptor_get_direction(rq->buffer) : 0;
		if (!rq->buffer || rq->buffer_offset > have || have - rq->buffer_offset < rq->requested_count)
			return udk_error_set(-UDK_E_BAD_ADDRESS,
					     "the buffer holds %llu bytes from offset %llu, fewer than the %llu "
					     "requested (refused before the controller saw it)",
					     (unsigned long long)(have > rq->buffer_offset ? have - rq->buffer_offset : 0),
					     (unsigned long long)rq->buffer_offset,
					     (unsigned long long)rq->requested_count);
		if ((rq->direction == UDK_SCSI_DATA_FROM_TARGET && !(dir & UDK_MEMORY_DIRECTION_IN)) ||
		    (rq->direction == UDK_SCSI_DATA_TO_TARGET && !(dir & UDK_MEMORY_DIRECTION_OUT)))
			return udk_error_set(-UDK_E_DIRECTION,
					     "the task %s its buffer, but the memory descriptor's direction does not "
					     "allow it",
					     rq->direction == UDK_SCSI_DATA_FROM_TARGET ? "writes" : "reads");
	}
	return 0;
}

/* Check, register and send; @pe is linked under the lock before sending. */
static int
send_task(struct udk_scsi_peripheral *p, const struct udk_scsi_request *rq, struct pending *pe)
{
	struct proto_scsi_task pt;
	int fd = -1, r;
	uint64_t off = 0;

	r = check_request(rq);
	if (r < 0)
		return r;
	memset(&pt, 0, sizeof(pt));
	memcpy(pt.cdb, rq->cdb, rq->cdb_length);
	pt.cdb_length = rq->cdb_length;
	pt.direction = rq->direction;
	pt.requested = rq->requested_count;
	pt.timeout_ms = rq->timeout_ms;
	pthread_mutex_lock(&p->lock);
	if (p->dead) {
		r = udk_error_set(p->dead_code, "%s", p->dead_reason);
		pthread_mutex_unlock(&p->lock);
		return r;
	}
	if (rq->requested_count) {
		pt.region = region_for(p, rq->buffer);
		if (pt.region) {
			pt.offset = rq->buffer_offset;
		} else if (md_backing(rq->buffer, &fd, &off) == 0) {
			pt.flags |= PROTO_SCSI_TASK_FD;
			pt.offset = off + rq->buffer_offset;
		} else {
			pthread_mutex_unlock(&p->lock);
			return udk_error_set(-UDK_E_BAD_ADDRESS, "the buffer has no memory the controller can reach");
		}
	}
	pe->tag = pt.tag = ++p->next_tag;
	pe->next = p->pending;
	p->pending = pe;
	r = wire_send(p->fd, OP_SCSI_CH_TASK, WIRE_F_ONEWAY, 0, 0, &pt, sizeof(pt), fd >= 0 ? &fd : NULL,
		      fd >= 0 ? 1 : 0);
	if (r < 0) {
		take_pending(p, pe->tag);
		pthread_mutex_unlock(&p->lock);
		return udk_error_set(-UDK_E_HARDWARE_GONE, "the LUN's controller cannot be reached: %s", strerror(-r));
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}

UDK_EXPORT int
udk_scsi_send_cdb(struct udk_scsi_peripheral *p, const struct udk_scsi_request *rq, struct udk_scsi_response *rsp)
{
	struct pending pe;
	struct udk_scsi_response local;
	struct timespec ts;
	uint64_t wait_ms;
	int r;

	udk_return_val_if_fail(p && rq, -EINVAL);
	if (!rsp)
		rsp = &local;
	memset(rsp, 0, sizeof(*rsp));
	memset(&pe, 0, sizeof(pe));
	pe.sync = true;
	pe.rsp = rsp;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pe.cond, &ca);
	pthread_condattr_destroy(&ca);
	r = send_task(p, rq, &pe);
	if (r < 0) {
		pthread_cond_destroy(&pe.cond);
		rsp->error = r;
		rsp->service_response = UDK_SCSI_SERVICE_RESPONSE_SERVICE_DELIVERY_OR_TARGET_FAILURE;
		snprintf(rsp->reason, sizeof(rsp->reason), "%s", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return r;
	}
	wait_ms = (uint64_t)(rq->timeout_ms ? rq->timeout_ms : 30000) + GRACE_MS;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(wait_ms / 1000);
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	while (!pe.done)
		if (pthread_cond_timedwait(&pe.cond, &p->lock, &ts) == ETIMEDOUT && !pe.done) {
			char cdb[96];
			take_pending(p, pe.tag);
			pthread_mutex_unlock(&p->lock);
			pthread_cond_destroy(&pe.cond);
			udk_scsi_cdb_describe(rq->cdb, rq->cdb_length, cdb, sizeof(cdb));
			rsp->error = -UDK_E_DEADLINE;
			rsp->service_response = UDK_SCSI_SERVICE_RESPONSE_SERVICE_DELIVERY_OR_TARGET_FAILURE;
			snprintf(rsp->reason, sizeof(rsp->reason),
				 "the controller driver did not answer %s within %llu ms (the task's timeout and %d ms more)",
				 cdb, (unsigned long long)wait_ms, GRACE_MS);
			return udk_error_set(-UDK_E_DEADLINE, "%s", rsp->reason);
		}
	pthread_mutex_unlock(&p->lock);
	pthread_cond_destroy(&pe.cond);
	if (pe.result < 0)
		return udk_error_set(pe.result, "%s", rsp->reason[0] ? rsp->reason : udk_strerror(pe.result));
	return 0;
}

UDK_EXPORT int
udk_scsi_send_cdb_async(struct udk_scsi_peripheral *p, const struct udk_scsi_request *rq, struct udk_queue *queue,
			udk_scsi_done_fn done, void *ctx)
{
	struct pending *pe;
	int r;

	udk_return_val_if_fail(p && rq && done, -EINVAL);
	pe = calloc(1, sizeof(*pe));
	if (!pe)
		return -ENOMEM;
	pe->fn = done;
	pe->ctx = ctx;
	pe->queue = queue ? udk_queue_ref(queue) : NULL;
	r = send_task(p, rq, pe);
	if (r < 0) {
		udk_queue_unref(pe->queue);
		free(pe);
	}
	return r;
}
