/* SPDX-License-Identifier: MIT */
/*
 * iscsi - an iSCSI host bus adapter: a SCSI controller driver
 * (IOUserSCSIParallelInterfaceController) whose targets are behind an
 * iSCSI portal, reached with libiscsi.  udk then drives a real,
 * independent SCSI implementation over the network (tgtd in the tests).
 *
 * Personality keys: iSCSIPortal ("127.0.0.1:3260"), iSCSITargetName (the
 * target's IQN), iSCSIInitiatorName (optional).  The bundle's
 * family.scsicontroller entitlement lists the portal (iSCSIPortals).
 *
 * libiscsi opens its own TCP socket; in udk's sandbox a driver has no
 * sockets, so this executable routes libiscsi's socket() and connect() to
 * the SCSI family, which has udkd connect to the portal (checked against
 * the entitlement) and hands the connected socket over.
 *
 * libiscsi is not thread-safe: one thread owns the iSCSI context.  The
 * family's threads queue tasks to it.  When the target goes away every
 * task in flight fails with UDK_E_HARDWARE_GONE and the controller goes
 * offline (new tasks are refused with the reason); the thread reconnects
 * every half second and, once logged in again, the controller is back.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <udk/driver.h>
#include <udk/families/scsi.h>
#include <udk/userclient.h>

#define RETRY_MS 500

/* ---- libiscsi's socket() and connect(), through udkd ---- */

static __thread char connect_error[256];

__attribute__((visibility("default"))) int socket(int domain, int type, int protocol);
__attribute__((visibility("default"))) int connect(int fd, const struct sockaddr *sa, socklen_t len);

