/* Pageout: keeps the object pages this kernel holds within
 * MEMOBJ_RESIDENT_MAX. Pages are queued in install order; eviction takes
 * the oldest, giving a second chance to a page that faulted again since
 * it was installed or last passed over (a write to a clean page, an
 * unlock, a minor fault): FIFO with second chance, an approximation of
 * LRU (userfaultfd sees no plain accesses to mapped pages). Dirty and
 * precious pages go back with data_return(dirty, kernel_copy=FALSE);
 * clean ones are dropped.
 *
 * It runs in the thread that made pages resident (a manager's, in
 * data_supply or data_unavailable), after it released every lock: it only
 * sends (never waits for a manager), and holds one object lock at a time. */
#include "vm/vm_pageout.h"

#include <stdlib.h>

#include "vm/vm_dirty.h"
#include "vm/vm_internal.h"
#include "vm/vm_kernel.h"
#include "vm/vm_object.h"
#include "vm/vm_pagein.h"
#include "vm/vm_return.h"

/* The heuristics' numbers. */
enum {
	RING_FIRST_CAP = 1024,       /* entries the ring starts with */
	/* The ring is filtered of stale entries when it holds more than
	 * STALE_FACTOR entries per counted page plus STALE_SLACK. */
	STALE_FACTOR = 2,
	STALE_SLACK = 4096,
	/* Eviction stops this far below the limit so that it runs in
	 * batches: 1/EVICT_SLACK_DIVISOR of the limit, EVICT_SLACK_MAX pages
	 * at most. */
	EVICT_SLACK_DIVISOR = 64,
	EVICT_SLACK_MAX = 256,
	/* Entries one balance looks at, per entry in the ring: a passed-over
	 * page comes round once more, no entry more than about twice. */
	EVICT_PASSES = 2,
};

struct queue_entry {
	uint64_t id;          /* object id */
	uint64_t index;       /* page index */
	uint32_t stamp;       /* the page's stamp when queued */
};

/* A ring of entries. queue_lock is a leaf (vm_lock_order.h). */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static struct queue_entry *ring;
static size_t ring_head, ring_len, ring_cap;
static uint32_t next_stamp;
/* One evictor at a time; first in the lock order (vm_lock_order.h). */
static pthread_mutex_t balance_lock = PTHREAD_MUTEX_INITIALIZER;

/* Queues e (queue_lock held). Out of memory the entry is forgotten: its
 * page is then never chosen for eviction, which keeps it resident, and no
 * data is lost. So nothing to report. */
static void ring_push(struct queue_entry e)
{
	if (ring_len == ring_cap) {
		size_t cap = ring_cap ? ring_cap * 2 : RING_FIRST_CAP;
		struct queue_entry *r = malloc(cap * sizeof *r);
		if (r == NULL)
			return;
		for (size_t i = 0; i < ring_len; i++)
			r[i] = ring[(ring_head + i) % ring_cap];
		free(ring);
		ring = r;
		ring_cap = cap;
		ring_head = 0;
	}
	ring[(ring_head + ring_len++) % ring_cap] = e;
}

static bool ring_pop(struct queue_entry *e)
{
	pthread_mutex_lock(&queue_lock);
	bool ok = ring_len > 0;
	if (ok) {
		*e = ring[ring_head];
		ring_head = (ring_head + 1) % ring_cap;
		ring_len--;
	}
	pthread_mutex_unlock(&queue_lock);
	return ok;
}

void vm_pageout_enqueue(struct vm_object *obj, vm_page_t *p)
{
	VM_ASSERT_LOCKED(&obj->lock);
	pthread_mutex_lock(&queue_lock);
	p->stamp = ++next_stamp;
	p->referenced = 0;
	ring_push((struct queue_entry){ obj->id, p->index, p->stamp });
	pthread_mutex_unlock(&queue_lock);
}

