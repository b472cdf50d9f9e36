/* SPDX-License-Identifier: MIT */
/*
 * The RAID-5 driver over eight simulated disks (the seed's enclosure):
 * every byte written is read back and compared, through the array and,
 * for the parity, through the members themselves; a member unplugged
 * (degraded reads and writes), a spare plugged in (rebuild with progress),
 * a second loss (failed, read-only, a clear state), and writes in flight
 * when a member dies (a checksum sweep: acknowledged writes are whole,
 * failed ones are reported).
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/client.h>
#include <udk/families/block-client.h>

#include "../../../drivers/raid5/raid5.h"
#include "fixture.h"
#include "test.h"

#define N 8
#define DISK_BLOCKS 16384		/* 8 MiB each */
#define CHUNK (64 * 1024)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

#define STORAGE_ENTITLEMENTS                                                                                   \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.transport.pci</key><array><dict>"                                 \
	"<key>IOPCIPrimaryMatch</key><string>0x5c511234</string></dict></array>\n"                            \
	"<key>com.apple.developer.driverkit.family.scsicontroller</key><true/>\n"                             \
	"<key>com.apple.developer.driverkit.transport.scsi</key><true/>\n"                                    \
	"<key>com.apple.developer.driverkit.family.block-storage-device</key><true/>\n"                       \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

#define HBA_PERSONALITY                                                                                        \
	"<key>SimHBA</key><dict>"                                                                              \
	"<key>IOClass</key><string>IOUserSCSIParallelInterfaceController</string>"                             \
	"<key>IOUserClass</key><string>SimHBA</string>"                                                        \
	"<key>IOUserServerName</key><string>org.udk.test.simhba</string>"                                     \
	"<key>IOProviderClass</key><string>IOPCIDevice</string>"                                              \
	"<key>IOPCIPrimaryMatch</key><string>0x5c511234</string></dict>"

#define DISK_PERSONALITY                                                                                       \
	"<key>SCSIDisk</key><dict>"                                                                            \
	"<key>IOClass</key><string>IOUserSCSIPeripheralDeviceType00</string>"                                  \
	"<key>IOUserClass</key><string>SCSIDisk</string>"                                                      \
	"<key>IOUserServerName</key><string>org.udk.test.scsidisk</string>"                                   \
	"<key>IOProviderClass</key><string>IOSCSIPeripheralDeviceNub</string>"                                \
	"<key>Peripheral Device Type</key><integer>0</integer></dict>"

#define RAID_PERSONALITY                                                                                       \
	"<key>Array</key><dict>"                                                                               \
	"<key>IOClass</key><string>IOUserService</string>"                                                     \
	"<key>IOUserClass</key><string>RAID5</string>"                                                         \
	"<key>IOUserServerName</key><string>org.udk.test.raid5</string>"                                      \
	"<key>IOProviderClass</key><string>IOUserResources</string>"                                          \
	"<key>IOResourceMatch</key><string>IOKit</string><key>IOMatchCategory</key><string>RAID5</string>"     \
	"<key>RAIDName</key><string>enclosure</string>"                                                    \
	"<key>RAIDAssumeClean</key><integer>1</integer>"                                                   \
	"<key>UDKBlockMembers</key><array><string>R-0</string><string>R-1</string><string>R-2</string>"        \
	"<string>R-3</string><string>R-4</string><string>R-5</string><string>R-6</string><string>R-7</string>" \
	"</array><key>UDKBlockSpares</key><array><string>R-SPARE</string></array></dict>"

struct env {
	struct fixture f;
	struct udk_block_client *bc;
	struct udk_block_info info;
	uint8_t *model;			/* what the array should hold */
	uint64_t size;
};

