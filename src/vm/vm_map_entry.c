/* The address map: a sorted array of entries under one rwlock. Lookups
 * (the fault thread) take it shared. */
#include "vm/vm_map_entry.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "os/os_uffd.h"
#include "vm/vm_cache.h"
#include "vm/vm_internal.h"
#include "vm/vm_kernel.h"
#include "vm/vm_object.h"

static pthread_rwlock_t map_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct vm_map_entry *entries;
static size_t nentries, entries_cap;

#ifdef MEMOBJ_DEBUG_LOCKS
#define map_lock_acquired() vm_debug_lock_acquired(&map_lock)
#define map_lock_released() vm_debug_lock_released(&map_lock)
#else
#define map_lock_acquired() ((void)0)
#define map_lock_released() ((void)0)
#endif

void vm_map_lock_read(void)
{
	pthread_rwlock_rdlock(&map_lock);
	map_lock_acquired();
}

/* Set while the map is write-locked (only its holder touches it). */
static bool map_written;

void vm_map_lock_write(void)
{
	pthread_rwlock_wrlock(&map_lock);
	map_lock_acquired();
	map_written = true;
}

void vm_map_unlock(void)
{
	bool written = map_written;      /* false under a read lock */
	if (written)
		map_written = false;
	map_lock_released();
	pthread_rwlock_unlock(&map_lock);
	/* The internal pageout thread sleeps until the map changes. */
	if (written)
		vm_internal_map_changed();
}

int vm_prot_to_mmap(vm_prot_t prot)
{
	int p = PROT_NONE;
	if (prot & VM_PROT_READ)
		p |= PROT_READ;
	if (prot & VM_PROT_WRITE)
		p |= PROT_WRITE;
	if (prot & VM_PROT_EXECUTE)
		p |= PROT_EXEC;
	return p;
}

