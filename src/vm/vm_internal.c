/* Internal memory and the default pager, kernel side (SPEC 2.3, 3.10).
 *
 * vm_allocate memory is a private anonymous mapping: its first touch is an
 * ordinary kernel fault, no userfaultfd. A pageout thread, started once a
 * default manager is registered, counts the resident pages of those
 * ranges (mincore) with the object pages (vm_kernel.active); when the sum
 * exceeds MEMOBJ_RESIDENT_MAX it turns the range with the most resident
 * pages into an internal object, the way a Mach kernel gives an internal
 * object its pager on first pageout:
 *
 *   1. map write-locked (faults wait in the fault thread's map lookup);
 *      the range is registered MISSING|WP and write-protected whole, so
 *      no write can slip past the copy;
 *   2. its pages holding data (/proc/self/pagemap: present or swapped)
 *      are copied into a new memfd cache, whole kernel pages;
 *   3. memory_object_create(default_pager, object, size, control,
 *      page_size) goes out (the object port's receive right moves to the
 *      default pager; the object is ready at once);
 *   4. the memfd is mapped over the range and registered as any object
 *      mapping; the copied pages enter the cache resident and dirty, in
 *      the pageout queue; the map entry now names the object.
 *
 * From then on the object pages like any other (vm_pageout.c); the first
 * time a page goes out it travels in memory_object_data_initialize, then
 * in data_return (vm_internal_send_run); a fault on an absent page is a
 * data_request to the default pager. With no default manager, internal
 * memory is never paged out.
 *
 * The pageout thread polls (every INTERNAL_SCAN_NS) only while internal
 * memory could take the kernel over the limit: a default manager is
 * registered and the anonymous entries' whole size plus the counted
 * object pages exceed MEMOBJ_RESIDENT_MAX (a first touch is invisible,
 * so then it must look). Otherwise it sleeps with no timeout until the
 * map changes (vm_internal_map_changed), a manager is registered, or the
 * object pages grow past what would arm it (vm_internal_note_counted). */
#include "vm/vm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emmi/object_notify.h"
#include "emmi/object_user.h"
#include "ipc/ipc_kernel.h"
#include "os/os_log.h"
#include "os/os_mem.h"
#include "os/os_page_pool.h"
#include "os/os_pagemap.h"
#include "os/os_signal.h"
#include "os/os_uffd.h"
#include "vm/vm_cache.h"
#include "vm/vm_dirty.h"
#include "vm/vm_kernel.h"
#include "vm/vm_manager_death.h"
#include "vm/vm_map_entry.h"
#include "vm/vm_object.h"
#include "vm/vm_pageout.h"
#include "vm/vm_return.h"

/* How often the pageout thread looks at internal memory. */
#define INTERNAL_SCAN_NS (10 * 1000 * 1000)
/* Page-in cluster of an internal object when the default manager was
 * registered without one. */
#define INTERNAL_CLUSTER ((vm_size_t)32 * 1024)

static pthread_once_t internal_once = PTHREAD_ONCE_INIT;
static atomic_bool keep_warned;

/* The pageout thread's sleep (above). */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static atomic_bool idle;                 /* waiting, no timeout */
static atomic_ulong map_generation;      /* bumped by every change */
static atomic_size_t idle_wake_at;       /* counted pages that arm it */
static atomic_ulong idle_generation;     /* the map it went to sleep on */
static atomic_ullong wakeups;

struct candidate {
	uintptr_t start, end;
	long resident;                   /* kernel pages */
};

