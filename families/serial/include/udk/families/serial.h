/* SPDX-License-Identifier: MIT */
/*
 * families/serial.h - the serial family for drivers (DriverKit's
 * IOUserSerial and IOUserUSBSerial, with IOSerialBSDClient's names).
 *
 * A driver of a serial device (a UART, a USB-serial bridge, a board behind
 * either) creates one port per line; every program on the machine then
 * sees a real terminal device, named as on macOS:
 *
 *	<dev-dir>/tty.BASE-SUFFIX	call-in (dial-in)
 *	<dev-dir>/cu.BASE-SUFFIX	call-out
 *
 * BASE and SUFFIX come from the config below (the driver's choice), else
 * from the personality's IOTTYBaseName / IOTTYSuffix, else the provider's
 * properties.  udkd makes the device and the names; the driver never
 * touches /dev.  A name another port holds gets the next suffix (logged).
 *
 *	static const struct udk_serial_ops ops = {
 *		UDK_SERIAL_OPS_INIT,
 *		.set_line = my_set_line,	// baud, data bits, parity, stop, flow
 *		.tx_ready = my_tx_ready,	// the app wrote bytes: send them
 *	};
 *	udk_serial_port_create(self, NULL, &ops, my_ctx, &port);
 *
 * Data moves through two byte rings in shared memory, one per direction,
 * with no copy per byte: the driver asks for a pointer into the ring and
 * says how many bytes it used.
 *
 *	received bytes:  udk_serial_rx_reserve(port, &p, &room);
 *			 n = copy_from_device(p, room);
 *			 udk_serial_rx_commit(port, n);
 *	bytes to send:   udk_serial_tx_peek(port, &p, &len);
 *			 n = send_to_device(p, len);
 *			 udk_serial_tx_consume(port, n);
 *
 * Each ring has one producer and one consumer: the driver's side of a ring
 * may be used from one thread at a time (usually the port's queue).  The
 * callbacks run on the port's queue (config->queue, else the driver's
 * default queue), one at a time.
 *
 * Modem lines and errors go the other way: udk_serial_report_modem() for
 * CTS, DSR, DCD and RI; udk_serial_report_errors() for framing, parity and
 * overrun errors and breaks.  What reaches the app depends on the backend
 * (docs/families/serial.md): the pty backend carries data and line
 * settings, not modem lines or break; the CUSE backend (a kernel with
 * CUSE, udkd as root) carries those too, and its tcsetattr fails when
 * set_line refuses.
 *
 * Errors: UDK_E_HARDWARE_GONE after the port was torn down; UDK_E_ENTITLEMENT
 * when the bundle lacks family.serial.
 */
#ifndef UDK_FAMILIES_SERIAL_H
#define UDK_FAMILIES_SERIAL_H

#include <sys/types.h>

#include <udk/driver.h>
#include <udk/queue.h>

