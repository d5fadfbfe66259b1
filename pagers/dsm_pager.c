/* dsm_pager: coherent shared memory for many kernels, over the EMMI only.
 * The protocol is in docs/dsm.md; in short:
 *
 *  - The manager keeps the master copy of every byte and, per 4 KiB
 *    granule, which kernel may write it (at most one) and which kernels
 *    hold a read-only copy (a bit each). A kernel's page of any size covers
 *    whole granules, and all granules of one kernel page are in the same
 *    state for that kernel.
 *  - Every page with data is supplied precious, so a kernel hands back
 *    every page it lets go of (eviction, flush, terminate) with
 *    data_return: the manager always knows which kernels hold what.
 *    Memory nobody ever had goes by data_unavailable (zero-filled by the
 *    kernel, nothing on the wire); its holder may drop it clean without a
 *    word, so recalling it takes a lock_completed.
 *  - A fault (data_request, or data_unlock for a write to a read copy) is
 *    an operation on the faulting kernel's page. Other kernels that must
 *    let go are sent one lock_request each (batched over the whole range):
 *    a writer is flushed with RETURN_ALL and no reply, the data_return is
 *    the answer; readers are flushed without return and answer with
 *    lock_completed; a writer that got the page on a read fault is only
 *    write-locked in place when another kernel reads (downgrade: its
 *    writes come back, then lock_completed). When every answer is in, the
 *    page is granted: a data_supply (writable when nobody else held the
 *    page; read-only, with up to AHEAD_READ_MAX more pages someone had, when
 *    the read continues the kernel's previous one), or a lock_request that
 *    lifts the write lock.
 *  - Operations whose ranges (rounded to the largest page size among the
 *    kernels) overlap run one after the other, in arrival order; the
 *    others run at once. No handler ever waits for a message: the answers
 *    arrive on the object port (the reply port of every lock_request) and
 *    move the operations on.
 *  - Messages are served by DSM_PAGER_THREADS threads on a port set of all
 *    objects; each object's messages are handled in sequence-number order
 *    (every message consumes its number, notifications and unknown ones
 *    too).
 *  - A kernel that dies (dead-name notification on its control port) or
 *    terminates is forgotten; what it held for writing reverts to the
 *    manager's copy (its last returned data). */
#include <memobj/dsm_pager.h>

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define GRANULE       ((vm_size_t)DSM_PAGER_GRANULE)
#define GRANULE_SHIFT 12
#define MAX_PAGE      ((vm_size_t)2 << 20)     /* largest kernel page size */
#define MAX_SIZE      ((vm_size_t)16 << 30)    /* largest object */
#define NO_WRITER     ((int8_t)-1)
#define DSM_QUIT_ID   0x64736d71               /* "dsmq": private, stops an object */
#define RCV_BUFFER    4096
/* The hold: a kernel keeps a page at least this long after it got it, so
 * that the thread that faulted runs before the page moves on (no livelock
 * under contention). None at first: a page asked for writing that comes
 * back unchanged (the thread did not get to run) starts it at
 * HOLD_FIRST_NS and doubles it, up to HOLD_MAX_NS; each page that comes
 * back written takes 1/HOLD_DECAY off it. The increase is fast and the
 * decrease slow, so that the hold settles just above what the faulting
 * thread needs (its wake-up after the data_supply) instead of swinging
 * around it: halving on every success wasted every other transfer of a
 * contended page on a loaded machine. A page can also come back unchanged
 * because a spinning kernel took it only to find nothing to do: the cap
 * keeps that from slowing every transfer for long. */
/* Faults in sequence are answered with up to this much more (a kernel
 * reading an array, or filling fresh memory, faults once per window).
 * Reads get larger windows: they are read copies, which cost the others
 * nothing (a matrix every kernel reads whole); writes take pages away
 * from a neighbour that may be about to fill them. */
#define AHEAD_MAX     ((vm_size_t)128 << 10)
#define AHEAD_READ_MAX ((vm_size_t)512 << 10)
#define HOLD_FIRST_NS 10000
#define HOLD_MAX_NS   200000
#define HOLD_DECAY    32

typedef struct dsm_op {
	struct dsm_op *next;
	int kernel;
	bool unlock;          /* a data_unlock (else a data_request) */
	bool started;
	bool cancelled;       /* its kernel went away while it waited */
	bool optimistic;      /* nobody else held it: grant write to a read */
	vm_prot_t access;
	uint64_t g0, g1;      /* the kernel's pages, in granules */
	uint64_t b0, b1;      /* the range it keeps others out of */
	int pending;          /* recalls not yet answered */
	uint64_t not_before;  /* deferred: a holder got the page too recently */
} dsm_op_t;

typedef struct dsm_recall {
	struct dsm_recall *next;
	dsm_op_t *op;
	int kernel;
	bool by_return;       /* answered when the kernel holds nothing in range */
	bool downgrade;       /* write lock only (the kernel keeps a read copy);
	                         lock_completed answers */
	vm_offset_t offset;   /* the lock_request's range, for lock_completed */
	vm_size_t size;
	uint64_t g0, g1;
} dsm_recall_t;

typedef struct dsm_kernel {
	dsm_kernel_info_t info;
	vm_size_t page_size;
	/* [0] reads, [1] writes: each its own sequence (a kernel may read
	 * one array while it writes another) */
	uint64_t ahead_next[2];  /* granule a fault in sequence comes to next */
	uint64_t ahead_pages[2]; /* pages supplied ahead of the last such fault */
} dsm_kernel_t;