static void
env_up(struct env *e)
{
	char devices[8192];
	size_t at = 0;

	memset(e, 0, sizeof(*e));
	for (int i = 0; i < N; i++)
		at += (size_t)snprintf(devices + at, sizeof(devices) - at,
				       "<dict><key>Name</key><string>disk%d</string><key>Model</key><string>sim-hba</string>"
				       "<key>Properties</key><dict><key>Serial</key><string>R-%d</string>"
				       "<key>Blocks</key><integer>%d</integer></dict></dict>",
				       i, i, DISK_BLOCKS);
	snprintf(devices + at, sizeof(devices) - at,
		 "<dict><key>Name</key><string>spare</string><key>Model</key><string>sim-hba</string>"
		 "<key>Plugged</key><false/><key>Properties</key><dict><key>Serial</key><string>R-SPARE</string>"
		 "<key>Blocks</key><integer>%d</integer></dict></dict>",
		 DISK_BLOCKS);
	fixture_init(&e->f);
	fixture_set_machine_devices(&e->f, "", devices);
	fixture_add_bundle_exe(&e->f, "SimHBA.dext", "org.udk.test.simhba", "drivers/simhba-driver", HBA_PERSONALITY);
	fixture_bundle_file(&e->f, "SimHBA.dext", "Entitlements.plist", STORAGE_ENTITLEMENTS);
	fixture_add_bundle_exe(&e->f, "SCSIDisk.dext", "org.udk.test.scsidisk", "drivers/scsidisk-driver",
			       DISK_PERSONALITY);
	fixture_bundle_file(&e->f, "SCSIDisk.dext", "Entitlements.plist", STORAGE_ENTITLEMENTS);
	fixture_add_bundle_exe(&e->f, "RAID5.dext", "org.udk.test.raid5", "drivers/raid5-driver", RAID_PERSONALITY);
	fixture_bundle_file(&e->f, "RAID5.dext", "Entitlements.plist", STORAGE_ENTITLEMENTS);
	fixture_start(&e->f, "--restart-base-ms", "20", NULL);
	{
		struct udk_value *m = udk_matching_class("IOBlockStorageDevice");
		uint64_t id = 0;
		udk_dict_set_string(m, "UDKBlockIdentifier", "raid5:enclosure");
		int r = udk_client_wait_for_service(e->f.client, m, 30000, &id);
		udk_value_unref(m);
		if (r < 0) {
			char *log = fixture_log(&e->f);
			FAIL("no RAID array within 30 s; udkd's log:\n%s", log);
		}
		ASSERT_OK(udk_block_client_open(e->f.client, id, &e->bc));
	}
	ASSERT_OK(udk_block_client_get_info(e->bc, &e->info));
	e->size = e->info.block_count * e->info.block_size;
	e->model = calloc(1, e->size);
}

static void
env_down(struct env *e)
{
	udk_block_client_close(e->bc);
	free(e->model);
	fixture_stop(&e->f);
}

static void
fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 12345;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 11);
	}
}

static void
write_model(struct env *e, uint64_t off, size_t len, uint64_t seed)
{
	fill(e->model + off, len, seed);
	ASSERT_OK(udk_block_client_pwrite(e->bc, e->model + off, len, off));
}

/* Read the whole array and compare every byte with the model. */
static void
verify_all(struct env *e, const char *when)
{
	size_t step = 1 << 20;
	uint8_t *buf = malloc(step);

	for (uint64_t off = 0; off < e->size; off += step) {
		size_t n = (size_t)MIN(step, e->size - off);
		int r = udk_block_client_pread(e->bc, buf, n, off);
		if (r < 0)
			FAIL("%s: reading bytes %llu..%llu failed: %s: %s", when, (unsigned long long)off,
			     (unsigned long long)(off + n), udk_error_name(r), udk_error_reason());
		if (memcmp(buf, e->model + off, n)) {
			for (size_t i = 0; i < n; i++)
				if (buf[i] != e->model[off + i])
					FAIL("%s: byte %llu is 0x%02x, not 0x%02x", when, (unsigned long long)(off + i), buf[i],
					     e->model[off + i]);
		}
	}
	free(buf);
}

static struct udk_block_client *
open_member(struct env *e, const char *serial)
{
	struct udk_value *m = udk_matching_class("IOBlockStorageDevice");
	struct udk_block_client *bc = NULL;
	uint64_t id = 0;

	udk_dict_set_string(m, "UDKBlockIdentifier", serial);
	ASSERT_OK(udk_client_wait_for_service(e->f.client, m, 10000, &id));
	udk_value_unref(m);
	ASSERT_OK(udk_block_client_open(e->f.client, id, &bc));
	return bc;
}

