/* SPDX-License-Identifier: MIT */
/*
 * The USB family on simulated devices: the usb-test and usb-loopback
 * models, the testusb driver, the vendor-class example (the forum's case)
 * and the apps calling into them.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/client.h>

#include "fixture.h"
#include "test.h"
#include "testusb.h"

#define ID "org.udk.test.usb"
#define IFACE_ID "org.udk.test.usb-iface"
#define USB_DEVICE(name, model, extra)                                                                         \
	TEST_DEVICE(name, model, "<key>Kind</key><string>usb</string>" extra)

/* The test driver on the usb-test device (1209:0002). */
#define TESTUSB_PERSONALITY(name, extra)                                                                       \
	"<key>" name "</key><dict>"                                                                            \
	"<key>IOUserClass</key><string>TestUsbDriver</string>"                                                 \
	"<key>IOUserServerName</key><string>" ID "</string>"                                                   \
	"<key>IOProviderClass</key><string>IOUSBHostDevice</string>"                                           \
	"<key>idVendor</key><integer>0x1209</integer>"                                                         \
	"<key>idProduct</key><integer>0x0002</integer>"                                                        \
	"<key>UserClientProperties</key><dict><key>IOUserClass</key><string>TestUsbUserClient</string></dict>" \
	extra "</dict>"

/* A driver of interface 2 (CDC data) of the usb-test device. */
#define IFACE_PERSONALITY(name, extra)                                                                         \
	"<key>" name "</key><dict>"                                                                            \
	"<key>IOUserClass</key><string>TestUsbInterfaceDriver</string>"                                        \
	"<key>IOUserServerName</key><string>" IFACE_ID "</string>"                                             \
	"<key>IOProviderClass</key><string>IOUSBHostInterface</string>"                                        \
	"<key>idVendor</key><integer>0x1209</integer>"                                                         \
	"<key>idProduct</key><integer>0x0002</integer>"                                                        \
	"<key>bConfigurationValue</key><integer>1</integer>"                                                   \
	"<key>bInterfaceNumber</key><integer>2</integer>"                                                      \
	"<key>UserClientProperties</key><dict><key>IOUserClass</key><string>TestUsbUserClient</string></dict>" \
	extra "</dict>"

struct env {
	struct fixture f;
	uint64_t id;
	struct udk_connection *conn;
};

static void
env_start(struct env *e, const char *devices, const char *dev_personality, const char *iface_personality)
{
	fixture_init(&e->f);
	fixture_set_machine_devices(&e->f, "", devices ? devices : USB_DEVICE("usbtest0", "usb-test", ""));
	if (dev_personality)
		fixture_add_bundle_exe(&e->f, "U.dext", ID, "families/usb/tests/testusb", dev_personality);
	if (iface_personality)
		fixture_add_bundle_exe(&e->f, "I.dext", IFACE_ID, "families/usb/tests/testusb", iface_personality);
	fixture_start(&e->f, "--restart-base-ms", "20", NULL);
}

static void
env_up(struct env *e, const char *extra)
{
	char pers[2048];

	snprintf(pers, sizeof(pers), TESTUSB_PERSONALITY("U", "%s"), extra ? extra : "");
	env_start(e, NULL, pers, NULL);
	e->id = fixture_wait_class(&e->f, "TestUsbDriver", 10000);
	ASSERT_OK(udk_client_open(e->f.client, e->id, 0, &e->conn));
}

static void
env_down(struct env *e)
{
	udk_connection_unref(e->conn);
	fixture_stop(&e->f);
}

static int
call(struct env *e, uint64_t sel, const uint64_t *in, uint32_t n_in, uint64_t *out, uint32_t n_out)
{
	uint32_t n = n_out;
	int r = udk_connection_call(e->conn, sel, in, n_in, NULL, 0, out, &n, NULL, NULL);

	if (r >= 0 && n != n_out)
		FAIL("selector %llu returned %u scalars, not %u", (unsigned long long)sel, n, n_out);
	return r;
}

/* A call that names app memory by address in its scalars: the two buffers are exposed for it. */
static int
call_exposing(struct env *e, uint64_t sel, const uint64_t *in, uint32_t n_in, uint64_t *out, uint32_t n_out,
	      const void *src, const void *dst, uint64_t len)
{
	struct udk_memory_range ranges[2] = { { src, len, UDK_MEMORY_DIRECTION_OUT }, { dst, len, UDK_MEMORY_DIRECTION_IN } };
	struct udk_call_args args = {
		.struct_size = sizeof(args),
		.scalar_input = in,
		.scalar_input_count = n_in,
		.scalar_output = out,
		.scalar_output_count = n_out,
		.ranges = ranges,
		.n_ranges = 2,
	};
	int r = udk_connection_call_args(e->conn, sel, &args);

	if (r >= 0 && args.scalar_output_count != n_out)
		FAIL("selector %llu returned %u scalars, not %u", (unsigned long long)sel, args.scalar_output_count, n_out);
	return r;
}

static int
call_struct(struct env *e, uint64_t sel, const uint64_t *in, uint32_t n_in, const void *sin, size_t sin_len, void *sout,
	    size_t *sout_len)
{
	return udk_connection_call(e->conn, sel, in, n_in, sin, sin_len, NULL, NULL, sout, sout_len);
}

static char *
run(const char *cmd)
{
	char *out = NULL;
	size_t len = 0;
	FILE *p = popen(cmd, "r"), *mem = open_memstream(&out, &len);

	for (int c; p && (c = fgetc(p)) != EOF;)
		fputc(c, mem);
	fclose(mem);
	if (p)
		pclose(p);
	return out;
}

/* ---- the forum's case ---- */

#define VENDOR_PERSONALITY                                                                                     \
	"<key>VendorLoopback</key><dict>"                                                                      \
	"<key>IOClass</key><string>IOUserService</string>"                                                     \
	"<key>IOUserClass</key><string>VendorDriver</string>"                                                  \
	"<key>IOUserServerName</key><string>org.udk.example.usb-vendor</string>"                               \
	"<key>IOProviderClass</key><string>IOUSBHostDevice</string>"                                           \
	"<key>idVendor</key><integer>0x1209</integer>"                                                         \
	"<key>idProduct</key><integer>0x0001</integer>"                                                        \
	"<key>UserClientProperties</key><dict><key>IOUserClass</key><string>VendorUserClient</string></dict></dict>"