/* Tries to evict the page of entry e. Returns true when a page left. */
static bool evict(const struct queue_entry *e)
{
	struct vm_kernel *k = vm_kernel();
	struct vm_object *obj = vm_object_lookup_id(e->id);
	if (obj == NULL)
		return false;                    /* terminated: entry is stale */
	pthread_mutex_lock(&obj->lock);
	vm_page_t *p = vm_page_lookup(&obj->pages, e->index);
	if (p == NULL || p->state != VM_PAGE_RESIDENT || p->stamp != e->stamp ||
	    obj->terminated) {
		pthread_mutex_unlock(&obj->lock);
		vm_object_release(obj);
		return false;
	}
	if (p->referenced) {
		/* Second chance: back to the tail. */
		p->referenced = 0;
		atomic_fetch_add_explicit(&k->reactivations, 1, memory_order_relaxed);
		pthread_mutex_lock(&queue_lock);
		ring_push(*e);
		pthread_mutex_unlock(&queue_lock);
		pthread_mutex_unlock(&obj->lock);
		vm_object_release(obj);
		return false;
	}
	if (obj->internal && p->precious) {
		/* The default pager gave it back: it could not store it. The
		 * page stays, out of the queue (vm_internal.c). */
		vm_internal_keep(obj);
		pthread_mutex_unlock(&obj->lock);
		vm_object_release(obj);
		return false;
	}
	struct vm_return_batch batch = { 0 };
	vm_waiter_list_t waiters = { 0 };
	bool dirty = p->dirty || !k->wp;
	if ((dirty || p->precious) && !obj->destroyed) {
		/* Writers now fault (and wait on the lock) until the punch. */
		vm_object_protect_pages(obj, e->index, 1);
		vm_return_collect(obj, e->index, 1, dirty, &batch);
		if (batch.failed) {
			/* Could not copy it out: keep it rather than lose it. */
			pthread_mutex_lock(&queue_lock);
			ring_push(*e);
			pthread_mutex_unlock(&queue_lock);
			pthread_mutex_unlock(&obj->lock);
			vm_object_release(obj);
			return false;
		}
	}
	vm_object_page_drop(obj, e->index, 1, &waiters);
	bool emptied = obj->nmaps == 0 && obj->resident == 0;
	/* The hand-off: a data_request for this page cannot overtake its
	 * data_return. */
	vm_object_send_handoff(obj);
	vm_return_send(obj, &batch, false);
	pthread_mutex_unlock(&obj->send_lock);
	vm_object_release_waiters(&waiters, KERN_SUCCESS);
	vm_waiter_list_free(&waiters);
	/* A cached object nobody maps lives until its last page goes. */
	if (emptied)
		vm_object_cache_trim(obj);
	vm_object_release(obj);
	return true;
}

/* Entries go stale when their page leaves other than by eviction (flush,
 * terminate). Without memory pressure nothing pops them, so now and then
 * the ring is filtered. (balance_lock held) */
static void compact(void)
{
	pthread_mutex_lock(&queue_lock);
	size_t n = ring_len;
	pthread_mutex_unlock(&queue_lock);
	struct queue_entry e;
	for (size_t i = 0; i < n && ring_pop(&e); i++) {
		struct vm_object *obj = vm_object_lookup_id(e.id);
		if (obj == NULL)
			continue;
		pthread_mutex_lock(&obj->lock);
		vm_page_t *p = vm_page_lookup(&obj->pages, e.index);
		if (p != NULL && p->state == VM_PAGE_RESIDENT && p->stamp == e.stamp) {
			pthread_mutex_lock(&queue_lock);
			ring_push(e);
			pthread_mutex_unlock(&queue_lock);
		}
		pthread_mutex_unlock(&obj->lock);
		vm_object_release(obj);
	}
}

void vm_pageout_balance(void)
{
	VM_ASSERT_NO_LOCKS();
	struct vm_kernel *k = vm_kernel();
	/* Pages the default pager could not take stay over the limit. */
	size_t active = vm_internal_counted();
	vm_internal_note_counted(active);
	pthread_mutex_lock(&queue_lock);
	bool stale = ring_len > STALE_FACTOR * active + STALE_SLACK;
	pthread_mutex_unlock(&queue_lock);
	if (stale) {
		pthread_mutex_lock(&balance_lock);
		compact();
		pthread_mutex_unlock(&balance_lock);
	}
	if (active <= k->resident_max)
		return;
	pthread_mutex_lock(&balance_lock);
	/* A little below the limit, so eviction runs in batches. */
	vm_size_t slack = k->resident_max / EVICT_SLACK_DIVISOR;
	if (slack > EVICT_SLACK_MAX)
		slack = EVICT_SLACK_MAX;
	vm_size_t target = k->resident_max - slack;
	/* Bounded: each entry is looked at about twice at most per call. */
	pthread_mutex_lock(&queue_lock);
	size_t budget = EVICT_PASSES * ring_len + EVICT_PASSES;
	pthread_mutex_unlock(&queue_lock);
	struct queue_entry e;
	while (vm_internal_counted() > target &&
	       budget-- > 0 && ring_pop(&e))
		evict(&e);
	pthread_mutex_unlock(&balance_lock);
}
