/* The default pager: the default memory manager of one or more kernels
 * (memory_object_create, data_initialize, data_request, data_return,
 * terminate), anonymous shared objects (default_pager_object_create) and
 * the backing-store calls of <mach/default_pager.h>, served as messages
 * on the pager's ports. Public API only. Storage layout and protocol:
 * docs/default_pager.md.
 *
 * Threads: a pager_pool per pager (pagers/pager_pool.h, its default size,
 * MEMOBJ_PAGER_THREADS). The pool keeps each object port's order by
 * seqno, and every message consumes its seqno, even a malformed or
 * ignored one (SPEC 6): a data_request that follows a data_return of its
 * pages is served after the write reached the segment; init, terminate,
 * notifications and the completions run alone, after everything before
 * them. What the pool lets run side by side (requests for any pages,
 * returns of other pages, other objects) runs side by side here too:
 *
 * Locks, in the order they are taken (each may be skipped):
 *   dp_lock     the lists: pagers, their objects and stores; the
 *               default_pager RPCs, object creation and freeing
 *   o->lock     rwlock of one object: its handlers hold it shared (the
 *               pool already keeps conflicting ones apart, so they touch
 *               different page-map entries); store evacuation, which
 *               rewrites entries of any object, holds it exclusive
 *   seg_lock    rwlock of the segment table (segments[], files): shared
 *               across the I/O, exclusive to add or close a segment
 *   buf_lock    the shared emergency I/O buffer (a thread whose own
 *               buffer could not be allocated)
 *   alloc_lock  the free-block maps, the stores' segment lists and
 *               their link: a few instructions per block allocated
 * Counters are atomics. Every acquisition is tried first: a try that
 * fails counts as contended (default_pager_get_stats).
 *
 * The paging path never touches memory that could page to this pager: the
 * I/O buffers are malloc'ed (and mlock'ed where permitted), the data the
 * kernel sends is written out and vm_deallocate'd. */

#include <memobj/default_pager.h>

#include "pager_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#define BLOCK DEFAULT_PAGER_BLOCK_SIZE
#define DP_BUF_SIZE (2u * 1024 * 1024)     /* largest kernel page */
#define DP_DEVICE_MAX 1024

/* Message ids of the default_pager subsystem (as MIG numbers them, from
 * 2275); replies are id + 100. */
#define DP_OBJECT_CREATE        2275
#define DP_INFO                 2276
#define DP_BACKING_STORE_CREATE 2280
#define DP_BACKING_STORE_DELETE 2281
#define DP_BACKING_STORE_INFO   2282
#define DP_ADD_SEGMENT          2283

#pragma pack(push, 4)
typedef struct {
	mach_msg_header_t Head;
	NDR_record_t NDR;
	vm_size_t size;              /* object_create */
	integer_t priority, clsize;  /* backing_store_create */
	integer_t flavor;            /* backing_store_info */
	mach_msg_type_number_t count;
	vm_offset_t offset;          /* add_segment: in records */
	vm_size_t records;
	integer_t record_size;
	char device[DP_DEVICE_MAX];
} dp_request_t;

typedef struct {                 /* object_create, backing_store_create */
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t port;
	NDR_record_t NDR;
} dp_port_reply_t;

typedef struct {                 /* info, backing_store_info */
	mach_msg_header_t Head;
	NDR_record_t NDR;
	kern_return_t RetCode;
	default_pager_info_t info;
	mach_msg_type_number_t count;
	integer_t data[BACKING_STORE_BASIC_INFO_COUNT];
} dp_info_reply_t;

typedef union {
	mig_reply_error_t error;
	dp_port_reply_t port;
	dp_info_reply_t info;
} dp_reply_t;

typedef struct {                 /* what a client receives into */
	dp_reply_t r;
	mach_msg_max_trailer_t trailer;
} dp_reply_buffer_t;
#pragma pack(pop)

struct dp_store;

/* The first member of what a pool port's ctx points at. */
enum dp_kind { DP_PAGER = 1, DP_STORE, DP_OBJECT };

struct dp_segment {
	int id;                      /* index in segments[] */
	int fd;
	char *path;
	uint64_t base;               /* byte offset in the file */
	uint64_t npages, nfree, hint;    /* alloc_lock */
	uint8_t *used;               /* a byte per block: the free-block map */
	bool failed;                 /* a write failed: no new blocks here */
	struct dp_store *store;
};

struct dp_store {
	enum dp_kind kind;
	mach_port_t port;            /* receive right (the backing_store_t) */
	struct dp_pager *pager;
	int priority, clsize;
	struct dp_segment **segs;    /* alloc_lock */
	size_t nsegs;
	bool deleting;               /* being evacuated: no new blocks (alloc_lock) */
	atomic_uint pages_in, pages_in_fail, pages_out, pages_out_fail;
	struct dp_store *next;       /* dp_lock and alloc_lock */
};

struct dp_control {
	mach_port_t control;
	vm_size_t page_size;
};

struct dp_object {
	enum dp_kind kind;
	mach_port_t port;            /* receive right */
	struct dp_pager *pager;
	pthread_rwlock_t lock;       /* above */
	vm_size_t size;
	bool internal;               /* from memory_object_create */
	uint64_t nblocks;
	uint64_t *map;               /* per block: 0 = never written, else
	                              * (segment id << 40 | block) + 1 */
	struct dp_control *controls; /* changed by barriers only */
	size_t ncontrols;
	struct dp_object *next;      /* dp_lock */
};

struct dp_pager {
	enum dp_kind kind;
	mach_port_t port;
	pager_pool_t *pool;          /* serves port, its stores and objects */
	struct dp_store *stores;     /* dp_lock and alloc_lock */
	struct dp_object *objects;   /* dp_lock */
	atomic_uint pageout_calls, pagein_calls, pages_in, pages_out,
	            pages_unavail, pages_init, pages_init_writes;
	struct dp_pager *next;
};

static pthread_mutex_t dp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t seg_lock;     /* writer-preferring: lock_init */
static pthread_once_t lock_once = PTHREAD_ONCE_INIT;
static pthread_rwlockattr_t writer_first;
static pthread_mutex_t buf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dp_pager *pagers;
static struct dp_segment **segments;     /* seg_lock */
static size_t nsegments, segments_cap;
static char *dp_buf;                 /* emergency I/O buffer (buf_lock) */
static pthread_key_t buf_key;        /* each thread's own I/O buffer */
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

static struct {
	atomic_ullong acquired, contended, list, object, segment, buffer, alloc;
	atomic_ullong requests, overlapped;
	atomic_uint in_flight, max_in_flight;
} dp_stats;

static boolean_t dp_demux(void *ctx, mach_msg_header_t *in, mach_msg_header_t *out);

/* ---- locks: tried first, so contention is counted ---- */

