/* SPDX-License-Identifier: MIT */
/*
 * memory.c - memory descriptors in the driver process.
 *
 * A descriptor is a length, a direction and pages backed by a memfd: a
 * udk_buffer, a large call argument, or the app's memory.  For the app's
 * memory (CreateMemoryDescriptorFromClient) the driver asks the app during
 * the call; the app's libudk checks the ranges and answers with either the
 * udk_buffer that holds them (zero copy) or a memfd holding a copy, which
 * it copies back into its own memory before the call returns to it.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "private.h"
#include "proto.h"
#include "util.h"

struct udk_memory_descriptor {
	int refcount;
	uint32_t direction;
	uint64_t length;
	bool writable;
	int fd;			/* -1 when backed by a buffer or a cached map */
	uint64_t fd_offset;	/* where the descriptor starts in fd */
	void *map;		/* page-aligned mapping (fd) */
	size_t map_len;
	uint8_t *addr;		/* first byte */
	struct udk_buffer *buffer;
	struct shared_map *shared;
};

/*
 * Mappings of the app's udk_buffers, kept per connection so a buffer used
 * call after call is mapped (and its pages faulted in) once, not per call.
 */
struct shared_map {
	int refcount;
	struct shared_map *next;
	int fd;			/* kept for DMA mappings */
	dev_t dev;
	ino_t ino;
	uint64_t size;
	void *addr;
	bool writable;
};

#define MAP_CACHE_MAX 16

static void
shared_map_unref(struct shared_map *m)
{
	if (m && __atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
		munmap(m->addr, m->size);
		close(m->fd);
		free(m);
	}
}

void
map_cache_clear(struct shared_map **cache)
{
	while (*cache) {
		struct shared_map *m = *cache;
		*cache = m->next;
		shared_map_unref(m);
	}
}

/* The cached mapping of memfd @fd (which is consumed), or a new one. */
static int
map_cache_get(struct shared_map **cache, int fd, struct shared_map **ret)
{
	struct stat st;
	struct shared_map *m, **pp;
	size_t n = 0;

	if (fstat(fd, &st) < 0 || st.st_size <= 0) {
		close(fd);
		return -EBADF;
	}
	for (pp = cache; *pp; pp = &(*pp)->next, n++) {
		m = *pp;
		if (m->dev == st.st_dev && m->ino == st.st_ino && m->size == (uint64_t)st.st_size) {
			/* most recently used first */
			*pp = m->next;
			m->next = *cache;
			*cache = m;
			close(fd);
			__atomic_add_fetch(&m->refcount, 1, __ATOMIC_RELAXED);
			*ret = m;
			return 0;
		}
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		return -ENOMEM;
	}
	m->refcount = 2; /* the cache and the caller */
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->size = (uint64_t)st.st_size;
	m->writable = true;
	m->addr = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m->addr == MAP_FAILED) {
		m->writable = false;
		m->addr = mmap(NULL, m->size, PROT_READ, MAP_SHARED, fd, 0);
	}
	if (m->addr == MAP_FAILED) {
		int e = -errno;
		close(fd);
		free(m);
		return e;
	}
	m->fd = fd;
	m->next = *cache;
	*cache = m;
	/* drop the least recently used beyond the limit */
	for (pp = &m->next, n = 1; *pp; pp = &(*pp)->next, n++)
		if (n >= MAP_CACHE_MAX) {
			struct shared_map *old = *pp;
			*pp = NULL;
			while (old) {
				struct shared_map *next = old->next;
				shared_map_unref(old);
				old = next;
			}
			break;
		}
	*ret = m;
	return 0;
}

static int
md_alloc(uint32_t direction, uint64_t length, struct udk_memory_descriptor **ret)
{
	struct udk_memory_descriptor *md = calloc(1, sizeof(*md));

	if (!md)
		return -ENOMEM;
	md->refcount = 1;
	md->direction = direction;
	md->length = length;
	md->fd = -1;
	*ret = md;
	return 0;
}

int
md_from_fd(int fd, uint64_t offset, uint64_t len, uint32_t direction, bool writable,
	   struct udk_memory_descriptor **ret)
{
	struct udk_memory_descriptor *md;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t map_off = offset & ~((uint64_t)page - 1);
	uint64_t delta = offset - map_off;
	int prot = PROT_READ;
	int r;

