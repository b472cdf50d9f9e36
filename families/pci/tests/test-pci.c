/* SPDX-License-Identifier: MIT */
/*
 * The PCI family on simulated hardware: a pci-test device model, the
 * testpci driver, and the app calling into it.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <udk/buffer.h>
#include <udk/client.h>

#include "fixture.h"
#include "test.h"

#define ID "org.udk.test.pci"

enum {
	P_CFG_READ32,
	P_MEM_READ32,
	P_MEM_WRITE32,
	P_BAR_INFO,
	P_MAP_READ32,
	P_MAP_WRITE32,
	P_FIND_CAP,
	P_IRQ_TEST,
	P_DMA_TEST,
	P_DMA_AFTER_COMPLETE,
	P_RESET,
	P_FAULTS,
	P_FILL_CLIENT,
	P_LOCATION,
	P_CONFIG_WRITE32,
	P_CRASH,
};

struct env {
	struct fixture f;
	uint64_t id;
	struct udk_connection *conn;
};

static void
env_up(struct env *e, const char *extra_devices)
{
	char devices[1024];

	snprintf(devices, sizeof(devices), "%s%s",
		 TEST_DEVICE("pcitest0", "pci-test", "<key>Location</key><string>00:05.0</string>"),
		 extra_devices ? extra_devices : "");
	fixture_init(&e->f);
	fixture_set_machine_devices(&e->f, "", devices);
	fixture_add_bundle_exe(&e->f, "P.dext", ID, "tests/testpci", TESTPCI_PERSONALITY("P", ID, ""));
	fixture_start(&e->f, "--restart-base-ms", "20", NULL);
	e->id = fixture_wait_class(&e->f, "TestPciDriver", 10000);
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

static uint64_t
call1(struct env *e, uint64_t sel, const uint64_t *in, uint32_t n_in)
{
	uint64_t out = 0;

	ASSERT_OK(call(e, sel, in, n_in, &out, 1));
	return out;
}

TEST(the_device_appears_as_an_iopcidevice_and_matches)
{
	struct env e;
	char *out;

	env_up(&e, NULL);
	out = fixture_udkctl(&e.f, NULL, "tree /PCI0");
	ASSERT_CONTAINS(out, "+-o pcitest0  <IOPCIDevice:IOService");
	ASSERT_CONTAINS(out, "TestPciDriver  <TestPciDriver:IOUserService:IOService");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "props /PCI0/pcitest0");
	ASSERT_CONTAINS(out, "\"vendor-id\" = 4660");
	ASSERT_CONTAINS(out, "\"device-id\" = 21828");
	ASSERT_CONTAINS(out, "\"IOName\" = \"pci1234,5544\"");
	ASSERT_CONTAINS(out, "\"pci-location\" = \"0000:00:05.0\"");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "explain " ID " /PCI0/pcitest0");
	ASSERT_CONTAINS(out, "ok      IOPCIPrimaryMatch: device/vendor 0x55441234 matches");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "sim list");
	ASSERT_CONTAINS(out, "pcitest0  model pci-test at 00:05.0: plugged, pid");
	free(out);
	env_down(&e);
}

TEST(config_space_bars_and_capabilities)
{
	struct env e;
	uint64_t in[3], out[4];

	env_up(&e, NULL);
	in[0] = 0;
	ASSERT_EQ(call1(&e, P_CFG_READ32, in, 1), 0x55441234);
	in[0] = 0x2c;
	ASSERT_EQ(call1(&e, P_CFG_READ32, in, 1), 0x11001af4);
	/* BAR sizing, as firmware does it */
	in[0] = 0x10;
	in[1] = 0xffffffff;
	ASSERT_OK(call(&e, P_CONFIG_WRITE32, in, 2, NULL, 0));
	in[0] = 0x10;
	ASSERT_EQ(call1(&e, P_CFG_READ32, in, 1), 0xfffff000);
	/* the BARs */
	in[0] = 0;
	ASSERT_OK(call(&e, P_BAR_INFO, in, 1, out, 4));
	ASSERT_EQ(out[0], 4096);
	ASSERT_EQ(out[1], 0);
	in[0] = 2;
	ASSERT_OK(call(&e, P_BAR_INFO, in, 1, out, 4));
	ASSERT_EQ(out[0], 65536);
	ASSERT_EQ(out[1], 1);
	ASSERT_EQ(out[3], 1);
	/* capabilities */
	in[0] = 0x05;
	ASSERT_GE(call1(&e, P_FIND_CAP, in, 1), 0x40);
	in[0] = 0x11;
	ASSERT_GE(call1(&e, P_FIND_CAP, in, 1), 0x40);
	in[0] = 0x01;
	ASSERT_GE(call1(&e, P_FIND_CAP, in, 1), 0x40);
	in[0] = 0x09; /* vendor specific: not there */
	ASSERT_ERR(call(&e, P_FIND_CAP, in, 1, out, 1), -ENOENT);
	ASSERT_OK(call(&e, P_LOCATION, NULL, 0, out, 3));
	ASSERT_EQ(out[0], 0);
	ASSERT_EQ(out[1], 5);
	ASSERT_EQ(out[2], 0);
	env_down(&e);
}

