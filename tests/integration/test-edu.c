/* SPDX-License-Identifier: MIT */
/*
 * QEMU's edu device, simulated (models/edu), driven by the edu driver
 * (drivers/edu) and reached by edu-app through a user client.  The same
 * driver binary runs against the real edu in a QEMU guest through VFIO
 * (tests/guest/20-vfio-edu.sh); this is the host half.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <udk/client.h>

#include "../../drivers/edu/edu.h"
#include "fixture.h"
#include "test.h"

#define ID "org.udk.example.edu"

#define EDU_PERSONALITY                                                                                        \
	"<key>Edu</key><dict>"                                                                                 \
	"<key>IOUserClass</key><string>EduDriver</string>"                                                     \
	"<key>IOUserServerName</key><string>" ID "</string>"                                                   \
	"<key>IOProviderClass</key><string>IOPCIDevice</string>"                                               \
	"<key>IOPCIPrimaryMatch</key><string>0x11e81234</string>"                                              \
	"<key>UserClientProperties</key><dict><key>IOUserClass</key>"                                          \
	"<string>EduUserClient</string></dict></dict>"

/* As QEMU is started in the guest: dma_mask=0xffffffff. */
#define EDU_DEVICE(extra)                                                                                      \
	TEST_DEVICE("edu0", "edu",                                                                             \
		    "<key>Location</key><string>00:02.0</string><key>Properties</key><dict>"                   \
		    "<key>DmaMask</key><integer>4294967295</integer>" extra "</dict>")

/* With @devices, that machine; with NULL, machines/edu.plist as shipped. */
static void
up(struct fixture *f, const char *devices)
{
	fixture_init(f);
	if (devices) {
		fixture_set_machine_devices(f, "", devices);
	} else {
		char src[600], *text = NULL;
		size_t len = 0;
		FILE *in, *mem;
		snprintf(src, sizeof(src), "%s/machines/edu.plist", getenv("UDK_SOURCE_ROOT"));
		in = fopen(src, "r");
		ASSERT_NOT_NULL(in);
		mem = open_memstream(&text, &len);
		for (int c; (c = fgetc(in)) != EOF;)
			fputc(c, mem);
		fclose(mem);
		fclose(in);
		write_text(f->machine, text);
		free(text);
	}
	fixture_add_bundle_exe(f, "Edu.dext", ID, "drivers/edu-driver", EDU_PERSONALITY);
	fixture_start(f, "--restart-base-ms", "20", NULL);
	fixture_wait_class(f, "EduDriver", 10000);
}

/* Run @args of edu-app against @f; returns its output (malloc'ed). */
static char *
app(struct fixture *f, int *ret_status, const char *args)
{
	char cmd[1024], *out = NULL;
	size_t len = 0;
	FILE *p, *mem;
	int st;

	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s %s 2>&1", build_path("examples/edu-app"), f->runtime, args);
	p = popen(cmd, "r");
	ASSERT_NOT_NULL(p);
	mem = open_memstream(&out, &len);
	for (int c; (c = fgetc(p)) != EOF;)
		fputc(c, mem);
	fclose(mem);
	st = pclose(p);
	if (ret_status)
		*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	test_log("edu-app %s:\n%s", args, out);
	return out;
}

TEST(the_simulated_edu_has_the_real_ones_ids_and_matches)
{
	struct fixture f;
	char *out;

	up(&f, NULL);
	out = fixture_udkctl(&f, NULL, "props /PCI0/edu0");
	ASSERT_CONTAINS(out, "\"vendor-id\" = 4660");
	ASSERT_CONTAINS(out, "\"device-id\" = 4584");
	ASSERT_CONTAINS(out, "\"class-code\" = 65280");
	ASSERT_CONTAINS(out, "\"revision-id\" = 16");
	ASSERT_CONTAINS(out, "\"IOName\" = \"pci1234,11e8\"");
	free(out);
	out = fixture_udkctl(&f, NULL, "explain " ID " /PCI0/edu0");
	ASSERT_CONTAINS(out, "ok      IOPCIPrimaryMatch: device/vendor 0x11e81234 matches");
	free(out);
	fixture_stop(&f);
}

