/* SPDX-License-Identifier: MIT */
/*
 * simhba - the driver of udk's simulated SCSI host bus adapter, the udk
 * example of a SCSI controller driver (IOUserSCSIParallelInterfaceController):
 * a PCI driver below (BARs, MSI-X, DMA commands), the SCSI family above
 * (udk_scsi_controller_create does the scan, the nubs, the queueing and
 * the deadlines).
 *
 * A task takes one of the HBA's 64 command slots.  Its memory is prepared
 * for DMA once per memory descriptor and kept (peripherals reuse their
 * buffers), so a task costs a ring entry and a doorbell, not an IOMMU map.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <udk/driver.h>
#include <udk/families/pci.h>
#include <udk/families/scsi.h>
#include <udk/userclient.h>

#include "simhba-regs.h"

#define MAX_MAPPINGS 128

struct slot {
	struct udk_scsi_task *task;	/* NULL when free or detached (aborted, reset) */
	bool busy;
	uint64_t gen;			/* bumped each time the slot is freed */
};

struct mapping {
	struct udk_memory_descriptor *md;	/* reference */
	struct udk_dma_command *cmd;
	uint64_t iova;
	uint64_t last_use;
};

struct simhba {
	struct udk_pci_device *pci;
	struct udk_queue *irq_q;
	struct udk_interrupt_source *irq;
	struct shba_shared *sh;
	struct udk_scsi_controller *ctl;
	unsigned targets, luns;

	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct slot slots[SHBA_QDEPTH];
	uint32_t sq_tail;
	uint32_t cq_head;
	struct mapping maps[MAX_MAPPINGS];
	unsigned n_maps;
	uint64_t use_clock;
};

static bool
mapping_in_use(struct simhba *h, struct udk_memory_descriptor *md)
{
	for (unsigned i = 0; i < SHBA_QDEPTH; i++)
		if (h->slots[i].busy && h->slots[i].task && udk_scsi_task_get_memory(h->slots[i].task, NULL) == md)
			return true;
	return false;
}

/* Under lock: the IOVA of @md's first byte, preparing it once. */
static int
iova_of(struct simhba *h, struct udk_memory_descriptor *md, uint64_t *ret)
{
	struct udk_dma_spec spec = { .max_address_bits = 64 };
	struct udk_address_segment seg;
	struct mapping *m = NULL;
	uint32_t n = 1;
	int r;

	for (unsigned i = 0; i < h->n_maps; i++)
		if (h->maps[i].md == md) {
			h->maps[i].last_use = ++h->use_clock;
			*ret = h->maps[i].iova;
			return 0;
		}
	if (h->n_maps == MAX_MAPPINGS) {
		/* the least recently used goes; no task of ours uses it (tasks hold their memory, and
		 * a slot's memory is in use only while the slot is) */
		unsigned old = MAX_MAPPINGS;
		for (unsigned i = 0; i < h->n_maps; i++)
			if (!mapping_in_use(h, h->maps[i].md) &&
			    (old == MAX_MAPPINGS || h->maps[i].last_use < h->maps[old].last_use))
				old = i;
		if (old == MAX_MAPPINGS)
			return udk_error_set(-EBUSY, "every DMA mapping of the HBA is in use");
		udk_dma_command_free(h->maps[old].cmd);
		udk_memory_descriptor_unref(h->maps[old].md);
		h->maps[old] = h->maps[--h->n_maps];
	}
	m = &h->maps[h->n_maps];
	r = udk_dma_command_create(h->pci, &spec, &m->cmd);
	if (r < 0)
		return r;
	r = udk_dma_command_prepare(m->cmd, md, 0, 0, &n, &seg);
	if (r < 0) {
		udk_dma_command_free(m->cmd);
		return r;
	}
	m->md = udk_memory_descriptor_ref(md);
	m->iova = seg.address;
	m->last_use = ++h->use_clock;
	h->n_maps++;
	*ret = seg.address;
	return 0;
}

static void
memory_released(struct udk_scsi_controller *c, struct udk_memory_descriptor *md)
{
	struct simhba *h = udk_scsi_controller_get_context(c);

	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->n_maps; i++)
		if (h->maps[i].md == md && !mapping_in_use(h, md)) {
			udk_dma_command_free(h->maps[i].cmd);
			udk_memory_descriptor_unref(h->maps[i].md);
			h->maps[i] = h->maps[--h->n_maps];
			break;
		}
	pthread_mutex_unlock(&h->lock);
}

