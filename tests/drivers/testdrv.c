/* SPDX-License-Identifier: MIT */
/*
 * testdrv - one driver executable whose behaviour the tests choose through
 * the personality property "TestBehavior":
 *
 *   normal        start, set Started=true, register
 *   crash-start   abort() inside start
 *   fail-start    return an error with a reason from start
 *   fail-start-on:NAME  fail-start on the provider named NAME, after
 *                 TestStartMs (default 300 ms); normal on the others
 *   hang-start    never return from start
 *   exit-start    exit(3) inside start
 *   garbage       write junk on the udkd socket, then wait
 *   publish-nub   start, publish and register a child "TestNub", and count
 *                 NubResets when a driver on it dies; its class is the
 *                 property "TestNubClass" (default TestNub)
 *   hang-later    start normally, then block the default queue after 300 ms
 *   slow-start    take 300 ms in start (property TestStartMs: that long), and
 *                 power changes must wait for it
 *
 * Power: set_power_state acknowledges at once, or never, or 20 ms later,
 * as SEL_POWER_MODE chose in this process; it records the state (see
 * SEL_POWER_STATE) and sets the property PowerBeforeStart if it was ever
 * called before start returned.
 *
 * With the property "TestResource", start also publishes that resource.
 * With "TestCreate" (a key), start calls Create() on that personality
 * dictionary and fails with its reason if it fails.  With
 * "TestRequireClass" (and "TestRequireRole"), start checks its role as a
 * family library does, and keeps running either way.
 * With "TestManyNubs" / "TestManyResources" (integers), start tries to
 * publish that many children / resources and records how many it made and
 * the first refusal (ManyNubsMade, ManyNubsError, ManyNubsReason; the same
 * with ManyResources) in its properties.
 *
 * Its user client (TestUserClient) has the selectors in enum below.
 */
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/ring.h>
#include <udk/driver.h>
#include <udk/userclient.h>

enum {
	SEL_ECHO,		/* struct in -> same struct out */
	SEL_ADD,		/* 2 scalars -> 1 scalar */
	SEL_SLEEP,		/* 1 scalar: milliseconds */
	SEL_GET_PID,		/* -> 1 scalar */
	SEL_CRASH,		/* abort() */
	SEL_EDID,		/* struct {size, uaddr}: fill client memory (OutIn) */
	SEL_ASYNC_ADD,		/* async, 2 scalars: completes 20 ms later with their sum */
	SEL_READ_CLIENT,	/* struct {size, uaddr}: read client memory, return checksum */
	SEL_FILL_OUT,		/* 1 scalar byte value: fill whatever output buffer */
	SEL_SUM_IN,		/* any struct in -> 1 scalar: byte sum */
	SEL_WRITE_RO,		/* struct {size, uaddr}: try to write an OUT descriptor */
	SEL_COPY,		/* struct {len, src, dst}: copy app memory src -> dst (bulk bench) */
	SEL_STREAM,		/* scalars count, size: enqueue records into data queue 0 */
	SEL_LATE_WRITE,		/* struct {size, uaddr}: keep an InOut descriptor, write 0xEE 20 ms later */
	SEL_LATE_MEMORY,	/* struct {size, uaddr}: 20 ms later try to map it (outside the call) */
	SEL_LATE_RESULT,	/* -> 1 scalar: the late map's result code */
	SEL_POWER_MODE,		/* 1 scalar: 0 acknowledge, 1 never acknowledge, 2 acknowledge 20 ms later */
	SEL_POWER_STATE,	/* -> 2 scalars: the last state set_power_state saw, how many calls */
	SEL_SET_BUSY,		/* 1 scalar: udk_service_set_busy() */
	SEL_REQUEST_POWER,	/* 1 scalar: udk_service_request_power_state() */
	SEL_GARBAGE,		/* 1 scalar: send udkd 0 junk, 1 a truncated, 2 an oversized, 3 a bogus reply */
	SEL_LEAK_FDS,		/* 1 scalar: open and keep that many descriptors -> 1 scalar: total kept */
	SEL_EAT_MEMORY,		/* 1 scalar: MiB to allocate and touch; abort() if 2nd scalar and it fails */
	SEL_EXIT,		/* 1 scalar: exit(status) inside the callback */
	SEL_COUNT,
};

