/* SPDX-License-Identifier: MIT */
/*
 * sysfs.c - backend "sysfs": a real PCI function of this machine, read
 * through /sys/bus/pci/devices/.../config.  udkd opens the file and hands
 * the driver the descriptor; the driver can read config space (all 4 KiB
 * when udkd runs as root, the first 64 bytes otherwise) and nothing else.
 * It exists so personalities and drivers' probing code can be tried
 * against real ids; driving the device needs the VFIO backend.
 */
#include "pci-private.h"
#include "util.h"

static int
sysfs_config_read(struct udk_pci_device *dev, uint32_t off, unsigned width, uint32_t *ret)
{
	uint8_t b[4] = { 0 };
	ssize_t n = pread(dev->fd, b, width, off);

	if (n < 0)
		return udk_set_reason(-errno, "reading config space: %s", strerror(errno));
	/* beyond what sysfs shows an unprivileged reader: all ones, like a
	 * master abort */
	if (n < (ssize_t)width)
		memset(b + (n > 0 ? n : 0), 0xff, width - (size_t)(n > 0 ? n : 0));
	*ret = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

const struct pci_backend pci_sysfs_backend = {
	.name = "sysfs",
	.why_unsupported = "it only reads config space of a real device; bind the device to vfio-pci and use "
			   "the VFIO backend to drive it",
	.config_read = sysfs_config_read,
};
