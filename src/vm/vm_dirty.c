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
 * Copy (MAP_PRIVATE) mappings are neither tracked nor locked. */
#include "vm/vm_object.h"

#include "emmi/object_user.h"
#include "os/os_memfd.h"
#include "os/os_signal.h"
#include "os/os_uffd.h"
#include "vm/vm_kernel.h"

/* Calls fn on the part of every shared mapping (every tracked one, when
 * tracked_only) that shows object pages [first, first+count). */
static void for_each_view(struct vm_object *obj, uint64_t first,
        uint64_t count, bool tracked_only,
        void (*fn)(uintptr_t, size_t, void *), void *arg)
{
	struct vm_kernel *k = vm_kernel();
	vm_offset_t lo = first << k->page_shift, hi = (first + count) << k->page_shift;
	for (size_t i = 0; i < obj->nmaps; i++) {
		struct vm_object_mapping *m = &obj->maps[i];
		if (m->copy || (tracked_only && !m->wp))
			continue;
		vm_offset_t a = lo > m->offset ? lo : m->offset;
		vm_offset_t b = hi < m->offset + m->size ? hi : m->offset + m->size;
		if (a < b)
			fn(m->start + (a - m->offset), b - a, arg);
	}
}

struct protect_arg { bool protect, dontwake; };

static void protect_view(uintptr_t addr, size_t len, void *arg)
{
	struct protect_arg *p = arg;
	os_uffd_writeprotect(vm_kernel()->uffd, addr, len, p->protect, p->dontwake);
}

void vm_object_protect_pages(struct vm_object *obj, uint64_t first,
        uint64_t count, bool protect, bool dontwake)
{
	if (!vm_kernel()->wp)
		return;
	struct protect_arg a = { protect, dontwake };
	for_each_view(obj, first, count, true, protect_view, &a);
}

static void zap_view(uintptr_t addr, size_t len, void *arg)
{
	(void)arg;
	os_mapping_zap(addr, len);
}

void vm_object_zap_pages(struct vm_object *obj, uint64_t first, uint64_t count)
{
	for_each_view(obj, first, count, false, zap_view, NULL);
}

void vm_object_need_minor(struct vm_object *obj)
{
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
			err = os_uffd_writeprotect(k->uffd, m->start, m->size, 1, 1);
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
	if (!obj->dead && !obj->terminated)
		return false;
	pthread_mutex_unlock(&obj->lock);
	if (tid != 0)
		os_signal_sigbus(tid, address, KERN_MEMORY_ERROR);
	os_uffd_wake(vm_kernel()->uffd, address & ~(uintptr_t)vm_kernel()->page_mask,
	             vm_kernel()->page_size);
	return true;
}

/* The access is withheld: the thread waits on the page; data_unlock goes
 * out for the bits not asked for yet. (obj locked; unlocks) */
static void wait_for_unlock(struct vm_object *obj, vm_page_t *p,
        uintptr_t address, pid_t tid, vm_prot_t needed)
{
	struct vm_kernel *k = vm_kernel();
	vm_page_add_waiter(p, tid, address);
	vm_prot_t ask = needed & ~p->unlock_asked;
	if (ask == 0) {
		pthread_mutex_unlock(&obj->lock);
		return;
	}
	p->unlock_asked |= (uint8_t)ask;
	vm_offset_t offset = p->index << k->page_shift;
	pthread_mutex_lock(&obj->send_lock);
	pthread_mutex_unlock(&obj->lock);
	mach_msg_return_t mr = emmi_send_data_unlock(obj->object_k, obj->control_k,
	                                             offset, k->page_size, ask);
	pthread_mutex_unlock(&obj->send_lock);
	if (mr != MACH_MSG_SUCCESS)
		vm_object_manager_died(obj);
}

/* A resident page the thread may not use as it stands (flushed meanwhile
 * or being paged in again): let it retry. (obj locked; unlocks) */
static void retry(struct vm_object *obj, uintptr_t page_addr)
{
	pthread_mutex_unlock(&obj->lock);
	os_uffd_wake(vm_kernel()->uffd, page_addr, vm_kernel()->page_size);
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
		retry(obj, page_addr);
		return;
	}
	p->referenced = 1;
	if (p->lock_value & VM_PROT_WRITE) {
		wait_for_unlock(obj, p, address, tid, VM_PROT_WRITE);
		return;
	}
	/* Unprotected under the object lock, so a clean (lock_request,
	 * msync) cannot slip in between and lose this write. */
	p->dirty = 1;
	os_uffd_writeprotect(k->uffd, page_addr, k->page_size, 0, 0);
	pthread_mutex_unlock(&obj->lock);
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
		retry(obj, page_addr);
		return;
	}
	p->referenced = 1;
	vm_prot_t locked = p->lock_value;
	if (locked & VM_PROT_EXECUTE)
		locked |= VM_PROT_READ;      /* no separate execute access here */
	if (locked & VM_PROT_READ) {
		vm_prot_t needed = VM_PROT_READ |
		                   (write && (locked & VM_PROT_WRITE) ? VM_PROT_WRITE : 0);
		wait_for_unlock(obj, p, address, tid, needed & locked);
		return;
	}
	/* Map it without waking, protect it unless writes may go straight
	 * in, then wake. System page by system page: some of a large kernel
	 * page may be mapped already. */
	for (vm_size_t s = 0; s < k->page_size; s += k->system_page_size)
		os_uffd_continue(k->uffd, page_addr + s, k->system_page_size, 1);
	if (k->wp && (!p->dirty || (locked & VM_PROT_WRITE)))
		os_uffd_writeprotect(k->uffd, page_addr, k->page_size, 1, 1);
	pthread_mutex_unlock(&obj->lock);
	os_uffd_wake(k->uffd, page_addr, k->page_size);
}