static int
process_task(struct udk_scsi_controller *c, struct udk_scsi_task *t)
{
	struct simhba *h = udk_scsi_controller_get_context(c);
	struct udk_memory_descriptor *md;
	struct shba_sqe *q;
	uint64_t off = 0, iova = 0;
	size_t cdb_len;
	const uint8_t *cdb = udk_scsi_task_get_cdb(t, &cdb_len);
	uint64_t len = udk_scsi_task_get_requested_count(t);
	unsigned cid;
	uint32_t tail;
	int r;

	if (len > UINT32_MAX)
		return udk_error_set(-E2BIG, "the simulated HBA moves at most 4 GiB per command");
	pthread_mutex_lock(&h->lock);
	for (cid = 0; cid < SHBA_QDEPTH && h->slots[cid].busy; cid++)
		;
	if (cid == SHBA_QDEPTH) {
		pthread_mutex_unlock(&h->lock);
		return udk_error_set(-EBUSY, "all 64 command slots of the HBA are taken (detached by aborts)");
	}
	md = udk_scsi_task_get_memory(t, &off);
	if (len && md) {
		r = iova_of(h, md, &iova);
		if (r < 0) {
			pthread_mutex_unlock(&h->lock);
			return r;
		}
		iova += off;
	}
	h->slots[cid].task = t;
	h->slots[cid].busy = true;
	udk_scsi_task_set_hba_data(t, &h->slots[cid]);
	tail = h->sq_tail++;
	q = &h->sh->sq[tail % SHBA_QDEPTH];
	memset(q, 0, sizeof(*q));
	q->cid = (uint16_t)cid;
	q->target = (uint16_t)udk_scsi_task_get_target(t);
	q->lun = (uint32_t)udk_scsi_task_get_lun(t);
	memcpy(q->cdb, cdb, cdb_len);
	q->cdb_len = (uint8_t)cdb_len;
	q->dir = (uint8_t)udk_scsi_task_get_direction(t);
	q->length = (uint32_t)len;
	q->iova = iova;
	/* the doorbell is a posted write: it reaches the HBA after the entry above, in order */
	r = udk_pci_memory_write32(h->pci, 0, SHBA_REG_SQ_TAIL, h->sq_tail);
	pthread_mutex_unlock(&h->lock);
	return r < 0 ? r : 0;
}

static void
completions(struct udk_interrupt_source *src, uint64_t count, uint64_t time_ns, void *ctx)
{
	struct simhba *h = ctx;

	(void)src;
	(void)count;
	(void)time_ns;
	for (;;) {
		/* acquire: partner of the HBA's release store of cq_tail */
		uint32_t tail = atomic_load_explicit((_Atomic uint32_t *)&h->sh->cq_tail, memory_order_acquire);
		if (tail == h->cq_head)
			break;
		while (h->cq_head != tail) {
			struct shba_cqe e = h->sh->cq[h->cq_head % SHBA_QDEPTH];
			struct udk_scsi_task *t = NULL;
			h->cq_head++;
			if (e.cid >= SHBA_QDEPTH)
				continue;
			pthread_mutex_lock(&h->lock);
			if (h->slots[e.cid].busy) {
				t = h->slots[e.cid].task;
				h->slots[e.cid].task = NULL;
				h->slots[e.cid].busy = false;
				h->slots[e.cid].gen++;
				pthread_cond_broadcast(&h->freed);
			}
			pthread_mutex_unlock(&h->lock);
			if (!t)
				continue; /* aborted or reset: the family completed it */
			if (e.flags & SHBA_CQE_NO_TARGET)
				udk_scsi_task_fail(t, -UDK_E_NO_SUCH_SERVICE, "no target answers at id %llu (selection timeout)",
						   (unsigned long long)udk_scsi_task_get_target(t));
			else if (e.flags & SHBA_CQE_DMA_FAULT)
				udk_scsi_task_fail(t, -UDK_E_IOMMU_FAULT, "the HBA could not reach the task's memory");
			else if (e.flags & (SHBA_CQE_ABORTED | SHBA_CQE_RESET))
				udk_scsi_task_fail(t, -ECANCELED, "the HBA dropped the command (%s)",
						   (e.flags & SHBA_CQE_RESET) ? "reset" : "aborted");
			else
				udk_scsi_task_complete(t, UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE, e.status, e.sense,
						       e.sense_len, e.realized);
		}
		/* release: the entries are consumed; partner: the HBA's acquire of cq_head */
		atomic_store_explicit((_Atomic uint32_t *)&h->sh->cq_head, h->cq_head, memory_order_release);
	}
}

