/* SPDX-License-Identifier: MIT */
/*
 * The code tools/udk-idl generates from lib/common/proto.xml: op numbers
 * that never move, decoders that refuse with a sentence naming the op and
 * the field, encoders that round-trip.
 */
#include <udk/value.h>

#include "proto.h"
#include "test.h"
#include "util.h"

/* Every op number as proto.h had it before the definition moved to proto.xml:
 * peers built from either agree. */
static const struct {
	const char *name;
	int op;
} numbers[] = {
	{ "OP_ACCESS", 119 },
	{ "OP_DEBUG", 112 },
	{ "OP_DEVELOPER", 118 },
	{ "OP_DM_CONFIG", 252 },
	{ "OP_DM_CONNECT", 251 },
	{ "OP_DM_DMA_MAP", 262 },
	{ "OP_DM_DMA_UNMAP", 263 },
	{ "OP_DM_FAULT", 270 },
	{ "OP_DM_HELLO", 250 },
	{ "OP_DM_IRQ_PAGE", 260 },
	{ "OP_DM_IRQ_SET", 261 },
	{ "OP_DRIVERS", 108 },
	{ "OP_DRV_HELLO", 200 },
	{ "OP_DRV_LOG", 208 },
	{ "OP_DRV_NEW_USER_CLIENT", 203 },
	{ "OP_DRV_OPEN_PROVIDER", 212 },
	{ "OP_DRV_POWER_BUSY", 217 },
	{ "OP_DRV_POWER_REQUEST", 216 },
	{ "OP_DRV_PROBLEM", 218 },
	{ "OP_DRV_PROVIDER_EVENT", 210 },
	{ "OP_DRV_PUBLISH", 204 },
	{ "OP_DRV_PUBLISH_RESOURCE", 211 },
	{ "OP_DRV_REGISTER", 205 },
	{ "OP_DRV_REVOKE_USER_CLIENT", 213 },
	{ "OP_DRV_SET_LOG_LEVEL", 209 },
	{ "OP_DRV_SET_POWER", 215 },
	{ "OP_DRV_SET_PROPERTIES", 206 },
	{ "OP_DRV_START", 201 },
	{ "OP_DRV_STOP", 202 },
	{ "OP_DRV_TERMINATE", 207 },
	{ "OP_DRV_USER_CLIENT_CLOSED", 214 },
	{ "OP_ERROR", 2 },
	{ "OP_EXPLAIN", 109 },
	{ "OP_FAMILIES", 121 },
	{ "OP_FIND", 102 },
	{ "OP_HELLO", 100 },
	{ "OP_LOG_LEVEL", 111 },
	{ "OP_LOOKUP", 104 },
	{ "OP_NOTIFY", 150 },
	{ "OP_OPEN", 107 },
	{ "OP_PING", 1 },
	{ "OP_POWER", 120 },
	{ "OP_PROPERTIES", 103 },
	{ "OP_RESCAN", 113 },
	{ "OP_RESTART", 110 },
	{ "OP_SET_PROPERTY", 115 },
	{ "OP_SIM", 116 },
	{ "OP_STATUS", 114 },
	{ "OP_SUBSCRIBE", 105 },
	{ "OP_TREE", 101 },
	{ "OP_TRUST", 117 },
	{ "OP_UC_CALL", 300 },
	{ "OP_UC_CLOSE", 304 },
	{ "OP_UC_COMPLETION", 302 },
	{ "OP_UC_MAP", 303 },
	{ "OP_UC_MAP_RING", 305 },
	{ "OP_UC_MEMORY", 301 },
	{ "OP_UC_SPIN", 306 },
	{ "OP_UNSUBSCRIBE", 106 },
};

