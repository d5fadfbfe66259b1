/* The IPC layer's one lock, and the work that waits for its release.
 *
 * Destroying a message can destroy receive rights whose queues hold more
 * messages; rather than recurse, those are put on a per-thread reap list
 * that ipc_unlock drains (still under the lock). After the mutex is
 * released, ipc_unlock then: signals the receivers that were made ready
 * (so they do not wake up only to block on the mutex the signaller still
 * holds), gives back memory with vm_deallocate (the VM layer's lock must
 * never be taken under ours), and hands messages bound for kobjects to
 * their handlers, in the sender's thread with no IPC lock held (as Mach's
 * ipc_kobject_server). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include "ipc_internal.h"

static pthread_mutex_t ipc_mutex = PTHREAD_MUTEX_INITIALIZER;

#define IPC_WAKEUPS_MAX 8

struct ipc_wakeup {
	pthread_cond_t *cond;          /* NULL: write wake_fd instead */
	int wake_fd;
	const struct ipc_idle_hook *hook;   /* which writes it */
	void (*release)(void *);
	void *object;
};

struct ipc_region {
	void *addr;
	size_t len;
};

struct ipc_deferred {
	struct ipc_region *releases;   /* memory to vm_deallocate */
	unsigned nreleases, releases_cap;
	ipc_kmsg_t reap;
	ipc_kmsg_t deliver_head, deliver_tail;
	struct ipc_wakeup wakeups[IPC_WAKEUPS_MAX];
	unsigned nwakeups;
};
static _Thread_local struct ipc_deferred ipc_deferred;
_Thread_local const mach_msg_header_t *ipc_lent_delivery;

void ipc_lock(void)
{
	pthread_mutex_lock(&ipc_mutex);
}

static void ipc_reap_all(void)
{
	while (ipc_deferred.reap != NULL) {
		ipc_kmsg_t kmsg = ipc_deferred.reap;
		ipc_deferred.reap = kmsg->next;
		ipc_kmsg_destroy(kmsg);
		ipc_kmsg_free(kmsg);
	}
}

void ipc_unlock(void)
{
	ipc_reap_all();
	ipc_kmsg_t deliver = ipc_deferred.deliver_head;
	ipc_deferred.deliver_head = ipc_deferred.deliver_tail = NULL;
	struct ipc_wakeup wakeups[IPC_WAKEUPS_MAX];
	unsigned nwakeups = ipc_deferred.nwakeups;
	for (unsigned i = 0; i < nwakeups; i++)
		wakeups[i] = ipc_deferred.wakeups[i];
	ipc_deferred.nwakeups = 0;
	struct ipc_region *releases = ipc_deferred.releases;
	unsigned nreleases = ipc_deferred.nreleases;
	if (nreleases != 0) {
		ipc_deferred.releases = NULL;
		ipc_deferred.nreleases = ipc_deferred.releases_cap = 0;
	}
	pthread_mutex_unlock(&ipc_mutex);

	for (unsigned i = 0; i < nreleases; i++)
		ipc_ool_release(releases[i].addr, releases[i].len);
	if (nreleases != 0)
		free(releases);

	for (unsigned i = 0; i < nwakeups; i++) {
		if (wakeups[i].cond == NULL) {
			wakeups[i].hook->wake(wakeups[i].wake_fd);
			continue;
		}
		pthread_cond_signal(wakeups[i].cond);
		wakeups[i].release(wakeups[i].object);
	}

	while (deliver != NULL) {
		ipc_kmsg_t kmsg = deliver;
		deliver = kmsg->next;
		const mach_msg_header_t *outer = ipc_lent_delivery;
		ipc_lent_delivery = kmsg->lent ? ipc_kmsg_hdr(kmsg) : NULL;
		ipc_trace(IPC_TRACE_KOBJECT, kmsg->kspace, ipc_kmsg_hdr(kmsg), kmsg->size, kmsg->seqno);
		kmsg->handler(kmsg->context, ipc_kmsg_hdr(kmsg), kmsg->size);
		ipc_lent_delivery = outer;
		ipc_kmsg_free(kmsg);
	}
}