struct drv_ivars {
	struct udk_service *nub;
	struct udk_timer *hang_timer;
	int resets;
};

struct uc_ivars {
	struct udk_service *self;
	struct udk_memory_descriptor *late_md;
	struct udk_address_segment late_seg;
	int64_t late_result;
	struct udk_timer *late_timer;
	struct udk_ring *ring;
	struct udk_queue *stream_q;
	struct udk_timer *timer;
	struct udk_async_ref *pending;
	uint64_t pending_sum;
	struct udk_buffer *shared;
};

struct edid_args {
	uint64_t size;
	uint64_t uaddr;
};

struct copy_args {
	uint64_t len;
	uint64_t src;
	uint64_t dst;
};

/* one driver instance per process */
static struct {
	struct udk_service *self;
	bool started;
	int mode;
	int state;
	unsigned calls;
	struct udk_timer *ack_timer;
} power = { .state = UDK_POWER_ON };

static void
ack_later(struct udk_timer *t, uint64_t now, void *ctx)
{
	(void)t;
	(void)now;
	udk_service_acknowledge_power_state(ctx);
}

static int
drv_set_power_state(struct udk_service *self, uint32_t flags, enum udk_power_state state)
{
	(void)flags;
	if (!power.started) {
		struct udk_value *p = udk_value_new_dict();
		udk_dict_set_bool(p, "PowerBeforeStart", true);
		udk_service_set_properties(self, p);
		udk_value_unref(p);
	}
	power.calls++;
	power.state = (int)state;
	udk_log_info("testdrv: SetPowerState(%d), mode %d", (int)state, power.mode);
	if (power.mode == 1)
		return UDK_POWER_ACK_LATER; /* and never acknowledge */
	if (power.mode == 2) {
		if (!power.ack_timer && udk_timer_create(udk_service_get_default_queue(self), ack_later, self,
							 &power.ack_timer) < 0)
			return -ENOMEM;
		udk_timer_arm(power.ack_timer, udk_time_now_ns() + 20000000ull, 0);
		return UDK_POWER_ACK_LATER;
	}
	return 0;
}

static int
m_power_mode(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	power.mode = (int)a->scalar_input[0];
	return 0;
}

static int
m_power_state(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	a->scalar_output[0] = (uint64_t)power.state;
	a->scalar_output[1] = power.calls;
	a->scalar_output_count = 2;
	return 0;
}

static int
m_set_busy(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	return power.self ? udk_service_set_busy(power.self, a->scalar_input[0] != 0) : -ENODEV;
}

static int
m_request_power(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	return power.self ? udk_service_request_power_state(power.self, (enum udk_power_state)a->scalar_input[0])
			  : -ENODEV;
}

static const char *
behavior(struct udk_service *self)
{
	static char buf[64];

	if (udk_service_get_string_property(self, "TestBehavior", buf, sizeof(buf)) < 0)
		return "normal";
	return buf;
}

static void
hang_now(struct udk_timer *t, uint64_t now, void *ctx)
{
	(void)t;
	(void)now;
	(void)ctx;
	udk_log_notice("hang-later: blocking the default queue now");
	for (;;)
		pause();
}