TEST(the_forums_vendor_class_device_iterates_opens_and_loops)
{
	struct fixture f;
	char cmd[1024], *out;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "", USB_DEVICE("loop0", "usb-loopback", ""));
	fixture_add_bundle_exe(&f, "UsbVendor.dext", "org.udk.example.usb-vendor", "drivers/usb-vendor-driver",
			       VENDOR_PERSONALITY);
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "VendorDriver", 10000);
	/* the registry: the device, and its vendor interface published after SetConfiguration */
	out = fixture_udkctl(&f, NULL, "tree /USB0");
	ASSERT_CONTAINS(out, "loop0  <IOUSBHostDevice:IOService");
	ASSERT_CONTAINS(out, "IOUSBHostInterface@0  <IOUSBHostInterface:IOService");
	ASSERT_CONTAINS(out, "VendorDriver  <VendorDriver:IOUserService:IOService");
	free(out);
	out = fixture_udkctl(&f, NULL, "props /USB0/loop0/IOUSBHostInterface@0");
	ASSERT_CONTAINS(out, "\"bInterfaceClass\" = 255");
	ASSERT_CONTAINS(out, "\"bConfigurationValue\" = 1");
	ASSERT_CONTAINS(out, "\"idVendor\" = 4617");
	free(out);
	out = fixture_udkctl(&f, NULL, "explain org.udk.example.usb-vendor /USB0/loop0");
	ASSERT_CONTAINS(out, "idVendor: service has 0x1209, personality wants 0x1209");
	ASSERT_CONTAINS(out, "idProduct: service has 0x0001, personality wants 0x0001");
	ASSERT_CONTAINS(out, "90000-point set");
	free(out);
	/* the app: every byte out and back, shared buffers then plain memory */
	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s --bytes 8388608 --chunk 65536 2>&1",
		 build_path("examples/usb-vendor-app"), f.runtime);
	out = run(cmd);
	ASSERT_CONTAINS(out, "the iterator gave 1 interface; the driver opened interface 0, class 0xff, bulk IN 0x81 "
			     "and OUT 0x01, 512-byte packets");
	ASSERT_CONTAINS(out, "strings: manufacturer \"udk\", product \"Vendor loopback\", serial \"0001\"");
	ASSERT_CONTAINS(out, "looped 8388608 bytes out and back in 65536-byte transfers: 8388608 received, 0 differ");
	free(out);
	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s --bytes 1000000 --chunk 4096 --malloc 2>&1",
		 build_path("examples/usb-vendor-app"), f.runtime);
	out = run(cmd);
	ASSERT_CONTAINS(out, "looped 1000000 bytes out and back in 4096-byte transfers: 1000000 received, 0 differ");
	free(out);
	fixture_stop(&f);
}

/* ---- descriptors, strings, the iterator ---- */

TEST(descriptors_strings_bos_and_every_interface)
{
	struct env e;
	uint64_t o[8], in[2];
	uint8_t buf[512];
	size_t n = sizeof(buf);
	char *out;

	env_up(&e, NULL);
	ASSERT_OK(call(&e, U_INFO, NULL, 0, o, 8));
	ASSERT_EQ(o[0], 0x1209);
	ASSERT_EQ(o[1], 0x0002);
	ASSERT_EQ(o[2], 0x0210);
	ASSERT_EQ(o[3], 2);
	ASSERT_EQ(o[4], 1);
	ASSERT_EQ(o[5], 3); /* the iterator: all three, vendor class included */
	ASSERT_EQ(o[6], 0);
	ASSERT_EQ(o[7], 3); /* high speed */
	ASSERT_OK(call_struct(&e, U_ITER, NULL, 0, NULL, 0, buf, &n));
	ASSERT_EQ(n, 18);
	ASSERT_EQ(buf[0], 0);
	ASSERT_EQ(buf[1], 0xff);
	ASSERT_EQ(buf[4], 3);
	ASSERT_EQ(buf[6], 1);
	ASSERT_EQ(buf[7], 0xff);
	ASSERT_EQ(buf[11], 2); /* two alternate settings */
	ASSERT_EQ(buf[12], 2);
	ASSERT_EQ(buf[13], 0x0a);
	/* strings, asked of the device */
	in[0] = 2;
	n = sizeof(buf);
	ASSERT_OK(call_struct(&e, U_STRING, in, 1, NULL, 0, buf, &n));
	ASSERT_EQ(n, 15);
	ASSERT_TRUE(memcmp(buf, "USB test device", 15) == 0);
	in[0] = 9;
	n = sizeof(buf);
	ASSERT_ERR(call_struct(&e, U_STRING, in, 1, NULL, 0, buf, &n), -EPIPE);
	/* BOS */
	n = sizeof(buf);
	ASSERT_OK(call_struct(&e, U_BOS, NULL, 0, NULL, 0, buf, &n));
	ASSERT_EQ(n, 12);
	ASSERT_EQ(buf[1], 0x0f);
	ASSERT_EQ(buf[6], 0x10);
	/* configuration descriptors */
	in[0] = 1;
	n = sizeof(buf);
	ASSERT_OK(call_struct(&e, U_CONFIG_DESC, in, 1, NULL, 0, buf, &n));
	ASSERT_EQ(n, 25);
	ASSERT_EQ(buf[5], 2);
	in[0] = 2;
	n = sizeof(buf);
	ASSERT_ERR(call_struct(&e, U_CONFIG_DESC, in, 1, NULL, 0, buf, &n), -ENOENT);
	/* the registry agrees */
	out = fixture_udkctl(&e.f, NULL, "props /USB0/usbtest0");
	ASSERT_CONTAINS(out, "\"idVendor\" = 4617");
	ASSERT_CONTAINS(out, "\"bcdUSB\" = 528");
	ASSERT_CONTAINS(out, "\"USB Product Name\" = \"USB test device\"");
	ASSERT_CONTAINS(out, "\"UDKCurrentConfiguration\" = 1");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "tree /USB0/usbtest0");
	ASSERT_CONTAINS(out, "IOUSBHostInterface@0");
	ASSERT_CONTAINS(out, "IOUSBHostInterface@1");
	ASSERT_CONTAINS(out, "IOUSBHostInterface@2");
	free(out);
	env_down(&e);
}

TEST(control_bulk_and_app_memory)
{
	struct env e;
	uint64_t o[2], in[4];
	char msg[] = "a control transfer with data", back[64];
	size_t n = sizeof(back);
	struct udk_buffer *ob, *ib;

	env_up(&e, NULL);
	ASSERT_OK(call_struct(&e, U_CONTROL_ECHO, NULL, 0, msg, sizeof(msg), back, &n));
	ASSERT_EQ(n, sizeof(msg));
	ASSERT_STREQ(back, msg);
	/* an unknown vendor request: the device stalls it, one request only */
	in[0] = 0x40;
	in[1] = 0x55;
	in[2] = 0;
	in[3] = 0;
	ASSERT_ERR(call(&e, U_VENDOR, in, 4, NULL, 0), -EPIPE);
	ASSERT_CONTAINS(udk_error_reason(), "stalled the request");
	n = sizeof(back);
	ASSERT_OK(call_struct(&e, U_CONTROL_ECHO, NULL, 0, "x", 1, back, &n));
	/* bulk through the driver's own memory */
	in[0] = 4000;
	ASSERT_OK(call(&e, U_BULK_LOOP, in, 1, o, 1));
	ASSERT_EQ(o[0], 4000);
	/* bulk from and into the app's memory, asynchronously */
	ASSERT_OK(udk_buffer_create(8192, 0, &ob));
	ASSERT_OK(udk_buffer_create(8192, 0, &ib));
	for (int i = 0; i < 8192; i++)
		((uint8_t *)udk_buffer_get_address(ob))[i] = (uint8_t)(i ^ 0x5a);
	in[0] = (uint64_t)(uintptr_t)udk_buffer_get_address(ob);
	in[1] = (uint64_t)(uintptr_t)udk_buffer_get_address(ib);
	in[2] = 8192;
	/* memory the app did not expose for the call is out of the driver's reach */
	ASSERT_ERR(call(&e, U_BULK_APP, in, 3, o, 1), -UDK_E_BAD_ADDRESS);
	ASSERT_OK(call_exposing(&e, U_BULK_APP, in, 3, o, 1, udk_buffer_get_address(ob), udk_buffer_get_address(ib), 8192));
	ASSERT_EQ(o[0], 8192);
	ASSERT_TRUE(memcmp(udk_buffer_get_address(ob), udk_buffer_get_address(ib), 8192) == 0);
	udk_buffer_unref(ob);
	udk_buffer_unref(ib);
	{
		/* plain memory of the app too */
		uint8_t *p = malloc(3000), *q = calloc(1, 3000);
		for (int i = 0; i < 3000; i++)
			p[i] = (uint8_t)(i * 13);
		in[0] = (uint64_t)(uintptr_t)p;
		in[1] = (uint64_t)(uintptr_t)q;
		in[2] = 3000;
		ASSERT_OK(call_exposing(&e, U_BULK_APP, in, 3, o, 1, p, q, 3000));
		ASSERT_EQ(o[0], 3000);
		ASSERT_TRUE(memcmp(p, q, 3000) == 0);
		free(p);
		free(q);
	}
	env_down(&e);
}

