/* memory_object_change_attributes / get_attributes on the kernel side
 * (vm_attributes.c): the object's cluster size, caching, copy strategy,
 * read-ahead window; the first change makes the object ready and sends
 * the requests held back until then. No lock held by the caller. */
#ifndef MEMOBJ_VM_ATTRIBUTES_H
#define MEMOBJ_VM_ATTRIBUTES_H

#include <mach/mach.h>

struct vm_object;

/* KERN_SUCCESS or KERN_INVALID_ARGUMENT (flavor, count). */
kern_return_t vm_object_change_attributes(struct vm_object *obj,
        memory_object_flavor_t flavor, const integer_t *info,
        mach_msg_type_number_t count);
/* *count is the room in info on entry, what was filled on return.
 * KERN_SUCCESS or KERN_INVALID_ARGUMENT. */
kern_return_t vm_object_get_attributes(struct vm_object *obj,
        memory_object_flavor_t flavor, integer_t *info,
        mach_msg_type_number_t *count);

#endif
