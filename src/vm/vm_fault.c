/* Fault readers: the fault thread, and manager threads sleeping in
 * mach_msg, read userfaultfd events and turn a fault on an absent page
 * into memory_object_data_request (or a wait, or a wake). */
#include "vm/vm_fault.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "emmi/object_user.h"
#include "ipc/ipc_kernel.h"
#include "os/os_signal.h"
#include "os/os_uffd.h"
#include "vm/vm_dirty.h"
#include "vm/vm_internal.h"
#include "vm/vm_kernel.h"
#include "vm/vm_manager_death.h"
#include "vm/vm_map_entry.h"
#include "vm/vm_object.h"
#include "vm/vm_pagein.h"

static bool page_absent(struct vm_object *obj, uint64_t index)
{
	return vm_page_lookup(&obj->pages, index) == NULL &&
	       vm_object_offset_mapped(obj, index << vm_kernel()->page_shift);
}

/* A write through a copy mapping lands in its private page, not the
 * cache: it must not make the object page dirty. (obj locked) */
static bool in_shared_view(struct vm_object *obj, uintptr_t address)
{
	for (size_t i = 0; i < obj->nmaps; i++)
		if (address >= obj->maps[i].start &&
		    address - obj->maps[i].start < obj->maps[i].size)
			return !obj->maps[i].copy;
	return false;
}

bool vm_object_maps_address(struct vm_object *obj, uintptr_t address)
{
	for (size_t i = 0; i < obj->nmaps; i++)
		if (address >= obj->maps[i].start &&
		    address - obj->maps[i].start < obj->maps[i].size)
			return true;
	return false;
}

static int queue_pending(struct vm_object *obj, vm_offset_t offset,
        vm_size_t length, vm_prot_t access)
{
	if (obj->npending == obj->pending_cap) {
		size_t cap = obj->pending_cap ? obj->pending_cap * 2 : 8;
		struct vm_pending_request *p = realloc(obj->pending, cap * sizeof *p);
		if (p == NULL)
			return -1;
		obj->pending = p;
		obj->pending_cap = cap;
	}
	obj->pending[obj->npending++] =
		(struct vm_pending_request){ offset, length, access };
	return 0;
}

/* Faults taken before the manager's first change_attributes were queued
 * as one-page requests (the cluster size was not known yet). Once it is,
 * each grows to the run of absent, mapped pages around it inside its
 * cluster, as a fault now would: a page joins only if still absent, so no
 * page is asked for twice. (obj locked) */
void vm_object_widen_pending(struct vm_object *obj)
{
	struct vm_kernel *k = vm_kernel();
	uint64_t cluster = obj->cluster_size >> k->page_shift;
	for (size_t i = 0; i < obj->npending; i++) {
		struct vm_pending_request *r = &obj->pending[i];
		uint64_t lo = r->offset >> k->page_shift;
		uint64_t hi = lo + (r->length >> k->page_shift);
		uint64_t base = lo - lo % cluster;
		while (lo > base && page_absent(obj, lo - 1) &&
		       vm_page_insert(&obj->pages, lo - 1, VM_PAGE_REQUESTED) != NULL)
			lo--;
		while (hi < base + cluster && page_absent(obj, hi) &&
		       vm_page_insert(&obj->pages, hi, VM_PAGE_REQUESTED) != NULL)
			hi++;
		r->offset = lo << k->page_shift;
		r->length = (hi - lo) << k->page_shift;
	}
}

/* Read-ahead requests one fault may add, at most. */
enum { RA_MAX_REQUESTS = 64 };

/* After a fault whose request is the run [lo, hi): when it continues the
 * previous one (sequential), plans the read-ahead requests for the
 * clusters after it, 1, 2, 4... up to the object's window, marking their
 * pages REQUESTED as a fault would (so none is asked twice); a fault
 * elsewhere stops it. Returns how many requests are in out. (obj locked) */
static size_t readahead_plan(struct vm_object *obj, uint64_t lo, uint64_t hi,
        struct vm_pending_request *out)
{
	struct vm_kernel *k = vm_kernel();
	bool sequential = lo <= obj->ra_expect && obj->ra_expect <= hi;
	obj->ra_expect = hi;
	if (!sequential) {
		obj->ra_window = 0;
		return 0;
	}
	uint64_t cluster = obj->cluster_size >> k->page_shift;
	uint64_t cap = obj->ra_max / obj->cluster_size;
	if (cap < 1)
		cap = 1;
	if (cap > RA_MAX_REQUESTS)
		cap = RA_MAX_REQUESTS;
	uint32_t window = obj->ra_window ? obj->ra_window * 2 : 1;
	if (window > cap)
		window = (uint32_t)cap;
	obj->ra_window = window;
	size_t n = 0;
	uint64_t pos = hi;
	while (n < window) {
		uint64_t start = pos, end = pos - pos % cluster + cluster;
		while (pos < end && page_absent(obj, pos) &&
		       vm_page_insert(&obj->pages, pos, VM_PAGE_REQUESTED) != NULL)
			pos++;
		if (pos == start)
			break;           /* present, requested, unmapped, or no memory */
		out[n++] = (struct vm_pending_request){ start << k->page_shift,
		        (pos - start) << k->page_shift, VM_PROT_READ };
		obj->ra_pages += (uint32_t)(pos - start);
		if (pos < end)
			break;
	}
	obj->ra_requests += (uint32_t)n;
	/* The next sequential fault comes where the read-ahead ends. */
	obj->ra_expect = pos;
	return n;
}

