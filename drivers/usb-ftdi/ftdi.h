/* SPDX-License-Identifier: MIT */
/*
 * ftdi.h - the contract between the FTDI USB-serial driver and its apps.
 * The data goes through the tty the serial family makes
 * (/dev/cu.usbserial-SERIAL); the user client reports the driver's
 * counters and the chip's modem status register.
 */
#ifndef UDK_EXAMPLE_USB_FTDI_H
#define UDK_EXAMPLE_USB_FTDI_H

#include <stdint.h>

enum ftdi_selector {
	/* -> vendor, product, backend (0 sim, 1 usbfs), baud, bytes in, bytes out,
	 * overruns (the chip's), times the port's RX ring was full (the driver
	 * then stops asking the chip for bytes until there is room) */
	FTDI_GET_INFO,
	FTDI_MODEM_STATUS,	/* -> the modem status byte (CTS 0x10, DSR 0x20, RI 0x40, DCD 0x80) */
	FTDI_SELECTOR_COUNT,
};

#endif