static void count_lock(bool contended, atomic_ullong *which)
{
	atomic_fetch_add_explicit(&dp_stats.acquired, 1, memory_order_relaxed);
	if (contended) {
		atomic_fetch_add_explicit(&dp_stats.contended, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(which, 1, memory_order_relaxed);
	}
}

static void mutex_lock(pthread_mutex_t *m, atomic_ullong *which)
{
	bool busy = pthread_mutex_trylock(m) != 0;
	if (busy)
		pthread_mutex_lock(m);
	count_lock(busy, which);
}

static void rw_rdlock(pthread_rwlock_t *l, atomic_ullong *which)
{
	bool busy = pthread_rwlock_tryrdlock(l) != 0;
	if (busy)
		pthread_rwlock_rdlock(l);
	count_lock(busy, which);
}

static void rw_wrlock(pthread_rwlock_t *l, atomic_ullong *which)
{
	bool busy = pthread_rwlock_trywrlock(l) != 0;
	if (busy)
		pthread_rwlock_wrlock(l);
	count_lock(busy, which);
}

#define list_lock()    mutex_lock(&dp_lock, &dp_stats.list)
#define list_unlock()  pthread_mutex_unlock(&dp_lock)
#define alloc_acquire() mutex_lock(&alloc_lock, &dp_stats.alloc)
#define alloc_release() pthread_mutex_unlock(&alloc_lock)

void default_pager_get_stats(default_pager_stats_t *stats)
{
	if (stats == NULL)
		return;
	*stats = (default_pager_stats_t){
		.lock_acquisitions = atomic_load(&dp_stats.acquired),
		.lock_contended = atomic_load(&dp_stats.contended),
		.list_contended = atomic_load(&dp_stats.list),
		.object_contended = atomic_load(&dp_stats.object),
		.segment_contended = atomic_load(&dp_stats.segment),
		.buffer_contended = atomic_load(&dp_stats.buffer),
		.alloc_contended = atomic_load(&dp_stats.alloc),
		.data_requests = atomic_load(&dp_stats.requests),
		.requests_overlapped = atomic_load(&dp_stats.overlapped),
		.max_parallel_requests = atomic_load(&dp_stats.max_in_flight),
	};
}

/* The rwlocks prefer writers: a segment add or an evacuation is not
 * starved by a stream of faults (no handler takes one twice). */
static void lock_init(void)
{
	pthread_rwlockattr_init(&writer_first);
	pthread_rwlockattr_setkind_np(&writer_first,
	        PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&seg_lock, &writer_first);
}

/* ---- I/O buffers ---- */

static void buf_key_make(void)
{
	(void)pthread_key_create(&buf_key, free);
}

/* This thread's I/O buffer of DP_BUF_SIZE bytes; if it has none and none
 * can be had, the shared one, with *shared set and buf_lock held. */
static char *buf_get(bool *shared)
{
	pthread_once(&buf_once, buf_key_make);
	char *b = pthread_getspecific(buf_key);
	if (b == NULL && (b = aligned_alloc(BLOCK, DP_BUF_SIZE)) != NULL) {
		/* Its own memory, never paged: where the limit allows. */
		(void)mlock(b, DP_BUF_SIZE);
		if (pthread_setspecific(buf_key, b) != 0) {
			free(b);
			b = NULL;
		}
	}
	*shared = b == NULL;
	if (b != NULL)
		return b;
	mutex_lock(&buf_lock, &dp_stats.buffer);
	return dp_buf;
}

static void buf_put(bool shared)
{
	if (shared)
		pthread_mutex_unlock(&buf_lock);
}

/* ---- lookups (dp_lock held) ---- */

static struct dp_pager *find_pager(mach_port_t port)
{
	for (struct dp_pager *p = pagers; p; p = p->next)
		if (p->port == port)
			return p;
	return NULL;
}

static struct dp_store *find_store(mach_port_t port)
{
	for (struct dp_pager *p = pagers; p; p = p->next)
		for (struct dp_store *s = p->stores; s; s = s->next)
			if (s->port == port)
				return s;
	return NULL;
}

static struct dp_control *find_control(struct dp_object *o,
        mach_port_t control)
{
	for (size_t i = 0; i < o->ncontrols; i++)
		if (o->controls[i].control == control)
			return &o->controls[i];
	return NULL;
}

/* ---- blocks ---- */

static uint64_t map_entry(struct dp_segment *s, uint64_t block)
{
	return (((uint64_t)s->id << 40) | block) + 1;
}

/* Gives a block back (seg_lock held). */
static void block_free(uint64_t entry)
{
	if (entry == 0)
		return;
	uint64_t v = entry - 1;
	size_t id = (size_t)(v >> 40);
	uint64_t block = v & ((1ull << 40) - 1);
	if (id >= nsegments || segments[id] == NULL)
		return;
	struct dp_segment *s = segments[id];
	alloc_acquire();
	if (block < s->npages && s->used[block]) {
		s->used[block] = 0;
		s->nfree++;
		if (block < s->hint)
			s->hint = block;
	}
	alloc_release();
}

/* A free block, from the stores of highest priority first, skipping those
 * being deleted. 0 when every segment is full. (seg_lock held) */
static uint64_t block_alloc(struct dp_pager *p)
{
	uint64_t found = 0;
	alloc_acquire();
	for (int pri = BS_MAXPRI; pri >= 0 && found == 0; pri--)
		for (struct dp_store *st = p->stores; st && found == 0; st = st->next) {
			if (st->deleting || st->priority != pri)
				continue;
			for (size_t i = 0; i < st->nsegs; i++) {
				struct dp_segment *s = st->segs[i];
				if (s->failed || s->nfree == 0)
					continue;
				for (uint64_t n = 0; n < s->npages; n++) {
					uint64_t b = (s->hint + n) % s->npages;
					if (!s->used[b]) {
						s->used[b] = 1;
						s->nfree--;
						s->hint = b + 1;
						found = map_entry(s, b);
						break;
					}
				}
				if (found != 0)
					break;
			}
		}
	alloc_release();
	return found;
}

/* The segment of a page-map entry and its byte there (seg_lock held). */
static struct dp_segment *entry_segment(uint64_t entry, uint64_t *byte)
{
	uint64_t v = entry - 1;
	size_t id = (size_t)(v >> 40);
	if (id >= nsegments || segments[id] == NULL)
		return NULL;
	struct dp_segment *s = segments[id];
	*byte = s->base + (v & ((1ull << 40) - 1)) * BLOCK;
	return s;
}

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t at)
{
	const char *b = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, b, len, (off_t)at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENOSPC;
		b += n; len -= (size_t)n; at += (uint64_t)n;
	}
	return 0;
}

