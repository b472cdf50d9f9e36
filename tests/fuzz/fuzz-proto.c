/* SPDX-License-Identifier: MIT */
/*
 * The generated decoders (lib/common/proto.xml, tools/udk-idl), every op
 * of every channel: the first two bytes choose the op (its number, little
 * endian; a number that is no op picks one by index into proto_ops[]),
 * the rest is an encoded udk_value body, as wire.c hands it
 * to a receiver.  A decoder either refuses with a sentence naming the op,
 * or fills the request; then what its encoder makes of that request must
 * decode again to a request that encodes to the same dictionary.  The same
 * body goes to the op's reply decoder (the client's side: libudk, udkctl),
 * which refuses with UDK_E_PROTOCOL naming the op or round-trips the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "util.h"
#include "value-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* larger than any request structure */
union any_req {
	max_align_t align;
	uint8_t bytes[1024];
};

static void
check_reply(const struct proto_op_info *info, const struct udk_value *body)
{
	struct udk_value *e1, *e2;
	union any_req rep, again;
	char why[256] = "";
	int r;

	if (info->rep_size > sizeof(rep))
		abort();
	r = info->reply_decode(body, &rep, why, sizeof(why));
	if (r < 0) {
		/* a reply that does not fit is the peer's fault: always UDK_E_PROTOCOL, naming the op */
		if (r != -UDK_E_PROTOCOL || !strstr(why, info->name))
			abort();
		return;
	}
	if (r != 0)
		abort();
	e1 = info->reply_encode(&rep);
	if (!e1 || info->reply_decode(e1, &again, why, sizeof(why)) != 0)
		abort();
	e2 = info->reply_encode(&again);
	if (!e2 || !udk_value_equal(e1, e2))
		abort();
	udk_value_unref(e2);
	udk_value_unref(e1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct proto_op_info *info;
	struct udk_value *body = NULL, *e1, *e2;
	union any_req req, again;
	char why[256];
	int r;

	if (size < 2)
		return 0;
	info = proto_op_info((uint16_t)(data[0] | data[1] << 8));
	if (!info)
		info = &proto_ops[(data[0] | (size_t)data[1] << 8) % proto_n_ops];
	if (!info->decode)
		return 0; /* a packed structure of proto.h: fuzz-call covers UC_CALL */
	if (info->req_size > sizeof(req))
		abort();
	/* a body that does not decode still reaches the decoder, as NULL */
	if (value_decode(data + 2, size - 2, &body) < 0)
		body = NULL;
	if (info->reply_decode)
		check_reply(info, body);
	why[0] = '\0';
	r = info->decode(body, &req, why, sizeof(why));
	if (r < 0) {
		/* a refusal says which op and is one of the two codes */
		if ((r != -UDK_E_PROTOCOL && r != -EINVAL) || !strstr(why, info->name))
			abort();
		udk_value_unref(body);
		return 0;
	}
	if (r != 0)
		abort();
	e1 = info->encode(&req);
	if (!e1)
		abort();
	r = info->decode(e1, &again, why, sizeof(why));
	if (r < 0)
		abort();
	e2 = info->encode(&again);
	if (!e2 || !udk_value_equal(e1, e2))
		abort();
	udk_value_unref(e2);
	udk_value_unref(e1);
	udk_value_unref(body);
	return 0;
}