TEST(registers_mapped_memory_and_a_rom)
{
	struct env e;
	uint64_t in[3], out[1];

	env_up(&e, NULL);
	in[0] = 0;
	in[1] = 0;
	ASSERT_EQ(call1(&e, P_MEM_READ32, in, 2), 0x55444b01);
	in[0] = 0;
	in[1] = 4;
	in[2] = 0xdeadbeef;
	ASSERT_OK(call(&e, P_MEM_WRITE32, in, 3, NULL, 0));
	in[0] = 0;
	in[1] = 4;
	ASSERT_EQ(call1(&e, P_MEM_READ32, in, 2), 0xdeadbeef);
	/* out of range and missing BARs are refused */
	in[0] = 0;
	in[1] = 4096;
	ASSERT_ERR(call(&e, P_MEM_READ32, in, 2, out, 1), -EINVAL);
	ASSERT_CONTAINS(udk_error_reason(), "outside BAR 0");
	in[0] = 1;
	in[1] = 0;
	ASSERT_ERR(call(&e, P_MEM_READ32, in, 2, out, 1), -EINVAL);
	/* BAR2 is memory: what the driver writes through its mapping, the
	 * model sees, and register reads of it agree */
	in[0] = 2;
	in[1] = 0x100;
	in[2] = 0x12345678;
	ASSERT_OK(call(&e, P_MAP_WRITE32, in, 3, NULL, 0));
	in[0] = 2;
	in[1] = 0x100;
	ASSERT_EQ(call1(&e, P_MAP_READ32, in, 2), 0x12345678);
	/* the ROM */
	in[0] = 4;
	in[1] = 8;
	ASSERT_EQ(call1(&e, P_MAP_READ32, in, 2), (uint32_t)(24 | 27 << 8 | 30 << 16 | 33u << 24));
	/* register registers on a register BAR cannot be mapped */
	in[0] = 0;
	in[1] = 0;
	ASSERT_ERR(call(&e, P_MAP_READ32, in, 2, out, 1), -UDK_E_UNSUPPORTED);
	env_down(&e);
}

TEST(msi_interrupts_reach_the_driver_queue)
{
	struct env e;
	uint64_t in[2], out[3];

	env_up(&e, NULL);
	in[0] = 1;
	in[1] = 1;
	ASSERT_OK(call(&e, P_IRQ_TEST, in, 2, out, 3));
	ASSERT_EQ(out[0], 1);
	ASSERT_GE(out[1], 1);
	ASSERT_LE(out[2], 10000000000ull); /* a time, not garbage */
	/* a burst coalesces into fewer handler runs, and nothing is lost */
	in[0] = 0;
	in[1] = 1000;
	ASSERT_OK(call(&e, P_IRQ_TEST, in, 2, out, 3));
	ASSERT_EQ(out[0], 1000);
	ASSERT_LE(out[1], 1000);
	/* a vector the device does not have */
	ASSERT_ERR(udk_connection_call(e.conn, P_IRQ_TEST, (uint64_t[]){ 9, 1 }, 2, NULL, 0, out, (uint32_t[]){ 3 },
				       NULL, NULL),
		   -EINVAL);
	env_down(&e);
}