__attribute__((visibility("default"))) int
socket(int domain, int type, int protocol)
{
	(void)protocol;
	if ((domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM) {
		errno = EACCES;
		return -1;
	}
	/* a stand-in until connect(): udkd makes the real socket */
	return eventfd(0, EFD_CLOEXEC | ((type & SOCK_NONBLOCK) ? EFD_NONBLOCK : 0));
}

__attribute__((visibility("default"))) int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	char host[INET6_ADDRSTRLEN] = "";
	uint16_t port = 0;
	int real = -1, flags, r;

	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	} else {
		errno = EAFNOSUPPORT;
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	r = udk_scsi_portal_connect(host, port, &real);
	if (r < 0) {
		snprintf(connect_error, sizeof(connect_error), "%s", udk_error_reason() ? udk_error_reason() : udk_strerror(r));
		errno = r == -UDK_E_ENTITLEMENT ? EACCES : r == -UDK_E_DEADLINE ? ETIMEDOUT : ECONNREFUSED;
		return -1;
	}
	if (dup3(real, fd, O_CLOEXEC) < 0) {
		int e = errno;
		close(real);
		errno = e;
		return -1;
	}
	close(real);
	if (flags >= 0 && (flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

/* ---- the HBA ---- */

struct itask {
	struct itask *next;
	struct udk_scsi_task *t;
	struct scsi_task *st;
	bool aborted;			/* the family completes it */
};

struct abort_req {
	struct abort_req *next;
	struct udk_scsi_task *t;	/* NULL: every task (a reset) */
	bool done;
};

struct hba {
	struct udk_scsi_controller *ctl;
	char portal[96], host[64], target[224], initiator[224];
	uint16_t port;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct itask *incoming;		/* from the family, not yet sent */
	struct abort_req *aborts;
	int wake;			/* eventfd */
	bool quit;
	pthread_t thread;

	/* the iSCSI thread's */
	struct iscsi_context *iscsi;
	struct itask *inflight;
	bool connected;
	char last_error[256];
	unsigned failures;
};

static struct hba *the_hba;

static void
wake(struct hba *h)
{
	uint64_t one = 1;

	if (write(h->wake, &one, sizeof(one)) < 0) {
		/* saturated: the thread is awake anyway */
	}
}

static void
unlink_inflight(struct hba *h, struct itask *it)
{
	for (struct itask **pp = &h->inflight; *pp; pp = &(*pp)->next)
		if (*pp == it) {
			*pp = it->next;
			return;
		}
}

static void
task_cb(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct hba *h = the_hba; /* one controller per driver process */
	struct itask *it = private_data;
	struct scsi_task *st = command_data;

	unlink_inflight(h, it);
	if (it->aborted) {
		/* cancelled at the family's request: it completes the task */
	} else if (status == SCSI_STATUS_CANCELLED) {
		udk_scsi_task_fail(it->t, -UDK_E_HARDWARE_GONE, "the connection to the iSCSI target %s at %s was lost",
				   h->target, h->portal);
	} else if (status == SCSI_STATUS_ERROR || status == SCSI_STATUS_TIMEOUT) {
		udk_scsi_task_fail(it->t, -UDK_E_HARDWARE_GONE, "the iSCSI target %s at %s did not deliver the task: %s",
				   h->target, h->portal, iscsi_get_error(iscsi));
	} else {
		const uint8_t *sense = NULL;
		size_t sense_len = 0;
		uint64_t req = udk_scsi_task_get_requested_count(it->t), realized = req;
		if (st->residual_status == SCSI_RESIDUAL_UNDERFLOW)
			realized = st->residual < req ? req - st->residual : 0;
		if (status == SCSI_STATUS_CHECK_CONDITION && st->datain.size >= 2 && st->datain.data) {
			size_t n = ((size_t)st->datain.data[0] << 8) | st->datain.data[1];
			sense = st->datain.data + 2;
			sense_len = n <= (size_t)st->datain.size - 2 ? n : (size_t)st->datain.size - 2;
			realized = 0;
		}
		udk_scsi_task_complete(it->t, UDK_SCSI_SERVICE_RESPONSE_TASK_COMPLETE, (uint8_t)status, sense, sense_len,
				       realized);
	}
	scsi_free_scsi_task(st);
	free(it);
}

static void
send_task(struct hba *h, struct itask *it)
{
	size_t cdb_len;
	const uint8_t *cdb = udk_scsi_task_get_cdb(it->t, &cdb_len);
	uint64_t n = udk_scsi_task_get_requested_count(it->t);
	enum udk_scsi_direction dir = udk_scsi_task_get_direction(it->t);
	uint8_t *buf = n ? udk_scsi_task_get_buffer(it->t) : NULL;
	struct iscsi_data out = { 0, NULL };

	if (n > INT32_MAX) {
		udk_scsi_task_fail(it->t, -E2BIG, "libiscsi moves at most 2 GiB per task");
		free(it);
		return;
	}
	it->st = scsi_create_task((int)cdb_len, (unsigned char *)cdb,
				  dir == UDK_SCSI_DATA_FROM_TARGET ? SCSI_XFER_READ
				  : dir == UDK_SCSI_DATA_TO_TARGET ? SCSI_XFER_WRITE
								   : SCSI_XFER_NONE,
				  (int)n);
	if (!it->st) {
		udk_scsi_task_fail(it->t, -ENOMEM, "out of memory");
		free(it);
		return;
	}
	if (dir == UDK_SCSI_DATA_FROM_TARGET && n)
		scsi_task_add_data_in_buffer(it->st, (int)n, buf); /* libiscsi reads straight into the task's memory */
	if (dir == UDK_SCSI_DATA_TO_TARGET && n) {
		out.size = (size_t)n;
		out.data = buf;
	}
	it->next = h->inflight;
	h->inflight = it;
	if (iscsi_scsi_command_async(h->iscsi, (int)udk_scsi_task_get_lun(it->t), it->st, task_cb, n && out.data ? &out : NULL,
				     it) != 0) {
		unlink_inflight(h, it);
		udk_scsi_task_fail(it->t, -UDK_E_HARDWARE_GONE, "libiscsi refused the task: %s", iscsi_get_error(h->iscsi));
		scsi_free_scsi_task(it->st);
		free(it);
	}
}

static void
disconnect(struct hba *h, const char *why)
{
	char reason[400];

	if (!h->iscsi)
		return;
	snprintf(reason, sizeof(reason), "the iSCSI target %s at %s went away (%s); udk reconnects every %d ms",
		 h->target, h->portal, why, RETRY_MS);
	if (h->connected)
		udk_scsi_controller_set_online(h->ctl, false, reason);
	h->connected = false;
	/* every task in flight: its callback runs with SCSI_STATUS_CANCELLED */
	iscsi_scsi_cancel_all_tasks(h->iscsi);
	iscsi_destroy_context(h->iscsi);
	h->iscsi = NULL;
}

static bool
login(struct hba *h)
{
	struct iscsi_context *iscsi = iscsi_create_context(h->initiator);

	if (!iscsi) {
		snprintf(h->last_error, sizeof(h->last_error), "libiscsi cannot create a context");
		return false;
	}
	iscsi_set_targetname(iscsi, h->target);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	iscsi_set_noautoreconnect(iscsi, 1);
	connect_error[0] = 0;
	if (iscsi_connect_sync(iscsi, h->portal) != 0 || iscsi_login_sync(iscsi) != 0) {
		snprintf(h->last_error, sizeof(h->last_error), "%s", connect_error[0] ? connect_error : iscsi_get_error(iscsi));
		iscsi_destroy_context(iscsi);
		return false;
	}
	h->iscsi = iscsi;
	h->connected = true;
	return true;
}

static void
run_aborts(struct hba *h)
{
	for (;;) {
		struct abort_req *a;
		pthread_mutex_lock(&h->lock);
		a = h->aborts;
		if (a)
			h->aborts = a->next;
		pthread_mutex_unlock(&h->lock);
		if (!a)
			return;
		for (struct itask *it = h->inflight, *next; it; it = next) {
			next = it->next;
			if (a->t && it->t != a->t)
				continue;
			it->aborted = true;
			if (h->iscsi)
				iscsi_scsi_cancel_task(h->iscsi, it->st); /* runs task_cb, which frees it */
		}
		pthread_mutex_lock(&h->lock);
		a->done = true;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
	}
}

static void *
iscsi_main(void *data)
{
	struct hba *h = data;
	uint64_t v;

	pthread_setname_np(pthread_self(), "iscsi");
	for (;;) {
		struct itask *in;
		struct pollfd pfd[2];
		int n = 1, timeout = -1;

		pthread_mutex_lock(&h->lock);
		if (h->quit) {
			pthread_mutex_unlock(&h->lock);
			break;
		}
		in = h->incoming;
		h->incoming = NULL;
		pthread_mutex_unlock(&h->lock);
		if (!h->connected) {
			if (login(h)) {
				udk_log_notice("iSCSI: logged in to %s at %s%s", h->target, h->portal,
					       h->failures ? " again" : "");
				udk_scsi_controller_set_online(h->ctl, true, NULL);
				h->failures = 0;
			} else {
				if (h->failures++ == 0)
					udk_log_warning("iSCSI: cannot log in to %s at %s: %s", h->target, h->portal,
							h->last_error);
				timeout = RETRY_MS;
			}
		}
		/* tasks queued in order; fail them while disconnected */
		{
			struct itask *rev = NULL;
			while (in) {
				struct itask *next = in->next;
				in->next = rev;
				rev = in;
				in = next;
			}
			for (struct itask *it = rev, *next; it; it = next) {
				next = it->next;
				if (h->connected) {
					send_task(h, it);
				} else {
					udk_scsi_task_fail(it->t, -UDK_E_HARDWARE_GONE,
							   "the iSCSI target %s at %s is not reachable: %s", h->target,
							   h->portal, h->last_error);
					free(it);
				}
			}
		}
		run_aborts(h);
		pfd[0] = (struct pollfd){ .fd = h->wake, .events = POLLIN };
		if (h->connected) {
			pfd[1] = (struct pollfd){ .fd = iscsi_get_fd(h->iscsi),
						  .events = (short)(iscsi_which_events(h->iscsi) | POLLRDHUP) };
			n = 2;
			timeout = 1000; /* libiscsi's own timeouts */
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			if (read(h->wake, &v, sizeof(v)) < 0) {
				/* nothing to drain */
			}
		}
		if (n == 2) {
			short re = pfd[1].revents;
			/* take what arrived before anything else */
			if (iscsi_service(h->iscsi, re & ~POLLRDHUP) < 0)
				disconnect(h, iscsi_get_error(h->iscsi));
			else if (re & (POLLRDHUP | POLLHUP | POLLERR))
				disconnect(h, "the connection was closed");
		}
	}
	if (h->iscsi) {
		iscsi_scsi_cancel_all_tasks(h->iscsi);
		iscsi_logout_sync(h->iscsi);
		iscsi_destroy_context(h->iscsi);
		h->iscsi = NULL;
	}
	return NULL;
}

static int
process_task(struct udk_scsi_controller *c, struct udk_scsi_task *t)
{
	struct hba *h = udk_scsi_controller_get_context(c);
	struct itask *it = calloc(1, sizeof(*it));

	if (!it)
		return -ENOMEM;
	it->t = t;
	pthread_mutex_lock(&h->lock);
	it->next = h->incoming;
	h->incoming = it;
	pthread_mutex_unlock(&h->lock);
	wake(h);
	return 0;
}

static int
cancel(struct hba *h, struct udk_scsi_task *t)
{
	struct abort_req a = { NULL, t, false };

	pthread_mutex_lock(&h->lock);
	/* not sent yet: drop it here */
	for (struct itask **pp = &h->incoming; *pp;) {
		if (!t || (*pp)->t == t) {
			struct itask *it = *pp;
			*pp = it->next;
			free(it);
		} else {
			pp = &(*pp)->next;
		}
	}
	a.next = h->aborts;
	h->aborts = &a;
	pthread_mutex_unlock(&h->lock);
	wake(h);
	pthread_mutex_lock(&h->lock);
	while (!a.done)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int
abort_task(struct udk_scsi_controller *c, struct udk_scsi_task *t)
{
	return cancel(udk_scsi_controller_get_context(c), t);
}

static int
reset(struct udk_scsi_controller *c, enum udk_scsi_reset_kind kind, uint64_t target, uint64_t lun)
{
	(void)kind;
	(void)target;
	(void)lun;
	/* one target per session: every task of the session is in scope */
	return cancel(udk_scsi_controller_get_context(c), NULL);
}

static int
parse_portal(struct hba *h)
{
	char *colon;
	long port;

	snprintf(h->host, sizeof(h->host), "%.63s", h->portal);
	colon = strrchr(h->host, ':');
	if (!colon || !colon[1])
		return udk_error_set(-EINVAL, "iSCSIPortal \"%s\" must be ADDRESS:PORT", h->portal);
	*colon = 0;
	port = strtol(colon + 1, NULL, 10);
	if (port < 1 || port > 65535)
		return udk_error_set(-EINVAL, "iSCSIPortal \"%s\": the port must be 1..65535", h->portal);
	h->port = (uint16_t)port;
	return 0;
}

static int
iscsi_start(struct udk_service *self, struct udk_service *provider)
{
	static const struct udk_scsi_controller_ops ops = {
		UDK_SCSI_CONTROLLER_OPS_INIT,
		.process_task = process_task,
		.abort_task = abort_task,
		.reset = reset,
	};
	struct hba *h = udk_service_get_ivars(self);
	struct udk_scsi_controller_config cfg = { UDK_SCSI_CONTROLLER_CONFIG_INIT };
	char desc[128];
	int r;

	(void)provider;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	the_hba = h;
	if (udk_service_get_string_property(self, "iSCSIPortal", h->portal, sizeof(h->portal)) < 0 ||
	    udk_service_get_string_property(self, "iSCSITargetName", h->target, sizeof(h->target)) < 0)
		return udk_error_set(-EINVAL, "the personality needs iSCSIPortal (\"127.0.0.1:3260\") and "
					      "iSCSITargetName (the target's IQN)");
	if (udk_service_get_string_property(self, "iSCSIInitiatorName", h->initiator, sizeof(h->initiator)) < 0)
		snprintf(h->initiator, sizeof(h->initiator), "iqn.2024-01.org.udk:initiator");
	r = parse_portal(h);
	if (r < 0)
		return r;
	h->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->wake < 0)
		return -errno;
	/* the first login before the scan, so the scan sees the LUNs */
	if (!login(h))
		udk_log_warning("iSCSI: cannot log in to %s at %s: %s (retrying)", h->target, h->portal, h->last_error);
	else
		udk_log_notice("iSCSI: logged in to %s at %s", h->target, h->portal);
	h->failures = h->connected ? 0 : 1;
	snprintf(desc, sizeof(desc), "iSCSI %.60s at %.40s", h->target, h->portal);
	cfg.max_target = 0;
	cfg.initiator_id = -1;
	cfg.max_tasks = 64;
	cfg.description = desc;
	r = udk_scsi_controller_create(self, &cfg, &ops, h, &h->ctl);
	if (r < 0)
		return r;
	if (!h->connected)
		udk_scsi_controller_set_online(h->ctl, false, h->last_error);
	r = -pthread_create(&h->thread, NULL, iscsi_main, h);
	if (r < 0)
		return r;
	return udk_service_register(self);
}

static int
iscsi_stop(struct udk_service *self, struct udk_service *provider)
{
	struct hba *h = udk_service_get_ivars(self);

	(void)provider;
	pthread_mutex_lock(&h->lock);
	h->quit = true;
	pthread_mutex_unlock(&h->lock);
	wake(h);
	pthread_join(h->thread, NULL);
	udk_scsi_controller_destroy(h->ctl);
	close(h->wake);
	return 0;
}

static const struct udk_class iscsi_class = {
	UDK_CLASS_INIT,
	.name = "ISCSIController",
	.ivars_size = sizeof(struct hba),
	.start = iscsi_start,
	.stop = iscsi_stop,
	.new_user_client = udk_scsi_controller_new_user_client,
};

int
main(int argc, char **argv)
{
	static const struct udk_class *const classes[] = { &iscsi_class, &udk_scsi_task_user_client_class, NULL };

	return udk_driver_main(argc, argv, classes);
}
