/* SPDX-License-Identifier: MIT */
/* portal.c - TCP connections to iSCSI portals, made by udkd (udk_scsi_portal_connect). */
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
