/* The page cache side of the answers to data_request: installing
 * supplied and zero-filled pages, failing pages. Runs in the manager's
 * thread (kobject handler). */
#include "vm/vm_pagein.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "os/os_signal.h"
#include "os/os_uffd.h"
#include "vm/vm_dirty.h"
#include "vm/vm_fault.h"
#include "vm/vm_kernel.h"
#include "vm/vm_object.h"
#include "vm/vm_pageout.h"
#include "vm/vm_stat.h"

void vm_object_release_waiters(vm_waiter_list_t *waiters, kern_return_t reason)
{
	struct vm_kernel *k = vm_kernel();
	for (size_t i = 0; i < waiters->count; i++) {
		vm_waiter_t *w = &waiters->items[i];
		vm_stat_fault_waited(w->since);
		uintptr_t page = w->address & ~(uintptr_t)k->page_mask;
		if (reason != KERN_SUCCESS && w->tid != 0)
			os_signal_sigbus(w->tid, w->address, reason);
		/* One wake per page and mapping is enough. */
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = (waiters->items[j].address & ~(uintptr_t)k->page_mask)
			       == page;
		if (!seen)
			os_uffd_wake(k->uffd, page, k->page_size);
	}
}

/* Moves page p's waiters to *waiters (obj locked). */
static void page_take_waiters(struct vm_object *obj, vm_page_t *p,
        vm_waiter_list_t *waiters)
{
	VM_ASSERT_LOCKED(&obj->lock);
	if (p->nwaiters == 0 || vm_page_take_waiters(p, waiters) == 0)
		return;
	/* No room to remember them: wake the page where it is mapped. */
	for (size_t m = 0; m < obj->nmaps; m++) {
		vm_offset_t off = p->index << vm_kernel()->page_shift;
		if (off >= obj->maps[m].offset &&
		    off - obj->maps[m].offset < obj->maps[m].size)
			os_uffd_wake(vm_kernel()->uffd,
			             obj->maps[m].start + off - obj->maps[m].offset,
			             vm_kernel()->page_size);
	}
	p->nwaiters = 0;
}

/* Marks page `index` resident (obj locked), collecting its waiters (or,
 * with waiters NULL, leaving them on the page for the caller to take). */
static void page_make_resident(struct vm_object *obj, uint64_t index,
        vm_prot_t lock_value, boolean_t precious, vm_waiter_list_t *waiters)
{
	VM_ASSERT_LOCKED(&obj->lock);
	vm_page_t *p = vm_page_lookup(&obj->pages, index);
	if (p == NULL)
		p = vm_page_insert(&obj->pages, index, VM_PAGE_RESIDENT);
	if (p == NULL)
		return;      /* out of memory: the page is in the memfd anyway */
	if (waiters != NULL)
		page_take_waiters(obj, p, waiters);
	p->state = VM_PAGE_RESIDENT;
	p->lock_value = (uint8_t)(lock_value & VM_PROT_ALL);
	p->precious = precious != FALSE;
	p->unlock_asked = 0;
	/* Asked for by a write the lock allows: install it dirty and
	 * writable, sparing the writer a WP fault. */
	p->dirty = p->want_write && !(lock_value & VM_PROT_WRITE);
	p->want_write = 0;
	vm_pageout_enqueue(obj, p);
	obj->resident++;
	atomic_fetch_add_explicit(&vm_kernel()->active, 1, memory_order_relaxed);
}

/* New pages map write-protected (clean) unless installed dirty. The
 * mappings' WP markers usually survive, but not where a page was mapped
 * writable when it left; so protect anew. (obj locked) */
static void install_protection(struct vm_object *obj, uint64_t first,
        uint64_t count)
{
	VM_ASSERT_LOCKED(&obj->lock);
	if (count == 0 || !vm_kernel()->wp)
		return;
	vm_object_protect_pages(obj, first, count);
	for (uint64_t i = 0; i < count; i++) {
		vm_page_t *p = vm_page_lookup(&obj->pages, first + i);
		if (p != NULL && p->state == VM_PAGE_RESIDENT && p->dirty)
			vm_object_unprotect_pages(obj, first + i, 1);
	}
}