static int full_pread(int fd, void *buf, size_t len, uint64_t at)
{
	char *b = buf;
	while (len > 0) {
		ssize_t n = pread(fd, b, len, (off_t)at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {            /* past the end of a file: zeros */
			memset(b, 0, len);
			return 0;
		}
		b += n; len -= (size_t)n; at += (uint64_t)n;
	}
	return 0;
}

/* Writes one block of data for object block `index`, allocating its
 * block if it has none. 0, -ENOSPC (every segment full) or -errno.
 * (o->lock and seg_lock held; the pool keeps other writers of `index`
 * out) */
static int store_block(struct dp_object *o, uint64_t index, const void *data)
{
	uint64_t entry = o->map[index];
	bool fresh = entry == 0;
	if (fresh && (entry = block_alloc(o->pager)) == 0)
		return -ENOSPC;
	uint64_t at = 0;
	struct dp_segment *s = entry_segment(entry, &at);
	int err = s ? full_pwrite(s->fd, data, BLOCK, at) : -EIO;
	if (s != NULL) {
		if (err == 0) {
			atomic_fetch_add(&s->store->pages_out, 1);
		} else {
			atomic_fetch_add(&s->store->pages_out_fail, 1);
			alloc_acquire();
			bool first = !s->failed;
			s->failed = true;
			alloc_release();
			if (first)
				fprintf(stderr, "default_pager: write to segment %s "
				        "failed (%s); no new pages go there\n", s->path,
				        strerror(-err));
		}
	}
	if (err != 0) {
		if (fresh)
			block_free(entry);
		return err;
	}
	o->map[index] = entry;
	return 0;
}

/* ---- objects ---- */

static int control_add(struct dp_object *o, mach_port_t control,
        vm_size_t page_size)
{
	struct dp_control *c = realloc(o->controls,
	                               (o->ncontrols + 1) * sizeof *c);
	if (c == NULL)
		return -1;
	o->controls = c;
	c[o->ncontrols++] = (struct dp_control){ control, page_size };
	return 0;
}

/* A new object of p on `port`, with its first control when `control` is
 * valid; not yet served (object_publish). */
static struct dp_object *object_new(struct dp_pager *p, mach_port_t port,
        vm_size_t size, bool internal, mach_port_t control, vm_size_t page_size)
{
	struct dp_object *o = calloc(1, sizeof *o);
	if (o == NULL)
		return NULL;
	o->nblocks = (size + BLOCK - 1) / BLOCK;
	o->map = calloc(o->nblocks ? o->nblocks : 1, sizeof *o->map);
	if (o->map == NULL ||
	    (MACH_PORT_VALID(control) && control_add(o, control, page_size) != 0)) {
		free(o->map);
		free(o);
		return NULL;
	}
	pthread_rwlock_init(&o->lock, &writer_first);
	o->kind = DP_OBJECT;
	o->port = port;
	o->pager = p;
	o->size = size;
	o->internal = internal;
	return o;
}

/* The object joins its pager's list and its port the pool, in seqno
 * order as pager_pool.h tells (dp_lock held). Whole before its first
 * message can be taken. -1: not served (the caller frees it). */
static int object_publish(struct dp_object *o)
{
	struct dp_pager *p = o->pager;
	if (pager_pool_add(p->pool, o->port, true, dp_demux, NULL, o)
	    != KERN_SUCCESS)
		return -1;
	o->next = p->objects;
	p->objects = o;
	return 0;
}

/* Frees an object that object_new made and object_publish did not serve:
 * the port stays the caller's, the controls too. */
static void object_discard(struct dp_object *o)
{
	pthread_rwlock_destroy(&o->lock);
	free(o->map);
	free(o->controls);
	free(o);
}

/* Frees the object: its blocks go back, its port goes (dp_lock held, so
 * no evacuation is looking at it). Only a barrier (terminate, a
 * notification) frees one, so no other handler of it runs; messages of it
 * still queued are dropped by the pool. */
static void object_free(struct dp_object *o)
{
	struct dp_pager *p = o->pager;
	for (struct dp_object **pp = &p->objects; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	rw_rdlock(&seg_lock, &dp_stats.segment);
	for (uint64_t i = 0; i < o->nblocks; i++)
		block_free(o->map[i]);
	pthread_rwlock_unlock(&seg_lock);
	for (size_t i = 0; i < o->ncontrols; i++)
		mach_port_deallocate(mach_task_self(), o->controls[i].control);
	pager_pool_remove(p->pool, o->port);
	mach_port_destroy(mach_task_self(), o->port);
	o->ncontrols = 0;
	object_discard(o);
}

/* A handler of o begins (o->lock shared, then seg_lock shared) / ends. */
static void object_enter(struct dp_object *o)
{
	rw_rdlock(&o->lock, &dp_stats.object);
	rw_rdlock(&seg_lock, &dp_stats.segment);
}

static void object_leave(struct dp_object *o)
{
	pthread_rwlock_unlock(&seg_lock);
	pthread_rwlock_unlock(&o->lock);
}

/* ---- the server interface ---- */

/* The object whose message this thread is handling (dp_demux sets it
 * from the pool's ctx): alive until its handler returns, as only a
 * barrier of its own port frees it. */
static _Thread_local struct dp_object *current_object;

/* The object of a message; the pool has ordered it. NULL when the port
 * is not an object of ours. */
static struct dp_object *object_turn(mach_port_t port, mach_port_seqno_t seqno)
{
	(void)seqno;
	struct dp_object *o = current_object;
	return o != NULL && o->port == port ? o : NULL;
}

static kern_return_t dp_create(memory_object_t pager_port,
        mach_port_seqno_t seqno, memory_object_t new_object, vm_size_t size,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)seqno;
	list_lock();
	struct dp_pager *p = find_pager(pager_port);
	kern_return_t kr = KERN_INVALID_ARGUMENT;
	if (p != NULL && page_size >= BLOCK && (page_size & (page_size - 1)) == 0 &&
	    size % page_size == 0) {
		struct dp_object *o = object_new(p, new_object, size, true, control,
		                                 page_size);
		if (o == NULL || object_publish(o) != 0) {
			if (o != NULL)
				object_discard(o);
			kr = KERN_RESOURCE_SHORTAGE;
		} else {
			/* A kernel that dies sends no terminate: its death (a
			 * dead name, told on the object port) frees the object. */
			mach_port_t prev = MACH_PORT_NULL;
			if (mach_port_request_notification(mach_task_self(), control,
			        MACH_NOTIFY_DEAD_NAME, 0, new_object,
			        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev) == KERN_SUCCESS &&
			    MACH_PORT_VALID(prev))
				mach_port_deallocate(mach_task_self(), prev);
			kr = KERN_SUCCESS;
		}
	}
	list_unlock();
	return kr;
}

/* Stores data that came in data_initialize or data_return, one page of
 * the sending kernel at a time; a page that cannot be stored (every
 * segment full, a write error) goes back to the kernel precious, so the
 * kernel keeps it (and the pager does not lose it). (object_enter) */
static void store_pages(struct dp_object *o, memory_object_control_t control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t count,
        bool init)
{
	struct dp_control *c = find_control(o, control);
	vm_size_t ps = c ? c->page_size : BLOCK;
	struct dp_pager *p = o->pager;
	p->pageout_calls++;
	if (init)
		p->pages_init += count / BLOCK;
	for (vm_size_t done = 0; done + ps <= count; done += ps) {
		vm_offset_t off = offset + done;
		const char *src = (const char *)(uintptr_t)data + done;
		bool ok = off % BLOCK == 0 && off + ps <= o->size;
		for (vm_size_t b = 0; ok && b < ps; b += BLOCK)
			ok = store_block(o, (off + b) / BLOCK, src + b) == 0;
		if (ok) {
			p->pages_out += ps / BLOCK;
			if (init)
				p->pages_init_writes += ps / BLOCK;
			continue;
		}
		if (off + ps <= o->size)
			(void)memory_object_data_supply(control, off,
			        (pointer_t)(uintptr_t)src, (mach_msg_type_number_t)ps,
			        FALSE, VM_PROT_NONE, TRUE, MACH_PORT_NULL);
	}
}

static kern_return_t dp_data_initialize(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t count)
{
	struct dp_object *o = object_turn(object, seqno);
	if (o != NULL) {
		object_enter(o);
		store_pages(o, control, offset, data, count, true);
		object_leave(o);
	}
	vm_deallocate(mach_task_self(), data, count);
	return o != NULL ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
}

static kern_return_t dp_data_return(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t count,
        boolean_t dirty, boolean_t kernel_copy)
{
	(void)kernel_copy;
	struct dp_object *o = object_turn(object, seqno);
	if (o != NULL && dirty) {
		object_enter(o);
		store_pages(o, control, offset, data, count, false);
		object_leave(o);
	}
	vm_deallocate(mach_task_self(), data, count);
	return o != NULL ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
}

/* Reads blocks [first, first+n) of o into buf, one pread per run of
 * blocks that lie next to each other in one segment; never-written blocks
 * read as zeros. 0 or -errno (a read failed). (object_enter) */
static int load_blocks(struct dp_object *o, uint64_t first, uint64_t n,
        char *buf)
{
	int err = 0;
	for (uint64_t i = 0; i < n;) {
		uint64_t entry = first + i < o->nblocks ? o->map[first + i] : 0;
		uint64_t at = 0;
		struct dp_segment *s = entry ? entry_segment(entry, &at) : NULL;
		if (s == NULL) {
			memset(buf + i * BLOCK, 0, BLOCK);
			i++;
			continue;
		}
		uint64_t j = i + 1;
		while (j < n && first + j < o->nblocks &&
		       o->map[first + j] == entry + (j - i) &&
		       entry_segment(o->map[first + j], &(uint64_t){ 0 }) == s)
			j++;
		int e = full_pread(s->fd, buf + i * BLOCK, (size_t)(j - i) * BLOCK, at);
		if (e != 0) {
			s->store->pages_in_fail += (natural_t)(j - i);
			err = e;
		} else {
			s->store->pages_in += (natural_t)(j - i);
		}
		i = j;
	}
	return err;
}

struct dp_run {
	struct dp_object *object;
	memory_object_control_t control;
	vm_offset_t offset;
	vm_size_t length;
	bool data;
};

/* Answers a run: stored pages are read (coalesced) into this thread's
 * buffer and supplied, never written ones are unavailable, a read error
 * is data_error. */
static void run_flush(struct dp_run *r)
{
	if (r->length == 0)
		return;
	if (!r->data) {
		(void)memory_object_data_unavailable(r->control, r->offset, r->length);
		r->length = 0;
		return;
	}
	bool shared;
	char *buf = buf_get(&shared);
	if (load_blocks(r->object, r->offset / BLOCK, r->length / BLOCK, buf) != 0)
		(void)memory_object_data_error(r->control, r->offset, r->length,
		                               KERN_MEMORY_ERROR);
	else
		(void)memory_object_data_supply(r->control, r->offset,
		        (pointer_t)(uintptr_t)buf, (mach_msg_type_number_t)r->length,
		        FALSE, VM_PROT_NONE, FALSE, MACH_PORT_NULL);
	buf_put(shared);
	r->length = 0;
}

/* Counts a data_request in and out; in: whether another was in flight. */
static void request_begin(void)
{
	atomic_fetch_add_explicit(&dp_stats.requests, 1, memory_order_relaxed);
	unsigned n = atomic_fetch_add(&dp_stats.in_flight, 1) + 1;
	if (n > 1)
		atomic_fetch_add_explicit(&dp_stats.overlapped, 1, memory_order_relaxed);
	unsigned max = atomic_load(&dp_stats.max_in_flight);
	while (n > max &&
	       !atomic_compare_exchange_weak(&dp_stats.max_in_flight, &max, n))
		;
}

static void request_end(void)
{
	atomic_fetch_sub(&dp_stats.in_flight, 1);
}

static kern_return_t dp_data_request(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t access)
{
	(void)access;
	struct dp_object *o = object_turn(object, seqno);
	if (o == NULL)
		return KERN_INVALID_ARGUMENT;
	request_begin();
	object_enter(o);
	struct dp_control *c = find_control(o, control);
	vm_size_t ps = c ? c->page_size : BLOCK;
	struct dp_pager *p = o->pager;
	p->pagein_calls++;
	/* Runs of pages alike: supplied from a buffer, or unavailable. */
	struct dp_run run = { o, control, 0, 0, false };
	vm_offset_t end = offset + length;
	for (vm_offset_t off = offset; off < end; off += ps) {
		if (off % BLOCK != 0 || off + ps > o->size || off + ps < off) {
			run_flush(&run);
			(void)memory_object_data_error(control, off, end - off,
			                               KERN_MEMORY_ERROR);
			break;
		}
		bool data = false;
		for (vm_size_t b = 0; b < ps; b += BLOCK)
			data |= o->map[(off + b) / BLOCK] != 0;
		if (run.length > 0 &&
		    (data != run.data || run.length + ps > DP_BUF_SIZE))
			run_flush(&run);
		if (run.length == 0) {
			run.offset = off;
			run.data = data;
		}
		if (data)
			p->pages_in += (natural_t)(ps / BLOCK);
		else
			p->pages_unavail += (natural_t)(ps / BLOCK);
		run.length += ps;
	}
	run_flush(&run);
	object_leave(o);
	request_end();
	return KERN_SUCCESS;
}

/* init and terminate are barriers: no other handler of the object runs,
 * and evacuation does not look at the controls. */
static kern_return_t dp_init(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_size_t page_size)
{
	struct dp_object *o = object_turn(object, seqno);
	kern_return_t kr = KERN_INVALID_ARGUMENT;
	if (o != NULL) {
		if (page_size >= BLOCK && (page_size & (page_size - 1)) == 0 &&
		    control_add(o, control, page_size) == 0) {
			/* Not temporary: dirty pages come back before terminate,
			 * so another kernel mapping the object later sees them. */
			memory_object_attr_info_data_t attr = {
				.copy_strategy = MEMORY_OBJECT_COPY_DELAY,
				.cluster_size = page_size,
				.may_cache_object = FALSE,
				.temporary = FALSE,
			};
			(void)memory_object_change_attributes(control,
			        MEMORY_OBJECT_ATTRIBUTE_INFO, (memory_object_info_t)&attr,
			        MEMORY_OBJECT_ATTR_INFO_COUNT, MACH_PORT_NULL);
			kr = KERN_SUCCESS;
		}
	}
	return kr;
}

static kern_return_t dp_terminate(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control)
{
	struct dp_object *o = object_turn(object, seqno);
	if (o != NULL) {
		for (size_t i = 0; i < o->ncontrols; i++)
			if (o->controls[i].control == control) {
				mach_port_deallocate(mach_task_self(), control);
				o->controls[i] = o->controls[--o->ncontrols];
				break;
			}
		/* An internal object ends with its kernel: its blocks go back. */
		if (o->internal && o->ncontrols == 0) {
			list_lock();
			object_free(o);
			list_unlock();
		}
	}
	/* The control port's receive right came with the message. */
	mach_port_destroy(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t dp_data_unlock(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t access)
{
	(void)object; (void)seqno; (void)access;
	/* The pager never locks pages: grant everything. */
	(void)memory_object_lock_request(control, offset, length,
	        MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NONE, MACH_PORT_NULL);
	return KERN_SUCCESS;
}

static kern_return_t dp_synchronize(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_sync_t flags)
{
	(void)object; (void)seqno; (void)flags;
	/* A barrier: every data_return before it is in the segments. */
	(void)memory_object_synchronize_completed(control, offset, length);
	return KERN_SUCCESS;
}

/* Nothing to do; the pool has consumed its seqno. */
static kern_return_t dp_ignore(mach_port_t port, mach_port_seqno_t seqno)
{
	(void)port; (void)seqno;
	return KERN_SUCCESS;
}

static kern_return_t dp_lock_completed(mach_port_t port, mach_port_seqno_t s,
        memory_object_control_t c, vm_offset_t o, vm_size_t l)
{
	(void)c; (void)o; (void)l;
	return dp_ignore(port, s);
}

static kern_return_t dp_supply_completed(mach_port_t port,
        mach_port_seqno_t s, memory_object_control_t c, vm_offset_t o,
        vm_size_t l, kern_return_t r, vm_offset_t e)
{
	(void)c; (void)o; (void)l; (void)r; (void)e;
	return dp_ignore(port, s);
}

static kern_return_t dp_change_completed(mach_port_t port,
        mach_port_seqno_t s, memory_object_control_t c,
        memory_object_flavor_t f)
{
	(void)c; (void)f;
	return dp_ignore(port, s);
}

static const memory_object_routines_t dp_routines = {
	.init = dp_init,
	.terminate = dp_terminate,
	.data_request = dp_data_request,
	.data_unlock = dp_data_unlock,
	.data_return = dp_data_return,
	.lock_completed = dp_lock_completed,
	.supply_completed = dp_supply_completed,
	.change_completed = dp_change_completed,
	.synchronize = dp_synchronize,
	.create = dp_create,
	.data_initialize = dp_data_initialize,
};

/* ---- the default_pager calls, server side ---- */

static void fill_info(struct dp_pager *p, default_pager_info_t *info)
{
	uint64_t total = 0, nfree = 0;
	alloc_acquire();
	for (struct dp_store *st = p->stores; st; st = st->next)
		for (size_t i = 0; i < st->nsegs; i++) {
			total += st->segs[i]->npages;
			nfree += st->segs[i]->failed ? 0 : st->segs[i]->nfree;
		}
	alloc_release();
	info->total_space = (vm_size_t)(total * BLOCK);
	info->free_space = (vm_size_t)(nfree * BLOCK);
	info->page_size = BLOCK;
}

static void set_port_reply(mach_msg_header_t *in, dp_reply_t *out,
        mach_port_t port)
{
	dp_port_reply_t *r = &out->port;
	r->Head.msgh_bits |= MACH_MSGH_BITS_COMPLEX;
	r->Head.msgh_size = sizeof *r;
	r->Head.msgh_id = in->msgh_id + MIG_REPLY_ID_OFFSET;
	r->body.msgh_descriptor_count = 1;
	memset(&r->port, 0, sizeof r->port);
	r->port.name = port;
	r->port.disposition = MACH_MSG_TYPE_MAKE_SEND;
	r->port.type = MACH_MSG_PORT_DESCRIPTOR;
	r->NDR = NDR_record;
}

static struct dp_store *store_new(struct dp_pager *p, int priority, int clsize)
{
	struct dp_store *st = calloc(1, sizeof *st);
	if (st == NULL)
		return NULL;
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                       &st->port) != KERN_SUCCESS) {
		free(st);
		return NULL;
	}
	st->kind = DP_STORE;
	st->pager = p;
	st->priority = priority;
	st->clsize = clsize;
	/* The backing-store calls need no order among themselves. */
	if (pager_pool_add(p->pool, st->port, false, dp_demux, NULL, st)
	    != KERN_SUCCESS) {
		mach_port_destroy(mach_task_self(), st->port);
		free(st);
		return NULL;
	}
	alloc_acquire();
	st->next = p->stores;
	p->stores = st;
	alloc_release();
	return st;
}

/* Opens `device` as a segment of st: [offset, offset+count) records of
 * record_size bytes (count 0: to the end of the file or device).
 * (dp_lock held) */
static kern_return_t segment_add(struct dp_store *st, const char *device,
        uint64_t offset, uint64_t count, uint64_t record_size, bool create,
        uint64_t create_size)
{
	if (record_size == 0)
		record_size = BLOCK;
	if ((record_size & (record_size - 1)) != 0 || record_size > BLOCK ||
	    offset > UINT64_MAX / record_size || count > UINT64_MAX / record_size)
		return KERN_INVALID_ARGUMENT;
	int fd = open(device, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return KERN_FAILURE;
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return KERN_FAILURE;
	}
	uint64_t base = offset * record_size, len = count * record_size;
	uint64_t dev_size = 0;
	if (S_ISREG(sb.st_mode)) {
		if (create_size > 0 && (uint64_t)sb.st_size < create_size &&
		    ftruncate(fd, (off_t)create_size) != 0) {
			close(fd);
			return KERN_FAILURE;
		}
		dev_size = create_size > (uint64_t)sb.st_size ? create_size
		                                               : (uint64_t)sb.st_size;
	} else if (S_ISBLK(sb.st_mode)) {
		uint64_t bytes = 0;
		if (ioctl(fd, BLKGETSIZE64, &bytes) == 0)
			dev_size = bytes;
	} else if (S_ISCHR(sb.st_mode)) {
		dev_size = base + len;           /* no size to check against */
	} else {
		close(fd);
		return KERN_INVALID_ARGUMENT;
	}
	if (base > dev_size) {
		close(fd);
		return KERN_INVALID_ARGUMENT;
	}
	if (len == 0 || base + len > dev_size)
		len = dev_size - base;
	base = (base + BLOCK - 1) / BLOCK * BLOCK;
	uint64_t npages = len / BLOCK;
	if (npages == 0) {
		close(fd);
		return KERN_INVALID_ARGUMENT;
	}
	struct dp_segment *s = calloc(1, sizeof *s);
	uint8_t *used = calloc((size_t)npages, 1);
	char *path = strdup(device);
	/* The table and the store's list move: no I/O, no allocation meanwhile. */
	rw_wrlock(&seg_lock, &dp_stats.segment);
	alloc_acquire();
	struct dp_segment **segs = realloc(st->segs, (st->nsegs + 1) * sizeof *segs);
	if (segs != NULL)
		st->segs = segs;
	if (nsegments == segments_cap) {
		size_t cap = segments_cap ? segments_cap * 2 : 8;
		struct dp_segment **g = realloc(segments, cap * sizeof *g);
		if (g != NULL) {
			segments = g;
			segments_cap = cap;
		}
	}
	if (s == NULL || used == NULL || path == NULL || segs == NULL ||
	    nsegments == segments_cap) {
		alloc_release();
		pthread_rwlock_unlock(&seg_lock);
		free(s); free(used); free(path);
		close(fd);
		return KERN_RESOURCE_SHORTAGE;
	}
	s->id = (int)nsegments;
	s->fd = fd;
	s->path = path;
	s->base = base;
	s->npages = s->nfree = npages;
	s->used = used;
	s->store = st;
	segments[nsegments++] = s;
	st->segs[st->nsegs++] = s;
	alloc_release();
	pthread_rwlock_unlock(&seg_lock);
	return KERN_SUCCESS;
}

/* Moves every block of st's segments to other stores; KERN_FAILURE when
 * they have no room (what moved stays moved). dp_lock held: the objects
 * stay. Each object is held exclusive while its blocks move, so no
 * handler reads a block being moved or writes one behind the move; st
 * takes no new blocks meanwhile (deleting), and gets them again if it
 * stays. */
static kern_return_t store_evacuate(struct dp_store *st)
{
	alloc_acquire();
	st->deleting = true;
	alloc_release();
	bool shared;
	char *buf = NULL;
	kern_return_t kr = KERN_SUCCESS;
	for (struct dp_object *o = st->pager->objects; o && kr == KERN_SUCCESS;
	     o = o->next) {
		rw_wrlock(&o->lock, &dp_stats.object);
		rw_rdlock(&seg_lock, &dp_stats.segment);
		for (uint64_t i = 0; i < o->nblocks && kr == KERN_SUCCESS; i++) {
			uint64_t at = 0;
			struct dp_segment *s = o->map[i] ? entry_segment(o->map[i], &at)
			                                 : NULL;
			if (s == NULL || s->store != st)
				continue;
			uint64_t to = block_alloc(st->pager);
			if (to == 0) {
				kr = KERN_FAILURE;
				break;
			}
			if (buf == NULL)
				buf = buf_get(&shared);
			uint64_t to_at = 0;
			struct dp_segment *d = entry_segment(to, &to_at);
			if (d == NULL || full_pread(s->fd, buf, BLOCK, at) != 0 ||
			    full_pwrite(d->fd, buf, BLOCK, to_at) != 0) {
				block_free(to);
				kr = KERN_FAILURE;
				break;
			}
			block_free(o->map[i]);
			o->map[i] = to;
		}
		pthread_rwlock_unlock(&seg_lock);
		pthread_rwlock_unlock(&o->lock);
	}
	if (buf != NULL)
		buf_put(shared);
	if (kr != KERN_SUCCESS) {
		alloc_acquire();
		st->deleting = false;
		alloc_release();
	}
	return kr;
}

/* Closes an evacuated (or new) store (dp_lock held). */
static void store_free(struct dp_store *st)
{
	struct dp_pager *p = st->pager;
	rw_wrlock(&seg_lock, &dp_stats.segment);
	alloc_acquire();
	for (struct dp_store **pp = &p->stores; *pp; pp = &(*pp)->next)
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	alloc_release();
	for (size_t i = 0; i < st->nsegs; i++) {
		struct dp_segment *s = st->segs[i];
		segments[s->id] = NULL;
		close(s->fd);
		free(s->used);
		free(s->path);
		free(s);
	}
	pthread_rwlock_unlock(&seg_lock);
	free(st->segs);
	pager_pool_remove(p->pool, st->port);
	mach_port_destroy(mach_task_self(), st->port);
	free(st);
}

/* One of the default_pager calls; false when `in` is not one. */
static bool serve_rpc(mach_msg_header_t *in, dp_reply_t *out)
{
	mach_msg_id_t id = in->msgh_id;
	if (id < DP_OBJECT_CREATE || id > DP_ADD_SEGMENT)
		return false;
	dp_request_t *rq = (dp_request_t *)in;
	mig_reply_error_t *err = &out->error;
	err->RetCode = MIG_BAD_ARGUMENTS;
	if (in->msgh_size != sizeof *rq || (in->msgh_bits & MACH_MSGH_BITS_COMPLEX))
		return true;
	list_lock();
	struct dp_pager *p = find_pager(in->msgh_local_port);
	struct dp_store *st = find_store(in->msgh_local_port);
	bool on_pager = p != NULL, on_store = st != NULL;
	kern_return_t kr = KERN_INVALID_ARGUMENT;
	switch (id) {
	case DP_OBJECT_CREATE:
		if (!on_pager || rq->size == 0 || rq->size % BLOCK != 0)
			break;
		{
			mach_port_t port;
			if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
			                       &port) != KERN_SUCCESS) {
				kr = KERN_RESOURCE_SHORTAGE;
				break;
			}
			struct dp_object *o = object_new(p, port, rq->size, false,
			                                 MACH_PORT_NULL, 0);
			if (o == NULL || object_publish(o) != 0) {
				if (o != NULL)
					object_discard(o);
				mach_port_destroy(mach_task_self(), port);
				kr = KERN_RESOURCE_SHORTAGE;
				break;
			}
			/* Freed when nobody holds a send right any more. */
			mach_port_t prev = MACH_PORT_NULL;
			if (mach_port_request_notification(mach_task_self(), port,
			        MACH_NOTIFY_NO_SENDERS, 1, port,
			        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev) == KERN_SUCCESS &&
			    MACH_PORT_VALID(prev))
				mach_port_deallocate(mach_task_self(), prev);
			set_port_reply(in, out, port);
			list_unlock();
			return true;
		}
	case DP_INFO:
		if (!on_pager)
			break;
		out->info.Head.msgh_size = sizeof out->info;
		{
			/* The reply is packed: fill an aligned copy. */
			default_pager_info_t info;
			fill_info(p, &info);
			memcpy((char *)out + offsetof(dp_info_reply_t, info), &info,
			       sizeof info);
		}
		out->info.count = 0;
		kr = KERN_SUCCESS;
		break;
	case DP_BACKING_STORE_CREATE:
		if (!on_pager || rq->priority < 0 || rq->priority > BS_MAXPRI ||
		    rq->clsize < 0)
			break;
		st = store_new(p, rq->priority, rq->clsize ? rq->clsize : 1);
		if (st == NULL) {
			kr = KERN_RESOURCE_SHORTAGE;
			break;
		}
		set_port_reply(in, out, st->port);
		list_unlock();
		return true;
	case DP_BACKING_STORE_DELETE:
		if (!on_store)
			break;
		kr = store_evacuate(st);
		if (kr == KERN_SUCCESS)
			store_free(st);
		break;
	case DP_BACKING_STORE_INFO:
		if (!on_store)
			break;
		if (rq->flavor != BACKING_STORE_BASIC_INFO ||
		    rq->count < BACKING_STORE_BASIC_INFO_COUNT)
			break;
		{
			struct dp_pager *sp = st->pager;
			backing_store_basic_info_data_t b = {
				.pageout_calls = sp->pageout_calls,
				.pagein_calls = sp->pagein_calls,
				.pages_in = sp->pages_in,
				.pages_out = sp->pages_out,
				.pages_unavail = sp->pages_unavail,
				.pages_init = sp->pages_init,
				.pages_init_writes = sp->pages_init_writes,
				.bs_pages_in = st->pages_in,
				.bs_pages_in_fail = st->pages_in_fail,
				.bs_pages_out = st->pages_out,
				.bs_pages_out_fail = st->pages_out_fail,
				.bs_priority = st->priority,
				.bs_clsize = st->clsize,
			};
			alloc_acquire();
			for (size_t i = 0; i < st->nsegs; i++) {
				b.bs_pages_total += (natural_t)st->segs[i]->npages;
				b.bs_pages_free += st->segs[i]->failed ? 0
				                   : (natural_t)st->segs[i]->nfree;
			}
			alloc_release();
			out->info.Head.msgh_size = sizeof out->info;
			out->info.count = BACKING_STORE_BASIC_INFO_COUNT;
			memcpy((char *)out + offsetof(dp_info_reply_t, data), &b,
			       sizeof b);
			kr = KERN_SUCCESS;
		}
		break;
	case DP_ADD_SEGMENT:
		if (!on_store || memchr(rq->device, '\0', sizeof rq->device) == NULL ||
		    rq->device[0] == '\0' || rq->record_size < 0)
			break;
		kr = segment_add(st, rq->device, rq->offset, rq->records,
		                 (uint64_t)rq->record_size, false, 0);
		break;
	default:
		kr = MIG_BAD_ID;
		break;
	}
	list_unlock();
	err->RetCode = kr;
	return true;
}

