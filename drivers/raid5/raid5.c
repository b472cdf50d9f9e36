/* SPDX-License-Identifier: MIT */
/*
 * raid5 - a RAID-5 driver composing N block devices into one (the seed's
 * 8-disk enclosure).  Its personality names the members by identifier
 * (UDKBlockMembers, in slot order) and spares (UDKBlockSpares); the block
 * family opens them for it through udkd.
 *
 * Layout and metadata: raid5.h (left-symmetric, superblock per member).
 *
 * Writes: a full stripe computes the parity from the new data alone; a
 * partial stripe reads the old data and parity it touches (read-modify-
 * write); with a member missing, the stripe's range is read from every
 * member left, the missing part reconstructed, the new data applied and
 * the parity recomputed (reconstruct-write).  Each stripe is locked while
 * an operation runs on it.  Data moves between the client's memory and
 * the members directly (the client's buffer is registered with them);
 * parity and reconstruction use the driver's scratch memory.
 *
 * Failures: a member that fails (its driver dies, it is unplugged) makes
 * the array degraded: reads of its data are reconstructed.  A write in
 * flight then succeeds only if every other member took its part (the
 * parity covers the lost one), else it is reported failed: never torn
 * silently.  A second loss fails the array: it turns read-only, writes are
 * refused with EROFS and the state says which members are gone.  A
 * replacement (the member's identifier back, blank, or a spare) is rebuilt
 * stripe by stripe, with its progress in UDKRAIDRebuildProgress.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/driver.h>
#include <udk/families/block.h>
#include <udk/userclient.h>

#include "raid5.h"

#define MAX_N RAID5_MAX_MEMBERS
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define SLOTS 32			/* stripe operations at once */
#define CLIENT_BUFS 16			/* client buffers registered per member */
#define ASSEMBLE_GRACE_MS 3000
#define LOCKS 256			/* stripes locked at once; more operations wait */

enum mstate { M_MISSING, M_IN_SYNC, M_REBUILDING, M_FAILED };
enum astate { A_ASSEMBLING, A_OPTIMAL, A_DEGRADED, A_FAILED };

struct client_buf {
	struct udk_memory_descriptor *md;	/* reference */
	uint32_t id;
	uint64_t use;
};

struct member {
	unsigned slot;
	char id[96];			/* the identifier in use (the slot's, or a spare's) */
	struct udk_block_client *bc;
	enum mstate state;
	uint64_t rebuilt;		/* stripes rebuilt, while M_REBUILDING */
	uint32_t scratch_id;
	struct client_buf cbuf[CLIENT_BUFS];
	char why[160];
};

struct req;

struct sop {
	struct raid *r;
	struct req *req;
	uint64_t stripe;
	bool write;
	uint32_t a[MAX_N], b[MAX_N];	/* per data chunk: the blocks touched in the chunk, [a, b) */
	uint64_t coff[MAX_N];		/* where data chunk d's first touched block is in the client buffer */
	uint32_t lo, hi;		/* the union of the touched ranges */
	int slot;
	uint8_t *scratch;		/* N regions of a chunk each */
	int pending;
	int status;
	char why[200];
	int phase;
	unsigned missing;		/* the member not used (MAX_N: none) */
	uint32_t mask_failed;		/* members whose part failed in this phase */
	struct sop *next;		/* waiting for the stripe or a slot */
};

struct req {
	struct udk_block_request *rq;
	uint8_t *buf;			/* the client's bytes, mapped */
	struct udk_memory_descriptor *md;
	uint64_t md_off;
	int pending;
	int status;
	char why[200];
	uint32_t cid[MAX_N];		/* the client buffer's id at each member */
};

struct stripe_lock {
	uint64_t stripe;
	bool held;
	struct sop *waiters, *tail;
};

struct raid {
	struct udk_service *self;
	char name[64];
	uint64_t array_id;
	unsigned n;
	char slot_id[MAX_N][96];
	char spares[8][96];
	unsigned n_spares;
	uint32_t chunk_kib;
	bool assume_clean;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct member m[MAX_N];
	enum astate state;
	uint32_t bs;
	uint64_t chunk_blocks, chunk_bytes, stripes, data_off, array_blocks;
	uint64_t events;
	struct udk_block_device *dev;
	int rebuild_slot;		/* -1: none */
	bool rebuild_running, resync;
	unsigned progress;

	struct udk_buffer *scratch;
	struct udk_memory_descriptor *scratch_md;
	uint8_t *scratch_p;
	uint64_t slot_bytes;
	uint64_t slot_free;		/* bitmap of SLOTS (slot SLOTS: metadata and rebuild) */
	struct sop *slot_waiters, *slot_tail;

	struct stripe_lock locks[LOCKS];
	struct sop *lock_overflow, *lock_overflow_tail;	/* waiting for a free lock entry */

	struct udk_block_client *grave[64];	/* clients of members that failed */
	unsigned n_grave;
	pthread_t assembler, rebuilder;
	bool quit;
	bool rebuilder_joinable;
};

static struct raid *the_raid;

/* ---- XOR ---- */

typedef uint64_t v4 __attribute__((vector_size(32), aligned(8)));

static void
xor_into(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i = 0;

	for (; i + 128 <= n; i += 128) {
		v4 a0, a1, a2, a3, b0, b1, b2, b3;
		memcpy(&a0, dst + i, 32);
		memcpy(&a1, dst + i + 32, 32);
		memcpy(&a2, dst + i + 64, 32);
		memcpy(&a3, dst + i + 96, 32);
		memcpy(&b0, src + i, 32);
		memcpy(&b1, src + i + 32, 32);
		memcpy(&b2, src + i + 64, 32);
		memcpy(&b3, src + i + 96, 32);
		a0 ^= b0;
		a1 ^= b1;
		a2 ^= b2;
		a3 ^= b3;
		memcpy(dst + i, &a0, 32);
		memcpy(dst + i + 32, &a1, 32);
		memcpy(dst + i + 64, &a2, 32);
		memcpy(dst + i + 96, &a3, 32);
	}
	for (; i < n; i++)
		dst[i] ^= src[i];
}

/* ---- state ---- */

static const char *
mstate_name(enum mstate s)
{
	static const char *const names[] = { "missing", "in sync", "rebuilding", "failed" };
	return names[s];
}

static unsigned
count_usable(struct raid *r)
{
	unsigned k = 0;

	for (unsigned i = 0; i < r->n; i++)
		k += r->m[i].state == M_IN_SYNC;
	return k;
}