/* Sets the write protection of pages [first, first+count) (how) in every
 * tracked view but `skip`. (obj locked) */
static void protect_views_except(struct vm_object *obj, uint64_t first,
        uint64_t count, const struct vm_object_mapping *skip, enum os_uffd_wp how)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	if (count == 0 || !k->wp)
		return;
	vm_offset_t lo = first << k->page_shift, hi = (first + count) << k->page_shift;
	for (size_t i = 0; i < obj->nmaps; i++) {
		const struct vm_object_mapping *m = &obj->maps[i];
		if (m == skip || m->copy || !m->wp)
			continue;
		vm_offset_t a = lo > m->offset ? lo : m->offset;
		vm_offset_t b = hi < m->offset + m->size ? hi : m->offset + m->size;
		if (a < b)
			os_uffd_writeprotect(k->uffd, m->start + (a - m->offset), b - a, how);
	}
}

/* Write-protects pages [first, first+count) in every tracked view but
 * `skip` (which UFFDIO_COPY_MODE_WP mapped protected already), then lifts
 * it from those installed dirty, as install_protection. (obj locked) */
static void install_protection_except(struct vm_object *obj, uint64_t first,
        uint64_t count, const struct vm_object_mapping *skip)
{
	VM_ASSERT_LOCKED(&obj->lock);
	if (skip == NULL) {
		install_protection(obj, first, count);
		return;
	}
	if (count == 0 || !vm_kernel()->wp)
		return;
	protect_views_except(obj, first, count, skip, OS_UFFD_WP_PROTECT);
	for (uint64_t i = 0; i < count; i++) {
		vm_page_t *p = vm_page_lookup(&obj->pages, first + i);
		if (p != NULL && p->state == VM_PAGE_RESIDENT && p->dirty)
			vm_object_unprotect_pages(obj, first + i, 1);
	}
}

/* UFFDIO_COPY, once it failed as unsupported (or its WP mode did), is not
 * tried again: pwrite + UFFDIO_WAKE serve instead. */
static atomic_bool copy_unsupported, copy_wp_unsupported;
static pthread_once_t copy_once = PTHREAD_ONCE_INIT;

/* MEMOBJ_UFFD_COPY=0 keeps every supply on the pwrite path (to compare,
 * and to test the fallback). */
static void copy_read_env(void)
{
	const char *env = getenv("MEMOBJ_UFFD_COPY");
	if (env != NULL && strcmp(env, "0") == 0)
		atomic_store(&copy_unsupported, true);
}

/* Where a supply went straight into a mapping: that view, its range, and
 * whether its waiters are woken by one wake of that range after the
 * object lock is dropped. */
struct supply_view {
	const struct vm_object_mapping *view;
	uintptr_t addr;
	size_t len;
	bool wp, woken;
	bool counted;        /* pageins and active were counted before the copy */
};

/* The shared view to copy pages [first, first+n) into: one showing them
 * all, the faulting thread's first; NULL when none does. *want_write: a
 * waiter of some page asked to write; *all_write: of every page. (obj
 * locked) */
static const struct vm_object_mapping *copy_view(struct vm_object *obj,
        uint64_t first, uint64_t n, bool *want_write, bool *all_write)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	vm_offset_t lo = first << k->page_shift, hi = (first + n) << k->page_shift;
	uintptr_t waiter = 0;
	*want_write = false;
	*all_write = true;
	for (uint64_t i = 0; i < n; i++) {
		vm_page_t *p = vm_page_lookup(&obj->pages, first + i);
		*all_write = *all_write && p != NULL && p->want_write;
		if (p == NULL)
			continue;
		if (p->want_write)
			*want_write = true;
		if (waiter == 0 && p->nwaiters > 0)
			waiter = p->first.address;
	}
	const struct vm_object_mapping *best = NULL;
	for (size_t i = 0; i < obj->nmaps; i++) {
		const struct vm_object_mapping *m = &obj->maps[i];
		if (m->copy || lo < m->offset || hi - m->offset > m->size)
			continue;
		if (waiter != 0 && waiter >= m->start && waiter - m->start < m->size)
			return m;
		if (best == NULL)
			best = m;
	}
	return best;
}