/* Every stripe's chunks XOR to zero on the members themselves. */
static void
verify_parity(struct env *e, const char *const serials[N])
{
	struct udk_block_client *m[N];
	uint8_t *acc = malloc(CHUNK), *buf = malloc(CHUNK);
	uint64_t stripes = e->info.block_count * e->info.block_size / CHUNK / (N - 1);

	for (int i = 0; i < N; i++)
		m[i] = open_member(e, serials[i]);
	for (uint64_t s = 0; s < stripes; s++) {
		memset(acc, 0, CHUNK);
		for (int i = 0; i < N; i++) {
			ASSERT_OK(udk_block_client_pread(m[i], buf, CHUNK, RAID5_DATA_OFFSET + s * CHUNK));
			for (size_t k = 0; k < CHUNK; k++)
				acc[k] ^= buf[k];
		}
		for (size_t k = 0; k < CHUNK; k++)
			if (acc[k])
				FAIL("stripe %llu: the members' chunks do not XOR to zero at byte %zu", (unsigned long long)s, k);
		/* and the data chunks are where left-symmetric puts them */
		for (unsigned d = 0; d < N - 1; d++) {
			unsigned i = raid5_data_member(s, d, N);
			ASSERT_OK(udk_block_client_pread(m[i], buf, CHUNK, RAID5_DATA_OFFSET + s * CHUNK));
			if (memcmp(buf, e->model + (s * (N - 1) + d) * CHUNK, CHUNK))
				FAIL("stripe %llu: data chunk %u is not on member %u", (unsigned long long)s, d, i);
		}
	}
	for (int i = 0; i < N; i++)
		udk_block_client_close(m[i]);
	free(acc);
	free(buf);
}

static bool
state_says(struct env *e, const char *needle, int timeout_ms)
{
	return fixture_wait_output(&e->f, "props /IOUserResources/RAID5", needle, timeout_ms);
}

TEST_FULL(raid5_writes_degrades_rebuilds_and_fails_with_every_byte_checked, 900)
{
	static const char *const serials[N] = { "R-0", "R-1", "R-2", "R-3", "R-4", "R-5", "R-6", "R-7" };
	static const char *const after_rebuild[N] = { "R-0", "R-1", "R-2", "R-SPARE", "R-4", "R-5", "R-6", "R-7" };
	struct env e;
	char *out;
	int st;

	env_up(&e);
	ASSERT_EQ(e.info.block_size, 512);
	/* 8 MiB members, 1 MiB of metadata: 112 stripes of 7 data chunks of 64 KiB */
	ASSERT_EQ(e.size, 112ull * 7 * CHUNK);
	ASSERT_STREQ(e.info.identifier, "raid5:enclosure");
	ASSERT_TRUE(state_says(&e, "\"UDKRAIDState\" = \"optimal\"", 10000));
	/* full stripes (448 KiB aligned), then partial writes across chunk and stripe edges */
	for (uint64_t off = 0; off < e.size; off += 7 * CHUNK)
		write_model(&e, off, 7 * CHUNK, off);
	write_model(&e, 3 * 512, 512, 1);
	write_model(&e, CHUNK - 4096, 8192, 2);
	write_model(&e, 7 * CHUNK - 1024, 3 * CHUNK + 2048, 3);
	write_model(&e, 20 * CHUNK + 512, 100 * 512, 4);
	verify_all(&e, "optimal");
	verify_parity(&e, serials);

	/* a member is unplugged: degraded; every byte still reads (reconstructed where it was on member 3) */
	free(fixture_udkctl(&e.f, &st, "sim unplug disk3"));
	ASSERT_TRUE(state_says(&e, "degraded: member 3 (R-3) is failed", 20000));
	verify_all(&e, "degraded");
	/* writes while degraded: full stripes, partial ones touching the lost member's chunks and not */
	write_model(&e, 7 * CHUNK * 10, 7 * CHUNK, 10);
	write_model(&e, 7 * CHUNK * 11 + 3 * CHUNK + 512, 4096, 11);
	for (int k = 0; k < 20; k++)
		write_model(&e, (uint64_t)k * 997 * 4096 % (e.size - 65536), 512 * (1 + k % 40), 100 + k);
	verify_all(&e, "degraded, after writes");

	/* a spare comes: rebuilt onto it, with progress */
	free(fixture_udkctl(&e.f, &st, "sim plug spare"));
	ASSERT_TRUE(state_says(&e, "rebuilding member 3 (R-SPARE)", 20000) || state_says(&e, "\"optimal\"", 1));
	ASSERT_TRUE(state_says(&e, "\"UDKRAIDState\" = \"optimal\"", 120000));
	out = fixture_udkctl(&e.f, NULL, "props /IOUserResources/RAID5");
	ASSERT_CONTAINS(out, "\"UDKRAIDRebuildProgress\" = 100");
	free(out);
	ASSERT_TRUE(fixture_wait_log(&e.f, "rebuilding member 3 onto R-SPARE", 5000));
	ASSERT_TRUE(fixture_wait_log(&e.f, "member 3 (R-SPARE) rebuilt", 5000));
	verify_all(&e, "rebuilt");
	verify_parity(&e, after_rebuild);

	/* two members lost: failed, read-only, and the state says so */
	free(fixture_udkctl(&e.f, &st, "sim unplug disk1"));
	ASSERT_TRUE(state_says(&e, "degraded: member 1 (R-1) is failed", 20000));
	free(fixture_udkctl(&e.f, &st, "sim unplug disk5"));
	ASSERT_TRUE(state_says(&e, "failed: member 1 (R-1) is failed; member 5 (R-5) is failed; two members are gone, "
				   "so the array is read-only",
				   20000));
	{
		uint8_t buf[4096];
		int r;
		/* the block family refuses writes to a read-only device before the driver sees them */
		for (int i = 0; i < 50 && (r = udk_block_client_pwrite(e.bc, buf, 4096, 0)) != -EROFS; i++)
			usleep(100000);
		ASSERT_ERR(udk_block_client_pwrite(e.bc, buf, 4096, 0), -EROFS);
		ASSERT_CONTAINS(udk_error_reason(), "read-only");
		/* stripe 0's data chunks: members 0..6 hold chunks 0..6 (parity on 7): chunk 0 is on member 0 */
		ASSERT_OK(udk_block_client_pread(e.bc, buf, 4096, 0));
		ASSERT_TRUE(memcmp(buf, e.model, 4096) == 0);
		/* chunk 1 of stripe 0 is on member 1, which is gone */
		r = udk_block_client_pread(e.bc, buf, 4096, CHUNK);
		ASSERT_EQ(r, -EIO);
		ASSERT_CONTAINS(udk_error_reason(), "members 1 (R-1) and 5 (R-5) are gone");
	}
	env_down(&e);
}

