/* SPDX-License-Identifier: MIT */
/*
 * edu - a udk PCI driver for QEMU's educational "edu" device (1234:11e8).
 *
 * One binary drives both the simulated edu (models/edu, backend "sim") in
 * CI and the real one in a QEMU guest through VFIO (tests/guest/): it
 * never asks which.  It reads the ID register, checks liveness, computes
 * factorials on the device, takes its MSI on a dispatch queue, and DMAs
 * an app's buffer to the device and back through udk_dma_command.
 *
 * Every wait for the device has a deadline: a device that does not answer
 * gives UDK_E_DEADLINE with what was waited for, never a hang.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <udk/driver.h>
#include <udk/families/pci.h>
#include <udk/userclient.h>

#include "edu-regs.h"
#include "edu.h"

#define WAIT_MS 5000	/* QEMU's DMA takes 100 ms; a slow emulated guest many times that */

struct edu {
	struct udk_pci_device *pci;
	struct udk_queue *irq_q;
	struct udk_interrupt_source *irq;
	uint32_t id;

	pthread_mutex_t lock;		/* below */
	pthread_cond_t cond;
	uint32_t pending;		/* interrupt values seen and not yet consumed */
	uint64_t irq_ns;		/* when the handler last ran */
	uint64_t irqs;			/* handler runs */

	pthread_mutex_t op_lock;	/* one device operation at a time */
	struct udk_memory_descriptor *inflight_md;	/* EDU_START_DMA's target */
	struct udk_dma_command *inflight_cmd;
};

static struct edu *edu;

static uint32_t
reg(struct edu *e, uint32_t off)
{
	uint32_t v = 0;

	if (udk_pci_memory_read32(e->pci, 0, off, &v) < 0)
		return ~0u;
	return v;
}

static int
wreg(struct edu *e, uint32_t off, uint32_t v)
{
	return udk_pci_memory_write32(e->pci, 0, off, v);
}

/* MSI 0, on the interrupt queue: note what raised it, acknowledge it. */
static void
on_irq(struct udk_interrupt_source *src, uint64_t count, uint64_t time_ns, void *ctx)
{
	struct edu *e = ctx;
	uint64_t now = udk_time_now_ns();
	uint32_t status = reg(e, EDU_IRQ_STATUS);

	(void)src;
	(void)count;
	(void)time_ns;
	if (status == ~0u)
		return; /* the device is gone */
	/* the device keeps interrupting until the status is acknowledged */
	if (status)
		wreg(e, EDU_IRQ_ACK, status);
	pthread_mutex_lock(&e->lock);
	e->pending |= status;
	e->irq_ns = now;
	e->irqs++;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void
clear_pending(struct edu *e, uint32_t value)
{
	pthread_mutex_lock(&e->lock);
	e->pending &= ~value;
	pthread_mutex_unlock(&e->lock);
}

/* Wait for interrupt value @value; its handler's time in *ret_ns. */
static int
wait_irq(struct edu *e, uint32_t value, const char *what, uint64_t *ret_ns)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&e->lock);
	while (!(e->pending & value) && r == 0)
		r = pthread_cond_timedwait(&e->cond, &e->lock, &ts);
	if (e->pending & value) {
		e->pending &= ~value;
		if (ret_ns)
			*ret_ns = e->irq_ns;
		r = 0;
	}
	pthread_mutex_unlock(&e->lock);
	if (r)
		return udk_error_set(-UDK_E_DEADLINE, "edu: no interrupt 0x%x for %s within %d ms", value, what,
				     WAIT_MS);
	return 0;
}

/* A DMA the previous driver left running ends on its own: wait for it. */
static void
wait_dma_idle(struct edu *e)
{
	for (int i = 0; i < 200 && (reg(e, EDU_DMA_CMD) & EDU_DMA_START); i++) {
		struct timespec d = { 0, 10 * 1000 * 1000 };
		nanosleep(&d, NULL);
	}
}

