/* Dirty tracking and access locks on mapped object pages.
 *
 * Every writable shared mapping is registered MISSING|WP and
 * write-protected when it is made (or when vm_protect first grants it
 * write), so the first write to a clean page raises a synchronous WP fault
 * here: the page becomes dirty and is unprotected, or, when its lock
 * withholds write, the writer waits and the manager gets data_unlock.
 * Mappings never writable are not registered WP (it would cost the kernel's
 * fault-around), and cannot dirty a page, so tracking stays exact.
 * Read locks have no userfaultfd primitive: the page is unmapped from
 * every view (it stays in the memfd) and the object's mappings are
 * registered MINOR, so the next access is a minor fault caught here.
 * An execute lock withholds execute only: it is enforced the same way in
 * the executable views alone (Linux does not tell a fetch from a read, so
 * there every access needs execute), and costs nothing elsewhere.
 * Copy (MAP_PRIVATE) mappings are neither tracked nor locked. */
#include "vm/vm_dirty.h"
#include "vm/vm_fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "emmi/object_user.h"
#include "os/os_mem.h"
#include "os/os_memfd.h"
#include "os/os_signal.h"
#include "os/os_uffd.h"
#include "vm/vm_kernel.h"
#include "vm/vm_manager_death.h"
#include "vm/vm_object.h"

enum { VIEWS_ALL, VIEWS_TRACKED, VIEWS_EXEC };

/* Calls fn on the part of every shared mapping (every tracked one, or
 * every executable one) that shows object pages [first, first+count). */
static void for_each_view(struct vm_object *obj, uint64_t first,
        uint64_t count, int which,
        void (*fn)(uintptr_t, size_t, void *), void *arg)
{
	struct vm_kernel *k = vm_kernel();
	vm_offset_t lo = first << k->page_shift, hi = (first + count) << k->page_shift;
	for (size_t i = 0; i < obj->nmaps; i++) {
		struct vm_object_mapping *m = &obj->maps[i];
		if (m->copy || (which == VIEWS_TRACKED && !m->wp) ||
		    (which == VIEWS_EXEC && !m->exec))
			continue;
		vm_offset_t a = lo > m->offset ? lo : m->offset;
		vm_offset_t b = hi < m->offset + m->size ? hi : m->offset + m->size;
		if (a < b)
			fn(m->start + (a - m->offset), b - a, arg);
	}
}

struct protect_arg { bool protect; };

static void protect_view(uintptr_t addr, size_t len, void *arg)
{
	struct protect_arg *p = arg;
	/* Never wakes: whoever lifts a protection wakes the waiters itself,
	 * after the page is in the state they must find. */
	os_uffd_writeprotect(vm_kernel()->uffd, addr, len,
	        p->protect ? OS_UFFD_WP_PROTECT : OS_UFFD_WP_CLEAR_NOWAKE);
}

static void set_protection(struct vm_object *obj, uint64_t first,
        uint64_t count, bool protect)
{
	VM_ASSERT_LOCKED(&obj->lock);
	if (!vm_kernel()->wp)
		return;
	struct protect_arg a = { protect };
	for_each_view(obj, first, count, VIEWS_TRACKED, protect_view, &a);
}

void vm_object_protect_pages(struct vm_object *obj, uint64_t first,
        uint64_t count)
{
	set_protection(obj, first, count, true);
}

void vm_object_unprotect_pages(struct vm_object *obj, uint64_t first,
        uint64_t count)
{
	set_protection(obj, first, count, false);
}

static void zap_view(uintptr_t addr, size_t len, void *arg)
{
	(void)arg;
	os_mapping_zap(addr, len);
}

void vm_object_zap_pages(struct vm_object *obj, uint64_t first, uint64_t count)
{
	VM_ASSERT_LOCKED(&obj->lock);
	for_each_view(obj, first, count, VIEWS_ALL, zap_view, NULL);
}

void vm_object_zap_exec_pages(struct vm_object *obj, uint64_t first,
        uint64_t count)
{
	VM_ASSERT_LOCKED(&obj->lock);
	for_each_view(obj, first, count, VIEWS_EXEC, zap_view, NULL);
}