TEST(interrupt_timeout_and_abort)
{
	struct env e;
	uint64_t o[2], in[1];

	env_up(&e, NULL);
	in[0] = 5;
	ASSERT_OK(call(&e, U_INTR, in, 1, o, 1));
	ASSERT_EQ(o[0], 1 + 2 + 3 + 4 + 5);
	/* nothing to report: the transfer times out, cancelled at the device */
	in[0] = 200;
	ASSERT_OK(call(&e, U_TIMEOUT, in, 1, o, 2));
	ASSERT_EQ((int64_t)o[0], -ETIMEDOUT);
	ASSERT_GE(o[1], 190);
	/* the endpoint still works after a timeout */
	in[0] = 1;
	ASSERT_OK(call(&e, U_INTR, in, 1, o, 1));
	ASSERT_EQ(o[0], 6);
	/* abort: the pending transfer completes with ECANCELED before abort returns */
	ASSERT_OK(call(&e, U_ABORT, NULL, 0, o, 2));
	ASSERT_EQ((int64_t)o[0], -ECANCELED);
	ASSERT_EQ(o[1], 0);
	env_down(&e);
}

TEST(a_stall_is_reported_per_pipe_and_cleared)
{
	struct env e;
	uint64_t o[6], s[6];

	env_up(&e, NULL);
	ASSERT_OK(call(&e, U_STALL, NULL, 0, o, 6));
	ASSERT_EQ((int64_t)o[0], -EPIPE); /* the halted pipe */
	ASSERT_EQ(o[1], 1);		  /* says it is halted */
	ASSERT_EQ(o[2], 1);		  /* one stall */
	ASSERT_EQ(o[3], 1);		  /* the other pipes work meanwhile */
	ASSERT_EQ((int64_t)o[4], 0);	  /* cleared: it works again */
	ASSERT_EQ(o[5], 0);
	ASSERT_OK(call(&e, U_STATS, NULL, 0, s, 6));
	ASSERT_EQ(s[5], 1); /* the device saw CLEAR_FEATURE(ENDPOINT_HALT) */
	env_down(&e);
}

TEST(isochronous_in_and_out_and_alternate_settings)
{
	struct env e;
	uint64_t o[6], in[1];

	env_up(&e, NULL);
	ASSERT_OK(call(&e, U_ALTS, NULL, 0, o, 4));
	ASSERT_EQ(o[0], 2);
	ASSERT_EQ(o[1], 0);
	ASSERT_EQ(o[2], 2);
	ASSERT_EQ(o[3], 1);
	in[0] = 8;
	ASSERT_OK(call(&e, U_ISO, in, 1, o, 6));
	ASSERT_EQ(o[0], 0);
	ASSERT_EQ(o[1], 800); /* 8 packets of 100 bytes */
	ASSERT_EQ(o[2], 100);
	ASSERT_EQ(o[3], 1);
	ASSERT_EQ(o[4], 0);
	ASSERT_EQ(o[5], 8 * 192);
	env_down(&e);
}

TEST(interface_nubs_match_drivers_and_opens_are_exclusive)
{
	struct env e;
	char pers[2048], ipers[2048];
	uint64_t o[8], in[1], iid;
	struct udk_connection *ic;
	char *out;
	uint32_t n = 2;

	snprintf(pers, sizeof(pers), TESTUSB_PERSONALITY("U", "%s"), "<key>UDKTestSkip</key><string>2</string>");
	snprintf(ipers, sizeof(ipers), IFACE_PERSONALITY("I", "%s"), "");
	env_start(&e, NULL, pers, ipers);
	e.id = fixture_wait_class(&e.f, "TestUsbDriver", 10000);
	ASSERT_OK(udk_client_open(e.f.client, e.id, 0, &e.conn));
	/* the interface driver matched IOUSBHostInterface@2 and opened it */
	iid = fixture_wait_class(&e.f, "TestUsbInterfaceDriver", 10000);
	ASSERT_OK(udk_client_open(e.f.client, iid, 0, &ic));
	ASSERT_OK(udk_connection_call(ic, U_IFACE_READ, NULL, 0, NULL, 0, o, &n, NULL, NULL));
	ASSERT_EQ(o[0], 16);
	ASSERT_EQ(o[1], 0xa5);
	n = 8;
	ASSERT_OK(udk_connection_call(ic, U_INFO, NULL, 0, NULL, 0, o, &n, NULL, NULL));
	ASSERT_EQ(o[5], 2);
	/* the device's driver cannot open it now */
	in[0] = 2;
	ASSERT_OK(call(&e, U_OPEN_IFACE, in, 1, o, 1));
	ASSERT_EQ((int64_t)o[0], -UDK_E_BUSY);
	out = fixture_udkctl(&e.f, NULL, "explain " IFACE_ID " /USB0/usbtest0/IOUSBHostInterface@2");
	ASSERT_CONTAINS(out, "bInterfaceNumber: service has 0x0002, personality wants 0x0002");
	ASSERT_CONTAINS(out, "90000-point set");
	ASSERT_CONTAINS(out, "interface 2 of configuration 1 (class 0x0a");
	free(out);
	udk_connection_unref(ic);
	env_down(&e);
}

TEST(udkd_configures_a_device_no_driver_took)
{
	struct env e;
	char ipers[2048];
	uint64_t o[2], iid;
	struct udk_connection *ic;
	uint32_t n = 2;
	char *out;

	snprintf(ipers, sizeof(ipers), IFACE_PERSONALITY("I", "%s"), "");
	env_start(&e, NULL, NULL, ipers);
	iid = fixture_wait_class(&e.f, "TestUsbInterfaceDriver", 10000);
	ASSERT_OK(udk_client_open(e.f.client, iid, 0, &ic));
	ASSERT_OK(udk_connection_call(ic, U_IFACE_READ, NULL, 0, NULL, 0, o, &n, NULL, NULL));
	ASSERT_EQ(o[1], 0xa5);
	out = fixture_udkctl(&e.f, NULL, "explain " IFACE_ID " /USB0/usbtest0");
	ASSERT_CONTAINS(out, "no driver matched the device, so udkd set its configuration 1");
	free(out);
	udk_connection_unref(ic);
	e.conn = NULL;
	env_down(&e);
}

