/* Message queues: a port's messages, its limit, and the threads waiting
 * to receive (on the port or its set) or to send (queue full).
 *
 * Receiving directly on a port that belongs to a set fails with
 * MACH_RCV_IN_SET, as in Mach 3 and OSF (XNU later allowed it); a thread
 * blocked on a port that is then put in a set gets MACH_RCV_PORT_CHANGED,
 * and one blocked on a port that dies or whose receive right moves away
 * gets MACH_RCV_PORT_DIED (ipc_mqueue_changed in OSF). */
#include "ipc_internal.h"

static uint32_t waiting_receivers(ipc_port_t port)
{
	return port->rcv_waiters + (port->pset != NULL ? port->pset->waiters : 0);
}

bool ipc_mqueue_full(ipc_port_t port)
{
	/* Below the limit, or a receiver waits for this very message: a
	 * limit of 0 makes each send a rendezvous. */
	if (port->msgcount < port->qlimit)
		return false;
	return port->msgcount >= waiting_receivers(port);
}

/* Wake-ups run after the unlock, with these references dropped then. */
static void release_port(void *port)
{
	ipc_port_release(port);
}

static void release_pset(void *pset)
{
	ipc_pset_release(pset);
}

bool ipc_mqueue_wake_idle(struct ipc_idle_waiter **list, bool all)
{
	if (*list == NULL)
		return false;
	do {
		struct ipc_idle_waiter *w = *list;
		*list = w->next;
		w->next = NULL;
		ipc_defer_wake_fd(w->hook, w->wake_fd);
	} while (all && *list != NULL);
	return true;
}

/* A receiver serving faults from the idle hook (ipc_mqueue_receive) is
 * about to come back to this port (or set): the first message its serving
 * sends there is left for it to dequeue itself, rather than waking
 * another receiver for it (which made a fault served by a pager with
 * several receive threads cost a second hand-off). */
static _Thread_local struct {
	ipc_port_t port;
	ipc_pset_t pset;
	bool open;          /* nothing claimed yet */
	bool taken;         /* a message was left unannounced */
} claim;

static void wake_one_receiver(ipc_port_t port)
{
	if (port->pset != NULL) {
		ipc_pset_t pset = port->pset;
		if (pset->waiters && !ipc_mqueue_wake_idle(&pset->idle, false)) {
			atomic_fetch_add(&pset->refs, 1);
			ipc_defer_wakeup(&pset->cond, release_pset, pset);
		}
	} else if (port->rcv_waiters && !ipc_mqueue_wake_idle(&port->rcv_idle, false)) {
		ipc_port_reference(port);
		ipc_defer_wakeup(&port->rcv_cond, release_port, port);
	}
}

void ipc_mqueue_enqueue(ipc_port_t port, ipc_kmsg_t kmsg)
{
	kmsg->next = NULL;
	if (port->tail != NULL)
		port->tail->next = kmsg;
	else
		port->head = kmsg;
	port->tail = kmsg;
	port->msgcount++;
	if (port->pset != NULL)
		ipc_pset_ready(port);
	if (claim.open && (port == claim.port ||
	                   (port->pset != NULL && port->pset == claim.pset))) {
		claim.open = false;
		claim.taken = true;
		return;
	}
	wake_one_receiver(port);
}

/* Serves the faults the idle hook saw, claiming the first message sent to
 * what this thread receives from (port, or pset). */
static void serve_idle_claiming(ipc_port_t port, ipc_pset_t pset,
        const struct ipc_idle_hook *hook)
{
	claim.port = port;
	claim.pset = pset;
	claim.open = true;
	claim.taken = false;
	ipc_serve_idle(hook);
	claim.open = false;
	claim.port = IP_NULL;
	claim.pset = NULL;
}

/* The receive ends without dequeuing: a claimed message gets the
 * wake-up it was spared. */
static void release_claim(ipc_port_t port)
{
	if (!claim.taken)
		return;
	claim.taken = false;
	if (port->active && port->head != NULL)
		wake_one_receiver(port);
}

/* The receive took (or returned for) a message other than the one left
 * for it, or none: a message still queued gets the wake-up it was spared,
 * since this thread may now be busy for long with what it took. */
static void pass_on_claim(ipc_port_t port, ipc_pset_t pset)
{
	ipc_port_t rest = port != IP_NULL ? (port->head ? port : IP_NULL)
	                                  : pset->ready_head;
	if (rest != IP_NULL)
		wake_one_receiver(rest);
}

