/* SPDX-License-Identifier: MIT */
/*
 * machine.c - the machine description: what udkd creates at start.
 *
 *   <dict>
 *     <key>Services</key>
 *     <array>
 *       <dict>
 *         <key>Name</key>        <string>widget0</string>
 *         <key>Class</key>       <string>UDKTestDevice</string>
 *         <key>Properties</key>  <dict>...</dict>          (optional)
 *         <key>Children</key>    <array>...</array>        (optional)
 *       </dict>
 *     </array>
 *   </dict>
 *
 * Services are children of the root unless nested under Children.  Class
 * may also be an array, the full chain, most derived first.
 *
 *     <key>Devices</key>
 *     <array>
 *       <dict>
 *         <key>Name</key>        <string>capture0</string>
 *         <key>Model</key>       <string>capture-card</string>  (in --models DIR)
 *         <key>Location</key>    <string>00:03.0</string>       (optional)
 *         <key>Plugged</key>     <false/>                       (optional: plug later)
 *         <key>Properties</key>  <dict>...</dict>               (for the model)
 *       </dict>
 *     </array>
 *
 * Each device is a device-model process (docs/simulation.md).
 */
#include "udkd.h"
#include "util.h"

#define MACHINE_MAX (4u << 20)

static int
load_services(struct udkd *d, struct service *provider, struct udk_value *list, const char *where,
	      struct service ***all, size_t *n_all)
{
	if (udk_value_get_type(list) != UDK_VALUE_ARRAY)
		return udk_set_reason(-EINVAL, "%s: Services/Children must be an <array> of <dict>", where);
	for (size_t i = 0; i < udk_array_size(list); i++) {
		struct udk_value *e = udk_array_get(list, i);
		const char *name = udk_dict_get_string(e, "Name");
		struct udk_value *cls = udk_dict_get(e, "Class");
		struct udk_value *props = udk_dict_get(e, "Properties");
		struct udk_value *chain;
		struct service *s = NULL, **n;
		int r;

		if (udk_value_get_type(e) != UDK_VALUE_DICT || !name)
			return udk_set_reason(-EINVAL, "%s: entry %zu needs a Name <string>", where, i);
		if (udk_value_get_type(cls) == UDK_VALUE_STRING)
			chain = class_chain_for(udk_value_get_string(cls));
		else if (udk_value_get_type(cls) == UDK_VALUE_ARRAY && udk_array_size(cls) > 0)
			chain = udk_value_copy(cls);
		else
			return udk_set_reason(-EINVAL, "%s: service \"%s\" needs a Class <string> or <array>", where,
					      name);
		if (props && udk_value_get_type(props) != UDK_VALUE_DICT) {
			udk_value_unref(chain);
			return udk_set_reason(-EINVAL, "%s: Properties of \"%s\" must be a <dict>", where, name);
		}
		r = service_new(d, provider, name, chain, props, &s);
		if (r < 0)
			return udk_set_reason(r, "%s: cannot create service \"%s\"", where, name);
		n = reallocarray(*all, *n_all + 1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		*all = n;
		(*all)[(*n_all)++] = s;
		if (udk_dict_get(e, "Children")) {
			r = load_services(d, s, udk_dict_get(e, "Children"), where, all, n_all);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int
machine_load(struct udkd *d, const char *path)
{
	struct udk_value *m = NULL;
	struct service **all = NULL;
	size_t n_all = 0;
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = read_file(path, MACHINE_MAX, &buf, &len);
	if (r < 0)
		return udk_set_reason(r, "cannot read machine description %s: %s", path, strerror(-r));
	r = udk_value_from_plist(buf, len, &m);
	free(buf);
	if (r < 0)
		return udk_set_reason(r, "%s: %s", path, udk_error_reason() ? udk_error_reason() : udk_strerror(r));
	if (udk_value_get_type(m) != UDK_VALUE_DICT) {
		udk_value_unref(m);
		return udk_set_reason(-EINVAL, "%s: the top level must be a <dict>", path);
	}
	if (udk_dict_get(m, "Services"))
		r = load_services(d, d->reg.root, udk_dict_get(m, "Services"), path, &all, &n_all);
	if (r >= 0 && udk_dict_get(m, "Devices"))
		r = models_load(d, udk_dict_get(m, "Devices"), path);
	udk_value_unref(m);
	if (r >= 0) {
		/* register (and so match) once the whole tree exists */
		for (size_t i = 0; i < n_all; i++)
			service_register(d, all[i]);
		log_info(d, "machine %s: %zu services", path, n_all);
		for (struct device_model *dm = d->devices; dm; dm = dm->next)
			if (dm->plugged && model_plug(d, dm) < 0)
				log_error(d, "%s", udk_error_reason() ? udk_error_reason() : "cannot plug a device");
	}
	free(all);
	return r;
}