TEST(explain_says_when_the_device_driver_never_configured_it)
{
	struct env e;
	char pers[2048], ipers[2048];
	char *out;

	snprintf(pers, sizeof(pers), TESTUSB_PERSONALITY("U", "%s"),
		 "<key>UDKTestMode</key><string>no-configure</string>");
	snprintf(ipers, sizeof(ipers), IFACE_PERSONALITY("I", "%s"), "");
	env_start(&e, NULL, pers, ipers);
	e.id = fixture_wait_class(&e.f, "TestUsbDriver", 10000);
	out = fixture_udkctl(&e.f, NULL, "tree /USB0");
	ASSERT_FALSE(strstr(out, "IOUSBHostInterface") != NULL);
	free(out);
	out = fixture_udkctl(&e.f, NULL, "explain " IFACE_ID " /USB0/usbtest0");
	ASSERT_CONTAINS(out, "wants IOUSBHostInterface");
	ASSERT_CONTAINS(out, "a device's interfaces exist only once a configuration is set");
	ASSERT_CONTAINS(out, "opened the device and has not set a configuration, so none of its interfaces exists yet");
	ASSERT_CONTAINS(out, "udk_usb_device_set_configuration(dev, value, true)");
	free(out);
	e.conn = NULL;
	env_down(&e);
}

TEST(set_configuration_publishes_anew_and_refuses_unknown_ones)
{
	struct env e;
	uint64_t in[2], o[8];
	char *out;

	env_up(&e, NULL);
	in[0] = 2;
	in[1] = 0;
	ASSERT_OK(call(&e, U_SET_CONFIG, in, 2, NULL, 0));
	out = fixture_udkctl(&e.f, NULL, "tree /USB0/usbtest0");
	ASSERT_CONTAINS(out, "IOUSBHostInterface@0");
	ASSERT_FALSE(strstr(out, "IOUSBHostInterface@2") != NULL);
	free(out);
	out = fixture_udkctl(&e.f, NULL, "props /USB0/usbtest0/IOUSBHostInterface@0");
	ASSERT_CONTAINS(out, "\"bConfigurationValue\" = 2");
	ASSERT_FALSE(strstr(out, "\"IORegistered\" = true") != NULL); /* published, not matched */
	free(out);
	in[0] = 7;
	ASSERT_ERR(call(&e, U_SET_CONFIG, in, 2, NULL, 0), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "the device has no configuration 7 (it has: 1, 2)");
	in[0] = 1;
	in[1] = 1;
	ASSERT_OK(call(&e, U_SET_CONFIG, in, 2, NULL, 0));
	ASSERT_OK(call(&e, U_INFO, NULL, 0, o, 8));
	ASSERT_EQ(o[4], 1);
	in[0] = 100;
	ASSERT_OK(call(&e, U_BULK_LOOP, in, 1, o, 1));
	ASSERT_EQ(o[0], 100);
	env_down(&e);
}

/* ---- hardware going away ---- */

static bool
gone_cond(void *data)
{
	struct env *e = data;
	char *out = fixture_udkctl(&e->f, NULL, "tree /USB0");
	bool gone = !strstr(out, "usbtest0");
	free(out);
	return gone;
}

struct waiter_arg {
	struct env *e;
	int r;
	uint64_t o[2];
};

static void *
wait_in_thread(void *data)
{
	struct waiter_arg *w = data;
	uint64_t in[1] = { 4 };
	uint32_t n = 2;

	w->r = udk_connection_call(w->e->conn, U_WAIT_IN, in, 1, NULL, 0, w->o, &n, NULL, NULL);
	return NULL;
}

TEST(unplug_during_transfers_completes_them_all_with_hardware_gone)
{
	struct env e;
	struct waiter_arg w = { .e = &e };
	pthread_t t;
	char *out;

	env_up(&e, NULL);
	ASSERT_OK(pthread_create(&t, NULL, wait_in_thread, &w));
	usleep(300000); /* the transfers are at the device */
	out = fixture_udkctl(&e.f, NULL, "sim unplug usbtest0");
	ASSERT_CONTAINS(out, "unplugged");
	free(out);
	pthread_join(t, NULL);
	/* udkd tells the app before it stops the driver: the call itself is
	 * UDK_E_HARDWARE_GONE, unless the driver answered first, with every
	 * transfer UDK_E_HARDWARE_GONE */
	if (w.r != 0) {
		ASSERT_ERR(w.r, -UDK_E_HARDWARE_GONE);
	} else {
		ASSERT_EQ((int64_t)w.o[0], -UDK_E_HARDWARE_GONE); /* the synchronous one */
		ASSERT_EQ(w.o[1], 4);				  /* and every asynchronous one */
	}
	ASSERT_TRUE(fixture_poll(10000, gone_cond, &e));
	udk_connection_unref(e.conn);
	e.conn = NULL;
	/* hot plug: back, matched, configured, working */
	out = fixture_udkctl(&e.f, NULL, "sim plug usbtest0");
	free(out);
	ASSERT_TRUE(fixture_wait_output(&e.f, "tree /USB0", "TestUsbDriver", 10000));
	e.id = fixture_wait_class(&e.f, "TestUsbDriver", 10000);
	ASSERT_OK(udk_client_open(e.f.client, e.id, 0, &e.conn));
	{
		uint64_t in[1] = { 64 }, o[1];
		ASSERT_OK(call(&e, U_BULK_LOOP, in, 1, o, 1));
		ASSERT_EQ(o[0], 64);
	}
	env_down(&e);
}

TEST(a_model_crash_is_hardware_gone)
{
	struct env e;
	struct waiter_arg w = { .e = &e };
	struct udk_connection *c2;
	uint64_t in[4] = { 0x40, 0x7f, 0, 0 };
	pthread_t t;

	env_up(&e, NULL);
	ASSERT_OK(udk_client_open(e.f.client, e.id, 0, &c2));
	ASSERT_OK(pthread_create(&t, NULL, wait_in_thread, &w));
	usleep(300000);
	/* ask the device to die, on another connection */
	udk_connection_call(c2, U_VENDOR, in, 4, NULL, 0, NULL, NULL, NULL, NULL);
	pthread_join(t, NULL);
	/* as for an unplug: the call or each of its transfers is UDK_E_HARDWARE_GONE */
	if (w.r != 0) {
		ASSERT_ERR(w.r, -UDK_E_HARDWARE_GONE);
	} else {
		ASSERT_EQ((int64_t)w.o[0], -UDK_E_HARDWARE_GONE);
		ASSERT_EQ(w.o[1], 4);
	}
	ASSERT_TRUE(fixture_wait_output(&e.f, "sim list", "gone", 10000));
	udk_connection_unref(c2);
	env_down(&e);
}

TEST(a_driver_killed_mid_transfer_resets_the_port_and_comes_back)
{
	struct env e;
	uint64_t s[6], o[8], in[1];
	char *log;

	env_up(&e, NULL);
	ASSERT_OK(call(&e, U_STATS, NULL, 0, s, 6));
	ASSERT_EQ(s[0], 0);
	ASSERT_EQ(s[1], 1);
	ASSERT_ERR(call(&e, U_CRASH, NULL, 0, NULL, 0), -UDK_E_DRIVER_DIED);
	udk_connection_unref(e.conn);
	e.conn = NULL;
	for (int i = 0; i < 500; i++) {
		uint64_t id = fixture_wait_class(&e.f, "TestUsbDriver", 10000);
		if (id != e.id && udk_client_open(e.f.client, id, 0, &e.conn) >= 0)
			break;
		usleep(20000);
	}
	ASSERT_NOT_NULL(e.conn);
	ASSERT_OK(call(&e, U_STATS, NULL, 0, s, 6));
	ASSERT_EQ(s[0], 1); /* the port was reset */
	ASSERT_EQ(s[1], 2); /* and the new driver configured it again */
	ASSERT_OK(call(&e, U_INFO, NULL, 0, o, 8));
	ASSERT_EQ(o[4], 1);
	in[0] = 512;
	ASSERT_OK(call(&e, U_BULK_LOOP, in, 1, o, 1));
	ASSERT_EQ(o[0], 512);
	log = fixture_log(&e.f);
	ASSERT_CONTAINS(log, "device usbtest0: its driver " ID " (pid");
	ASSERT_CONTAINS(log, "died: udk reset the port");
	ASSERT_CONTAINS(log, "port reset: its driver died");
	free(log);
	env_down(&e);
}