/* Puts n pages of data at page `first` into the cache. Straight into a
 * shared mapping with UFFDIO_COPY where that keeps every rule: the page
 * lands in the memfd (every view sees it) and is mapped in that view at
 * once (no refault, a whole cluster in one call), write-protected where
 * the view tracks writes. The copy never wakes anyone (DONTWAKE): a
 * thread woken under the object lock would find its page absent from the
 * table and its next fault would block on that lock; the caller wakes the
 * view's run once, after the unlock, unless a waiter asked to write (those
 * wait until their page is made writable). Not when
 * the lock withholds read (or execute in an executable view): such a page
 * must stay unmapped. Whatever the copy did not take goes in by pwrite.
 * 0 or -errno (obj locked). */
static int supply_install(struct vm_object *obj, uint64_t first, uint64_t n,
        const void *data, vm_prot_t lock_value, struct supply_view *woke)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	vm_offset_t offset = first << k->page_shift;
	size_t len = n << k->page_shift, copied = 0;
	bool want_write = false;     /* (or: no wake after the unlock) */
	bool all_write;
	const struct vm_object_mapping *m = NULL;
	bool locked = (lock_value & ~VM_PROT_ALL) == 0 &&
	              (lock_value & (VM_PROT_READ | VM_PROT_EXECUTE)) != 0;
	pthread_once(&copy_once, copy_read_env);
	/* vm_allocate memory (internal objects) too: the bus error that once
	 * kept it on pwrite was a late fault event's SIGBUS (vm_fault.c,
	 * vm_object_maps_address), not the copy. */
	if (k->uffd >= 0 && !locked &&
	    !atomic_load_explicit(&copy_unsupported, memory_order_relaxed))
		m = copy_view(obj, first, n, &want_write, &all_write);
	bool wp = m != NULL && m->wp && k->wp;
	if (wp && atomic_load_explicit(&copy_wp_unsupported, memory_order_relaxed))
		m = NULL;
	if (m != NULL) {
		uintptr_t dst = m->start + (offset - m->offset);
		/* Over the resident bound, pageout runs before anyone wakes. */
		if (atomic_load_explicit(&k->active, memory_order_relaxed) + n >
		    k->resident_max)
			want_write = true;
		/* Counted before the copy (undone if it fails), as when the
		 * copy itself woke the waiters; see data_supply. */
		if (!want_write) {
			atomic_fetch_add_explicit(&k->pageins, (unsigned)n, memory_order_relaxed);
			atomic_fetch_add_explicit(&k->active, (unsigned)n, memory_order_relaxed);
		}
		int err = os_uffd_copy(k->uffd, dst, data, len, wp, 1, &copied);
		if (err == 0) {
			*woke = (struct supply_view){ m, dst, len, wp, !want_write,
			                              !want_write };
			return 0;
		}
		if (!want_write) {
			atomic_fetch_sub_explicit(&k->pageins, (unsigned)n, memory_order_relaxed);
			atomic_fetch_sub_explicit(&k->active, (unsigned)n, memory_order_relaxed);
		}
		if (err == -EFAULT)
			return err;           /* the manager's data is unreadable */
		if (copied == 0 && (err == -EINVAL || err == -ENOTTY ||
		                    err == -EOPNOTSUPP || err == -ENOSYS)) {
			/* Not on this kernel (or not with WP): fall back, for good. */
			atomic_store_explicit(wp ? &copy_wp_unsupported : &copy_unsupported,
			                      true, memory_order_relaxed);
		}
		/* Pages already there (EEXIST), the view changing (ENOENT) or
		 * no memory for the copy: the rest by pwrite, which overwrites
		 * what it finds; every waiter is woken as before. */
		copied &= ~(size_t)k->page_mask;
		woke->view = m;
		woke->wp = false;
	}
	return vm_cache_write(&obj->cache, offset + copied,
	                      (const void *)((uintptr_t)data + copied), len - copied);
}

