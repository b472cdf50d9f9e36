/* SPDX-License-Identifier: MIT */
/*
 * service.c - service objects in a driver process.
 *
 * An object stands for a registry entry: the driver instance udkd started,
 * its provider (a proxy of a service owned elsewhere), children the driver
 * published, and user clients.  The registry itself lives in udkd; changes
 * go there and come back as the truth.
 */
#include "private.h"
#include "proto.h"
#include "util.h"

const struct udk_class *
class_by_name(const char *name)
{
	for (const struct udk_class *const *c = rt.classes; c && *c; c++)
		if (streq((*c)->name, name))
			return *c;
	return NULL;
}

int
service_object_new(enum object_kind kind, uint64_t id, const char *name, const char *class_name,
		   const struct udk_class *cls, const struct udk_value *props, struct udk_queue *queue,
		   struct udk_service **ret)
{
	struct udk_service *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->refcount = 1;
	s->kind = kind;
	s->id = id;
	s->name = strdup(name ? name : "");
	s->class_name = strdup(class_name ? class_name : "IOService");
	s->cls = cls;
	s->props = props ? udk_value_copy(props) : udk_value_new_dict();
	s->queue = udk_queue_ref(queue ? queue : rt.default_queue);
	pthread_mutex_init(&s->lock, NULL);
	if (cls && cls->struct_size >= offsetof(struct udk_class, ivars_size) + sizeof(size_t) && cls->ivars_size) {
		s->ivars = calloc(1, cls->ivars_size);
		if (!s->ivars)
			goto oom;
	}
	if (!s->name || !s->class_name || !s->props)
		goto oom;
	pthread_mutex_lock(&rt.lock);
	s->next = rt.objects;
	rt.objects = s;
	pthread_mutex_unlock(&rt.lock);
	*ret = s;
	return 0;
oom:
	free(s->ivars);
	free(s->name);
	free(s->class_name);
	udk_value_unref(s->props);
	udk_queue_unref(s->queue);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return -ENOMEM;
}

struct udk_service *
object_by_id(uint64_t id)
{
	struct udk_service *found = NULL;

	pthread_mutex_lock(&rt.lock);
	for (struct udk_service *s = rt.objects; s; s = s->next)
		if (s->id == id && !s->terminated) {
			found = udk_service_ref(s);
			break;
		}
	pthread_mutex_unlock(&rt.lock);
	return found;
}

UDK_EXPORT struct udk_service *
udk_service_ref(struct udk_service *s)
{
	if (s)
		__atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
	return s;
}

/* struct_size tells which callbacks a driver was built with */
#define HAS_OP(cls, field)                                                                                     \
	((cls) && (cls)->struct_size >= offsetof(struct udk_class, field) + sizeof((cls)->field) && (cls)->field)

UDK_EXPORT struct udk_service *
udk_service_unref(struct udk_service *s)
{
	if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	pthread_mutex_lock(&rt.lock);
	for (struct udk_service **pp = &rt.objects; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&rt.lock);
	if (HAS_OP(s->cls, free))
		s->cls->free(s);
	udk_service_unref(s->provider);
	udk_service_unref(s->publisher);
	udk_queue_unref(s->queue);
	udk_value_unref(s->props);
	free(s->ivars);
	free(s->name);
	free(s->class_name);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

UDK_EXPORT void *
udk_service_get_ivars(struct udk_service *s)
{
	return s ? s->ivars : NULL;
}

UDK_EXPORT uint64_t
udk_service_get_id(const struct udk_service *s)
{
	return s ? s->id : 0;
}

UDK_EXPORT const char *
udk_service_get_name(const struct udk_service *s)
{
	return s ? s->name : NULL;
}

UDK_EXPORT const char *
udk_service_get_class(const struct udk_service *s)
{
	return s ? s->class_name : NULL;
}

UDK_EXPORT struct udk_service *
udk_service_get_provider(struct udk_service *s)
{
	return s ? s->provider : NULL;
}

UDK_EXPORT struct udk_queue *
udk_service_get_default_queue(struct udk_service *s)
{
	return s ? s->queue : NULL;
}

UDK_EXPORT int
udk_service_copy_properties(struct udk_service *s, struct udk_value **ret)
{
	udk_return_val_if_fail(s && ret, -EINVAL);
	pthread_mutex_lock(&s->lock);
	*ret = udk_value_copy(s->props);
	pthread_mutex_unlock(&s->lock);
	return *ret ? 0 : -ENOMEM;
}

UDK_EXPORT int64_t
udk_service_get_int_property(struct udk_service *s, const char *key, int64_t fallback)
{
	int64_t v;

	if (!s || !key)
		return fallback;
	pthread_mutex_lock(&s->lock);
	v = udk_dict_get_int(s->props, key, fallback);
	pthread_mutex_unlock(&s->lock);
	return v;
}

UDK_EXPORT int
udk_service_get_string_property(struct udk_service *s, const char *key, char *buf, size_t len)
{
	const char *v;
	int r = 0;

	udk_return_val_if_fail(s && key && buf && len, -EINVAL);
	pthread_mutex_lock(&s->lock);
	v = udk_dict_get_string(s->props, key);
	if (!v)
		r = -ENOENT;
	else if (strlen(v) >= len)
		r = -ENOBUFS;
	else
		memcpy(buf, v, strlen(v) + 1);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static bool
owned(const struct udk_service *s)
{
	return s->kind == OBJ_DRIVER || s->kind == OBJ_NUB;
}

UDK_EXPORT int
udk_service_set_properties(struct udk_service *s, const struct udk_value *props)
{
	struct udk_value *body;
	int r;

	udk_return_val_if_fail(s && udk_value_get_type(props) == UDK_VALUE_DICT, -EINVAL);
	if (!owned(s))
		return udk_set_reason(-EPERM, "%s is not a service this driver owns", s->name);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "id", s->id);
	udk_dict_set(body, "properties", (struct udk_value *)props);
	r = rt_call(OP_DRV_SET_PROPERTIES, body, NULL);
	udk_value_unref(body);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < udk_dict_size(props); i++)
		udk_dict_set(s->props, udk_dict_key_at(props, i), udk_dict_value_at(props, i));
	pthread_mutex_unlock(&s->lock);
	return 0;
}