static int
abort_task(struct udk_scsi_controller *c, struct udk_scsi_task *t)
{
	struct simhba *h = udk_scsi_controller_get_context(c);
	struct slot *s = udk_scsi_task_get_hba_data(t);
	uint64_t gen;
	unsigned cid;
	struct timespec ts;
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (!s || s < h->slots || s >= h->slots + SHBA_QDEPTH || s->task != t) {
		pthread_mutex_unlock(&h->lock);
		return 0; /* already completed */
	}
	cid = (unsigned)(s - h->slots);
	gen = s->gen;
	/* detached: its completion (ABORTED) only frees the slot; the family completes the task */
	s->task = NULL;
	udk_pci_memory_write32(h->pci, 0, SHBA_REG_ABORT, cid);
	/* the HBA answers an abort with the command's completion; wait for it */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	while (s->gen == gen && r == 0)
		r = pthread_cond_timedwait(&h->freed, &h->lock, &ts);
	if (s->gen == gen) {
		/* the command still holds the slot (and may still touch the memory): a reset must end it */
		pthread_mutex_unlock(&h->lock);
		return udk_error_set(-ETIMEDOUT, "the HBA did not confirm the abort of command %u within 1 s", cid);
	}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int
reset(struct udk_scsi_controller *c, enum udk_scsi_reset_kind kind, uint64_t target, uint64_t lun)
{
	struct simhba *h = udk_scsi_controller_get_context(c);
	int r;

	(void)lun;
	pthread_mutex_lock(&h->lock);
	/* the family completes every task of the scope: detach them */
	for (unsigned i = 0; i < SHBA_QDEPTH; i++)
		if (h->slots[i].busy && h->slots[i].task &&
		    (kind == UDK_SCSI_RESET_BUS || udk_scsi_task_get_target(h->slots[i].task) == target))
			h->slots[i].task = NULL;
	if (kind == UDK_SCSI_RESET_BUS)
		r = udk_pci_memory_write32(h->pci, 0, SHBA_REG_CONTROL, SHBA_CONTROL_ENABLE | SHBA_CONTROL_RESET);
	else
		r = udk_pci_memory_write32(h->pci, 0, SHBA_REG_TRESET, (uint32_t)target); /* LUN reset: the target's */
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int
start_hba(struct udk_scsi_controller *c)
{
	struct simhba *h = udk_scsi_controller_get_context(c);

	return udk_pci_memory_write32(h->pci, 0, SHBA_REG_CONTROL, SHBA_CONTROL_ENABLE);
}

static void
stop_hba(struct udk_scsi_controller *c)
{
	struct simhba *h = udk_scsi_controller_get_context(c);

	udk_pci_memory_write32(h->pci, 0, SHBA_REG_CONTROL, 0);
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < SHBA_QDEPTH; i++)
		h->slots[i].task = NULL;
	pthread_mutex_unlock(&h->lock);
}

static int
simhba_start(struct udk_service *self, struct udk_service *provider)
{
	static const struct udk_scsi_controller_ops ops = {
		UDK_SCSI_CONTROLLER_OPS_INIT,
		.start = start_hba,
		.stop = stop_hba,
		.process_task = process_task,
		.abort_task = abort_task,
		.reset = reset,
		.memory_released = memory_released,
	};
	struct simhba *h = udk_service_get_ivars(self);
	struct udk_scsi_controller_config cfg = { UDK_SCSI_CONTROLLER_CONFIG_INIT };
	uint32_t id = 0;
	void *bar2 = NULL;
	int r;

	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->freed, NULL);
	r = udk_pci_open(provider, &h->pci);
	if (r < 0)
		return r;
	udk_pci_memory_read32(h->pci, 0, SHBA_REG_ID, &id);
	if (id != SHBA_ID)
		return udk_error_set(-ENODEV, "BAR0 does not look like the simulated HBA (ID 0x%08x)", id);
	udk_pci_memory_read32(h->pci, 0, SHBA_REG_TARGETS, &h->targets);
	udk_pci_memory_read32(h->pci, 0, SHBA_REG_LUNS, &h->luns);
	r = udk_pci_map_bar(h->pci, 2, &bar2, NULL);
	if (r < 0)
		return r;
	h->sh = bar2;
	if ((r = udk_queue_create("simhba-irq", &h->irq_q)) < 0 ||
	    (r = udk_interrupt_source_create(h->pci, 0, h->irq_q, completions, h, &h->irq)) < 0)
		return r;
	cfg.max_target = h->targets ? h->targets - 1 : 0;
	cfg.initiator_id = -1;
	cfg.max_luns = h->luns;
	cfg.max_tasks = 32;
	cfg.description = "udk simulated HBA";
	r = udk_scsi_controller_create(self, &cfg, &ops, h, &h->ctl);
	if (r < 0)
		return r;
	return udk_service_register(self);
}

static int
simhba_stop(struct udk_service *self, struct udk_service *provider)
{
	struct simhba *h = udk_service_get_ivars(self);

	(void)provider;
	udk_scsi_controller_destroy(h->ctl);
	udk_interrupt_source_destroy(h->irq);
	for (unsigned i = 0; i < h->n_maps; i++) {
		udk_dma_command_free(h->maps[i].cmd);
		udk_memory_descriptor_unref(h->maps[i].md);
	}
	udk_pci_close(h->pci);
	udk_queue_unref(h->irq_q);
	return 0;
}

static const struct udk_class simhba_class = {
	UDK_CLASS_INIT,
	.name = "SimHBA",
	.ivars_size = sizeof(struct simhba),
	.start = simhba_start,
	.stop = simhba_stop,
	.new_user_client = udk_scsi_controller_new_user_client,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &simhba_class, &udk_scsi_task_user_client_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