/* The view a supply of pages [first, first+n) is copied into, waking its
 * waiters in the same call (supply_direct), or NULL when that path does
 * not apply: no copy into a mapping (see supply_install), a waiter that
 * asked to write unless the whole run is installed dirty (else its page
 * is made writable before it runs), or the kernel over its resident
 * bound (pageout runs before anyone wakes). *dirty: every page waits for
 * a write the lock allows, so page_make_resident installs the run dirty
 * and it maps writable at once. (obj locked) */
static const struct vm_object_mapping *direct_view(struct vm_object *obj,
        uint64_t first, uint64_t n, vm_prot_t lock_value, bool *dirty)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	bool locked = (lock_value & ~VM_PROT_ALL) == 0 &&
	              (lock_value & (VM_PROT_READ | VM_PROT_EXECUTE)) != 0;
	pthread_once(&copy_once, copy_read_env);
	if (k->uffd < 0 || locked ||
	    atomic_load_explicit(&copy_unsupported, memory_order_relaxed) ||
	    atomic_load_explicit(&k->active, memory_order_relaxed) + n >
	    k->resident_max)
		return NULL;
	bool want_write, all_write;
	const struct vm_object_mapping *m = copy_view(obj, first, n, &want_write, &all_write);
	*dirty = all_write && !(lock_value & VM_PROT_WRITE);
	if (m == NULL || (want_write && !*dirty))
		return NULL;
	if (m->wp && k->wp &&
	    atomic_load_explicit(&copy_wp_unsupported, memory_order_relaxed))
		return NULL;
	return m;
}

/* supply_install's common case in one system call: the pages are made
 * resident in the table and protected in every other view first, then
 * one UFFDIO_COPY (without DONTWAKE) fills the cache, maps the run in
 * view m and wakes its waiters, as the last step under the lock (a
 * woken thread's next fault finds the lock free or about to be). A run
 * that write faults asked for, installed dirty, maps writable (no WP
 * mode) and is unprotected in the other views instead: the writer runs
 * on after that one call, where it took a copy, an unprotect and a wake. What
 * the copy leaves goes in by pwrite; pages neither takes go back to
 * REQUESTED. Returns how many pages, from `first`, are in; *woke says
 * which run the copy woke. Waiters of the installed pages are moved to
 * *waiters. (obj locked) */
static uint64_t supply_direct(struct vm_object *obj, uint64_t first,
        uint64_t n, const void *data, vm_prot_t lock_value, boolean_t precious,
        const struct vm_object_mapping *m, bool dirty, vm_waiter_list_t *waiters,
        struct supply_view *woke, int *errp)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	vm_offset_t offset = first << k->page_shift;
	size_t len = n << k->page_shift, copied = 0;
	bool wp = m->wp && k->wp && !dirty;
	uintptr_t dst = m->start + (offset - m->offset);
	for (uint64_t i = 0; i < n; i++)
		page_make_resident(obj, first + i, lock_value, precious, NULL);
	if (dirty)   /* dirty everywhere: writable in every view */
		protect_views_except(obj, first, n, m, OS_UFFD_WP_CLEAR_NOWAKE);
	else
		install_protection_except(obj, first, n, wp ? m : NULL);
	/* Counted before the wake: a woken thread finds its page counted. */
	atomic_fetch_add_explicit(&k->pageins, (unsigned)n, memory_order_relaxed);
	vm_fault_handoff_open(obj);
	int err = os_uffd_copy(k->uffd, dst, data, len, wp, 0, &copied);
	copied &= ~(size_t)k->page_mask;
	size_t mapped = copied;
	if (err != 0 && err != -EFAULT) {
		if (copied == 0 && (err == -EINVAL || err == -ENOTTY ||
		                    err == -EOPNOTSUPP || err == -ENOSYS))
			atomic_store_explicit(wp ? &copy_wp_unsupported : &copy_unsupported,
			                      true, memory_order_relaxed);
		/* Pages already there (EEXIST), the view changing (ENOENT), no
		 * memory: the rest by pwrite, their waiters woken after. */
		err = vm_cache_write(&obj->cache, offset + copied,
		                     (const void *)((uintptr_t)data + copied),
		                     len - copied);
		if (err == 0) {
			/* View m was left to the copy's WP mode: protect what
			 * pwrite put in, in it too. */
			if (wp)
				install_protection(obj, first + (mapped >> k->page_shift),
				                   n - (mapped >> k->page_shift));
			copied = len;
		}
	}
	uint64_t done = copied >> k->page_shift;
	for (uint64_t i = 0; i < n; i++) {
		vm_page_t *p = vm_page_lookup(&obj->pages, first + i);
		if (p == NULL)
			continue;
		if (i < done) {
			page_take_waiters(obj, p, waiters);
			continue;
		}
		/* Not in the cache after all: requested again, with its
		 * waiters, for data_error to fail. */
		p->state = VM_PAGE_REQUESTED;
		obj->resident--;
		atomic_fetch_sub_explicit(&k->active, 1, memory_order_relaxed);
	}
	if (done < n) {
		atomic_fetch_sub_explicit(&k->pageins, (unsigned)(n - done),
		                          memory_order_relaxed);
		vm_cache_punch(&obj->cache, offset + (done << k->page_shift),
		               (n - done) << k->page_shift);
	}
	/* The copy woke the waiters of what it mapped (with EFAULT, the
	 * prefix it copied before the unreadable byte). */
	*woke = (struct supply_view){ m, dst, mapped, wp, false, false };
	*errp = err;
	return done;
}