/* Under lock: the state sentence and the service properties. */
static struct udk_value *
describe(struct raid *r, char *state, size_t cap)
{
	struct udk_value *p = udk_value_new_dict(), *list = udk_value_new_array();
	size_t at = 0;

	switch (r->state) {
	case A_ASSEMBLING:
		snprintf(state, cap, "assembling");
		break;
	case A_OPTIMAL:
		snprintf(state, cap, r->resync ? "optimal, computing parity: %u%%" : "optimal", r->progress);
		break;
	case A_DEGRADED:
		at = (size_t)snprintf(state, cap, "degraded:");
		for (unsigned i = 0; i < r->n && at < cap; i++)
			if (r->m[i].state == M_MISSING || r->m[i].state == M_FAILED)
				at += (size_t)snprintf(state + at, cap - at, " member %u (%s) is %s%s%s;", i, r->m[i].id,
						       mstate_name(r->m[i].state), r->m[i].why[0] ? ": " : "",
						       r->m[i].why);
			else if (r->m[i].state == M_REBUILDING)
				at += (size_t)snprintf(state + at, cap - at, " rebuilding member %u (%s): %u%%;", i, r->m[i].id,
						       r->progress);
		if (at < cap)
			snprintf(state + at, cap - at, " reads of the lost member's data are reconstructed from parity");
		break;
	case A_FAILED:
		at = (size_t)snprintf(state, cap, "failed:");
		for (unsigned i = 0; i < r->n && at < cap; i++)
			if (r->m[i].state != M_IN_SYNC)
				at += (size_t)snprintf(state + at, cap - at, " member %u (%s) is %s;", i, r->m[i].id,
						       mstate_name(r->m[i].state));
		if (at < cap)
			snprintf(state + at, cap - at,
				 " two members are gone, so the array is read-only: writes are refused, and reads of data "
				 "on the lost members fail; data on the others still reads");
		break;
	}
	for (unsigned i = 0; i < r->n; i++) {
		struct udk_value *e = udk_value_new_dict();
		udk_dict_set_int(e, "slot", i);
		udk_dict_set_string(e, "identifier", r->m[i].id);
		udk_dict_set_string(e, "state", mstate_name(r->m[i].state));
		udk_array_append_take(list, e);
	}
	udk_dict_set_string(p, "UDKRAIDState", state);
	udk_dict_set_int(p, "UDKRAIDRebuildProgress", r->rebuild_running || r->resync ? (int64_t)r->progress : 100);
	udk_dict_set_take(p, "UDKRAIDMembers", list);
	udk_dict_set_int(p, "UDKRAIDChunkBytes", (int64_t)r->chunk_bytes);
	return p;
}

static void
publish_state(struct raid *r)
{
	char state[1024];
	struct udk_value *p;
	struct udk_block_info info;
	struct udk_block_device *dev;

	pthread_mutex_lock(&r->lock);
	p = describe(r, state, sizeof(state));
	dev = r->dev;
	memset(&info, 0, sizeof(info));
	info.block_size = r->bs;
	info.block_count = r->array_blocks;
	info.max_blocks = (uint32_t)(r->chunk_blocks * (r->n - 1) * 4);
	info.flags = UDK_BLOCK_CAN_FLUSH | (r->state == A_FAILED ? UDK_BLOCK_READ_ONLY : 0);
	snprintf(info.identifier, sizeof(info.identifier), "raid5:%s", r->name);
	snprintf(info.description, sizeof(info.description), "RAID-5 %.20s of %u members: %.40s", r->name, r->n, state);
	pthread_mutex_unlock(&r->lock);
	if (dev)
		udk_block_device_update(dev, &info, p);
	udk_service_set_properties(r->self, p);
	udk_value_unref(p);
}

/* ---- superblocks ---- */

static void
sb_fill(struct raid *r, unsigned slot, struct raid5_superblock *sb)
{
	memset(sb, 0, sizeof(*sb));
	memcpy(sb->magic, RAID5_MAGIC, 8);
	sb->version = RAID5_VERSION;
	sb->slot = slot;
	sb->members = r->n;
	sb->chunk_blocks = (uint32_t)r->chunk_blocks;
	sb->block_size = r->bs;
	sb->state = r->m[slot].state == M_REBUILDING ? RAID5_SB_REBUILDING : RAID5_SB_IN_SYNC;
	sb->array_id = r->array_id;
	sb->events = r->events;
	sb->stripes = r->stripes;
	sb->rebuilt_stripes = r->m[slot].rebuilt;
	snprintf(sb->name, sizeof(sb->name), "%s", r->name);
	sb->checksum = raid5_hash(sb, offsetof(struct raid5_superblock, checksum));
}

/* The metadata region of the scratch memory (slot SLOTS), used under r->lock
 * by one writer at a time. */
static uint8_t *
meta_area(struct raid *r)
{
	return r->scratch_p + (uint64_t)SLOTS * r->slot_bytes;
}

static uint64_t
meta_offset(struct raid *r)
{
	return (uint64_t)SLOTS * r->slot_bytes;
}

/* Write the superblocks of the members in use (synchronously, lock held by caller not). */
static void
write_superblocks(struct raid *r)
{
	static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&meta_lock);
	pthread_mutex_lock(&r->lock);
	r->events++;
	for (unsigned i = 0; i < r->n; i++) {
		struct udk_block_client *bc = r->m[i].bc;
		struct raid5_superblock sb;
		if (!bc || (r->m[i].state != M_IN_SYNC && r->m[i].state != M_REBUILDING))
			continue;
		sb_fill(r, i, &sb);
		memset(meta_area(r), 0, 4096);
		memcpy(meta_area(r), &sb, sizeof(sb));
		pthread_mutex_unlock(&r->lock);
		if (udk_block_client_io(bc, UDK_BLOCK_WRITE, 0, 4096 / r->bs, r->m[i].scratch_id, meta_offset(r)) < 0)
			udk_log_warning("RAID %s: cannot write the superblock of member %u (%s): %s", r->name, i,
					r->m[i].id, udk_error_reason());
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_unlock(&meta_lock);
}

/* ---- member failure ---- */

