/* pager_pool: a bounded pool of threads serving memory-object ports with
 * per-object seqno order where the EMMI needs it. The ordering rules and
 * why they are enough: pager_pool.h. */
#include "pager_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Private id of the message that wakes a thread to stop. */
#define POOL_WAKE_ID 0x706f6f6c
#define POOL_BUCKETS 256

/* One message of an ordered port, from its registration to its end: lives
 * on the stack of the thread that handles it. */
typedef struct pool_msg {
	pager_pool_order_t order;
	vm_offset_t lo, hi;            /* [lo, hi): READ and WRITE */
	struct pool_msg *next;
} pool_msg_t;

typedef struct pool_port {
	mach_port_t port;
	bool ordered, removed;
	pager_pool_demux_t demux;
	pager_pool_classify_t classify;
	void *ctx;
	unsigned refs;                 /* the table's, and each thread's in it */
	mach_port_seqno_t next_seqno;  /* the next to register */
	pool_msg_t *head, *tail;       /* registered, not finished: seqno order */
	struct pool_port *hash_next;
} pool_port_t;

struct pager_pool {
	mach_port_t set, wake;
	mach_msg_size_t max_size;
	unsigned nthreads;
	pthread_t threads[PAGER_POOL_MAX_THREADS];
	atomic_bool stopping;

	pthread_mutex_t lock;          /* guards what follows */
	pthread_cond_t cond;           /* a message registered or finished */
	pool_port_t *buckets[POOL_BUCKETS];
	pager_pool_stats_t stats;
	void (*wait_hook)(void *);
	void *wait_arg;
};

static _Thread_local pager_pool_t *current_pool;

