/* SPDX-License-Identifier: MIT */
/*
 * pci-private.h - the PCI family's driver side (internal).
 *
 *   pci.c          the public API (<udk/families/pci.h>), interrupts
 *   dma.c          DMA commands and the per-device IOVA allocator
 *   sim.c          backend "sim": a channel to a device-model process
 *   sysfs.c        backend "sysfs": a real function, read-only
 *   vfio.c         backend "vfio": a real function given to user space
 */
#ifndef UDK_PCI_PRIVATE_H
#define UDK_PCI_PRIVATE_H

#include <pthread.h>
#include <sys/types.h>

#include <udk/families/pci.h>

#include "proto-pci.h"

struct pci_bar {
	uint64_t size;
	uint32_t flags;			/* UDK_DM_BAR_* as the model or backend reports them */
	void *map;			/* udk_pci_map_bar(), once */
};

/*
 * What a backend does.  Every operation is optional; a missing one makes
 * the call fail with UDK_E_UNSUPPORTED and the backend's reason.  Fields
 * are only appended.
 */
struct pci_backend {
	const char *name;
	const char *why_unsupported;	/* sentence for missing operations */
	int (*config_read)(struct udk_pci_device *dev, uint32_t off, unsigned width, uint32_t *ret);
	int (*config_write)(struct udk_pci_device *dev, uint32_t off, unsigned width, uint32_t value);
	int (*mem_read)(struct udk_pci_device *dev, unsigned bar, uint64_t off, unsigned width, uint64_t *ret);
	int (*mem_write)(struct udk_pci_device *dev, unsigned bar, uint64_t off, unsigned width, uint64_t value);
	/* map BAR @bar (dev->bars[bar].size bytes); pci.c unmaps it */
	int (*map_bar)(struct udk_pci_device *dev, unsigned bar, void **ret_addr, bool *ret_readonly);
	/* route vector @vector to eventfd @fd (-1: stop) */
	int (*irq_set)(struct udk_pci_device *dev, unsigned vector, int fd);
	int (*dma_map)(struct udk_pci_device *dev, uint64_t iova, uint64_t len, int fd, uint64_t offset,
		       uint32_t direction);
	int (*dma_unmap)(struct udk_pci_device *dev, uint64_t iova, uint64_t len);
	int (*reset)(struct udk_pci_device *dev);
	void (*close)(struct udk_pci_device *dev);
};

struct iova_range {
	uint64_t start, len;
};

struct udk_pci_device {
	const struct pci_backend *be;
	struct udk_service *provider;
	pthread_mutex_t lock;		/* the channel: one request at a time */
	int fd;				/* backend's: channel, config file or VFIO device */
	uint32_t serial;
	bool gone;
	struct pci_bar bars[6];
	uint8_t bus, device, function;
	_Atomic uint64_t faults;
	/* interrupts */
	struct proto_irq_page *irq_page;
	int irq_page_fd;
	/* IOVAs in use, sorted */
	pthread_mutex_t iova_lock;
	struct iova_range *iovas;
	size_t n_iovas;
	void *backend_data;
};

extern const struct pci_backend pci_sim_backend;
extern const struct pci_backend pci_sysfs_backend;
extern const struct pci_backend pci_vfio_backend;

/* An unsupported operation, with the backend's reason. */
int pci_unsupported(struct udk_pci_device *dev, const char *what);
/* The device is gone: every later call gets UDK_E_HARDWARE_GONE. */
int pci_gone(struct udk_pci_device *dev);

/* sim/backend.c: set up the interrupt page the model stamps. */
int pci_sim_irq_page(struct udk_pci_device *dev);

/* vfio/vfio.c: the system calls it makes, replaceable by tests. */
struct vfio_sys {
	int (*ioctl)(int fd, unsigned long request, void *arg);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t off);
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	int (*munmap)(void *addr, size_t len);
	/* The kernel asked for the device back (VFIO's request interrupt): tell udkd. */
	int (*release_requested)(const char *device_name);
};
void pci_vfio_set_sys(const struct vfio_sys *sys);
/* Set up @dev on a VFIO container and group (both fds taken). */
int pci_vfio_attach(struct udk_pci_device *dev, int container, int group, const char *device_name);

#endif