TEST(dma_goes_through_the_iommu_in_its_direction_only)
{
	struct env e;
	uint64_t in[3], out[3];

	env_up(&e, NULL);
	/* device writes memory prepared IN: works, above 4 GiB */
	in[0] = 1 << 20;
	in[1] = 1; /* UDK_MEMORY_DIRECTION_IN */
	in[2] = 64;
	ASSERT_OK(call(&e, P_DMA_TEST, in, 3, out, 3));
	ASSERT_EQ(out[0], 0);
	ASSERT_GE(out[1], 1ull << 32);
	ASSERT_EQ(out[2], 1);
	/* a 32-bit device gets 32-bit addresses */
	in[2] = 32;
	ASSERT_OK(call(&e, P_DMA_TEST, in, 3, out, 3));
	ASSERT_EQ(out[0], 0);
	ASSERT_LE(out[1] + (1 << 20), 1ull << 32);
	/* device writes memory prepared OUT: an IOMMU fault */
	in[1] = 2; /* UDK_MEMORY_DIRECTION_OUT */
	in[2] = 64;
	ASSERT_OK(call(&e, P_DMA_TEST, in, 3, out, 3));
	ASSERT_EQ(out[0], 1);
	/* after completion the device reaches nothing */
	ASSERT_OK(call(&e, P_DMA_AFTER_COMPLETE, NULL, 0, out, 2));
	ASSERT_EQ(out[0], 1);
	ASSERT_GE(call1(&e, P_FAULTS, NULL, 0), 2);
	env_down(&e);
	{
		char *log = fixture_log(&e.f);
		ASSERT_CONTAINS(log, "IOMMU fault: the device wrote");
		ASSERT_CONTAINS(log, "was not prepared for DMA");
		free(log);
	}
}

/* "The total DMA size in DriverKit cannot exceed 2G?", kept as a test:
 * 16 frames of 8K BGRA, 141,557,760 bytes each, prepared and filled. */
TEST_FULL(sixteen_8k_frames_2_26_gb_prepared_and_filled, 600)
{
	struct env e;
	struct {
		uint64_t count, size, addr[16];
	} f = { 16, 141557760ull, { 0 } };
	struct udk_buffer *buf[16];
	uint64_t out[2];
	uint32_t n = 2;

	env_up(&e, NULL);
	for (int i = 0; i < 16; i++) {
		ASSERT_OK(udk_buffer_create(f.size, 0, &buf[i]));
		f.addr[i] = (uint64_t)(uintptr_t)udk_buffer_get_address(buf[i]);
	}
	{
		/* the driver may map these buffers during the call */
		struct udk_memory_range ranges[16];
		struct udk_call_args a = { .struct_size = sizeof(a), .struct_input = &f, .struct_input_size = sizeof(f),
					   .scalar_output = out, .scalar_output_count = n, .ranges = ranges,
					   .n_ranges = 16 };
		for (int i = 0; i < 16; i++)
			ranges[i] = (struct udk_memory_range){ udk_buffer_get_address(buf[i]), f.size,
							       UDK_MEMORY_DIRECTION_IN };
		ASSERT_OK(udk_connection_call_args(e.conn, P_FILL_CLIENT, &a));
	}
	ASSERT_EQ(out[0], 16 * 141557760ull);
	ASSERT_GE(out[0], 2260000000ull);
	for (int i = 0; i < 16; i++) {
		const uint64_t *w = udk_buffer_get_address(buf[i]);
		uint64_t words = f.size / 8;
		/* every frame, first, middle and last word, and a stride through it */
		ASSERT_EQ(w[0], ((uint64_t)(i + 1) << 32) + 0);
		ASSERT_EQ(w[words / 2], ((uint64_t)(i + 1) << 32) + words / 2);
		ASSERT_EQ(w[words - 1], ((uint64_t)(i + 1) << 32) + words - 1);
		for (uint64_t k = 0; k < words; k += 4099)
			ASSERT_EQ(w[k], ((uint64_t)(i + 1) << 32) + k);
		udk_buffer_unref(buf[i]);
	}
	env_down(&e);
}