typedef struct dsm_object {
	struct dsm_object *next;       /* the process's list */
	memory_object_t port;
	vm_size_t size;                /* as created */
	vm_size_t storage;             /* rounded to MAX_PAGE */
	uint64_t ngranules;
	uint8_t *data;                 /* the master copy */
	uint64_t *readers;             /* per granule: kernels with a read copy */
	int8_t *writer;                /* per granule: the kernel that may write */
	uint64_t *granted;             /* per granule: when its holder got it (ns) */
	uint8_t *asked_write;          /* per granule: the writer asked for write */
	uint8_t *lent;                 /* per granule: ever supplied (else zero) */
	uint8_t *contended;            /* per granule: once came back unchanged
	                                  (its thread had not run): held */
	uint8_t *silent;               /* per granule: its writer got it by
	                                  data_unavailable (zeros, not precious):
	                                  it may drop it clean without a word */

	pthread_mutex_t lock;          /* everything below */
	pthread_cond_t turn;           /* next_seqno moved, or dead */
	pthread_cond_t event;          /* an init arrived */
	mach_port_seqno_t next_seqno;
	bool dead;                     /* quit handled: drop what comes */
	_Atomic unsigned refs;         /* workers and the timer using it */
	dsm_kernel_t kernels[DSM_PAGER_MAX_KERNELS];
	unsigned nkernels;
	vm_size_t max_page;            /* largest page size seen */
	dsm_op_t *ops, **ops_tail;
	dsm_recall_t *recalls;
	uint64_t hold_ns;              /* current minimum hold */
	uint64_t tick_at;              /* timer armed for then (0: not); dsm.lock */
	uint64_t holds_deferred;       /* operations that waited for a hold */
} dsm_object_t;

/* The process's pager: one port set, a few threads, the objects. */
static struct {
	pthread_once_t once;
	kern_return_t start_kr;
	pthread_mutex_t lock;
	mach_port_t pset;
	dsm_object_t *objects;
	pthread_cond_t timer;          /* a tick_at was armed (dsm.lock) */
} dsm = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Asks the timer thread to move o's operations on at `when`. Lock order:
 * o->lock, then dsm.lock (nobody takes o->lock holding dsm.lock). */
static void arm_tick(dsm_object_t *o, uint64_t when)
{
	pthread_mutex_lock(&dsm.lock);
	if (o->tick_at == 0 || when < o->tick_at) {
		o->tick_at = when;
		pthread_cond_signal(&dsm.timer);
	}
	pthread_mutex_unlock(&dsm.lock);
}

static _Thread_local dsm_object_t *served;   /* object of the message in hand */

static const char *const kind_names[DSM_MSG_KINDS] = {
	[DSM_MSG_INIT] = "init",
	[DSM_MSG_DATA_REQUEST] = "data_request",
	[DSM_MSG_DATA_UNLOCK] = "data_unlock",
	[DSM_MSG_DATA_RETURN] = "data_return",
	[DSM_MSG_LOCK_COMPLETED] = "lock_completed",
	[DSM_MSG_SYNCHRONIZE] = "synchronize",
	[DSM_MSG_TERMINATE] = "terminate",
	[DSM_MSG_CHANGE_ATTRIBUTES] = "change_attributes",
	[DSM_MSG_DATA_SUPPLY] = "data_supply",
	[DSM_MSG_LOCK_FLUSH] = "lock_request(flush)",
	[DSM_MSG_LOCK_UNLOCK] = "lock_request(unlock)",
	[DSM_MSG_LOCK_DOWNGRADE] = "lock_request(downgrade)",
	[DSM_MSG_SYNCHRONIZE_COMPLETED] = "synchronize_completed",
	[DSM_MSG_DATA_ERROR] = "data_error",
};

const char *dsm_msg_kind_name(dsm_msg_kind_t kind)
{
	return (unsigned)kind < DSM_MSG_KINDS ? kind_names[kind] : "?";
}

/* ---- bookkeeping --------------------------------------------------------- */

static bool attached(const dsm_object_t *o, int k)
{
	return o->kernels[k].info.state == DSM_KERNEL_ATTACHED;
}

static int find_kernel(const dsm_object_t *o, memory_object_control_t control)
{
	for (unsigned i = 0; i < o->nkernels; i++)
		if (attached(o, (int)i) && o->kernels[i].info.control == control)
			return (int)i;
	return -1;
}

static void count(dsm_object_t *o, int k, dsm_msg_kind_t kind)
{
	if (k >= 0)
		o->kernels[k].info.messages[kind]++;
}

static bool holds(const dsm_object_t *o, int k, uint64_t g)
{
	return o->writer[g] == k || (o->readers[g] >> k & 1);
}

static bool holds_any(const dsm_object_t *o, int k, uint64_t g0, uint64_t g1)
{
	for (uint64_t g = g0; g < g1; g++)
		if (holds(o, k, g))
			return true;
	return false;
}

static void drop_holdings(dsm_object_t *o, int k, uint64_t g0, uint64_t g1)
{
	for (uint64_t g = g0; g < g1; g++) {
		if (o->writer[g] == k)
			o->writer[g] = NO_WRITER;
		o->readers[g] &= ~(UINT64_C(1) << k);
	}
}

/* [offset, offset+size) of kernel k's pages around granules [g0, g1). */
static void kernel_range(const dsm_object_t *o, int k, uint64_t g0, uint64_t g1,
        vm_offset_t *offset, vm_size_t *size)
{
	vm_size_t ps = o->kernels[k].page_size;
	vm_offset_t lo = (g0 << GRANULE_SHIFT) & ~(ps - 1);
	vm_offset_t hi = ((g1 << GRANULE_SHIFT) + ps - 1) & ~(ps - 1);
	*offset = lo;
	*size = hi - lo;
}

/* ---- operations ---------------------------------------------------------- */

/* May granule g go to kernel k as a read copy nobody asked for? It is
 * inside the object, nobody writes it, k does not hold it, and no
 * operation but `self` covers it (one may be recalling it right now). */
static bool may_lend_ahead(const dsm_object_t *o, const dsm_op_t *self, int k, uint64_t g)
{
	if (g >= o->size >> GRANULE_SHIFT || o->writer[g] != NO_WRITER ||
	    (o->readers[g] >> k & 1))
		return false;
	for (const dsm_op_t *e = o->ops; e != NULL; e = e->next)
		if (e != self && g >= e->b0 && g < e->b1)
			return false;
	return true;
}

/* Granules to supply after a fault's pages: none unless the fault
 * continues the kernel's last one of its kind (read or write) and what
 * was supplied ahead of it; then 1, 2, 4... pages, up to AHEAD_MAX,
 * stopping at the first page not all lendable. Ahead of a write fault
 * only pages nobody ever had (zeros: a kernel filling fresh memory) go,
 * writable; ahead of a read, read copies of pages someone had. */