TEST(a_port_reset_cancels_what_is_pending)
{
	struct env e;
	uint64_t o[2];

	env_up(&e, NULL);
	ASSERT_OK(call(&e, U_RESET, NULL, 0, o, 2));
	ASSERT_EQ((int64_t)o[0], -ECANCELED);
	ASSERT_EQ(o[1], 0);
	env_down(&e);
}

/* ---- bad descriptors ---- */

static void
bad_variant(const char *variant, const char *problem)
{
	struct env e;
	char dev[512], pers[2048], *out;

	snprintf(dev, sizeof(dev),
		 USB_DEVICE("usbtest0", "usb-test", "<key>Properties</key><dict><key>Variant</key><string>%s</string></dict>"),
		 variant);
	snprintf(pers, sizeof(pers), TESTUSB_PERSONALITY("U", "%s"), "");
	env_start(&e, dev, pers, NULL);
	ASSERT_TRUE(fixture_wait_output(&e.f, "props /USB0/usbtest0", "problem", 10000));
	out = fixture_udkctl(&e.f, NULL, "props /USB0/usbtest0");
	ASSERT_CONTAINS(out, problem);
	free(out);
	/* the driver's SetConfiguration is refused with the same words; explain shows them */
	ASSERT_TRUE(fixture_wait_output(&e.f, "explain " ID " /USB0/usbtest0", "Start() failed", 10000));
	out = fixture_udkctl(&e.f, NULL, "explain " ID " /USB0/usbtest0");
	ASSERT_CONTAINS(out, "configuration 1 cannot be used");
	ASSERT_CONTAINS(out, problem);
	free(out);
	e.conn = NULL;
	env_down(&e);
}

TEST(bad_descriptors_are_refused_in_words)
{
	bad_variant("bad-maxpacket", "endpoint 0x81 (bulk) of interface 0 alternate 0 has wMaxPacketSize 0");
	bad_variant("bad-interfaces", "configuration 1 claims 4 interfaces (bNumInterfaces) but holds 2");
	bad_variant("bad-endpoints", "interface 0 alternate 0 declares bNumEndpoints 4 but 3 endpoint descriptors");
	bad_variant("bad-length", "has bLength 40, past the end of the configuration");
}

TEST(a_bad_device_descriptor_keeps_the_device_out)
{
	struct env e;
	char dev[512], *log, *out;

	snprintf(dev, sizeof(dev), "%s",
		 USB_DEVICE("usbtest0", "usb-test",
			    "<key>Properties</key><dict><key>Variant</key><string>bad-device</string></dict>"));
	env_start(&e, dev, NULL, NULL);
	ASSERT_TRUE(fixture_wait_output(&e.f, "sim list", "gone", 10000));
	log = fixture_log(&e.f);
	ASSERT_CONTAINS(log, "the device descriptor has bLength 17 and type 0x01; it must be 18 and 0x01");
	free(log);
	out = fixture_udkctl(&e.f, NULL, "tree");
	ASSERT_FALSE(strstr(out, "usbtest0") != NULL);
	free(out);
	e.conn = NULL;
	env_down(&e);
}

TEST(the_entitlement_bounds_the_vendor_ids)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "", USB_DEVICE("usbtest0", "usb-test", ""));
	fixture_add_bundle_exe(&f, "U.dext", ID, "families/usb/tests/testusb", TESTUSB_PERSONALITY("U", ""));
	fixture_bundle_file(&f, "U.dext", "Entitlements.plist",
			    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"
			    "<key>com.apple.developer.driverkit</key><true/>\n"
			    "<key>com.apple.developer.driverkit.transport.usb</key><array><dict>"
			    "<key>idVendor</key><integer>0x1209</integer><key>idProduct</key><integer>0x0001</integer>"
			    "</dict></array>\n</dict></plist>\n");
	fixture_start(&f, NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "tree /USB0", "usbtest0", 10000));
	out = fixture_udkctl(&f, NULL, "explain " ID " /USB0/usbtest0");
	ASSERT_CONTAINS(out, "does not cover idVendor 0x1209 idProduct 0x0002");
	free(out);
	fixture_stop(&f);
}

/* ---- real devices: enumeration from sysfs (a copy here; the guest rig has the real one) ---- */