void vm_object_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid, int write)
{
	struct vm_kernel *k = vm_kernel();
	uintptr_t page_addr = address & ~(uintptr_t)k->page_mask;
	uint64_t index = offset >> k->page_shift;

	pthread_mutex_lock(&obj->lock);
	if (obj->dead || obj->terminated) {
		bool mapped = vm_object_maps_address(obj, address);
		pthread_mutex_unlock(&obj->lock);
		if (tid != 0 && mapped)
			os_signal_sigbus(tid, address, KERN_MEMORY_ERROR);
		os_uffd_wake(k->uffd, page_addr, k->page_size);
		return;
	}
	vm_page_t *p = vm_page_lookup(&obj->pages, index);
	if (p != NULL) {
		if (p->state == VM_PAGE_RESIDENT) {
			/* Installed after the fault was raised. */
			pthread_mutex_unlock(&obj->lock);
			os_uffd_wake(k->uffd, page_addr, k->page_size);
		} else {
			/* Already asked for: wait for the same answer. */
			if (vm_page_add_waiter(p, tid, address) != 0) {
				/* Out of memory: unrecorded, it would miss a
				 * SIGBUS; woken, it faults again. */
				pthread_mutex_unlock(&obj->lock);
				os_uffd_wake(k->uffd, page_addr, k->page_size);
				return;
			}
			p->want_write |= write != 0 && in_shared_view(obj, address);
			pthread_mutex_unlock(&obj->lock);
		}
		return;
	}
	/* Absent: ask for the run of absent, mapped pages around it inside
	 * its cluster. */
	uint64_t cluster = obj->cluster_size >> k->page_shift;
	uint64_t base = index - index % cluster;
	uint64_t lo = index, hi = index + 1;
	while (lo > base && page_absent(obj, lo - 1))
		lo--;
	while (hi < base + cluster && page_absent(obj, hi))
		hi++;
	for (uint64_t i = lo; i < hi; i++)
		if (vm_page_insert(&obj->pages, i, VM_PAGE_REQUESTED) == NULL) {
			/* Out of memory: ask for what is recorded. */
			if (i <= index) {
				pthread_mutex_unlock(&obj->lock);
				os_uffd_wake(k->uffd, page_addr, k->page_size);
				return;          /* the thread retries */
			}
			hi = i;
			break;
		}
	p = vm_page_lookup(&obj->pages, index);
	/* Cannot fail: the page was just inserted, and a first waiter needs
	 * no allocation. */
	(void)vm_page_add_waiter(p, tid, address);
	/* Installed for a write, it goes in already dirty: no WP fault. */
	p->want_write = write != 0 && in_shared_view(obj, address);
	vm_offset_t req_offset = lo << k->page_shift;
	vm_size_t req_length = (hi - lo) << k->page_shift;
	vm_prot_t access = write ? (VM_PROT_READ | VM_PROT_WRITE) : VM_PROT_READ;
	if (!obj->ready) {
		/* The manager has not said change_attributes yet. */
		if (queue_pending(obj, req_offset, req_length, access) != 0) {
			for (uint64_t i = lo; i < hi; i++)
				vm_page_remove(&obj->pages, i);
			pthread_mutex_unlock(&obj->lock);
			os_uffd_wake(k->uffd, page_addr, k->page_size);
			return;
		}
		pthread_mutex_unlock(&obj->lock);
		return;
	}
	/* Asked ahead only by a manager that opted in (not for vm_allocate
	 * memory, whose pages may be answered here). */
	struct vm_pending_request ahead[RA_MAX_REQUESTS];
	size_t nahead = obj->ra_max && !obj->internal
	        ? readahead_plan(obj, lo, hi, ahead) : 0;
	vm_object_send_handoff(obj);
	if (obj->internal && vm_internal_never_out(obj, req_offset, req_length)) {
		/* The default pager never had these pages: zeros, here. */
		pthread_mutex_unlock(&obj->send_lock);
		vm_object_data_unavailable(obj, req_offset, req_length);
		return;
	}
	mach_msg_return_t mr = emmi_send_data_request(obj->object_k,
	        obj->control_k, req_offset, req_length, access);
	for (size_t i = 0; i < nahead && mr == MACH_MSG_SUCCESS; i++)
		mr = emmi_send_data_request(obj->object_k, obj->control_k,
		        ahead[i].offset, ahead[i].length, ahead[i].access);
	pthread_mutex_unlock(&obj->send_lock);
	if (mr != MACH_MSG_SUCCESS)
		vm_object_manager_died(obj);
}

