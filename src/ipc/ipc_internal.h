/* Internal structures of the IPC layer, shared by the files of src/ipc only.
 *
 * Locking: one global mutex (ipc_lock/ipc_unlock) guards every space,
 * entry, port, port set and queued message. Waiting uses per-port and
 * per-set condition variables on that mutex. Work that must not run under
 * the lock (kobject handlers, wake-ups, vm_deallocate) or that could
 * recurse deeply (destroying the messages of a dead port) is deferred to
 * ipc_unlock, see ipc_lock.c. */
#ifndef MEMOBJ_IPC_INTERNAL_H
#define MEMOBJ_IPC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "ipc_kernel.h"

typedef struct ipc_port *ipc_port_t;
typedef struct ipc_pset *ipc_pset_t;
typedef struct ipc_kmsg *ipc_kmsg_t;

/* A right carried in a message is a port pointer, or one of these. */
#define IP_NULL ((ipc_port_t)0)
#define IP_DEAD ((ipc_port_t)(uintptr_t)-1)
#define IP_VALID(p) ((p) != IP_NULL && (p) != IP_DEAD)

/* ---- lock and deferred work (ipc_lock.c; ipc_init in ipc_task.c) ---- */
void ipc_init(void);          /* once; every entry point calls it */
void ipc_lock(void);
void ipc_unlock(void);        /* runs deferred work first, handlers after */
/* Waits on cond under the global lock until the absolute CLOCK_MONOTONIC
 * deadline (NULL: forever). Returns false on timeout. */
bool ipc_wait(pthread_cond_t *cond, const struct timespec *deadline);
void ipc_cond_init(pthread_cond_t *cond);
void ipc_defer_reap(ipc_kmsg_t kmsg);        /* destroy it before unlocking */
void ipc_defer_delivery(ipc_kmsg_t kmsg);    /* hand to its kobject handler */
/* Signals cond once the lock is released (so the woken thread does not
 * block on it at once); `release(object)` then drops the reference the
 * caller took to keep cond alive. */
void ipc_defer_wakeup(pthread_cond_t *cond, void (*release)(void *), void *object);
/* A receiver sleeping in the idle hook (ipc_set_idle_hook) rather than on
 * its queue's condition: on the port's or set's list while it sleeps;
 * a waker takes it off and writes wake_fd. */
struct ipc_idle_waiter {
	struct ipc_idle_waiter *next;
	int wake_fd;
	const struct ipc_idle_hook *hook;   /* whose wait it sleeps in */
};
/* Writes wake_fd (through hook) once the lock is released. */
void ipc_defer_wake_fd(const struct ipc_idle_hook *hook, int wake_fd);
/* Sleeps in the hook with the lock dropped: -1 on timeout, 1 when
 * there is work (faults, link data) for ipc_serve_idle, else 0. */
int ipc_wait_idle(const struct ipc_idle_hook *hook, const struct timespec *deadline);
/* Does it (the hook's serve) with the lock dropped. */
void ipc_serve_idle(const struct ipc_idle_hook *hook);
extern const struct ipc_idle_hook *ipc_idle_hook;
extern const struct ipc_idle_hook *ipc_net_idle_hook;
/* ipc_ool_release once the lock is released. */
void ipc_defer_release(void *addr, size_t len);
extern uint32_t ipc_sender_uid, ipc_sender_gid;
extern size_t ipc_page_size;

/* ---- spaces and entries (ipc_space.c) ---- */
struct ipc_dnrequest;

struct ipc_entry {
	void *object;                  /* port or pset; NULL for dead names */
	mach_port_type_t type;         /* MACH_PORT_TYPE_* bits; NONE = free */
	mach_port_urefs_t urefs;       /* of the send right or the dead name */
	struct ipc_dnrequest *request; /* dead-name request on this name */
	mach_port_name_t name;         /* the full name, while in use */
	uint32_t gen;                  /* table slot: low byte of its next name */
	uint32_t next;                 /* table slot: the free list */
	bool chosen;                   /* a caller's name, in the name hash */
	struct ipc_entry *hnext;       /* port -> entry hash chain */
	struct ipc_entry *nnext;       /* name hash chain (chosen names) */
	/* Scratch while one message's rights are checked (ipc_kmsg.c). */
	uint32_t pending_urefs;
	bool pending_receive, pending_sonce;
};
typedef struct ipc_entry *ipc_entry_t;