static bool has_exec_view(struct vm_object *obj)
{
	for (size_t i = 0; i < obj->nmaps; i++)
		if (!obj->maps[i].copy && obj->maps[i].exec)
			return true;
	return false;
}

void vm_object_note_lock(struct vm_object *obj, vm_prot_t lock)
{
	VM_ASSERT_LOCKED(&obj->lock);
	if (lock & ~VM_PROT_ALL)
		return;                          /* VM_PROT_NO_CHANGE */
	if (lock & VM_PROT_EXECUTE)
		obj->exec_locks = true;
	if ((lock & VM_PROT_READ) ||
	    ((lock & VM_PROT_EXECUTE) && has_exec_view(obj)))
		vm_object_need_minor(obj);
}

struct exec_zap { uint64_t lo, hi; struct vm_object *obj; };

static void zap_if_exec_locked(vm_page_t *p, void *arg)
{
	struct exec_zap *z = arg;
	if (p->state == VM_PAGE_RESIDENT && (p->lock_value & VM_PROT_EXECUTE) &&
	    p->index >= z->lo && p->index < z->hi)
		vm_object_zap_exec_pages(z->obj, p->index, 1);
}

void vm_object_mapping_set_exec(struct vm_object *obj, uintptr_t start,
        vm_size_t size, bool exec)
{
	struct vm_kernel *k = vm_kernel();
	pthread_mutex_lock(&obj->lock);
	for (size_t i = 0; i < obj->nmaps; i++) {
		struct vm_object_mapping *m = &obj->maps[i];
		if (m->copy || m->exec == exec || m->start < start ||
		    m->start - start >= size)
			continue;
		m->exec = exec;
		if (!exec || !obj->exec_locks)
			continue;
		/* Pages mapped here while the view could not execute: unmap
		 * those whose lock withholds execute, so the next access is
		 * caught (MINOR first). */
		vm_object_need_minor(obj);
		struct exec_zap z = { m->offset >> k->page_shift,
		                      (m->offset + m->size) >> k->page_shift, obj };
		vm_page_foreach(&obj->pages, zap_if_exec_locked, &z);
	}
	pthread_mutex_unlock(&obj->lock);
}

/* The access a thread at `address` needs: read, write for a write, and
 * execute in an executable view, since a page mapped there can be
 * executed without another fault. (obj locked) */
static vm_prot_t access_required(struct vm_object *obj, uintptr_t address,
        int write)
{
	VM_ASSERT_LOCKED(&obj->lock);
	vm_prot_t need = VM_PROT_READ | (write ? VM_PROT_WRITE : 0);
	for (size_t i = 0; i < obj->nmaps; i++)
		if (address >= obj->maps[i].start &&
		    address - obj->maps[i].start < obj->maps[i].size) {
			if (obj->maps[i].exec)
				need |= VM_PROT_EXECUTE;
			break;
		}
	return need;
}

void vm_object_need_minor(struct vm_object *obj)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	if (obj->minor || !(k->uffd_features & OS_UFFD_HAVE_MINOR))
		return;
	/* Same userfaultfd: re-registering only adds the mode. */
	for (size_t i = 0; i < obj->nmaps; i++)
		if (!obj->maps[i].copy)
			os_uffd_register(k->uffd, obj->maps[i].start, obj->maps[i].size,
			        OS_UFFD_MODE_MISSING | OS_UFFD_MODE_MINOR |
			        (obj->maps[i].wp ? OS_UFFD_MODE_WP : 0));
	obj->minor = true;
}

int vm_object_track_writes(struct vm_object *obj, uintptr_t start,
        vm_size_t size)
{
	struct vm_kernel *k = vm_kernel();
	if (!k->wp)
		return 0;
	int err = 0;
	/* Under the object lock: a supply or a clean protecting pages now
	 * sees the mapping either untracked (and the whole-range protect
	 * below covers it) or tracked. */
	pthread_mutex_lock(&obj->lock);
	for (size_t i = 0; i < obj->nmaps && err == 0; i++) {
		struct vm_object_mapping *m = &obj->maps[i];
		if (m->copy || m->wp || m->start < start ||
		    m->start - start >= size)
			continue;
		unsigned modes = OS_UFFD_MODE_MISSING | OS_UFFD_MODE_WP |
		                 (obj->minor ? OS_UFFD_MODE_MINOR : 0);
		err = os_uffd_register(k->uffd, m->start, m->size, modes);
		/* Clean and dirty pages alike: a dirty one pays one WP fault
		 * on its first write here, which finds it dirty already. */
		if (err == 0)
			err = os_uffd_writeprotect(k->uffd, m->start, m->size, OS_UFFD_WP_PROTECT);
		if (err == 0)
			m->wp = true;
	}
	pthread_mutex_unlock(&obj->lock);
	return err;
}

