/* SPDX-License-Identifier: MIT */
/* loop.c - epoll event loop (see loop.h). */
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "loop.h"
#include "util.h"

struct loop_source {
	struct loop *loop;
	int fd;
	loop_fd_fn fn;
	void *data;
	bool dead;
	struct loop_source *next_dead;
};

struct loop_timer {
	uint64_t deadline;
	loop_timer_fn fn;
	void *data;
	struct loop_timer *next;
};

struct post {
	loop_timer_fn fn;
	void *data;
	struct post *next;
};

struct loop {
	int epfd;
	int wakefd;
	bool quit;
	struct loop_timer *timers;	/* sorted by deadline */
	struct loop_source *dead;	/* freed after the current dispatch */
	pthread_mutex_t post_lock;
	struct post *posts, **posts_tail;
	struct loop_idle idle;
	bool has_idle;
};

int
loop_new(struct loop **ret)
{
	struct loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wakefd < 0) {
		int r = -errno;
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wakefd >= 0)
			close(l->wakefd);
		free(l);
		return r;
	}
	ev.data.ptr = NULL; /* NULL marks the wake fd */
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev);
	pthread_mutex_init(&l->post_lock, NULL);
	l->posts_tail = &l->posts;
	*ret = l;
	return 0;
}

static void
free_dead(struct loop *l)
{
	while (l->dead) {
		struct loop_source *s = l->dead;
		l->dead = s->next_dead;
		free(s);
	}
}

void
loop_free(struct loop *l)
{
	if (!l)
		return;
	while (l->timers) {
		struct loop_timer *t = l->timers;
		l->timers = t->next;
		free(t);
	}
	while (l->posts) {
		struct post *p = l->posts;
		l->posts = p->next;
		free(p);
	}
	free_dead(l);
	close(l->epfd);
	close(l->wakefd);
	pthread_mutex_destroy(&l->post_lock);
	free(l);
}

int
loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *data, struct loop_source **ret)
{
	struct loop_source *s = calloc(1, sizeof(*s));
	struct epoll_event ev = { .events = events };

	if (!s)
		return -ENOMEM;
	s->loop = l;
	s->fd = fd;
	s->fn = fn;
	s->data = data;
	ev.data.ptr = s;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		free(s);
		return r;
	}
	if (ret)
		*ret = s;
	return 0;
}

int
loop_source_set_events(struct loop_source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(s->loop->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
		return -errno;
	return 0;
}

void
loop_source_remove(struct loop_source *s)
{
	if (!s || s->dead)
		return;
	epoll_ctl(s->loop->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	s->dead = true;
	s->next_dead = s->loop->dead;
	s->loop->dead = s;
}

int
loop_add_timer(struct loop *l, uint64_t deadline_ns, loop_timer_fn fn, void *data, struct loop_timer **ret)
{
	struct loop_timer *t = calloc(1, sizeof(*t)), **pp;

	if (!t)
		return -ENOMEM;
	t->deadline = deadline_ns;
	t->fn = fn;
	t->data = data;
	for (pp = &l->timers; *pp && (*pp)->deadline <= deadline_ns; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	if (ret)
		*ret = t;
	return 0;
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t)
		return;
	for (struct loop_timer **pp = &l->timers; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			free(t);
			return;
		}
}

static void
run_posts(struct loop *l)
{
	struct post *p;

	pthread_mutex_lock(&l->post_lock);
	p = l->posts;
	l->posts = NULL;
	l->posts_tail = &l->posts;
	pthread_mutex_unlock(&l->post_lock);
	while (p) {
		struct post *next = p->next;
		p->fn(l, p->data);
		free(p);
		p = next;
	}
}

void
loop_set_idle(struct loop *l, const struct loop_idle *idle)
{
	if (idle) {
		l->idle = *idle;
		l->has_idle = true;
	} else {
		l->has_idle = false;
	}
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

int
loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[32];
	uint64_t now = now_ns();
	bool slept = false;
	int n = 0;

	if (l->timers) {
		uint64_t d = l->timers->deadline;
		int until = d <= now ? 0 : (int)MIN((d - now + 999999) / 1000000, (uint64_t)INT32_MAX);
		if (timeout_ms < 0 || until < timeout_ms)
			timeout_ms = until;
	}
	if (l->has_idle && timeout_ms != 0) {
		uint64_t end = now + l->idle.spin_ns;
		for (unsigned i = 1;; i++) {
			if (l->idle.poll(l->idle.data))
				goto ran;
			if ((i & 127) == 0) {
				n = epoll_wait(l->epfd, evs, ARRAY_SIZE(evs), 0);
				if (n > 0)
					goto dispatch;
				if (now_ns() >= end)
					break;
			}
			cpu_relax();
		}
		l->idle.sleeping(l->idle.data, true);
		slept = true;
		if (l->idle.poll(l->idle.data)) {
			l->idle.sleeping(l->idle.data, false);
			goto ran;
		}
	}
	n = epoll_wait(l->epfd, evs, ARRAY_SIZE(evs), timeout_ms);
	if (slept && l->has_idle)
		l->idle.sleeping(l->idle.data, false);
	if (n < 0 && errno != EINTR)
		return -errno;
dispatch:
	for (int i = 0; i < n; i++) {
		struct loop_source *s = evs[i].data.ptr;
		if (!s) {
			uint64_t v;
			if (read(l->wakefd, &v, sizeof(v)) < 0) {
				/* nothing to drain */
			}
			continue;
		}
		if (s->dead)
			continue;
		s->fn(l, s->fd, evs[i].events, s->data);
	}
ran:
	run_posts(l);
	now = now_ns();
	while (l->timers && l->timers->deadline <= now && !l->quit) {
		struct loop_timer *t = l->timers;
		l->timers = t->next;
		t->fn(l, t->data);
		free(t);
	}
	free_dead(l);
	return 0;
}

int
loop_run(struct loop *l)
{
	int r = 0;

	while (!l->quit && r >= 0)
		r = loop_run_once(l, -1);
	return r;
}

void
loop_quit(struct loop *l)
{
	l->quit = true;
	loop_wakeup(l);
}

bool
loop_quitting(struct loop *l)
{
	return l->quit;
}

void
loop_wakeup(struct loop *l)
{
	uint64_t one = 1;

	if (write(l->wakefd, &one, sizeof(one)) < 0) {
		/* counter full: the loop is awake anyway */
	}
}

int
loop_post(struct loop *l, loop_timer_fn fn, void *data)
{
	struct post *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->data = data;
	pthread_mutex_lock(&l->post_lock);
	*l->posts_tail = p;
	l->posts_tail = &p->next;
	pthread_mutex_unlock(&l->post_lock);
	loop_wakeup(l);
	return 0;
}
