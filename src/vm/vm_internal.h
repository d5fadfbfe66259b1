/* Internal memory: what vm_allocate (and vm_map of MEMORY_OBJECT_NULL)
 * makes. It is plain anonymous memory, faulted at kernel speed, until the
 * kernel must page some of it out to the default pager: then the range
 * becomes an internal vm_object (memory_object_create) and pages like any
 * object's. See vm_internal.c and docs/default_pager.md. */
#ifndef MEMOBJ_VM_INTERNAL_H
#define MEMOBJ_VM_INTERNAL_H

#include <stdbool.h>
#include <mach/mach.h>

struct vm_object;
struct vm_return_run;

/* The documented netname a node's default pager is checked in under. */
#define VM_DEFAULT_PAGER_NETNAME "memobj-default-pager"

/* Starts the internal pageout thread (once): a default manager is
 * registered, so internal memory counts toward MEMOBJ_RESIDENT_MAX. */
void vm_internal_start(void);
/* From the kernel's start: with MEMOBJ_DEFAULT_PAGER set, the pageout
 * thread connects to that node and registers its default pager. */
void vm_internal_kernel_start(void);

/* A kernel-space send right (a new user reference: deallocate it) to the
 * registered default manager, or MACH_PORT_NULL; *cluster_size (when not
 * NULL) gets its cluster size, 0 if none was given (vm_default_manager.c). */
mach_port_name_t vm_default_manager_ref(vm_size_t *cluster_size);

/* Sends run r of an internal object page by page: data_initialize the
 * first time a page goes out, data_return after. Every page is sent or
 * freed. (obj->send_lock held) */
mach_msg_return_t vm_internal_send_run(struct vm_object *obj,
        struct vm_return_run *r, bool kernel_copy);
/* True when no page of [offset, offset+length) of internal object obj
 * ever went out (the default pager has none of them: a fault zero-fills
 * them without asking, as a Mach kernel's existence map allows). Call
 * with obj->send_lock held: a page's first trip out is sent, and its bit
 * set, under it, so a page being evicted is seen as out. */
bool vm_internal_never_out(struct vm_object *obj, vm_offset_t offset,
        vm_size_t length);
/* Pageout met a page of an internal object that the default pager gave
 * back precious (its store is full or failed): the page stays resident,
 * out of the pageout queue. One line on stderr the first time. */
void vm_internal_keep(struct vm_object *obj);   /* obj locked */
/* Pages kept that way in all (they do not count toward the limit). */
size_t vm_internal_pinned(void);
/* The object pages that count toward MEMOBJ_RESIDENT_MAX: all resident
 * ones but those kept. */
size_t vm_internal_counted(void);
/* The pageout thread sleeps while internal memory cannot exceed the
 * limit; these wake it: the map changed (vm_map_unlock of a write lock),
 * the counted object pages are now `counted` (vm_pageout_balance). */
void vm_internal_map_changed(void);
void vm_internal_note_counted(size_t counted);
/* Tests: the pageout thread's wake-ups so far (each one look at internal
 * memory), and whether it is now asleep with no timeout and nothing
 * pending that would wake it. */
void vm_internal_pageout_stats(unsigned long long *wakeups, bool *idle);
/* The last reference to an internal object goes (vm_object_release). */
void vm_internal_release(struct vm_object *obj);

#endif
