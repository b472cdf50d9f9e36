/* SPDX-License-Identifier: MIT */
/*
 * broker.c - a driver opens its provider (OP_DRV_OPEN_PROVIDER).
 *
 * udkd checks that the service is the provider the driver was started on;
 * the family governing the service then answers with its backend and the
 * descriptors the driver needs (family.h, open_provider).  The sandbox
 * never lets a driver open device nodes itself: udkd opens them and hands
 * them over.
 */
#include "buf.h"
#include "family.h"
#include "proto.h"
#include "udkd.h"
#include "util.h"

void
broker_open_provider(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
		     const struct proto_drv_open_provider_req *req)
{
	struct service *s = NULL;
	const struct udkd_family *f;
	bool mine;

	if (req->has_provider)
		s = service_by_id(d, req->provider);
	mine = s && s == p->provider;

	/* a one-process server runs instances on several providers */
	for (size_t i = 0; s && !mine && i < s->n_children; i++)
		mine = s->children[i]->istate != INST_NONE && s->children[i]->owner == p;
	if (!mine) {
		proc_reply(p, m, -EPERM, "a driver can open only the provider it was started on", NULL, NULL, 0);
		return;
	}
	if (s->state == SVC_TERMINATED) {
		proc_reply(p, m, -UDK_E_HARDWARE_GONE, "the provider is gone (terminated)", NULL, NULL, 0);
		return;
	}
	f = family_of_service(s);
	if (!f || !f->open_provider) {
		struct buf b;
		char *why;

		buf_init(&b, 0);
		for (size_t i = 0; i < udk_array_size(s->classes); i++)
			buf_printf(&b, "%s%s", i ? ", " : "", udk_value_get_string(udk_array_get(s->classes, i)));
		why = buf_steal_string(&b);
		why = why ? why : strdup("?");
		{
			char *msg = f ? strdup_printf("the %s family cannot open its services for drivers (%s: "
						      "classes [%s])",
						      f->name, s->name, why)
				      : strdup_printf("%s is a service of no family, so there is nothing to open: "
						      "read its properties instead (classes [%s])",
						      s->name, why);
			proc_reply(p, m, -UDK_E_UNSUPPORTED, msg, NULL, NULL, 0);
			free(msg);
		}
		free(why);
		return;
	}
	f->open_provider(d, p, m, s);
}