static int
edu_start(struct udk_service *self, struct udk_service *provider)
{
	struct edu *e = udk_service_get_ivars(self);
	uint16_t cmd = 0;
	uint32_t live;
	int r;

	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	pthread_mutex_init(&e->op_lock, NULL);
	if ((r = udk_pci_open(provider, &e->pci)) < 0)
		return r;
	/* a backend that cannot reach the registers says why (sysfs: bind the device to vfio-pci) */
	if ((r = udk_pci_memory_read32(e->pci, 0, EDU_ID, &e->id)) < 0)
		return r;
	if ((e->id & EDU_ID_MASK) != EDU_ID_MAGIC)
		return udk_error_set(-ENODEV, "BAR0 does not look like an edu device (ID register 0x%08x)", e->id);
	wreg(e, EDU_LIVENESS, 0x5a5aa5a5u);
	live = reg(e, EDU_LIVENESS);
	if (live != ~0x5a5aa5a5u)
		return udk_error_set(-ENODEV, "edu liveness check failed: wrote 0x5a5aa5a5, read 0x%08x", live);
	/* memory decoding and bus mastering: without the latter the device cannot DMA */
	if ((r = udk_pci_config_read16(e->pci, UDK_PCI_COMMAND, &cmd)) < 0 ||
	    (r = udk_pci_config_write16(e->pci, UDK_PCI_COMMAND, cmd | 0x0006)) < 0)
		return r;
	wait_dma_idle(e);
	wreg(e, EDU_IRQ_ACK, reg(e, EDU_IRQ_STATUS));
	if ((r = udk_queue_create("edu-irq", &e->irq_q)) < 0 ||
	    (r = udk_interrupt_source_create(e->pci, 0, e->irq_q, on_irq, e, &e->irq)) < 0)
		return r;
	edu = e;
	udk_log_info("edu %u.%u on the %s backend: ready", e->id >> 24, (e->id >> 16) & 0xff,
		     udk_pci_get_backend(e->pci));
	return udk_service_register(self);
}

static int
edu_stop(struct udk_service *self, struct udk_service *provider)
{
	struct edu *e = udk_service_get_ivars(self);

	(void)provider;
	wait_dma_idle(e);
	udk_interrupt_source_destroy(e->irq);
	udk_dma_command_free(e->inflight_cmd);
	udk_memory_descriptor_unref(e->inflight_md);
	udk_pci_close(e->pci);
	udk_queue_unref(e->irq_q);
	return 0;
}

/* ---- the user client ---- */

static int
get_info(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct edu_info *info = a->struct_output;
	uint8_t bus = 0, dev = 0, fn = 0;
	uint32_t live;

	(void)uc;
	(void)ref;
	pthread_mutex_lock(&edu->op_lock);
	wreg(edu, EDU_LIVENESS, 0x12345678u);
	live = reg(edu, EDU_LIVENESS);
	pthread_mutex_unlock(&edu->op_lock);
	a->scalar_output[0] = reg(edu, EDU_ID);
	a->scalar_output[1] = live == ~0x12345678u;
	a->scalar_output[2] = (uint64_t)getpid();
	a->scalar_output[3] = udk_pci_get_iommu_faults(edu->pci);
	pthread_mutex_lock(&edu->lock);
	a->scalar_output[4] = edu->irqs;
	pthread_mutex_unlock(&edu->lock);
	memset(info, 0, sizeof(*info));
	snprintf(info->backend, sizeof(info->backend), "%s", udk_pci_get_backend(edu->pci));
	udk_pci_get_location(edu->pci, &bus, &dev, &fn);
	snprintf(info->location, sizeof(info->location), "%02x:%02x.%x", bus, dev, fn);
	a->struct_output_size = sizeof(*info);
	return 0;
}