#ifdef __cplusplus
extern "C" {
#endif

struct udk_serial_port;

enum udk_serial_parity {
	UDK_SERIAL_PARITY_NONE = 0,
	UDK_SERIAL_PARITY_ODD = 1,
	UDK_SERIAL_PARITY_EVEN = 2,
	UDK_SERIAL_PARITY_MARK = 3,
	UDK_SERIAL_PARITY_SPACE = 4,
};

/* Line settings as the app asked for them (termios, decoded). */
struct udk_serial_line {
	uint32_t struct_size;		/* sizeof(struct udk_serial_line) */
	uint32_t baud;			/* bits per second, e.g. 115200 */
	uint8_t data_bits;		/* 5..8 */
	uint8_t parity;			/* enum udk_serial_parity */
	uint8_t stop_bits;		/* 1 or 2 */
	bool rts_cts;			/* hardware flow control (CRTSCTS) */
	bool xon_xoff;			/* software flow control on output (IXON) */
	bool xon_xoff_input;		/* ... on input (IXOFF) */
	uint8_t xon_char, xoff_char;	/* usually 0x11, 0x13 */
	bool read_enabled;		/* CREAD */
};

/* Modem lines: DTR and RTS go to the device, the rest come from it. */
enum udk_serial_modem {
	UDK_SERIAL_DTR = 1 << 0,
	UDK_SERIAL_RTS = 1 << 1,
	UDK_SERIAL_CTS = 1 << 2,
	UDK_SERIAL_DSR = 1 << 3,
	UDK_SERIAL_DCD = 1 << 4,
	UDK_SERIAL_RI = 1 << 5,
};

/* Line errors, counted (udk_serial_report_errors). */
struct udk_serial_errors {
	uint64_t framing;
	uint64_t parity;
	uint64_t overrun;		/* the device lost bytes (its FIFO overflowed) */
	uint64_t breaks;		/* break conditions received */
};

/*
 * What the family asks of the driver (IOUserSerial's Hw* methods).  Every
 * callback is optional; fields are only appended.  They run on the port's
 * queue, never at the same time as each other.
 */
struct udk_serial_ops {
	uint32_t struct_size;		/* via UDK_SERIAL_OPS_INIT */
	/*
	 * HwProgramUART / HwProgramBaudRate / HwProgramFlowControl: the app
	 * changed the line settings.  Return 0, or refuse with a negative
	 * code and a reason (udk_error_set(-EINVAL, "...")): the family puts
	 * the old settings back where the backend allows, logs the reason
	 * and shows it in the registry (UDKSerialRefusal).
	 */
	int (*set_line)(struct udk_serial_port *port, const struct udk_serial_line *line, void *ctx);
	/* HwProgramMCR: drive DTR and RTS (UDK_SERIAL_DTR | UDK_SERIAL_RTS). */
	void (*set_modem)(struct udk_serial_port *port, uint32_t lines, void *ctx);
	/* HwSendBreak: hold the line in break (on) or release it. */
	void (*set_break)(struct udk_serial_port *port, bool on, void *ctx);
	/* TxPacketsAvailable: bytes are waiting in the TX ring. */
	void (*tx_ready)(struct udk_serial_port *port, void *ctx);
	/* RxFreeSpaceAvailable: the RX ring has room again after it was full. */
	void (*rx_space)(struct udk_serial_port *port, void *ctx);
	/*
	 * RX flow control (RTS/CTS on): the RX ring is nearly full (@stop) or
	 * has drained (!@stop).  A driver whose device does automatic flow
	 * control lowers / raises RTS here.  NULL: the family calls
	 * set_modem with RTS cleared / set instead.
	 */
	void (*rx_throttle)(struct udk_serial_port *port, bool stop, void *ctx);
};

#define UDK_SERIAL_OPS_INIT .struct_size = sizeof(struct udk_serial_ops)

struct udk_serial_config {
	uint32_t struct_size;		/* via UDK_SERIAL_CONFIG_INIT */
	const char *base_name;		/* NULL: IOTTYBaseName of the personality or provider */
	const char *suffix;		/* NULL: IOTTYSuffix of the personality or provider */
	uint32_t rx_ring_size;		/* bytes, a power of two 4 KiB..16 MiB; 0: 256 KiB */
	uint32_t tx_ring_size;		/* likewise; 0: 256 KiB */
	struct udk_queue *queue;	/* where callbacks run; NULL: @self's default queue */
	struct udk_serial_line initial;	/* struct_size 0: 9600 8N1, no flow control */
};

#define UDK_SERIAL_CONFIG_INIT .struct_size = sizeof(struct udk_serial_config)

/*
 * Create a port of driver @self (its IOClass must be IOUserSerial or a
 * subclass, and its bundle must hold family.serial).  set_line() and
 * set_modem() are called once with the initial settings before this
 * returns, on the calling thread; later calls come on the port's queue.
 * @config may be NULL.
 */
UDK_EXPORT int udk_serial_port_create(struct udk_service *self, const struct udk_serial_config *config,
				      const struct udk_serial_ops *ops, void *ctx, struct udk_serial_port **ret);
/*
 * Tear the port down: its names disappear and an app using it gets a
 * hang-up.  Callbacks do not run after this returns; not from within one.
 */
UDK_EXPORT void udk_serial_port_destroy(struct udk_serial_port *port);

/* The names udkd gave: "mycustombasename-123" (borrowed). */
UDK_EXPORT const char *udk_serial_port_get_name(const struct udk_serial_port *port);
/* Full paths: ".../tty.NAME" (call-in) and ".../cu.NAME" (call-out). */
UDK_EXPORT const char *udk_serial_port_get_dialin_path(const struct udk_serial_port *port);
UDK_EXPORT const char *udk_serial_port_get_callout_path(const struct udk_serial_port *port);
/* "pty" or "cuse". */
UDK_EXPORT const char *udk_serial_port_get_backend(const struct udk_serial_port *port);
/* The settings in force (the last ones set_line accepted). */
UDK_EXPORT int udk_serial_port_get_line(struct udk_serial_port *port, struct udk_serial_line *ret);

/* ---- received bytes: device -> app ---- */

/*
 * Room in the RX ring: *ret_ptr points at *ret_len contiguous free bytes
 * (0 when full: wait for rx_space).  Write received bytes there, then
 * commit the count.  Nothing is visible to the app before the commit.
 */
UDK_EXPORT int udk_serial_rx_reserve(struct udk_serial_port *port, void **ret_ptr, size_t *ret_len);
UDK_EXPORT int udk_serial_rx_commit(struct udk_serial_port *port, size_t n);
/* Copying convenience: as many of @len bytes as fit; returns the count. */
UDK_EXPORT ssize_t udk_serial_rx_write(struct udk_serial_port *port, const void *data, size_t len);
/* Free bytes in the RX ring (a snapshot). */
UDK_EXPORT size_t udk_serial_rx_room(struct udk_serial_port *port);

/* ---- bytes to send: app -> device ---- */

/*
 * The oldest bytes waiting: *ret_ptr points at *ret_len contiguous bytes
 * (0: none; tx_ready comes when there are).  Consume what was sent.
 */
UDK_EXPORT int udk_serial_tx_peek(struct udk_serial_port *port, const void **ret_ptr, size_t *ret_len);
UDK_EXPORT int udk_serial_tx_consume(struct udk_serial_port *port, size_t n);
/* Bytes waiting in the TX ring (a snapshot). */
UDK_EXPORT size_t udk_serial_tx_pending(struct udk_serial_port *port);

/* ---- status from the device ---- */

/* HwGetModemStatus, pushed: the current CTS, DSR, DCD and RI. */
UDK_EXPORT int udk_serial_report_modem(struct udk_serial_port *port, uint32_t lines);
/* Add to the error counters (shown in the registry: UDKSerialErrors). */
UDK_EXPORT int udk_serial_report_errors(struct udk_serial_port *port, const struct udk_serial_errors *add);
/* Counters so far, and the modem lines as last reported / driven. */
UDK_EXPORT int udk_serial_port_get_errors(struct udk_serial_port *port, struct udk_serial_errors *ret);
UDK_EXPORT uint32_t udk_serial_port_get_modem(struct udk_serial_port *port);

#ifdef __cplusplus
}
#endif
#endif