static int by_resident_desc(const void *a, const void *b)
{
	long x = ((const struct candidate *)a)->resident;
	long y = ((const struct candidate *)b)->resident;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The anonymous, readable entries and their resident pages; *size gets
 * the kernel pages they span, resident or not. */
static struct candidate *scan(size_t *count, long *total, size_t *size)
{
	struct vm_kernel *k = vm_kernel();
	struct candidate *c = NULL;
	size_t n = 0, cap = 0;
	*total = 0;
	*size = 0;
	vm_map_lock_read();
	size_t entries = vm_map_entry_count();
	for (size_t i = 0; i < entries; i++) {
		struct vm_map_entry *e = vm_map_entry_at(i);
		if (e->object != NULL || !(e->protection & VM_PROT_READ) ||
		    (e->start & k->page_mask) || (e->end & k->page_mask))
			continue;
		*size += (e->end - e->start) >> k->page_shift;
		long sys = os_mincore_count(e->start, e->end - e->start);
		if (sys <= 0)
			continue;
		long pages = (long)(((vm_size_t)sys * k->system_page_size +
		                     k->page_size - 1) >> k->page_shift);
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct candidate *m = realloc(c, nc * sizeof *m);
			if (m == NULL)
				break;
			c = m;
			cap = nc;
		}
		c[n++] = (struct candidate){ e->start, e->end, pages };
		*total += pages;
	}
	vm_map_unlock();
	*count = n;
	return c;
}

/* The entry that is exactly [start, end) and still anonymous (map locked). */
static struct vm_map_entry *find_anonymous(uintptr_t start, uintptr_t end)
{
	size_t i = vm_map_first_after(start);
	struct vm_map_entry *e = vm_map_entry_at(i);
	if (e == NULL || e->start != start || e->end != end || e->object != NULL)
		return NULL;
	return e;
}

/* Copies the pages of [start, start+size) that hold data (used: a byte
 * per system page) into the cache, whole kernel pages, and records them
 * resident and dirty. The range is write-protected. Returns the kernel
 * pages copied, or -errno. */
static long copy_in(struct vm_object *obj, uintptr_t start, vm_size_t size,
        const uint8_t *used)
{
	struct vm_kernel *k = vm_kernel();
	size_t per = k->page_size / k->system_page_size;
	int err = 0;
	long copied = 0;
	uint64_t pages = size >> k->page_shift;
	for (uint64_t i = 0; i < pages && err == 0; i++) {
		bool any = false;
		for (size_t j = 0; j < per; j++)
			any |= used[i * per + j] != 0;
		if (!any)
			continue;
		vm_offset_t off = i << k->page_shift;
		if (per > 1)
			err = vm_cache_zero(&obj->cache, off, k->page_size);
		/* Only the system pages that hold data: reading a hole from
		 * the kernel would fail (user-mode-only userfaultfd). */
		for (size_t j = 0; j < per && err == 0; j++) {
			if (!used[i * per + j])
				continue;
			vm_offset_t so = off + j * k->system_page_size;
			err = vm_cache_write(&obj->cache, so, (void *)(start + so),
			                     k->system_page_size);
		}
		if (err != 0)
			break;
		pthread_mutex_lock(&obj->lock);
		vm_page_t *p = vm_page_insert(&obj->pages, i, VM_PAGE_RESIDENT);
		if (p == NULL) {
			pthread_mutex_unlock(&obj->lock);
			err = -ENOMEM;
			break;
		}
		p->dirty = 1;
		obj->resident++;
		atomic_fetch_add_explicit(&k->active, 1, memory_order_relaxed);
		vm_pageout_enqueue(obj, p);
		pthread_mutex_unlock(&obj->lock);
		copied++;
	}
	return err != 0 ? err : copied;
}

/* Between mapping the memfd over the range and registering it, the new
 * mapping is an ordinary shared one: a thread touching a hole there (one
 * that was not blocked in a fault) gets a page in the memfd the VM never
 * saw, holding what it wrote. Registered and protected now, no page can
 * appear unseen, so such pages are taken in, resident and dirty, whole
 * kernel pages (fallocate keeps the data). Untaken, a write to one would
 * raise WP faults on a page the VM does not hold. (map locked) */