	if (direction < UDK_MEMORY_DIRECTION_IN || direction > UDK_MEMORY_DIRECTION_INOUT)
		return -EINVAL;
	writable = writable && (direction & UDK_MEMORY_DIRECTION_IN);
	if (writable)
		prot |= PROT_WRITE;
	r = md_alloc(direction, len, &md);
	if (r < 0)
		return r;
	md->map_len = (size_t)(len + delta) ? (size_t)(len + delta) : 1;
	md->map = mmap(NULL, md->map_len, prot, MAP_SHARED, fd, (off_t)map_off);
	if (md->map == MAP_FAILED && writable) {
		/* sealed against writes: the peer meant read-only */
		writable = false;
		md->map = mmap(NULL, md->map_len, PROT_READ, MAP_SHARED, fd, (off_t)map_off);
	}
	if (md->map == MAP_FAILED) {
		r = -errno;
		free(md);
		return r;
	}
	md->writable = writable;
	md->fd = fd;
	md->fd_offset = offset;
	md->addr = (uint8_t *)md->map + delta;
	*ret = md;
	return 0;
}

int
md_backing(struct udk_memory_descriptor *md, int *ret_fd, uint64_t *ret_offset)
{
	if (md->fd >= 0) {
		*ret_fd = md->fd;
		*ret_offset = md->fd_offset;
	} else if (md->shared) {
		*ret_fd = md->shared->fd;
		*ret_offset = (uint64_t)(md->addr - (uint8_t *)md->shared->addr);
	} else if (md->buffer) {
		*ret_fd = udk_buffer_get_fd(md->buffer);
		*ret_offset = (uint64_t)(md->addr - (uint8_t *)udk_buffer_get_address(md->buffer));
	} else {
		return -EINVAL;
	}
	return 0;
}

uint8_t *
md_address(struct udk_memory_descriptor *md)
{
	return md->addr;
}

UDK_EXPORT struct udk_memory_descriptor *
udk_memory_descriptor_ref(struct udk_memory_descriptor *md)
{
	if (md)
		__atomic_add_fetch(&md->refcount, 1, __ATOMIC_RELAXED);
	return md;
}

