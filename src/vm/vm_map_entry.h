/* The task's address map: the ranges vm_map and vm_allocate made, sorted,
 * with their object, offset, protections and inheritance. */
#ifndef MEMOBJ_VM_MAP_ENTRY_H
#define MEMOBJ_VM_MAP_ENTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <mach/mach.h>

struct vm_object;

struct vm_map_entry {
	uintptr_t start, end;
	struct vm_object *object;       /* NULL: anonymous (zero-filled) */
	vm_offset_t offset;             /* object offset of `start` */
	vm_prot_t protection, max_protection;
	vm_inherit_t inheritance;
	bool copy;                      /* MAP_PRIVATE view of the object */
};

void vm_map_lock_read(void);
void vm_map_lock_write(void);
void vm_map_unlock(void);

/* All below need the map lock (write for changes). */

/* Index of the first entry whose end is above addr (may be count). */
size_t vm_map_first_after(uintptr_t addr);
struct vm_map_entry *vm_map_entry_at(size_t index);
size_t vm_map_entry_count(void);
/* Inserts a copy of *e (the map takes over its object reference).
 * 0 or -ENOMEM. */
int vm_map_insert(const struct vm_map_entry *e);
/* Splits the entry containing `at` (strictly inside it) in two. 0/-ENOMEM. */
int vm_map_clip(uintptr_t at);
/* True when [start, end) is covered by entries without holes. */
bool vm_map_covered(uintptr_t start, uintptr_t end);
/* True when some entry overlaps [start, end). */
bool vm_map_overlaps(uintptr_t start, uintptr_t end);
/* Removes every entry inside [start, end) (clip first), unmaps it and
 * drops its object mapping. Memory the map does not track in the range is
 * unmapped as well. */
void vm_map_remove_range(uintptr_t start, uintptr_t end);

/* Reserves an inaccessible range of `size` bytes: anywhere aligned to
 * `align` (a power of two), or exactly at *addr. KERN_SUCCESS,
 * KERN_NO_SPACE or KERN_RESOURCE_SHORTAGE. */
kern_return_t vm_map_reserve(uintptr_t *addr, vm_size_t size, vm_size_t align,
        bool anywhere);

/* Drops entries inside [start, end) that mmap just reported free (their
 * memory was unmapped behind the map's back). */
void vm_map_forget_stale(uintptr_t start, uintptr_t end);

/* The object and object offset mapped at addr, with a reference; NULL when
 * the address is not in an object mapping. Takes the map lock itself. */
struct vm_object *vm_map_lookup_object(uintptr_t addr, vm_offset_t *offset);

int vm_prot_to_mmap(vm_prot_t prot);

/* Zero-filled memory over the reserved [addr, addr+size) (vm_map.c). */
kern_return_t vm_map_enter_anonymous(uintptr_t addr, vm_size_t size,
        vm_prot_t cur, vm_prot_t max, vm_inherit_t inheritance);
/* Zero-filled memory wherever mmap puts it (system-page alignment). */
kern_return_t vm_map_enter_anonymous_anywhere(uintptr_t *addr, vm_size_t size,
        vm_prot_t cur, vm_prot_t max, vm_inherit_t inheritance);

#endif