static void
sysfs_attr(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	ASSERT_NOT_NULL(fp);
	ASSERT_EQ(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

#define ATTR(dir, name, text) sysfs_attr(dir, name, text, strlen(text))

/* QEMU's usb-serial: an FTDI FT232 (0403:6001), one vendor-class interface. */
static const uint8_t ftdi_descs[] = {
	18, 1, 0x00, 0x02, 0, 0, 0, 8, 0x03, 0x04, 0x01, 0x60, 0x00, 0x04, 1, 2, 3, 1,
	9, 2, 32, 0, 1, 1, 0, 0x80, 50,
	9, 4, 0, 0, 2, 0xff, 0xff, 0xff, 2,
	7, 5, 0x81, 2, 64, 0, 0,
	7, 5, 0x02, 2, 64, 0, 0,
};

TEST(real_devices_from_sysfs_with_their_true_descriptors)
{
	struct fixture f;
	char root[300], dev[400], ifd[400], nodes[300], arg[400], narg[400], *out;

	fixture_init(&f);
	snprintf(root, sizeof(root), "%s/usb-devices", f.dir);
	snprintf(nodes, sizeof(nodes), "%s/dev-bus-usb", f.dir);
	ASSERT_OK(mkdir(root, 0755));
	ASSERT_OK(mkdir(nodes, 0755));
	snprintf(dev, sizeof(dev), "%s/1-1", root);
	ASSERT_OK(mkdir(dev, 0755));
	sysfs_attr(dev, "descriptors", ftdi_descs, sizeof(ftdi_descs));
	ATTR(dev, "busnum", "1\n");
	ATTR(dev, "devnum", "2\n");
	ATTR(dev, "speed", "12\n");
	ATTR(dev, "bConfigurationValue", "1\n");
	ATTR(dev, "manufacturer", "QEMU\n");
	ATTR(dev, "product", "QEMU USB SERIAL\n");
	snprintf(ifd, sizeof(ifd), "%s/1-1:1.0", root);
	ASSERT_OK(mkdir(ifd, 0755));
	snprintf(ifd, sizeof(ifd), "%s/1-1:1.0/driver", root);
	ASSERT_OK(symlink("../../../bus/usb/drivers/ftdi_sio", ifd));
	/* the root hub is not a device udk drivers get */
	snprintf(dev, sizeof(dev), "%s/usb1", root);
	ASSERT_OK(mkdir(dev, 0755));
	fixture_add_bundle_exe(&f, "UsbVendor.dext", "org.udk.example.usb-vendor", "drivers/usb-vendor-driver",
			       "<key>VendorFtdi</key><dict>"
			       "<key>IOUserClass</key><string>VendorDriver</string>"
			       "<key>IOUserServerName</key><string>org.udk.example.usb-vendor</string>"
			       "<key>IOProviderClass</key><string>IOUSBHostDevice</string>"
			       "<key>idVendor</key><integer>0x0403</integer>"
			       "<key>idProduct</key><integer>0x6001</integer></dict>");
	snprintf(arg, sizeof(arg), "--usb-sysfs=%s", root);
	snprintf(narg, sizeof(narg), "--usb-dev-dir=%s", nodes);
	fixture_start(&f, arg, narg, NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "tree /USBHost", "1-1", 10000));
	out = fixture_udkctl(&f, NULL, "tree /USBHost");
	ASSERT_CONTAINS(out, "1-1  <IOUSBHostDevice:IOService");
	ASSERT_FALSE(strstr(out, "usb1") != NULL);
	free(out);
	out = fixture_udkctl(&f, NULL, "props /USBHost/1-1");
	ASSERT_CONTAINS(out, "\"idVendor\" = 1027");
	ASSERT_CONTAINS(out, "\"idProduct\" = 24577");
	ASSERT_CONTAINS(out, "\"USBBusNumber\" = 1");
	ASSERT_CONTAINS(out, "\"USBAddress\" = 2");
	ASSERT_CONTAINS(out, "\"USB Product Name\" = \"QEMU USB SERIAL\"");
	ASSERT_CONTAINS(out, "\"UDKBackend\" = \"usbfs\"");
	ASSERT_CONTAINS(out, "\"UDKKernelDrivers\" = {\"0\":\"ftdi_sio\"}");
	ASSERT_FALSE(strstr(out, "UDKLastRelease") != NULL);
	free(out);
	/* the driver matched, and udkd went to open the device node: there is none here */
	ASSERT_TRUE(fixture_wait_output(&f, "explain org.udk.example.usb-vendor /USBHost/1-1", "Start() failed", 10000));
	out = fixture_udkctl(&f, NULL, "explain org.udk.example.usb-vendor /USBHost/1-1");
	ASSERT_CONTAINS(out, "idVendor: service has 0x0403, personality wants 0x0403");
	ASSERT_CONTAINS(out, "dev-bus-usb/001/002: No such file or directory");
	free(out);
	fixture_stop(&f);
}

TEST(an_unclaimed_real_device_gets_the_interfaces_linux_configured)
{
	struct fixture f;
	char root[300], dev[400], arg[400], *out;

	fixture_init(&f);
	snprintf(root, sizeof(root), "%s/usb-devices", f.dir);
	ASSERT_OK(mkdir(root, 0755));
	snprintf(dev, sizeof(dev), "%s/2-3.1", root);
	ASSERT_OK(mkdir(dev, 0755));
	sysfs_attr(dev, "descriptors", ftdi_descs, sizeof(ftdi_descs));
	ATTR(dev, "busnum", "2\n");
	ATTR(dev, "devnum", "7\n");
	ATTR(dev, "speed", "480\n");
	ATTR(dev, "bConfigurationValue", "1\n");
	snprintf(arg, sizeof(arg), "--usb-sysfs=%s", root);
	fixture_start(&f, arg, NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "tree /USBHost", "IOUSBHostInterface@0", 10000));
	out = fixture_udkctl(&f, NULL, "props /USBHost/2-3.1/IOUSBHostInterface@0");
	ASSERT_CONTAINS(out, "\"bInterfaceClass\" = 255");
	ASSERT_CONTAINS(out, "\"UDKBackend\" = \"usbfs\"");
	free(out);
	out = fixture_udkctl(&f, NULL, "families");
	ASSERT_CONTAINS(out, "usb");
	free(out);
	fixture_stop(&f);
}

/* ---- the examples on simulated devices ---- */

static char *
app(struct fixture *f, const char *name, const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s %s 2>&1", build_path(name), f->runtime, args);
	return run(cmd);
}

#define FTDI_ENTITLEMENTS                                                                                      \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.transport.usb</key><array><dict>"                                 \
	"<key>idVendor</key><integer>1027</integer><key>idProduct</key><integer>24577</integer></dict></array>\n" \
	"<key>com.apple.developer.driverkit.family.serial</key><true/>\n"                                     \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

/* The FTDI driver is a serial port of the serial family: the simulated
 * FT232 (serial number "S-0001") becomes cu.usbserial-S-0001, and a plain
 * tty program moves data through it. */
TEST(usb_serial_ftdi_driver_on_a_simulated_ft232)
{
	struct fixture f;
	char dev[400], cu[500], *out;
	struct stat st;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "", USB_DEVICE("ftdi0", "usb-ftdi", ""));
	fixture_add_bundle_exe(&f, "UsbFtdi.dext", "org.udk.example.usb-ftdi", "drivers/usb-ftdi-driver",
			       "<key>FT232</key><dict>"
			       "<key>IOClass</key><string>IOUserUSBSerial</string>"
			       "<key>IOUserClass</key><string>FtdiDriver</string>"
			       "<key>IOUserServerName</key><string>org.udk.example.usb-ftdi</string>"
			       "<key>IOProviderClass</key><string>IOUSBHostDevice</string>"
			       "<key>idVendor</key><integer>0x0403</integer><key>idProduct</key><integer>0x6001</integer>"
			       "<key>IOTTYBaseName</key><string>usbserial</string>"
			       "<key>UserClientProperties</key><dict><key>IOUserClass</key><string>FtdiUserClient</string>"
			       "</dict></dict>");
	fixture_bundle_file(&f, "UsbFtdi.dext", "Entitlements.plist", FTDI_ENTITLEMENTS);
	snprintf(dev, sizeof(dev), "%s/dev", f.dir);
	mkdir(dev, 0755);
	snprintf(cu, sizeof(cu), "%s/cu.usbserial-S-0001", dev);
	fixture_start(&f, "--dev-dir", dev, NULL);
	fixture_wait_class(&f, "IOSerialBSDClient", 10000);
	ASSERT_EQ(stat(cu, &st), 0);
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	out = app(&f, "examples/usb-serial-app", "--info");
	ASSERT_CONTAINS(out, "FT232 0403:6001 (sim backend) at 115384 baud, port "); /* 115200 as the chip divides 3 MHz */
	ASSERT_CONTAINS(out, "/cu.usbserial-S-0001;");
	ASSERT_CONTAINS(out, "modem lines 0xb0 CTS DSR DCD");
	free(out);
	/* tcsetattr reaches the chip; a rate its divisor cannot make is refused
	 * and the tty goes back to the rate in force */
	out = app(&f, "examples/usb-serial-app", "--baud 9600");
	ASSERT_CONTAINS(out, "baud rate 9600 asked, the chip runs at 9600");
	free(out);
	out = app(&f, "examples/usb-serial-app", "--baud 2500000");
	ASSERT_CONTAINS(out, "baud rate 2500000 asked: refused, the tty is back at 9600");
	free(out);
	out = fixture_log(&f);
	ASSERT_CONTAINS(out, "the FT232's divisor cannot make 2500000 baud within 3%: the nearest it makes is 3000000");
	free(out);
	out = app(&f, "examples/usb-serial-app", "--write hello-ftdi --read 10");
	ASSERT_CONTAINS(out, "wrote 10 bytes");
	ASSERT_CONTAINS(out, "read 10 bytes: \"hello-ftdi\"");
	free(out);
	/* 200 kB through the line, every status byte stripped */
	out = app(&f, "examples/usb-serial-app", "--loop 200000 --chunk 2048");
	ASSERT_CONTAINS(out, "looped 200000 bytes through ");
	ASSERT_CONTAINS(out, ": 200000 came back, 0 differ");
	free(out);
	out = app(&f, "examples/usb-serial-app", "--info");
	ASSERT_CONTAINS(out, "200010 bytes in, 200010 out, 0 overruns, RX ring full 0 times");
	free(out);
	/* 300 kB written and not read for a second: the port's RX ring (256 KiB)
	 * fills, the driver stops asking the chip (it NAKs, then holds the OUTs
	 * off), and carries on when the app reads */
	out = app(&f, "examples/usb-serial-app", "--loop 1000000 --chunk 300000 --stall 1000");
	ASSERT_CONTAINS(out, ": 1000000 came back, 0 differ");
	free(out);
	out = app(&f, "examples/usb-serial-app", "--info");
	ASSERT_CONTAINS(out, "1200010 bytes in, 1200010 out, 0 overruns, RX ring full ");
	ASSERT_FALSE(strstr(out, "RX ring full 0 times"));
	free(out);
	/* the chip unplugged: the names go */
	out = fixture_udkctl(&f, NULL, "sim unplug ftdi0");
	ASSERT_CONTAINS(out, "unplugged");
	free(out);
	for (int i = 0; i < 500 && stat(cu, &st) == 0; i++)
		usleep(10000);
	ASSERT_NE(stat(cu, &st), 0);
	fixture_stop(&f);
}