static int
drv_start(struct udk_service *self, struct udk_service *provider)
{
	struct drv_ivars *iv = udk_service_get_ivars(self);
	const char *b = behavior(self);
	struct udk_value *props;
	int r;

	udk_log_info("testdrv starting on %s as %s", udk_service_get_name(provider), b);
	if (strcmp(b, "crash-start") == 0)
		abort();
	if (strcmp(b, "exit-start") == 0)
		exit(3);
	if (strcmp(b, "fail-start") == 0)
		return udk_error_set(-ENODEV, "the test device is not there (fail-start)");
	if (strncmp(b, "fail-start-on:", 14) == 0) {
		if (strcmp(b + 14, udk_service_get_name(provider)) == 0) {
			usleep((useconds_t)udk_service_get_int_property(self, "TestStartMs", 300) * 1000);
			return udk_error_set(-ENODEV, "the test device %s is not there (fail-start-on)", b + 14);
		}
		b = "normal";
	}
	if (strcmp(b, "hang-start") == 0)
		for (;;)
			pause();
	power.self = self;
	if (strcmp(b, "slow-start") == 0)
		usleep((useconds_t)udk_service_get_int_property(self, "TestStartMs", 300) * 1000);
	if (strcmp(b, "garbage") == 0) {
		/* a hostile driver: junk on its udkd socket (fd 3) */
		static const uint8_t junk[7] = { 0xff, 0xfe, 0xfd, 0x00, 0x01, 0x02, 0x03 };
		if (write(3, junk, sizeof(junk)) < 0)
			return -errno;
		for (;;)
			pause();
	}

	props = udk_value_new_dict();
	udk_dict_set_bool(props, "Started", true);
	udk_dict_set_int(props, "DriverPid", getpid());
	r = udk_service_set_properties(self, props);
	udk_value_unref(props);
	if (r < 0)
		return r;

	if (strcmp(b, "publish-nub") == 0) {
		static char nub_class[128] = "TestNub";
		const char *const classes[] = { nub_class, NULL };
		struct udk_value *np = udk_value_new_dict();
		udk_service_get_string_property(self, "TestNubClass", nub_class, sizeof(nub_class));
		udk_dict_set_string(np, "TestNubKind", "widget");
		udk_dict_set_int(np, "NubResets", 0);
		r = udk_service_create_child(self, "TestNub", classes, np, &iv->nub);
		udk_value_unref(np);
		if (r < 0)
			return r;
		r = udk_service_register(iv->nub);
		if (r < 0)
			return r;
	}
	{
		char key[128], role[128] = "test role";
		struct udk_service *made = NULL;
		if (udk_service_get_string_property(self, "TestCreate", key, sizeof(key)) == 0) {
			r = udk_service_create_from_properties(self, key, &made);
			if (r < 0)
				return r;
			/* the made service lives until the process ends */
		}
		if (udk_service_get_string_property(self, "TestRequireClass", key, sizeof(key)) == 0) {
			udk_service_get_string_property(self, "TestRequireRole", role, sizeof(role));
			if (udk_service_require_class(self, key, role) < 0)
				udk_log_warning("%s", udk_error_reason());
		}
	}
	{
		char res[128];
		/* publish a resource for IOResourceMatch tests */
		if (udk_service_get_string_property(self, "TestResource", res, sizeof(res)) == 0) {
			r = udk_service_publish_resource(self, res);
			if (r < 0)
				return r;
		}
	}
	{
		/* many children and resources: per-bundle limits */
		struct udk_value *many = udk_value_new_dict();
		int64_t want_nubs = udk_service_get_int_property(self, "TestManyNubs", 0);
		int64_t want_res = udk_service_get_int_property(self, "TestManyResources", 0), made = 0;
		for (int64_t i = 0; i < want_nubs; i++, made++) {
			static const char *const classes[] = { "TestManyNub", NULL };
			struct udk_service *nub = NULL;
			char name[32];
			snprintf(name, sizeof(name), "Many%lld-%d", (long long)i, (int)getpid());
			r = udk_service_create_child(self, name, classes, NULL, &nub);
			if (r < 0) {
				udk_dict_set_string(many, "ManyNubsError", udk_error_name(r));
				udk_dict_set_string(many, "ManyNubsReason", udk_error_reason() ? udk_error_reason() : "");
				break;
			}
			udk_service_unref(nub);
		}
		if (want_nubs)
			udk_dict_set_int(many, "ManyNubsMade", made);
		made = 0;
		for (int64_t i = 0; i < want_res; i++, made++) {
			char name[48];
			snprintf(name, sizeof(name), "org.udk.test.many.%d.%lld", (int)getpid(), (long long)i);
			r = udk_service_publish_resource(self, name);
			if (r < 0) {
				udk_dict_set_string(many, "ManyResourcesError", udk_error_name(r));
				udk_dict_set_string(many, "ManyResourcesReason", udk_error_reason() ? udk_error_reason() : "");
				break;
			}
		}
		if (want_res)
			udk_dict_set_int(many, "ManyResourcesMade", made);
		if (udk_dict_size(many))
			udk_service_set_properties(self, many);
		udk_value_unref(many);
	}
	if (strcmp(b, "hang-later") == 0) {
		r = udk_timer_create(udk_service_get_default_queue(self), hang_now, NULL, &iv->hang_timer);
		if (r < 0)
			return r;
		udk_timer_arm(iv->hang_timer, udk_time_now_ns() + 300000000ull, 0);
	}
	r = udk_service_register(self);
	power.started = r >= 0;
	return r;
}