static int
factorial(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint32_t n = (uint32_t)a->scalar_input[0];
	int r;

	(void)uc;
	(void)ref;
	if (a->scalar_input[0] > 0xffffffffu)
		return udk_error_set(-EINVAL, "the device computes factorials of 32-bit numbers");
	pthread_mutex_lock(&edu->op_lock);
	clear_pending(edu, EDU_IRQ_FACT);
	wreg(edu, EDU_STATUS, EDU_STATUS_IRQ_FACT);
	wreg(edu, EDU_FACTORIAL, n);
	r = wait_irq(edu, EDU_IRQ_FACT, "the factorial", NULL);
	if (r >= 0) {
		if (reg(edu, EDU_STATUS) & EDU_STATUS_COMPUTING)
			r = udk_error_set(-EIO, "edu interrupted before the factorial was done");
		else
			a->scalar_output[0] = reg(edu, EDU_FACTORIAL);
	}
	wreg(edu, EDU_STATUS, 0);
	pthread_mutex_unlock(&edu->op_lock);
	return r;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

#define IRQ_PROBE 0x10000u	/* an interrupt value of our own: neither factorial nor DMA */

static int
irq_latency(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint64_t n = a->scalar_input[0], *lat;
	int r = 0;

	(void)uc;
	(void)ref;
	if (n < 1 || n > 100000)
		return udk_error_set(-EINVAL, "1..100000 interrupts, not %llu", (unsigned long long)n);
	lat = calloc(n, sizeof(*lat));
	if (!lat)
		return -ENOMEM;
	pthread_mutex_lock(&edu->op_lock);
	for (uint64_t i = 0; i < n && r >= 0; i++) {
		uint64_t t0, t1 = 0;
		clear_pending(edu, IRQ_PROBE);
		t0 = udk_time_now_ns();
		wreg(edu, EDU_IRQ_RAISE, IRQ_PROBE);
		r = wait_irq(edu, IRQ_PROBE, "the latency probe", &t1);
		lat[i] = t1 > t0 ? t1 - t0 : 0;
	}
	pthread_mutex_unlock(&edu->op_lock);
	if (r >= 0) {
		qsort(lat, n, sizeof(*lat), cmp_u64);
		a->scalar_output[0] = lat[n / 2];
		a->scalar_output[1] = lat[(n - 1) * 99 / 100];
		a->scalar_output[2] = lat[0];
	}
	free(lat);
	return r;
}

/* One transfer between memory at @iova and the device buffer; waits for its interrupt. */
static int
transfer(struct edu *e, uint64_t iova, uint64_t len, bool to_ram)
{
	int r;

	clear_pending(e, EDU_IRQ_DMA);
	/* IOVAs fit 32 bits (the DMA spec says so): 32-bit register writes suffice */
	if ((r = wreg(e, EDU_DMA_SRC, to_ram ? EDU_BUFFER : (uint32_t)iova)) < 0 ||
	    (r = wreg(e, EDU_DMA_DST, to_ram ? (uint32_t)iova : EDU_BUFFER)) < 0 ||
	    (r = wreg(e, EDU_DMA_COUNT, (uint32_t)len)) < 0 ||
	    (r = wreg(e, EDU_DMA_CMD, EDU_DMA_START | EDU_DMA_IRQ | (to_ram ? EDU_DMA_TO_RAM : 0))) < 0)
		return r;
	return wait_irq(e, EDU_IRQ_DMA, to_ram ? "the DMA to memory" : "the DMA to the device", NULL);
}

/* The device's limits: 32-bit addresses (QEMU is started with dma_mask=0xffffffff). */
static const struct udk_dma_spec edu_dma_spec = { .max_address_bits = 32 };

static int
prepare(struct udk_memory_descriptor *md, uint64_t len, struct udk_dma_command **ret_cmd, uint64_t *ret_iova)
{
	struct udk_address_segment seg;
	uint32_t n = 1;
	int r = udk_dma_command_create(edu->pci, &edu_dma_spec, ret_cmd);

	if (r >= 0)
		r = udk_dma_command_prepare(*ret_cmd, md, 0, len, &n, &seg);
	if (r >= 0)
		*ret_iova = seg.address;
	return r;
}

static int
dma(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct edu_dma *d = a->struct_input;
	struct udk_address_segment s_src = { d->src, d->len }, s_dst = { d->dst, d->len };
	struct udk_memory_descriptor *src = NULL, *dst = NULL;
	struct udk_dma_command *c_src = NULL, *c_dst = NULL;
	uint64_t i_src = 0, i_dst = 0, t0, diff = 0;
	uint8_t *want = NULL, *got = NULL;
	int r;

	(void)ref;
	if (d->len < 1 || d->len > EDU_MAX_TRANSFER)
		return udk_error_set(-EINVAL, "edu transfers 1..%u bytes, not %llu", EDU_MAX_TRANSFER,
				     (unsigned long long)d->len);
	if ((r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_OUT, 1, &s_src, &src)) < 0 ||
	    (r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_IN, 1, &s_dst, &dst)) < 0)
		goto out;
	pthread_mutex_lock(&edu->op_lock);
	t0 = udk_time_now_ns();
	if ((r = prepare(src, d->len, &c_src, &i_src)) >= 0 && (r = prepare(dst, d->len, &c_dst, &i_dst)) >= 0 &&
	    (r = transfer(edu, i_src, d->len, false)) >= 0 && (r = transfer(edu, i_dst, d->len, true)) >= 0) {
		udk_dma_command_complete(c_src);
		udk_dma_command_complete(c_dst);
		a->scalar_output[0] = udk_time_now_ns() - t0;
	}
	pthread_mutex_unlock(&edu->op_lock);
	if (r < 0)
		goto out;
	/* every byte, as the device wrote it */
	want = malloc(d->len);
	got = malloc(d->len);
	if (!want || !got) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = udk_memory_descriptor_read(src, 0, want, d->len)) < 0 ||
	    (r = udk_memory_descriptor_read(dst, 0, got, d->len)) < 0)
		goto out;
	for (uint64_t i = 0; i < d->len; i++)
		diff += want[i] != got[i];
	a->scalar_output[1] = diff;