/* Takes a page-state lock failure path shared by both fault kinds: the
 * object is gone or dead. (obj locked; unlocks) */
static bool object_gone(struct vm_object *obj, uintptr_t address, pid_t tid)
{
	VM_ASSERT_LOCKED(&obj->lock);
	if (!obj->dead && !obj->terminated)
		return false;
	bool mapped = vm_object_maps_address(obj, address);
	pthread_mutex_unlock(&obj->lock);
	if (tid != 0 && mapped)
		os_signal_sigbus(tid, address, KERN_MEMORY_ERROR);
	os_uffd_wake(vm_kernel()->uffd, address & ~(uintptr_t)vm_kernel()->page_mask,
	             vm_kernel()->page_size);
	return true;
}

/* The access is withheld: the thread waits on the page. Unless all it
 * needs was asked for already, data_unlock goes out for what it needs
 * together with what was asked before (OSF: access_required |
 * unlock_request). (obj locked; unlocks) */
static void wait_for_unlock(struct vm_object *obj, vm_page_t *p,
        uintptr_t address, pid_t tid, vm_prot_t needed)
{
	VM_ASSERT_LOCKED(&obj->lock);
	struct vm_kernel *k = vm_kernel();
	if (vm_page_add_waiter(p, tid, address) != 0) {
		/* Out of memory: unrecorded, it would never be woken by the
		 * unlock; woken now, it faults again. */
		pthread_mutex_unlock(&obj->lock);
		os_uffd_wake(k->uffd, address & ~(uintptr_t)k->page_mask, k->page_size);
		return;
	}
	if ((needed & ~p->unlock_asked) == 0) {
		pthread_mutex_unlock(&obj->lock);
		return;
	}
	p->unlock_asked |= (uint8_t)needed;
	vm_prot_t ask = p->unlock_asked;
	vm_offset_t offset = p->index << k->page_shift;
	vm_object_send_handoff(obj);
	mach_msg_return_t mr = emmi_send_data_unlock(obj->object_k, obj->control_k,
	                                             offset, k->page_size, ask);
	pthread_mutex_unlock(&obj->send_lock);
	if (mr != MACH_MSG_SUCCESS)
		vm_object_manager_died(obj);
}

/* A WP or minor fault on a page the VM does not hold resident (flushed or
 * paged out meanwhile, being paged in, or a mapping left over from a
 * state the VM no longer has): a plain wake could refault the same way
 * for ever. It is a missing fault instead: the page is asked for (or
 * zero-filled) and the thread waits for it, and the install protects it
 * anew, so a write still marks it dirty before it lands (SPEC 3).
 * (obj locked; unlocks) */
static void as_missing(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid, int write)
{
	VM_ASSERT_LOCKED(&obj->lock);
	pthread_mutex_unlock(&obj->lock);
	vm_object_fault(obj, offset, address, tid, write);
}

void vm_object_wp_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid)
{
	struct vm_kernel *k = vm_kernel();
	uintptr_t page_addr = address & ~(uintptr_t)k->page_mask;
	pthread_mutex_lock(&obj->lock);
	if (object_gone(obj, address, tid))
		return;
	vm_page_t *p = vm_page_lookup(&obj->pages, offset >> k->page_shift);
	if (p == NULL || p->state != VM_PAGE_RESIDENT) {
		as_missing(obj, offset, address, tid, 1);
		return;
	}
	p->referenced = 1;
	vm_prot_t needed = access_required(obj, address, 1);
	if (p->lock_value & needed) {
		wait_for_unlock(obj, p, address, tid, needed);
		return;
	}
	/* Unprotected under the object lock, so a clean (lock_request,
	 * msync) cannot slip in between and lose this write. */
	p->dirty = 1;
	os_uffd_writeprotect(k->uffd, page_addr, k->page_size, OS_UFFD_WP_CLEAR_WAKE);
	pthread_mutex_unlock(&obj->lock);
}