static void
member_failed(struct raid *r, unsigned i, const char *why)
{
	bool changed = false;

	pthread_mutex_lock(&r->lock);
	if (r->m[i].state == M_IN_SYNC || r->m[i].state == M_REBUILDING) {
		if (r->m[i].state == M_REBUILDING)
			r->rebuild_slot = -1;
		r->m[i].state = M_FAILED;
		snprintf(r->m[i].why, sizeof(r->m[i].why), "%s", why);
		if (r->state != A_ASSEMBLING)
			r->state = count_usable(r) >= r->n - 1 ? (count_usable(r) == r->n ? A_OPTIMAL : A_DEGRADED) : A_FAILED;
		changed = true;
		udk_log_warning("RAID %s: member %u (%s) failed: %s; the array is now %s", r->name, i, r->m[i].id, why,
				r->state == A_FAILED ? "failed (read-only)" : "degraded");
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (changed)
		publish_state(r);
}

/* Under lock: may data of member @i in @stripe be read from it? */
static bool
readable(struct raid *r, unsigned i, uint64_t stripe)
{
	return r->m[i].bc && (r->m[i].state == M_IN_SYNC || (r->m[i].state == M_REBUILDING && stripe < r->m[i].rebuilt));
}

/* Under lock: should writes of @stripe go to member @i? */
static bool
writable(struct raid *r, unsigned i, uint64_t stripe)
{
	(void)stripe;
	return r->m[i].bc && (r->m[i].state == M_IN_SYNC || r->m[i].state == M_REBUILDING);
}

/* ---- stripe locks and scratch slots ---- */

static void sop_run(struct sop *s);

static bool
stripe_try_lock(struct raid *r, struct sop *s)
{
	struct stripe_lock *free_l = NULL;

	for (unsigned i = 0; i < LOCKS; i++) {
		struct stripe_lock *l = &r->locks[i];
		if (l->held && l->stripe == s->stripe) {
			s->next = NULL;
			if (l->tail)
				l->tail->next = s;
			else
				l->waiters = s;
			l->tail = s;
			return false;
		}
		if (!l->held && !free_l)
			free_l = l;
	}
	if (!free_l) {
		/* every entry in use: wait for one (stripe_unlock hands it back, unlocked) */
		s->next = NULL;
		if (r->lock_overflow_tail)
			r->lock_overflow_tail->next = s;
		else
			r->lock_overflow = s;
		r->lock_overflow_tail = s;
		return false;
	}
	free_l->held = true;
	free_l->stripe = s->stripe;
	free_l->waiters = free_l->tail = NULL;
	return true;
}

/*
 * Release @stripe; returns the next operation to run: one waiting for this
 * stripe (it holds the lock now), or one waiting for a free entry (it tries
 * again), or NULL.
 */
static struct sop *
stripe_unlock(struct raid *r, uint64_t stripe)
{
	for (unsigned i = 0; i < LOCKS; i++) {
		struct stripe_lock *l = &r->locks[i];
		if (l->held && l->stripe == stripe) {
			struct sop *next = l->waiters;
			if (next) {
				l->waiters = next->next;
				if (!l->waiters)
					l->tail = NULL;
				return next;
			}
			l->held = false;
			next = r->lock_overflow;
			if (next) {
				r->lock_overflow = next->next;
				if (!r->lock_overflow)
					r->lock_overflow_tail = NULL;
				next->phase = 0; /* it locks its stripe again */
			}
			return next;
		}
	}
	return NULL;
}

/* ---- member I/O ---- */

static void sop_step(struct sop *s);

struct mctx {
	struct sop *s;
	unsigned member;
};

static void
mio_done(struct udk_block_client *bc, int status, const char *reason, void *ctx)
{
	struct mctx *mc = ctx;
	struct sop *s = mc->s;
	struct raid *r = s->r;
	unsigned who = mc->member;
	bool last;

	(void)bc;
	free(mc);
	if (status < 0)
		member_failed(r, who, reason ? reason : udk_strerror(status));
	pthread_mutex_lock(&r->lock);
	if (status < 0)
		s->mask_failed |= 1u << who;
	last = --s->pending == 0;
	pthread_mutex_unlock(&r->lock);
	if (last)
		sop_step(s);
}

struct plan {
	unsigned member;
	enum udk_block_op op;
	uint64_t lba;
	uint32_t blocks;
	bool client;
	uint64_t off;
};

/* Start @n member requests of @s (phase set by the caller); with none, step at once. */
static void
issue(struct sop *s, const struct plan *pl, unsigned n)
{
	struct raid *r = s->r;
	bool last;

	pthread_mutex_lock(&r->lock);
	s->mask_failed = 0;
	s->pending = (int)n + 1; /* one for the issuing, so the last completion cannot end @s under us */
	pthread_mutex_unlock(&r->lock);
	for (unsigned k = 0; k < n; k++) {
		struct udk_block_client *bc;
		struct mctx *mc = malloc(sizeof(*mc));
		uint32_t id;
		int rc;
		pthread_mutex_lock(&r->lock);
		bc = r->m[pl[k].member].bc;
		id = pl[k].client ? s->req->cid[pl[k].member] : r->m[pl[k].member].scratch_id;
		pthread_mutex_unlock(&r->lock);
		if (!mc)
			abort(); /* a few bytes: nothing sensible to do without them */
		mc->s = s;
		mc->member = pl[k].member;

		rc = bc ? udk_block_client_submit(bc, pl[k].op, r->data_off + pl[k].lba, pl[k].blocks, id, pl[k].off,
						  mio_done, mc)
			: udk_error_set(-UDK_E_HARDWARE_GONE, "the member is gone");
		if (rc < 0)
			mio_done(bc, rc, udk_error_reason(), mc);
	}
	pthread_mutex_lock(&r->lock);
	last = --s->pending == 0;
	pthread_mutex_unlock(&r->lock);
	if (last)
		sop_step(s);
}

/* ---- stripe operations ---- */

static void req_sop_done(struct req *q, int status, const char *why);

static uint8_t *
region(struct sop *s, unsigned member)
{
	return s->scratch + (uint64_t)member * s->r->chunk_bytes;
}

static void
sop_finish(struct sop *s, int status, const char *why)
{
	struct raid *r = s->r;
	struct sop *next, *waiter = NULL;
	struct req *q = s->req;

	pthread_mutex_lock(&r->lock);
	next = stripe_unlock(r, s->stripe);
	if (s->slot >= 0) {
		r->slot_free |= 1ull << s->slot;
		waiter = r->slot_waiters;
		if (waiter) {
			r->slot_waiters = waiter->next;
			if (!r->slot_waiters)
				r->slot_tail = NULL;
		}
	}
	pthread_mutex_unlock(&r->lock);
	free(s);
	req_sop_done(q, status, why);
	if (next)
		sop_run(next);
	if (waiter)
		sop_run(waiter);
}

/* Plan the I/O of @s and start it.  Runs with the stripe locked and a slot held. */
static void
sop_start(struct sop *s)
{
	struct raid *r = s->r;
	unsigned n = r->n, p = raid5_parity_member(s->stripe, n), lost = MAX_N, lost2 = MAX_N, k = 0;
	uint64_t base = s->stripe * r->chunk_blocks, slot_off = (uint64_t)s->slot * r->slot_bytes;
	bool full = s->write, failed_array;
	struct plan pl[MAX_N + 1];
	char why[240];

	for (unsigned d = 0; d < n - 1; d++)
		if (s->a[d] != 0 || s->b[d] != r->chunk_blocks)
			full = false; /* a full stripe overwrites every data chunk whole */
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < n; i++)
		if (!readable(r, i, s->stripe)) {
			if (lost == MAX_N)
				lost = i;
			else if (lost2 == MAX_N)
				lost2 = i;
		}
	failed_array = r->state == A_FAILED;
	if (lost2 != MAX_N)
		snprintf(why, sizeof(why), "members %u (%s) and %u (%s) are gone: the array has failed and is read-only, "
			 "and the data of stripe %llu on them is lost", lost, r->m[lost].id, lost2, r->m[lost2].id,
			 (unsigned long long)s->stripe);
	else
		snprintf(why, sizeof(why), "the array has failed (two members are gone) and is read-only");
	pthread_mutex_unlock(&r->lock);
	if (s->write && (failed_array || lost2 != MAX_N)) {
		sop_finish(s, -EROFS, why);
		return;
	}
	if (!s->write && lost2 != MAX_N) {
		for (unsigned d = 0; d < n - 1; d++) {
			unsigned i = raid5_data_member(s->stripe, d, n);
			if (s->b[d] > s->a[d] && (i == lost || i == lost2)) {
				sop_finish(s, -EIO, why);
				return;
			}
		}
		lost = MAX_N; /* what it reads is on members that are there */
	}
	s->missing = lost;
	if (!s->write) {
		bool reconstruct = false;
		for (unsigned d = 0; d < n - 1; d++)
			if (s->b[d] > s->a[d] && raid5_data_member(s->stripe, d, n) == lost)
				reconstruct = true;
		if (!reconstruct) {
			/* straight into the client's buffer */
			s->phase = 2;
			for (unsigned d = 0; d < n - 1; d++)
				if (s->b[d] > s->a[d])
					pl[k++] = (struct plan){ raid5_data_member(s->stripe, d, n), UDK_BLOCK_READ, base + s->a[d],
								 s->b[d] - s->a[d], true, s->req->md_off + s->coff[d] };
		} else {
			/* every other member's range, to rebuild the lost one's */
			s->phase = 1;
			for (unsigned i = 0; i < n; i++)
				if (i != lost)
					pl[k++] = (struct plan){ i, UDK_BLOCK_READ, base + s->lo, s->hi - s->lo, false,
								 slot_off + (uint64_t)i * r->chunk_bytes + (uint64_t)s->lo * r->bs };
		}
	} else if (lost == MAX_N && full) {
		/* a full stripe: the parity from the new data alone, then every member's chunk */
		uint8_t *par = region(s, p);
		memcpy(par, s->req->buf + s->coff[0], r->chunk_bytes);
		for (unsigned d = 1; d < n - 1; d++)
			xor_into(par, s->req->buf + s->coff[d], r->chunk_bytes);
		s->phase = 3;
		for (unsigned d = 0; d < n - 1; d++)
			pl[k++] = (struct plan){ raid5_data_member(s->stripe, d, n), UDK_BLOCK_WRITE, base,
						 (uint32_t)r->chunk_blocks, true, s->req->md_off + s->coff[d] };
		pl[k++] = (struct plan){ p, UDK_BLOCK_WRITE, base, (uint32_t)r->chunk_blocks, false,
					 slot_off + (uint64_t)p * r->chunk_bytes };
	} else if (lost == MAX_N) {
		/* read-modify-write: the old data it replaces and the old parity */
		s->phase = 1;
		for (unsigned d = 0; d < n - 1; d++)
			if (s->b[d] > s->a[d]) {
				unsigned i = raid5_data_member(s->stripe, d, n);
				pl[k++] = (struct plan){ i, UDK_BLOCK_READ, base + s->a[d], s->b[d] - s->a[d], false,
							 slot_off + (uint64_t)i * r->chunk_bytes + (uint64_t)s->a[d] * r->bs };
			}
		pl[k++] = (struct plan){ p, UDK_BLOCK_READ, base + s->lo, s->hi - s->lo, false,
					 slot_off + (uint64_t)p * r->chunk_bytes + (uint64_t)s->lo * r->bs };
	} else {
		/* reconstruct-write: the range from every member left */
		s->phase = 1;
		for (unsigned i = 0; i < n; i++)
			if (i != lost)
				pl[k++] = (struct plan){ i, UDK_BLOCK_READ, base + s->lo, s->hi - s->lo, false,
							 slot_off + (uint64_t)i * r->chunk_bytes + (uint64_t)s->lo * r->bs };
	}
	issue(s, pl, k);
}

