/* SPDX-License-Identifier: MIT */
/*
 * serial-private.h - libudk-serial internals: the byte rings (bring.c)
 * and the pty backend's termios helpers (pty.c).
 */
#ifndef UDK_SERIAL_PRIVATE_H
#define UDK_SERIAL_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <udk/families/serial.h>

#include <pthread.h>

#include <udk/queue.h>

/* ---- bring.c: single-producer single-consumer byte rings ---- */

#define BRING_MAGIC 0x55534252u /* "RBSU" */

/*
 * The ring's header, at offset 0 of its shared memory (a memfd).  It holds
 * no pointers: the data starts at @data_offset.  @head and @tail count
 * bytes since creation (free running, wrapping at 2^32); head - tail is
 * what is waiting.  Each side re-checks that against @size before use, so
 * a peer that scribbles on the header cannot send the other out of bounds.
 */
struct bring_hdr {
	uint32_t magic;
	uint32_t size;			/* data bytes, a power of two */
	uint32_t data_offset;
	uint32_t reserved;
	_Alignas(64) _Atomic uint32_t head;	/* written by the producer only */
	_Alignas(64) _Atomic uint32_t tail;	/* written by the consumer only */
	_Alignas(64) _Atomic uint32_t consumer_waiting;	/* the consumer sleeps until head moves */
	_Atomic uint32_t producer_waiting;		/* the producer sleeps until tail moves */
};

struct bring {
	struct bring_hdr *h;
	uint8_t *data;
	uint32_t size;
	int memfd;
	size_t map_len;
};

int bring_init(struct bring *r, uint32_t size, const char *name);
void bring_fini(struct bring *r);
/* Producer: contiguous free space at the head (len 0: full). */
uint32_t bring_write_ptr(struct bring *r, uint8_t **ret);
/* Free space in total, counting the wrap. */
uint32_t bring_room(struct bring *r);
/* Producer: publish @n bytes; returns the bytes now waiting (-1: @n is more than the room). */
int64_t bring_produce(struct bring *r, uint32_t n);
/* Consumer: contiguous waiting bytes at the tail. */
uint32_t bring_read_ptr(struct bring *r, uint8_t **ret);
uint32_t bring_pending(struct bring *r);
/* Consumer: release @n bytes; -1 when @n is more than is waiting. */
int bring_consume(struct bring *r, uint32_t n);

/* ---- pty.c ---- */

/* settings buffers: PTY_TERMIOS_SIZE bytes, aligned to 8 (_Alignas(8)) */
#define PTY_TERMIOS_SIZE 128

int pty_setup(int master, const struct udk_serial_line *line);
int pty_get(int master, void *buf);
bool pty_same_line(const void *a, const void *b);
bool pty_has_extproc(const void *buf);
void pty_decode(const void *buf, struct udk_serial_line *line);
int pty_restore_line(int master, const void *good);
int pty_set_extproc(int master);
bool pty_status_is_settings(unsigned char status);
bool pty_status_is_flush(unsigned char status);
/* B-codes (CBAUD values) and rates; BOTHER / 0 when there is none. */
unsigned serial_speed_code(uint32_t baud);
uint32_t serial_code_baud(unsigned code);
/*
 * The CUSE backend's termios (struct termios2 buffers): what an app gave
 * TCSETS* (@two false: a struct termios, serial_termios_size(false) bytes)
 * or TCSETS2* as a termios2 in @out, the rates taken from the B-codes and
 * @old's where the app gave none; and the accepted settings with a
 * standard rate as its B-code (what glibc's tcgetattr can read).
 */
void serial_termios_from_app(const void *in, bool two, const void *old, void *out);
void serial_termios_normalize(void *t);
size_t serial_termios_size(bool two);

/* ---- serial.c, for the backends ---- */

struct cuse_port;

/* A port (serial.c); the backends' threads share it. */
struct udk_serial_port {
	_Atomic int refcount;
	struct udk_service *self;
	struct udk_queue *queue;
	struct udk_serial_ops ops;
	void *ctx;
	uint64_t id;			/* udkd's port id */
	char *name, *dialin, *callout, *backend;
	int master, slave, wake_fd;
	struct bring rx, tx;
	pthread_t thread;
	bool thread_started;
	_Atomic bool stopping;		/* destroy() began: no callbacks from now on */
	_Atomic int tx_notify;		/* a tx_ready block is queued */
	_Atomic int rx_space_notify;	/* an rx_space block is queued */
	_Atomic int throttled;		/* RX flow control: 1 while RTS is held low for us */
	_Atomic bool rts_cts;

	struct cuse_port *cuse;		/* the CUSE backend's state, or NULL (pty) */

	/* the I/O thread's own */
	bool rx_blocked;		/* the master took no more: wait for POLLOUT */
	bool poll_settings;		/* the app cleared EXTPROC: poll the settings */
	_Alignas(8) unsigned char seen[PTY_TERMIOS_SIZE];	/* the settings the thread last saw */

	pthread_mutex_t lock;		/* below */
	struct udk_serial_line line;	/* accepted */
	_Alignas(8) unsigned char good[PTY_TERMIOS_SIZE];	/* the termios that goes with @line */
	struct udk_serial_errors errors;
	uint32_t modem_in;		/* CTS DSR DCD RI as reported */
	uint32_t modem_out;		/* DTR RTS as driven */
	bool status_dirty;
	uint64_t status_sent_ns;
};

/* Whether the driver's ops (as long as it gave them) have callback @f. */
#define SERIAL_HAS_OP(ops, f)                                                                        \
	((ops)->struct_size >= offsetof(struct udk_serial_ops, f) + sizeof((ops)->f) && (ops)->f)

struct udk_serial_port *serial_port_ref(struct udk_serial_port *p);
/* Wake the port's thread (its eventfd). */
void serial_wake_thread(struct udk_serial_port *p);
void serial_port_unref(struct udk_serial_port *p);
/* Run @fn(@data) on the port's queue, holding a reference (the block drops it). */
void serial_queue_block(struct udk_serial_port *p, udk_block_fn fn, void *data);
/* Bytes went into the TX ring: tx_ready on the queue. */
void serial_notify_tx(struct udk_serial_port *p);
/* The RX ring's consumer moved its tail: flow control, rx_space. */
void serial_rx_consumed(struct udk_serial_port *p);
/* Registry properties of the port (takes @status). */
void serial_send_status(struct udk_serial_port *p, struct udk_value *status);
struct udk_value *serial_line_value(const struct udk_serial_line *l);
void serial_flush_status(struct udk_serial_port *p, bool force);
void serial_throttle(struct udk_serial_port *p, bool stop);

/* ---- cuse.c: the CUSE backend ---- */

/* Serve @fds (tty., cu.; udkd answered their CUSE_INIT with FUSE 7.@minor):
 * sessions and the thread.  Takes the descriptors, also on failure. */
int cuse_port_start(struct udk_serial_port *p, int fds[2], uint32_t minor, const struct udk_serial_line *initial);
/* After the thread ended (stopping set, woken, joined): nothing more. */
void cuse_port_stop(struct udk_serial_port *p);
/* From serial_port_unref: the devices go. */
void cuse_port_free(struct udk_serial_port *p);
/* The thread's body. */
void *cuse_thread(void *data);
/* serial_queue_block could not queue a CUSE block: answer its request. */
void cuse_block_failed(udk_block_fn fn, void *data);

#endif