static void adopt_strays(struct vm_object *obj, uintptr_t start, vm_size_t size)
{
	struct vm_kernel *k = vm_kernel();
	size_t per = k->page_size / k->system_page_size;
	uint8_t *used = malloc(size / k->system_page_size);
	if (used == NULL || os_pagemap_used(start, size, used) != 0) {
		free(used);
		return;          /* such a page then faults as missing (vm_dirty.c) */
	}
	pthread_mutex_lock(&obj->lock);
	for (uint64_t i = 0; i < (size >> k->page_shift); i++) {
		bool any = false;
		for (size_t j = 0; j < per; j++)
			any |= used[i * per + j] != 0;
		if (!any || vm_page_lookup(&obj->pages, i) != NULL)
			continue;
		if (vm_cache_zero(&obj->cache, i << k->page_shift, k->page_size) != 0)
			continue;
		vm_page_t *p = vm_page_insert(&obj->pages, i, VM_PAGE_RESIDENT);
		if (p == NULL)
			break;
		p->dirty = 1;
		obj->resident++;
		atomic_fetch_add_explicit(&k->active, 1, memory_order_relaxed);
		vm_pageout_enqueue(obj, p);
	}
	pthread_mutex_unlock(&obj->lock);
	free(used);
}

/* Turns the anonymous entry [start, end) into an internal object paged by
 * the default manager dm_k (see the top of the file). true when done. */