#define IPC_ENTRY_CHUNK 256u
#define IPC_ENTRY_DIR   65536u        /* chunks: 24-bit index space */
#define IPC_INDEX_MAX   0xfffffeu     /* index 0xffffff would make ~0 */

/* Names the kernel picks are index << 8 | generation and live in a
 * two-level table (one array access per lookup). Names a caller picks
 * (mach_port_allocate_name, mach_port_insert_right) may be any value,
 * e.g. addresses 16 bytes apart; each gets its own entry in a hash table
 * keyed by the whole name (O(1) lookups). A kernel-picked name is never
 * one that is in the hash, so every name denotes at most one entry. */
struct ipc_space {
	struct ipc_entry **dir;        /* two levels: sparse names are cheap */
	uint32_t free_head;            /* freed indexes, 0 = none */
	uint32_t first, hwm;           /* first index; next never-used one */
	ipc_entry_t *rhash;            /* port -> entry, for SEND|RECEIVE */
	uint32_t rhash_size, rhash_count;
	ipc_entry_t *nhash;            /* name -> entry, for chosen names */
	uint32_t nhash_size, nhash_count;
	bool is_kernel;
};

#define IPC_NAME(index, gen) ((mach_port_name_t)(((index) << 8) | ((gen) & 0xffu)))
#define IPC_NAME_INDEX(name) ((uint32_t)(name) >> 8)

/* The first index each space picks names from. Far apart, so that a name
 * of one space used in another is caught as invalid rather than aliased
 * (a space would need 2^20 live names to reach the next one's). */
#define IPC_TASK_FIRST_INDEX   1u
#define IPC_KERNEL_FIRST_INDEX (1u << 20)
#define IPC_NET_FIRST_INDEX    (1u << 22)
_Static_assert(IPC_TASK_FIRST_INDEX < IPC_KERNEL_FIRST_INDEX &&
               IPC_KERNEL_FIRST_INDEX < IPC_NET_FIRST_INDEX &&
               IPC_NET_FIRST_INDEX < IPC_INDEX_MAX,
               "the spaces' name ranges are ordered and fit the index");

ipc_space_t ipc_space_create(bool is_kernel, uint32_t first_index);
/* The entry `name` denotes, or NULL. A send or send-once right whose port
 * died is turned into a dead name here (Mach's lazy ipc_right_check). */
ipc_entry_t ipc_entry_lookup(ipc_space_t space, mach_port_name_t name);
ipc_entry_t ipc_entry_lookup_raw(ipc_space_t space, mach_port_name_t name);
kern_return_t ipc_entry_alloc(ipc_space_t space, mach_port_name_t *name,
        ipc_entry_t *entry);
kern_return_t ipc_entry_alloc_name(ipc_space_t space, mach_port_name_t name,
        ipc_entry_t *entry);
void ipc_entry_free(ipc_space_t space, mach_port_name_t name);
/* The entry holding send or receive rights for port, if any. */
ipc_entry_t ipc_hash_lookup(ipc_space_t space, ipc_port_t port,
        mach_port_name_t *name);
void ipc_hash_insert(ipc_space_t space, ipc_port_t port, mach_port_name_t name);
void ipc_hash_remove(ipc_space_t space, ipc_port_t port, mach_port_name_t name);
/* Calls fn for every live name (for mach_port_names). */
void ipc_space_foreach(ipc_space_t space,
        void (*fn)(void *arg, mach_port_name_t name, ipc_entry_t entry), void *arg);

/* ---- ports (ipc_port.c) ---- */
struct ipc_dnrequest {
	struct ipc_dnrequest *next;    /* on the port's list */
	ipc_space_t space;
	mach_port_name_t name;
	ipc_port_t notify;             /* send-once right */
};

struct ipc_port {
	/* entries, messages, waiters, requests; atomic because a waker drops
	 * its reference after releasing the lock (see ipc_defer_wakeup) */
	_Atomic uint32_t refs;
	bool active;                   /* false once destroyed */
	ipc_space_t receiver;          /* NULL while the receive right travels */
	mach_port_name_t receiver_name;
	ipc_port_t destination;        /* while in transit: the port queueing it */
	uint32_t srights, sorights;
	mach_port_mscount_t mscount;
	mach_port_seqno_t seqno;
	/* message queue */
	ipc_kmsg_t head, tail;
	mach_port_msgcount_t msgcount, qlimit;
	pthread_cond_t rcv_cond, snd_cond;
	uint32_t rcv_waiters, snd_waiters;
	uint32_t rcv_epoch;            /* bumped when receivers must re-check */
	struct ipc_idle_waiter *rcv_idle; /* receivers in the idle hook */
	/* port set membership and the set's list of ports with messages */
	ipc_pset_t pset;
	ipc_port_t pset_prev, pset_next;
	ipc_port_t ready_prev, ready_next;
	bool on_ready;
	/* notifications */
	ipc_port_t nsrequest;          /* send-once rights */
	mach_port_mscount_t nssync;
	ipc_port_t pdrequest;
	struct ipc_dnrequest *dnrequests;
	/* kernel object */
	ipc_kobject_handler_t handler;
	void *context;
	bool reads_ool_safely;         /* handler copies lent OOL data only with
	                                * calls that fail on a bad address */
	bool moving;                   /* scratch: receive right being copied in */
};