out:
	free(want);
	free(got);
	udk_dma_command_free(c_src);
	udk_dma_command_free(c_dst);
	udk_memory_descriptor_unref(src);
	udk_memory_descriptor_unref(dst);
	return r;
}

/*
 * The device writes @len bytes to an IOVA that was prepared and then
 * completed: the IOMMU must block it.  The memory that was behind the
 * IOVA is checked byte by byte afterwards.
 */
static int
iommu_probe(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint64_t len = a->scalar_input[0], iova = 0, fill_iova = 0, faults;
	struct udk_memory_descriptor *md = NULL, *fill = NULL;
	struct udk_dma_command *cmd = NULL, *fill_cmd = NULL;
	uint8_t *back = NULL;
	bool untouched = true;
	int r;

	(void)uc;
	(void)ref;
	if (len < 1 || len > EDU_MAX_TRANSFER)
		return udk_error_set(-EINVAL, "1..%u bytes, not %llu", EDU_MAX_TRANSFER, (unsigned long long)len);
	back = malloc(len);
	if (!back)
		return -ENOMEM;
	if ((r = udk_memory_descriptor_create(EDU_BUFFER_SIZE, UDK_MEMORY_DIRECTION_IN, &md)) < 0 ||
	    (r = udk_memory_descriptor_create(EDU_BUFFER_SIZE, UDK_MEMORY_DIRECTION_INOUT, &fill)) < 0)
		goto out;
	pthread_mutex_lock(&edu->op_lock);
	faults = udk_pci_get_iommu_faults(edu->pci);
	/* the device buffer gets 0xc3 bytes, so a write that got through would show */
	if ((r = prepare(fill, len, &fill_cmd, &fill_iova)) >= 0) {
		memset(back, 0xc3, len);
		udk_dma_command_write(fill_cmd, 0, back, len);
		r = transfer(edu, fill_iova, len, false);
		udk_dma_command_complete(fill_cmd);
	}
	/* our memory gets 0x5a bytes; the device may reach it, then no longer */
	if (r >= 0 && (r = prepare(md, len, &cmd, &iova)) >= 0) {
		memset(back, 0x5a, len);
		udk_dma_command_write(cmd, 0, back, len);
		r = udk_dma_command_complete(cmd);
	}
	if (r >= 0)
		r = transfer(edu, iova, len, true);
	/* a register read after the transfer: the fault notices before it are counted */
	(void)reg(edu, EDU_DMA_CMD);
	a->scalar_output[0] = udk_pci_get_iommu_faults(edu->pci) - faults;
	pthread_mutex_unlock(&edu->op_lock);
	if (r < 0)
		goto out;
	if ((r = udk_memory_descriptor_read(md, 0, back, len)) < 0)
		goto out;
	for (uint64_t i = 0; i < len; i++)
		untouched &= back[i] == 0x5a;
	a->scalar_output[1] = untouched;
	a->scalar_output[2] = iova;
out:
	free(back);
	udk_dma_command_free(cmd);
	udk_dma_command_free(fill_cmd);
	udk_memory_descriptor_unref(md);
	udk_memory_descriptor_unref(fill);
	return r;
}

