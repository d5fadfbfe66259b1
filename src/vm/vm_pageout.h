/* Pageout (vm_pageout.c): keeps the object pages this kernel holds
 * within MEMOBJ_RESIDENT_MAX. */
#ifndef MEMOBJ_VM_PAGEOUT_H
#define MEMOBJ_VM_PAGEOUT_H

#include "vm/vm_page.h"

struct vm_object;

/* Records a newly resident page (obj locked). */
void vm_pageout_enqueue(struct vm_object *obj, vm_page_t *p);
/* Evicts pages until the kernel is within MEMOBJ_RESIDENT_MAX. Call with
 * no lock held (it sends data_return). */
void vm_pageout_balance(void);

#endif