/* Drops from *w the waiters one wake of the copied run serves (their
 * page is mapped in [addr, addr+len)), counting their wait as release
 * would. */
static void drop_woken_waiters(vm_waiter_list_t *w, uintptr_t addr, size_t len)
{
	size_t kept = 0;
	for (size_t i = 0; i < w->count; i++) {
		if (!(w->items[i].address >= addr && w->items[i].address - addr < len))
			w->items[kept++] = w->items[i];
		else
			vm_stat_fault_waited(w->items[i].since);
	}
	w->count = kept;
}

kern_return_t vm_object_data_supply(struct vm_object *obj, vm_offset_t offset,
        const void *data, vm_size_t length, vm_prot_t lock_value,
        boolean_t precious, vm_offset_t *error_offset)
{
	VM_ASSERT_UNLOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	*error_offset = 0;
	if (offset & k->page_mask) {
		*error_offset = offset;
		return KERN_INVALID_ARGUMENT;
	}
	uint64_t first = offset >> k->page_shift;
	uint64_t npages = length >> k->page_shift;   /* partial page dropped */
	vm_waiter_list_t waiters = { 0 };
	kern_return_t kr = KERN_SUCCESS;
	vm_size_t failed = 0;            /* bytes the cache could not take */

	pthread_mutex_lock(&obj->lock);
	if (obj->terminated) {
		pthread_mutex_unlock(&obj->lock);
		return KERN_SUCCESS;
	}
	/* A read lock (or an execute lock, where a mapping is executable)
	 * is enforced by minor faults: register before the page lands in
	 * the cache, where it would map at kernel speed. */
	vm_object_note_lock(obj, lock_value);
	/* Pages outside every mapping go into the cache too (a later
	 * vm_map finds them), as the OSF kernel's did: grow it to take them.
	 * What it cannot take (past 2^64 or the cache's limit) is refused. */
	uint64_t fit = npages;
	if (offset > (vm_offset_t)-1 - (npages << k->page_shift))
		fit = ((vm_offset_t)-1 - offset) >> k->page_shift;
	vm_offset_t end = offset + (fit << k->page_shift);
	if (end > obj->memfd_size) {
		if (vm_cache_grow(&obj->cache, end, false) == 0)
			obj->memfd_size = end;
		else if (offset < obj->memfd_size)
			fit = (obj->memfd_size - offset) >> k->page_shift;
		else
			fit = 0;
	}
	/* Install up to the first page already resident (or one the cache
	 * cannot take); refuse that page and the rest. */
	uint64_t n = 0;
	for (; n < npages; n++) {
		if (n >= fit) {
			kr = KERN_INVALID_ARGUMENT;
			break;
		}
		vm_page_t *p = vm_page_lookup(&obj->pages, first + n);
		if (p != NULL && p->state == VM_PAGE_RESIDENT) {
			kr = KERN_MEMORY_PRESENT;
			break;
		}
	}
	if (kr != KERN_SUCCESS)
		*error_offset = offset + (n << k->page_shift);
	/* A memfd cannot take pages by reference: the data is copied in,
	 * straight into a mapping when it can be (UFFDIO_COPY), else with one
	 * pwrite; the manager's copy goes away with the message. */
	struct supply_view woke = { 0 };
	bool dirty = false;
	const struct vm_object_mapping *direct =
	        n > 0 ? direct_view(obj, first, n, lock_value, &dirty) : NULL;
	if (direct != NULL) {
		int err = 0;
		uint64_t done = supply_direct(obj, first, n, data, lock_value,
		                              precious, direct, dirty, &waiters, &woke, &err);
		if (done < n) {
			kr = err == -EFAULT ? KERN_INVALID_ADDRESS : KERN_RESOURCE_SHORTAGE;
			*error_offset = offset + (done << k->page_shift);
			failed = (n - done) << k->page_shift;
		}
		pthread_mutex_unlock(&obj->lock);
		drop_woken_waiters(&waiters, woke.addr, woke.len);
		vm_pageout_balance();
		vm_object_release_waiters(&waiters, KERN_SUCCESS);
		vm_waiter_list_free(&waiters);
		if (failed != 0)
			vm_object_data_error(obj, offset + (done << k->page_shift),
			                     failed, KERN_MEMORY_ERROR);
		vm_fault_handoff_drain(obj);
		return kr;
	}
	if (n > 0) {
		int err = supply_install(obj, first, n, data, lock_value, &woke);
		if (err != 0) {
			/* Drop what a partial write left: those pages were not
			 * resident, and must fault again. */
			vm_cache_punch(&obj->cache, offset, n << k->page_shift);
			kr = err == -EFAULT ? KERN_INVALID_ADDRESS
			                    : KERN_RESOURCE_SHORTAGE;
			*error_offset = offset;
			failed = n << k->page_shift;
			n = 0;
		}
	}
	for (uint64_t i = 0; i < n; i++)
		page_make_resident(obj, first + i, lock_value, precious, &waiters);
	install_protection_except(obj, first, n, woke.wp ? woke.view : NULL);
	pthread_mutex_unlock(&obj->lock);
	if (woke.counted)   /* page_make_resident counted active once more */
		atomic_fetch_sub_explicit(&k->active, (unsigned)n, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&k->pageins, (unsigned)n, memory_order_relaxed);
	/* The run is resident in the table and protected in every view:
	 * one wake lets its waiters (and any thread faulting there whose
	 * event is not read yet) run without meeting the object lock. */
	if (woke.woken) {
		os_uffd_wake(k->uffd, woke.addr, woke.len);
		drop_woken_waiters(&waiters, woke.addr, woke.len);
	}

	/* Evict before waking: a woken thread finds the kernel within its
	 * bound. The new pages are the queue's youngest. */
	vm_pageout_balance();
	vm_object_release_waiters(&waiters, KERN_SUCCESS);
	vm_waiter_list_free(&waiters);
	/* Threads waiting for pages the cache refused (no memory, a file
	 * size limit, unreadable data) would wait forever: a memory error. */
	if (failed != 0)
		vm_object_data_error(obj, offset, failed, KERN_MEMORY_ERROR);
	return kr;
}