static uint64_t fault_ahead(dsm_object_t *o, const dsm_op_t *op)
{
	dsm_kernel_t *kn = &o->kernels[op->kernel];
	uint64_t gpp = kn->page_size >> GRANULE_SHIFT;
	bool write = (op->access & VM_PROT_WRITE) != 0;
	uint64_t cap = (write ? AHEAD_MAX : AHEAD_READ_MAX) / kn->page_size;
	uint64_t *pages = &kn->ahead_pages[write];
	if (op->g0 != kn->ahead_next[write])
		*pages = 0;
	else
		*pages = *pages == 0 ? 1 : *pages * 2 > cap ? cap : *pages * 2;
	uint64_t n = 0;
	for (uint64_t pg = 0; pg < *pages; pg++) {
		uint64_t g = op->g1 + pg * gpp;
		bool ok = true;
		/* Ahead of a read only pages someone had (data: zeros nobody
		 * wrote are more likely about to be written, by anyone, and a
		 * read copy there costs its writer a data_unlock and every
		 * other reader a flush: a matrix's read-ahead past the end of
		 * B ran into C's fresh rows, in every kernel) */
		for (uint64_t i = 0; i < gpp && ok; i++)
			ok = may_lend_ahead(o, op, op->kernel, g + i) &&
			     (write ? o->readers[g + i] == 0 && !o->lent[g + i]
			            : o->lent[g + i]);
		if (!ok)
			break;
		n += gpp;
	}
	kn->ahead_next[write] = op->g1 + n;
	return n;
}

static void grant(dsm_object_t *o, dsm_op_t *op)
{
	int k = op->kernel;
	if (op->cancelled || !attached(o, k))
		return;
	memory_object_control_t control = o->kernels[k].info.control;
	vm_offset_t offset = op->g0 << GRANULE_SHIFT;
	vm_size_t length = (op->g1 - op->g0) << GRANULE_SHIFT;
	uint64_t bit = UINT64_C(1) << k;
	if (!op->unlock) {
		uint64_t ahead = fault_ahead(o, op);
		bool asked = (op->access & VM_PROT_WRITE) != 0;
		/* A sequential reader gets read copies (others may read
		 * them too); a lone read elsewhere gets the page writable. */
		bool write = asked || (op->optimistic && ahead == 0);
		/* Memory nobody ever had is zeros: data_unavailable, and the
		 * kernel zero-fills it (no page on the wire; pages ahead of a
		 * write fault are such too). It is not precious: the kernel
		 * may drop it while clean without a word, so recalling it takes
		 * a lock_completed (start). Only writable: data_unavailable
		 * carries no lock. */
		bool fresh = write;
		for (uint64_t g = op->g0; g < op->g1 && fresh; g++)
			fresh = !o->lent[g];
		uint64_t t = now_ns();
		for (uint64_t g = op->g0; g < op->g1 + ahead; g++) {
			o->lent[g] = 1;
			o->silent[g] = fresh;
			if (g < op->g1)
				o->granted[g] = t;
			if (write) {
				o->writer[g] = (int8_t)k;
				o->readers[g] = 0;
				/* pages ahead were not asked for: a reader
				 * downgrades them, and they do not move the hold */
				o->asked_write[g] = asked && g < op->g1;
			} else {
				o->readers[g] |= bit;
			}
		}
		length += ahead << GRANULE_SHIFT;
		count(o, k, DSM_MSG_DATA_SUPPLY);
		if (fresh) {
			memory_object_data_unavailable(control, offset, length);
			return;
		}
		/* Lent, not moved: the kernel copies it into its cache. */
		memory_object_data_supply(control, offset,
		        (pointer_t)(uintptr_t)(o->data + offset),
		        (mach_msg_type_number_t)length, FALSE,
		        write ? VM_PROT_NONE : VM_PROT_WRITE, TRUE, MACH_PORT_NULL);
		return;
	}
	bool any = false;
	uint64_t t = now_ns();
	for (uint64_t g = op->g0; g < op->g1; g++) {
		if (o->readers[g] & bit) {
			o->writer[g] = (int8_t)k;
			o->readers[g] = 0;
			o->asked_write[g] = 1;
			o->silent[g] = 0;   /* read copies are all supplied (precious) */
			o->granted[g] = t;
			any = true;
		} else if (o->writer[g] == k) {
			any = true;
		}
	}
	/* Holding none of it, the kernel lost the page to a flush, which
	 * woke the writing thread: it faults again with a data_request. */
	if (any) {
		count(o, k, DSM_MSG_LOCK_UNLOCK);
		memory_object_lock_request(control, offset, length,
		        MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NONE, MACH_PORT_NULL);
	}
}

enum start_result { START_GRANT, START_WAIT, START_DEFER };

/* Sends the lock_requests op needs: START_GRANT when it can be granted at
 * once, START_WAIT for answers, START_DEFER when a kernel it must recall
 * got the page less than the hold time ago (the timer is armed). */
