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

#endif
