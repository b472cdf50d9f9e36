/* SPDX-License-Identifier: MIT */
/*
 * sim/backend.c - backend "sim": the driver's channel to a device model.
 *
 * One socket per opened function (brokered by udkd).  Config accesses and
 * register reads are request/reply; register writes are posted (sent, not
 * waited for) and arrive in order before any later read, as on PCIe.  The
 * model may send IOMMU fault notices at any time; whoever reads the
 * channel counts and logs them.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "pci-private.h"
#include "private.h"
#include "util.h"
#include "wire.h"

static void
note_fault(struct udk_pci_device *dev, struct wire_msg *m)
{
	atomic_fetch_add(&dev->faults, 1);
	udk_log(UDK_LOG_ERROR, "IOMMU fault: the device %s 0x%llx (%llu bytes): %s",
		udk_dict_get_bool(m->body, "write", false) ? "wrote" : "read",
		(unsigned long long)udk_value_get_uint(udk_dict_get(m->body, "iova"), 0),
		(unsigned long long)udk_value_get_uint(udk_dict_get(m->body, "length"), 0),
		udk_dict_get_string(m->body, "reason") ? udk_dict_get_string(m->body, "reason") : "?");
}

/* Under dev->lock: read until the reply to @serial. */
static int
await(struct udk_pci_device *dev, uint32_t serial, struct wire_msg *ret)
{
	for (;;) {
		struct wire_msg m;
		int r = wire_recv(dev->fd, &m, false);
		if (r == -EBADMSG)
			return udk_set_reason(-UDK_E_PROTOCOL, "the device model sent a malformed message");
		if (r < 0)
			return pci_gone(dev);
		if (m.h.op == OP_DM_FAULT) {
			note_fault(dev, &m);
			wire_msg_clear(&m);
			continue;
		}
		if ((m.h.flags & WIRE_F_REPLY) && m.h.serial == serial) {
			*ret = m;
			return 0;
		}
		wire_msg_clear(&m);
	}
}

/* Pick up fault notices that arrived while nobody was waiting. */
static void
drain_faults(struct udk_pci_device *dev)
{
	struct pollfd pfd = { .fd = dev->fd, .events = POLLIN };

	while (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
		struct wire_msg m;
		if (wire_recv(dev->fd, &m, true) < 0)
			return;
		if (m.h.op == OP_DM_FAULT)
			note_fault(dev, &m);
		wire_msg_clear(&m);
	}
}

static int
rw_call(struct udk_pci_device *dev, uint16_t op, uint32_t space, uint64_t off, unsigned width, uint64_t value,
	uint64_t *ret)
{
	struct proto_pci_rw rw = { space, width, off, value };
	struct wire_msg m;
	uint32_t serial;
	int r;

	pthread_mutex_lock(&dev->lock);
	serial = ++dev->serial;
	if (op == OP_PCI_MEM_WRITE) {
		/* posted */
		r = wire_send(dev->fd, op, WIRE_F_ONEWAY, serial, 0, &rw, sizeof(rw), NULL, 0);
		pthread_mutex_unlock(&dev->lock);
		return r < 0 ? pci_gone(dev) : 0;
	}
	r = wire_send(dev->fd, op, 0, serial, 0, &rw, sizeof(rw), NULL, 0);
	if (r < 0) {
		pthread_mutex_unlock(&dev->lock);
		return pci_gone(dev);
	}
	r = await(dev, serial, &m);
	pthread_mutex_unlock(&dev->lock);
	if (r < 0)
		return r;
	r = m.h.status;
	if (r < 0)
		udk_set_reason_str(udk_dict_get_string(m.body, "reason"));
	else if (ret && m.len == sizeof(rw)) {
		memcpy(&rw, m.payload, sizeof(rw));
		*ret = rw.value;
	} else if (ret) {
		r = udk_set_reason(-UDK_E_PROTOCOL, "the device model answered a register read with %zu bytes", m.len);
	}
	wire_msg_clear(&m);
	return r;
}

static int
value_call(struct udk_pci_device *dev, uint16_t op, struct udk_value *body, const int *fds, unsigned n_fds,
	   struct udk_value **ret_body, int *ret_fd)
{
	struct wire_msg m;
	uint32_t serial;
	int r;

	pthread_mutex_lock(&dev->lock);
	serial = ++dev->serial;
	r = wire_send_value(dev->fd, op, 0, serial, 0, body, fds, n_fds);
	if (r < 0) {
		pthread_mutex_unlock(&dev->lock);
		return pci_gone(dev);
	}
	r = await(dev, serial, &m);
	pthread_mutex_unlock(&dev->lock);
	if (r < 0)
		return r;
	r = m.h.status;
	if (r < 0) {
		udk_set_reason_str(udk_dict_get_string(m.body, "reason"));
	} else {
		if (ret_fd)
			*ret_fd = wire_msg_take_fd(&m, 0);
		if (ret_body)
			*ret_body = TAKE_PTR(m.body);
	}
	wire_msg_clear(&m);
	return r;
}

