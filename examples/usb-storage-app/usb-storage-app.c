/* SPDX-License-Identifier: MIT */
/*
 * usb-storage-app - a USB disk driven by udk, used as a block device: the
 * bulk-only driver (drivers/usb-storage) is a SCSI controller, the SCSI
 * family publishes its LUN, the SCSI disk driver (drivers/scsidisk) makes
 * it a udk block device, and this app is a client of that device
 * (libudk-block-client).  Arbitrary CDBs go through `udkctl scsi` on the
 * LUN (the controller's task user client).
 *
 *   usb-storage-app [--runtime-dir DIR] --info
 *   usb-storage-app ... --write LBA --count N --seed S     blocks of a pattern
 *   usb-storage-app ... --verify LBA --count N --seed S    read them back and check
 *   usb-storage-app ... --read-mb MB [--depth D] [--json]  read MB from block 0, 64 KiB per
 *                                                          request, D in flight (a benchmark)
 *
 * Block b byte i of the pattern: (b * 7 + i + S) & 0xff.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/client.h>
#include <udk/families/block-client.h>

static int
die(const char *what, int r)
{
	fprintf(stderr, "usb-storage-app: %s: %s (%s)\n", what, udk_error_reason() ? udk_error_reason() : udk_strerror(r),
		udk_error_name(r));
	return 1;
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The block device a BotDriver's LUN became: its id and registry path. */
static int
find_disk(struct udk_client *c, int timeout_ms, uint64_t *ret_id, char *path, size_t len)
{
	double end = now_s() + timeout_ms / 1e3;

	do {
		struct udk_value *m = udk_matching_class("IOUserBlockStorageDevice");
		uint64_t *ids = NULL;
		size_t n = 0;
		int r = udk_client_find_services(c, m, &ids, &n);
		udk_value_unref(m);
		for (size_t i = 0; r >= 0 && i < n; i++) {
			struct udk_value *svc = NULL;
			const char *p;
			if (udk_client_copy_service(c, ids[i], &svc) < 0)
				continue;
			p = udk_dict_get_string(svc, "path");
			if (p && strstr(p, "/BotDriver/")) {
				*ret_id = ids[i];
				snprintf(path, len, "%s", p);
				udk_value_unref(svc);
				free(ids);
				return 0;
			}
			udk_value_unref(svc);
		}
		free(ids);
		usleep(20000);
	} while (now_s() < end);
	fprintf(stderr, "usb-storage-app: no block device of a USB disk (BotDriver, SCSIDisk) appeared within %d ms\n",
		timeout_ms);
	return -ETIMEDOUT;
}

/* Properties of the service at @path (a new reference), NULL when there is none. */
static struct udk_value *
props_at(struct udk_client *c, const char *path)
{
	struct udk_value *svc = NULL, *p;
	uint64_t id;

	if (udk_client_lookup_path(c, path, &id) < 0 || udk_client_copy_service(c, id, &svc) < 0)
		return NULL;
	p = udk_value_ref(udk_dict_get(svc, "properties"));
	udk_value_unref(svc);
	return p;
}

static const char *
str(const struct udk_value *d, const char *key)
{
	const char *s = d ? udk_dict_get_string(d, key) : NULL;
	return s ? s : "?";
}

static void
pattern(uint8_t *p, uint64_t lba, uint64_t count, uint32_t block, uint64_t seed)
{
	for (uint64_t b = 0; b < count; b++)
		for (uint32_t i = 0; i < block; i++)
			p[b * block + i] = (uint8_t)((lba + b) * 7 + i + seed);
}

struct stream;

struct stream_slot {
	struct stream *s;
	uint64_t slot;
};

struct stream {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct udk_block_client *bc;
	uint32_t buffer, per;
	uint64_t next, total;		/* blocks */
	unsigned in_flight;
	int error;
	char reason[256];
	struct stream_slot slots[64];
};

static void stream_done(struct udk_block_client *bc, int status, const char *reason, void *ctx);

