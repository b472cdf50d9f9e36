/* SPDX-License-Identifier: MIT */
/*
 * nbdkit-udk-plugin - export a udk block device to Linux over NBD, so the
 * tools people use work on udk's devices: nbdinfo, nbdcopy, qemu-img,
 * fio's nbd engine, and the kernel's nbd-client.
 *
 *	nbdkit udk service=/PCI0/hba0/SimHBA/Target0-LUN0/SCSIDisk/BlockStorageDevice
 *	nbdkit udk identifier=SIM0001 [runtime-dir=/run/udk]
 *
 * Each NBD connection is a client of the block device (the family's user
 * client): requests go to its driver through shared-memory rings, the data
 * through a pool of shared buffers.  Errors carry the driver's sentence to
 * nbdkit's log.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <udk/client.h>
#include <udk/families/block-client.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static char *service_path;
static char *identifier;
static char *runtime_dir;

struct handle {
	struct udk_client *client;
	struct udk_block_client *bc;
	struct udk_block_info info;
};

static void
udk_unload(void)
{
	free(service_path);
	free(identifier);
	free(runtime_dir);
}

static int
udk_config(const char *key, const char *value)
{
	char **slot = NULL;

	if (!strcmp(key, "service"))
		slot = &service_path;
	else if (!strcmp(key, "identifier"))
		slot = &identifier;
	else if (!strcmp(key, "runtime-dir"))
		slot = &runtime_dir;
	if (!slot) {
		nbdkit_error("unknown parameter '%s' (service=PATH, identifier=ID, runtime-dir=DIR)", key);
		return -1;
	}
	free(*slot);
	*slot = strdup(value);
	return *slot ? 0 : -1;
}

static int
udk_config_complete(void)
{
	if (!service_path == !identifier) {
		nbdkit_error("give the block device as service=PATH (a registry path or id) or identifier=ID");
		return -1;
	}
	return 0;
}

#define udk_config_help                                                                                        \
	"service=PATH      the block device: its registry path or id\n"                                        \
	"identifier=ID     or its identifier (UDKBlockIdentifier: a serial number ...)\n"                      \
	"runtime-dir=DIR   udkd's runtime directory (default $UDK_RUNTIME_DIR)"

static int
fail(const char *what, int r)
{
	nbdkit_error("%s: %s: %s", what, udk_error_name(r), udk_error_reason() ? udk_error_reason() : udk_strerror(r));
	errno = r == -ERANGE || r == -EINVAL ? EINVAL : r == -EROFS ? EROFS : r == -ENOSPC ? ENOSPC : EIO;
	return -1;
}

static int
find_device(struct udk_client *c, uint64_t *ret)
{
	if (service_path)
		return udk_client_lookup_path(c, service_path, ret);
	{
		struct udk_value *m = udk_matching_class("IOBlockStorageDevice");
		uint64_t *ids = NULL;
		size_t n = 0;
		int r;
		udk_dict_set_string(m, "UDKBlockIdentifier", identifier);
		r = udk_client_find_services(c, m, &ids, &n);
		udk_value_unref(m);
		if (r >= 0 && !n)
			r = -UDK_E_NO_SUCH_SERVICE;
		if (r >= 0)
			*ret = ids[0];
		free(ids);
		return r;
	}
}

static void *
udk_open(int readonly)
{
	struct handle *h = calloc(1, sizeof(*h));
	uint64_t id = 0;
	int r;

	(void)readonly;
	if (!h) {
		nbdkit_error("out of memory");
		return NULL;
	}
	r = udk_client_new(runtime_dir, &h->client);
	if (r >= 0)
		r = find_device(h->client, &id);
	if (r >= 0)
		r = udk_block_client_open(h->client, id, &h->bc);
	if (r >= 0)
		r = udk_block_client_get_info(h->bc, &h->info);
	if (r < 0) {
		fail("cannot open the udk block device", r);
		udk_client_unref(h->client);
		free(h);
		return NULL;
	}
	nbdkit_debug("udk: %s, %llu blocks of %u bytes", h->info.identifier, (unsigned long long)h->info.block_count,
		     h->info.block_size);
	return h;
}

static void
udk_close(void *handle)
{
	struct handle *h = handle;

	udk_block_client_close(h->bc);
	udk_client_unref(h->client);
	free(h);
}

static int64_t
udk_get_size(void *handle)
{
	struct handle *h = handle;

	return (int64_t)(h->info.block_count * h->info.block_size);
}

static int
udk_block_size(void *handle, uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
	struct handle *h = handle;

	*minimum = h->info.block_size;
	*preferred = h->info.block_size > 4096 ? h->info.block_size : 4096;
	*maximum = 0xffffffff;
	return 0;
}

static int
udk_can_write(void *handle)
{
	return !(((struct handle *)handle)->info.flags & UDK_BLOCK_READ_ONLY);
}

static int
udk_can_flush(void *handle)
{
	return !!(((struct handle *)handle)->info.flags & UDK_BLOCK_CAN_FLUSH);
}

static int
udk_can_trim(void *handle)
{
	return !!(((struct handle *)handle)->info.flags & UDK_BLOCK_CAN_UNMAP);
}

static int
udk_can_multi_conn(void *handle)
{
	(void)handle;
	return 1; /* every connection reaches the same device; a flush flushes the device */
}

static int
udk_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct handle *h = handle;
	int r = udk_block_client_pread(h->bc, buf, count, offset);

	(void)flags;
	return r < 0 ? fail("read", r) : 0;
}

static int
udk_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct handle *h = handle;
	int r = udk_block_client_pwrite(h->bc, buf, count, offset);

	if (r >= 0 && (flags & NBDKIT_FLAG_FUA))
		r = udk_block_client_flush(h->bc);
	return r < 0 ? fail("write", r) : 0;
}

static int
udk_flush(void *handle, uint32_t flags)
{
	struct handle *h = handle;
	int r = udk_block_client_flush(h->bc);

	(void)flags;
	return r < 0 ? fail("flush", r) : 0;
}

static int
udk_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct handle *h = handle;
	int r = udk_block_client_unmap(h->bc, offset, count);

	if (r >= 0 && (flags & NBDKIT_FLAG_FUA))
		r = udk_block_client_flush(h->bc);
	return r < 0 ? fail("trim", r) : 0;
}

static struct nbdkit_plugin plugin = {
	.name = "udk",
	.longname = "udk block devices",
	.version = "0.1.0",
	.description = "Export a udk block device (IOBlockStorageDevice) over NBD",
	.unload = udk_unload,
	.config = udk_config,
	.config_complete = udk_config_complete,
	.config_help = udk_config_help,
	.magic_config_key = "service",
	.open = udk_open,
	.close = udk_close,
	.get_size = udk_get_size,
	.block_size = udk_block_size,
	.can_write = udk_can_write,
	.can_flush = udk_can_flush,
	.can_trim = udk_can_trim,
	.can_multi_conn = udk_can_multi_conn,
	.pread = udk_pread,
	.pwrite = udk_pwrite,
	.flush = udk_flush,
	.trim = udk_trim,
	.errno_is_preserved = 1,
};

NBDKIT_DLL_PUBLIC struct nbdkit_plugin *plugin_init(void);
NBDKIT_REGISTER_PLUGIN(plugin)