TEST(a_driver_crash_resets_the_device_before_the_next_driver_opens_it)
{
	struct env e;
	uint64_t in[2];

	env_up(&e, NULL);
	in[0] = 0;
	in[1] = 8;
	ASSERT_EQ(call1(&e, P_MEM_READ32, in, 2), 0); /* RESETS */
	ASSERT_ERR(call(&e, P_CRASH, NULL, 0, NULL, 0), -UDK_E_DRIVER_DIED);
	udk_connection_unref(e.conn);
	e.conn = NULL;
	for (int i = 0; i < 500; i++) {
		uint64_t id = fixture_wait_class(&e.f, "TestPciDriver", 10000);
		if (id != e.id && udk_client_open(e.f.client, id, 0, &e.conn) >= 0)
			break;
		usleep(20000);
	}
	ASSERT_NOT_NULL(e.conn);
	in[0] = 0;
	in[1] = 8;
	ASSERT_EQ(call1(&e, P_MEM_READ32, in, 2), 1); /* one reset: "its driver died" */
	in[1] = 0x18;
	ASSERT_EQ(call1(&e, P_MEM_READ32, in, 2), 1); /* and it came before this open */
	in[1] = 0x0c;
	ASSERT_EQ(call1(&e, P_MEM_READ32, in, 2), 2);
	env_down(&e);
}

TEST(a_function_level_reset_drops_dma_mappings)
{
	struct env e;
	uint64_t in[2];

	env_up(&e, NULL);
	in[0] = 0;
	in[1] = 4;
	ASSERT_OK(call(&e, P_MEM_WRITE32, (uint64_t[]){ 0, 4, 77 }, 3, NULL, 0));
	ASSERT_OK(call(&e, P_RESET, NULL, 0, NULL, 0));
	ASSERT_EQ(call1(&e, P_MEM_READ32, in, 2), 0); /* scratch cleared */
	in[1] = 8;
	ASSERT_EQ(call1(&e, P_MEM_READ32, in, 2), 1);
	env_down(&e);
}

TEST(a_model_crash_is_hardware_gone_and_plug_brings_it_back)
{
	struct env e;
	char *out;
	uint64_t in[3] = { 0, 0x7c, 1 }, o[1];

	env_up(&e, NULL);
	/* the device dies; the app's calls fail, none hangs */
	/* the write that kills the model: its reply races udkd's notice */
	{
		int r = call(&e, P_MEM_WRITE32, in, 3, NULL, 0);
		if (r < 0)
			ASSERT_ERR(r, -UDK_E_HARDWARE_GONE);
	}
	in[1] = 0;
	for (int i = 0; i < 200; i++) {
		int r = call(&e, P_MEM_READ32, in, 2, o, 1);
		if (r < 0) {
			/* udkd tells the app before the driver stops: never UDK_E_DRIVER_DIED */
			ASSERT_ERR(r, -UDK_E_HARDWARE_GONE);
			break;
		}
		usleep(10000);
	}
	ASSERT_TRUE(fixture_wait_output(&e.f, "sim list", "gone", 10000));
	out = fixture_udkctl(&e.f, NULL, "sim list");
	ASSERT_CONTAINS(out, "its model killed by SIGABRT; `udkctl sim plug pcitest0` starts it again");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "tree");
	ASSERT_FALSE(strstr(out, "pcitest0") != NULL);
	free(out);
	udk_connection_unref(e.conn);
	e.conn = NULL;
	/* plug it back: a driver starts on it again */
	out = fixture_udkctl(&e.f, NULL, "sim plug pcitest0");
	ASSERT_CONTAINS(out, "plugged");
	free(out);
	ASSERT_TRUE(fixture_wait_output(&e.f, "tree /PCI0", "TestPciDriver", 10000));
	out = fixture_udkctl(&e.f, NULL, "sim unplug pcitest0");
	ASSERT_CONTAINS(out, "unplugged");
	free(out);
	ASSERT_TRUE(fixture_wait_output(&e.f, "sim list", "unplugged by request", 10000));
	env_down(&e);
}

TEST(a_second_device_hot_plugs_later)
{
	struct env e;
	char *out;

	env_up(&e, TEST_DEVICE("pcitest1", "pci-test",
			       "<key>Plugged</key><false/><key>Properties</key><dict><key>device-id</key>"
			       "<integer>0x5545</integer></dict>"));
	out = fixture_udkctl(&e.f, NULL, "sim list");
	ASSERT_CONTAINS(out, "pcitest1  model pci-test at 00:01.0: unplugged");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "sim plug pcitest1");
	free(out);
	ASSERT_TRUE(fixture_wait_output(&e.f, "props /PCI0/pcitest1", "\"device-id\" = 21829", 10000));
	/* no driver matches 0x5545: explain says so */
	out = fixture_udkctl(&e.f, NULL, "explain " ID " /PCI0/pcitest1");
	ASSERT_CONTAINS(out, "device/vendor 0x55451234 is not in \"0x55441234\"");
	free(out);
	out = fixture_udkctl(&e.f, NULL, "sim plug nothere");
	ASSERT_CONTAINS(out, "no device \"nothere\" in the machine description");
	free(out);
	env_down(&e);
}

