/* SPDX-License-Identifier: MIT */
/*
 * models.c - simulated hardware: device-model processes.
 *
 * Each entry of the machine description's Devices array is a device-model
 * process (include/udk/devmodel.h).  When it says hello it describes its
 * functions, each of a kind (a family's model_kind); that family publishes
 * the nubs (family.h, model_function) and udkd registers them: drivers
 * match as on real hardware.
 *
 * A driver opens its provider through its family (broker.c); for
 * simulated hardware the family calls model_connect(): udkd asks the model
 * to accept a new socket and hands the driver the other end.  From then on
 * the two talk directly.  When a driver dies the model is told first
 * ("client-died"), so it resets the function before the next driver
 * connects.  When the model dies the hardware is gone: its nubs are
 * terminated, which stops their drivers; `udkctl sim plug NAME` brings it
 * back.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/stat.h>

#include "buf.h"
#include "family.h"
#include "proto.h"
#include "proto-model-table.h"
#include "udkd.h"
#include "util.h"

#include <unistd.h>

#define MAX_FUNCTIONS 8u
#define MODEL_NAMES_MAX 256u

struct device_model *
model_find(struct udkd *d, const char *name)
{
	for (struct device_model *m = d->devices; m; m = m->next)
		if (name && streq(m->name, name))
			return m;
	return NULL;
}

int
model_lookup(struct udkd *d, const char *name, struct device_model **ret)
{
	const char *list[MODEL_NAMES_MAX + 1], *best;
	size_t n = 0;
	struct buf names;
	char *all;

	*ret = model_find(d, name);
	if (*ret)
		return 0;
	buf_init(&names, 0);
	for (struct device_model *m = d->devices; m && n < MODEL_NAMES_MAX; m = m->next) {
		list[n++] = m->name;
		buf_printf(&names, "%s%s", names.len ? ", " : "", m->name);
	}
	list[n] = NULL;
	best = name ? bundle_suggest_name(name, list) : NULL;
	all = buf_steal_string(&names);
	udk_set_reason(-UDK_E_NO_SUCH_DEVICE, "no device \"%s\" in the machine description%s%s%s; its devices are: %s "
					      "(`udkctl sim list` shows them)",
		       name ? name : "", best ? " (did you mean \"" : "", best ? best : "", best ? "\"?)" : "",
		       all && *all ? all : "none");
	free(all);
	return -UDK_E_NO_SUCH_DEVICE;
}

int
models_load(struct udkd *d, const struct udk_value *list, const char *where)
{
	if (udk_value_get_type(list) != UDK_VALUE_ARRAY)
		return udk_set_reason(-EINVAL, "%s: Devices must be an <array> of <dict>", where);
	for (size_t i = 0; i < udk_array_size(list); i++) {
		struct udk_value *e = udk_array_get(list, i);
		const char *name = udk_dict_get_string(e, "Name");
		const char *model = udk_dict_get_string(e, "Model");
		struct udk_value *props = udk_dict_get(e, "Properties");
		struct device_model *m, **tail;
		int r;

		if (udk_value_get_type(e) != UDK_VALUE_DICT || !name || !model)
			return udk_set_reason(-EINVAL, "%s: device %zu needs a Name and a Model <string>", where, i);
		if (strchr(name, '/') || model_find(d, name))
			return udk_set_reason(-EINVAL, "%s: device name \"%s\" is repeated or holds a '/'", where, name);
		if (props && udk_value_get_type(props) != UDK_VALUE_DICT)
			return udk_set_reason(-EINVAL, "%s: Properties of device \"%s\" must be a <dict>", where, name);
		m = calloc(1, sizeof(*m));
		if (!m)
			return -ENOMEM;
		m->name = strdup(name);
		m->model = strdup(model);
		m->props = props ? udk_value_copy(props) : udk_value_new_dict();
		m->entry = udk_value_ref(e);
		m->plugged = udk_dict_get_bool(e, "Plugged", true);
		for (tail = &d->devices; *tail; tail = &(*tail)->next)
			;
		*tail = m;
		/* every family sees the entry, to check and keep its own keys (Location ...) */
		for (size_t f = 0; f < udkd_n_families; f++)
			if (udkd_families[f]->model_configure &&
			    (r = udkd_families[f]->model_configure(d, m, e)) < 0)
				return udk_set_reason(r, "%s: device \"%s\": %s", where, name,
						      udk_error_reason() ? udk_error_reason() : strerror(-r));
	}
	return 0;
}