/* Every request of the current phase of @s ended. */
static void
sop_step(struct sop *s)
{
	struct raid *r = s->r;
	unsigned n = r->n, p = raid5_parity_member(s->stripe, n);
	uint64_t base = s->stripe * r->chunk_blocks, off = (uint64_t)s->lo * r->bs, len = (uint64_t)(s->hi - s->lo) * r->bs;
	uint32_t failed;

	pthread_mutex_lock(&r->lock);
	failed = s->mask_failed;
	pthread_mutex_unlock(&r->lock);
	if (s->phase == 2) {
		if (failed) {
			/* a member died under the read: plan again without it */
			sop_start(s);
			return;
		}
		sop_finish(s, 0, NULL);
		return;
	}
	if (s->phase == 3) {
		/* the writes: with one member lost during them, the others hold the new data and the parity that
		 * covers it; more, and the write is reported failed */
		unsigned nf = (unsigned)__builtin_popcount(failed);
		if (nf == 0 || (nf == 1 && s->missing == MAX_N))
			sop_finish(s, 0, NULL);
		else
			sop_finish(s, -EIO,
				   "members failed during the write: the stripe is not whole on enough members, so the write "
				   "is reported failed (its blocks hold old or new data)");
		return;
	}
	/* phase 1: the reads ended */
	if (failed) {
		sop_start(s); /* plan again with what is left */
		return;
	}
	if (!s->write) {
		/* reconstruct the lost member's data into the client's buffer */
		unsigned lost = s->missing;
		uint8_t *rec = region(s, lost) + off;
		memset(rec, 0, len);
		for (unsigned i = 0; i < n; i++)
			if (i != lost)
				xor_into(rec, region(s, i) + off, len);
		for (unsigned d = 0; d < n - 1; d++)
			if (s->b[d] > s->a[d]) {
				unsigned i = raid5_data_member(s->stripe, d, n);
				if (i == lost) {
					memcpy(s->req->buf + s->coff[d], region(s, i) + (uint64_t)s->a[d] * r->bs,
					       (uint64_t)(s->b[d] - s->a[d]) * r->bs);
				} else {
					memcpy(s->req->buf + s->coff[d], region(s, i) + (uint64_t)s->a[d] * r->bs,
					       (uint64_t)(s->b[d] - s->a[d]) * r->bs);
				}
			}
		sop_finish(s, 0, NULL);
		return;
	}
	if (s->missing == MAX_N) {
		/* read-modify-write: parity ^= old ^ new over each touched range */
		uint8_t *par = region(s, p);
		for (unsigned d = 0; d < n - 1; d++)
			if (s->b[d] > s->a[d]) {
				unsigned i = raid5_data_member(s->stripe, d, n);
				uint64_t o = (uint64_t)s->a[d] * r->bs, l = (uint64_t)(s->b[d] - s->a[d]) * r->bs;
				xor_into(par + o, region(s, i) + o, l);
				xor_into(par + o, s->req->buf + s->coff[d], l);
			}
	} else {
		/* reconstruct the lost member's range, apply the new data, recompute the parity */
		unsigned lost = s->missing;
		uint8_t *par = region(s, p);
		memset(region(s, lost) + off, 0, len);
		for (unsigned i = 0; i < n; i++)
			if (i != lost)
				xor_into(region(s, lost) + off, region(s, i) + off, len);
		for (unsigned d = 0; d < n - 1; d++)
			if (s->b[d] > s->a[d]) {
				unsigned i = raid5_data_member(s->stripe, d, n);
				memcpy(region(s, i) + (uint64_t)s->a[d] * r->bs, s->req->buf + s->coff[d],
				       (uint64_t)(s->b[d] - s->a[d]) * r->bs);
			}
		memset(par + off, 0, len);
		for (unsigned d = 0; d < n - 1; d++)
			xor_into(par + off, region(s, raid5_data_member(s->stripe, d, n)) + off, len);
	}
	/* the writes */
	{
		struct plan pl[MAX_N + 1];
		unsigned k = 0;
		pthread_mutex_lock(&r->lock);
		for (unsigned d = 0; d < n - 1; d++) {
			unsigned i = raid5_data_member(s->stripe, d, n);
			if (s->b[d] <= s->a[d] || !writable(r, i, s->stripe) || i == s->missing)
				continue;
			pl[k++] = (struct plan){ i, UDK_BLOCK_WRITE, base + s->a[d], s->b[d] - s->a[d], true,
						 s->req->md_off + s->coff[d] };
		}
		if (writable(r, p, s->stripe) && p != s->missing)
			pl[k++] = (struct plan){ p, UDK_BLOCK_WRITE, base + s->lo, s->hi - s->lo, false,
						 (uint64_t)s->slot * r->slot_bytes + (uint64_t)p * r->chunk_bytes + off };
		pthread_mutex_unlock(&r->lock);
		s->phase = 3;
		issue(s, pl, k);
	}
}