/* UFFDIO_CONTINUE_MODE_WP, once refused (EINVAL), is not tried again. */
static atomic_bool continue_wp_unsupported;
static pthread_once_t continue_wp_once = PTHREAD_ONCE_INIT;

/* MEMOBJ_UFFD_CONTINUE_WP=0 (for tests): behave as on a kernel without
 * the mode (Linux < 6.3), so that fallback runs where the mode exists. */
static void continue_wp_read_env(void)
{
	const char *env = getenv("MEMOBJ_UFFD_CONTINUE_WP");
	if (env != NULL && strcmp(env, "0") == 0)
		atomic_store(&continue_wp_unsupported, true);
}

/* True when `address` lies in a shared view whose writes are tracked
 * (registered WP). (obj locked) */
static bool in_tracked_view(struct vm_object *obj, uintptr_t address)
{
	for (size_t i = 0; i < obj->nmaps; i++)
		if (address >= obj->maps[i].start &&
		    address - obj->maps[i].start < obj->maps[i].size)
			return !obj->maps[i].copy && obj->maps[i].wp;
	return false;
}

void vm_object_minor_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid, int write)
{
	struct vm_kernel *k = vm_kernel();
	uintptr_t page_addr = address & ~(uintptr_t)k->page_mask;
	pthread_mutex_lock(&obj->lock);
	if (object_gone(obj, address, tid))
		return;
	vm_page_t *p = vm_page_lookup(&obj->pages, offset >> k->page_shift);
	if (p == NULL || p->state != VM_PAGE_RESIDENT) {
		as_missing(obj, offset, address, tid, write);
		return;
	}
	p->referenced = 1;
	vm_prot_t locked = p->lock_value;
	vm_prot_t needed = access_required(obj, address, write);
	if (locked & needed) {
		wait_for_unlock(obj, p, address, tid, needed);
		return;
	}
	/* Map it without waking, write-protected unless writes may go
	 * straight in, then wake. The protection must come with the mapping
	 * (UFFDIO_CONTINUE_MODE_WP): a plain CONTINUE maps the page writable,
	 * and a thread that is not blocked on this fault (another thread of
	 * the task, or the faulting one after a spurious wake-up) could write
	 * before a later protect, into a page still counted clean: pageout
	 * would drop that write. Without the mode (Linux < 6.3), the page is
	 * counted dirty instead. System page by system page: some of a large
	 * kernel page may be mapped already. */
	bool protect = k->wp && (!p->dirty || (locked & VM_PROT_WRITE));
	pthread_once(&continue_wp_once, continue_wp_read_env);
	bool atomic_wp = protect && in_tracked_view(obj, address) &&
	        !atomic_load_explicit(&continue_wp_unsupported, memory_order_relaxed);
	if (protect && !atomic_wp && in_tracked_view(obj, address)) {
		p->dirty = 1;
		protect = (locked & VM_PROT_WRITE) != 0;
	}
	for (vm_size_t s = 0; s < k->page_size; s += k->system_page_size) {
		int err = os_uffd_continue(k->uffd, page_addr + s,
		                           k->system_page_size, atomic_wp, 1);
		if (err == -EINVAL && atomic_wp) {
			/* This kernel has no CONTINUE_MODE_WP: remember, and map
			 * the page counted dirty (as above). */
			atomic_store_explicit(&continue_wp_unsupported, true,
			                      memory_order_relaxed);
			atomic_wp = false;
			p->dirty = 1;
			protect = (locked & VM_PROT_WRITE) != 0;
			os_uffd_continue(k->uffd, page_addr + s, k->system_page_size,
			                 0, 1);
		}
	}
	/* Sub-pages mapped before this fault (EEXIST) get protected too. */
	if (protect)
		os_uffd_writeprotect(k->uffd, page_addr, k->page_size, OS_UFFD_WP_PROTECT);
	pthread_mutex_unlock(&obj->lock);
	os_uffd_wake(k->uffd, page_addr, k->page_size);
}