static int
drv_stop(struct udk_service *self, struct udk_service *provider)
{
	struct drv_ivars *iv = udk_service_get_ivars(self);

	(void)provider;
	udk_service_unref(iv->nub);
	iv->nub = NULL;
	return 0;
}

static void
drv_nub_client_died(struct udk_service *self, struct udk_service *nub)
{
	struct drv_ivars *iv = udk_service_get_ivars(self);
	struct udk_value *p = udk_value_new_dict();

	/* a real family would reset the device here */
	iv->resets++;
	udk_log_notice("a driver on %s died: resetting the device (reset %d)", udk_service_get_name(nub), iv->resets);
	udk_dict_set_int(p, "NubResets", iv->resets);
	udk_service_set_properties(nub, p);
	udk_value_unref(p);
}

/* ---- user client ---- */

static int
m_echo(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	if (a->struct_input_descriptor) {
		uint64_t len = udk_memory_descriptor_get_length(a->struct_input_descriptor);
		void *p;
		if (!a->struct_output_descriptor || udk_memory_descriptor_get_length(a->struct_output_descriptor) < len)
			return udk_error_set(-EINVAL, "echo of %llu bytes needs an output at least as large",
					     (unsigned long long)len);
		udk_memory_descriptor_map(a->struct_input_descriptor, &p, NULL);
		return udk_memory_descriptor_write(a->struct_output_descriptor, 0, p, len);
	}
	if (a->struct_input_size > a->struct_output_size)
		return udk_error_set(-EINVAL, "output buffer too small for the echo");
	memcpy(a->struct_output, a->struct_input, a->struct_input_size);
	a->struct_output_size = a->struct_input_size;
	return 0;
}

static int
m_add(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	a->scalar_output[0] = a->scalar_input[0] + a->scalar_input[1];
	a->scalar_output_count = 1;
	return 0;
}

static int
m_sleep(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	usleep((useconds_t)(a->scalar_input[0] * 1000));
	return 0;
}

static int
m_get_pid(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	a->scalar_output[0] = (uint64_t)getpid();
	a->scalar_output_count = 1;
	return 0;
}

static int
m_crash(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	(void)a;
	abort();
}

/* ---- faults for tests/faults/ ---- */

static int
m_garbage(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct {
		uint32_t size;
		uint16_t op, flags;
		uint32_t serial;
		int32_t status;
	} h = { 0 };
	static uint8_t big[256 * 1024];
	ssize_t n = -1;

	(void)uc;
	(void)ref;
	switch (a->scalar_input[0]) {
	case 0: {
		static const uint8_t junk[7] = { 0xff, 0xfe, 0xfd, 0x00, 0x01, 0x02, 0x03 };
		n = write(3, junk, sizeof(junk));
		break;
	}
	case 1: /* a header that promises more than the message holds */
		h.size = 4096;
		h.op = 207;
		h.serial = 1;
		n = write(3, &h, sizeof(h));
		break;
	case 2: /* far larger than anything udkd accepts */
		h.size = sizeof(big);
		h.op = 208;
		memcpy(big, &h, sizeof(h));
		memset(big + sizeof(h), 0xa5, sizeof(big) - sizeof(h));
		n = write(3, big, sizeof(big));
		if (n < 0)
			n = write(3, big, 60000); /* the socket's limit: still oversized for its header */
		break;
	default: /* a reply to nothing, with a body that is not a value */
		h.size = sizeof(h) + 8;
		h.flags = 1;
		h.serial = 0x7fffffff;
		memcpy(big, &h, sizeof(h));
		memset(big + sizeof(h), 0xee, 8);
		n = write(3, big, sizeof(h) + 8);
		break;
	}
	return n < 0 ? -errno : 0;
}