/* Under s->lock: the next request into @slot; false when there is none or it was refused. */
static bool
stream_submit(struct stream *s, uint64_t slot)
{
	uint32_t n;
	int r;

	if (s->next >= s->total)
		return false;
	n = (uint32_t)(s->total - s->next < s->per ? s->total - s->next : s->per);
	s->slots[slot] = (struct stream_slot){ s, slot };
	r = udk_block_client_submit(s->bc, UDK_BLOCK_READ, s->next, n, s->buffer, slot * 65536, stream_done,
				    &s->slots[slot]);
	if (r < 0) {
		s->error = r;
		snprintf(s->reason, sizeof(s->reason), "%s", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		return false;
	}
	s->next += n;
	s->in_flight++;
	return true;
}

/* On the client's completion thread: the next request goes out from here, with no hand-off. */
static void
stream_done(struct udk_block_client *bc, int status, const char *reason, void *ctx)
{
	struct stream_slot *sl = ctx;
	struct stream *s = sl->s;

	(void)bc;
	pthread_mutex_lock(&s->lock);
	s->in_flight--;
	if (status < 0 && !s->error) {
		s->error = status;
		snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : udk_strerror(status));
	}
	if (!s->error)
		stream_submit(s, sl->slot);
	if (!s->in_flight)
		pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "runtime-dir", required_argument, NULL, 'r' }, { "info", no_argument, NULL, 'i' },
		{ "write", required_argument, NULL, 'w' },	  { "verify", required_argument, NULL, 'v' },
		{ "count", required_argument, NULL, 'n' },	  { "seed", required_argument, NULL, 's' },
		{ "read-mb", required_argument, NULL, 'R' },	  { "depth", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },		  { NULL, 0, NULL, 0 },
	};
	const char *runtime = NULL;
	bool info_wanted = false, json = false;
	int64_t wlba = -1, vlba = -1;
	uint64_t count = 1, seed = 0, read_mb = 0, depth = 4, id = 0;
	struct udk_block_info info;
	struct udk_block_client *bc;
	struct udk_client *c;
	char path[1024];
	int o, r, rc = 0;

	while ((o = getopt_long(argc, argv, "r:iw:v:n:s:R:d:j", opts, NULL)) != -1) {
		switch (o) {
		case 'r': runtime = optarg; break;
		case 'i': info_wanted = true; break;
		case 'w': wlba = strtoll(optarg, NULL, 0); break;
		case 'v': vlba = strtoll(optarg, NULL, 0); break;
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'R': read_mb = strtoull(optarg, NULL, 0); break;
		case 'd': depth = strtoull(optarg, NULL, 0); break;
		case 'j': json = true; break;
		default:
			fprintf(stderr, "usage: usb-storage-app [--runtime-dir DIR] [--info] [--write LBA --count N --seed S] "
					"[--verify LBA --count N --seed S] [--read-mb MB [--depth D] [--json]]\n");
			return 2;
		}
	}
	if (!depth || depth > 64)
		depth = 4;
	if ((r = udk_client_new(runtime, &c)) < 0)
		return die("connect to udkd", r);
	if (find_disk(c, 20000, &id, path, sizeof(path)) < 0)
		return 1;
	if ((r = udk_block_client_open(c, id, &bc)) < 0)
		return die("open the block device", r);
	if ((r = udk_block_client_get_info(bc, &info)) < 0)
		return die("read the block device's geometry", r);
	if (info_wanted) {
		/* .../BotDriver/Target0-LUN0/SCSIDisk/BlockStorageDevice: the LUN two levels up */
		char lun[1024], ctl[1024];
		struct udk_value *lp, *cp;
		char *slash;
		snprintf(lun, sizeof(lun), "%s", path);
		for (int k = 0; k < 2 && (slash = strrchr(lun, '/')); k++)
			*slash = 0;
		snprintf(ctl, sizeof(ctl), "%s", lun);
		if ((slash = strrchr(ctl, '/')))
			*slash = 0;
		lp = props_at(c, lun);
		cp = props_at(c, ctl);
		printf("%s, %" PRId64 " LUN(s), %s backend\n", str(cp, "UDKBOTDevice"),
		       cp ? udk_dict_get_int(cp, "UDKBOTLUNs", 0) : 0, str(cp, "UDKUSBBackend"));
		printf("LUN %s: \"%s\" \"%s\" \"%s\" (peripheral type %" PRId64 "%s)\n", strrchr(lun, '/') + 1,
		       str(lp, "Vendor Identification"), str(lp, "Product Identification"), str(lp, "Product Revision Level"),
		       lp ? udk_dict_get_int(lp, "Peripheral Device Type", -1) : -1,
		       lp && udk_value_get_bool(udk_dict_get(lp, "Removable Media"), false) ? ", removable" : "");
		printf("block device %s: %" PRIu64 " blocks of %u bytes (%.1f MiB), identifier %s\n", path, info.block_count,
		       info.block_size, (double)info.block_count * info.block_size / 1048576.0, info.identifier);
		udk_value_unref(lp);
		udk_value_unref(cp);
	}
	if (wlba >= 0 || vlba >= 0) {
		uint64_t lba = (uint64_t)(wlba >= 0 ? wlba : vlba), bytes = count * info.block_size, bad = 0;
		uint8_t *p = malloc(bytes), *want = malloc(bytes);
		if (!p || !want)
			return die("allocate", -ENOMEM);
		pattern(want, lba, count, info.block_size, seed);
		if (wlba >= 0) {
			if ((r = udk_block_client_pwrite(bc, want, bytes, lba * info.block_size)) < 0 ||
			    (r = udk_block_client_flush(bc)) < 0) {
				fprintf(stderr, "usb-storage-app: write of %" PRIu64 " blocks at %" PRIu64 ": %s\n", count, lba,
					udk_error_reason() ? udk_error_reason() : udk_strerror(r));
				rc = 1;
			} else {
				printf("wrote %" PRIu64 " blocks at %" PRIu64 "\n", count, lba);
			}
		} else {
			if ((r = udk_block_client_pread(bc, p, bytes, lba * info.block_size)) < 0) {
				fprintf(stderr, "usb-storage-app: read of %" PRIu64 " blocks at %" PRIu64 ": %s\n", count, lba,
					udk_error_reason() ? udk_error_reason() : udk_strerror(r));
				rc = 1;
			} else {
				for (uint64_t i = 0; i < bytes; i++)
					bad += p[i] != want[i];
				printf("read %" PRIu64 " blocks at %" PRIu64 ": %" PRIu64 " bytes differ from the pattern\n",
				       count, lba, bad);
			}
		}
		free(p);
		free(want);
	}
	if (read_mb) {
		/* 64 KiB requests from block 0 on, @depth in flight, into one registered buffer;
		 * each completion sends the next request */
		struct stream st = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .bc = bc };
		struct udk_buffer *buf = NULL;
		double t0, t1;
		if ((r = udk_buffer_create(depth * 65536, 0, &buf)) < 0 ||
		    (r = udk_block_client_register_buffer(bc, udk_buffer_get_address(buf), depth * 65536, &st.buffer)) < 0)
			return die("register a buffer", r);
		st.per = 65536 / info.block_size;
		st.total = (read_mb << 20) / info.block_size;
		if (st.total > info.block_count)
			st.total = info.block_count;
		t0 = now_s();
		pthread_mutex_lock(&st.lock);
		for (uint64_t slot = 0; slot < depth && stream_submit(&st, slot); slot++)
			;
		while (st.in_flight)
			pthread_cond_wait(&st.cond, &st.lock);
		pthread_mutex_unlock(&st.lock);
		t1 = now_s();
		udk_buffer_unref(buf);
		if (st.error) {
			fprintf(stderr, "usb-storage-app: streaming read: %s\n", st.reason);
			return 1;
		}
		if (json)
			printf("{\"bytes\":%" PRIu64 ",\"seconds\":%.6f,\"mbs\":%.2f,\"depth\":%" PRIu64 "}\n",
			       st.total * info.block_size, t1 - t0, (double)st.total * info.block_size / (t1 - t0) / 1e6, depth);
		else
			printf("read %.1f MiB in %.3f s: %.2f MB/s (64 KiB requests, %" PRIu64 " in flight)\n",
			       (double)st.total * info.block_size / 1048576.0, t1 - t0,
			       (double)st.total * info.block_size / (t1 - t0) / 1e6, depth);
	}
	udk_block_client_close(bc);
	udk_client_unref(c);
	return rc;
}