static char *
find_model(struct udkd *d, const char *model)
{
	struct stat st;

	if (strchr(model, '/'))
		return access(model, X_OK) == 0 ? realpath(model, NULL) : NULL;
	for (size_t i = 0; i < d->n_model_dirs; i++) {
		char *p = strdup_printf("%s/%s", d->model_dirs[i], model);
		if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/*
 * Why @model is not found: the directories searched and the nearest name
 * in them (issue 18 point 10, issue 20); malloc'ed.  Reads at most
 * MODEL_NAMES_MAX entries of each directory.
 */
static char *
model_missing(struct udkd *d, const char *model)
{
	char *list[MODEL_NAMES_MAX + 1], *dl, *out;
	const char *best;
	size_t n = 0;
	struct buf dirs;

	if (strchr(model, '/'))
		return strdup_printf("the device model %s is not an executable file: fix the Model in the machine "
				     "description",
				     model);
	buf_init(&dirs, 0);
	for (size_t i = 0; i < d->n_model_dirs; i++) {
		DIR *dir = opendir(d->model_dirs[i]);
		struct dirent *e;
		size_t seen = 0;

		buf_printf(&dirs, "%s%s", dirs.len ? ", " : "", d->model_dirs[i]);
		while (dir && (e = readdir(dir)) && seen++ < MODEL_NAMES_MAX && n < MODEL_NAMES_MAX)
			if (e->d_name[0] != '.' && e->d_type != DT_DIR && (list[n] = strdup(e->d_name)))
				n++;
		if (dir)
			closedir(dir);
	}
	list[n] = NULL;
	best = bundle_suggest_name(model, (const char *const *)list);
	dl = buf_steal_string(&dirs);
	if (best)
		out = strdup_printf("no executable device model \"%s\" in the model directories searched (%s): did you "
				    "mean \"%s\"? Fix the Model in the machine description, or give udkd --models DIR "
				    "where the model is",
				    model, dl ? dl : "", best);
	else
		out = strdup_printf("no executable device model \"%s\" in the model directories searched (%s): give "
				    "udkd --models DIR where the model is, or fix the Model in the machine description",
				    model, d->n_model_dirs && dl ? dl : "none");
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(dl);
	return out;
}

int
model_plug(struct udkd *d, struct device_model *m)
{
	char *exe;
	int r;

	if (m->proc && m->proc->state != PROC_DEAD)
		return udk_set_reason(-UDK_E_ALREADY_PLUGGED,
				      "device %s is already plugged in: its model %s runs as pid %d. To start it afresh, "
				      "`udkctl sim unplug %s` first",
				      m->name, m->model, m->proc->pid, m->name);
	exe = find_model(d, m->model);
	if (!exe) {
		free(m->gone_reason);
		m->gone_reason = model_missing(d, m->model);
		m->gone_code = -UDK_E_NO_SUCH_DEVICE;
		return udk_set_reason(-UDK_E_NO_SUCH_DEVICE, "device %s: %s", m->name,
				      m->gone_reason ? m->gone_reason : "no such device model");
	}
	r = launcher_start_model(d, m, exe);
	free(exe);
	if (r < 0)
		return udk_set_reason(r, "cannot start the model of %s: %s", m->name, strerror(-r));
	m->plugged = true;
	free(m->gone_reason);
	m->gone_reason = NULL;
	m->gone_code = 0;
	log_info(d, "device %s: model %s started (pid %d)", m->name, m->model, m->proc->pid);
	return 0;
}

static void
terminate_nubs(struct udkd *d, struct device_model *m, const char *why)
{
	while (m->n_nubs) {
		struct service *s = m->nubs[--m->n_nubs];
		/* apps first: their calls end with UDK_E_HARDWARE_GONE, not with
		 * the driver's death that follows */
		udkd_service_hardware_gone(d, s, why);
		service_unref(s);
	}
}

void
model_unplug(struct udkd *d, struct device_model *m, const char *why)
{
	m->plugged = false;
	terminate_nubs(d, m, why);
	if (m->proc && m->proc->state != PROC_DEAD) {
		m->proc->state = PROC_STOPPING;
		proc_kill(d, m->proc, NULL);
	}
	free(m->gone_reason);
	m->gone_reason = strdup(why);
	m->gone_code = 0;
	log_notice(d, "device %s: %s", m->name, why);
}

void
models_died(struct udkd *d, struct device_model *m, const char *how, int code, bool expected)
{
	char *why = strdup_printf("hardware gone: the model of %s %s", m->name, how);

	m->proc = NULL;
	terminate_nubs(d, m, why ? why : "hardware gone");
	if (!expected) {
		m->crashes++;
		/* udkd's own reason to end it (a refused hello) is the cause; else the device is gone */
		m->gone_code = code ? code : -UDK_E_HARDWARE_GONE;
		free(m->gone_reason);
		m->gone_reason = strdup_printf("its model %s; `udkctl sim plug %s` starts it again", how, m->name);
		log_error(d, "device %s is gone: its model %s; its drivers were stopped", m->name, how);
	}
	free(why);
	udkd_emit(d, UDKD_EV_MODEL_DIED, m);
}

struct device_model *
model_of_nub(struct udkd *d, const struct service *nub, size_t *ret_index)
{
	for (struct device_model *m = d->devices; m; m = m->next)
		for (size_t i = 0; i < m->n_nubs; i++)
			if (m->nubs[i] == nub) {
				if (ret_index)
					*ret_index = i;
				return m;
			}
	return NULL;
}

/* Requests from a model: the generated table (proto-model-table.h, from
 * lib/common/proto.xml) decodes and checks each, then handle_model_*() runs. */
static void
handle_model_dm_hello(struct udkd *d, struct driver_proc *p, struct wire_msg *m, const struct proto_dm_hello_req *req)
{
	struct device_model *dm = p->model;
	const struct udk_value *fns = req->functions;
	struct udk_value *ids, *body;

	if (p->state != PROC_LAUNCHING) {
		proc_reply(p, m, -EPROTO, "hello sent twice", NULL, NULL, 0);
		return;
	}
	if (!req->has_version || req->version != PROTO_VERSION) {
		proc_reply(p, m, -UDK_E_VERSION, "this udkd speaks another protocol version", NULL, NULL, 0);
		proc_kill_code(d, p, -UDK_E_VERSION, "version: the model's runtime speaks protocol %lld, udkd speaks %d: "
			       "rebuild the model against this udk", req->has_version ? (long long)req->version : -1LL,
			       PROTO_VERSION);
		return;
	}
	if (!fns || udk_array_size(fns) < 1 || udk_array_size(fns) > MAX_FUNCTIONS) {
		proc_reply(p, m, -EINVAL, "a device model has 1..8 functions", NULL, NULL, 0);
		proc_kill_code(d, p, -UDK_E_PROTOCOL, "protocol: its hello describes %zu functions; a device model "
			       "has 1..8", fns ? udk_array_size(fns) : (size_t)0);
		return;
	}
	ids = udk_value_new_array();
	for (size_t i = 0; i < udk_array_size(fns); i++) {
		struct udk_value *desc = udk_array_get(fns, i);
		const char *kind = udk_dict_get_string(desc, "kind");
		const struct udkd_family *f = family_of_model_kind(kind);
		struct service *nub = NULL, **n;
		int r;

		if (!f || !f->model_function) {
			char *why = strdup_printf("function %zu is of kind \"%s\", which no loaded family simulates "
						  "(`udkctl families` lists them)",
						  i, kind ? kind : "(none)");
			proc_reply(p, m, -UDK_E_UNSUPPORTED, why, NULL, NULL, 0);
			proc_kill_code(d, p, -UDK_E_UNSUPPORTED, "%s", why ? why : "a function of an unknown kind");
			free(why);
			udk_value_unref(ids);
			return;
		}
		r = f->model_function(d, dm, i, desc, &nub);
		if (r < 0) {
			char *why = strdup_printf("function %zu: %s", i,
						  udk_error_reason() ? udk_error_reason() : strerror(-r));
			proc_reply(p, m, r, why, NULL, NULL, 0);
			proc_kill_code(d, p, r, "%s", why ? why : "a malformed hello");
			free(why);
			udk_value_unref(ids);
			return;
		}
		nub->owner = p;
		n = reallocarray(dm->nubs, dm->n_nubs + 1, sizeof(*n));
		if (!n) {
			service_terminate(d, nub, "out of memory");
			continue;
		}
		dm->nubs = n;
		dm->nubs[dm->n_nubs++] = service_ref(nub);
		udk_array_append_take(ids, udk_value_new_uint(nub->id));
	}
	body = udk_value_new_dict();
	udk_dict_set_take(body, "ids", ids);
	proc_reply(p, m, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
	launcher_model_ready(p);
	log_info(d, "device %s: %zu function(s) published", dm->name, dm->n_nubs);
	/* register after replying, so the model knows its ids first */
	for (size_t i = 0; i < dm->n_nubs; i++)
		service_register(d, dm->nubs[i]);
}

static void
handle_model_dm_config(struct udkd *d, struct driver_proc *p, struct wire_msg *m,
		       const struct proto_dm_config_req *req)
{
	struct udk_value *body = proto_dm_config_reply_encode(&(struct proto_dm_config_rep){
		.name = p->model->name, .properties = p->model->props });

	proc_reply(p, m, 0, NULL, body, NULL, 0);
	udk_value_unref(body);
}

/* launcher.c answers a model's pings itself; the table lists them for every channel */
static void
handle_model_ping(struct udkd *d, struct driver_proc *p, struct wire_msg *m, const struct proto_ping_req *req)
{
	proc_reply(p, m, 0, NULL, NULL, NULL, 0);
}

void
models_handle_message(struct udkd *d, struct driver_proc *p, struct wire_msg *m)
{
	const struct proto_model_handler *h = proto_model_handler(m->h.op);
	const struct udkd_family *f;
	union proto_model_req req;
	char why[256];
	int r;

	if (h) {
		r = proto_request_decode(h->info, m->body, m->n_fds, &req, why, sizeof(why));
		if (r < 0) {
			proc_reply(p, m, r, why, NULL, NULL, 0);
			/* a model whose hello is refused would only wait for its deadline */
			if (m->h.op == OP_DM_HELLO)
				proc_kill_code(d, p, r, "protocol: its hello is malformed: %s", why);
			return;
		}
		h->handle(d, p, m, &req);
		return;
	}
	f = family_of_op(m->h.op);
	if (f && f->message) {
		f->message(d, p, m);
		return;
	}
	proc_reply(p, m, -EOPNOTSUPP, "udkd does not handle this request from a device model", NULL, NULL, 0);
}

/* ---- the broker's connection to a model ---- */

struct open_wait {
	struct driver_proc *driver;
	struct wire_msg req;		/* only the header is kept */
	int driver_fd;
	struct udk_value *info;
};

static void
connected(struct udkd *d, struct driver_proc *model, struct wire_msg *reply, int status, void *data)
{
	struct open_wait *w = data;

	(void)d;
	(void)model;
	if (status >= 0) {
		proc_reply(w->driver, &w->req, 0, NULL, w->info, &w->driver_fd, 1);
	} else {
		const char *why = reply ? udk_dict_get_string(reply->body, "reason") : udk_error_reason();
		proc_reply(w->driver, &w->req, status == -UDK_E_DRIVER_DIED ? -UDK_E_HARDWARE_GONE : status,
			   why ? why : "the device refused the connection", NULL, NULL, 0);
	}
	close(w->driver_fd);
	udk_value_unref(w->info);
	proc_unref(w->driver);
	free(w);
}

void
model_connect(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *nub, struct udk_value *info)
{
	model_connect_ex(d, p, m, nub, info, NULL);
}

void
model_connect_ex(struct udkd *d, struct driver_proc *p, struct wire_msg *m, struct service *nub,
		 struct udk_value *info, const struct udk_value *keys)
{
	size_t index = 0;
	struct device_model *dm = NULL;
	struct open_wait *w;

	/* @nub is a function's nub, or a service a family published below one */
	for (struct service *s = nub; s && !dm; s = s->provider)
		dm = model_of_nub(d, s, &index);
	struct udk_value *body;
	int sv[2], r;

	if (!dm || !dm->proc || dm->proc->state != PROC_RUNNING) {
		proc_reply(p, m, -UDK_E_HARDWARE_GONE, "the device is gone (its model is not running)", NULL, NULL, 0);
		udk_value_unref(info);
		return;
	}
	if (wire_socketpair(sv) < 0) {
		proc_reply(p, m, -errno, "cannot make a socket pair", NULL, NULL, 0);
		udk_value_unref(info);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		close(sv[0]);
		close(sv[1]);
		proc_reply(p, m, -ENOMEM, NULL, NULL, NULL, 0);
		udk_value_unref(info);
		return;
	}
	w->driver = proc_ref(p);
	wire_msg_init(&w->req);
	w->req.h = m->h;
	w->driver_fd = sv[0];
	w->info = info;
	body = udk_value_new_dict();
	udk_dict_set_int(body, "function", (int64_t)index);
	udk_dict_set_uint(body, "nub", nub->id);
	udk_dict_set_int(body, "client", p->pid);
	for (size_t i = 0; i < udk_dict_size(keys); i++)
		if (!udk_dict_get(body, udk_dict_key_at(keys, i)))
			udk_dict_set(body, udk_dict_key_at(keys, i), udk_dict_value_at(keys, i));
	r = proc_request(d, dm->proc, OP_DM_CONNECT, body, &sv[1], 1, d->cfg.request_timeout_ms, connected, w);
	udk_value_unref(body);
	close(sv[1]);
	if (r < 0)
		connected(d, dm->proc, NULL, r, w);
}

/* ---- listing ---- */

struct udk_value *
models_describe(struct udkd *d)
{
	struct udk_value *list = udk_value_new_array();

	for (struct device_model *m = d->devices; m; m = m->next) {
		struct udk_value *e = udk_value_new_dict(), *nubs = udk_value_new_array();
		bool running = m->proc && m->proc->state != PROC_DEAD;

		udk_dict_set_string(e, "name", m->name);
		udk_dict_set_string(e, "model", m->model);
		udk_dict_set_string(e, "state", !m->plugged ? "unplugged" : running ? "plugged" : "gone");
		if (running)
			udk_dict_set_int(e, "pid", m->proc->pid);
		if ((!running || !m->plugged) && m->gone_reason)
			udk_dict_set_string(e, "reason", m->gone_reason);
		if (!running && m->gone_code) {
			/* code, cause and fix in one record (issue 20) */
			udk_dict_set_string(e, "code", udk_error_name(m->gone_code));
			if (udk_error_fix(m->gone_code))
				udk_dict_set_string(e, "fix", udk_error_fix(m->gone_code));
		}
		udk_dict_set_int(e, "crashes", m->crashes);
		for (size_t i = 0; i < m->n_nubs; i++) {
			char *path = service_path(m->nubs[i]);
			if (path)
				udk_array_append_take(nubs, udk_value_new_string(path));
			free(path);
		}
		udk_dict_set_take(e, "functions", nubs);
		for (size_t f = 0; f < udkd_n_families; f++)
			if (udkd_families[f]->describe_model)
				udkd_families[f]->describe_model(d, m, e);
		udk_array_append_take(list, e);
	}
	return list;
}

/*
 * udkd is stopping and its drivers are gone: ask every model to end
 * (SIGTERM; the device-model library dies of it by default).  Returns how
 * many were asked; launcher_fini() waits a short grace, then kills.
 */
unsigned
models_stop(struct udkd *d)
{
	unsigned n = 0;

	for (struct device_model *m = d->devices; m; m = m->next) {
		struct driver_proc *p = m->proc;
		if (!p || p->state == PROC_DEAD || p->kill_sent)
			continue;
		p->state = PROC_STOPPING;
		if (p->pidfd >= 0)
			syscall(SYS_pidfd_send_signal, p->pidfd, SIGTERM, NULL, 0);
		else if (p->pid > 0)
			kill(p->pid, SIGTERM);
		n++;
	}
	return n;
}

void
models_fini(struct udkd *d)
{
	while (d->devices) {
		struct device_model *m = d->devices;
		d->devices = m->next;
		for (size_t i = 0; i < m->n_nubs; i++)
			service_unref(m->nubs[i]);
		free(m->nubs);
		free(m->name);
		free(m->model);
		free(m->gone_reason);
		for (size_t f = 0; m->family_data && f < udkd_n_families; f++)
			free(m->family_data[f]);
		free(m->family_data);
		udk_value_unref(m->props);
		udk_value_unref(m->entry);
		free(m);
	}
}