TEST(numbers_never_move)
{
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		const struct proto_op_info *info = proto_op_info((uint16_t)numbers[i].op);
		ASSERT_NOT_NULL(info);
		ASSERT_STREQ(info->name, numbers[i].name);
	}
	ASSERT_EQ(OP_FAMILY_FIRST, 1000);
	ASSERT_EQ(OP_HELLO, 100);
	ASSERT_EQ(OP_DRV_PROBLEM, 218);
	ASSERT_EQ(OP_UC_SPIN, 306);
	/* the driver lifecycle's ops, added after the IDL's first version */
	ASSERT_EQ(OP_INSTALL, 122);
	ASSERT_EQ(OP_UNINSTALL, 123);
	ASSERT_EQ(OP_DRIVER_LOGS, 124);
	/* new ops only add numbers */
	ASSERT_GE(proto_n_ops, sizeof(numbers) / sizeof(numbers[0]));
	ASSERT_NULL(proto_op_info(OP_FAMILY_FIRST));
	ASSERT_NULL(proto_op_name(99));
}

TEST(table_is_ordered_and_complete)
{
	for (size_t i = 0; i < proto_n_ops; i++) {
		const struct proto_op_info *o = &proto_ops[i];
		if (i)
			ASSERT_TRUE(o->op > proto_ops[i - 1].op);
		ASSERT_TRUE(o->op < OP_FAMILY_FIRST);
		ASSERT_TRUE(proto_op_info(o->op) == o);
		ASSERT_TRUE(o->fds_min <= o->fds_max);
		/* dictionaries have a decoder and an encoder; packed structures neither */
		ASSERT_EQ(o->decode != NULL, o->dict_body);
		ASSERT_EQ(o->encode != NULL, o->dict_body);
		/* a reply structure has its decoder and encoder, the client's and udkd's sides */
		ASSERT_EQ(o->reply_decode != NULL, o->rep_size != 0);
		ASSERT_EQ(o->reply_encode != NULL, o->rep_size != 0);
	}
	ASSERT_NOT_NULL(proto_op_info(OP_FIND)->reply_decode);
	ASSERT_NULL(proto_op_info(OP_DRV_LOG)->reply_decode);
	ASSERT_STREQ(proto_op_info(OP_TREE)->channel, "control");
	ASSERT_STREQ(proto_op_info(OP_DRV_PUBLISH)->channel, "driver");
	ASSERT_EQ(proto_op_info(OP_DRV_PUBLISH)->from, PROTO_ROLE_DRIVER);
	ASSERT_EQ(proto_op_info(OP_DRV_PUBLISH)->to, PROTO_ROLE_UDKD);
	ASSERT_TRUE(proto_op_info(OP_DRV_LOG)->oneway);
	ASSERT_EQ(proto_op_info(OP_DRV_NEW_USER_CLIENT)->fds_min, 1);
	ASSERT_EQ(proto_op_info(OP_DM_IRQ_SET)->fds_max, 1);
	ASSERT_EQ(proto_op_info(OP_DM_IRQ_SET)->fds_min, 0);
}

/* Decode @body (taken) as @op; the code, and the reason in @why. */
static int
decode(uint16_t op, struct udk_value *body, char *why, size_t len)
{
	union {
		max_align_t align;
		uint8_t bytes[1024];
	} req;
	int r;

	why[0] = '\0';
	r = proto_op_info(op)->decode(body, &req, why, len);
	udk_value_unref(body);
	return r;
}

static struct udk_value *
dict1(const char *key, struct udk_value *v)
{
	struct udk_value *d = udk_value_new_dict();
	udk_dict_set_take(d, key, v);
	return d;
}

