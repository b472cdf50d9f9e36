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
	udk_value_unref(s->classes);
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

UDK_EXPORT bool
udk_service_is_a(const struct udk_service *s, const char *class_name)
{
	if (!s || !class_name)
		return false;
	if (!s->classes)
		return streq(s->class_name, class_name) || streq(class_name, "IOService");
	for (size_t i = 0; i < udk_array_size(s->classes); i++)
		if (streq(udk_value_get_string(udk_array_get(s->classes, i)), class_name))
			return true;
	return false;
}

UDK_EXPORT int
udk_service_require_class(struct udk_service *self, const char *class_name, const char *role)
{
	char io_class[128] = "IOUserService", pers[128] = "?", *why;
	struct udk_value *body;
	int r;

	udk_return_val_if_fail(self && class_name && role, -EINVAL);
	if (udk_service_is_a(self, class_name))
		return 0;
	udk_service_get_string_property(self, "IOClass", io_class, sizeof(io_class));
	udk_service_get_string_property(self, "IOPersonalityName", pers, sizeof(pers));
	why = strdup_printf("this driver registers a %s but its IOClass is %s; set IOClass to %s in "
			    "IOKitPersonalities.%s (and hold that class's entitlement: `udkctl families`)",
			    role, io_class, class_name, pers);
	body = udk_value_new_dict();
	udk_dict_set_uint(body, "object", self->id);
	udk_dict_set_string(body, "code", udk_error_name(-UDK_E_UNSUPPORTED));
	udk_dict_set_string(body, "reason", why ? why : role);
	/* oneway: udkd keeps it where `udkctl explain` and `drivers` show it */
	if (rt.connected)
		wire_send_value(rt.sock, OP_DRV_PROBLEM, WIRE_F_ONEWAY, 0, 0, body, NULL, 0);
	udk_value_unref(body);
	r = udk_set_reason(-UDK_E_UNSUPPORTED, "%s", why ? why : role);
	free(why);
	return r;
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
	if (r >= 0)
		child->classes = udk_value_copy(udk_dict_get(reply, "classes"));
	udk_value_unref(reply);
	if (r < 0)
		return r;
	child->provider = udk_service_ref(parent);
	child->publisher = udk_service_ref(parent->kind == OBJ_NUB && parent->publisher ? parent->publisher : parent);
	*ret = child;
	return 0;
}

#define CLASS_HAS(cls, field)                                                                                  \
	((cls) && (cls)->struct_size >= offsetof(struct udk_class, field) + sizeof((cls)->field) && (cls)->field)

UDK_EXPORT int
udk_service_create_from_properties(struct udk_service *self, const char *properties_key, struct udk_service **ret)
{
	struct udk_value *all = NULL, *desc, *props = NULL;
	const char *user_class, *io_class;
	const struct udk_class *cls;
	struct udk_service *obj = NULL;
	char name[128];
	int r;

	udk_return_val_if_fail(self && properties_key && ret, -EINVAL);
	r = udk_service_copy_properties(self, &all);
	if (r < 0)
		return r;
	desc = udk_dict_get(all, properties_key);
	if (udk_value_get_type(desc) != UDK_VALUE_DICT) {
		r = udk_set_reason(-UDK_E_BAD_MANIFEST,
				   "Create(): the personality has no <dict> \"%s\" describing the service to create; add "
				   "it with IOClass and IOUserClass",
				   properties_key);
		goto out;
	}
	user_class = udk_dict_get_string(desc, "IOUserClass");
	io_class = udk_dict_get_string(desc, "IOClass");
	cls = user_class ? class_by_name(user_class) : NULL;
	if (!cls) {
		r = udk_set_reason(-UDK_E_BAD_MANIFEST,
				   "Create(): %s.IOUserClass %s%s%s is not a class of this executable; name one of the "
				   "classes given to udk_driver_main()",
				   properties_key, user_class ? "\"" : "", user_class ? user_class : "is missing and",
				   user_class ? "\"" : "");
		goto out;
	}
	/* a user client (DriverKit's NewUserClient calling Create()) */
	if (io_class && (streq(io_class, "IOUserUserClient") || streq(io_class, "IOUserClient"))) {
		r = udk_user_client_create(self, user_class, ret);
		goto out;
	}
	props = udk_value_copy(desc);
	if (!props) {
		r = -ENOMEM;
		goto out;
	}
	{
		const char *const classes[] = { user_class, io_class ? io_class : "IOUserService", NULL };
		snprintf(name, sizeof(name), "%s", user_class);
		r = udk_service_create_child(self, name, classes, props, &obj);
	}
	if (r < 0)
		goto out;
	obj->cls = cls;
	if (CLASS_HAS(cls, ivars_size) && cls->ivars_size) {
		obj->ivars = calloc(1, cls->ivars_size);
		if (!obj->ivars) {
			r = -ENOMEM;
			goto fail;
		}
	}
	udk_clear_reason();
	r = CLASS_HAS(cls, start) ? cls->start(obj, self) : 0;
	if (r < 0)
		goto fail;
	obj->started = true;
	r = udk_service_register(obj);
	if (r < 0)
		goto fail;
	*ret = obj;
	obj = NULL;
	goto out;
fail:
	{
		/* keep Start()'s reason over the termination's */
		char *why = udk_error_reason() ? strdup(udk_error_reason()) : NULL;
		udk_service_terminate(obj);
		udk_service_unref(obj);
		if (why)
			udk_set_reason(r, "Create(): %s.IOUserClass %s: %s", properties_key, user_class, why);
		free(why);
	}
out:
	udk_value_unref(props);
	udk_value_unref(all);
	return r;
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