/* Take the stripe lock (stage 0) and a scratch slot (stage 1), then start. */
static void
sop_run(struct sop *s)
{
	struct raid *r = s->r;

	pthread_mutex_lock(&r->lock);
	if (s->phase == 0) {
		s->phase = -1; /* holds (or waits for) the stripe */
		if (!stripe_try_lock(r, s)) {
			pthread_mutex_unlock(&r->lock);
			return; /* stripe_unlock hands it back */
		}
	}
	if (s->slot < 0) {
		if (!r->slot_free) {
			s->next = NULL;
			if (r->slot_tail)
				r->slot_tail->next = s;
			else
				r->slot_waiters = s;
			r->slot_tail = s;
			pthread_mutex_unlock(&r->lock);
			return;
		}
		s->slot = __builtin_ctzll(r->slot_free);
		r->slot_free &= ~(1ull << s->slot);
		s->scratch = r->scratch_p + (uint64_t)s->slot * r->slot_bytes;
	}
	pthread_mutex_unlock(&r->lock);
	sop_start(s);
}

static void
req_sop_done(struct req *q, int status, const char *why)
{
	struct raid *r = the_raid;
	bool last;

	pthread_mutex_lock(&r->lock);
	if (status < 0 && q->status >= 0) {
		q->status = status;
		snprintf(q->why, sizeof(q->why), "%s", why ? why : udk_strerror(status));
	}
	last = --q->pending == 0;
	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	if (q->status < 0)
		udk_block_request_complete(q->rq, q->status, "%s", q->why);
	else
		udk_block_request_complete(q->rq, 0, NULL);
	udk_memory_descriptor_unref(q->md);
	free(q);
}

/* The client's buffer registered with member @i (cached); 0 on success. */
static int
client_id(struct raid *r, unsigned i, struct udk_memory_descriptor *md, uint32_t *ret)
{
	struct member *m = &r->m[i];
	struct client_buf *slot = NULL;
	struct udk_block_client *bc;
	uint64_t oldest = UINT64_MAX;
	static uint64_t clock_;
	uint32_t id;
	int rc;

	pthread_mutex_lock(&r->lock);
	for (unsigned k = 0; k < CLIENT_BUFS; k++)
		if (m->cbuf[k].md == md) {
			m->cbuf[k].use = ++clock_;
			*ret = m->cbuf[k].id;
			pthread_mutex_unlock(&r->lock);
			return 0;
		}
	bc = m->bc;
	pthread_mutex_unlock(&r->lock);
	if (!bc)
		return -UDK_E_HARDWARE_GONE;
	rc = udk_block_client_register_memory(bc, md, &id);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&r->lock);
	for (unsigned k = 0; k < CLIENT_BUFS; k++)
		if (m->cbuf[k].use < oldest) {
			oldest = m->cbuf[k].use;
			slot = &m->cbuf[k];
		}
	if (slot->md) {
		/* forget the least recently used: the device's request queue is in order, so no request that
		 * names it is still to come from this thread's point of view */
		udk_block_client_unregister_memory(bc, slot->id);
		udk_memory_descriptor_unref(slot->md);
	}
	slot->md = udk_memory_descriptor_ref(md);
	slot->id = id;
	slot->use = ++clock_;
	*ret = id;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void
submit(struct udk_block_device *dev, struct udk_block_request *rq)
{
	struct raid *r = udk_block_device_get_context(dev);
	enum udk_block_op op = udk_block_request_get_op(rq);
	uint64_t lba = udk_block_request_get_lba(rq), end;
	uint32_t blocks = udk_block_request_get_blocks(rq);
	unsigned n = r->n;
	struct req *q;
	struct sop *list = NULL, **tail = &list;

	if (op == UDK_BLOCK_FLUSH) {
		int rc = 0;
		for (unsigned i = 0; i < n && rc >= 0; i++) {
			struct udk_block_client *bc;
			pthread_mutex_lock(&r->lock);
			bc = writable(r, i, 0) ? r->m[i].bc : NULL;
			pthread_mutex_unlock(&r->lock);
			if (bc && udk_block_client_flush(bc) < 0)
				member_failed(r, i, udk_error_reason() ? udk_error_reason() : "flush failed");
		}
		udk_block_request_complete(rq, rc, NULL);
		return;
	}
	if (op == UDK_BLOCK_UNMAP) {
		udk_block_request_complete(rq, -UDK_E_UNSUPPORTED, "the RAID-5 array does not unmap");
		return;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		udk_block_request_complete(rq, -ENOMEM, "out of memory");
		return;
	}
	q->rq = rq;
	q->md = udk_memory_descriptor_ref(udk_block_request_get_memory(rq, &q->md_off));
	q->buf = udk_block_request_get_buffer(rq);
	for (unsigned i = 0; i < n; i++) {
		bool in_use;
		pthread_mutex_lock(&r->lock);
		in_use = r->m[i].bc && r->m[i].state != M_FAILED && r->m[i].state != M_MISSING;
		pthread_mutex_unlock(&r->lock);
		if (in_use && client_id(r, i, q->md, &q->cid[i]) < 0)
			member_failed(r, i, udk_error_reason() ? udk_error_reason() : "cannot register memory");
	}
	/* split into stripe operations */
	end = lba + blocks;
	q->pending = 1;
	for (uint64_t at = lba; at < end;) {
		uint64_t chunk = at / r->chunk_blocks, stripe = chunk / (n - 1);
		uint64_t stripe_end = (stripe + 1) * (n - 1) * r->chunk_blocks;
		struct sop *s = calloc(1, sizeof(*s));
		if (!s)
			break;
		s->r = r;
		s->req = q;
		s->stripe = stripe;
		s->write = op == UDK_BLOCK_WRITE;
		s->slot = -1;
		s->lo = UINT32_MAX;
		for (uint64_t x = at; x < end && x < stripe_end;) {
			uint64_t c = x / r->chunk_blocks;
			unsigned d = (unsigned)(c % (n - 1));
			uint64_t in = x - c * r->chunk_blocks, k = MIN(end - x, r->chunk_blocks - in);
			s->a[d] = (uint32_t)in;
			s->b[d] = (uint32_t)(in + k);
			s->coff[d] = (x - lba) * r->bs;
			if (s->a[d] < s->lo)
				s->lo = s->a[d];
			if (s->b[d] > s->hi)
				s->hi = s->b[d];
			x += k;
		}
		at = MIN(end, stripe_end);
		q->pending++;
		*tail = s;
		tail = &s->next;
	}
	while (list) {
		struct sop *s = list;
		list = s->next;
		s->next = NULL;
		sop_run(s);
	}
	req_sop_done(q, 0, NULL);
}