/* The capture card example end to end, with small frames. */
TEST(capture_card_example_end_to_end)
{
	struct fixture f;
	char cmd[1024], *out = NULL;
	size_t len = 0;
	FILE *p, *mem;
	int st;

	fixture_init(&f);
	fixture_set_machine_devices(&f, "",
				    TEST_DEVICE("capture0", "capture-card",
						"<key>Properties</key><dict><key>Width</key><integer>640</integer>"
						"<key>Height</key><integer>480</integer></dict>"));
	fixture_add_bundle_exe(&f, "Capture.dext", "org.udk.example.capture", "drivers/capture-driver",
			       "<key>CaptureCard</key><dict>"
			       "<key>IOUserClass</key><string>CaptureDriver</string>"
			       "<key>IOUserServerName</key><string>org.udk.example.capture</string>"
			       "<key>IOProviderClass</key><string>IOPCIDevice</string>"
			       "<key>IOPCIPrimaryMatch</key><string>0xca9f1234</string>"
			       "<key>UserClientProperties</key><dict><key>IOUserClass</key>"
			       "<string>CaptureUserClient</string></dict></dict>");
	fixture_start(&f, NULL);
	fixture_wait_class(&f, "CaptureDriver", 10000);
	snprintf(cmd, sizeof(cmd), "%s --runtime-dir %s --frames 200 --irq-latency 50 2>&1",
		 build_path("examples/capture-app"), f.runtime);
	p = popen(cmd, "r");
	mem = open_memstream(&out, &len);
	for (int c; (c = fgetc(p)) != EOF;)
		fputc(c, mem);
	fclose(mem);
	st = pclose(p);
	ASSERT_EQ(st, 0);
	ASSERT_CONTAINS(out, "EDID: manufacturer UDK, product 0001, checksum ok");
	ASSERT_CONTAINS(out, "format: 640x480 BGRA, 1228800 bytes per frame, 16 buffers");
	ASSERT_CONTAINS(out, "captured 216 frames: 216 checked good, 0 bad");
	ASSERT_CONTAINS(out, "MSI latency");
	free(out);
	fixture_stop(&f);
}

/*
 * Real functions from sysfs, here a copy of the tree: one bound to
 * vfio-pci (usable through VFIO, which this kernel lacks, so opening it is
 * refused with the reason), one bound to a kernel driver (read-only).
 */
static void
fake_function(const char *root, const char *name, const char *driver, int group)
{
	char path[512];
	uint8_t c[256] = { 0x34, 0x12, 0x44, 0x55 };
	FILE *fp;

	snprintf(path, sizeof(path), "%s/devices/%s", root, name);
	ASSERT_OK(mkdir(path, 0755));
	snprintf(path, sizeof(path), "%s/devices/%s/config", root, name);
	fp = fopen(path, "w");
	ASSERT_NOT_NULL(fp);
	c[0x09] = 0x00;
	c[0x0b] = 0x04; /* multimedia */
	ASSERT_EQ(fwrite(c, 1, sizeof(c), fp), sizeof(c));
	fclose(fp);
	snprintf(path, sizeof(path), "%s/devices/%s/driver", root, name);
	char target[128];
	snprintf(target, sizeof(target), "../../drivers/%s", driver);
	ASSERT_OK(symlink(target, path));
	snprintf(path, sizeof(path), "%s/devices/%s/iommu_group", root, name);
	snprintf(target, sizeof(target), "../../kernel/iommu_groups/%d", group);
	ASSERT_OK(symlink(target, path));
}