static enum start_result start(dsm_object_t *o, dsm_op_t *op)
{
	int k = op->kernel;
	if (!op->unlock) {
		/* It asks, so it has none of it (every page it let go of came
		 * back before this request, in order). */
		drop_holdings(o, k, op->g0, op->g1);
	} else if (!holds_any(o, k, op->g0, op->g1)) {
		op->started = true;
		return START_GRANT;
	}
	bool want_write = op->unlock || (op->access & VM_PROT_WRITE);
	/* The hold: whoever must let go keeps the page a moment first, if
	 * the page ever left before its thread ran (others never wait). */
	uint64_t latest = 0;
	for (uint64_t g = op->g0; g < op->g1; g++) {
		if (!o->contended[g])
			continue;
		bool recall = o->writer[g] != NO_WRITER && o->writer[g] != k;
		if (want_write)
			recall |= (o->readers[g] & ~(UINT64_C(1) << k)) != 0;
		if (recall && o->granted[g] > latest)
			latest = o->granted[g];
	}
	uint64_t now = now_ns();
	if (latest != 0 && now < latest + o->hold_ns) {
		op->not_before = latest + o->hold_ns;
		o->holds_deferred++;
		arm_tick(o, op->not_before);
		return START_DEFER;
	}
	op->started = true;
	bool others = false;
	for (unsigned j = 0; j < o->nkernels; j++) {
		if ((int)j == k || !attached(o, (int)j))
			continue;
		bool w = false, r = false, lent = true;
		uint64_t bit = UINT64_C(1) << j;
		for (uint64_t g = op->g0; g < op->g1; g++) {
			w |= o->writer[g] == (int)j;
			r |= (o->readers[g] & bit) != 0;
		}
		others |= w || r;
		if (!(w || (want_write && r)))
			continue;
		dsm_recall_t *rc = calloc(1, sizeof *rc);
		if (rc == NULL) {
			/* Out of memory: the op waits for nothing (degraded,
			 * said once per failure on stderr). */
			fprintf(stderr, "dsm_pager: out of memory recalling a page\n");
			continue;
		}
		rc->op = op;
		rc->kernel = (int)j;
		kernel_range(o, (int)j, op->g0, op->g1, &rc->offset, &rc->size);
		rc->g0 = rc->offset >> GRANULE_SHIFT;
		rc->g1 = (rc->offset + rc->size) >> GRANULE_SHIFT;
		if (rc->g1 > o->ngranules)
			rc->g1 = o->ngranules;
		/* A writer that only read-faulted (supplied writable because
		 * nobody else held the page) is likely reading: a reader
		 * downgrades it and both keep a copy, instead of taking the
		 * page away (it would fault straight back). Every granule of
		 * its page in range must be such (checked over its whole page). */
		for (uint64_t g = rc->g0; g < rc->g1 && lent && w && !want_write; g++)
			if (o->writer[g] == (int)j && o->asked_write[g])
				lent = false;
		/* A writer that got any of its pages by data_unavailable may
		 * have dropped them clean: no data_return would come for those,
		 * so lock_completed answers; and it is flushed, not downgraded
		 * (a read copy is always a supplied, precious page). */
		bool silent = false;
		for (uint64_t g = rc->g0; g < rc->g1 && w && !silent; g++)
			silent = o->writer[g] == (int)j && o->silent[g];
		rc->downgrade = w && lent && !want_write && !silent;
		rc->by_return = w && !rc->downgrade && !silent;
		memory_object_control_t control = o->kernels[j].info.control;
		count(o, (int)j, rc->downgrade ? DSM_MSG_LOCK_DOWNGRADE : DSM_MSG_LOCK_FLUSH);
		kern_return_t kr;
		if (rc->downgrade)
			/* Write-locked in place: what it wrote comes back
			 * (kernel_copy), then lock_completed. */
			kr = memory_object_lock_request(control, rc->offset, rc->size,
			        MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_WRITE,
			        o->port);
		else if (w)
			/* A writer: its data comes back in the data_return,
			 * which is the answer (pages are precious, so even a
			 * clean one comes back); for zero-filled pages, which
			 * may have gone clean without a word, lock_completed
			 * after it. */
			kr = memory_object_lock_request(control, rc->offset, rc->size,
			        MEMORY_OBJECT_RETURN_ALL, TRUE, VM_PROT_NO_CHANGE,
			        silent ? o->port : MACH_PORT_NULL);
		else
			/* Readers drop their copies; lock_completed answers. */
			kr = memory_object_lock_request(control, rc->offset, rc->size,
			        MEMORY_OBJECT_RETURN_NONE, TRUE, VM_PROT_NO_CHANGE,
			        o->port);
		if (kr != KERN_SUCCESS) {
			/* Its control port is dead: the dead-name notification
			 * follows; until then it holds nothing. */
			drop_holdings(o, (int)j, rc->g0, rc->g1);
			free(rc);
			continue;
		}
		rc->next = o->recalls;
		o->recalls = rc;
		op->pending++;
	}
	op->optimistic = !want_write && !others;
	return op->pending == 0 ? START_GRANT : START_WAIT;
}

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

static void remove_op(dsm_object_t *o, dsm_op_t *op)
{
	dsm_op_t **pp = &o->ops;
	while (*pp != op)
		pp = &(*pp)->next;
	*pp = op->next;
	if (o->ops_tail == &op->next)
		o->ops_tail = pp;
	free(op);
}

/* Starts every waiting operation that no earlier one (running or
 * waiting) overlaps; grants those that need no answers. */
static void pump(dsm_object_t *o)
{
	bool again = true;
	while (again) {
		again = false;
		for (dsm_op_t *op = o->ops; op != NULL; op = op->next) {
			if (op->started)
				continue;
			bool blocked = false;
			for (dsm_op_t *e = o->ops; e != op && !blocked; e = e->next)
				blocked = overlaps(op->b0, op->b1, e->b0, e->b1);
			if (blocked)
				continue;
			if (op->not_before && now_ns() < op->not_before) {
				/* still held: the timer may have fired for an
				 * earlier one, so ask again for this one */
				arm_tick(o, op->not_before);
				continue;
			}
			if (start(o, op) == START_GRANT) {
				grant(o, op);
				remove_op(o, op);
				again = true;
				break;
			}
		}
	}
}

static void recall_done(dsm_object_t *o, dsm_recall_t *rc)
{
	dsm_recall_t **pp = &o->recalls;
	while (*pp != rc)
		pp = &(*pp)->next;
	*pp = rc->next;
	dsm_op_t *op = rc->op;
	free(rc);
	if (--op->pending == 0) {
		grant(o, op);
		remove_op(o, op);
	}
}

/* Answers every by-return recall of kernel k that it has satisfied. */
static void check_returns(dsm_object_t *o, int k)
{
	for (dsm_recall_t *rc = o->recalls, *next; rc != NULL; rc = next) {
		next = rc->next;
		if (rc->kernel == k && rc->by_return && !holds_any(o, k, rc->g0, rc->g1))
			recall_done(o, rc);
	}
}

static void queue_op(dsm_object_t *o, int k, bool unlock, vm_offset_t offset,
        vm_size_t length, vm_prot_t access)
{
	dsm_op_t *op = calloc(1, sizeof *op);
	if (op == NULL) {
		count(o, k, DSM_MSG_DATA_ERROR);
		memory_object_data_error(o->kernels[k].info.control, offset, length,
		        KERN_RESOURCE_SHORTAGE);
		return;
	}
	op->kernel = k;
	op->unlock = unlock;
	op->access = access;
	op->g0 = offset >> GRANULE_SHIFT;
	op->g1 = (offset + length) >> GRANULE_SHIFT;
	vm_size_t block = o->max_page;
	op->b0 = (offset & ~(block - 1)) >> GRANULE_SHIFT;
	op->b1 = ((offset + length + block - 1) & ~(block - 1)) >> GRANULE_SHIFT;
	*o->ops_tail = op;
	o->ops_tail = &op->next;
	pump(o);
}

