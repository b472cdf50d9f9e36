/* SPDX-License-Identifier: MIT */
/*
 * A directory of device nodes (/dev/input/eventN, /dev/hidrawN) watched
 * for hotplug: what the evdev and hidraw backends share.  The watch is
 * made before the directory is read, so a node that comes meanwhile is
 * not missed; a node that goes removes its device.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "hid-private.h"
#include "util.h"

struct hid_node_dir {
	struct udkd *d;
	char *dir, *prefix;
	hid_node_add_fn add;
	hid_node_find_fn find;
	int fd;
	struct loop_source *src;
};

/* PREFIX followed by decimal digits only */
static bool
is_node(const struct hid_node_dir *w, const char *name)
{
	size_t n = strlen(w->prefix);

	if (strncmp(name, w->prefix, n) != 0 || !name[n])
		return false;
	for (const char *c = name + n; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return true;
}

static void
on_inotify(struct loop *l, int fd, uint32_t events, void *data)
{
	struct hid_node_dir *w = data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	(void)l;
	(void)events;
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ie = (struct inotify_event *)p;
			p += sizeof(*ie) + ie->len;
			if (!ie->len || !is_node(w, ie->name))
				continue;
			if (ie->mask & (IN_CREATE | IN_ATTRIB | IN_MOVED_TO)) {
				w->add(w->d, ie->name);
			} else if (ie->mask & (IN_DELETE | IN_MOVED_FROM)) {
				char *path = strdup_printf("%s/%s", w->dir, ie->name);
				struct hid_dev *dev = path ? w->find(w->d, path) : NULL;
				if (dev)
					hid_dev_unplugged(w->d, dev, "unplugged");
				free(path);
			}
		}
	}
}

struct hid_node_dir *
hid_node_dir_watch(struct udkd *d, const char *dir, const char *prefix, hid_node_add_fn add, hid_node_find_fn find,
		   const char *without_hotplug)
{
	struct hid_node_dir *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->d = d;
	w->dir = strdup(dir);
	w->prefix = strdup(prefix);
	w->add = add;
	w->find = find;
	if (!w->dir || !w->prefix) {
		hid_node_dir_free(w);
		return NULL;
	}
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0 ||
	    inotify_add_watch(w->fd, dir, IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MOVED_TO | IN_MOVED_FROM) < 0) {
		log_warning(d, "%s: %s (%s)", dir, without_hotplug, strerror(errno));
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
	} else {
		loop_add_fd(d->loop, w->fd, EPOLLIN, on_inotify, w, &w->src);
	}
	return w;
}

int
hid_node_dir_scan(struct hid_node_dir *w, unsigned *ret_count)
{
	DIR *dir = opendir(w->dir);
	struct dirent *de;
	unsigned n = 0;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (is_node(w, de->d_name)) {
			w->add(w->d, de->d_name);
			n++;
		}
	closedir(dir);
	*ret_count = n;
	return 0;
}

void
hid_node_dir_free(struct hid_node_dir *w)
{
	if (!w)
		return;
	loop_source_remove(w->src);
	if (w->fd >= 0)
		close(w->fd);
	free(w->dir);
	free(w->prefix);
	free(w);
}