TEST(real_functions_from_sysfs_vfio_and_read_only)
{
	struct fixture f;
	char root[300], devs[320], vfio[320], arg[340], varg[340], *out;
	struct udk_connection *conn;
	uint64_t id, v = 0;
	uint32_t n = 1;

	fixture_init(&f);
	snprintf(root, sizeof(root), "%s/sys", f.dir);
	snprintf(devs, sizeof(devs), "%s/devices", root);
	snprintf(vfio, sizeof(vfio), "%s/dev-vfio", f.dir);
	ASSERT_OK(mkdir(root, 0755));
	ASSERT_OK(mkdir(devs, 0755));
	ASSERT_OK(mkdir(vfio, 0755));
	fake_function(root, "0000:03:00.0", "vfio-pci", 7);
	fake_function(root, "0000:04:00.0", "snd_hda_intel", 9);
	fixture_add_bundle_exe(&f, "P.dext", ID, "tests/testpci", TESTPCI_PERSONALITY("P", ID, ""));
	snprintf(arg, sizeof(arg), "--pci-sysfs=%s", devs);
	snprintf(varg, sizeof(varg), "--vfio-dir=%s", vfio);
	fixture_start(&f, arg, varg, NULL);
	/* the read-only function: the driver reads its config space */
	id = fixture_wait_class(&f, "TestPciDriver", 10000);
	out = fixture_udkctl(&f, NULL, "props /PCIHost/0000:04:00.0");
	ASSERT_CONTAINS(out, "\"UDKBackend\" = \"sysfs\"");
	ASSERT_CONTAINS(out, "\"UDKKernelDriver\" = \"snd_hda_intel\"");
	ASSERT_CONTAINS(out, "\"class-code\" = 262144");
	free(out);
	ASSERT_OK(udk_client_open(f.client, id, 0, &conn));
	ASSERT_OK(udk_connection_call(conn, P_CFG_READ32, (uint64_t[]){ 0 }, 1, NULL, 0, &v, &n, NULL, NULL));
	ASSERT_EQ(v, 0x55441234u);
	ASSERT_ERR(udk_connection_call(conn, P_MEM_WRITE32, (uint64_t[]){ 0, 0, 1 }, 3, NULL, 0, NULL, NULL, NULL,
				       NULL),
		   -UDK_E_UNSUPPORTED);
	/* the refusal names the device, its kernel driver and how to give it to vfio-pci */
	ASSERT_CONTAINS(udk_error_reason(), "0000:04:00.0 is bound to the kernel driver snd_hda_intel");
	ASSERT_CONTAINS(udk_error_reason(), "echo vfio-pci > /sys/bus/pci/devices/0000:04:00.0/driver_override");
	udk_connection_unref(conn);
	/* the vfio-pci function: published as usable, refused with the reason */
	out = fixture_udkctl(&f, NULL, "props /PCIHost/0000:03:00.0");
	ASSERT_CONTAINS(out, "\"UDKBackend\" = \"vfio\"");
	ASSERT_CONTAINS(out, "\"UDKIOMMUGroup\" = 7");
	free(out);
	ASSERT_TRUE(fixture_wait_output(&f, "explain " ID " /PCIHost/0000:03:00.0", "Start() failed", 10000));
	out = fixture_udkctl(&f, NULL, "explain " ID " /PCIHost/0000:03:00.0");
	ASSERT_CONTAINS(out, "0000:03:00.0: cannot open ");
	ASSERT_CONTAINS(out, "dev-vfio/vfio: No such file or directory; load the vfio-pci module");
	free(out);
	fixture_stop(&f);
}

/* This machine's own PCI functions, with the ids their config space holds. */
TEST(this_machines_pci_functions_are_published_with_their_ids)
{
	struct fixture f;
	DIR *dir = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	char path[512], want[64], *out, *tree;
	uint8_t c[4];
	int n = 0;

	if (!dir)
		test_skip("no /sys/bus/pci/devices on this machine");
	fixture_init(&f);
	fixture_start(&f, "--pci-sysfs", NULL);
	tree = fixture_udkctl(&f, NULL, "tree /PCIHost");
	while ((e = readdir(dir))) {
		FILE *fp;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", e->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (fread(c, 1, 4, fp) != 4) {
			fclose(fp);
			continue;
		}
		fclose(fp);
		ASSERT_CONTAINS(tree, e->d_name);
		snprintf(path, sizeof(path), "props /PCIHost/%s", e->d_name);
		out = fixture_udkctl(&f, NULL, path);
		snprintf(want, sizeof(want), "\"vendor-id\" = %u", c[0] | c[1] << 8);
		ASSERT_CONTAINS(out, want);
		snprintf(want, sizeof(want), "\"device-id\" = %u", c[2] | c[3] << 8);
		ASSERT_CONTAINS(out, want);
		free(out);
		n++;
	}
	closedir(dir);
	free(tree);
	fixture_stop(&f);
	if (!n)
		test_skip("this machine has no readable PCI functions");
	test_log("%d real functions published with their ids", n);
}