/* Every message of every port of the pager: the pool has put it in its
 * place (pager_pool.h): malformed, unknown and notification messages are
 * barriers on an object port, and consume their seqno there. */
static boolean_t dp_demux(void *ctx, mach_msg_header_t *in, mach_msg_header_t *out)
{
	if (serve_rpc(in, (dp_reply_t *)out))
		return TRUE;
	/* (Before the routines: terminate may free it.) */
	struct dp_object *o = *(enum dp_kind *)ctx == DP_OBJECT ? ctx : NULL;
	if (o != NULL && o->port != in->msgh_local_port)
		o = NULL;
	current_object = o;
	boolean_t known = memory_object_server_routines(&dp_routines, in, out);
	current_object = NULL;
	/* Notifications: barriers of their object; the controls are the
	 * barriers' own (dp_init). */
	if (!known) {
		if (in->msgh_id == MACH_NOTIFY_DEAD_NAME &&
		    in->msgh_size >= offsetof(mach_dead_name_notification_t, trailer)) {
			mach_port_t dead =
				((mach_dead_name_notification_t *)in)->not_port;
			for (size_t i = 0; o != NULL && i < o->ncontrols; i++)
				if (o->controls[i].control == dead) {
					o->controls[i] = o->controls[--o->ncontrols];
					break;
				}
			if (o != NULL && o->internal && o->ncontrols == 0) {
				list_lock();
				object_free(o);
				list_unlock();
			}
			/* Every reference to the dead name (one per message the
			 * kernel sent, and the notification's). */
			mach_port_destroy(mach_task_self(), dead);
			((mig_reply_error_t *)out)->RetCode = MIG_NO_REPLY;
			return TRUE;
		}
		if (in->msgh_id == MACH_NOTIFY_NO_SENDERS) {
			if (o != NULL && !o->internal && o->ncontrols == 0) {
				list_lock();
				object_free(o);
				list_unlock();
			}
			((mig_reply_error_t *)out)->RetCode = MIG_NO_REPLY;
			return TRUE;
		}
	}
	return known;
}