static bool convert(uintptr_t start, uintptr_t end, mach_port_name_t dm_k,
        vm_size_t cluster)
{
	struct vm_kernel *k = vm_kernel();
	vm_size_t size = end - start;
	bool done = false;
	vm_map_lock_write();
	struct vm_map_entry *e = find_anonymous(start, end);
	if (e == NULL || k->uffd < 0) {
		vm_map_unlock();
		return false;
	}
	vm_prot_t prot = e->protection;
	if (os_uffd_register(k->uffd, start, size,
	                     OS_UFFD_MODE_MISSING | OS_UFFD_MODE_WP) != 0) {
		vm_map_unlock();
		return false;
	}
	/* Which pages hold data: read before the write protection, which
	 * leaves markers on empty entries. Registered, the range gains no
	 * page unseen (a fault on a hole waits in the fault thread). */
	uint8_t *used = malloc(size / k->system_page_size);
	if (used == NULL || os_pagemap_used(start, size, used) != 0) {
		free(used);
		goto undo_register;
	}
	if (os_uffd_writeprotect(k->uffd, start, size, OS_UFFD_WP_PROTECT) != 0) {
		free(used);
		goto undo_register;
	}

	mach_port_name_t object_k;
	if (ipc_port_allocate(ipc_space_kernel(), MACH_PORT_RIGHT_RECEIVE,
	                      &object_k) != KERN_SUCCESS)
		goto undo_protect;
	mach_port_name_t send_k;
	if (ipc_right_transfer(ipc_space_kernel(), object_k,
	                       MACH_MSG_TYPE_MAKE_SEND, ipc_space_kernel(),
	                       &send_k) != KERN_SUCCESS || send_k != object_k) {
		ipc_port_destroy(ipc_space_kernel(), object_k);
		goto undo_protect;
	}
	/* No cluster given at registration: 32 KiB (at least a page), as
	 * a Mach kernel clusters internal objects; one fault then brings
	 * back a run of neighbours (bench_default_pager: 140 -> 51 us per
	 * 4 KiB page-in at 4 KiB pages). */
	if (cluster == 0)
		cluster = k->page_size > INTERNAL_CLUSTER ? k->page_size
		                                          : INTERNAL_CLUSTER;
	struct vm_object *obj = vm_object_create_internal(object_k, start, size,
	                                                  cluster);
	if (obj == NULL) {
		ipc_port_destroy(ipc_space_kernel(), object_k);
		goto undo_protect;
	}
	long copied = copy_in(obj, start, size, used);
	free(used);
	used = NULL;
	mach_msg_return_t mr = MACH_SEND_INVALID_DEST;
	if (copied >= 0) {
		pthread_mutex_lock(&obj->send_lock);
		mr = emmi_send_create(dm_k, object_k, size, obj->control_k,
		                      k->page_size);
		pthread_mutex_unlock(&obj->send_lock);
	}
	if (mr != MACH_MSG_SUCCESS) {
		/* No pager took it: the anonymous memory is still intact. The
		 * receive right is still ours; the object goes. */
		obj->dead = true;
		ipc_port_destroy(ipc_space_kernel(), object_k);
		vm_object_mapping_remove(obj, start);
		vm_object_release(obj);
		goto undo_protect;
	}
	/* The receive right left: watch the send right for the pager's death.
	 * Without the watch a dead pager is noticed at the next send: the
	 * object still works, so a failure is not fatal. */
	(void)emmi_watch_object(object_k);
	if (vm_cache_map_fixed(&obj->cache, start, size, 0, vm_prot_to_mmap(prot),
	                       0) != 0) {
		/* The anonymous pages may be gone: the object cannot serve. */
		os_log(OS_LOG_ERROR, "cannot map the internal object at %#lx "
		        "(%s)", (unsigned long)start, strerror(errno));
		vm_object_manager_died(obj);
	}
	int err = 0;
	if (k->wp && (prot & VM_PROT_WRITE))
		err = vm_object_track_writes(obj, start, size);
	else
		err = os_uffd_register(k->uffd, start, size, OS_UFFD_MODE_MISSING);
	if (err != 0) {
		os_log(OS_LOG_WARN, "cannot register the internal object at "
		        "%#lx (%s)", (unsigned long)start, strerror(-err));
	}
	if (err == 0)
		adopt_strays(obj, start, size);
	/* Copied pages are dirty: let them be written without a WP fault. */
	if (k->wp && (prot & VM_PROT_WRITE)) {
		pthread_mutex_lock(&obj->lock);
		uint64_t pages = size >> k->page_shift;
		for (uint64_t i = 0; i < pages;) {
			uint64_t j = i;
			while (j < pages && vm_page_lookup(&obj->pages, j) != NULL)
				j++;
			if (j > i)
				vm_object_unprotect_pages(obj, i, j - i);
			i = j + 1;
		}
		pthread_mutex_unlock(&obj->lock);
	}
	e = find_anonymous(start, end);
	if (e != NULL) {
		e->object = obj;                 /* the entry takes our reference */
		e->offset = 0;
		e->copy = false;
		done = true;
	} else {
		vm_object_release(obj);
	}
	vm_map_unlock();
	/* Threads caught by the write protection retry on the new mapping. */
	os_uffd_wake(k->uffd, start, size);
	return done;

undo_protect:
	free(used);
	os_uffd_writeprotect(k->uffd, start, size, OS_UFFD_WP_CLEAR_NOWAKE);
undo_register:
	os_uffd_unregister(k->uffd, start, size);
	vm_map_unlock();
	os_uffd_wake(k->uffd, start, size);
	return false;
}

/* One look at internal memory. Returns true when it could go over the
 * limit before the next change of the map (poll again), else false with
 * *wake_at the counted object pages above which it could. */
static bool balance_internal(size_t *wake_at)
{
	struct vm_kernel *k = vm_kernel();
	*wake_at = SIZE_MAX;
	vm_size_t cluster = 0;
	mach_port_name_t dm_k = vm_default_manager_ref(&cluster);
	if (dm_k == MACH_PORT_NULL)
		return false;
	size_t n, size;
	long anon;
	struct candidate *c = scan(&n, &anon, &size);
	long active = (long)vm_internal_counted();
	if (c != NULL && anon > 0 && (vm_size_t)(active + anon) > k->resident_max) {
		qsort(c, n, sizeof *c, by_resident_desc);
		for (size_t i = 0; i < n; i++) {
			active = (long)vm_internal_counted();
			if ((vm_size_t)(active + anon) <= k->resident_max)
				break;
			if (convert(c[i].start, c[i].end, dm_k, cluster))
				vm_pageout_balance();
			anon -= c[i].resident;
		}
	}
	free(c);
	ipc_port_deallocate(ipc_space_kernel(), dm_k);
	if (size == 0)
		return false;            /* nothing to page out, whatever grows */
	if (size > k->resident_max)
		return true;
	*wake_at = k->resident_max - size;
	return vm_internal_counted() > *wake_at;
}