static int
start_dma(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint64_t iova = 0;
	int r;

	(void)uc;
	(void)ref;
	(void)a;
	pthread_mutex_lock(&edu->op_lock);
	if (edu->inflight_cmd) {
		pthread_mutex_unlock(&edu->op_lock);
		return udk_error_set(-EBUSY, "a DMA is already running");
	}
	r = udk_memory_descriptor_create(EDU_BUFFER_SIZE, UDK_MEMORY_DIRECTION_IN, &edu->inflight_md);
	if (r >= 0)
		r = prepare(edu->inflight_md, EDU_MAX_TRANSFER, &edu->inflight_cmd, &iova);
	if (r >= 0) {
		clear_pending(edu, EDU_IRQ_DMA);
		wreg(edu, EDU_DMA_SRC, EDU_BUFFER);
		wreg(edu, EDU_DMA_DST, (uint32_t)iova);
		wreg(edu, EDU_DMA_COUNT, EDU_MAX_TRANSFER);
		r = wreg(edu, EDU_DMA_CMD, EDU_DMA_START | EDU_DMA_TO_RAM | EDU_DMA_IRQ);
	}
	/* no wait: the caller kills this driver while the device works */
	a->scalar_output[0] = reg(edu, EDU_DMA_CMD) & EDU_DMA_START;
	pthread_mutex_unlock(&edu->op_lock);
	return r;
}

static int
reset(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	int r;

	(void)uc;
	(void)ref;
	(void)a;
	pthread_mutex_lock(&edu->op_lock);
	r = udk_pci_reset(edu->pci);
	pthread_mutex_unlock(&edu->op_lock);
	return r;
}

static const struct udk_method_dispatch methods[EDU_SEL_COUNT] = {
	[EDU_SEL_INFO] = { get_info, "GetInfo", 0, 0, 0, 5, sizeof(struct edu_info) },
	[EDU_SEL_FACTORIAL] = { factorial, "Factorial", 0, 1, 0, 1, 0 },
	[EDU_SEL_IRQ_LATENCY] = { irq_latency, "InterruptLatency", 0, 1, 0, 3, 0 },
	[EDU_SEL_DMA] = { dma, "Dma", 0, 0, sizeof(struct edu_dma), 2, 0 },
	[EDU_SEL_IOMMU_PROBE] = { iommu_probe, "IommuProbe", 0, 1, 0, 3, 0 },
	[EDU_SEL_START_DMA] = { start_dma, "StartDma", 0, 0, 0, 1, 0 },
	[EDU_SEL_RESET] = { reset, "Reset", 0, 0, 0, 0, 0 },
};

static const struct udk_class edu_driver = {
	UDK_CLASS_INIT,
	.name = "EduDriver",
	.ivars_size = sizeof(struct edu),
	.start = edu_start,
	.stop = edu_stop,
};

static const struct udk_class edu_user_client = {
	UDK_CLASS_INIT,
	.name = "EduUserClient",
	.methods = methods,
	.n_methods = EDU_SEL_COUNT,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &edu_driver, &edu_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
