/* The kernel's default memory manager: registered and read back with
 * host_default_memory_manager (vm_set_default_memory_manager is its older
 * name). The kernel keeps a send right to it in the kernel space, as it
 * keeps its send rights to memory objects. */
#include <mach/mach.h>

#include <pthread.h>

#include "ipc/ipc_kernel.h"
#include "vm/vm_internal.h"
#include "vm/vm_kernel.h"
#include "vm/vm_lock_order.h"

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static mach_port_name_t default_manager_k = MACH_PORT_NULL;   /* kernel space */
static vm_size_t default_cluster_size;

/* With *default_manager a send right of the caller's: it becomes the
 * default manager (the caller keeps its right) and the previous one comes
 * back in its place (MACH_PORT_NULL if none). With MACH_PORT_NULL: a send
 * right to the current one comes back (or MACH_PORT_NULL). cluster_size,
 * when not 0, is kept as the default pager's cluster (a multiple of the
 * kernel page size). */
kern_return_t host_default_memory_manager(host_priv_t host_priv,
        memory_object_default_t *default_manager, vm_size_t cluster_size)
{
	if (host_priv != mach_host_self())
		return KERN_INVALID_HOST;
	if (default_manager == NULL)
		return KERN_INVALID_ARGUMENT;
	struct vm_kernel *k = vm_kernel();
	if (cluster_size & k->page_mask)
		return KERN_INVALID_ARGUMENT;

	mach_port_name_t new_k = MACH_PORT_NULL;
	if (*default_manager != MACH_PORT_NULL &&
	    ipc_right_transfer(ipc_space_task(), *default_manager,
	                       MACH_MSG_TYPE_COPY_SEND, ipc_space_kernel(),
	                       &new_k) != KERN_SUCCESS)
		return KERN_INVALID_ARGUMENT;

	pthread_mutex_lock(&default_lock);
	mach_port_name_t current_k = default_manager_k;
	mach_port_name_t out = MACH_PORT_NULL;
	kern_return_t kr = KERN_SUCCESS;
	if (MACH_PORT_VALID(current_k) &&
	    ipc_right_transfer(ipc_space_kernel(), current_k,
	                       new_k != MACH_PORT_NULL ? MACH_MSG_TYPE_MOVE_SEND
	                                               : MACH_MSG_TYPE_COPY_SEND,
	                       ipc_space_task(), &out) != KERN_SUCCESS) {
		/* The old manager died: its name is a dead name now. */
		if (new_k != MACH_PORT_NULL)
			ipc_port_deallocate(ipc_space_kernel(), current_k);
		out = MACH_PORT_NULL;
	}
	if (new_k != MACH_PORT_NULL) {
		default_manager_k = new_k;
		if (cluster_size != 0)
			default_cluster_size = cluster_size;
	}
	pthread_mutex_unlock(&default_lock);
	*default_manager = out;
	/* Internal memory starts to count toward the resident limit. */
	if (new_k != MACH_PORT_NULL)
		vm_internal_start();
	return kr;
}

mach_port_name_t vm_default_manager_ref(vm_size_t *cluster_size)
{
	pthread_mutex_lock(&default_lock);
	mach_port_name_t dm = default_manager_k;
	mach_port_type_t type = 0;
	if (!MACH_PORT_VALID(dm) ||
	    ipc_port_type(ipc_space_kernel(), dm, &type) != KERN_SUCCESS ||
	    !(type & MACH_PORT_TYPE_SEND) ||
	    ipc_port_mod_refs(ipc_space_kernel(), dm, MACH_PORT_RIGHT_SEND, 1)
	    != KERN_SUCCESS)
		dm = MACH_PORT_NULL;
	if (cluster_size != NULL)
		*cluster_size = default_cluster_size;
	pthread_mutex_unlock(&default_lock);
	return dm;
}

kern_return_t vm_set_default_memory_manager(host_priv_t host_priv,
        memory_object_default_t *default_manager)
{
	return host_default_memory_manager(host_priv, default_manager, 0);
}