unsigned pager_pool_default_threads(void)
{
	const char *env = getenv("MEMOBJ_PAGER_THREADS");
	if (env != NULL && *env != '\0') {
		char *end;
		unsigned long n = strtoul(env, &end, 10);
		if (*end == '\0' && n >= 1 && n <= PAGER_POOL_MAX_THREADS)
			return (unsigned)n;
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus < 2 ? 2 : cpus > 4 ? 4 : (unsigned)cpus;
}

static pool_port_t **bucket(pager_pool_t *pool, mach_port_t port)
{
	return &pool->buckets[(port * 2654435761u) >> 24 & (POOL_BUCKETS - 1)];
}

static pool_port_t *lookup_locked(pager_pool_t *pool, mach_port_t port)
{
	for (pool_port_t *p = *bucket(pool, port); p != NULL; p = p->hash_next)
		if (p->port == port)
			return p;
	return NULL;
}

static void unref_locked(pool_port_t *p)
{
	if (--p->refs == 0)
		free(p);
}

/* ---- classification of the EMMI messages ---------------------------------- */

/* What the recording routines saw; memory_object_server_routines decodes
 * the message (and checks its layout) without side effects. */
static _Thread_local struct {
	pager_pool_order_t order;
	vm_offset_t offset;
	vm_size_t length;
} seen;

static kern_return_t see_request(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t offset, vm_size_t length,
        vm_prot_t a)
{
	(void)o; (void)s; (void)c; (void)a;
	seen.order = PAGER_POOL_READ;
	seen.offset = offset;
	seen.length = length;
	return MIG_NO_REPLY;
}

static kern_return_t see_unlock(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t offset, vm_size_t length,
        vm_prot_t a)
{
	(void)o; (void)s; (void)c; (void)a;
	seen.order = PAGER_POOL_WRITE;
	seen.offset = offset;
	seen.length = length;
	return MIG_NO_REPLY;
}

static kern_return_t see_return(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t offset, pointer_t d,
        mach_msg_type_number_t count, boolean_t dirty, boolean_t copy)
{
	(void)o; (void)s; (void)c; (void)d; (void)dirty; (void)copy;
	seen.order = PAGER_POOL_WRITE;
	seen.offset = offset;
	seen.length = count;
	return MIG_NO_REPLY;
}

static kern_return_t see_initialize(memory_object_t o, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t offset, pointer_t d,
        mach_msg_type_number_t count)
{
	(void)o; (void)s; (void)c; (void)d;
	seen.order = PAGER_POOL_WRITE;
	seen.offset = offset;
	seen.length = count;
	return MIG_NO_REPLY;
}

static const memory_object_routines_t see_routines = {
	.data_request = see_request,
	.data_unlock = see_unlock,
	.data_return = see_return,
	.data_initialize = see_initialize,
};

pager_pool_order_t pager_pool_classify_emmi(mach_msg_header_t *in,
        vm_offset_t *offset, vm_size_t *length)
{
	union {
		mig_reply_error_t reply;
		char space[256];
	} scratch;
	seen.order = PAGER_POOL_BARRIER;
	(void)memory_object_server_routines(&see_routines, in, &scratch.reply.Head);
	*offset = seen.offset;
	*length = seen.length;
	/* A range that wraps is read as reaching the end of the object. */
	return seen.order;
}

/* ---- ordering ---------------------------------------------------------------- */

static bool conflicts(const pool_msg_t *earlier, const pool_msg_t *later)
{
	if (earlier->order == PAGER_POOL_BARRIER || later->order == PAGER_POOL_BARRIER)
		return true;
	if (earlier->order == PAGER_POOL_READ && later->order == PAGER_POOL_READ)
		return false;
	return earlier->lo < later->hi && later->lo < earlier->hi;
}

static bool must_wait_locked(const pool_port_t *p, const pool_msg_t *m)
{
	for (const pool_msg_t *e = p->head; e != NULL && e != m; e = e->next)
		if (conflicts(e, m))
			return true;
	return false;
}

static void unlink_locked(pool_port_t *p, pool_msg_t *m)
{
	pool_msg_t **pp = &p->head, *prev = NULL;
	while (*pp != NULL && *pp != m) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = m->next;
	if (p->tail == m)
		p->tail = prev;
}

static mach_port_seqno_t message_seqno(const mach_msg_header_t *in)
{
	const mach_msg_seqno_trailer_t *t = (const mach_msg_seqno_trailer_t *)
		(const void *)((const char *)in + round_msg(in->msgh_size));
	return t->msgh_seqno;
}

/* Dispatches one message of an ordered port p (a reference held, lock
 * held; returns with it held). FALSE when p went away meanwhile. */
static boolean_t serve_ordered_locked(pager_pool_t *pool, pool_port_t *p,
        mach_msg_header_t *in, mach_msg_header_t *out)
{
	vm_offset_t offset = 0;
	vm_size_t length = 0;
	pthread_mutex_unlock(&pool->lock);
	pager_pool_order_t order = p->classify
	        ? p->classify(p->ctx, in, &offset, &length)
	        : pager_pool_classify_emmi(in, &offset, &length);
	pthread_mutex_lock(&pool->lock);
	pool_msg_t m = { .order = order, .lo = offset,
	                 .hi = offset + length < offset ? (vm_offset_t)-1
	                                                : offset + length };

	/* Register in seqno order: the threads holding the seqnos before
	 * this one register theirs without waiting for anything else. A
	 * seqno behind the count (the right moved and was reset) registers
	 * at once. */
	mach_port_seqno_t seqno = message_seqno(in);
	if (p->next_seqno != seqno)
		pool->stats.overtaken++;
	while (!p->removed && p->next_seqno != seqno &&
	       (mach_port_seqno_t)(seqno - p->next_seqno) < (1u << 31))
		pthread_cond_wait(&pool->cond, &pool->lock);
	if (p->removed) {
		pool->stats.dropped++;
		return FALSE;
	}
	if (p->next_seqno == seqno)
		p->next_seqno++;
	if (p->tail != NULL)
		p->tail->next = &m;
	else
		p->head = &m;
	p->tail = &m;
	pthread_cond_broadcast(&pool->cond);

	bool counted = false;
	while (!p->removed && must_wait_locked(p, &m)) {
		if (!counted) {
			counted = true;
			pool->stats.waited++;
			if (pool->wait_hook != NULL)
				pool->wait_hook(pool->wait_arg);
		}
		pthread_cond_wait(&pool->cond, &pool->lock);
	}
	boolean_t handled = FALSE;
	if (p->removed) {
		pool->stats.dropped++;
	} else {
		pool->stats.messages++;
		pthread_mutex_unlock(&pool->lock);
		handled = p->demux(p->ctx, in, out);
		pthread_mutex_lock(&pool->lock);
	}
	unlink_locked(p, &m);
	pthread_cond_broadcast(&pool->cond);
	return handled;
}

static boolean_t pool_demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	pager_pool_t *pool = current_pool;
	if (in->msgh_local_port == pool->wake) {
		((mig_reply_error_t *)out)->RetCode = MIG_NO_REPLY;
		return TRUE;
	}
	pthread_mutex_lock(&pool->lock);
	pool_port_t *p = lookup_locked(pool, in->msgh_local_port);
	if (p == NULL) {
		/* Removed before we got here: its messages go as if queued
		 * when the port died. */
		pool->stats.dropped++;
		pthread_mutex_unlock(&pool->lock);
		return FALSE;
	}
	p->refs++;
	boolean_t handled;
	if (p->ordered) {
		handled = serve_ordered_locked(pool, p, in, out);
	} else {
		pool->stats.messages++;
		pthread_mutex_unlock(&pool->lock);
		handled = p->demux(p->ctx, in, out);
		pthread_mutex_lock(&pool->lock);
	}
	unref_locked(p);
	pthread_mutex_unlock(&pool->lock);
	return handled;
}

static void *pool_thread(void *arg)
{
	pager_pool_t *pool = arg;
	current_pool = pool;
	while (!atomic_load(&pool->stopping)) {
		mach_msg_return_t mr = mach_msg_server_once(pool_demux, pool->max_size,
		        pool->set, MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
		        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO) | MACH_RCV_LARGE);
		if (mr == MACH_RCV_INVALID_NAME || mr == MACH_RCV_PORT_DIED)
			break;
	}
	return NULL;
}

/* ---- the pool -------------------------------------------------------------- */