/* ---- writes in flight when a member dies ---- */

#define REGION (256 * 1024)
#define WRITERS 4

struct writer {
	struct env *e;
	unsigned index;
	uint64_t base;			/* its own region */
	volatile bool *stop;
	unsigned acked, failed;
	/* per 512-byte block of the region: the seed of the last acknowledged write, and of a failed one after it */
	uint64_t *good;
	uint64_t *maybe;
};

static void *
writer_main(void *data)
{
	struct writer *w = data;
	uint8_t *buf = malloc(64 * 1024);
	uint64_t seq = (uint64_t)w->index << 32;

	while (!*w->stop) {
		unsigned blocks = 1 + (unsigned)(seq * 7 % 128), first = (unsigned)(seq * 13 % (REGION / 512 - 128));
		uint64_t seed = ++seq;
		int r;
		for (unsigned b = 0; b < blocks; b++)
			fill(buf + b * 512, 512, seed * 1000 + first + b);
		r = udk_block_client_pwrite(w->e->bc, buf, blocks * 512, w->base + (uint64_t)first * 512);
		for (unsigned b = 0; b < blocks; b++) {
			if (r >= 0) {
				w->good[first + b] = seed * 1000 + first + b;
				w->maybe[first + b] = 0;
			} else {
				w->maybe[first + b] = seed * 1000 + first + b;
			}
		}
		if (r >= 0)
			w->acked++;
		else
			w->failed++;
	}
	free(buf);
	return NULL;
}