static unsigned leaked;

static int
m_leak_fds(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	for (uint64_t i = 0; i < a->scalar_input[0] && leaked < 512; i++) {
		int fd = memfd_create("leak", MFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		leaked++;
	}
	a->scalar_output[0] = leaked;
	a->scalar_output_count = 1;
	return 0;
}

static int
m_eat_memory(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	uint64_t mib = a->scalar_input[0] > 1024 ? 1024 : a->scalar_input[0];
	char **blocks = calloc(mib ? mib : 1, sizeof(*blocks));
	uint64_t got = 0;
	int r = 0;

	(void)uc;
	(void)ref;
	if (!blocks)
		return -ENOMEM;
	for (; got < mib; got++) {
		blocks[got] = malloc(1u << 20);
		if (!blocks[got]) {
			if (a->scalar_input[1])
				abort(); /* the driver that does not handle it */
			r = udk_error_set(-ENOMEM, "out of memory after %llu MiB", (unsigned long long)got);
			break;
		}
		memset(blocks[got], (int)got, 1u << 20);
	}
	for (uint64_t i = 0; i < got; i++)
		free(blocks[i]);
	free(blocks);
	return r;
}

static int
m_exit(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	_exit((int)a->scalar_input[0]);
}

/* The seed's EDID case: the app passes {size, uaddr}; the driver fills it. */
static int
m_edid(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct edid_args *e = a->struct_input;
	struct udk_address_segment seg = { e->uaddr, e->size };
	struct udk_memory_descriptor *md = NULL;
	uint8_t *p;
	uint64_t len;
	int r;

	(void)ref;
	r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_INOUT, 1, &seg, &md);
	if (r < 0)
		return r;
	r = udk_memory_descriptor_map(md, (void **)&p, &len);
	if (r >= 0) {
		/* an EDID header, then a counting pattern */
		static const uint8_t hdr[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
		for (uint64_t i = 0; i < len; i++)
			p[i] = i < 8 ? hdr[i] : (uint8_t)(i * 7 + 3);
	}
	udk_memory_descriptor_unref(md);
	return r;
}

static int
m_read_client(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct edid_args *e = a->struct_input;
	struct udk_address_segment seg = { e->uaddr, e->size };
	struct udk_memory_descriptor *md = NULL;
	uint8_t *p;
	uint64_t len, sum = 0;
	int r;

	(void)ref;
	r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_OUT, 1, &seg, &md);
	if (r < 0)
		return r;
	udk_memory_descriptor_map(md, (void **)&p, &len);
	for (uint64_t i = 0; i < len; i++)
		sum += p[i];
	a->scalar_output[0] = sum;
	a->scalar_output_count = 1;
	udk_memory_descriptor_unref(md);
	return 0;
}

static int
m_write_ro(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct edid_args *e = a->struct_input;
	struct udk_address_segment seg = { e->uaddr, e->size };
	struct udk_memory_descriptor *md = NULL;
	uint8_t x = 0x5a;
	int r;

	(void)ref;
	r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_OUT, 1, &seg, &md);
	if (r < 0)
		return r;
	r = udk_memory_descriptor_write(md, 0, &x, 1);
	udk_memory_descriptor_unref(md);
	return r;
}

static int
m_fill_out(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	(void)uc;
	(void)ref;
	if (a->struct_output_descriptor) {
		void *p;
		uint64_t len;
		udk_memory_descriptor_map(a->struct_output_descriptor, &p, &len);
		memset(p, (int)a->scalar_input[0], len);
		return 0;
	}
	memset(a->struct_output, (int)a->scalar_input[0], a->struct_output_size);
	return 0;
}