TEST(refusals_name_op_and_field)
{
	char why[256];
	struct udk_value *a;

	/* a field of the wrong type */
	ASSERT_EQ(decode(OP_SUBSCRIBE, dict1("cookie", udk_value_new_string("1")), why, sizeof(why)),
		  -UDK_E_PROTOCOL);
	ASSERT_STREQ(why, "OP_SUBSCRIBE: field \"cookie\" must be an unsigned integer, not a string");
	/* a body that is not a dictionary */
	ASSERT_EQ(decode(OP_TREE, udk_value_new_int(1), why, sizeof(why)), -UDK_E_PROTOCOL);
	ASSERT_STREQ(why, "OP_TREE: the request body must be a dictionary, not an integer");
	/* a required field missing */
	ASSERT_EQ(decode(OP_DRV_PROBLEM, dict1("object", udk_value_new_uint(1)), why, sizeof(why)), -EINVAL);
	ASSERT_STREQ(why, "OP_DRV_PROBLEM: field \"reason\" is missing; it is required");
	/* a string over its bound */
	a = dict1("reason", udk_value_new_string("r"));
	udk_dict_set_string(a, "code", "0123456789012345678901234567890123456789012345678901234567890123456789");
	ASSERT_EQ(decode(OP_DRV_PROBLEM, a, why, sizeof(why)), -EINVAL);
	ASSERT_STREQ(why, "OP_DRV_PROBLEM: field \"code\" has 70 bytes; it must have at most 64 bytes");
	/* an integer over its bound */
	ASSERT_EQ(decode(OP_DM_IRQ_SET, dict1("vector", udk_value_new_uint(64)), why, sizeof(why)), -EINVAL);
	ASSERT_STREQ(why, "OP_DM_IRQ_SET: field \"vector\" is 64; it must be at most 63");
	/* a value not in the list */
	ASSERT_EQ(decode(OP_SIM, dict1("action", udk_value_new_string("dance")), why, sizeof(why)), -EINVAL);
	ASSERT_STREQ(why, "OP_SIM: field \"action\" is \"dance\"; it must be list, plug or unplug");
	/* an array over its bound, and an item of the wrong type */
	a = udk_value_new_array();
	for (int i = 0; i < 65; i++)
		udk_array_append_take(a, udk_value_new_string("C"));
	ASSERT_EQ(decode(OP_DRV_HELLO, dict1("classes", a), why, sizeof(why)), -EINVAL);
	ASSERT_STREQ(why, "OP_DRV_HELLO: field \"classes\" has 65 items; it must have at most 64 items");
	a = udk_value_new_array();
	udk_array_append_take(a, udk_value_new_string("C"));
	udk_array_append_take(a, udk_value_new_bool(true));
	ASSERT_EQ(decode(OP_DRV_HELLO, dict1("classes", a), why, sizeof(why)), -UDK_E_PROTOCOL);
	ASSERT_STREQ(why, "OP_DRV_HELLO: item 1 of field \"classes\" must be a string, not a bool");
	/* a short buffer truncates the sentence, never overruns it */
	ASSERT_EQ(decode(OP_SIM, dict1("action", udk_value_new_string("dance")), why, 8), -EINVAL);
	ASSERT_STREQ(why, "OP_SIM:");
}

TEST(accepted)
{
	char why[64];
	struct proto_drv_publish_req req;
	struct udk_value *body = udk_value_new_dict(), *classes = udk_value_new_array();

	/* no body where nothing is required; any body for a ping */
	ASSERT_OK(decode(OP_TREE, NULL, why, sizeof(why)));
	ASSERT_OK(decode(OP_PING, udk_value_new_string("x"), why, sizeof(why)));
	/* unknown keys are ignored: a newer peer may add optional fields */
	ASSERT_OK(decode(OP_TREE, dict1("future", udk_value_new_int(1)), why, sizeof(why)));

	udk_dict_set_uint(body, "provider", 0x100000002ull);
	udk_dict_set_string(body, "name", "child");
	udk_array_append_take(classes, udk_value_new_string("UDKChild"));
	udk_dict_set_take(body, "classes", classes);
	ASSERT_OK(proto_drv_publish_decode(body, &req, why, sizeof(why)));
	ASSERT_TRUE(req.body == body);
	ASSERT_TRUE(req.has_provider);
	ASSERT_EQ(req.provider, 0x100000002ull);
	ASSERT_STREQ(req.name, "child");
	ASSERT_EQ(udk_array_size(req.classes), 1);
	ASSERT_NULL(req.properties);
	/* what decodes encodes to the same dictionary */
	{
		struct udk_value *again = proto_drv_publish_encode(&req);
		ASSERT_TRUE(udk_value_equal(again, body));
		udk_value_unref(again);
	}
	udk_value_unref(body);
}

