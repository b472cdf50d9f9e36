/* SPDX-License-Identifier: MIT */
/* portal.c - what udkd opens for controller drivers: TCP connections to iSCSI portals, sg devices. */
#include "private.h"
#include "scsi-driver.h"
#include "util.h"

UDK_EXPORT int
udk_scsi_portal_connect(const char *host, uint16_t port, int *ret_fd)
{
	struct udk_value *body, *reply = NULL;
	int fd = -1, r;

	udk_return_val_if_fail(host && port && ret_fd, -EINVAL);
	body = udk_value_new_dict();
	udk_dict_set_string(body, "host", host);
	udk_dict_set_int(body, "port", port);
	r = rt_call_fd(OP_SCSI_PORTAL_CONNECT, body, &reply, &fd);
	udk_value_unref(body);
	udk_value_unref(reply);
	if (r < 0)
		return r;
	if (fd < 0)
		return udk_set_reason(-UDK_E_PROTOCOL, "udkd answered the portal connect without a socket");
	*ret_fd = fd;
	return 0;
}

UDK_EXPORT int
udk_scsi_generic_open(struct udk_service *provider, int *ret_fd)
{
	struct udk_value *body, *reply = NULL;
	int fd = -1, r;

	udk_return_val_if_fail(provider && ret_fd, -EINVAL);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "provider", udk_service_get_id(provider));
	r = rt_call_fd(OP_DRV_OPEN_PROVIDER, body, &reply, &fd);
	udk_value_unref(body);
	if (r >= 0 && (fd < 0 || !streq(udk_dict_get_string(reply, "backend"), "sg"))) {
		if (fd >= 0)
			close(fd);
		r = udk_set_reason(-UDK_E_PROTOCOL, "udkd opened the provider, but not as an sg device");
	}
	udk_value_unref(reply);
	if (r < 0)
		return r;
	*ret_fd = fd;
	return 0;
}