void ipc_defer_reap(ipc_kmsg_t kmsg)
{
	kmsg->next = ipc_deferred.reap;
	ipc_deferred.reap = kmsg;
}

void ipc_defer_delivery(ipc_kmsg_t kmsg)
{
	kmsg->next = NULL;
	if (ipc_deferred.deliver_tail != NULL)
		ipc_deferred.deliver_tail->next = kmsg;
	else
		ipc_deferred.deliver_head = kmsg;
	ipc_deferred.deliver_tail = kmsg;
}

void ipc_defer_release(void *addr, size_t len)
{
	if (addr == NULL || len == 0)
		return;
	if (ipc_deferred.nreleases == ipc_deferred.releases_cap) {
		unsigned cap = ipc_deferred.releases_cap ? ipc_deferred.releases_cap * 2 : 8;
		struct ipc_region *r = realloc(ipc_deferred.releases, cap * sizeof *r);
		if (r == NULL) {
			/* Out of memory: unmap now rather than leak (the VM map may
			 * keep a stale entry; nothing worse). */
			ipc_ool_free(addr, len);
			return;
		}
		ipc_deferred.releases = r;
		ipc_deferred.releases_cap = cap;
	}
	ipc_deferred.releases[ipc_deferred.nreleases++] = (struct ipc_region){ addr, len };
}

void ipc_defer_wakeup(pthread_cond_t *cond, void (*release)(void *), void *object)
{
	if (ipc_deferred.nwakeups == IPC_WAKEUPS_MAX) {
		/* Rare: many queues in one locked section. Signal now. */
		pthread_cond_signal(cond);
		release(object);
		return;
	}
	ipc_deferred.wakeups[ipc_deferred.nwakeups++] =
	    (struct ipc_wakeup){ cond, -1, NULL, release, object };
}

const struct ipc_idle_hook *ipc_idle_hook;
const struct ipc_idle_hook *ipc_net_idle_hook;

void ipc_set_idle_hook(const struct ipc_idle_hook *hook)
{
	ipc_lock();
	ipc_idle_hook = hook;
	ipc_unlock();
}

void ipc_set_net_idle_hook(const struct ipc_idle_hook *hook)
{
	ipc_lock();
	ipc_net_idle_hook = hook;
	ipc_unlock();
}

void ipc_defer_wake_fd(const struct ipc_idle_hook *hook, int wake_fd)
{
	if (ipc_deferred.nwakeups == IPC_WAKEUPS_MAX) {
		hook->wake(wake_fd);
		return;
	}
	ipc_deferred.wakeups[ipc_deferred.nwakeups++] =
	    (struct ipc_wakeup){ NULL, wake_fd, hook, NULL, NULL };
}

static bool ipc_deferred_pending(void)
{
	return ipc_deferred.reap != NULL || ipc_deferred.deliver_head != NULL ||
	       ipc_deferred.nwakeups != 0 || ipc_deferred.nreleases != 0;
}

int ipc_wait_idle(const struct ipc_idle_hook *hook, const struct timespec *deadline)
{
	if (ipc_deferred_pending()) {
		ipc_unlock();
		ipc_lock();
		return 0;
	}
	pthread_mutex_unlock(&ipc_mutex);
	int r = hook->wait(deadline);
	pthread_mutex_lock(&ipc_mutex);
	return r;
}

void ipc_serve_idle(const struct ipc_idle_hook *hook)
{
	ipc_unlock();
	hook->serve();
	ipc_lock();
}

void ipc_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

bool ipc_wait(pthread_cond_t *cond, const struct timespec *deadline)
{
	/* Work queued by this thread must not wait with it: a handler may be
	 * the one to answer. Run it and let the caller re-check. */
	if (ipc_deferred_pending()) {
		ipc_unlock();
		ipc_lock();
		return true;
	}
	if (deadline == NULL) {
		pthread_cond_wait(cond, &ipc_mutex);
		return true;
	}
	int err = pthread_cond_timedwait(cond, &ipc_mutex, deadline);
	return err != ETIMEDOUT;
}
