/* A memory object's manager is gone (vm_manager_death.c): its port died,
 * or a send to it failed. */
#ifndef MEMOBJ_VM_MANAGER_DEATH_H
#define MEMOBJ_VM_MANAGER_DEATH_H

struct vm_object;

/* Fails every waiter (pages being paged in, pages waiting for an unlock,
 * vm_msync) with KERN_MEMORY_ERROR, and every later fault. No lock held. */
void vm_object_manager_died(struct vm_object *obj);

#endif