/* Kernel k is gone (terminate, or its control port died). */
static void forget_kernel(dsm_object_t *o, int k, dsm_kernel_state_t why)
{
	uint64_t bit = UINT64_C(1) << k;
	uint64_t lost = 0;
	for (uint64_t g = 0; g < o->ngranules; g++) {
		if (o->writer[g] == k) {
			o->writer[g] = NO_WRITER;
			lost++;
		}
		o->readers[g] &= ~bit;
	}
	o->kernels[k].info.state = why;
	if (why == DSM_KERNEL_DEAD)
		o->kernels[k].info.pages_lost += lost;
	for (dsm_op_t *op = o->ops; op != NULL; op = op->next)
		if (op->kernel == k)
			op->cancelled = true;
	for (dsm_recall_t *rc = o->recalls, *next; rc != NULL; rc = next) {
		next = rc->next;
		if (rc->kernel == k)
			recall_done(o, rc);
	}
	/* Waiting ops of that kernel go; started ones finish ungranted. */
	for (dsm_op_t *op = o->ops, *next; op != NULL; op = next) {
		next = op->next;
		if (op->kernel == k && !op->started)
			remove_op(o, op);
	}
	pump(o);
}

/* ---- the server interface ------------------------------------------------ */

static bool valid_range(const dsm_object_t *o, int k, vm_offset_t offset,
        vm_size_t length)
{
	vm_size_t ps = o->kernels[k].page_size;
	return length != 0 && !((offset | length) & (ps - 1)) &&
	       offset < o->storage && length <= o->storage - offset;
}

static kern_return_t dsm_init(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)object; (void)seqno;
	dsm_object_t *o = served;
	if (page_size < GRANULE || page_size > MAX_PAGE || (page_size & (page_size - 1)))
		return KERN_INVALID_ARGUMENT;   /* releases the control right */
	int k = -1;
	if (o->nkernels < DSM_PAGER_MAX_KERNELS) {
		k = (int)o->nkernels++;
	} else {
		/* Full: reuse the oldest slot of a kernel that is gone. */
		for (unsigned i = 0; i < o->nkernels && k < 0; i++)
			if (!attached(o, (int)i))
				k = (int)i;
		if (k < 0)
			return KERN_RESOURCE_SHORTAGE;
	}
	memset(&o->kernels[k], 0, sizeof o->kernels[k]);
	o->kernels[k].info.control = control;
	o->kernels[k].info.page_size = page_size;
	o->kernels[k].info.state = DSM_KERNEL_ATTACHED;
	o->kernels[k].page_size = page_size;
	if (page_size > o->max_page)
		o->max_page = page_size;
	count(o, k, DSM_MSG_INIT);
	mach_port_t prev = MACH_PORT_NULL;
	if (mach_port_request_notification(mach_task_self(), control,
	        MACH_NOTIFY_DEAD_NAME, 0, o->port, MACH_MSG_TYPE_MAKE_SEND_ONCE,
	        &prev) == KERN_SUCCESS && MACH_PORT_VALID(prev))
		mach_port_deallocate(mach_task_self(), prev);
	memory_object_attr_info_data_t attr = {
		.copy_strategy = MEMORY_OBJECT_COPY_NONE,
		.cluster_size = (memory_object_cluster_size_t)page_size,
		.may_cache = FALSE,     /* the last unmap terminates: pages come back */
		.temporary = FALSE,     /* and are returned before terminate */
	};
	count(o, k, DSM_MSG_CHANGE_ATTRIBUTES);
	memory_object_change_attributes(control, MEMORY_OBJECT_ATTRIBUTE_INFO,
	        (memory_object_info_t)&attr, MEMORY_OBJECT_ATTR_INFO_COUNT,
	        MACH_PORT_NULL);
	pthread_cond_broadcast(&o->event);
	return KERN_SUCCESS;
}