TEST_FULL(writes_in_flight_when_a_member_dies_are_whole_or_reported, 600)
{
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	volatile bool stop = false;
	uint8_t *buf = malloc(REGION), expect[512], alt[512];
	unsigned torn = 0, acked = 0, failed = 0, either = 0;
	struct env e;
	int st;

	env_up(&e);
	ASSERT_TRUE(state_says(&e, "\"UDKRAIDState\" = \"optimal\"", 10000));
	for (unsigned i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ &e, i, (uint64_t)i * 3 * REGION + 7 * CHUNK, &stop, 0, 0,
					calloc(REGION / 512, 8), calloc(REGION / 512, 8) };
		ASSERT_EQ(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	usleep(500000);
	/* the fault: a member goes away under the writers */
	free(fixture_udkctl(&e.f, &st, "sim unplug disk2"));
	usleep(1000000);
	stop = true;
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	ASSERT_TRUE(state_says(&e, "degraded: member 2 (R-2) is failed", 20000));
	/* the sweep: every block holds its last acknowledged write, or (after a failed write) that one's data */
	for (unsigned i = 0; i < WRITERS; i++) {
		ASSERT_OK(udk_block_client_pread(e.bc, buf, REGION, w[i].base));
		for (unsigned b = 0; b < REGION / 512; b++) {
			bool ok;
			if (w[i].good[b])
				fill(expect, 512, w[i].good[b]);
			else
				memset(expect, 0, 512);
			ok = !memcmp(buf + b * 512, expect, 512);
			if (!ok && w[i].maybe[b]) {
				fill(alt, 512, w[i].maybe[b]);
				ok = !memcmp(buf + b * 512, alt, 512);
				either += ok;
			}
			torn += !ok;
		}
		acked += w[i].acked;
		failed += w[i].failed;
		free(w[i].good);
		free(w[i].maybe);
	}
	test_log("%u writes acknowledged, %u reported failed; %u blocks of failed writes hold the new data", acked,
		 failed, either);
	ASSERT_TRUE(acked > 0);
	ASSERT_EQ(torn, 0);
	free(buf);
	env_down(&e);
}

struct count {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned done, failed;
};

static void
counted(struct udk_block_client *bc, int status, const char *reason, void *ctx)
{
	struct count *c = ctx;

	(void)bc;
	(void)reason;
	pthread_mutex_lock(&c->lock);
	c->done++;
	c->failed += status < 0;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

TEST_FULL(more_operations_at_once_than_stripe_locks, 300)
{
	struct count c = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct udk_block_client *second = NULL;
	struct udk_buffer *b = NULL;
	unsigned n = 400;
	uint32_t id[2] = { 0, 0 };
	uint64_t step, dev = 0;
	uint8_t *p;
	struct env e;

	env_up(&e);
	{
		struct udk_value *m = udk_matching_class("IOBlockStorageDevice");
		udk_dict_set_string(m, "UDKBlockIdentifier", "raid5:enclosure");
		ASSERT_OK(udk_client_wait_for_service(e.f.client, m, 10000, &dev));
		udk_value_unref(m);
	}
	ASSERT_OK(udk_block_client_open(e.f.client, dev, &second));
	ASSERT_OK(udk_buffer_create((uint64_t)n * 4096, 0, &b));
	p = udk_buffer_get_address(b);
	ASSERT_OK(udk_block_client_register_buffer(e.bc, p, (uint64_t)n * 4096, &id[0]));
	ASSERT_OK(udk_block_client_register_buffer(second, p, (uint64_t)n * 4096, &id[1]));
	/* 400 writes of 4 KiB, apart, from two clients (200 each, all in flight): more stripe operations at
	 * once than the driver's 256 stripe locks; partial stripes, stripes shared by neighbours */
	step = (e.size - 8192) / n;
	step -= step % 512;
	for (unsigned i = 0; i < n; i++) {
		fill(p + (uint64_t)i * 4096, 4096, 1000 + i);
		memcpy(e.model + (uint64_t)i * step, p + (uint64_t)i * 4096, 4096);
	}
	for (unsigned i = 0; i < n; i++)
		ASSERT_OK(udk_block_client_submit(i % 2 ? second : e.bc, UDK_BLOCK_WRITE, (uint64_t)i * step / 512, 8,
						  id[i % 2], (uint64_t)i * 4096, counted, &c));
	pthread_mutex_lock(&c.lock);
	while (c.done < n)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);
	ASSERT_EQ(c.failed, 0);
	verify_all(&e, "after 400 concurrent writes");
	udk_block_client_close(second);
	udk_buffer_unref(b);
	env_down(&e);
}