static int
sim_config_read(struct udk_pci_device *dev, uint32_t off, unsigned width, uint32_t *ret)
{
	uint64_t v = 0;
	int r = rw_call(dev, OP_PCI_CFG_READ, 0, off, width, 0, &v);

	if (r >= 0)
		*ret = (uint32_t)v;
	return r;
}

static int
sim_config_write(struct udk_pci_device *dev, uint32_t off, unsigned width, uint32_t value)
{
	return rw_call(dev, OP_PCI_CFG_WRITE, 0, off, width, value, NULL);
}

static int
sim_mem_read(struct udk_pci_device *dev, unsigned bar, uint64_t off, unsigned width, uint64_t *ret)
{
	return rw_call(dev, OP_PCI_MEM_READ, bar + 1, off, width, 0, ret);
}

static int
sim_mem_write(struct udk_pci_device *dev, unsigned bar, uint64_t off, unsigned width, uint64_t value)
{
	return rw_call(dev, OP_PCI_MEM_WRITE, bar + 1, off, width, value, NULL);
}

static int
sim_map_bar(struct udk_pci_device *dev, unsigned bar, void **ret_addr, bool *ret_readonly)
{
	struct udk_value *body = udk_value_new_dict(), *reply = NULL;
	int fd = -1, r;

	udk_dict_set_int(body, "bar", bar);
	r = value_call(dev, OP_PCI_BAR_MAP, body, NULL, 0, &reply, &fd);
	udk_value_unref(body);
	if (r < 0)
		return r;
	if (fd < 0 || udk_value_get_uint(udk_dict_get(reply, "size"), 0) != dev->bars[bar].size) {
		if (fd >= 0)
			close(fd);
		udk_value_unref(reply);
		return udk_set_reason(-UDK_E_PROTOCOL, "the device model's BAR memory does not match the BAR");
	}
	*ret_readonly = udk_dict_get_bool(reply, "readonly", false);
	udk_value_unref(reply);
	*ret_addr = mmap(NULL, dev->bars[bar].size, *ret_readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
	r = *ret_addr == MAP_FAILED ? -errno : 0;
	close(fd);
	if (r < 0)
		*ret_addr = NULL;
	return r;
}

int
pci_sim_irq_page(struct udk_pci_device *dev)
{
	struct udk_value *body;
	int fd, r;

	if (dev->irq_page)
		return 0;
	fd = memfd_create("udk-irq-page", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, sizeof(struct proto_irq_page)) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	dev->irq_page = mmap(NULL, sizeof(*dev->irq_page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (dev->irq_page == MAP_FAILED) {
		dev->irq_page = NULL;
		close(fd);
		return -errno;
	}
	dev->irq_page_fd = fd;
	body = udk_value_new_dict();
	r = value_call(dev, OP_DM_IRQ_PAGE, body, &fd, 1, NULL, NULL);
	udk_value_unref(body);
	return r;
}

static int
sim_irq_set(struct udk_pci_device *dev, unsigned vector, int fd)
{
	struct udk_value *body;
	int r;

	if (fd >= 0 && (r = pci_sim_irq_page(dev)) < 0)
		return r;
	body = udk_value_new_dict();
	udk_dict_set_int(body, "vector", vector);
	r = value_call(dev, OP_DM_IRQ_SET, body, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, NULL, NULL);
	udk_value_unref(body);
	return r;
}

static int
sim_dma_map(struct udk_pci_device *dev, uint64_t iova, uint64_t len, int fd, uint64_t offset, uint32_t direction)
{
	struct udk_value *body = udk_value_new_dict();
	int r;

	udk_dict_set_uint(body, "iova", iova);
	udk_dict_set_uint(body, "length", len);
	udk_dict_set_uint(body, "offset", offset);
	udk_dict_set_int(body, "direction", direction);
	r = value_call(dev, OP_DM_DMA_MAP, body, &fd, 1, NULL, NULL);
	udk_value_unref(body);
	return r;
}

static int
sim_dma_unmap(struct udk_pci_device *dev, uint64_t iova, uint64_t len)
{
	struct udk_value *body = udk_value_new_dict();
	int r;

	udk_dict_set_uint(body, "iova", iova);
	udk_dict_set_uint(body, "length", len);
	r = value_call(dev, OP_DM_DMA_UNMAP, body, NULL, 0, NULL, NULL);
	udk_value_unref(body);
	drain_faults(dev);
	return r;
}

static int
sim_reset(struct udk_pci_device *dev)
{
	struct udk_value *body = udk_value_new_dict();
	int r = value_call(dev, OP_PCI_RESET, body, NULL, 0, NULL, NULL);

	udk_value_unref(body);
	return r;
}

const struct pci_backend pci_sim_backend = {
	.name = "sim",
	.config_read = sim_config_read,
	.config_write = sim_config_write,
	.mem_read = sim_mem_read,
	.mem_write = sim_mem_write,
	.map_bar = sim_map_bar,
	.irq_set = sim_irq_set,
	.dma_map = sim_dma_map,
	.dma_unmap = sim_dma_unmap,
	.reset = sim_reset,
};
