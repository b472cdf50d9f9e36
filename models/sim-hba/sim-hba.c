/* SPDX-License-Identifier: MIT */
/*
 * sim-hba - a simulated SCSI host bus adapter with simulated disks (see
 * drivers/simhba/simhba-regs.h for its programming model and
 * families/scsi/sim/target.c for the disks' command set).
 *
 * Properties (machine description):
 *   Disks        targets, one disk each (1..16, default 1)
 *   LUNs         LUNs per target (1..8, default 1)
 *   BlockSize    512 or 4096 (default 512)
 *   Blocks       per disk (default 131072: 64 MiB of 512-byte blocks)
 *   Backing      "ram" (default: sparse anonymous memory) or a file path:
 *                disk N of the device lives in PATH.N, a sparse file
 *   Serial       serial number prefix (default the device's name)
 *   HangOpcodes  <array> of opcodes the disks never complete (tests of
 *                deadlines: an abort or a reset ends them)
 *   AbortFails   <true/>: ABORT is ignored, only a reset frees a command
 *
 * Commands run on the model's main thread in the order they arrive; data
 * moves through the simulated IOMMU (udk_dm_dma_get), so a driver that
 * names memory it did not prepare gets an IOMMU fault, not data.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <udk/families/pci-devmodel.h>

#include "simhba-regs.h"
#include "target.h"

#define MAX_DISKS 16
#define MAX_LUNS 8

struct hung {
	uint16_t cid;
	uint16_t target;
};

struct hba {
	struct udk_dm_function *fn;
	struct udk_dm *dm;
	struct shba_shared *sh;
	unsigned n_targets, n_luns;
	struct scsi_sim_disk disks[MAX_DISKS][MAX_LUNS];
	struct scsi_sim_disk *disk_ptrs[MAX_DISKS][MAX_LUNS];
	uint64_t luns[MAX_LUNS];
	bool enabled;
	uint32_t sq_tail;
	uint8_t hang_ops[32];
	unsigned n_hang_ops;
	bool abort_fails;
	struct hung hung[SHBA_QDEPTH];
	unsigned n_hung;
	uint64_t commands, faults;
};

static void
post(struct hba *h, uint16_t cid, uint8_t status, const uint8_t *sense, size_t sense_len, uint64_t realized,
     uint32_t flags)
{
	uint32_t tail = atomic_load_explicit((_Atomic uint32_t *)&h->sh->cq_tail, memory_order_relaxed);
	struct shba_cqe *e = &h->sh->cq[tail % SHBA_QDEPTH];

	/* at most QDEPTH commands exist, so the ring has room */
	memset(e, 0, offsetof(struct shba_cqe, sense));
	e->cid = cid;
	e->status = status;
	e->flags = flags;
	e->realized = realized;
	e->sense_len = (uint8_t)(sense_len > sizeof(e->sense) ? sizeof(e->sense) : sense_len);
	if (e->sense_len)
		memcpy(e->sense, sense, e->sense_len);
	/* release: the entry before the index; partner: the driver's acquire load of cq_tail */
	atomic_store_explicit((_Atomic uint32_t *)&h->sh->cq_tail, tail + 1, memory_order_release);
}

static bool
hangs(struct hba *h, uint8_t op)
{
	for (unsigned i = 0; i < h->n_hang_ops; i++)
		if (h->hang_ops[i] == op)
			return true;
	return false;
}

static void
execute(struct hba *h, const struct shba_sqe *q)
{
	struct scsi_sim_result res;
	void *p = NULL;
	uint8_t cdb[16];
	size_t cdb_len = q->cdb_len > 16 ? 16 : q->cdb_len;

	memcpy(cdb, q->cdb, sizeof(cdb));
	h->commands++;
	if (q->target >= h->n_targets) {
		post(h, q->cid, 0, NULL, 0, 0, SHBA_CQE_NO_TARGET);
		return;
	}
	if (cdb_len && hangs(h, cdb[0]) && h->n_hung < SHBA_QDEPTH) {
		h->hung[h->n_hung++] = (struct hung){ q->cid, q->target };
		return;
	}
	if (q->length && udk_dm_dma_get(h->fn, q->iova, q->length, q->dir == SHBA_DIR_FROM_TARGET, &p) < 0) {
		h->faults++;
		post(h, q->cid, 0, NULL, 0, 0, SHBA_CQE_DMA_FAULT);
		return;
	}
	scsi_sim_execute(h->disk_ptrs[q->target], h->luns, h->n_luns, q->lun, cdb, cdb_len, p, q->length, q->dir, &res);
	if (p)
		udk_dm_dma_put(h->fn, p);
	post(h, q->cid, res.status, res.sense, res.sense_len, res.realized, 0);
}