ipc_kmsg_t ipc_mqueue_dequeue(ipc_port_t port)
{
	ipc_kmsg_t kmsg = port->head;
	port->head = kmsg->next;
	if (port->head == NULL)
		port->tail = NULL;
	kmsg->next = NULL;
	port->msgcount--;
	kmsg->seqno = port->seqno++;
	if (port->pset != NULL) {
		/* To the back of the set's ready list, if still ready. */
		ipc_pset_unready(port);
		if (port->head != NULL)
			ipc_pset_ready(port);
	}
	if (port->snd_waiters && !ipc_mqueue_full(port))
		pthread_cond_signal(&port->snd_cond);
	return kmsg;
}

static void wake_set_senders(ipc_pset_t pset)
{
	for (ipc_port_t p = pset->members; p != IP_NULL; p = p->pset_next)
		if (p->snd_waiters)
			pthread_cond_signal(&p->snd_cond);
}

/* The receiver's place on an idle list while it sleeps in a hook: one
 * for the VM's, one for the net layer's (each with its own wake_fd). */
static _Thread_local struct ipc_idle_waiter idle_self, idle_net_self;
static _Thread_local bool idle_self_init, idle_net_self_init;

/* The name in `sender` of a send right to the port received on (or to
 * one of a set's first 64 members), else MACH_PORT_NULL. With the kernel
 * space: a memory object's port (or another the kernel sends to;
 * sleeping in the hook is invisible to the receiver either way). With
 * the net space: a port exported over links (their readers deliver its
 * messages). Only a set's first members are looked at: a choice of where
 * to sleep, not of what is received. */
static mach_port_name_t sends_to(ipc_space_t sender, ipc_port_t port, ipc_pset_t pset)
{
	mach_port_name_t name = MACH_PORT_NULL;
	if (port != IP_NULL)
		return ipc_hash_lookup(sender, port, &name) != NULL ? name : MACH_PORT_NULL;
	int n = 0;
	for (ipc_port_t p = pset->members; p != IP_NULL && n < 64; p = p->pset_next, n++)
		if (ipc_hash_lookup(sender, p, &name) != NULL)
			return name;
	return MACH_PORT_NULL;
}

/* The net hook's waiter, armed with the port's net-space name (and the
 * VM's hook when the receive may read faults too), or NULL. */
static struct ipc_idle_waiter *net_idle_waiter(ipc_port_t port, ipc_pset_t pset,
        const struct ipc_idle_hook *faults)
{
	mach_port_name_t name = sends_to(ipc_space_net(), port, pset);
	if (name == MACH_PORT_NULL)
		return NULL;
	if (!idle_net_self_init) {
		idle_net_self_init = true;
		idle_net_self.wake_fd = ipc_net_idle_hook->wake_fd();
		idle_net_self.hook = ipc_net_idle_hook;
	}
	if (idle_net_self.wake_fd < 0)
		return NULL;
	ipc_net_idle_hook->arm(name, faults);
	return &idle_net_self;
}

/* This thread's idle waiter when a receive in space on port (or pset) may sleep in
 * a hook, else NULL. */
static struct ipc_idle_waiter *idle_waiter(ipc_space_t space, ipc_port_t port,
        ipc_pset_t pset)
{
	/* Only the task's receives (a manager's): the kernel and net spaces'
	 * own receives keep their condition, as they may run under locks
	 * that serving a fault takes. */
	if (space != ipc_space_task())
		return NULL;
	bool eligible = ipc_idle_hook != NULL &&
	                sends_to(ipc_space_kernel(), port, pset) != MACH_PORT_NULL;
	if (ipc_net_idle_hook != NULL) {
		const struct ipc_idle_hook *faults =
		        eligible && ipc_idle_hook->fault_fd != NULL ? ipc_idle_hook : NULL;
		struct ipc_idle_waiter *w = eligible && faults == NULL ? NULL
		        : net_idle_waiter(port, pset, faults);
		if (w != NULL || !eligible)
			return w;
	}
	if (!eligible)
		return NULL;
	if (!idle_self_init) {
		idle_self_init = true;
		idle_self.wake_fd = ipc_idle_hook->wake_fd();
		idle_self.hook = ipc_idle_hook;
	}
	return idle_self.wake_fd >= 0 ? &idle_self : NULL;
}

static void idle_unlink(struct ipc_idle_waiter **list, struct ipc_idle_waiter *w)
{
	for (struct ipc_idle_waiter **pp = list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			w->next = NULL;
			return;
		}
}

static bool is_poll(const struct timespec *deadline)
{
	return deadline != NULL && deadline->tv_sec == 0 && deadline->tv_nsec == 0;
}