#define STORAGE_PERSONALITY                                                                                    \
	"<key>BulkOnlySCSI</key><dict>"                                                                        \
	"<key>IOClass</key><string>IOUserSCSIParallelInterfaceController</string>"                             \
	"<key>IOUserClass</key><string>BotDriver</string>"                                                     \
	"<key>IOUserServerName</key><string>org.udk.example.usb-storage</string>"                              \
	"<key>IOProviderClass</key><string>IOUSBHostInterface</string>"                                        \
	"<key>bInterfaceClass</key><integer>8</integer><key>bInterfaceSubClass</key><integer>6</integer>"      \
	"<key>bInterfaceProtocol</key><integer>80</integer></dict>"

#define STORAGE_ENTITLEMENTS                                                                                   \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\n"                         \
	"<key>com.apple.developer.driverkit</key><true/>\n"                                                   \
	"<key>com.apple.developer.driverkit.transport.usb</key><array><dict>"                                 \
	"<key>idVendor</key><integer>4617</integer><key>idProduct</key><integer>4</integer></dict></array>\n"  \
	"<key>com.apple.developer.driverkit.family.scsicontroller</key><true/>\n"                             \
	"<key>com.apple.developer.driverkit.transport.scsi</key><true/>\n"                                    \
	"<key>com.apple.developer.driverkit.family.block-storage-device</key><true/>\n"                       \
	"<key>com.apple.developer.driverkit.allow-any-userclient-access</key><true/>\n"                       \
	"</dict></plist>\n"

#define DISK_PERSONALITY                                                                                       \
	"<key>SCSIDisk</key><dict>"                                                                            \
	"<key>IOClass</key><string>IOUserSCSIPeripheralDeviceType00</string>"                                  \
	"<key>IOUserClass</key><string>SCSIDisk</string>"                                                      \
	"<key>IOUserServerName</key><string>org.udk.example.scsidisk</string>"                                \
	"<key>IOProviderClass</key><string>IOSCSIPeripheralDeviceNub</string>"                                \
	"<key>Peripheral Device Type</key><integer>0</integer></dict>"

#define LUN_PATH "/USB0/disk0/IOUSBHostInterface@0/BotDriver/Target0-LUN0"

/* The bulk-only driver is a SCSI controller: the family scans the simulated
 * disk, the SCSI disk driver makes its LUN a block device, apps use that;
 * any CDB goes through udkctl scsi on the LUN. */
TEST_FULL(mass_storage_bulk_only_driver_is_a_scsi_controller, 120)
{
	struct fixture f;
	char *out;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "",
				    USB_DEVICE("disk0", "usb-storage",
					       "<key>Properties</key><dict><key>Blocks</key><integer>4096</integer></dict>"));
	fixture_add_bundle_exe(&f, "UsbStorage.dext", "org.udk.example.usb-storage", "drivers/usb-storage-driver",
			       STORAGE_PERSONALITY);
	fixture_bundle_file(&f, "UsbStorage.dext", "Entitlements.plist", STORAGE_ENTITLEMENTS);
	fixture_add_bundle_exe(&f, "SCSIDisk.dext", "org.udk.example.scsidisk", "drivers/scsidisk-driver",
			       DISK_PERSONALITY);
	fixture_bundle_file(&f, "SCSIDisk.dext", "Entitlements.plist", STORAGE_ENTITLEMENTS);
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "IOBlockStorageDevice", 20000);
	/* no driver took the device: udkd configured it, the BOT driver matched its interface */
	out = fixture_udkctl(&f, NULL, "explain org.udk.example.usb-storage /USB0/disk0/IOUSBHostInterface@0");
	ASSERT_CONTAINS(out, "bInterfaceClass: service has 0x0008, personality wants 0x0008");
	ASSERT_CONTAINS(out, "60000-point set");
	free(out);
	out = fixture_udkctl(&f, NULL, "tree");
	ASSERT_CONTAINS(out, "BotDriver  <BotDriver:IOUserSCSIParallelInterfaceController");
	ASSERT_CONTAINS(out, "Target0-LUN0  <IOSCSIPeripheralDeviceNub");
	ASSERT_CONTAINS(out, "BlockStorageDevice  <IOUserBlockStorageDevice");
	free(out);
	out = app(&f, "examples/usb-storage-app", "--info");
	ASSERT_CONTAINS(out, "USB mass storage 1209:0004, bulk-only interface 0, 1 LUN(s), sim backend");
	ASSERT_CONTAINS(out, "LUN Target0-LUN0: \"udk\" \"Simulated disk\" \"1.0\" (peripheral type 0, removable)");
	ASSERT_CONTAINS(out, "block device " LUN_PATH "/SCSIDisk/BlockStorageDevice: 4096 blocks of 512 bytes (2.0 MiB), "
			     "identifier D-0001");
	free(out);
	/* READ(16) and WRITE(16) of the disk driver reach this disk (which knows only the
	 * 10-byte forms) translated */
	out = app(&f, "examples/usb-storage-app", "--write 100 --count 16 --seed 9");
	ASSERT_CONTAINS(out, "wrote 16 blocks at 100");
	free(out);
	out = app(&f, "examples/usb-storage-app", "--verify 100 --count 16 --seed 9");
	ASSERT_CONTAINS(out, "read 16 blocks at 100: 0 bytes differ from the pattern");
	free(out);
	out = app(&f, "examples/usb-storage-app", "--verify 100 --count 16 --seed 10");
	ASSERT_FALSE(strstr(out, ": 0 bytes differ") != NULL);
	free(out);
	/* CDBs through the controller's task user client: the seed's INQUIRY, a command the
	 * disk does not know (CHECK CONDITION, and REQUEST SENSE says why: BOT has no
	 * autosense), a read past the end (the data phase stalls and is cleared) */
	out = fixture_udkctl(&f, NULL, "scsi " LUN_PATH " --decode -r 36 12 00 00 00 24 00");
	ASSERT_CONTAINS(out, "SCSI status: GOOD");
	ASSERT_CONTAINS(out, "Product identification: Simulated disk");
	free(out);
	out = fixture_udkctl(&f, NULL, "scsi " LUN_PATH " ff 00 00 00 00 00");
	ASSERT_CONTAINS(out, "CHECK CONDITION");
	ASSERT_CONTAINS(out, "INVALID COMMAND OPERATION CODE");
	free(out);
	out = fixture_udkctl(&f, NULL, "scsi " LUN_PATH " -r 1024 28 00 00 00 0f ff 00 00 02 00");
	ASSERT_CONTAINS(out, "CHECK CONDITION");
	ASSERT_CONTAINS(out, "LOGICAL BLOCK ADDRESS OUT OF RANGE");
	free(out);
	out = app(&f, "examples/usb-storage-app", "--verify 4090 --count 2 --seed 1");
	ASSERT_CONTAINS(out, "read 2 blocks at 4090");
	free(out);
	/* a streaming read: 2 MiB in 64 KiB requests, 4 in flight */
	out = app(&f, "examples/usb-storage-app", "--read-mb 2");
	ASSERT_CONTAINS(out, "read 2.0 MiB in");
	free(out);
	fixture_stop(&f);
}