static kern_return_t dsm_fault(memory_object_control_t control, bool unlock,
        vm_offset_t offset, vm_size_t length, vm_prot_t access)
{
	dsm_object_t *o = served;
	int k = find_kernel(o, control);
	if (k >= 0) {
		count(o, k, unlock ? DSM_MSG_DATA_UNLOCK : DSM_MSG_DATA_REQUEST);
		o->kernels[k].info.faults++;
		if (!valid_range(o, k, offset, length)) {
			count(o, k, DSM_MSG_DATA_ERROR);
			memory_object_data_error(control, offset, length,
			        KERN_INVALID_ARGUMENT);
		} else {
			queue_op(o, k, unlock, offset, length, access);
		}
	}
	/* Each message carrying the control port added a reference. */
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t dsm_data_request(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_prot_t access)
{
	(void)object; (void)seqno;
	return dsm_fault(control, false, offset, length, access);
}

static kern_return_t dsm_data_unlock(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_prot_t access)
{
	(void)object; (void)seqno;
	return dsm_fault(control, true, offset, length, access);
}

static kern_return_t dsm_data_return(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_offset_t offset, pointer_t data,
        mach_msg_type_number_t data_count, boolean_t dirty, boolean_t kernel_copy)
{
	(void)object; (void)seqno; (void)dirty;
	dsm_object_t *o = served;
	int k = find_kernel(o, control);
	if (k >= 0) {
		count(o, k, DSM_MSG_DATA_RETURN);
		uint64_t g0 = offset >> GRANULE_SHIFT;
		uint64_t g1 = g0 + data_count / GRANULE;
		if (offset >= o->storage || g1 > o->ngranules)
			g1 = offset >= o->storage ? g0 : o->ngranules;
		uint64_t bit = UINT64_C(1) << k;
		/* Pages that were asked for writing and come back unchanged:
		 * the faulting thread did not get to run before they left
		 * (such pages are installed dirty, so `dirty` cannot tell).
		 * Hold pages longer then; a little less after each that came
		 * back written. */
		bool asked = false, changed = false;
		for (uint64_t g = g0; g < g1 && !kernel_copy; g++) {
			if (o->writer[g] != k || !o->asked_write[g])
				continue;
			o->asked_write[g] = 0;
			asked = true;
			changed = changed || memcmp(o->data + (g << GRANULE_SHIFT),
			        (const uint8_t *)(uintptr_t)data + ((g - g0) << GRANULE_SHIFT),
			        GRANULE) != 0;
		}
		/* Only pages that went before their thread ran are held from
		 * then on: a transfer of any other page never waits. */
		for (uint64_t g = g0; g < g1 && asked && !changed; g++)
			if (o->writer[g] == k)
				o->contended[g] = 1;
		if (asked && !changed)
			o->hold_ns = o->hold_ns < HOLD_FIRST_NS ? HOLD_FIRST_NS
			           : o->hold_ns * 2 > HOLD_MAX_NS ? HOLD_MAX_NS
			           : o->hold_ns * 2;
		else if (asked && changed)
			/* under a µs it is no hold: none */
			o->hold_ns = o->hold_ns < 1000 ? 0 : o->hold_ns - o->hold_ns / HOLD_DECAY;
		for (uint64_t g = g0; g < g1; g++) {
			if (o->writer[g] == k) {
				/* The writer's data is the newest: keep it. */
				memcpy(o->data + (g << GRANULE_SHIFT),
				       (const uint8_t *)(uintptr_t)data + ((g - g0) << GRANULE_SHIFT),
				       GRANULE);
				if (!kernel_copy)
					o->writer[g] = NO_WRITER;
			} else if (!kernel_copy) {
				/* A read copy: equal to ours; it let go. */
				o->readers[g] &= ~bit;
			}
		}
		check_returns(o, k);
		pump(o);
	}
	vm_deallocate(mach_task_self(), data, data_count);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t dsm_lock_completed(mach_port_t reply, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length)
{
	(void)reply; (void)seqno;
	dsm_object_t *o = served;
	int k = find_kernel(o, control);
	if (k >= 0) {
		count(o, k, DSM_MSG_LOCK_COMPLETED);
		for (dsm_recall_t *rc = o->recalls; rc != NULL; rc = rc->next) {
			if (rc->kernel == k && !rc->by_return && rc->offset == offset &&
			    rc->size == length) {
				uint64_t bit = UINT64_C(1) << k;
				for (uint64_t g = rc->g0; g < rc->g1; g++) {
					if (!rc->downgrade) {
						/* flushed: what it wrote came
						 * back before this */
						o->readers[g] &= ~bit;
						if (o->writer[g] == k)
							o->writer[g] = NO_WRITER;
					} else if (o->writer[g] == k) {
						/* Its writes came back before this:
						 * it keeps a read copy. */
						o->writer[g] = NO_WRITER;
						o->readers[g] |= bit;
					}
				}
				recall_done(o, rc);
				break;
			}
		}
		pump(o);
	}
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* Nothing to make durable: the data is the manager's memory. A
 * VM_SYNC_INVALIDATE flush tells which pages the kernel let go of. */
static kern_return_t dsm_synchronize(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_sync_t flags)
{
	(void)object; (void)seqno;
	dsm_object_t *o = served;
	int k = find_kernel(o, control);
	count(o, k, DSM_MSG_SYNCHRONIZE);
	if (k >= 0 && (flags & VM_SYNC_INVALIDATE) && offset < o->storage) {
		/* The kernel flushed the range (dirty pages came back before
		 * this message; clean ones went without a word): it holds
		 * none of it now. */
		uint64_t g0 = offset >> GRANULE_SHIFT;
		uint64_t g1 = length > o->storage - offset ? o->ngranules
		            : (offset + length + GRANULE - 1) >> GRANULE_SHIFT;
		drop_holdings(o, k, g0, g1);
		check_returns(o, k);
		pump(o);
	}
	count(o, k, DSM_MSG_SYNCHRONIZE_COMPLETED);
	memory_object_synchronize_completed(control, offset, length);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t dsm_terminate(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control)
{
	(void)object; (void)seqno;
	dsm_object_t *o = served;
	int k = find_kernel(o, control);
	if (k >= 0) {
		count(o, k, DSM_MSG_TERMINATE);
		forget_kernel(o, k, DSM_KERNEL_TERMINATED);
	}
	/* The message moved the receive right to us: drop it and our sends. */
	mach_port_destroy(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t dsm_ignore(mach_port_t reply, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        kern_return_t result, vm_offset_t error_offset)
{
	(void)reply; (void)seqno; (void)offset; (void)length; (void)result;
	(void)error_offset;
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t dsm_change_completed(mach_port_t reply, mach_port_seqno_t seqno,
        memory_object_control_t control, memory_object_flavor_t flavor)
{
	(void)reply; (void)seqno; (void)flavor;
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static const memory_object_routines_t dsm_routines = {
	.init = dsm_init,
	.terminate = dsm_terminate,
	.data_request = dsm_data_request,
	.data_unlock = dsm_data_unlock,
	.data_return = dsm_data_return,
	.lock_completed = dsm_lock_completed,
	.supply_completed = dsm_ignore,
	.change_completed = dsm_change_completed,
	.synchronize = dsm_synchronize,
};

/* One message of object o, in its turn (o->lock held). */
static void dispatch(dsm_object_t *o, mach_msg_header_t *in, mach_msg_header_t *out)
{
	if (in->msgh_id == DSM_QUIT_ID) {
		o->dead = true;
		return;
	}
	if (in->msgh_id == MACH_NOTIFY_DEAD_NAME &&
	    in->msgh_size >= sizeof(mach_dead_name_notification_t) -
	                     sizeof(mach_msg_format_0_trailer_t)) {
		mach_port_name_t name = ((mach_dead_name_notification_t *)in)->not_port;
		int k = find_kernel(o, name);
		mach_port_type_t type = 0;
		if (k >= 0) {
			forget_kernel(o, k, DSM_KERNEL_DEAD);
			/* The notification's reference and ours: the name goes. */
			mach_port_destroy(mach_task_self(), name);
		} else if (MACH_PORT_VALID(name) &&
		           mach_port_type(mach_task_self(), name, &type) == KERN_SUCCESS &&
		           type == MACH_PORT_TYPE_DEAD_NAME) {
			/* A kernel already forgotten: drop the notification's
			 * reference only (never a live right that took the name). */
			mach_port_deallocate(mach_task_self(), name);
		}
		return;
	}
	if (in->msgh_id >= MACH_NOTIFY_FIRST && in->msgh_id <= MACH_NOTIFY_LAST) {
		mach_msg_destroy(in);
		return;
	}
	served = o;
	if (!memory_object_server_routines(&dsm_routines, in, out)) {
		mach_msg_destroy(in);
		return;
	}
	kern_return_t kr = ((mig_reply_error_t *)out)->RetCode;
	if (kr != KERN_SUCCESS && kr != MIG_NO_REPLY)
		mach_msg_destroy(in);
}

static dsm_object_t *lookup_locked(memory_object_t port)
{
	for (dsm_object_t *o = dsm.objects; o != NULL; o = o->next)
		if (o->port == port)
			return o;
	return NULL;
}

static void *worker_main(void *arg)
{
	(void)arg;
	mach_msg_size_t size = RCV_BUFFER;
	mach_msg_header_t *in = malloc(size);
	union { mig_reply_error_t r; uint8_t b[512]; } out;
	if (in == NULL)
		return NULL;
	for (;;) {
		mach_msg_return_t mr = mach_msg(in, MACH_RCV_MSG | MACH_RCV_LARGE |
		        MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
		        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO),
		        0, size, dsm.pset, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
		if (mr == MACH_RCV_TOO_LARGE) {
			mach_msg_size_t need = in->msgh_size + MAX_TRAILER_SIZE;
			mach_msg_header_t *bigger = realloc(in, need);
			if (bigger != NULL) {
				in = bigger;
				size = need;
			}
			continue;
		}
		if (mr != MACH_MSG_SUCCESS) {
			if (mr == MACH_RCV_INVALID_NAME || mr == MACH_RCV_PORT_DIED)
				break;
			continue;
		}
		const mach_msg_seqno_trailer_t *t = (const mach_msg_seqno_trailer_t *)
		        ((const uint8_t *)in + round_msg(in->msgh_size));
		mach_port_seqno_t seqno = t->msgh_seqno;
		pthread_mutex_lock(&dsm.lock);
		dsm_object_t *o = lookup_locked(in->msgh_local_port);
		if (o != NULL)
			o->refs++;
		pthread_mutex_unlock(&dsm.lock);
		if (o == NULL) {
			mach_msg_destroy(in);
			continue;
		}
		pthread_mutex_lock(&o->lock);
		while (o->next_seqno != seqno && !o->dead)
			pthread_cond_wait(&o->turn, &o->lock);
		if (o->dead)
			mach_msg_destroy(in);
		else
			dispatch(o, in, &out.r.Head);
		o->next_seqno = seqno + 1;
		o->refs--;
		pthread_cond_broadcast(&o->turn);
		pthread_mutex_unlock(&o->lock);
	}
	free(in);
	return NULL;
}

/* Moves on the operations of each object whose hold is over. It runs
 * them itself, under the object's lock, like a message would (a tick
 * through the object's port cost one more thread wake-up per held
 * transfer). */
static void *timer_main(void *arg)
{
	(void)arg;
	/* Holds are µs: the default 50 µs slack would multiply them. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	pthread_mutex_lock(&dsm.lock);
	for (;;) {
		uint64_t next = 0, now = now_ns();
		dsm_object_t *due = NULL;
		for (dsm_object_t *o = dsm.objects; o != NULL && due == NULL; o = o->next) {
			if (o->tick_at != 0 && o->tick_at <= now) {
				o->tick_at = 0;
				o->refs++;
				due = o;
			} else if (o->tick_at != 0 && (next == 0 || o->tick_at < next)) {
				next = o->tick_at;
			}
		}
		if (due != NULL) {
			/* Lock order: o->lock before dsm.lock. */
			pthread_mutex_unlock(&dsm.lock);
			pthread_mutex_lock(&due->lock);
			if (!due->dead)
				pump(due);
			due->refs--;
			pthread_cond_broadcast(&due->turn);
			pthread_mutex_unlock(&due->lock);
			pthread_mutex_lock(&dsm.lock);
			continue;
		}
		if (next == 0) {
			pthread_cond_wait(&dsm.timer, &dsm.lock);
		} else {
			struct timespec ts = { (time_t)(next / 1000000000u),
			                       (long)(next % 1000000000u) };
			pthread_cond_timedwait(&dsm.timer, &dsm.lock, &ts);
		}
	}
	return NULL;
}

static void start_pager(void)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&dsm.timer, &attr);
	pthread_condattr_destroy(&attr);
	pthread_t timer;
	if (pthread_create(&timer, NULL, timer_main, NULL) != 0) {
		dsm.start_kr = KERN_RESOURCE_SHORTAGE;
		return;
	}
	pthread_detach(timer);
	dsm.start_kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET,
	                                  &dsm.pset);
	if (dsm.start_kr != KERN_SUCCESS)
		return;
	for (int i = 0; i < DSM_PAGER_THREADS; i++) {
		pthread_t th;
		if (pthread_create(&th, NULL, worker_main, NULL) != 0) {
			if (i == 0)
				dsm.start_kr = KERN_RESOURCE_SHORTAGE;
			break;
		}
		pthread_detach(th);
	}
}

/* ---- public calls ---------------------------------------------------------- */

static void free_object(dsm_object_t *o)
{
	if (o->data)
		vm_deallocate(mach_task_self(), (vm_address_t)(uintptr_t)o->data, o->storage);
	free(o->readers);
	free(o->writer);
	free(o->granted);
	free(o->asked_write);
	free(o->lent);
	free(o->silent);
	free(o->contended);
	while (o->ops) {
		dsm_op_t *op = o->ops;
		o->ops = op->next;
		free(op);
	}
	while (o->recalls) {
		dsm_recall_t *rc = o->recalls;
		o->recalls = rc->next;
		free(rc);
	}
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->turn);
	pthread_cond_destroy(&o->event);
	free(o);
}

kern_return_t dsm_pager_create(vm_size_t size, memory_object_t *object)
{
	if (object == NULL || size == 0 || (size & (GRANULE - 1)) || size > MAX_SIZE)
		return KERN_INVALID_ARGUMENT;
	pthread_once(&dsm.once, start_pager);
	if (dsm.start_kr != KERN_SUCCESS)
		return KERN_RESOURCE_SHORTAGE;
	dsm_object_t *o = calloc(1, sizeof *o);
	if (o == NULL)
		return KERN_RESOURCE_SHORTAGE;
	o->size = size;
	o->storage = (size + MAX_PAGE - 1) & ~(MAX_PAGE - 1);
	o->ngranules = o->storage >> GRANULE_SHIFT;
	o->max_page = GRANULE;
	o->ops_tail = &o->ops;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->turn, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&o->event, &attr);
	pthread_condattr_destroy(&attr);
	vm_address_t data = 0;
	o->hold_ns = 0;
	o->readers = calloc(o->ngranules, sizeof *o->readers);
	o->writer = malloc(o->ngranules * sizeof *o->writer);
	o->granted = calloc(o->ngranules, sizeof *o->granted);
	o->asked_write = calloc(o->ngranules, sizeof *o->asked_write);
	o->lent = calloc(o->ngranules, sizeof *o->lent);
	o->silent = calloc(o->ngranules, sizeof *o->silent);
	o->contended = calloc(o->ngranules, sizeof *o->contended);
	if (o->readers == NULL || o->writer == NULL || o->granted == NULL ||
	    o->asked_write == NULL || o->lent == NULL || o->silent == NULL ||
	    o->contended == NULL ||
	    vm_allocate(mach_task_self(), &data, o->storage, TRUE) != KERN_SUCCESS) {
		free_object(o);
		return KERN_RESOURCE_SHORTAGE;
	}
	o->data = (uint8_t *)(uintptr_t)data;
	memset(o->writer, NO_WRITER, o->ngranules);
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &o->port)
	        != KERN_SUCCESS) {
		free_object(o);
		return KERN_RESOURCE_SHORTAGE;
	}
	/* Requests wait in the queue while the manager answers others. */
	mach_port_limits_t limits = { MACH_PORT_QLIMIT_MAX };
	mach_port_set_attributes(mach_task_self(), o->port, MACH_PORT_LIMITS_INFO,
	        (mach_port_info_t)&limits, MACH_PORT_LIMITS_INFO_COUNT);
	if (mach_port_insert_right(mach_task_self(), o->port, o->port,
	                           MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS) {
		mach_port_destroy(mach_task_self(), o->port);
		free_object(o);
		return KERN_RESOURCE_SHORTAGE;
	}
	pthread_mutex_lock(&dsm.lock);
	o->next = dsm.objects;
	dsm.objects = o;
	pthread_mutex_unlock(&dsm.lock);
	if (mach_port_insert_member(mach_task_self(), o->port, dsm.pset) != KERN_SUCCESS) {
		pthread_mutex_lock(&dsm.lock);
		dsm.objects = o->next;
		pthread_mutex_unlock(&dsm.lock);
		mach_port_destroy(mach_task_self(), o->port);
		free_object(o);
		return KERN_RESOURCE_SHORTAGE;
	}
	*object = o->port;
	return KERN_SUCCESS;
}