UDK_EXPORT int
udk_service_create_child(struct udk_service *parent, const char *name, const char *const *classes,
			 const struct udk_value *props, struct udk_service **ret)
{
	struct udk_value *body, *cl, *reply = NULL;
	struct udk_service *child = NULL;
	int r;

	udk_return_val_if_fail(parent && name && classes && classes[0] && ret, -EINVAL);
	if (!owned(parent))
		return udk_set_reason(-EPERM, "children can be published only under this driver's own services");
	cl = udk_value_new_array();
	for (const char *const *c = classes; *c; c++)
		udk_array_append_take(cl, udk_value_new_string(*c));
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "provider", parent->id);
	udk_dict_set_string(body, "name", name);
	udk_dict_set_take(body, "classes", cl);
	if (props)
		udk_dict_set(body, "properties", (struct udk_value *)props);
	r = rt_call(OP_DRV_PUBLISH, body, &reply);
	udk_value_unref(body);
	if (r < 0)
		return r;
	r = service_object_new(OBJ_NUB, udk_value_get_uint(udk_dict_get(reply, "id"), 0),
			       udk_dict_get_string(reply, "name"), classes[0], NULL, props, parent->queue, &child);
	udk_value_unref(reply);
	if (r < 0)
		return r;
	child->provider = udk_service_ref(parent);
	child->publisher = udk_service_ref(parent->kind == OBJ_NUB && parent->publisher ? parent->publisher : parent);
	*ret = child;
	return 0;
}

UDK_EXPORT int
udk_service_register(struct udk_service *s)
{
	struct udk_value *body;
	int r;

	udk_return_val_if_fail(s, -EINVAL);
	if (!owned(s))
		return udk_set_reason(-EPERM, "only this driver's own services can be registered");
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "id", s->id);
	r = rt_call(OP_DRV_REGISTER, body, NULL);
	udk_value_unref(body);
	return r;
}

UDK_EXPORT int
udk_service_terminate(struct udk_service *s)
{
	struct udk_value *body;
	int r;

	udk_return_val_if_fail(s, -EINVAL);
	if (s->kind != OBJ_NUB)
		return udk_set_reason(-EPERM, "only services this driver published can be terminated");
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "id", s->id);
	r = rt_call(OP_DRV_TERMINATE, body, NULL);
	udk_value_unref(body);
	if (r >= 0)
		s->terminated = true;
	return r;
}

UDK_EXPORT int
udk_service_publish_resource(struct udk_service *s, const char *name)
{
	struct udk_value *body;
	int r;

	udk_return_val_if_fail(s && name, -EINVAL);
	body = udk_value_new_dict();
	udk_dict_set_string(body, "name", name);
	r = rt_call(OP_DRV_PUBLISH_RESOURCE, body, NULL);
	udk_value_unref(body);
	return r;
}
