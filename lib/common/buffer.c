/* SPDX-License-Identifier: MIT */
/*
 * buffer.c - shared memory buffers (see include/udk/buffer.h).
 *
 * A buffer is a memfd of fixed size, sealed with F_SEAL_SHRINK|F_SEAL_GROW
 * so the peer can never truncate it under our mapping (which would raise
 * SIGBUS).  A buffer that is read-only for the peer is also sealed with
 * F_SEAL_FUTURE_WRITE once its creator has mapped it: the creator's mapping
 * stays writable, every later mapping (the peer's) can only be read-only,
 * whatever mode the peer opens the descriptor with.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <udk/buffer.h>

#include "util.h"

struct udk_buffer {
	int refcount;
	int fd;
	void *addr;
	uint64_t size;
	uint32_t flags;
	bool writable;
};

/* Registry of buffers mapped in this process, for zero-copy lookups. */
int buffer_find_range(uint64_t addr, uint64_t len, struct udk_buffer **ret, uint64_t *ret_offset);
int udk_buffer_from_fd(int fd, bool writable, struct udk_buffer **ret);
int udk_buffer_get_fd(const struct udk_buffer *b);
int udk_buffer_peer_fd(const struct udk_buffer *b);

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct udk_buffer **reg;
static size_t n_reg, cap_reg;

static void
reg_add(struct udk_buffer *b)
{
	pthread_mutex_lock(&reg_lock);
	if (n_reg == cap_reg) {
		size_t cap = cap_reg ? cap_reg * 2 : 16;
		struct udk_buffer **n = reallocarray(reg, cap, sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&reg_lock);
			return;
		}
		reg = n;
		cap_reg = cap;
	}
	reg[n_reg++] = b;
	pthread_mutex_unlock(&reg_lock);
}

static void
reg_remove(struct udk_buffer *b)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < n_reg; i++)
		if (reg[i] == b) {
			reg[i] = reg[--n_reg];
			break;
		}
	if (n_reg == 0) {
		free(reg);
		reg = NULL;
		cap_reg = 0;
	}
	pthread_mutex_unlock(&reg_lock);
}

int
buffer_find_range(uint64_t addr, uint64_t len, struct udk_buffer **ret, uint64_t *ret_offset)
{
	int r = -ENOENT;

	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < n_reg; i++) {
		struct udk_buffer *b = reg[i];
		uint64_t base = (uint64_t)(uintptr_t)b->addr;
		if (addr >= base && len <= b->size && addr - base <= b->size - len) {
			*ret = udk_buffer_ref(b);
			*ret_offset = addr - base;
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return r;
}

static int
map_buffer(struct udk_buffer *b)
{
	b->addr = mmap(NULL, b->size ? b->size : 1, b->writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
		       b->fd, 0);
	if (b->addr == MAP_FAILED) {
		b->addr = NULL;
		return -errno;
	}
	reg_add(b);
	return 0;
}

UDK_EXPORT int
udk_buffer_create(uint64_t size, uint32_t flags, struct udk_buffer **ret)
{
	struct udk_buffer *b;
	int r;

	udk_return_val_if_fail(ret && size > 0 && !(flags & ~UDK_BUFFER_PEER_READONLY), -EINVAL);
	if (size > (1ull << 46))
		return udk_set_reason(-E2BIG, "a buffer of %llu bytes is larger than udk allows (64 TiB)",
				      (unsigned long long)size);
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->refcount = 1;
	b->size = size;
	b->flags = flags;
	b->writable = true;
	b->fd = memfd_create("udk-buffer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (b->fd < 0) {
		r = -errno;
		free(b);
		return r;
	}
	if (ftruncate(b->fd, (off_t)size) < 0 || fcntl(b->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		r = -errno;
		close(b->fd);
		free(b);
		return r;
	}
	r = map_buffer(b);
	if (r >= 0 && (flags & UDK_BUFFER_PEER_READONLY) && fcntl(b->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0)
		r = -errno;
	if (r < 0) {
		if (b->addr) {
			reg_remove(b);
			munmap(b->addr, b->size);
		}
		close(b->fd);
		free(b);
		return r;
	}
	*ret = b;
	return 0;
}

int
udk_buffer_from_fd(int fd, bool writable, struct udk_buffer **ret)
{
	struct udk_buffer *b;
	struct stat st;
	int seals, r;

	if (fstat(fd, &st) < 0)
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	/* an unsealed peer buffer could shrink under us: refuse it */
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return udk_set_reason(-EBADMSG, "a shared buffer must be a memfd sealed against resizing");
	if (!S_ISREG(st.st_mode) || st.st_size <= 0)
		return udk_set_reason(-EBADMSG, "a shared buffer must be a non-empty memfd");
	if (writable && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
		writable = false;
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		writable = false;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->refcount = 1;
	b->fd = fd;
	b->size = (uint64_t)st.st_size;
	b->writable = writable;
	r = map_buffer(b);
	if (r < 0) {
		free(b);
		return r;
	}
	*ret = b;
	return 0;
}

UDK_EXPORT struct udk_buffer *
udk_buffer_ref(struct udk_buffer *b)
{
	if (b)
		__atomic_add_fetch(&b->refcount, 1, __ATOMIC_RELAXED);
	return b;
}

UDK_EXPORT struct udk_buffer *
udk_buffer_unref(struct udk_buffer *b)
{
	if (!b || __atomic_sub_fetch(&b->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	reg_remove(b);
	if (b->addr)
		munmap(b->addr, b->size ? b->size : 1);
	close(b->fd);
	free(b);
	return NULL;
}

UDK_EXPORT void *
udk_buffer_get_address(const struct udk_buffer *b)
{
	return b ? b->addr : NULL;
}

UDK_EXPORT uint64_t
udk_buffer_get_size(const struct udk_buffer *b)
{
	return b ? b->size : 0;
}

UDK_EXPORT bool
udk_buffer_is_writable(const struct udk_buffer *b)
{
	return b && b->writable;
}

int
udk_buffer_get_fd(const struct udk_buffer *b)
{
	return b ? b->fd : -1;
}

int
udk_buffer_peer_fd(const struct udk_buffer *b)
{
	int fd;

	if (!b)
		return -EINVAL;
	fd = fcntl(b->fd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}