void vm_internal_map_changed(void)
{
	atomic_fetch_add(&map_generation, 1);
	if (atomic_load(&idle)) {
		pthread_mutex_lock(&idle_lock);
		pthread_cond_signal(&idle_cond);
		pthread_mutex_unlock(&idle_lock);
	}
}

void vm_internal_note_counted(size_t counted)
{
	/* Pairs with the thread's store of idle before its last look. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&idle, memory_order_relaxed) &&
	    counted > atomic_load_explicit(&idle_wake_at, memory_order_relaxed))
		vm_internal_map_changed();
}

void vm_internal_pageout_stats(unsigned long long *wakeups_out, bool *idle_out)
{
	if (wakeups_out != NULL)
		*wakeups_out = atomic_load(&wakeups);
	/* Asleep, and nothing has come that will wake it. */
	if (idle_out != NULL)
		*idle_out = atomic_load(&idle) &&
		            atomic_load(&map_generation) == atomic_load(&idle_generation) &&
		            vm_internal_counted() <= atomic_load(&idle_wake_at);
}

/* Sleeps until the map changes after `generation`, or the counted pages
 * pass wake_at. */
static void wait_for_work(unsigned long generation, size_t wake_at)
{
	pthread_mutex_lock(&idle_lock);
	atomic_store(&idle_wake_at, wake_at);
	atomic_store(&idle_generation, generation);
	atomic_store(&idle, true);
	/* Pairs with vm_internal_note_counted's: one of us sees the other. */
	atomic_thread_fence(memory_order_seq_cst);
	while (atomic_load(&map_generation) == generation &&
	       vm_internal_counted() <= wake_at)
		pthread_cond_wait(&idle_cond, &idle_lock);
	atomic_store(&idle, false);
	pthread_mutex_unlock(&idle_lock);
}

/* MEMOBJ_DEFAULT_PAGER=unix:PATH or tcp:HOST:PORT: that node's default
 * pager, looked up by its netname, becomes this kernel's. */
static void register_env_default_pager(void)
{
	const char *address = getenv("MEMOBJ_DEFAULT_PAGER");
	if (address == NULL || *address == '\0')
		return;
	kern_return_t kr = KERN_FAILURE;
	/* The node may still be starting: a few tries over ~5 s. */
	for (int attempt = 0; attempt < 50; attempt++) {
		mach_port_t ns = MACH_PORT_NULL, pager = MACH_PORT_NULL;
		kr = memobj_connect(address, &ns);
		if (kr == KERN_SUCCESS) {
			kr = netname_look_up(ns, "", VM_DEFAULT_PAGER_NETNAME, &pager);
			mach_port_deallocate(mach_task_self(), ns);
		}
		if (kr == KERN_SUCCESS) {
			mach_port_t dm = pager;
			kr = host_default_memory_manager(mach_host_self(), &dm, 0);
			if (MACH_PORT_VALID(dm))
				mach_port_deallocate(mach_task_self(), dm);
			mach_port_deallocate(mach_task_self(), pager);
			if (kr == KERN_SUCCESS)
				return;
		}
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	os_log(OS_LOG_WARN, "MEMOBJ_DEFAULT_PAGER=%s: no default pager "
	        "registered (error %d)", address, kr);
}

static void *pageout_thread(void *arg)
{
	(void)arg;
	os_signal_block_all();
	register_env_default_pager();
	for (;;) {
		unsigned long generation = atomic_load(&map_generation);
		size_t wake_at;
		if (balance_internal(&wake_at)) {
			struct timespec ts = { 0, INTERNAL_SCAN_NS };
			nanosleep(&ts, NULL);
		} else {
			wait_for_work(generation, wake_at);
		}
		atomic_fetch_add(&wakeups, 1);
	}
	return NULL;
}

static void internal_start_once(void)
{
	pthread_t thread;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&thread, &attr, pageout_thread, NULL);
	pthread_attr_destroy(&attr);
	if (err != 0)
		os_log(OS_LOG_WARN, "cannot start the internal pageout thread "
		        "(%s): vm_allocate memory will not page out",
		        strerror(err));
}