kern_return_t default_pager_start(const char *backing_file, vm_size_t size,
        mach_port_t *default_pager)
{
	if (backing_file == NULL || default_pager == NULL ||
	    (size != 0 && size < BLOCK))
		return KERN_INVALID_ARGUMENT;
	pthread_once(&lock_once, lock_init);
	list_lock();
	if (dp_buf == NULL) {
		/* The buffer of last resort: a thread whose own one cannot be
		 * had still pages in (buf_get). */
		dp_buf = aligned_alloc(BLOCK, DP_BUF_SIZE);
		if (dp_buf == NULL) {
			list_unlock();
			return KERN_RESOURCE_SHORTAGE;
		}
		/* Its own memory, never paged: where the limit allows. */
		(void)mlock(dp_buf, DP_BUF_SIZE);
	}
	struct dp_pager *p = calloc(1, sizeof *p);
	kern_return_t kr = KERN_RESOURCE_SHORTAGE;
	if (p == NULL)
		goto out;
	p->kind = DP_PAGER;
	/* Bounded threads (SPEC 6), MEMOBJ_PAGER_THREADS or by the CPUs;
	 * they serve for the process's life. */
	p->pool = pager_pool_create(0, sizeof(dp_request_t) + 1024);
	if (p->pool == NULL)
		goto out_free;
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                       &p->port) != KERN_SUCCESS)
		goto out_set;
	/* memory_object_create and the default_pager calls: no order. */
	if (pager_pool_add(p->pool, p->port, false, dp_demux, NULL, p)
	    != KERN_SUCCESS)
		goto out_port;
	struct dp_store *st = store_new(p, BS_MAXPRI, 1);
	if (st == NULL)
		goto out_port;
	kr = segment_add(st, backing_file, 0, size / BLOCK, BLOCK, true,
	                 size / BLOCK * BLOCK);
	if (kr != KERN_SUCCESS) {
		if (kr == KERN_INVALID_ARGUMENT && size != 0)
			kr = KERN_FAILURE;
		store_free(st);
		goto out_port;
	}
	if (mach_port_insert_right(mach_task_self(), p->port, p->port,
	                           MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS) {
		store_free(st);
		kr = KERN_RESOURCE_SHORTAGE;
		goto out_port;
	}
	p->next = pagers;
	pagers = p;
	list_unlock();

	mach_port_t dm = p->port;
	if (host_default_memory_manager(mach_host_self(), &dm, 0) == KERN_SUCCESS &&
	    MACH_PORT_VALID(dm))
		mach_port_deallocate(mach_task_self(), dm);
	/* Best effort: another pager of this node may hold the name. */
	(void)netname_check_in(MACH_PORT_NULL, DEFAULT_PAGER_NETNAME,
	                       MACH_PORT_NULL, p->port);
	*default_pager = p->port;
	return KERN_SUCCESS;

out_port:
	pager_pool_remove(p->pool, p->port);
	mach_port_destroy(mach_task_self(), p->port);
out_set:
	list_unlock();   /* its threads may want the lock */
	pager_pool_destroy(p->pool);
	list_lock();
out_free:
	free(p);
out:
	list_unlock();
	return kr;
}