pager_pool_t *pager_pool_create(unsigned threads, mach_msg_size_t max_size)
{
	if (threads == 0)
		threads = pager_pool_default_threads();
	if (threads > PAGER_POOL_MAX_THREADS)
		threads = PAGER_POOL_MAX_THREADS;
	pager_pool_t *pool = calloc(1, sizeof *pool);
	if (pool == NULL)
		return NULL;
	pool->max_size = max_size;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET,
	                       &pool->set) != KERN_SUCCESS)
		goto fail;
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                       &pool->wake) != KERN_SUCCESS ||
	    mach_port_move_member(mach_task_self(), pool->wake, pool->set) != KERN_SUCCESS)
		goto fail_ports;
	for (; pool->nthreads < threads; pool->nthreads++)
		if (pthread_create(&pool->threads[pool->nthreads], NULL, pool_thread,
		                   pool) != 0)
			break;
	if (pool->nthreads == 0)
		goto fail_ports;
	pool->stats.threads = pool->nthreads;
	return pool;

fail_ports:
	if (MACH_PORT_VALID(pool->wake))
		mach_port_destroy(mach_task_self(), pool->wake);
	mach_port_destroy(mach_task_self(), pool->set);
fail:
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
	errno = EAGAIN;
	return NULL;
}

kern_return_t pager_pool_add(pager_pool_t *pool, mach_port_t port,
        bool ordered, pager_pool_demux_t demux, pager_pool_classify_t classify,
        void *ctx)
{
	if (pool == NULL || demux == NULL || !MACH_PORT_VALID(port))
		return KERN_INVALID_ARGUMENT;
	mach_port_status_t status;
	mach_msg_type_number_t count = MACH_PORT_RECEIVE_STATUS_COUNT;
	if (mach_port_get_attributes(mach_task_self(), port, MACH_PORT_RECEIVE_STATUS,
	        (mach_port_info_t)&status, &count) != KERN_SUCCESS)
		return KERN_INVALID_RIGHT;
	pool_port_t *p = calloc(1, sizeof *p);
	if (p == NULL)
		return KERN_RESOURCE_SHORTAGE;
	*p = (pool_port_t){ .port = port, .ordered = ordered, .demux = demux,
	                    .classify = classify, .ctx = ctx, .refs = 1,
	                    .next_seqno = status.mps_seqno };
	pthread_mutex_lock(&pool->lock);
	kern_return_t kr = KERN_NAME_EXISTS;
	if (lookup_locked(pool, port) == NULL) {
		/* In the table before it is in the set: a thread that takes
		 * its first message finds it. */
		pool_port_t **b = bucket(pool, port);
		p->hash_next = *b;
		*b = p;
		kr = mach_port_move_member(mach_task_self(), port, pool->set);
		if (kr != KERN_SUCCESS)
			*b = p->hash_next;
	}
	pthread_mutex_unlock(&pool->lock);
	if (kr != KERN_SUCCESS)
		free(p);
	return kr;
}

static void remove_locked(pager_pool_t *pool, pool_port_t *p)
{
	for (pool_port_t **pp = bucket(pool, p->port); *pp != NULL; pp = &(*pp)->hash_next)
		if (*pp == p) {
			*pp = p->hash_next;
			break;
		}
	p->removed = true;
	/* Best effort: the caller may be about to destroy the port. */
	(void)mach_port_move_member(mach_task_self(), p->port, MACH_PORT_NULL);
	pthread_cond_broadcast(&pool->cond);
	unref_locked(p);
}

void pager_pool_remove(pager_pool_t *pool, mach_port_t port)
{
	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool_port_t *p = lookup_locked(pool, port);
	if (p != NULL)
		remove_locked(pool, p);
	pthread_mutex_unlock(&pool->lock);
}

void pager_pool_destroy(pager_pool_t *pool)
{
	if (pool == NULL || current_pool == pool)
		return;
	atomic_store(&pool->stopping, true);
	/* One wake per thread: each stops after at most one more message. */
	for (unsigned i = 0; i < pool->nthreads; i++) {
		mach_msg_header_t wake = {
			.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
			.msgh_size = sizeof wake,
			.msgh_remote_port = pool->wake,
			.msgh_id = POOL_WAKE_ID,
		};
		(void)mach_msg(&wake, MACH_SEND_MSG, sizeof wake, 0, MACH_PORT_NULL,
		               MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	}
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_mutex_lock(&pool->lock);
	for (size_t b = 0; b < POOL_BUCKETS; b++)
		while (pool->buckets[b] != NULL)
			remove_locked(pool, pool->buckets[b]);
	pthread_mutex_unlock(&pool->lock);
	mach_port_destroy(mach_task_self(), pool->wake);
	mach_port_destroy(mach_task_self(), pool->set);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

void pager_pool_get_stats(pager_pool_t *pool, pager_pool_stats_t *stats)
{
	pthread_mutex_lock(&pool->lock);
	*stats = pool->stats;
	pthread_mutex_unlock(&pool->lock);
}

void pager_pool_set_wait_hook(pager_pool_t *pool, void (*hook)(void *arg),
        void *arg)
{
	pthread_mutex_lock(&pool->lock);
	pool->wait_hook = hook;
	pool->wait_arg = arg;
	pthread_mutex_unlock(&pool->lock);
}