mach_msg_return_t ipc_mqueue_receive(ipc_space_t space, mach_port_name_t name,
        mach_msg_option_t option, mach_msg_size_t rcv_size,
        const struct timespec *deadline, ipc_kmsg_t *kmsgp,
        mach_msg_size_t *needed)
{
	*kmsgp = NULL;
	ipc_entry_t entry = MACH_PORT_VALID(name) ? ipc_entry_lookup(space, name) : NULL;
	if (entry == NULL)
		return MACH_RCV_INVALID_NAME;
	ipc_port_t port = IP_NULL;
	ipc_pset_t pset = NULL;
	if (entry->type & MACH_PORT_TYPE_RECEIVE) {
		port = entry->object;
		if (port->pset != NULL)
			return MACH_RCV_IN_SET;
	} else if (entry->type & MACH_PORT_TYPE_PORT_SET) {
		pset = entry->object;
	} else {
		return MACH_RCV_INVALID_NAME;
	}

	mach_msg_size_t trailer = REQUESTED_TRAILER_SIZE(option);
	uint32_t epoch = port != IP_NULL ? port->rcv_epoch : 0;
	bool timed_out = false;
	for (;;) {
		ipc_port_t src = port != IP_NULL ? (port->head ? port : IP_NULL)
		                                 : pset->ready_head;
		if (src != IP_NULL) {
			/* This thread takes one message: the head, which need
			 * not be the one left for it. */
			bool claimed = claim.taken;
			claim.taken = false;
			ipc_kmsg_t kmsg = src->head;
			mach_msg_size_t need = round_msg(kmsg->size) + trailer;
			if (need > rcv_size) {
				if (option & MACH_RCV_LARGE) {
					*needed = need;
					if (claimed)
						pass_on_claim(port, pset);
					return MACH_RCV_TOO_LARGE;
				}
				/* Dequeued (its seqno used up) and thrown away. */
				*kmsgp = ipc_mqueue_dequeue(src);
				if (claimed)
					pass_on_claim(port, pset);
				return MACH_RCV_TOO_LARGE;
			}
			kmsg = ipc_mqueue_dequeue(src);
			if (claimed)
				pass_on_claim(port, pset);
			ipc_kmsg_copyout(space, kmsg);
			*kmsgp = kmsg;
			return MACH_MSG_SUCCESS;
		}
		if (timed_out || is_poll(deadline))
			return MACH_RCV_TIMED_OUT;

		bool woke;
		if (port != IP_NULL) {
			ipc_port_reference(port);
			port->rcv_waiters++;
			if (port->snd_waiters)
				pthread_cond_signal(&port->snd_cond);
			struct ipc_idle_waiter *w = idle_waiter(space, port, NULL);
			int idle = 0;
			if (w != NULL) {
				w->next = port->rcv_idle;
				port->rcv_idle = w;
				idle = ipc_wait_idle(w->hook, deadline);
				idle_unlink(&port->rcv_idle, w);
				woke = idle >= 0;
			} else {
				woke = ipc_wait(&port->rcv_cond, deadline);
			}
			port->rcv_waiters--;
			if (idle > 0)
				serve_idle_claiming(port, NULL, w->hook);   /* not a waiter now */
			if (port->rcv_epoch != epoch) {
				bool changed = port->active && port->receiver == space &&
				               port->pset != NULL;
				release_claim(port);
				ipc_port_release(port);
				return changed ? MACH_RCV_PORT_CHANGED : MACH_RCV_PORT_DIED;
			}
			ipc_port_release(port);
		} else {
			pset->refs++;
			pset->waiters++;
			wake_set_senders(pset);
			struct ipc_idle_waiter *w = idle_waiter(space, IP_NULL, pset);
			int idle = 0;
			if (w != NULL) {
				w->next = pset->idle;
				pset->idle = w;
				idle = ipc_wait_idle(w->hook, deadline);
				idle_unlink(&pset->idle, w);
				woke = idle >= 0;
			} else {
				woke = ipc_wait(&pset->cond, deadline);
			}
			pset->waiters--;
			if (idle > 0)
				serve_idle_claiming(IP_NULL, pset, w->hook);
			bool dead = !pset->active;
			if (dead)
				claim.taken = false;
			ipc_pset_release(pset);
			if (dead)
				return MACH_RCV_PORT_DIED;
		}
		/* After a timeout look once more: a message may have come with
		 * the wake-up this thread consumed. */
		timed_out = !woke;
	}
}