ipc_port_t ipc_port_alloc(void);   /* refs 1, active, no receiver yet */
void ipc_port_reference(ipc_port_t port);
void ipc_port_release(ipc_port_t port);
ipc_port_t ipc_port_make_send(ipc_port_t port);
ipc_port_t ipc_port_copy_send(ipc_port_t port);
ipc_port_t ipc_port_make_sonce(ipc_port_t port);
void ipc_port_release_send(ipc_port_t port);   /* may fire no-senders */
void ipc_port_release_sonce(ipc_port_t port);  /* consumed by delivery */
void ipc_port_release_receive(ipc_port_t port); /* the right, then its ref */
/* Sets the receiver of an in-transit or new receive right. */
void ipc_port_set_receiver(ipc_port_t port, ipc_space_t space,
        mach_port_name_t name);
/* The receive right leaves its space: out of its set, handler dropped,
 * seqno and mscount reset, receivers woken. */
void ipc_port_clear_receiver(ipc_port_t port);
/* Destroys the receive right (port-destroyed request honoured). */
void ipc_port_destroy_receive(ipc_port_t port);
void ipc_port_dnrequest_cancel(ipc_port_t port, struct ipc_dnrequest *req);
void ipc_port_wake_senders(ipc_port_t port, bool all);
bool ipc_port_in_transit_chain(ipc_port_t start, ipc_port_t target);

/* ---- port sets (ipc_pset.c) ---- */
struct ipc_pset {
	_Atomic uint32_t refs;
	bool active;
	ipc_space_t space;
	mach_port_name_t name;
	ipc_port_t members;            /* doubly linked via pset_next */
	ipc_port_t ready_head, ready_tail; /* members with messages */
	pthread_cond_t cond;
	uint32_t waiters;
	struct ipc_idle_waiter *idle;  /* receivers in the idle hook */
};

ipc_pset_t ipc_pset_alloc(ipc_space_t space, mach_port_name_t name);
void ipc_pset_release(ipc_pset_t pset);
void ipc_pset_add(ipc_pset_t pset, ipc_port_t port);
void ipc_pset_remove(ipc_port_t port);
void ipc_pset_destroy(ipc_pset_t pset);
void ipc_pset_ready(ipc_port_t port);          /* port got a message */
void ipc_pset_unready(ipc_port_t port);        /* port is empty */

/* ---- messages (ipc_kmsg.c, ipc_ool.c) ---- */
/* A message in transit. The header and body follow the struct; rights are
 * held as port pointers ("kernel form"): the header's in remote/local, a
 * port descriptor's in its first 8 bytes (name and pad1), an OOL ports
 * descriptor's address points to an ipc_ool_ports block. Dispositions are
 * already the received types (PORT_SEND, PORT_SEND_ONCE, PORT_RECEIVE). */
struct ipc_kmsg {
	ipc_kmsg_t next;
	ipc_port_t remote, local;      /* dest and reply rights */
	mach_msg_size_t size;          /* msgh_size: inline bytes */
	mach_msg_size_t capacity;      /* bytes after the struct */
	uint32_t uid, gid;             /* sender's, for the security trailer */
	mach_port_seqno_t seqno;       /* given when dequeued */
	ipc_kobject_handler_t handler; /* set when bound for a kobject */
	void *context;
	ipc_space_t kspace;            /* the kobject's space (for tracing) */
	bool lent;                     /* OOL data is the sender's memory */
	bool lent_unchecked;           /* ...and its mapping is not checked */
};
#define ipc_kmsg_hdr(k) ((mach_msg_header_t *)(void *)((k) + 1))

/* Kernel form of an OOL ports array: the ports, and the page-aligned
 * region the receiver will find the names in (made at send time so that
 * copyout under the lock cannot fail). */