TEST(id_factorial_msi_and_dma_every_byte_through_the_app)
{
	struct fixture f;
	int st;
	char *out;

	up(&f, NULL);
	out = app(&f, &st, "--factorial 12 --irqs 50 --rounds 5 --bytes 4095");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "edu: id 0x010000ed (version 1.0), backend sim at 00:02.0, liveness ok");
	ASSERT_CONTAINS(out, "factorial: 12! = 479001600 (mod 2^32), announced by MSI: correct");
	ASSERT_CONTAINS(out, "MSI latency, raise register to driver handler, 50 interrupts");
	ASSERT_CONTAINS(out, "DMA round trip, 4095 bytes to the device and back, 5 rounds: 20475 bytes checked, 0 wrong");
	free(out);
	/* a factorial past 12 wraps at 32 bits, as the device computes it */
	out = app(&f, &st, "--factorial 13 --irqs 0 --rounds 1 --bytes 1");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "13! = 1932053504 (mod 2^32)");
	ASSERT_CONTAINS(out, "1 bytes checked, 0 wrong");
	free(out);
	fixture_stop(&f);
}

TEST(a_dma_to_an_address_the_driver_did_not_prepare_is_blocked)
{
	struct fixture f;
	int st;
	char *out;

	up(&f, EDU_DEVICE(""));
	out = app(&f, &st, "--factorial 0 --irqs 0 --rounds 0 --bytes 2048 --iommu-probe");
	ASSERT_EQ(st, 0);
	/* the simulated IOMMU tells the driver; the memory is untouched */
	ASSERT_CONTAINS(out, "memory untouched; faults the driver was told of: 1");
	free(out);
	/* the driver's own log line says what the device did */
	ASSERT_TRUE(fixture_wait_log(&f, "IOMMU fault: the device wrote", 5000));
	ASSERT_TRUE(fixture_wait_log(&f, "the IOVA was not prepared for DMA", 5000));
	fixture_stop(&f);
}

TEST(oversized_transfers_and_reset_are_refused_with_reasons)
{
	struct fixture f;
	struct udk_connection *conn;
	struct edu_dma req;
	uint64_t id, res[2];
	uint32_t n = 2;
	char buf[8192];

	up(&f, EDU_DEVICE(""));
	id = fixture_wait_class(&f, "EduDriver", 10000);
	ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
	req = (struct edu_dma){ (uint64_t)(uintptr_t)buf, (uint64_t)(uintptr_t)(buf + 4096), 4096 };
	ASSERT_ERR(udk_connection_call(conn, EDU_SEL_DMA, NULL, 0, &req, sizeof(req), res, &n, NULL, NULL), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "edu transfers 1..4095 bytes, not 4096");
	/* edu has no reset method: the simulated one says so, as VFIO does for the real one */
	ASSERT_ERR(udk_connection_call(conn, EDU_SEL_RESET, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL),
		   -UDK_E_UNSUPPORTED);
	ASSERT_CONTAINS(udk_error_reason(), "no reset method");
	udk_connection_unref(conn);
	fixture_stop(&f);
}

static bool
new_driver_up(void *data)
{
	struct fixture *f = ((void **)data)[0];
	long old = (long)(intptr_t)((void **)data)[1];
	char *out = fixture_udkctl(f, NULL, "tree");
	bool up = strstr(out, "EduDriver") != NULL;

	free(out);
	if (!up)
		return false;
	out = app(f, NULL, "--factorial 0 --irqs 0 --rounds 0 --wait 1000");
	{
		char *p = strstr(out, "driver pid ");
		long pid = p ? strtol(p + 11, NULL, 10) : 0;
		up = pid > 0 && pid != old;
	}
	free(out);
	return up;
}

TEST(a_driver_killed_during_dma_is_restarted_and_the_device_works)
{
	struct fixture f;
	int st;
	char *out, *p, *log;
	long pid;
	void *data[2];

	/* DMA takes 200 ms here, as QEMU's takes 100 ms: the kill lands while it runs */
	up(&f, EDU_DEVICE("<key>DmaDelayMs</key><integer>200</integer>"));
	out = app(&f, &st, "--start-dma");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "DMA started (running)");
	p = strstr(out, "driver pid ");
	ASSERT_NOT_NULL(p);
	pid = strtol(p + 11, NULL, 10);
	ASSERT_GE(pid, 2);
	free(out);
	ASSERT_OK(kill((pid_t)pid, SIGKILL));
	data[0] = &f;
	data[1] = (void *)(intptr_t)pid;
	ASSERT_TRUE(fixture_poll(20000, new_driver_up, data));
	log = fixture_log(&f);
	ASSERT_CONTAINS(log, "killed by SIGKILL");
	ASSERT_CONTAINS(log, "the device has no reset method");
	free(log);
	/* the restarted driver waited for the old DMA to end, then works */
	out = app(&f, &st, "--factorial 5 --irqs 5 --rounds 2 --bytes 100");
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "5! = 120");
	ASSERT_CONTAINS(out, "200 bytes checked, 0 wrong");
	free(out);
	fixture_stop(&f);
}


