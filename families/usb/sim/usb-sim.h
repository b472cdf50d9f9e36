/* SPDX-License-Identifier: MIT */
/*
 * usb-sim.h - the USB device-model kind's insides (internal):
 *
 *   devmodel.c   the device: standard requests, endpoint queues, halts,
 *                udk drivers' channels, udkd's requests
 *   usbip.c      the device exported to Linux: USB/IP on a stream socket
 *                attached to vhci-hcd
 */
#ifndef UDK_USB_SIM_H
#define UDK_USB_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include <udk/families/usb-devmodel.h>

struct usb_chan;
struct usb_dev;
struct mem;
struct loop_source;

/* A transfer in a queue.  The public part comes first. */
struct xfer {
	struct udk_dm_usb_transfer t;
	struct usb_dev *dev;
	struct usb_chan *chan;		/* a udk driver's, or NULL */
	bool usbip;			/* Linux's, through USB/IP */
	uint64_t id;			/* the driver's id, or the USB/IP seqnum */
	uint32_t flags;			/* PROTO_USB_* */
	struct mem *mem;		/* the driver's memory it points into */
	uint8_t *buf;			/* owned bytes (inline or USB/IP) */
	struct udk_usb_iso_packet *packets;
	bool at_model;			/* the model holds it */
	struct xfer *next;		/* in its endpoint's queue */
};

struct epq {
	struct xfer *head, *tail;
	bool halted;
	bool busy;			/* pump() is running it */
};

struct usb_dev {
	struct udk_dm_function *fn;
	struct udk_dm_usb_ops ops;
	struct usb_descs *descs;
	char **strings;
	unsigned n_strings;
	uint8_t *bos;
	size_t bos_len;
	enum udk_usb_speed speed;
	uint8_t config;			/* 0: not configured */
	uint8_t alt[256];		/* by interface number */
	struct epq q[32];		/* 0: the default pipe; 1-15 OUT, 17-31 IN */
	uint32_t kick_after;		/* queues to run once the current one is done */

	/* exported to Linux */
	int usbip_fd;
	uint32_t devid;
	struct loop_source *usbip_src;
	uint8_t *rx;			/* a partial USB/IP message */
	size_t rx_len, rx_cap;
	uint64_t usbip_done;		/* transfers answered */
};

const struct usb_config *usb_sim_config(struct usb_dev *dev);
const struct usb_ep *usb_sim_find_ep(struct usb_dev *dev, uint8_t address, uint8_t *ret_iface);
/* Queue @x (its endpoint, data and length set) and run the queue. */
void usb_sim_submit(struct usb_dev *dev, struct xfer *x);
void usb_sim_cancel(struct usb_dev *dev, struct xfer *x, int status, const char *why);
struct xfer *usb_sim_find(struct usb_dev *dev, bool (*fn)(const struct xfer *x, const void *ctx), const void *ctx);
/* End every pending transfer of @chan, or of USB/IP (@usbip), or all; @tell: answer them. */
void usb_sim_cancel_all(struct usb_dev *dev, struct usb_chan *chan, bool usbip, int status, const char *why,
			bool tell);
/* A port reset; @unconfigure: back to configuration 0. */
void usb_sim_reset(struct usb_dev *dev, const char *why, bool unconfigure);

/* usbip.c */
int usbip_attach(struct usb_dev *dev, int fd, uint32_t devid, const char **why);
void usbip_ret_submit(struct usb_dev *dev, struct xfer *x, int status);

#endif