static void dispatch_fault(struct vm_object *obj, vm_offset_t offset,
        const os_uffd_fault_t *f)
{
	if (f->kind == OS_UFFD_FAULT_WP)
		vm_object_wp_fault(obj, offset, f->address, f->tid);
	else if (f->kind == OS_UFFD_FAULT_MINOR)
		vm_object_minor_fault(obj, offset, f->address, f->tid, f->write);
	else
		vm_object_fault(obj, offset, f->address, f->tid, f->write);
}

/* Hand-offs (docs/architecture.md, "The install"). A supply whose copy
 * wakes the faulting thread holds the object lock as it does; that
 * thread's next fault, read by another reader meanwhile, would block on
 * the lock (a futex wait and wake, a context switch). Instead the reader
 * queues the fault to the supplier, which serves it once unlocked: the
 * data_request it sends then lands in the queue it receives from next.
 * The list head is one word: 0 closed (readers take the lock as usual),
 * 1 open and empty, else the last fault queued; a push is a CAS on a
 * head that is not 0 and the drain swaps in 0, so every fault queued is
 * drained by the thread that opened. */
enum { HANDOFF_CLOSED = 0, HANDOFF_OPEN = 1 };

struct fault_handoff {
	uintptr_t next;              /* the head it replaced */
	os_uffd_fault_t fault;
	vm_offset_t offset;
};

void vm_fault_handoff_open(struct vm_object *obj)
{
	VM_ASSERT_LOCKED(&obj->lock);
	uintptr_t closed = HANDOFF_CLOSED;
	atomic_compare_exchange_strong(&obj->handoff, &closed, HANDOFF_OPEN);
}

/* Queues f to the thread that opened obj; false when it is closed (or
 * there is no memory): the caller serves f itself. The reference on obj
 * goes with it. */
static bool handoff_push(struct vm_object *obj, vm_offset_t offset,
        const os_uffd_fault_t *f)
{
	uintptr_t head = atomic_load_explicit(&obj->handoff, memory_order_acquire);
	if (head == HANDOFF_CLOSED)
		return false;
	struct fault_handoff *h = malloc(sizeof *h);
	if (h == NULL)
		return false;
	h->fault = *f;
	h->offset = offset;
	do {
		if (head == HANDOFF_CLOSED) {
			free(h);
			return false;
		}
		h->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&obj->handoff, &head,
	        (uintptr_t)h, memory_order_acq_rel, memory_order_acquire));
	return true;
}

void vm_fault_handoff_drain(struct vm_object *obj)
{
	VM_ASSERT_UNLOCKED(&obj->lock);
	uintptr_t v = atomic_exchange_explicit(&obj->handoff, HANDOFF_CLOSED,
	                                       memory_order_acq_rel);
	/* Pushed last first: reversed, they are served in the order read. */
	struct fault_handoff *list = NULL;
	while (v > HANDOFF_OPEN) {
		struct fault_handoff *h = (struct fault_handoff *)v;
		v = h->next;
		h->next = (uintptr_t)list;
		list = h;
	}
	while (list != NULL) {
		struct fault_handoff *h = list;
		list = (struct fault_handoff *)h->next;
		dispatch_fault(obj, h->offset, &h->fault);
		vm_object_release(obj);   /* the reader's reference */
		free(h);
	}
}

static void handle_fault(struct vm_kernel *k, const os_uffd_fault_t *f)
{
	vm_offset_t offset;
	struct vm_object *obj = vm_map_lookup_object(f->address, &offset);
	if (obj == NULL) {
		/* Unmapped meanwhile: let the thread retry and see. */
		os_uffd_wake(k->uffd, f->address & ~(uintptr_t)(k->system_page_size - 1),
		             k->system_page_size);
		return;
	}
	atomic_fetch_add_explicit(&k->faults, 1, memory_order_relaxed);
	if (handoff_push(obj, offset, f))
		return;
	dispatch_fault(obj, offset, f);
	vm_object_release(obj);
}

enum { BATCH = 16 };

static void serve_faults(struct vm_kernel *k)
{
	os_uffd_fault_t faults[BATCH];
	int n = os_uffd_read_faults(k->uffd, faults, BATCH);
	for (int i = 0; i < n; i++)
		handle_fault(k, &faults[i]);
}

