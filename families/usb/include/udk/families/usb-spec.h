/* SPDX-License-Identifier: MIT */
/*
 * families/usb-spec.h - what the USB specification (chapter 9) defines
 * and both sides of the USB family use: descriptors as they travel on the
 * bus (packed, little endian), the setup packet, standard requests,
 * transfer types and speeds.  Drivers include <udk/families/usb.h>,
 * device models <udk/families/usb-devmodel.h>; both include this.
 */
#ifndef UDK_FAMILIES_USB_SPEC_H
#define UDK_FAMILIES_USB_SPEC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Descriptor types (bDescriptorType). */
enum {
	UDK_USB_DT_DEVICE = 0x01,
	UDK_USB_DT_CONFIGURATION = 0x02,
	UDK_USB_DT_STRING = 0x03,
	UDK_USB_DT_INTERFACE = 0x04,
	UDK_USB_DT_ENDPOINT = 0x05,
	UDK_USB_DT_DEVICE_QUALIFIER = 0x06,
	UDK_USB_DT_INTERFACE_ASSOCIATION = 0x0b,
	UDK_USB_DT_BOS = 0x0f,
	UDK_USB_DT_DEVICE_CAPABILITY = 0x10,
	UDK_USB_DT_HID = 0x21,
	UDK_USB_DT_CS_INTERFACE = 0x24,
	UDK_USB_DT_SS_ENDPOINT_COMPANION = 0x30,
};

/* Standard requests (bRequest). */
enum {
	UDK_USB_REQ_GET_STATUS = 0x00,
	UDK_USB_REQ_CLEAR_FEATURE = 0x01,
	UDK_USB_REQ_SET_FEATURE = 0x03,
	UDK_USB_REQ_SET_ADDRESS = 0x05,
	UDK_USB_REQ_GET_DESCRIPTOR = 0x06,
	UDK_USB_REQ_SET_DESCRIPTOR = 0x07,
	UDK_USB_REQ_GET_CONFIGURATION = 0x08,
	UDK_USB_REQ_SET_CONFIGURATION = 0x09,
	UDK_USB_REQ_GET_INTERFACE = 0x0a,
	UDK_USB_REQ_SET_INTERFACE = 0x0b,
	UDK_USB_REQ_SYNCH_FRAME = 0x0c,
};

/* bmRequestType bits. */
enum {
	UDK_USB_DIR_OUT = 0x00,
	UDK_USB_DIR_IN = 0x80,
	UDK_USB_TYPE_STANDARD = 0x00,
	UDK_USB_TYPE_CLASS = 0x20,
	UDK_USB_TYPE_VENDOR = 0x40,
	UDK_USB_TYPE_MASK = 0x60,
	UDK_USB_RECIP_DEVICE = 0x00,
	UDK_USB_RECIP_INTERFACE = 0x01,
	UDK_USB_RECIP_ENDPOINT = 0x02,
	UDK_USB_RECIP_OTHER = 0x03,
	UDK_USB_RECIP_MASK = 0x1f,
};

/* Feature selectors. */
#define UDK_USB_FEATURE_ENDPOINT_HALT 0x00

/* Transfer types (the low two bits of bmAttributes of an endpoint). */
enum udk_usb_transfer_type {
	UDK_USB_TRANSFER_CONTROL = 0,
	UDK_USB_TRANSFER_ISOCHRONOUS = 1,
	UDK_USB_TRANSFER_BULK = 2,
	UDK_USB_TRANSFER_INTERRUPT = 3,
};

#define UDK_USB_ENDPOINT_IN 0x80
#define UDK_USB_ENDPOINT_NUMBER(addr) ((addr) & 0x0f)

/* Bus speeds, as Linux numbers them (enum usb_device_speed; USB/IP uses it). */
enum udk_usb_speed {
	UDK_USB_SPEED_UNKNOWN = 0,
	UDK_USB_SPEED_LOW = 1,		/* 1.5 Mbit/s */
	UDK_USB_SPEED_FULL = 2,		/* 12 Mbit/s */
	UDK_USB_SPEED_HIGH = 3,		/* 480 Mbit/s */
	UDK_USB_SPEED_WIRELESS = 4,
	UDK_USB_SPEED_SUPER = 5,	/* 5 Gbit/s */
	UDK_USB_SPEED_SUPER_PLUS = 6,	/* 10 Gbit/s */
};

/* Well-known class codes. */
enum {
	UDK_USB_CLASS_PER_INTERFACE = 0x00,
	UDK_USB_CLASS_CDC = 0x02,
	UDK_USB_CLASS_HID = 0x03,
	UDK_USB_CLASS_MASS_STORAGE = 0x08,
	UDK_USB_CLASS_HUB = 0x09,
	UDK_USB_CLASS_CDC_DATA = 0x0a,
	UDK_USB_CLASS_VENDOR_SPECIFIC = 0xff,
};

struct udk_usb_setup {
	uint8_t bmRequestType;
	uint8_t bRequest;
	uint16_t wValue;
	uint16_t wIndex;
	uint16_t wLength;
} __attribute__((packed));

struct udk_usb_device_descriptor {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint16_t bcdUSB;
	uint8_t bDeviceClass;
	uint8_t bDeviceSubClass;
	uint8_t bDeviceProtocol;
	uint8_t bMaxPacketSize0;
	uint16_t idVendor;
	uint16_t idProduct;
	uint16_t bcdDevice;
	uint8_t iManufacturer;
	uint8_t iProduct;
	uint8_t iSerialNumber;
	uint8_t bNumConfigurations;
} __attribute__((packed));

struct udk_usb_configuration_descriptor {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint16_t wTotalLength;
	uint8_t bNumInterfaces;
	uint8_t bConfigurationValue;
	uint8_t iConfiguration;
	uint8_t bmAttributes;
	uint8_t bMaxPower;
} __attribute__((packed));

struct udk_usb_interface_descriptor {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint8_t bInterfaceNumber;
	uint8_t bAlternateSetting;
	uint8_t bNumEndpoints;
	uint8_t bInterfaceClass;
	uint8_t bInterfaceSubClass;
	uint8_t bInterfaceProtocol;
	uint8_t iInterface;
} __attribute__((packed));

struct udk_usb_endpoint_descriptor {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint8_t bEndpointAddress;
	uint8_t bmAttributes;
	uint16_t wMaxPacketSize;
	uint8_t bInterval;
} __attribute__((packed));

struct udk_usb_bos_descriptor {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint16_t wTotalLength;
	uint8_t bNumDeviceCaps;
} __attribute__((packed));

_Static_assert(sizeof(struct udk_usb_setup) == 8, "setup packet");
_Static_assert(sizeof(struct udk_usb_device_descriptor) == 18, "device descriptor");
_Static_assert(sizeof(struct udk_usb_configuration_descriptor) == 9, "configuration descriptor");
_Static_assert(sizeof(struct udk_usb_interface_descriptor) == 9, "interface descriptor");
_Static_assert(sizeof(struct udk_usb_endpoint_descriptor) == 7, "endpoint descriptor");
_Static_assert(sizeof(struct udk_usb_bos_descriptor) == 5, "BOS descriptor");

/* One packet of an isochronous transfer. */
struct udk_usb_iso_packet {
	uint32_t length;		/* requested */
	uint32_t actual;		/* transferred */
	int32_t status;			/* 0 or a negative code */
};

#ifdef __cplusplus
}
#endif
#endif