static void
memory_released(struct udk_block_device *dev, struct udk_memory_descriptor *md)
{
	struct raid *r = udk_block_device_get_context(dev);

	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < r->n; i++)
		for (unsigned k = 0; k < CLIENT_BUFS; k++)
			if (r->m[i].cbuf[k].md == md) {
				if (r->m[i].bc)
					udk_block_client_unregister_memory(r->m[i].bc, r->m[i].cbuf[k].id);
				udk_memory_descriptor_unref(md);
				memset(&r->m[i].cbuf[k], 0, sizeof(r->m[i].cbuf[k]));
			}
	pthread_mutex_unlock(&r->lock);
}

/* ---- rebuild ---- */

static void
lock_stripe_sync(struct raid *r, uint64_t stripe)
{
	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct stripe_lock *free_l = NULL;
		bool busy = false;
		for (unsigned i = 0; i < LOCKS; i++) {
			if (r->locks[i].held && r->locks[i].stripe == stripe)
				busy = true;
			if (!r->locks[i].held && !free_l)
				free_l = &r->locks[i];
		}
		if (!busy && free_l) {
			free_l->held = true;
			free_l->stripe = stripe;
			free_l->waiters = free_l->tail = NULL;
			break;
		}
		pthread_mutex_unlock(&r->lock);
		usleep(200);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
}