static int
m_sum_in(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const uint8_t *p = a->struct_input;
	uint64_t len = a->struct_input_size, sum = 0;

	(void)uc;
	(void)ref;
	if (a->struct_input_descriptor)
		udk_memory_descriptor_map(a->struct_input_descriptor, (void **)&p, &len);
	for (uint64_t i = 0; i < len; i++)
		sum += p[i];
	a->scalar_output[0] = sum;
	a->scalar_output_count = 1;
	return 0;
}

static void
async_fire(struct udk_timer *t, uint64_t now, void *ctx)
{
	struct uc_ivars *iv = ctx;
	uint64_t v[2];

	(void)t;
	(void)now;
	if (!iv->pending)
		return;
	v[0] = iv->pending_sum;
	v[1] = 42;
	udk_async_complete(iv->pending, 0, v, 2);
	udk_async_ref_free(iv->pending);
	iv->pending = NULL;
}

static int
m_async_add(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);
	int r;

	(void)ref;
	if (iv->pending)
		return udk_error_set(-EBUSY, "one asynchronous add at a time");
	if (!iv->timer) {
		r = udk_timer_create(udk_service_get_default_queue(uc), async_fire, iv, &iv->timer);
		if (r < 0)
			return r;
	}
	r = udk_async_ref_copy(a->completion, &iv->pending);
	if (r < 0)
		return r;
	iv->pending_sum = a->scalar_input[0] + a->scalar_input[1];
	return udk_timer_arm(iv->timer, udk_time_now_ns() + 20000000ull, 0);
}

static int
m_copy(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	const struct copy_args *c = a->struct_input;
	struct udk_address_segment src = { c->src, c->len }, dst = { c->dst, c->len };
	struct udk_memory_descriptor *ms = NULL, *md = NULL;
	void *ps, *pd;
	int r;

	(void)ref;
	r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_OUT, 1, &src, &ms);
	if (r >= 0)
		r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_IN, 1, &dst, &md);
	if (r >= 0) {
		udk_memory_descriptor_map(ms, &ps, NULL);
		udk_memory_descriptor_map(md, &pd, NULL);
		memcpy(pd, ps, c->len);
	}
	udk_memory_descriptor_unref(ms);
	udk_memory_descriptor_unref(md);
	return r;
}

struct stream {
	struct udk_ring *ring;
	uint64_t count, size;
};

static void
stream_block(void *ctx)
{
	struct stream *st = ctx;
	static uint8_t rec[1 << 16];

	for (uint64_t i = 0; i < st->count; i++) {
		memcpy(rec, &i, sizeof(i));
		if (udk_ring_enqueue_wait(st->ring, rec, (uint32_t)st->size, 10000) < 0)
			break;
	}
	udk_ring_unref(st->ring);
	free(st);
}

static int
m_stream(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);
	int r;

	(void)ref;
	if (!iv->ring)
		return udk_error_set(-ENXIO, "map data queue 0 first");
	if (a->scalar_input[1] < 8 || a->scalar_input[1] > udk_ring_get_max_record(iv->ring))
		return udk_error_set(-EINVAL, "record size must be 8..%u", udk_ring_get_max_record(iv->ring));
	if (!iv->stream_q && (r = udk_queue_create("stream", &iv->stream_q)) < 0)
		return r;
	struct stream *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->ring = udk_ring_ref(iv->ring);
	st->count = a->scalar_input[0];
	st->size = a->scalar_input[1];
	/* produce on another queue so this call returns at once */
	r = udk_queue_dispatch_async(iv->stream_q, stream_block, st);
	if (r < 0) {
		udk_ring_unref(st->ring);
		free(st);
	}
	return r;
}

static int
uc_copy_ring(struct udk_service *uc, uint64_t type, struct udk_ring **ret)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);
	int r;

	if (type != 0)
		return udk_error_set(-EINVAL, "data queue %llu does not exist", (unsigned long long)type);
	if (!iv->ring && (r = udk_ring_create(1u << 20, UDK_RING_PRODUCER, &iv->ring)) < 0)
		return r;
	*ret = udk_ring_ref(iv->ring);
	return 0;
}

