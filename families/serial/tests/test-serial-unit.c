/* SPDX-License-Identifier: MIT */
/*
 * The serial family's pieces alone: the byte rings (two threads, wrap,
 * a scribbled header) and the checks udkd makes on drivers' names and
 * status messages.
 */
#include <pthread.h>
#include <sched.h>

#include "serial-msg.h"
#include "serial-private.h"
#include "test.h"

#define TOTAL (8u * 1024 * 1024)

static void *
producer(void *data)
{
	struct bring *r = data;
	uint32_t next = 0;

	while (next < TOTAL) {
		uint8_t *p;
		uint32_t n = bring_write_ptr(r, &p);
		if (n > TOTAL - next)
			n = TOTAL - next;
		if (n > 777)
			n = 777;	/* odd sizes, so the wrap falls anywhere */
		for (uint32_t i = 0; i < n; i++)
			p[i] = (uint8_t)((next + i) * 2654435761u >> 24);
		if (n)
			bring_produce(r, n);
		else
			sched_yield(); /* full: let the reader run (valgrind runs one thread at a time) */
		next += n;
	}
	return NULL;
}

TEST(ring_two_threads)
{
	struct bring r;
	pthread_t t;
	uint32_t got = 0;

	ASSERT_OK(bring_init(&r, 4096, "test"));
	pthread_create(&t, NULL, producer, &r);
	while (got < TOTAL) {
		uint8_t *p;
		uint32_t n = bring_read_ptr(&r, &p);
		for (uint32_t i = 0; i < n; i++)
			if (p[i] != (uint8_t)((got + i) * 2654435761u >> 24))
				FAIL("byte %u is 0x%02x", got + i, p[i]);
		if (n)
			ASSERT_EQ(bring_consume(&r, n), 0);
		else
			sched_yield(); /* empty: let the writer run */
		got += n;
	}
	pthread_join(t, NULL);
	ASSERT_EQ(bring_pending(&r), 0);
	bring_fini(&r);
}

TEST(ring_bounds)
{
	struct bring r;
	uint8_t *p;

	ASSERT_OK(bring_init(&r, 4096, "test"));
	ASSERT_EQ(bring_write_ptr(&r, &p), 4096);
	ASSERT_EQ(bring_produce(&r, 4097), -1);
	ASSERT_EQ(bring_produce(&r, 4000), 4000);
	ASSERT_EQ(bring_room(&r), 96);
	ASSERT_EQ(bring_consume(&r, 4001), -1);
	ASSERT_EQ(bring_consume(&r, 4000), 0);
	/* a peer that scribbles on the header cannot send us past the end */
	atomic_store(&r.h->head, 0x7fffffff);
	ASSERT_TRUE(bring_read_ptr(&r, &p) <= 4096);
	ASSERT_TRUE(p >= r.data && p < r.data + 4096);
	ASSERT_TRUE(bring_write_ptr(&r, &p) <= 4096);
	bring_fini(&r);
}

TEST(names)
{
	char why[200];

	ASSERT_TRUE(serial_name_ok("mycustombasename", false, why, sizeof(why)));
	ASSERT_TRUE(serial_name_ok("usbserial", false, why, sizeof(why)));
	ASSERT_TRUE(serial_name_ok("", true, why, sizeof(why)));
	ASSERT_FALSE(serial_name_ok("", false, why, sizeof(why)));
	ASSERT_FALSE(serial_name_ok("../etc", false, why, sizeof(why)));
	ASSERT_FALSE(serial_name_ok("a/b", false, why, sizeof(why)));
	ASSERT_TRUE(strstr(why, "0x2f"));
	ASSERT_FALSE(serial_name_ok("-x", false, why, sizeof(why)));
	ASSERT_FALSE(serial_name_ok("0123456789012345678901234567890123456789012345678", false, why, sizeof(why)));
	ASSERT_TRUE(serial_suffix_numeric("123"));
	ASSERT_FALSE(serial_suffix_numeric("12a"));
	ASSERT_FALSE(serial_suffix_numeric(""));
}

TEST(status_filter)
{
	struct udk_value *s = udk_value_new_dict(), *line = udk_value_new_dict(), *out;
	char why[200];

	udk_dict_set_int(line, "baud", 115200);
	udk_dict_set(s, "UDKSerialLine", line);
	udk_dict_set_string(s, "UDKSerialRefusal", "the driver refused 3000000 baud");
	out = serial_filter_status(s, why, sizeof(why));
	ASSERT_TRUE(out);
	ASSERT_EQ(udk_dict_size(out), 2);
	udk_value_unref(out);
	/* a key the family does not own */
	udk_dict_set_string(s, "IOTTYDevice", "evil");
	ASSERT_FALSE(serial_filter_status(s, why, sizeof(why)));
	ASSERT_TRUE(strstr(why, "IOTTYDevice"));
	udk_dict_remove(s, "IOTTYDevice");
	/* nested too deep */
	udk_dict_set_take(line, "nested", udk_value_new_dict());
	ASSERT_FALSE(serial_filter_status(s, why, sizeof(why)));
	udk_dict_remove(line, "nested");
	udk_value_unref(line);
	udk_value_unref(s);
}