/* Finds a live object and takes a reference; NULL if none. */
static dsm_object_t *get_object(memory_object_t object)
{
	pthread_mutex_lock(&dsm.lock);
	dsm_object_t *o = MACH_PORT_VALID(object) ? lookup_locked(object) : NULL;
	if (o != NULL)
		o->refs++;
	pthread_mutex_unlock(&dsm.lock);
	return o;
}

static void put_object(dsm_object_t *o)
{
	pthread_mutex_lock(&o->lock);
	o->refs--;
	pthread_cond_broadcast(&o->turn);
	pthread_mutex_unlock(&o->lock);
}

kern_return_t dsm_pager_destroy(memory_object_t object)
{
	pthread_mutex_lock(&dsm.lock);
	dsm_object_t **pp = &dsm.objects;
	while (MACH_PORT_VALID(object) && *pp != NULL && (*pp)->port != object)
		pp = &(*pp)->next;
	dsm_object_t *o = MACH_PORT_VALID(object) ? *pp : NULL;
	pthread_mutex_unlock(&dsm.lock);
	if (o == NULL)
		return KERN_INVALID_ARGUMENT;
	/* Behind every message already queued: they are handled first. */
	mach_msg_header_t quit = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof quit,
		.msgh_remote_port = o->port,
		.msgh_id = DSM_QUIT_ID,
	};
	pthread_mutex_lock(&o->lock);
	bool sent = mach_msg(&quit, MACH_SEND_MSG, sizeof quit, 0, MACH_PORT_NULL,
	                     MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL) == MACH_MSG_SUCCESS;
	if (!sent)
		o->dead = true;
	while (!o->dead)
		pthread_cond_wait(&o->turn, &o->lock);
	pthread_mutex_unlock(&o->lock);
	/* Out of the list first, so no worker finds it again. */
	pthread_mutex_lock(&dsm.lock);
	for (pp = &dsm.objects; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	}
	pthread_mutex_unlock(&dsm.lock);
	pthread_mutex_lock(&o->lock);
	while (o->refs > 0)
		pthread_cond_wait(&o->turn, &o->lock);
	pthread_mutex_unlock(&o->lock);
	mach_port_destroy(mach_task_self(), o->port);
	for (unsigned i = 0; i < o->nkernels; i++)
		if (attached(o, (int)i))
			mach_port_deallocate(mach_task_self(), o->kernels[i].info.control);
	free_object(o);
	return KERN_SUCCESS;
}