size_t vm_map_first_after(uintptr_t addr)
{
	VM_ASSERT_LOCKED(&map_lock);
	size_t lo = 0, hi = nentries;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (entries[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct vm_map_entry *vm_map_entry_at(size_t index)
{
	return index < nentries ? &entries[index] : NULL;
}

size_t vm_map_entry_count(void)
{
	return nentries;
}

static int reserve_slot(void)
{
	if (nentries < entries_cap)
		return 0;
	size_t cap = entries_cap ? entries_cap * 2 : 32;
	struct vm_map_entry *e = realloc(entries, cap * sizeof *e);
	if (e == NULL)
		return -ENOMEM;
	entries = e;
	entries_cap = cap;
	return 0;
}

int vm_map_insert(const struct vm_map_entry *e)
{
	VM_ASSERT_LOCKED(&map_lock);
	if (reserve_slot() != 0)
		return -ENOMEM;
	size_t i = vm_map_first_after(e->start);
	memmove(&entries[i + 1], &entries[i], (nentries - i) * sizeof *entries);
	entries[i] = *e;
	nentries++;
	return 0;
}

int vm_map_clip(uintptr_t at)
{
	VM_ASSERT_LOCKED(&map_lock);
	size_t i = vm_map_first_after(at);
	if (i == nentries || entries[i].start >= at)
		return 0;                    /* not strictly inside an entry */
	if (reserve_slot() != 0)
		return -ENOMEM;
	struct vm_map_entry right = entries[i];
	right.start = at;
	right.offset += at - entries[i].start;
	if (right.object) {
		if (vm_object_mapping_add(right.object, right.start, right.offset,
		                          right.end - right.start, right.copy) != 0)
			return -ENOMEM;
		vm_object_ref(right.object);
		/* Shrink the left record in place: remove+add would look like
		 * a last unmap for a moment. */
		struct vm_object *obj = right.object;
		pthread_mutex_lock(&obj->lock);
		bool wp = false, exec = false;
		for (size_t m = 0; m < obj->nmaps; m++)
			if (obj->maps[m].start == entries[i].start) {
				obj->maps[m].size = at - entries[i].start;
				wp = obj->maps[m].wp;
				exec = obj->maps[m].exec;
				break;
			}
		/* The right part is registered as the left was; set in the
		 * same critical section, so no protect misses it. */
		for (size_t m = 0; m < obj->nmaps; m++)
			if (obj->maps[m].start == at) {
				obj->maps[m].wp = wp;
				obj->maps[m].exec = exec;
			}
		pthread_mutex_unlock(&obj->lock);
	}
	entries[i].end = at;
	memmove(&entries[i + 2], &entries[i + 1],
	        (nentries - i - 1) * sizeof *entries);
	entries[i + 1] = right;
	nentries++;
	return 0;
}

bool vm_map_covered(uintptr_t start, uintptr_t end)
{
	VM_ASSERT_LOCKED(&map_lock);
	size_t i = vm_map_first_after(start);
	uintptr_t at = start;
	for (; i < nentries && at < end; i++) {
		if (entries[i].start > at)
			return false;
		at = entries[i].end;
	}
	return at >= end;
}

bool vm_map_overlaps(uintptr_t start, uintptr_t end)
{
	size_t i = vm_map_first_after(start);
	return i < nentries && entries[i].start < end;
}

void vm_map_remove_range(uintptr_t start, uintptr_t end)
{
	VM_ASSERT_LOCKED(&map_lock);
	struct vm_kernel *k = vm_kernel();
	/* Clipping can fail only for lack of memory; then the whole entry
	 * goes, which is still a valid (larger) deallocation. */
	(void)vm_map_clip(start);
	(void)vm_map_clip(end);
	size_t first = vm_map_first_after(start), last = first;
	while (last < nentries && entries[last].start < end)
		last++;
	uintptr_t lo = start, hi = end;
	if (first < last) {
		if (entries[first].start < lo)
			lo = entries[first].start;
		if (entries[last - 1].end > hi)
			hi = entries[last - 1].end;
	}
	munmap((void *)lo, hi - lo);
	/* Threads blocked in a fault there retry and find nothing mapped.
	 * Only object mappings are registered with the userfaultfd. */
	bool had_object = false;
	for (size_t i = first; i < last; i++)
		had_object |= entries[i].object != NULL;
	if (had_object && k->uffd >= 0)
		os_uffd_wake(k->uffd, lo, hi - lo);
	struct vm_map_entry *gone = NULL;
	size_t ngone = last - first;
	if (ngone) {
		gone = malloc(ngone * sizeof *gone);
		if (gone)
			memcpy(gone, &entries[first], ngone * sizeof *gone);
	}
	if (ngone)   /* an empty map has no array at all */
		memmove(&entries[first], &entries[last], (nentries - last) * sizeof *entries);
	nentries -= ngone;
	for (size_t i = 0; gone && i < ngone; i++) {
		if (gone[i].object == NULL)
			continue;
		vm_object_mapping_remove(gone[i].object, gone[i].start);
		vm_object_release(gone[i].object);
	}
	free(gone);
}

/* Drops entries inside [start, end) whose memory is already gone: the
 * range was just handed to us by mmap as free, so anything the map still
 * records there was unmapped behind its back (e.g. a region the IPC layer
 * took over with a message and freed). */
void vm_map_forget_stale(uintptr_t start, uintptr_t end)
{
	while (vm_map_overlaps(start, end)) {
		size_t i = vm_map_first_after(start);
		struct vm_map_entry gone = entries[i];
		memmove(&entries[i], &entries[i + 1],
		        (nentries - i - 1) * sizeof *entries);
		nentries--;
		if (gone.object) {
			vm_object_mapping_remove(gone.object, gone.start);
			vm_object_release(gone.object);
		}
	}
}

kern_return_t vm_map_reserve(uintptr_t *addr, vm_size_t size, vm_size_t align,
        bool anywhere)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	if (!anywhere) {
		void *p = mmap((void *)*addr, size, PROT_NONE,
		               flags | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED) {
			int err = errno;
			if (err == ENOMEM)
				vm_cache_report_limit("vm_map", ENOMEM);
			return err == EEXIST ? KERN_NO_SPACE : KERN_RESOURCE_SHORTAGE;
		}
		if ((uintptr_t)p != *addr) {     /* old kernels ignore the flag */
			munmap(p, size);
			return KERN_NO_SPACE;
		}
		vm_map_forget_stale(*addr, *addr + size);
		return KERN_SUCCESS;
	}
	vm_size_t slack = align > vm_kernel()->system_page_size
	                  ? align - vm_kernel()->system_page_size : 0;
	if (size > (vm_size_t)-1 - slack)
		return KERN_NO_SPACE;
	void *p = mmap(NULL, size + slack, PROT_NONE, flags, -1, 0);
	if (p == MAP_FAILED) {
		/* Out of mappings rather than of address space: a limit. */
		if (errno == ENOMEM && vm_map_count_exhausted(NULL)) {
			vm_cache_report_limit("vm_map", ENOMEM);
			return KERN_RESOURCE_SHORTAGE;
		}
		return errno == ENOMEM ? KERN_NO_SPACE : KERN_RESOURCE_SHORTAGE;
	}
	uintptr_t base = (uintptr_t)p;
	uintptr_t aligned = (base + align - 1) & ~(uintptr_t)(align - 1);
	if (aligned > base)
		munmap(p, aligned - base);
	if (base + size + slack > aligned + size)
		munmap((void *)(aligned + size), base + size + slack - aligned - size);
	vm_map_forget_stale(aligned, aligned + size);
	*addr = aligned;
	return KERN_SUCCESS;
}

struct vm_object *vm_map_lookup_object(uintptr_t addr, vm_offset_t *offset)
{
	struct vm_object *obj = NULL;
	vm_map_lock_read();
	size_t i = vm_map_first_after(addr);
	if (i < nentries && entries[i].start <= addr && entries[i].object) {
		obj = entries[i].object;
		*offset = entries[i].offset + (addr - entries[i].start);
		vm_object_ref(obj);
	}
	vm_map_unlock();
	return obj;
}
