/* Dirty tracking and page locks on the object's mappings (vm_dirty.c):
 * userfault write protection and MINOR registration per shared view. */
#ifndef MEMOBJ_VM_DIRTY_H
#define MEMOBJ_VM_DIRTY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <mach/mach.h>

struct vm_object;

/* All of these but the last three need obj locked. */
/* Sets (clears) the write protection of pages [first, first+count) in
 * every tracked shared mapping. Neither wakes a blocked writer: the
 * caller does once the page is as the writer must find it. */
void vm_object_protect_pages(struct vm_object *obj, uint64_t first,
        uint64_t count);
void vm_object_unprotect_pages(struct vm_object *obj, uint64_t first,
        uint64_t count);
/* Unmaps pages from every shared mapping (the cache keeps them). */
void vm_object_zap_pages(struct vm_object *obj, uint64_t first,
        uint64_t count);
/* Registers every shared mapping for MINOR faults (once per object), so
 * that a read lock can catch the next access. */
void vm_object_need_minor(struct vm_object *obj);
/* Unmaps pages from every executable shared mapping. */
void vm_object_zap_exec_pages(struct vm_object *obj, uint64_t first,
        uint64_t count);
/* A page is about to get lock `lock`: registers MINOR where a fault must
 * catch it (read withheld, or execute with an executable view). */
void vm_object_note_lock(struct vm_object *obj, vm_prot_t lock);

/* The shared mapping records inside [start, start+size) become (or stop
 * being) executable; pages whose lock withholds execute are unmapped from
 * a view that becomes executable. Takes obj->lock; call before the range
 * is made executable. */
void vm_object_mapping_set_exec(struct vm_object *obj, uintptr_t start,
        vm_size_t size, bool exec);
/* Starts dirty tracking on the shared mapping records inside
 * [start, start+size) that lack it (the mapping is, or is about to be,
 * writable): registers WP and write-protects them whole. Takes obj->lock;
 * call before the range is made writable. 0 or -errno. */
int vm_object_track_writes(struct vm_object *obj, uintptr_t start,
        vm_size_t size);
/* Write-protect / minor fault events (fault thread, no lock held). */
void vm_object_wp_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid);
void vm_object_minor_fault(struct vm_object *obj, vm_offset_t offset,
        uintptr_t address, pid_t tid, int write);

#endif