/* ---- the default_pager calls, client side (as MIG stubs) ---- */

static kern_return_t rpc(mach_port_t dest, mach_msg_id_t id,
        dp_request_t *rq, dp_reply_t *rep)
{
	_Static_assert(offsetof(dp_reply_buffer_t, r) == 0, "reply first");
	if (!MACH_PORT_VALID(dest))
		return MACH_SEND_INVALID_DEST;
	mach_port_t reply = mig_get_reply_port();
	rq->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
	                                    MACH_MSG_TYPE_MAKE_SEND_ONCE);
	rq->Head.msgh_size = sizeof *rq;
	rq->Head.msgh_remote_port = dest;
	rq->Head.msgh_local_port = reply;
	rq->Head.msgh_voucher_port = MACH_PORT_NULL;
	rq->Head.msgh_id = id;
	rq->NDR = NDR_record;
	mach_msg_return_t mr = mach_msg(&rq->Head, MACH_SEND_MSG, sizeof *rq, 0,
	        MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	if (mr != MACH_MSG_SUCCESS)
		return mr;
	mr = mach_msg(&rep->error.Head, MACH_RCV_MSG, 0, sizeof(dp_reply_buffer_t),
	        reply, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
	if (mr != MACH_MSG_SUCCESS)
		return mr;
	if (rep->error.Head.msgh_id == MACH_NOTIFY_SEND_ONCE)
		return MIG_SERVER_DIED;
	if (rep->error.Head.msgh_id != id + MIG_REPLY_ID_OFFSET) {
		mach_msg_destroy(&rep->error.Head);
		return MIG_REPLY_MISMATCH;
	}
	if (rep->error.Head.msgh_bits & MACH_MSGH_BITS_COMPLEX)
		return KERN_SUCCESS;
	return rep->error.RetCode;
}

static kern_return_t port_rpc(mach_port_t dest, mach_msg_id_t id,
        dp_request_t *rq, mach_port_t *port)
{
	dp_reply_buffer_t buf;
	dp_reply_t *repp = &buf.r;
	kern_return_t kr = rpc(dest, id, rq, repp);
	if (kr != KERN_SUCCESS)
		return kr;
	if (!(repp->port.Head.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
	    repp->port.body.msgh_descriptor_count != 1 ||
	    repp->port.port.type != MACH_MSG_PORT_DESCRIPTOR) {
		mach_msg_destroy(&repp->port.Head);
		return MIG_TYPE_ERROR;
	}
	*port = repp->port.port.name;
	return KERN_SUCCESS;
}

kern_return_t default_pager_object_create(default_pager_t pager,
        memory_object_t *memory_object, vm_size_t object_size)
{
	if (memory_object == NULL || object_size == 0)
		return KERN_INVALID_ARGUMENT;
	dp_request_t rq;
	memset(&rq, 0, sizeof rq);
	/* Whole pager pages: the largest kernel page is the caller's worry
	 * (vm_map rounds); the object is at least object_size. */
	if (object_size > (vm_size_t)-1 - BLOCK)
		return KERN_INVALID_ARGUMENT;
	rq.size = (object_size + BLOCK - 1) / BLOCK * BLOCK;
	return port_rpc(pager, DP_OBJECT_CREATE, &rq, memory_object);
}

kern_return_t default_pager_info(default_pager_t pager,
        default_pager_info_t *info)
{
	if (info == NULL)
		return KERN_INVALID_ARGUMENT;
	dp_request_t rq;
	memset(&rq, 0, sizeof rq);
	dp_reply_buffer_t buf;
	dp_reply_t *repp = &buf.r;
	kern_return_t kr = rpc(pager, DP_INFO, &rq, repp);
	if (kr == KERN_SUCCESS) {
		if (repp->info.Head.msgh_size != sizeof repp->info)
			return MIG_TYPE_ERROR;
		memcpy(info, (char *)repp + offsetof(dp_info_reply_t, info),
		       sizeof *info);
	}
	return kr;
}

kern_return_t default_pager_backing_store_create(default_pager_t pager,
        int priority, int clsize, backing_store_t *backing_store)
{
	if (backing_store == NULL)
		return KERN_INVALID_ARGUMENT;
	if (priority == BS_NOPRI)
		priority = 0;
	if (priority < 0 || priority > BS_MAXPRI || clsize < 0)
		return KERN_INVALID_ARGUMENT;
	dp_request_t rq;
	memset(&rq, 0, sizeof rq);
	rq.priority = priority;
	rq.clsize = clsize;
	return port_rpc(pager, DP_BACKING_STORE_CREATE, &rq, backing_store);
}

kern_return_t default_pager_backing_store_delete(backing_store_t backing_store)
{
	dp_request_t rq;
	memset(&rq, 0, sizeof rq);
	dp_reply_buffer_t buf;
	dp_reply_t *repp = &buf.r;
	kern_return_t kr = rpc(backing_store, DP_BACKING_STORE_DELETE, &rq, repp);
	if (kr == KERN_SUCCESS)
		mach_port_deallocate(mach_task_self(), backing_store);
	return kr;
}

kern_return_t default_pager_backing_store_info(backing_store_t backing_store,
        backing_store_flavor_t flavor, backing_store_info_t info,
        mach_msg_type_number_t *info_count)
{
	if (info == NULL || info_count == NULL)
		return KERN_INVALID_ARGUMENT;
	if (flavor != BACKING_STORE_BASIC_INFO)
		return KERN_INVALID_ARGUMENT;
	if (*info_count < BACKING_STORE_BASIC_INFO_COUNT)
		return KERN_INVALID_ARGUMENT;
	dp_request_t rq;
	memset(&rq, 0, sizeof rq);
	rq.flavor = flavor;
	rq.count = *info_count;
	dp_reply_buffer_t buf;
	dp_reply_t *repp = &buf.r;
	kern_return_t kr = rpc(backing_store, DP_BACKING_STORE_INFO, &rq, repp);
	if (kr != KERN_SUCCESS)
		return kr;
	if (repp->info.Head.msgh_size != sizeof repp->info ||
	    repp->info.count != BACKING_STORE_BASIC_INFO_COUNT)
		return MIG_TYPE_ERROR;
	memcpy(info, (char *)repp + offsetof(dp_info_reply_t, data),
	       sizeof repp->info.data);
	*info_count = repp->info.count;
	return KERN_SUCCESS;
}

kern_return_t default_pager_add_segment(backing_store_t backing_store,
        const char *device, vm_offset_t offset, vm_size_t count,
        int record_size)
{
	if (device == NULL || device[0] == '\0' || record_size < 0 ||
	    strlen(device) >= DP_DEVICE_MAX)
		return KERN_INVALID_ARGUMENT;
	dp_request_t rq;
	memset(&rq, 0, sizeof rq);
	strcpy(rq.device, device);
	rq.offset = offset;
	rq.records = count;
	rq.record_size = record_size;
	dp_reply_buffer_t buf;
	return rpc(backing_store, DP_ADD_SEGMENT, &rq, &buf.r);
}
