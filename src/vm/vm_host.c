/* Host calls answered by the VM: page size and VM statistics. */
#include <mach/mach.h>

#include <string.h>

#include "emmi/emmi_stat.h"
#include "vm/vm_kernel.h"

kern_return_t host_page_size(host_t host, vm_size_t *page_size)
{
	if (host != mach_host_self())
		return KERN_INVALID_HOST;
	if (page_size == NULL)
		return KERN_INVALID_ARGUMENT;
	*page_size = vm_kernel()->page_size;
	return KERN_SUCCESS;
}

kern_return_t host_statistics(host_t host, host_flavor_t flavor,
        host_info_t host_info, mach_msg_type_number_t *host_info_count)
{
	if (host != mach_host_self())
		return KERN_INVALID_HOST;
	if (host_info == NULL || host_info_count == NULL)
		return KERN_INVALID_ARGUMENT;
	if (flavor != HOST_VM_INFO)
		return KERN_INVALID_ARGUMENT;
	/* XNU's answer to a short buffer. */
	if (*host_info_count < HOST_VM_INFO_COUNT)
		return KERN_FAILURE;
	struct vm_kernel *k = vm_kernel();
	vm_statistics_data_t s;
	memset(&s, 0, sizeof s);
	s.active_count = atomic_load(&k->active);
	/* Room left under MEMOBJ_RESIDENT_MAX; nothing is wired, and there
	 * is no inactive queue (pageout gives second chances in place). */
	s.free_count = s.active_count < k->resident_max
	               ? (natural_t)(k->resident_max - s.active_count) : 0;
	s.reactivations = atomic_load(&k->reactivations);
	s.pageouts = atomic_load(&k->pageouts);
	s.zero_fill_count = atomic_load(&k->zero_fills);
	s.pageins = atomic_load(&k->pageins);
	s.faults = atomic_load(&k->faults);
	/* lookups and hits: messages sent to managers, control calls
	 * received (emmi_stat.c counts them; the ABI keeps Mach's names). */
	emmi_stat_totals(&s.lookups, &s.hits);
	memcpy(host_info, &s, sizeof s);
	*host_info_count = HOST_VM_INFO_COUNT;
	return KERN_SUCCESS;
}