/* Clips [offset, offset+size) to whole pages inside the object's extent;
 * false when nothing is left. (obj locked) */
static bool clip_range(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, uint64_t *first, uint64_t *count)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	vm_offset_t start = vm_trunc_page(k, offset);
	if (offset > (vm_offset_t)-1 - size || start >= obj->memfd_size)
		return false;
	vm_offset_t end = offset + size;
	if (end > obj->memfd_size)
		end = obj->memfd_size;
	if (vm_round_overflows(k, end))
		return false;
	end = vm_round_page(k, end);
	*first = start >> k->page_shift;
	*count = (end - start) >> k->page_shift;
	return *count > 0;
}

/* Collects the indices of requested pages in [lo, hi) (vm_page_foreach). */
struct requested_in_range {
	uint64_t lo, hi;
	uint64_t *indices;
	size_t count, cap;
};

static void requested_in_range(vm_page_t *p, void *arg)
{
	struct requested_in_range *r = arg;
	if (p->state != VM_PAGE_REQUESTED || p->index < r->lo || p->index >= r->hi)
		return;
	if (r->count == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		uint64_t *v = realloc(r->indices, cap * sizeof *v);
		if (v == NULL)
			return;          /* out of memory: those waiters keep waiting
			                  * for the manager's next answer */
		r->indices = v;
		r->cap = cap;
	}
	r->indices[r->count++] = p->index;
}