TEST(reply_encoders)
{
	struct udk_value *v = proto_rescan_reply_encode(&(struct proto_rescan_rep){
		.has_added = true, .added = 2, .has_removed = true, .removed = 0 });
	struct udk_value *rest = dict1("extra", udk_value_new_bool(true));
	struct udk_value *w;

	/* a required field is always there (reloaded: 0) */
	ASSERT_EQ(udk_dict_size(v), 3);
	ASSERT_EQ(udk_dict_get_int(v, "reloaded", -1), 0);
	ASSERT_EQ(udk_dict_get_int(v, "added", -1), 2);
	ASSERT_EQ(udk_dict_get_int(v, "removed", -1), 0);
	udk_value_unref(v);
	/* optional fields left out stay out; an open reply keeps the rest */
	v = proto_lookup_reply_encode(&(struct proto_lookup_rep){ 0 });
	ASSERT_EQ(udk_dict_size(v), 0);
	udk_value_unref(v);
	w = proto_status_reply_encode(&(struct proto_status_rep){ .rest = rest, .has_pid = true, .pid = 7,
								   .runtime_dir = "/run/udk" });
	ASSERT_TRUE(udk_dict_get_bool(w, "extra", false));
	ASSERT_EQ(udk_dict_get_int(w, "pid", 0), 7);
	ASSERT_STREQ(udk_dict_get_string(w, "runtime_dir"), "/run/udk");
	udk_value_unref(w);
	udk_value_unref(rest);
}

/* The client's side: udkd's replies checked against the definition, with
 * UDK_E_PROTOCOL and a sentence naming op and field when they do not fit. */
TEST(reply_decoders)
{
	struct proto_find_rep find;
	struct proto_status_rep status;
	struct udk_value *v, *a = udk_value_new_array();
	char why[256];

	ASSERT_ERR(proto_find_reply_decode(NULL, &find, why, sizeof(why)), -UDK_E_PROTOCOL);
	ASSERT_CONTAINS(why, "OP_FIND reply: the body must be a dictionary");
	v = udk_value_new_dict();
	ASSERT_ERR(proto_find_reply_decode(v, &find, why, sizeof(why)), -UDK_E_PROTOCOL);
	ASSERT_STREQ(why, "OP_FIND reply: field \"ids\" is missing; it is required");
	udk_array_append_take(a, udk_value_new_uint(3));
	udk_array_append_take(a, udk_value_new_string("4"));
	udk_dict_set(v, "ids", a);
	ASSERT_ERR(proto_find_reply_decode(v, &find, why, sizeof(why)), -UDK_E_PROTOCOL);
	ASSERT_CONTAINS(why, "item 1 of field \"ids\" must be an unsigned integer, not a string");
	udk_value_unref(a);
	a = udk_value_new_array();
	udk_array_append_take(a, udk_value_new_uint(3));
	udk_dict_set(v, "ids", a);
	ASSERT_OK(proto_find_reply_decode(v, &find, why, sizeof(why)));
	ASSERT_EQ(udk_array_size(find.ids), 1);
	ASSERT_EQ(udk_value_get_uint(udk_array_get(find.ids, 0), 0), 3);
	udk_value_unref(a);
	udk_value_unref(v);
	/* what udkd encodes, the client decodes; an open reply keeps the whole body */
	v = proto_status_reply_encode(&(struct proto_status_rep){ .has_pid = true, .pid = 9, .runtime_dir = "/r" });
	udk_dict_set_bool(v, "extra", true);
	ASSERT_OK(proto_status_reply_decode(v, &status, why, sizeof(why)));
	ASSERT_TRUE(status.has_pid);
	ASSERT_EQ(status.pid, 9);
	ASSERT_STREQ(status.runtime_dir, "/r");
	ASSERT_TRUE(status.rest == v);
	udk_dict_set_string(v, "pid", "nine");
	ASSERT_ERR(proto_status_reply_decode(v, &status, why, sizeof(why)), -UDK_E_PROTOCOL);
	ASSERT_STREQ(why, "OP_STATUS reply: field \"pid\" must be an integer, not a string");
	udk_value_unref(v);
}