kern_return_t dsm_pager_kernels(memory_object_t object, dsm_kernel_info_t *kernels,
        unsigned *count_io)
{
	if (count_io == NULL || (kernels == NULL && *count_io != 0))
		return KERN_INVALID_ARGUMENT;
	dsm_object_t *o = get_object(object);
	if (o == NULL)
		return KERN_INVALID_ARGUMENT;
	pthread_mutex_lock(&o->lock);
	unsigned n = *count_io < o->nkernels ? *count_io : o->nkernels;
	for (unsigned i = 0; i < n; i++)
		kernels[i] = o->kernels[i].info;
	*count_io = o->nkernels;
	pthread_mutex_unlock(&o->lock);
	put_object(o);
	return KERN_SUCCESS;
}

kern_return_t dsm_pager_wait_kernels(memory_object_t object, unsigned n,
        unsigned timeout_ms)
{
	dsm_object_t *o = get_object(object);
	if (o == NULL)
		return KERN_INVALID_ARGUMENT;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&o->lock);
	int err = 0;
	while (o->nkernels < n && err == 0)
		err = pthread_cond_timedwait(&o->event, &o->lock, &deadline);
	bool ok = o->nkernels >= n;
	pthread_mutex_unlock(&o->lock);
	put_object(o);
	return ok ? KERN_SUCCESS : KERN_OPERATION_TIMED_OUT;
}