static void
drop_hung(struct hba *h, int target, uint32_t flag)
{
	for (unsigned i = 0; i < h->n_hung;) {
		if (target < 0 || h->hung[i].target == (uint16_t)target) {
			post(h, h->hung[i].cid, 0, NULL, 0, 0, flag);
			h->hung[i] = h->hung[--h->n_hung];
		} else {
			i++;
		}
	}
}

static uint64_t
mmio_read(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width)
{
	struct hba *h = udk_dm_function_get_userdata(fn);

	(void)bar;
	(void)width;
	switch (off) {
	case SHBA_REG_ID:
		return SHBA_ID;
	case SHBA_REG_TARGETS:
		return h->n_targets;
	case SHBA_REG_QDEPTH:
		return SHBA_QDEPTH;
	case SHBA_REG_LUNS:
		return h->n_luns;
	case SHBA_REG_CONTROL:
		return h->enabled ? SHBA_CONTROL_ENABLE : 0;
	default:
		return 0;
	}
}

static void
mmio_write(struct udk_dm_function *fn, int bar, uint64_t off, unsigned width, uint64_t v)
{
	struct hba *h = udk_dm_function_get_userdata(fn);
	bool raise = false;

	(void)bar;
	(void)width;
	switch (off) {
	case SHBA_REG_CONTROL:
		if (v & SHBA_CONTROL_RESET) {
			drop_hung(h, -1, SHBA_CQE_RESET);
			for (unsigned t = 0; t < h->n_targets; t++)
				for (unsigned l = 0; l < h->n_luns; l++)
					scsi_sim_disk_reset(&h->disks[t][l], 0x02); /* SCSI bus reset occurred */
			udk_dm_log(h->dm, UDK_LOG_NOTICE, "bus reset");
			raise = true;
		}
		h->enabled = v & SHBA_CONTROL_ENABLE;
		break;
	case SHBA_REG_SQ_TAIL: {
		uint32_t tail = (uint32_t)v;
		if (!h->enabled)
			break;
		/* at most QDEPTH new entries; anything else is a driver bug, ignored */
		if (tail - h->sq_tail > SHBA_QDEPTH)
			break;
		while (h->sq_tail != tail) {
			struct shba_sqe q = h->sh->sq[h->sq_tail % SHBA_QDEPTH];
			h->sq_tail++;
			atomic_store_explicit((_Atomic uint32_t *)&h->sh->sq_head, h->sq_tail, memory_order_release);
			execute(h, &q);
			raise = true;
		}
		break;
	}
	case SHBA_REG_ABORT:
		if (h->abort_fails)
			break;
		for (unsigned i = 0; i < h->n_hung; i++)
			if (h->hung[i].cid == (uint16_t)v) {
				post(h, h->hung[i].cid, 0, NULL, 0, 0, SHBA_CQE_ABORTED);
				h->hung[i] = h->hung[--h->n_hung];
				raise = true;
				break;
			}
		break;
	case SHBA_REG_TRESET:
		if (v < h->n_targets) {
			drop_hung(h, (int)v, SHBA_CQE_RESET);
			for (unsigned l = 0; l < h->n_luns; l++)
				scsi_sim_disk_reset(&h->disks[v][l], 0x03); /* bus device reset function occurred */
			udk_dm_log(h->dm, UDK_LOG_NOTICE, "target %u reset", (unsigned)v);
			raise = true;
		}
		break;
	default:
		break;
	}
	if (raise)
		udk_dm_raise_msi(fn, 0);
}

static void
reset(struct udk_dm_function *fn, const char *why)
{
	struct hba *h = udk_dm_function_get_userdata(fn);

	h->enabled = false;
	h->n_hung = 0;
	h->sq_tail = 0;
	memset(h->sh, 0, sizeof(*h->sh));
	for (unsigned t = 0; t < h->n_targets; t++)
		for (unsigned l = 0; l < h->n_luns; l++)
			scsi_sim_disk_reset(&h->disks[t][l], 0x00);
	udk_dm_log(h->dm, UDK_LOG_INFO, "HBA reset: %s", why);
}