/* Fault readers (docs/architecture.md, "One hand-off per fault"). A
 * manager thread about to sleep in mach_msg on an object port sleeps on
 * the userfaultfd too, and serves the faults that come: the data_request
 * it sends lands in the queue it then receives from, so a fault costs one
 * hand-off (faulting thread -> manager) instead of two. Each event wakes
 * one waiting reader, the earliest registered first; the fault thread's
 * entry is kept last, so it serves only the faults that come while no
 * manager is waiting. A reader (epoll set + eventfd) belongs to one thread
 * at a time; a thread's goes back to the free list when it exits, so
 * threads that come and go do not use up descriptors. */
struct fault_reader {
	int epfd, wake_fd;
	struct fault_reader *next;
};

static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fault_reader *free_readers;
static int fault_thread_epfd = -1;
/* Set before the hook: the hook runs under the IPC lock, maybe while
 * kernel start (vm_kernel()'s pthread_once) is still going on. */
static struct vm_kernel *readers_kernel;
static pthread_key_t reader_key;
static _Thread_local struct fault_reader *self_reader;

static void reader_exit(void *arg)
{
	struct fault_reader *r = arg;
	pthread_mutex_lock(&readers_lock);
	r->next = free_readers;
	free_readers = r;
	pthread_mutex_unlock(&readers_lock);
}

/* (ipc_idle_hook) Called once per thread, under the IPC lock. */
static int reader_wake_fd(void)
{
	struct vm_kernel *k = readers_kernel;
	pthread_mutex_lock(&readers_lock);
	struct fault_reader *r = free_readers;
	if (r != NULL) {
		free_readers = r->next;
	} else if ((r = malloc(sizeof *r)) != NULL) {
		r->epfd = os_uffd_reader_open(k->uffd, &r->wake_fd);
		if (r->epfd < 0) {
			free(r);             /* no descriptor: sleep as before */
			r = NULL;
		} else if (fault_thread_epfd >= 0) {
			(void)os_uffd_reader_requeue(fault_thread_epfd, k->uffd);
		}
	}
	pthread_mutex_unlock(&readers_lock);
	if (r == NULL || pthread_setspecific(reader_key, r) != 0) {
		if (r != NULL)
			reader_exit(r);
		return -1;
	}
	self_reader = r;
	return r->wake_fd;
}

/* (ipc_idle_hook) No IPC lock held. */
static int reader_wait(const struct timespec *deadline)
{
	int ready = os_uffd_reader_wait(self_reader->epfd, deadline);
	return ready < 0 ? -1 : (ready & OS_UFFD_READY_FAULT) ? 1 : 0;
}

static void reader_serve(void)
{
	serve_faults(readers_kernel);
}

/* (ipc_idle_hook) For the net layer's hook, which waits for faults
 * too when a receive's port is also fed by links (the DSM manager's). */
static int reader_fault_fd(void)
{
	return readers_kernel->uffd;
}

static void reader_requeue(void)
{
	pthread_mutex_lock(&readers_lock);
	/* Failing, the fault thread is not last in line: it may take a
	 * fault another reader would have (one hand-off more, no loss). */
	if (fault_thread_epfd >= 0)
		(void)os_uffd_reader_requeue(fault_thread_epfd, readers_kernel->uffd);
	pthread_mutex_unlock(&readers_lock);
}

static const struct ipc_idle_hook reader_hook = {
	.wake_fd = reader_wake_fd,
	.wait = reader_wait,
	.serve = reader_serve,
	.wake = os_uffd_reader_wake,
	.fault_fd = reader_fault_fd,
	.requeue = reader_requeue,
};

/* MEMOBJ_FAULT_READER=0: only the fault thread reads faults. */
static bool fault_readers_wanted(void)
{
	const char *v = getenv("MEMOBJ_FAULT_READER");
	return v == NULL || strcmp(v, "0") != 0;
}

void vm_fault_readers_start(struct vm_kernel *k)
{
	readers_kernel = k;
	pthread_mutex_lock(&readers_lock);
	int epfd = os_uffd_reader_open(k->uffd, NULL);
	fault_thread_epfd = epfd;
	pthread_mutex_unlock(&readers_lock);
	if (epfd >= 0 && fault_readers_wanted() &&
	    pthread_key_create(&reader_key, reader_exit) == 0)
		ipc_set_idle_hook(&reader_hook);
}

void *vm_fault_thread(void *arg)
{
	struct vm_kernel *k = arg;
	os_signal_block_all();
	int epfd = fault_thread_epfd;
	for (;;) {
		int ready = epfd >= 0 ? os_uffd_reader_wait(epfd, NULL)
		                      : os_uffd_wait(k->uffd) == 0 ? 1 : 0;
		if (ready > 0)
			serve_faults(k);
	}
	return NULL;
}