void vm_internal_start(void)
{
	pthread_once(&internal_once, internal_start_once);
	vm_internal_map_changed();       /* a (new) manager: look again */
}

void vm_internal_kernel_start(void)
{
	const char *address = getenv("MEMOBJ_DEFAULT_PAGER");
	if (address != NULL && *address != '\0')
		vm_internal_start();
}

mach_msg_return_t vm_internal_send_run(struct vm_object *obj,
        struct vm_return_run *r, bool kernel_copy)
{
	VM_ASSERT_LOCKED(&obj->send_lock);
	struct vm_kernel *k = vm_kernel();
	mach_msg_return_t mr = MACH_MSG_SUCCESS;
	for (vm_size_t done = 0; done < r->length; done += k->page_size) {
		char *page = (char *)r->data + done;
		vm_offset_t offset = r->offset + done;
		uint64_t index = offset >> k->page_shift;
		if (mr != MACH_MSG_SUCCESS || obj->dead ||
		    index >= obj->internal_pages) {
			os_page_pool_free(page, k->page_size);
			if (mr == MACH_MSG_SUCCESS)
				mr = MACH_SEND_INVALID_DEST;
			continue;
		}
		uint8_t bit = (uint8_t)(1u << (index & 7));
		if (!(obj->internal_sent[index >> 3] & bit)) {
			mr = emmi_send_data_initialize(obj->object_k, obj->control_k,
			                               offset, page, k->page_size);
			if (mr == MACH_MSG_SUCCESS)
				obj->internal_sent[index >> 3] |= bit;
		} else {
			mr = emmi_send_data_return(obj->object_k, obj->control_k,
			                           offset, page, k->page_size,
			                           r->dirty, kernel_copy);
		}
		if (mr != MACH_MSG_SUCCESS)
			os_page_pool_free(page, k->page_size);
	}
	return mr;
}

bool vm_internal_never_out(struct vm_object *obj, vm_offset_t offset,
        vm_size_t length)
{
	VM_ASSERT_LOCKED(&obj->send_lock);
	struct vm_kernel *k = vm_kernel();
	uint64_t first = offset >> k->page_shift;
	uint64_t last = (offset + length) >> k->page_shift;
	for (uint64_t i = first; i < last; i++)
		if (i >= obj->internal_pages ||
		    (obj->internal_sent[i >> 3] & (1u << (i & 7))))
			return false;
	return true;
}

static atomic_size_t pinned;

size_t vm_internal_pinned(void)
{
	return atomic_load_explicit(&pinned, memory_order_relaxed);
}

size_t vm_internal_counted(void)
{
	size_t a = atomic_load_explicit(&vm_kernel()->active, memory_order_relaxed);
	size_t p = vm_internal_pinned();
	return a > p ? a - p : 0;
}

void vm_internal_release(struct vm_object *obj)
{
	atomic_fetch_sub_explicit(&pinned, (size_t)obj->internal_pinned,
	                          memory_order_relaxed);
}

void vm_internal_keep(struct vm_object *obj)
{
	VM_ASSERT_LOCKED(&obj->lock);
	obj->internal_pinned++;
	atomic_fetch_add_explicit(&pinned, 1, memory_order_relaxed);
	if (!atomic_exchange(&keep_warned, true))
		os_log(OS_LOG_WARN, "the default pager could not store pages "
		        "of vm_allocate memory (backing store full or failing); "
		        "keeping them resident over MEMOBJ_RESIDENT_MAX");
}