static void
late_fire(struct udk_timer *t, uint64_t now, void *ctx)
{
	struct uc_ivars *iv = ctx;
	uint8_t x = 0xee;

	(void)t;
	(void)now;
	if (iv->late_md) {
		udk_memory_descriptor_write(iv->late_md, 0, &x, 1);
		udk_memory_descriptor_unref(iv->late_md);
		iv->late_md = NULL;
	} else {
		struct udk_memory_descriptor *md = NULL;
		/* outside any call from the app: must be refused */
		iv->late_result = udk_user_client_create_memory_descriptor(iv->self, UDK_MEMORY_DIRECTION_IN, 1,
									   &iv->late_seg, &md);
		udk_memory_descriptor_unref(md);
	}
}

static int
arm_late(struct udk_service *uc)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);
	int r;

	iv->self = uc;
	if (!iv->late_timer &&
	    (r = udk_timer_create(udk_service_get_default_queue(uc), late_fire, iv, &iv->late_timer)) < 0)
		return r;
	return udk_timer_arm(iv->late_timer, udk_time_now_ns() + 20000000ull, 0);
}

static int
m_late_write(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);
	const struct edid_args *e = a->struct_input;
	struct udk_address_segment seg = { e->uaddr, e->size };
	int r;

	(void)ref;
	udk_memory_descriptor_unref(iv->late_md);
	iv->late_md = NULL;
	r = udk_user_client_create_memory_descriptor(uc, UDK_MEMORY_DIRECTION_INOUT, 1, &seg, &iv->late_md);
	return r < 0 ? r : arm_late(uc);
}

static int
m_late_memory(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);
	const struct edid_args *e = a->struct_input;

	(void)ref;
	iv->late_seg = (struct udk_address_segment){ e->uaddr, e->size };
	iv->late_result = 1;
	return arm_late(uc);
}

static int
m_late_result(struct udk_service *uc, void *ref, struct udk_method_args *a)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);

	(void)ref;
	a->scalar_output[0] = (uint64_t)iv->late_result;
	a->scalar_output_count = 1;
	return 0;
}

#define V UDK_METHOD_VARIABLE
static const struct udk_method_dispatch methods[SEL_COUNT] = {
	[SEL_ECHO] = { m_echo, "Echo", 0, 0, V, 0, V },
	[SEL_ADD] = { m_add, "Add", 0, 2, 0, 1, 0 },
	[SEL_SLEEP] = { m_sleep, "Sleep", 0, 1, 0, 0, 0 },
	[SEL_GET_PID] = { m_get_pid, "GetPid", 0, 0, 0, 1, 0 },
	[SEL_CRASH] = { m_crash, "Crash", 0, 0, 0, 0, 0 },
	[SEL_EDID] = { m_edid, "GetEdid", 0, 0, sizeof(struct edid_args), 0, 0 },
	[SEL_ASYNC_ADD] = { m_async_add, "AsyncAdd", 1, 2, 0, 0, 0 },
	[SEL_READ_CLIENT] = { m_read_client, "ReadClient", 0, 0, sizeof(struct edid_args), 1, 0 },
	[SEL_FILL_OUT] = { m_fill_out, "FillOut", 0, 1, 0, 0, V },
	[SEL_SUM_IN] = { m_sum_in, "SumIn", 0, 0, V, 1, 0 },
	[SEL_WRITE_RO] = { m_write_ro, "WriteReadOnly", 0, 0, sizeof(struct edid_args), 0, 0 },
	[SEL_COPY] = { m_copy, "Copy", 0, 0, sizeof(struct copy_args), 0, 0 },
	[SEL_STREAM] = { m_stream, "Stream", 0, 2, 0, 0, 0 },
	[SEL_LATE_WRITE] = { m_late_write, "LateWrite", 0, 0, sizeof(struct edid_args), 0, 0 },
	[SEL_LATE_MEMORY] = { m_late_memory, "LateMemory", 0, 0, sizeof(struct edid_args), 0, 0 },
	[SEL_LATE_RESULT] = { m_late_result, "LateResult", 0, 0, 0, 1, 0 },
	[SEL_POWER_MODE] = { m_power_mode, "PowerMode", 0, 1, 0, 0, 0 },
	[SEL_POWER_STATE] = { m_power_state, "PowerState", 0, 0, 0, 2, 0 },
	[SEL_SET_BUSY] = { m_set_busy, "SetBusy", 0, 1, 0, 0, 0 },
	[SEL_REQUEST_POWER] = { m_request_power, "RequestPower", 0, 1, 0, 0, 0 },
	[SEL_GARBAGE] = { m_garbage, "Garbage", 0, 1, 0, 0, 0 },
	[SEL_LEAK_FDS] = { m_leak_fds, "LeakFds", 0, 1, 0, 1, 0 },
	[SEL_EAT_MEMORY] = { m_eat_memory, "EatMemory", 0, 2, 0, 0, 0 },
	[SEL_EXIT] = { m_exit, "Exit", 0, 1, 0, 0, 0 },
};
#undef V

