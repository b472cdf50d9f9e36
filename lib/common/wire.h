/* SPDX-License-Identifier: MIT */
/*
 * wire.h - framing of every udk socket (internal).
 *
 * All udk sockets are AF_UNIX SOCK_SEQPACKET: one datagram is one message,
 * and file descriptors travel with it (SCM_RIGHTS).  A message is
 *
 *	struct wire_header	16 bytes, little endian, hand written
 *	payload			size - 16 bytes
 *
 * The payload is either an encoded udk_value (control messages) or a packed
 * struct (the hot path of external method calls, see proto.h).  A payload
 * larger than WIRE_MAX_INLINE travels in a sealed memfd instead: the flag
 * WIRE_F_LARGE is set, the inline payload is a u64 length, and the memfd is
 * the last descriptor.  Receivers check the seals and the length before
 * reading, so a sender cannot change or shrink it underneath them.
 */
#ifndef UDK_COMMON_WIRE_H
#define UDK_COMMON_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <udk/value.h>

struct wire_header {
	uint32_t size;		/* header + inline payload */
	uint16_t op;		/* enum proto_op */
	uint16_t flags;		/* WIRE_F_* */
	uint32_t serial;	/* request id; a reply echoes it */
	int32_t status;		/* replies: 0 or a negative udk/errno code */
};

_Static_assert(sizeof(struct wire_header) == 16, "wire header is 16 bytes");

enum {
	WIRE_F_REPLY = 1 << 0,	/* answers the request with this serial */
	WIRE_F_LARGE = 1 << 1,	/* payload is in the last fd */
	WIRE_F_ONEWAY = 1 << 2,	/* no reply expected */
	WIRE_F_VALUE = 1 << 3,	/* payload is an encoded udk_value */
};

#define WIRE_HEADER_SIZE 16u
#define WIRE_MAX_INLINE (60u * 1024u)
#define WIRE_MAX_LARGE (256u << 20)
#define WIRE_MAX_FDS 8u

struct wire_msg {
	struct wire_header h;
	uint8_t *payload;	/* owned; NUL-terminated for convenience */
	size_t len;
	int fds[WIRE_MAX_FDS];	/* owned until taken with wire_msg_take_fd() */
	unsigned n_fds;
	struct udk_value *body;	/* decoded when WIRE_F_VALUE; owned */
	pid_t sender_pid;	/* SCM_CREDENTIALS, when the socket has SO_PASSCRED; else 0 */
};

void
wire_msg_init(struct wire_msg *m);
/* Free the payload and body, close every fd not taken. */
void
wire_msg_clear(struct wire_msg *m);
/* Take ownership of fd @i (-1 if absent). */
int
wire_msg_take_fd(struct wire_msg *m, unsigned i);

/* Create a connected SOCK_SEQPACKET pair, both ends close-on-exec. */
int
wire_socketpair(int sv[2]);

/*
 * Send one message.  @fds are duplicated by the kernel, the caller keeps
 * them.  Blocks until the whole message is queued (EINTR is retried); a
 * dead peer gives -EPIPE, never SIGPIPE.
 */
int
wire_send(int sock, uint16_t op, uint16_t flags, uint32_t serial, int32_t status, const void *payload,
	  size_t len, const int *fds, unsigned n_fds);

/* Same with a udk_value payload (WIRE_F_VALUE is added); @body may be NULL. */
int
wire_send_value(int sock, uint16_t op, uint16_t flags, uint32_t serial, int32_t status,
		const struct udk_value *body, const int *fds, unsigned n_fds);

/* Gathered send: header is built here, payload comes from @iov. */
struct iovec;
int
wire_sendv(int sock, uint16_t op, uint16_t flags, uint32_t serial, int32_t status, const struct iovec *iov,
	   unsigned n_iov, const int *fds, unsigned n_fds);

/*
 * Receive one message.  With @nonblock, -EAGAIN when nothing is queued.
 * Returns -ECONNRESET when the peer closed, -EBADMSG (with a reason) when
 * the message is malformed: truncated, oversized, wrong size field, too
 * many fds, a bad large-payload memfd or an undecodable value.
 */
int
wire_recv(int sock, struct wire_msg *m, bool nonblock);

/*
 * The largest payload (inline bytes, or the length a large message
 * announces) the receiver accepts for a message with header @h.
 */
typedef size_t (*wire_limit_fn)(const struct wire_header *h, void *data);

/*
 * wire_recv() with a size limit checked before anything is read or
 * decoded: a larger message gives -EMSGSIZE with a reason; m->h is kept
 * (so its serial can be answered), m->len is the size it announced, and
 * its payload, memfd and other descriptors are already dropped.  The
 * connection stays usable.  @limit NULL means WIRE_MAX_LARGE.
 */
int
wire_recv_limited(int sock, struct wire_msg *m, bool nonblock, wire_limit_fn limit, void *data);

/* The payload of a WIRE_F_VALUE message: @body encoded (malloc'ed). */
int
wire_encode_value(const struct udk_value *body, uint8_t **ret, size_t *ret_len);

/* Create a sealed memfd holding @len bytes from @p (for large payloads). */
int
memfd_from_bytes(const char *name, const void *p, size_t len);

#endif