UDK_EXPORT struct udk_memory_descriptor *
udk_memory_descriptor_unref(struct udk_memory_descriptor *md)
{
	if (!md || __atomic_sub_fetch(&md->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	if (md->fd >= 0) {
		munmap(md->map, md->map_len);
		close(md->fd);
	}
	shared_map_unref(md->shared);
	udk_buffer_unref(md->buffer);
	free(md);
	return NULL;
}

UDK_EXPORT uint64_t
udk_memory_descriptor_get_length(const struct udk_memory_descriptor *md)
{
	return md ? md->length : 0;
}

UDK_EXPORT uint32_t
udk_memory_descriptor_get_direction(const struct udk_memory_descriptor *md)
{
	return md ? md->direction : 0;
}

UDK_EXPORT struct udk_buffer *
udk_memory_descriptor_get_buffer(struct udk_memory_descriptor *md)
{
	return md ? md->buffer : NULL;
}

UDK_EXPORT int
udk_memory_descriptor_map(struct udk_memory_descriptor *md, void **ret_addr, uint64_t *ret_len)
{
	udk_return_val_if_fail(md && ret_addr, -EINVAL);
	*ret_addr = md->addr;
	if (ret_len)
		*ret_len = md->length;
	return 0;
}

static int
check_range(const struct udk_memory_descriptor *md, uint64_t offset, uint64_t len)
{
	if (offset > md->length || len > md->length - offset)
		return udk_set_reason(-UDK_E_BAD_ADDRESS,
				      "range %llu+%llu is outside the descriptor's %llu bytes",
				      (unsigned long long)offset, (unsigned long long)len,
				      (unsigned long long)md->length);
	return 0;
}

UDK_EXPORT int
udk_memory_descriptor_read(struct udk_memory_descriptor *md, uint64_t offset, void *buf, uint64_t len)
{
	int r;

	udk_return_val_if_fail(md && (buf || !len), -EINVAL);
	if ((r = check_range(md, offset, len)) < 0)
		return r;
	memcpy(buf, md->addr + offset, len);
	return 0;
}

UDK_EXPORT int
udk_memory_descriptor_write(struct udk_memory_descriptor *md, uint64_t offset, const void *buf, uint64_t len)
{
	int r;

	udk_return_val_if_fail(md && (buf || !len), -EINVAL);
	if (!(md->direction & UDK_MEMORY_DIRECTION_IN) || !md->writable)
		return udk_set_reason(-UDK_E_DIRECTION,
				      "the descriptor is read-only for the driver (direction OUT); create it with "
				      "UDK_MEMORY_DIRECTION_IN or INOUT to write");
	if ((r = check_range(md, offset, len)) < 0)
		return r;
	memcpy(md->addr + offset, buf, len);
	return 0;
}

UDK_EXPORT int
udk_memory_descriptor_from_buffer(struct udk_buffer *buf, uint32_t direction, struct udk_memory_descriptor **ret)
{
	struct udk_memory_descriptor *md;
	int r;

	udk_return_val_if_fail(buf && ret, -EINVAL);
	if (direction < UDK_MEMORY_DIRECTION_IN || direction > UDK_MEMORY_DIRECTION_INOUT)
		return -EINVAL;
	r = md_alloc(direction, udk_buffer_get_size(buf), &md);
	if (r < 0)
		return r;
	md->buffer = udk_buffer_ref(buf);
	md->addr = udk_buffer_get_address(buf);
	md->writable = udk_buffer_is_writable(buf) && (direction & UDK_MEMORY_DIRECTION_IN);
	*ret = md;
	return 0;
}

UDK_EXPORT int
udk_user_client_create_memory_descriptor(struct udk_service *client, uint32_t direction, uint32_t n_segments,
					 const struct udk_address_segment *segs, struct udk_memory_descriptor **ret)
{
	struct call_ctx *ctx = uc_current_call();
	struct udk_value *body, *list;
	struct wire_msg reply;
	uint64_t total = 0, offset, length;
	bool shared;
	int fd, r;

	udk_return_val_if_fail(client && segs && ret, -EINVAL);
	if (direction < UDK_MEMORY_DIRECTION_IN || direction > UDK_MEMORY_DIRECTION_INOUT)
		return udk_error_set(-EINVAL, "direction must be UDK_MEMORY_DIRECTION_IN, OUT or INOUT");
	if (n_segments == 0 || n_segments > PROTO_MAX_SEGMENTS)
		return udk_error_set(-EINVAL, "1..%u segments, not %u", PROTO_MAX_SEGMENTS, n_segments);
	for (; ctx; ctx = ctx->outer)
		if (ctx->client == client)
			break;
	if (!ctx)
		return udk_error_set(-EPERM,
				     "a driver can reach an app's memory only while serving a call from that app, on "
				     "the user client's queue");
	for (uint32_t i = 0; i < n_segments; i++) {
		if (segs[i].length == 0 || __builtin_add_overflow(total, segs[i].length, &total))
			return udk_error_set(-UDK_E_BAD_ADDRESS, "segment %u has a zero or overflowing length", i);
	}
	body = udk_value_new_dict();
	list = udk_value_new_array();
	for (uint32_t i = 0; i < n_segments; i++) {
		struct udk_value *seg = udk_value_new_array();
		udk_array_append_take(seg, udk_value_new_uint(segs[i].address));
		udk_array_append_take(seg, udk_value_new_uint(segs[i].length));
		udk_array_append_take(list, seg);
	}
	udk_dict_set_uint(body, "call", ctx->serial);
	udk_dict_set_int(body, "direction", direction);
	udk_dict_set_take(body, "segments", list);
	r = uc_request(ctx->conn, OP_UC_MEMORY, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return r;
	if (reply.h.status < 0) {
		r = reply.h.status;
		udk_set_reason_str(udk_dict_get_string(reply.body, "reason"));
		wire_msg_clear(&reply);
		return r;
	}
	offset = udk_value_get_uint(udk_dict_get(reply.body, "offset"), 0);
	length = udk_value_get_uint(udk_dict_get(reply.body, "length"), 0);
	shared = streq(udk_dict_get_string(reply.body, "kind"), "shared");
	fd = wire_msg_take_fd(&reply, 0);
	if (fd < 0 || length != total) {
		if (fd >= 0)
			close(fd);
		wire_msg_clear(&reply);
		return udk_error_set(-UDK_E_PROTOCOL, "the app answered the memory request with something unusable");
	}
	wire_msg_clear(&reply);
	{
		/* the answer must be a sealed memfd large enough */
		int seals = fcntl(fd, F_GET_SEALS);
		off_t end = lseek(fd, 0, SEEK_END);
		if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) || end < 0 ||
		    offset > (uint64_t)end || length > (uint64_t)end - offset) {
			close(fd);
			return udk_error_set(-UDK_E_PROTOCOL, "the app's memory answer is not a sealed memfd of the "
							      "right size");
		}
	}
	if (shared) {
		/* one of the app's udk_buffers: map once per connection */
		struct shared_map *m = NULL;
		struct udk_memory_descriptor *md;
		r = map_cache_get(uc_conn_map_cache(ctx->conn), fd, &m);
		if (r < 0)
			return r;
		if (offset > m->size || length > m->size - offset || (r = md_alloc(direction, length, &md)) < 0) {
			shared_map_unref(m);
			return r < 0 ? r : udk_error_set(-UDK_E_PROTOCOL, "the app's buffer is smaller than the range");
		}
		md->shared = m;
		md->addr = (uint8_t *)m->addr + offset;
		md->writable = m->writable && (direction & UDK_MEMORY_DIRECTION_IN);
		*ret = md;
		return 0;
	}
	r = md_from_fd(fd, offset, length, direction, true, ret);
	if (r < 0)
		close(fd);
	return r;
}
