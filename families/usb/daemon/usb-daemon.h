/* SPDX-License-Identifier: MIT */
/*
 * usb-daemon.h - the USB family's udkd side (internal):
 *
 *   usb.c     the family: classes, entitlement, simulated devices, device
 *             and interface nubs, configurations, the broker, explain
 *   host.c    real devices: /sys/bus/usb/devices, netlink uevents, usbfs
 *             (open, kernel drivers detached and attached again, reset),
 *             and exporting simulated devices to Linux's vhci-hcd
 *   match.c   the personality keys and the QA1076 score table
 */
#ifndef UDK_USB_DAEMON_H
#define UDK_USB_DAEMON_H

#include "family.h"
#include "udkd.h"
#include "usb-desc.h"

extern const struct udkd_family udkd_family_usb;

enum usb_backend {
	USB_SIM,			/* a device model, for udk drivers */
	USB_USBFS,			/* a real device through /dev/bus/usb */
};

/* One IOUSBHostDevice nub. */
struct usb_job;

struct usb_device {
	struct usb_device *next;
	struct service *nub;		/* reference */
	enum usb_backend backend;
	struct usb_descs *descs;
	enum udk_usb_speed speed;

	/* sim */
	struct device_model *model;
	size_t fn_index;

	/* usbfs */
	char *sysname;			/* "1-1" */
	unsigned busnum, devnum;
	char *kernel_drivers[32];	/* by interface number, as udkd last saw them */
	uint32_t detached;		/* interfaces udkd took from their kernel driver */
	unsigned users;			/* udk drivers holding a usbfs descriptor */
	bool reattaching;		/* a port reset / give-back is running on a thread */
	struct usb_job *parked;		/* opens that wait for it (host.c) */

	/* configuration */
	uint8_t config;			/* whose interfaces are published (0: none) */
	bool by_udkd;			/* udkd set it (no driver claimed the device) */
	bool matched;			/* interface nubs registered for matching */
	struct service **ifaces;	/* interface nubs (references) */
	size_t n_ifaces;
	struct driver_proc *opener;	/* the driver that has the device open */
	uint64_t opened_ms;
	char *note;			/* what explain says about the interfaces */
	char *last_reset;
};

struct usb_state {
	struct service *sim_bus;	/* USB0 */
	struct service *host_bus;	/* USBHost */
	struct usb_device *devices;
	/* real devices */
	bool host;			/* --usb-sysfs */
	char *sysfs_dir;		/* /sys/bus/usb/devices */
	char *dev_dir;			/* /dev/bus/usb */
	char *vhci_dir;			/* /sys/devices/platform/vhci_hcd.0 */
	bool hotplug;			/* the kernel's uevents reach it (udkd_uevents_listen) */
	unsigned jobs;			/* usbfs jobs on threads */
};

/* Per device model: how the machine description placed it. */
struct usb_model {
	bool linux_host;		/* Host = linux: exported to vhci-hcd */
	int vhci_port;			/* -1: not attached */
	char export_error[256];
};

/* A driver process in words: its bundle identifier. */
static inline const char *
usb_who(const struct driver_proc *p)
{
	if (p->label)
		return p->label;
	return p->bundle && p->bundle->identifier ? p->bundle->identifier : "driver";
}

struct usb_state *usb_state(struct udkd *d);
struct usb_device *usb_device_of(struct udkd *d, const struct service *s);
/* The device and interface number of an interface nub. */
struct usb_device *usb_device_of_interface(struct udkd *d, const struct service *s, uint8_t *ret_iface);
/* The identity properties of a device nub, as IOUSBHostFamily publishes them. */
struct udk_value *usb_device_props(const struct usb_descs *descs, enum udk_usb_speed speed);
/* Publish (and with @match register) the interface nubs of configuration @value. */
int usb_publish_interfaces(struct udkd *d, struct usb_device *dev, uint8_t value, bool match);
void usb_drop_interfaces(struct udkd *d, struct usb_device *dev, const char *why);
/* A new device nub is registered: no driver took it, so udkd configures it. */
void usb_configure_unclaimed(struct udkd *d, struct usb_device *dev);
void usb_device_free(struct usb_device *dev);

/* host.c */
int usb_host_start(struct udkd *d);
void usb_host_fini(struct udkd *d);
void usb_host_open(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct usb_device *dev, int iface);
/* A driver holding a usbfs device ended (@crashed: not by request). */
void usb_host_released(struct udkd *d, struct usb_device *dev, bool crashed);
/* Answer and free the opens parked on a device that goes away. */
void usb_host_drop_parked(struct usb_device *dev);
/* Attach simulated device @m's function to vhci-hcd. */
void usb_export_model(struct udkd *d, struct device_model *m, struct service *nub, enum udk_usb_speed speed);

#endif