static void *
rebuild_main(void *data)
{
	struct raid *r = data;
	unsigned target;
	uint64_t start, last_cp;
	bool resync;
	uint8_t *area = r->scratch_p + (uint64_t)(SLOTS + 1) * r->slot_bytes;
	uint64_t area_off = (uint64_t)(SLOTS + 1) * r->slot_bytes;
	uint64_t t0 = 0;
	struct timespec ts;

	pthread_setname_np(pthread_self(), "raid-rebuild");
	pthread_mutex_lock(&r->lock);
	resync = r->resync;
	target = resync ? MAX_N : (unsigned)r->rebuild_slot;
	start = resync ? 0 : r->m[target].rebuilt;
	pthread_mutex_unlock(&r->lock);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	last_cp = start;
	for (uint64_t s = start; s < r->stripes; s++) {
		unsigned n = r->n, dst;
		int rc = 0;
		bool stop;
		pthread_mutex_lock(&r->lock);
		stop = r->quit || (!resync && (r->rebuild_slot != (int)target || r->state == A_FAILED));
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		lock_stripe_sync(r, s);
		dst = resync ? raid5_parity_member(s, n) : target;
		memset(area + (uint64_t)n * r->chunk_bytes, 0, r->chunk_bytes);
		for (unsigned i = 0; i < n && rc >= 0; i++) {
			struct udk_block_client *bc;
			if (i == dst)
				continue;
			pthread_mutex_lock(&r->lock);
			bc = r->m[i].bc;
			pthread_mutex_unlock(&r->lock);
			rc = bc ? udk_block_client_io(bc, UDK_BLOCK_READ, r->data_off + s * r->chunk_blocks,
						      (uint32_t)r->chunk_blocks, r->m[i].scratch_id, area_off + (uint64_t)i * r->chunk_bytes)
				: -UDK_E_HARDWARE_GONE;
			if (rc < 0)
				member_failed(r, i, udk_error_reason() ? udk_error_reason() : "read failed during the rebuild");
			else
				xor_into(area + (uint64_t)n * r->chunk_bytes, area + (uint64_t)i * r->chunk_bytes, r->chunk_bytes);
		}
		if (rc >= 0) {
			struct udk_block_client *bc;
			memcpy(area + (uint64_t)dst * r->chunk_bytes, area + (uint64_t)n * r->chunk_bytes, r->chunk_bytes);
			pthread_mutex_lock(&r->lock);
			bc = r->m[dst].bc;
			pthread_mutex_unlock(&r->lock);
			rc = bc ? udk_block_client_io(bc, UDK_BLOCK_WRITE, r->data_off + s * r->chunk_blocks,
						      (uint32_t)r->chunk_blocks, r->m[dst].scratch_id,
						      area_off + (uint64_t)dst * r->chunk_bytes)
				: -UDK_E_HARDWARE_GONE;
			if (rc < 0)
				member_failed(r, dst, udk_error_reason() ? udk_error_reason() : "write failed during the rebuild");
		}
		pthread_mutex_lock(&r->lock);
		{
			struct sop *next = stripe_unlock(r, s);
			if (next) {
				pthread_mutex_unlock(&r->lock);
				sop_run(next);
				pthread_mutex_lock(&r->lock);
			}
		}
		if (rc >= 0 && !resync)
			r->m[target].rebuilt = s + 1;
		{
			unsigned pc = (unsigned)((s + 1) * 100 / r->stripes);
			bool show = pc != r->progress;
			r->progress = pc;
			pthread_mutex_unlock(&r->lock);
			if (show)
				publish_state(r);
		}
		if (rc < 0)
			break;
		if (!resync && s + 1 - last_cp >= r->stripes / 20 + 1) {
			write_superblocks(r); /* a checkpoint: a restart continues from here */
			last_cp = s + 1;
		}
	}
	pthread_mutex_lock(&r->lock);
	if (resync) {
		r->resync = false;
	} else if (r->rebuild_slot == (int)target && r->m[target].rebuilt >= r->stripes &&
		   r->m[target].state == M_REBUILDING) {
		r->m[target].state = M_IN_SYNC;
		r->m[target].why[0] = 0;
		r->rebuild_slot = -1;
		r->state = count_usable(r) == r->n ? A_OPTIMAL : count_usable(r) >= r->n - 1 ? A_DEGRADED : A_FAILED;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		udk_log_notice("RAID %s: member %u (%s) rebuilt (%llu stripes in %llu ms); the array is %s", r->name, target,
			       r->m[target].id, (unsigned long long)r->stripes,
			       (unsigned long long)((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 - t0),
			       r->state == A_OPTIMAL ? "optimal" : "still degraded");
	}
	r->rebuild_running = false;
	r->progress = 100;
	pthread_mutex_unlock(&r->lock);
	write_superblocks(r);
	publish_state(r);
	return NULL;
}

static void
start_rebuild(struct raid *r)
{
	if (r->rebuilder_joinable) {
		pthread_join(r->rebuilder, NULL);
		r->rebuilder_joinable = false;
	}
	r->rebuild_running = true;
	r->progress = 0;
	if (pthread_create(&r->rebuilder, NULL, rebuild_main, r) == 0)
		r->rebuilder_joinable = true;
	else
		r->rebuild_running = false;
}

/* ---- assembly ---- */

static int
attach_member(struct raid *r, unsigned i, const char *id)
{
	struct udk_block_client *bc = NULL;
	struct udk_block_info info;
	uint32_t sid = 0;
	int rc = udk_block_client_open_member(id, &bc);

	if (rc < 0)
		return rc;
	udk_block_client_get_info(bc, &info);
	if ((r->bs && info.block_size != r->bs) || info.block_size > 4096) {
		udk_log_error("RAID %s: %s has %u-byte blocks; the array uses %u", r->name, id, info.block_size, r->bs);
		udk_block_client_close(bc);
		return -EINVAL;
	}
	rc = udk_block_client_register_memory(bc, r->scratch_md, &sid);
	if (rc < 0) {
		udk_block_client_close(bc);
		return rc;
	}
	pthread_mutex_lock(&r->lock);
	r->m[i].bc = bc;
	r->m[i].scratch_id = sid;
	snprintf(r->m[i].id, sizeof(r->m[i].id), "%s", id);
	if (!r->bs)
		r->bs = info.block_size;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static bool
read_sb(struct raid *r, unsigned i, struct raid5_superblock *sb)
{
	uint8_t *area = meta_area(r);

	if (udk_block_client_io(r->m[i].bc, UDK_BLOCK_READ, 0, 4096 / r->bs, r->m[i].scratch_id, meta_offset(r)) < 0)
		return false;
	memcpy(sb, area, sizeof(*sb));
	return !memcmp(sb->magic, RAID5_MAGIC, 8) && sb->version == RAID5_VERSION &&
	       sb->checksum == raid5_hash(sb, offsetof(struct raid5_superblock, checksum)) && sb->array_id == r->array_id;
}

static int
assemble(struct raid *r)
{
	static const struct udk_block_device_ops ops = {
		UDK_BLOCK_DEVICE_OPS_INIT,
		.submit = submit,
		.memory_released = memory_released,
	};
	struct raid5_superblock sb[MAX_N];
	bool valid[MAX_N] = { false };
	uint64_t max_events = 0, min_blocks = UINT64_MAX;
	unsigned present = 0, fresh = 0;
	struct udk_block_info info;
	char state[256];
	int rc;

	for (unsigned i = 0; i < r->n; i++) {
		struct udk_block_info mi;
		if (!r->m[i].bc)
			continue;
		present++;
		udk_block_client_get_info(r->m[i].bc, &mi);
		min_blocks = MIN(min_blocks, mi.block_count);
		valid[i] = read_sb(r, i, &sb[i]);
		if (valid[i] && sb[i].events > max_events)
			max_events = sb[i].events;
		fresh += !valid[i];
	}
	r->chunk_blocks = (uint64_t)r->chunk_kib * 1024 / r->bs;
	r->chunk_bytes = r->chunk_blocks * r->bs;
	r->data_off = RAID5_DATA_OFFSET / r->bs;
	if (min_blocks <= r->data_off + r->chunk_blocks)
		return udk_error_set(-ENOSPC, "the members are too small for a chunk after the 1 MiB of metadata");
	r->stripes = (min_blocks - r->data_off) / r->chunk_blocks;
	if (fresh == present) {
		/* a new array: every member must be there */
		if (present < r->n)
			return -EAGAIN;
		for (unsigned i = 0; i < r->n; i++)
			r->m[i].state = M_IN_SYNC;
		r->resync = !r->assume_clean;
		r->events = 0;
		udk_log_notice("RAID %s: creating the array on %u members, %llu stripes of %llu KiB chunks%s", r->name, r->n,
			       (unsigned long long)r->stripes, (unsigned long long)r->chunk_bytes / 1024,
			       r->assume_clean ? " (RAIDAssumeClean: no parity sync)" : "; computing the parity");
	} else {
		for (unsigned i = 0; i < r->n; i++) {
			if (!r->m[i].bc)
				r->m[i].state = M_MISSING;
			else if (valid[i] && sb[i].slot == i && sb[i].events == max_events && sb[i].state == RAID5_SB_IN_SYNC)
				r->m[i].state = M_IN_SYNC;
			else if (valid[i] && sb[i].slot == i && sb[i].events == max_events && sb[i].state == RAID5_SB_REBUILDING) {
				r->m[i].state = M_REBUILDING;
				r->m[i].rebuilt = sb[i].rebuilt_stripes;
			} else {
				/* stale or blank: it will be rebuilt */
				r->m[i].state = M_REBUILDING;
				r->m[i].rebuilt = 0;
			}
			if (valid[i] && sb[i].stripes)
				r->stripes = MIN(r->stripes, sb[i].stripes);
		}
		r->events = max_events;
	}
	r->array_blocks = r->stripes * r->chunk_blocks * (r->n - 1);
	{
		unsigned in_sync = count_usable(r), rebuilding = 0;
		for (unsigned i = 0; i < r->n; i++)
			if (r->m[i].state == M_REBUILDING) {
				if (rebuilding++ || in_sync < r->n - 1)
					r->m[i].state = M_FAILED; /* only one member rebuilds at a time */
				else
					r->rebuild_slot = (int)i;
			}
		r->state = in_sync == r->n ? A_OPTIMAL : in_sync >= r->n - 1 ? A_DEGRADED : A_FAILED;
	}
	write_superblocks(r);
	memset(&info, 0, sizeof(info));
	info.block_size = r->bs;
	info.block_count = r->array_blocks;
	info.max_blocks = (uint32_t)(r->chunk_blocks * (r->n - 1) * 4);
	info.flags = UDK_BLOCK_CAN_FLUSH | (r->state == A_FAILED ? UDK_BLOCK_READ_ONLY : 0);
	snprintf(info.identifier, sizeof(info.identifier), "raid5:%s", r->name);
	pthread_mutex_lock(&r->lock);
	udk_value_unref(describe(r, state, sizeof(state)));
	pthread_mutex_unlock(&r->lock);
	snprintf(info.description, sizeof(info.description), "RAID-5 %.20s of %u members: %.40s", r->name, r->n, state);
	rc = udk_block_device_create(r->self, "RAID5", &info, &ops, r, &r->dev);
	if (rc < 0)
		return rc;
	udk_log_notice("RAID %s: %llu blocks of %u bytes; %s", r->name, (unsigned long long)r->array_blocks, r->bs, state);
	if (r->rebuild_slot >= 0 || r->resync)
		start_rebuild(r);
	publish_state(r);
	return 0;
}

static void *
assemble_main(void *data)
{
	struct raid *r = data;
	struct timespec t0, now;

	pthread_setname_np(pthread_self(), "raid-assemble");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec ts;
		unsigned present = 0;
		bool quit;

		pthread_mutex_lock(&r->lock);
		quit = r->quit;
		pthread_mutex_unlock(&r->lock);
		if (quit)
			break;
		/* members whose device went away: failed (the client object stays until the driver stops:
		 * operations in flight may still name it) */
		for (unsigned i = 0; i < r->n; i++) {
			const char *why = NULL;
			bool dead;
			pthread_mutex_lock(&r->lock);
			dead = r->m[i].bc && udk_block_client_is_dead(r->m[i].bc, &why) &&
			       (r->m[i].state == M_IN_SYNC || r->m[i].state == M_REBUILDING);
			pthread_mutex_unlock(&r->lock);
			if (dead)
				member_failed(r, i, why ? why : "its block device went away");
		}
		if (r->state == A_ASSEMBLING) {
			for (unsigned i = 0; i < r->n; i++)
				if (!r->m[i].bc)
					attach_member(r, i, r->slot_id[i]);
			for (unsigned i = 0; i < r->n; i++)
				present += r->m[i].bc != NULL;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (present == r->n ||
			    (present >= r->n - 1 &&
			     (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > ASSEMBLE_GRACE_MS)) {
				int rc = assemble(r);
				if (rc < 0 && rc != -EAGAIN)
					udk_log_error("RAID %s: cannot assemble: %s", r->name,
						      udk_error_reason() ? udk_error_reason() : udk_strerror(rc));
			}
		} else if (r->state == A_DEGRADED && r->rebuild_slot < 0 && !r->rebuild_running) {
			/* a replacement: the lost member back (blank), or a spare */
			for (unsigned i = 0; i < r->n; i++) {
				if (r->m[i].state != M_FAILED && r->m[i].state != M_MISSING)
					continue;
				if (r->m[i].bc) {
					/* the dead client goes to the graveyard: requests in flight may still name it */
					pthread_mutex_lock(&r->lock);
					if (r->n_grave < sizeof(r->grave) / sizeof(r->grave[0])) {
						r->grave[r->n_grave++] = r->m[i].bc;
						r->m[i].bc = NULL;
						for (unsigned c = 0; c < CLIENT_BUFS; c++) {
							udk_memory_descriptor_unref(r->m[i].cbuf[c].md);
							memset(&r->m[i].cbuf[c], 0, sizeof(r->m[i].cbuf[c]));
						}
					}
					pthread_mutex_unlock(&r->lock);
					if (r->m[i].bc)
						continue;
				}
				bool got = attach_member(r, i, r->slot_id[i]) == 0;
				for (unsigned k = 0; !got && k < r->n_spares; k++) {
					bool used = false;
					for (unsigned j = 0; j < r->n; j++)
						used |= r->m[j].bc && !strcmp(r->m[j].id, r->spares[k]);
					if (!used)
						got = attach_member(r, i, r->spares[k]) == 0;
				}
				if (got) {
					pthread_mutex_lock(&r->lock);
					r->m[i].state = M_REBUILDING;
					r->m[i].rebuilt = 0;
					snprintf(r->m[i].why, sizeof(r->m[i].why), "being rebuilt");
					r->rebuild_slot = (int)i;
					pthread_mutex_unlock(&r->lock);
					udk_log_notice("RAID %s: rebuilding member %u onto %s", r->name, i, r->m[i].id);
					write_superblocks(r);
					start_rebuild(r);
					publish_state(r);
				}
				break;
			}
		}
		pthread_mutex_lock(&r->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!r->quit)
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

/* ---- the driver ---- */

static int
read_ids(struct udk_service *self, const char *key, char (*out)[96], unsigned cap, unsigned *ret_n)
{
	struct udk_value *props = NULL, *list;
	int rc = udk_service_copy_properties(self, &props);

	*ret_n = 0;
	if (rc < 0)
		return rc;
	list = udk_dict_get(props, key);
	for (size_t i = 0; i < udk_array_size(list) && *ret_n < cap; i++) {
		const char *s = udk_value_get_string(udk_array_get(list, i));
		if (s)
			snprintf(out[(*ret_n)++], 96, "%s", s);
	}
	udk_value_unref(props);
	return 0;
}

static int
raid_start(struct udk_service *self, struct udk_service *provider)
{
	struct raid *r = udk_service_get_ivars(self);
	unsigned n = 0;
	int rc;

	(void)provider;
	the_raid = r;
	r->self = self;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->rebuild_slot = -1;
	read_ids(self, "UDKBlockMembers", r->slot_id, MAX_N, &n);
	read_ids(self, "UDKBlockSpares", r->spares, 8, &r->n_spares);
	if (n < 3)
		return udk_error_set(-EINVAL, "UDKBlockMembers must name 3..%d block devices (their identifiers), not %u",
				     MAX_N, n);
	r->n = n;
	if (udk_service_get_string_property(self, "RAIDName", r->name, sizeof(r->name)) < 0)
		snprintf(r->name, sizeof(r->name), "md0");
	r->array_id = raid5_hash(r->name, strlen(r->name));
	r->chunk_kib = (uint32_t)udk_service_get_int_property(self, "RAIDChunkKiB", 64);
	if (r->chunk_kib < 4 || r->chunk_kib > 1024 || (r->chunk_kib & (r->chunk_kib - 1)))
		return udk_error_set(-EINVAL, "RAIDChunkKiB must be a power of two from 4 to 1024, not %u", r->chunk_kib);
	r->assume_clean = udk_service_get_int_property(self, "RAIDAssumeClean", 0) != 0;
	for (unsigned i = 0; i < n; i++) {
		r->m[i].slot = i;
		snprintf(r->m[i].id, sizeof(r->m[i].id), "%s", r->slot_id[i]);
	}
	/* scratch: SLOTS stripe slots, a metadata slot, a rebuild slot (N+1 chunks) */
	r->slot_bytes = (uint64_t)(n + 1) * r->chunk_kib * 1024;
	rc = udk_buffer_create(r->slot_bytes * (SLOTS + 2), 0, &r->scratch);
	if (rc >= 0)
		rc = udk_memory_descriptor_from_buffer(r->scratch, UDK_MEMORY_DIRECTION_INOUT, &r->scratch_md);
	if (rc < 0)
		return rc;
	r->scratch_p = udk_buffer_get_address(r->scratch);
	r->slot_free = (SLOTS >= 64) ? ~0ull : ((1ull << SLOTS) - 1);
	r->state = A_ASSEMBLING;
	rc = -pthread_create(&r->assembler, NULL, assemble_main, r);
	if (rc < 0)
		return rc;
	publish_state(r);
	return udk_service_register(self);
}

static int
raid_stop(struct udk_service *self, struct udk_service *provider)
{
	struct raid *r = udk_service_get_ivars(self);

	(void)provider;
	pthread_mutex_lock(&r->lock);
	r->quit = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->assembler, NULL);
	if (r->rebuilder_joinable)
		pthread_join(r->rebuilder, NULL);
	udk_block_device_destroy(r->dev);
	for (unsigned i = 0; i < r->n; i++) {
		for (unsigned k = 0; k < CLIENT_BUFS; k++)
			udk_memory_descriptor_unref(r->m[i].cbuf[k].md);
		udk_block_client_close(r->m[i].bc);
	}
	for (unsigned i = 0; i < r->n_grave; i++)
		udk_block_client_close(r->grave[i]);
	udk_memory_descriptor_unref(r->scratch_md);
	udk_buffer_unref(r->scratch);
	return 0;
}

static const struct udk_class raid_class = {
	UDK_CLASS_INIT,
	.name = "RAID5",
	.ivars_size = sizeof(struct raid),
	.start = raid_start,
	.stop = raid_stop,
	.new_user_client = udk_block_device_new_user_client,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &raid_class, &udk_block_user_client_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