struct ipc_ool_ports {
	void *names;                   /* mmap'd, count names, or NULL */
	mach_msg_size_t count;
	ipc_port_t ports[];
};

ipc_kmsg_t ipc_kmsg_alloc(mach_msg_size_t size);
void ipc_kmsg_free(ipc_kmsg_t kmsg);
/* Releases every right and region a kernel-form message holds; the dest
 * right is released without a send-once notification (it was used). */
void ipc_kmsg_destroy(ipc_kmsg_t kmsg);
/* Converts kmsg in place to its received form in space: header swapped,
 * rights named, trailer fields (seqno, sender) written after the body. */
void ipc_kmsg_copyout(ipc_space_t space, ipc_kmsg_t kmsg);
void ipc_kmsg_write_trailer(ipc_kmsg_t kmsg, mach_msg_size_t trailer_size);
/* Queues kmsg on its dest port or hands it to the dest's kobject handler
 * (deferred to ipc_unlock); destroys it when the dest is dead. */
void ipc_kmsg_deliver(ipc_kmsg_t kmsg);

/* Sending: the stages mach_msg goes through (ipc_kmsg.c). */
struct ipc_copyin_right {
	mach_port_name_t name;
	mach_msg_type_name_t msgt;     /* the sender's disposition */
	void *slot;                    /* where the port pointer goes */
	ipc_entry_t entry;
};
struct ipc_dealloc_range { void *addr; size_t len; };
struct ipc_copyin {
	struct ipc_copyin_right *rights;
	uint32_t nrights, rights_cap;
	struct ipc_copyin_right inline_rights[6];
	struct ipc_dealloc_range *deallocs; /* sender memory freed on success */
	uint32_t ndeallocs;
	bool kernel_sender;            /* deallocs are kernel memory: munmap;
	                                * set before ipc_kmsg_get */
	mach_msg_return_t body_error;  /* reported once the header checks out */
	mach_msg_size_t ool_done;      /* descriptors whose memory was copied */
	ipc_port_t dest;
};
/* Copies the user message into a new kmsg, checks sizes, header bits and
 * descriptors, copies OOL memory. No lock. */
/* With `lend` (IPC_LEND_*), OOL data is not copied: the message points at
 * the sender's memory, which only a kobject handler, running before the
 * send returns, may read (see ipc_kernel.h); IPC_LEND_UNCHECKED skips the
 * check that it is mapped, for a handler that reads it safely. */
enum { IPC_LEND_NONE, IPC_LEND_CHECKED, IPC_LEND_UNCHECKED };
mach_msg_return_t ipc_kmsg_get(const mach_msg_header_t *msg,
        mach_msg_size_t send_size, int lend, ipc_kmsg_t *kmsgp,
        struct ipc_copyin *ci);
/* The message's header and OOL data, as the handler of a lent delivery
 * in this thread sees them (NULL outside one). */
extern _Thread_local const mach_msg_header_t *ipc_lent_delivery;
/* Under the lock: checks every right (nothing changes in space). */
mach_msg_return_t ipc_kmsg_copyin_check(ipc_space_t space, struct ipc_copyin *ci);
/* Under the lock, after a successful check: takes the rights. */
void ipc_kmsg_copyin_commit(ipc_space_t space, ipc_kmsg_t kmsg,
        struct ipc_copyin *ci);
/* Frees what ipc_kmsg_get made when the send fails (no lock). */
void ipc_kmsg_abort(ipc_kmsg_t kmsg, struct ipc_copyin *ci);
void ipc_copyin_done(struct ipc_copyin *ci); /* frees the bookkeeping */

/* OOL memory (ipc_ool.c). `kernel`: the sender is a kernel space, whose
 * memory is its own allocations, not checked (as deallocs already trust
 * it). */
mach_msg_return_t ipc_ool_copyin(void *addr, mach_msg_size_t size,
        bool deallocate, bool kernel, void **copy,
        struct ipc_dealloc_range *dealloc);
mach_msg_return_t ipc_ool_read(void *dst, const void *src, size_t len);
/* True when [addr, addr+len) is all mapped (readable or not). */
bool ipc_ool_mapped(const void *addr, size_t len);
/* True when ipc_ool_copyin gave the sender's own pages (not a copy). */
bool ipc_ool_handed_over(const void *addr, mach_msg_size_t size, bool deallocate);
void *ipc_ool_alloc(size_t len);     /* fresh page-aligned region */
/* Unmaps a region IPC made and never handed out. */
void ipc_ool_free(void *addr, size_t len);
/* Frees memory that may be in the VM layer's map (the sender's, pages
 * handed over, regions a receiver got) with vm_deallocate; never call it
 * under the IPC lock (the VM map lock may be held around IPC calls). */