void vm_object_data_unavailable(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size)
{
	VM_ASSERT_UNLOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	vm_waiter_list_t waiters = { 0 };
	uint64_t first, count, filled = 0;
	uint64_t failed_lo = UINT64_MAX, failed_hi = 0;   /* pages not zeroed */
	pthread_mutex_lock(&obj->lock);
	if (!obj->terminated && clip_range(obj, offset, size, &first, &count)) {
		/* Over a range wider than the page table (the extent can reach
		 * far out), zero only the requested pages: zeroing every
		 * offset would cost by the range, not by the pages. */
		struct requested_in_range r = { first, first + count, NULL, 0, 0 };
		bool sparse = count > obj->pages.count;
		if (sparse)
			vm_page_foreach(&obj->pages, requested_in_range, &r);
		uint64_t n = sparse ? r.count : count;
		for (uint64_t j = 0; j < n; j++) {
			uint64_t i = (sparse ? r.indices[j] : first + j) - first;
			vm_page_t *p = vm_page_lookup(&obj->pages, first + i);
			if (p != NULL && p->state == VM_PAGE_RESIDENT)
				continue;
			if (vm_cache_zero(&obj->cache, (first + i) << k->page_shift,
			                  k->page_size) != 0) {
				if (failed_lo == UINT64_MAX)
					failed_lo = first + i;
				failed_hi = first + i + 1;
				continue;
			}
			page_make_resident(obj, first + i, VM_PROT_NONE, FALSE,
			                   &waiters);
			install_protection(obj, first + i, 1);
			filled++;
		}
		free(r.indices);
	}
	pthread_mutex_unlock(&obj->lock);
	atomic_fetch_add_explicit(&k->zero_fills, (unsigned)filled,
	                          memory_order_relaxed);
	vm_pageout_balance();
	vm_object_release_waiters(&waiters, KERN_SUCCESS);
	vm_waiter_list_free(&waiters);
	/* Pages that could not be zeroed in the cache: their waiters get a
	 * memory error rather than wait forever (the rest of the span is
	 * resident, which data_error leaves alone). */
	if (failed_lo != UINT64_MAX)
		vm_object_data_error(obj, failed_lo << k->page_shift,
		                     (failed_hi - failed_lo) << k->page_shift,
		                     KERN_MEMORY_ERROR);
}

void vm_object_data_error(struct vm_object *obj, vm_offset_t offset,
        vm_size_t size, kern_return_t reason)
{
	VM_ASSERT_UNLOCKED(&obj->lock);
	vm_waiter_list_t waiters = { 0 };
	uint64_t first, count;
	pthread_mutex_lock(&obj->lock);
	if (!obj->terminated && clip_range(obj, offset, size, &first, &count)) {
		/* Only requested pages matter: over a range wider than the
		 * table (the extent can reach far out), visit the table. */
		struct requested_in_range r = { first, first + count, NULL, 0, 0 };
		if (count > obj->pages.count)
			vm_page_foreach(&obj->pages, requested_in_range, &r);
		uint64_t n = count > obj->pages.count ? r.count : count;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t index = r.indices != NULL ? r.indices[i] : first + i;
			vm_page_t *p = vm_page_lookup(&obj->pages, index);
			if (p == NULL || p->state != VM_PAGE_REQUESTED)
				continue;
			vm_page_take_waiters(p, &waiters);
			/* Absent again: a retried access asks the manager anew. */
			vm_page_remove(&obj->pages, index);
		}
		free(r.indices);
	}
	pthread_mutex_unlock(&obj->lock);
	if (reason == KERN_SUCCESS)
		reason = KERN_MEMORY_ERROR;
	vm_object_release_waiters(&waiters, reason);
	vm_waiter_list_free(&waiters);
}