/* How many times udkd's log says @needle. */
static unsigned
log_count(struct fixture *f, const char *needle)
{
	char *log = fixture_log(f);
	unsigned n = 0;

	for (const char *p = log; (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

struct log_more {
	struct fixture *f;
	const char *needle;
	unsigned than;
};

static bool
log_says_more(void *data)
{
	struct log_more *m = data;
	return log_count(m->f, m->needle) > m->than;
}

TEST(boot_keyboard_driver_reads_interrupt_reports_once_granted)
{
	struct fixture f;
	char *out;
	int st;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "",
				    USB_DEVICE("kbd0", "usb-kbd",
					       "<key>Properties</key><dict><key>Text</key><string>hello usb</string></dict>"));
	fixture_add_bundle_exe(&f, "UsbKbd.dext", "org.udk.example.usb-kbd", "drivers/usb-kbd-driver",
			       "<key>BootKeyboard</key><dict>"
			       "<key>IOUserClass</key><string>KbdDriver</string>"
			       "<key>IOUserServerName</key><string>org.udk.example.usb-kbd</string>"
			       "<key>IOProviderClass</key><string>IOUSBHostInterface</string>"
			       "<key>bInterfaceClass</key><integer>3</integer><key>bInterfaceSubClass</key><integer>1</integer>"
			       "<key>bInterfaceProtocol</key><integer>1</integer>"
			       "<key>UserClientProperties</key><dict><key>IOUserClass</key><string>KbdUserClient</string>"
			       "</dict></dict>");
	fixture_start(&f, NULL);
	/* a keyboard is the user's whichever family reaches it: without the HID grant the open is refused */
	ASSERT_TRUE(fixture_wait_output(&f, "drivers org.udk.example.usb-kbd", "UDK_E_NOT_PERMITTED", 10000));
	out = fixture_udkctl(&f, NULL, "drivers org.udk.example.usb-kbd");
	ASSERT_CONTAINS(out, "may not read the keyboard");
	ASSERT_CONTAINS(out, "`udkctl access grant --hid keyboard org.udk.example.usb-kbd`");
	free(out);
	/* the refusal is a request the user sees */
	ASSERT_TRUE(fixture_wait_output(&f, "access list", "usb:1209:0003:", 5000));
	/* granted: the driver that failed for want of it starts again, and reads */
	out = fixture_udkctl(&f, &st, "access grant --hid keyboard org.udk.example.usb-kbd");
	ASSERT_EQ(st, 0);
	free(out);
	fixture_wait_class(&f, "KbdDriver", 10000);
	out = app(&f, "examples/usb-kbd-app", "--reports 18 --timeout 3000");
	ASSERT_CONTAINS(out, "keyboard 1209:0003, interface 0 (sim backend)");
	ASSERT_CONTAINS(out, "18 reports; keys pressed: \"hello usb\"");
	free(out);
	ASSERT_TRUE(fixture_wait_log(&f, "handed to org.udk.example.usb-kbd", 5000));
	/* revoked: the driver holds a descriptor udkd cannot take back, so it is stopped; started again,
	 * it is refused again */
	static const char refusal[] = "Start() failed: UDK_E_NOT_PERMITTED";
	struct log_more refused = { &f, refusal, log_count(&f, refusal) };
	ASSERT_GE(refused.than, 1);
	out = fixture_udkctl(&f, &st, "access revoke --hid keyboard org.udk.example.usb-kbd");
	ASSERT_EQ(st, 0);
	free(out);
	ASSERT_TRUE(fixture_wait_log(&f, "org.udk.example.usb-kbd loses it: the grant was revoked; its driver (pid", 5000));
	ASSERT_TRUE(fixture_poll(10000, log_says_more, &refused));
	out = app(&f, "examples/usb-kbd-app", "--reports 1 --timeout 1000");
	ASSERT_FALSE(strstr(out, "1 reports") != NULL);
	free(out);
	fixture_stop(&f);
}

/* ---- devices given to Linux (USB/IP to vhci-hcd: the guest rig attaches one for real) ---- */

TEST(a_device_for_linux_needs_vhci_hcd_and_says_so)
{
	struct fixture f;
	char arg[400], *out;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "",
				    USB_DEVICE("acm0", "usb-cdc-acm", "<key>Host</key><string>linux</string>"));
	fixture_add_bundle_exe(&f, "U.dext", ID, "families/usb/tests/testusb", TESTUSB_PERSONALITY("U", ""));
	snprintf(arg, sizeof(arg), "--vhci-dir=%s/no-vhci", f.dir);
	fixture_start(&f, arg, NULL);
	ASSERT_TRUE(fixture_wait_output(&f, "sim list", "export_error", 10000));
	out = fixture_udkctl(&f, NULL, "sim list");
	ASSERT_CONTAINS(out, "host: linux (vhci-hcd)");
	ASSERT_CONTAINS(out, "vhci-hcd is not there (cannot read");
	ASSERT_CONTAINS(out, "modprobe vhci-hcd");
	free(out);
	/* Linux's device: no udk driver matches it */
	out = fixture_udkctl(&f, NULL, "props /USB0/acm0");
	ASSERT_CONTAINS(out, "\"UDKHost\" = \"linux\"");
	ASSERT_CONTAINS(out, "\"idVendor\" = 4617");
	ASSERT_CONTAINS(out, "\"IOObjectClass\" = \"IOService\"");
	free(out);
	fixture_stop(&f);
}

TEST(a_bad_host_in_the_machine_description_is_refused)
{
	struct fixture f;
	char cmd[1400], *out;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "", USB_DEVICE("acm0", "usb-cdc-acm", "<key>Host</key><string>windows</string>"));
	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s --state-dir %s --bundles %s --machine %s 2>&1; echo status $?",
		 build_path("daemon/udkd"), f.runtime, f.state, f.bundles, f.machine);
	out = run(cmd);
	ASSERT_CONTAINS(out, "Host \"windows\" must be \"udk\" (udk drivers drive it) or \"linux\"");
	ASSERT_FALSE(strstr(out, "status 0") != NULL);
	free(out);
}