static int
prop_int(const struct udk_value *props, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *ret)
{
	int64_t v = udk_dict_get_int(props, key, def);

	if (v < lo || v > hi) {
		fprintf(stderr, "sim-hba: %s must be %lld..%lld, not %lld\n", key, (long long)lo, (long long)hi,
			(long long)v);
		return -1;
	}
	*ret = v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct udk_dm_ops ops = {
		UDK_DM_OPS_INIT,
		.mmio_read = mmio_read,
		.mmio_write = mmio_write,
		.reset = reset,
	};
	struct udk_dm_pci_config cfg = {
		.vendor_id = SHBA_VENDOR,
		.device_id = SHBA_DEVICE,
		.subsystem_vendor_id = SHBA_VENDOR,
		.subsystem_id = 0x0001,
		.class_code = 0x010000, /* mass storage, SCSI */
		.revision = 1,
		.bars = {
			[0] = { 4096, 0 },
			[2] = { SHBA_BAR2_SIZE, UDK_DM_BAR_MAPPABLE },
		},
		.msix_vectors = 1,
		.power_management = true,
	};
	static struct hba h;
	const struct udk_value *props;
	const char *backing, *serial;
	struct udk_value *hang;
	int64_t disks, luns, bs, blocks;
	struct udk_dm *dm;

	if (udk_dm_new(argc, argv, &dm) < 0)
		return 2;
	props = udk_dm_get_properties(dm);
	if (prop_int(props, "Disks", 1, 1, MAX_DISKS, &disks) < 0 || prop_int(props, "LUNs", 1, 1, MAX_LUNS, &luns) < 0 ||
	    prop_int(props, "BlockSize", 512, 512, 4096, &bs) < 0 ||
	    prop_int(props, "Blocks", 131072, 8, (int64_t)1 << 40, &blocks) < 0)
		return 1;
	if (bs != 512 && bs != 4096) {
		fprintf(stderr, "sim-hba: BlockSize must be 512 or 4096\n");
		return 1;
	}
	backing = udk_dict_get_string(props, "Backing");
	serial = udk_dict_get_string(props, "Serial");
	if (!serial)
		serial = udk_dm_get_name(dm);
	hang = udk_dict_get(props, "HangOpcodes");
	for (size_t i = 0; i < udk_array_size(hang) && h.n_hang_ops < sizeof(h.hang_ops); i++)
		h.hang_ops[h.n_hang_ops++] = (uint8_t)udk_value_get_int(udk_array_get(hang, i), 0);
	h.abort_fails = udk_dict_get_bool(props, "AbortFails", false);
	h.dm = dm;
	h.n_targets = (unsigned)disks;
	h.n_luns = (unsigned)luns;
	for (unsigned l = 0; l < h.n_luns; l++)
		h.luns[l] = l;
	for (unsigned t = 0; t < h.n_targets; t++)
		for (unsigned l = 0; l < h.n_luns; l++) {
			uint64_t size = (uint64_t)bs * (uint64_t)blocks;
			uint8_t *ram = NULL;
			int fd = -1;
			char sn[40];
			if (!backing || !strcmp(backing, "ram")) {
				ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
					   -1, 0);
				if (ram == MAP_FAILED) {
					fprintf(stderr, "sim-hba: cannot reserve %llu bytes of RAM for a disk\n",
						(unsigned long long)size);
					return 1;
				}
			} else {
				char path[4096];
				snprintf(path, sizeof(path), "%s.%u", backing, t * MAX_LUNS + l);
				fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
				if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
					fprintf(stderr, "sim-hba: cannot use %s as a disk: %m\n", path);
					return 1;
				}
			}
			if (h.n_targets == 1 && h.n_luns == 1)
				snprintf(sn, sizeof(sn), "%.32s", serial);
			else
				snprintf(sn, sizeof(sn), "%.24s-%u-%u", serial, t, l);
			{
				/* a designator that follows the serial number, so it survives restarts */
				uint64_t naa = 1469598103934665603ull;
				for (const char *c = sn; *c; c++)
					naa = (naa ^ (uint8_t)*c) * 1099511628211ull;
				scsi_sim_disk_init(&h.disks[t][l], (uint32_t)bs, (uint64_t)blocks, ram, fd, sn, naa);
			}
			h.disk_ptrs[t][l] = &h.disks[t][l];
		}
	if (udk_dm_add_pci_function(dm, &cfg, &ops, &h, &h.fn) < 0) {
		fprintf(stderr, "sim-hba: %s\n", udk_error_reason() ? udk_error_reason() : "cannot add the function");
		return 1;
	}
	h.sh = udk_dm_bar_address(h.fn, 2);
	return udk_dm_run(dm);
}