static int
uc_copy_memory(struct udk_service *uc, uint64_t type, uint64_t *options, struct udk_buffer **ret)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);
	int r;

	(void)options;
	if (type > 1)
		return udk_error_set(-EINVAL, "memory type %llu does not exist (0: read-write, 1: read-only)",
				     (unsigned long long)type);
	if (!iv->shared) {
		r = udk_buffer_create(65536, type == 1 ? UDK_BUFFER_PEER_READONLY : 0, &iv->shared);
		if (r < 0)
			return r;
		memset(udk_buffer_get_address(iv->shared), 0xab, 65536);
	}
	*ret = udk_buffer_ref(iv->shared);
	return 0;
}

static void
uc_closed(struct udk_service *uc)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);
	uint64_t v = 0;

	udk_log_notice("TestUserClient: the client closed");
	if (iv->pending) {
		int r = udk_async_complete(iv->pending, 0, &v, 1);
		udk_log_notice("TestUserClient: completing after the client left: %s", udk_error_name(r));
	}
}

static void
uc_free(struct udk_service *uc)
{
	struct uc_ivars *iv = udk_service_get_ivars(uc);

	if (iv->late_timer) {
		udk_timer_cancel(iv->late_timer);
		udk_timer_unref(iv->late_timer);
	}
	udk_memory_descriptor_unref(iv->late_md);

	if (iv->timer) {
		udk_timer_cancel(iv->timer);
		udk_timer_unref(iv->timer);
	}
	udk_async_ref_free(iv->pending);
	udk_buffer_unref(iv->shared);
	if (iv->stream_q) {
		/* let a running stream see the ring go away: it stops at -EPIPE/timeout */
		udk_queue_unref(iv->stream_q);
	}
	udk_ring_unref(iv->ring);
}

static int
drv_new_user_client(struct udk_service *self, uint32_t type, struct udk_service **ret)
{
	if (type == 7)
		return udk_error_set(-EPERM, "user client type 7 is reserved for the factory tool");
	return udk_user_client_create(self, "TestUserClient", ret);
}

static const struct udk_class test_driver = {
	UDK_CLASS_INIT,
	.name = "TestDriver",
	.ivars_size = sizeof(struct drv_ivars),
	.start = drv_start,
	.stop = drv_stop,
	.nub_client_died = drv_nub_client_died,
	.new_user_client = drv_new_user_client,
	.set_power_state = drv_set_power_state,
};

static const struct udk_class test_user_client = {
	UDK_CLASS_INIT,
	.name = "TestUserClient",
	.ivars_size = sizeof(struct uc_ivars),
	.free = uc_free,
	.methods = methods,
	.n_methods = SEL_COUNT,
	.copy_client_memory_for_type = uc_copy_memory,
	.copy_data_queue_for_type = uc_copy_ring,
	.client_closed = uc_closed,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &test_driver, &test_user_client, NULL };

	return udk_driver_main(argc, argv, classes);
}
