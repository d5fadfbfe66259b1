/* pager_pool: serves a set of memory-object ports on a bounded pool of
 * threads, keeping each object's messages in the order the EMMI needs.
 * Internal to the shipped pagers (not installed); public API only: one
 * port set, mach_msg_server_once with the seqno trailer, and the
 * manager's own demux.
 *
 * Order (per object port, by the seqno each message was dequeued with;
 * every message consumes its seqno, also one that is malformed, unknown,
 * refused or arrives after the object was removed):
 *
 *   READ     a data_request: [offset, offset + length). Reads of the
 *            backing store; two reads never wait for each other.
 *   WRITE    data_return, data_initialize, data_unlock: their range.
 *   BARRIER  everything else (init, terminate, synchronize,
 *            lock_completed, supply_completed, change_completed,
 *            notifications, a pager's private messages, anything the
 *            classifier does not know).
 *
 * A message starts only when every earlier message of its object that it
 * conflicts with has finished: a BARRIER conflicts with everything, a
 * WRITE with every earlier message whose range overlaps its own, a READ
 * with every earlier overlapping WRITE. So, as SPEC 3.11 and 6 ask: a
 * data_request for a page runs after the data_return before it has
 * finished (the refault reads what was written); returns of one page reach
 * the store in the kernel's order; synchronize and lock_completed run
 * after every data_return before them; init before anything that follows
 * it, terminate after everything before it (and before a new init).
 * What may run in parallel: requests for any pages, returns for different
 * pages, requests beside returns of other pages; and anything of different
 * objects. A handler that must not run beside another message of its
 * object (a pager-wide table, say) takes its own lock.
 *
 * How: a thread that dequeued a message registers it with its object in
 * seqno order (waiting only for the threads that hold the seqnos before
 * it to register theirs, which they do at once), then waits while an
 * earlier registered message conflicts, runs the handler, and unregisters.
 * The earliest registered message never waits, so the pool cannot wedge.
 * A handler must never wait for a later message of its own object (a
 * lock_completed, say): that is the SPEC 6 deadlock, pool or not. */
#ifndef MEMOBJ_PAGER_POOL_H
#define MEMOBJ_PAGER_POOL_H

#include <mach/mach.h>
#include <stdbool.h>

typedef struct pager_pool pager_pool_t;

typedef enum pager_pool_order {
	PAGER_POOL_BARRIER,
	PAGER_POOL_READ,
	PAGER_POOL_WRITE,
} pager_pool_order_t;

/* The most threads a pool takes, and the default when 0 is asked. */
#define PAGER_POOL_MAX_THREADS 16

/* Handles one message, as a MIG demux does (out comes prefilled; FALSE:
 * unknown, answered MIG_BAD_ID and its rights destroyed). */
typedef boolean_t (*pager_pool_demux_t)(void *ctx, mach_msg_header_t *in,
        mach_msg_header_t *out);
/* Says how a message of an ordered port is ordered (above); sets
 * *offset / *length for READ and WRITE. Must not change the message. */
typedef pager_pool_order_t (*pager_pool_classify_t)(void *ctx,
        mach_msg_header_t *in, vm_offset_t *offset, vm_size_t *length);

/* The pool size the shipped pagers use: MEMOBJ_PAGER_THREADS when set
 * (1 to PAGER_POOL_MAX_THREADS), else the online CPUs, between 2 and 4. */
unsigned pager_pool_default_threads(void);

/* Starts `threads` threads (0: pager_pool_default_threads()) receiving on
 * a new port set, into buffers of max_size bytes (larger messages grow
 * them). NULL with errno set on failure. */
pager_pool_t *pager_pool_create(unsigned threads, mach_msg_size_t max_size);

/* Moves the receive right `port` into the pool's set; its messages go to
 * demux(ctx, ...). ordered: in the order above, classify deciding (NULL:
 * pager_pool_classify_emmi); not ordered: as they come, in parallel.
 * The port's next seqno is read from the right. KERN_SUCCESS,
 * KERN_INVALID_ARGUMENT, KERN_NAME_EXISTS (already in), KERN_INVALID_RIGHT
 * (not a receive right), KERN_RESOURCE_SHORTAGE. */
kern_return_t pager_pool_add(pager_pool_t *pool, mach_port_t port,
        bool ordered, pager_pool_demux_t demux, pager_pool_classify_t classify,
        void *ctx);

/* Takes the port out of the pool (not destroyed: still the caller's).
 * Messages of it not yet handled are dropped (rights destroyed) when a
 * pool thread takes them; handlers already running finish. Callable from
 * a handler, of that port too. */
void pager_pool_remove(pager_pool_t *pool, mach_port_t port);

/* Stops and joins every thread (a running handler finishes first), then
 * frees the pool; the ports still in it leave its set, not destroyed.
 * Never from a pool thread. */
void pager_pool_destroy(pager_pool_t *pool);

/* The classification of the memory_object / memory_object_default
 * messages (above), decoded with memory_object_server_routines. */
pager_pool_order_t pager_pool_classify_emmi(mach_msg_header_t *in,
        vm_offset_t *offset, vm_size_t *length);

/* Counters, for tests and benchmarks. */
typedef struct pager_pool_stats {
	unsigned threads;
	unsigned long long messages;     /* dispatched to a demux */
	unsigned long long waited;       /* waited for an earlier conflicting one */
	unsigned long long overtaken;    /* dequeued before an earlier one registered */
	unsigned long long dropped;      /* of a removed port, or no port known */
} pager_pool_stats_t;
void pager_pool_get_stats(pager_pool_t *pool, pager_pool_stats_t *stats);

/* Tests: called (pool lock held: do not call the pool) each time a message
 * starts to wait for an earlier conflicting one of its object. */
void pager_pool_set_wait_hook(pager_pool_t *pool, void (*hook)(void *arg),
        void *arg);

#endif