void ipc_ool_release(void *addr, size_t len);

/* ---- queues (ipc_mqueue.c) ---- */
void ipc_mqueue_enqueue(ipc_port_t port, ipc_kmsg_t kmsg);
ipc_kmsg_t ipc_mqueue_dequeue(ipc_port_t port);
bool ipc_mqueue_full(ipc_port_t port);
/* Wakes one (or every) receiver of the list sleeping in the idle hook;
 * false when there was none. */
bool ipc_mqueue_wake_idle(struct ipc_idle_waiter **list, bool all);
/* Receives one message for space on name; under the lock. On success
 * *kmsgp is dequeued and copied out. On MACH_RCV_TOO_LARGE with
 * RCV_LARGE *needed gets the size; without it the message is dequeued
 * into *kmsgp still in kernel form, for the caller to report & destroy. */
mach_msg_return_t ipc_mqueue_receive(ipc_space_t space, mach_port_name_t name,
        mach_msg_option_t option, mach_msg_size_t rcv_size,
        const struct timespec *deadline, ipc_kmsg_t *kmsgp,
        mach_msg_size_t *needed);

/* ---- rights (ipc_right.c) ---- */
mach_msg_type_name_t ipc_copyin_type(mach_msg_type_name_t msgt);
bool ipc_msgt_valid_send(mach_msg_type_name_t msgt);  /* header dispositions */
bool ipc_msgt_valid(mach_msg_type_name_t msgt);       /* any port disposition */
/* Checks that name can give up a right with disposition msgt, counting
 * what earlier checks of the same message reserved. deadok: a dead name
 * (or NULL/DEAD) is acceptable for send dispositions. */
kern_return_t ipc_right_copyin_check(ipc_space_t space, mach_port_name_t name,
        mach_msg_type_name_t msgt, bool deadok, ipc_entry_t *entryp);
void ipc_right_copyin_unreserve(ipc_entry_t entry);
/* Takes the checked right: a port pointer, IP_NULL or IP_DEAD. */
ipc_port_t ipc_right_copyin(ipc_space_t space, mach_port_name_t name,
        mach_msg_type_name_t msgt);
/* Names a right (type PORT_SEND, PORT_SEND_ONCE, PORT_RECEIVE) in space. */
mach_port_name_t ipc_right_copyout(ipc_space_t space, ipc_port_t port,
        mach_msg_type_name_t type);
void ipc_right_copyout_name(ipc_space_t space, ipc_port_t port,
        mach_msg_type_name_t type, mach_port_name_t name);
/* Destroys a right held in kernel form (send-once: notification). */
void ipc_right_destroy_port(ipc_port_t port, mach_msg_type_name_t type);
kern_return_t ipc_right_dealloc(ipc_space_t space, mach_port_name_t name);
kern_return_t ipc_right_delta(ipc_space_t space, mach_port_name_t name,
        mach_port_right_t right, mach_port_delta_t delta);
kern_return_t ipc_right_destroy(ipc_space_t space, mach_port_name_t name);
kern_return_t ipc_right_info(ipc_space_t space, mach_port_name_t name,
        mach_port_type_t *type, mach_port_urefs_t *urefs);
kern_return_t ipc_right_dnrequest(ipc_space_t space, mach_port_name_t name,
        bool immediate, ipc_port_t notify, ipc_port_t *previous);
/* The port of a dead-name request died: its name becomes a dead name
 * (one more uref) and the requester gets the dead-name notification. */
void ipc_right_port_died(struct ipc_dnrequest *req);
ipc_port_t ipc_port_lookup_receive(ipc_space_t space, mach_port_name_t name,
        kern_return_t *kr);

/* ---- notifications (ipc_notify.c); each consumes the send-once right ---- */
void ipc_notify_no_senders(ipc_port_t notify, mach_port_mscount_t mscount);
void ipc_notify_send_once(ipc_port_t port);
void ipc_notify_dead_name(ipc_port_t notify, mach_port_name_t name);
void ipc_notify_port_deleted(ipc_port_t notify, mach_port_name_t name);
void ipc_notify_port_destroyed(ipc_port_t notify, ipc_port_t port);

/* ---- task (ipc_task.c) ---- */
ipc_space_t ipc_space_from_task(task_t task);   /* NULL: not our task */

#endif
