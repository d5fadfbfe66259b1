/* The object's attributes, set and read by its manager (change_attributes,
 * get_attributes): cluster size, caching, copy strategy, read-ahead. The
 * first change makes the object ready (SPEC 3.1) and sends the requests
 * faults queued until then. Runs in the manager's thread. */
#include "vm/vm_attributes.h"

#include <stdlib.h>
#include <string.h>

#include "emmi/object_user.h"
#include "vm/vm_fault.h"
#include "vm/vm_kernel.h"
#include "vm/vm_manager_death.h"
#include "vm/vm_object.h"

kern_return_t vm_object_change_attributes(struct vm_object *obj,
        memory_object_flavor_t flavor, const integer_t *info,
        mach_msg_type_number_t count)
{
	struct vm_kernel *k = vm_kernel();
	vm_size_t cluster;
	pthread_mutex_lock(&obj->lock);
	switch (flavor) {
	case MEMORY_OBJECT_PERFORMANCE_INFO: {
		if (count != MEMORY_OBJECT_PERF_INFO_COUNT)
			goto invalid;
		memory_object_perf_info_data_t perf;
		memcpy(&perf, info, sizeof perf);
		cluster = perf.cluster_size;
		obj->may_cache = perf.may_cache != FALSE;
		break;
	}
	case MEMORY_OBJECT_ATTRIBUTE_INFO: {
		if (count != MEMORY_OBJECT_ATTR_INFO_COUNT)
			goto invalid;
		memory_object_attr_info_data_t attr;
		memcpy(&attr, info, sizeof attr);
		cluster = attr.cluster_size;
		obj->copy_strategy = attr.copy_strategy;
		obj->may_cache = attr.may_cache != FALSE;
		obj->temporary = attr.temporary != FALSE;
		break;
	}
	case MEMORY_OBJECT_BEHAVIOR_INFO: {
		if (count != MEMORY_OBJECT_BEHAVE_INFO_COUNT)
			goto invalid;
		memory_object_behave_info_data_t behave;
		memcpy(&behave, info, sizeof behave);
		cluster = obj->cluster_size;
		obj->copy_strategy = behave.copy_strategy;
		obj->temporary = behave.temporary != FALSE;
		obj->invalidate = behave.invalidate != FALSE;
		break;
	}
	case MEMORY_OBJECT_READAHEAD_INFO: {
		if (count != MEMORY_OBJECT_READAHEAD_INFO_COUNT)
			goto invalid;
		memory_object_readahead_info_data_t ra;
		memcpy(&ra, info, sizeof ra);
		cluster = obj->cluster_size;
		obj->ra_max = ra.max_window & ~k->page_mask;
		obj->ra_window = 0;
		break;
	}
	default:
		goto invalid;
	}
	/* Whole kernel pages, at least one. */
	cluster &= ~k->page_mask;
	obj->cluster_size = cluster ? cluster : k->page_size;

	bool first_ready = !obj->ready;
	obj->ready = true;
	struct vm_pending_request *pending = NULL;
	size_t npending = 0;
	if (first_ready && obj->npending > 0) {
		VM_ASSERT_LOCKED(&obj->lock);    /* widen_pending's rule */
		vm_object_widen_pending(obj);
		pending = obj->pending;
		npending = obj->npending;
		obj->pending = NULL;
		obj->npending = obj->pending_cap = 0;
	}
	/* The hand-off keeps the queued requests ahead of any a new fault
	 * sends. */
	vm_object_send_handoff(obj);
	bool failed = false;
	for (size_t i = 0; i < npending && !failed; i++)
		failed = emmi_send_data_request(obj->object_k, obj->control_k,
		                                pending[i].offset, pending[i].length,
		                                pending[i].access) != MACH_MSG_SUCCESS;
	pthread_mutex_unlock(&obj->send_lock);
	free(pending);
	if (failed)
		vm_object_manager_died(obj);
	/* may_cache turned off on an object nobody maps: it goes now. */
	vm_object_maybe_terminate(obj);
	return KERN_SUCCESS;
invalid:
	pthread_mutex_unlock(&obj->lock);
	return KERN_INVALID_ARGUMENT;
}

kern_return_t vm_object_get_attributes(struct vm_object *obj,
        memory_object_flavor_t flavor, integer_t *info,
        mach_msg_type_number_t *count)
{
	kern_return_t kr = KERN_SUCCESS;
	pthread_mutex_lock(&obj->lock);
	switch (flavor) {
	case MEMORY_OBJECT_PERFORMANCE_INFO: {
		if (*count < MEMORY_OBJECT_PERF_INFO_COUNT) {
			kr = KERN_INVALID_ARGUMENT;
			break;
		}
		memory_object_perf_info_data_t perf = {
			.cluster_size = (memory_object_cluster_size_t)obj->cluster_size,
			.may_cache = obj->may_cache,
		};
		memcpy(info, &perf, sizeof perf);
		*count = MEMORY_OBJECT_PERF_INFO_COUNT;
		break;
	}
	case MEMORY_OBJECT_ATTRIBUTE_INFO: {
		if (*count < MEMORY_OBJECT_ATTR_INFO_COUNT) {
			kr = KERN_INVALID_ARGUMENT;
			break;
		}
		memory_object_attr_info_data_t attr = {
			.copy_strategy = obj->copy_strategy,
			.cluster_size = (memory_object_cluster_size_t)obj->cluster_size,
			.may_cache = obj->may_cache,
			.temporary = obj->temporary,
		};
		memcpy(info, &attr, sizeof attr);
		*count = MEMORY_OBJECT_ATTR_INFO_COUNT;
		break;
	}
	case MEMORY_OBJECT_BEHAVIOR_INFO: {
		if (*count < MEMORY_OBJECT_BEHAVE_INFO_COUNT) {
			kr = KERN_INVALID_ARGUMENT;
			break;
		}
		memory_object_behave_info_data_t behave = {
			.copy_strategy = obj->copy_strategy,
			.temporary = obj->temporary,
			.invalidate = obj->invalidate,
		};
		memcpy(info, &behave, sizeof behave);
		*count = MEMORY_OBJECT_BEHAVE_INFO_COUNT;
		break;
	}
	case MEMORY_OBJECT_READAHEAD_INFO: {
		if (*count < MEMORY_OBJECT_READAHEAD_INFO_COUNT) {
			kr = KERN_INVALID_ARGUMENT;
			break;
		}
		memory_object_readahead_info_data_t ra = {
			.max_window = (memory_object_cluster_size_t)obj->ra_max,
			.requests = obj->ra_requests,
			.pages = obj->ra_pages,
		};
		memcpy(info, &ra, sizeof ra);
		*count = MEMORY_OBJECT_READAHEAD_INFO_COUNT;
		break;
	}
	default:
		kr = KERN_INVALID_ARGUMENT;
	}
	pthread_mutex_unlock(&obj->lock);
	return kr;
}
