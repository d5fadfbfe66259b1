/* bench_dirty [MiB]: the cost per page of memobj's dirty tracking
 * (synchronous userfaultfd write-protect, see docs/architecture.md "Dirty
 * tracking") and of lock_request cleaning a large object (default 1 GiB).
 *
 *   read fault     absent page, read: data_request + supply, installed clean
 *   write fault    absent page, write: installed dirty (no WP fault)
 *   first write    resident clean page: one WP fault round trip
 *   rewrite        resident dirty page: no fault at all
 *   clean dirty    lock_request(RETURN_DIRTY) over all-dirty pages:
 *                  protect + copy + data_return (manager frees the data)
 *   clean clean    lock_request over all-clean pages: the scan alone
 *
 * The manager answers data_request with data_unavailable (zero fill), so
 * the figures are the kernel's, not a backing store's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <mach/mach.h>

static mach_port_t object;
static mach_port_t control;
static volatile unsigned long returned_pages, completions;
static vm_size_t ps;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

kern_return_t memory_object_init(memory_object_t o, memory_object_control_t c,
        vm_size_t page_size)
{
	(void)o; (void)page_size;
	control = c;
	memory_object_attr_info_data_t attr = {
		.copy_strategy = MEMORY_OBJECT_COPY_DELAY,
		.cluster_size = (memory_object_cluster_size_t)ps,   /* one fault, one request */
		.may_cache = FALSE, .temporary = FALSE };
	return memory_object_change_attributes(c, MEMORY_OBJECT_ATTRIBUTE_INFO,
	        (memory_object_info_t)&attr, MEMORY_OBJECT_ATTR_INFO_COUNT,
	        MACH_PORT_NULL);
}

kern_return_t memory_object_terminate(memory_object_t o, memory_object_control_t c)
{
	(void)o;
	mach_port_destroy(mach_task_self(), c);
	return KERN_SUCCESS;
}

kern_return_t memory_object_data_request(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, vm_size_t len, vm_prot_t a)
{
	(void)o; (void)a;
	memory_object_data_unavailable(c, off, len);
	mach_port_deallocate(mach_task_self(), c);
	return KERN_SUCCESS;
}

kern_return_t memory_object_data_return(memory_object_t o,
        memory_object_control_t c, vm_offset_t off, pointer_t data,
        mach_msg_type_number_t count, boolean_t dirty, boolean_t kernel_copy)
{
	(void)o; (void)off; (void)dirty; (void)kernel_copy;
	vm_deallocate(mach_task_self(), data, count);
	__atomic_add_fetch(&returned_pages, count / ps, __ATOMIC_RELAXED);
	mach_port_deallocate(mach_task_self(), c);
	return KERN_SUCCESS;
}

kern_return_t memory_object_lock_completed(mach_port_t r,
        memory_object_control_t c, vm_offset_t off, vm_size_t len)
{
	(void)r; (void)off; (void)len;
	__atomic_add_fetch(&completions, 1, __ATOMIC_RELEASE);
	mach_port_deallocate(mach_task_self(), c);
	return KERN_SUCCESS;
}

static void *server(void *arg)
{
	(void)arg;
	mach_msg_server(memory_object_server, MEMORY_OBJECT_MSG_SIZE_MAX, object, 0);
	return NULL;
}

static void wait_completions(unsigned long n)
{
	while (__atomic_load_n(&completions, __ATOMIC_ACQUIRE) < n)
		sched_yield();
}

int main(int argc, char **argv)
{
	vm_size_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 1024;
	vm_size_t size = mib << 20;
	/* The whole object must fit: no pageout in these figures. */
	char lim[32];
	snprintf(lim, sizeof lim, "%llum", (unsigned long long)(mib * 2));
	setenv("MEMOBJ_RESIDENT_MAX", lim, 0);
	host_page_size(mach_host_self(), &ps);
	size_t pages = size / ps;
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &object);
	mach_port_insert_right(mach_task_self(), object, object, MACH_MSG_TYPE_MAKE_SEND);
	pthread_t t;
	pthread_create(&t, NULL, server, NULL);

	vm_address_t a = 0, b = 0;
	if (vm_map(mach_task_self(), &a, size, 0, TRUE, object, 0, FALSE,
	           VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS ||
	    vm_map(mach_task_self(), &b, size, 0, TRUE, object, size, FALSE,
	           VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS) {
		fprintf(stderr, "vm_map failed\n");
		return 1;
	}
	volatile uint8_t *p = (volatile uint8_t *)a, *q = (volatile uint8_t *)b;
	printf("object %llu MiB, page %llu bytes, %zu pages\n",
	       (unsigned long long)mib, (unsigned long long)ps, pages);

	double t0 = now();
	for (size_t i = 0; i < pages; i++)
		(void)p[i * ps];
	double read_fault = (now() - t0) / (double)pages;
	t0 = now();
	for (size_t i = 0; i < pages; i++)
		q[i * ps] = 1;
	double write_fault = (now() - t0) / (double)pages;
	t0 = now();
	for (size_t i = 0; i < pages; i++)
		p[i * ps] = 1;
	double first_write = (now() - t0) / (double)pages;
	t0 = now();
	for (size_t i = 0; i < pages; i++)
		p[i * ps + 1] = 2;
	double rewrite = (now() - t0) / (double)pages;

	/* Cleaning: every page of p's range is dirty now. */
	returned_pages = 0;
	t0 = now();
	memory_object_lock_request(control, 0, size, MEMORY_OBJECT_RETURN_DIRTY,
	        FALSE, VM_PROT_NO_CHANGE, object);
	double issued = now() - t0;
	wait_completions(1);
	double clean_dirty = (now() - t0) / (double)pages;
	unsigned long got = returned_pages;
	t0 = now();
	memory_object_lock_request(control, 0, size, MEMORY_OBJECT_RETURN_DIRTY,
	        FALSE, VM_PROT_NO_CHANGE, object);
	wait_completions(2);
	double clean_clean = (now() - t0) / (double)pages;
	t0 = now();
	for (size_t i = 0; i < pages; i++)
		p[i * ps] = 3;
	double write_after_clean = (now() - t0) / (double)pages;

	printf("%-34s %8.3f us/page\n", "read fault (absent, zero fill)", read_fault * 1e6);
	printf("%-34s %8.3f us/page\n", "write fault (absent, dirty install)", write_fault * 1e6);
	printf("%-34s %8.3f us/page\n", "first write to clean page (WP)", first_write * 1e6);
	printf("%-34s %8.3f us/page\n", "rewrite of dirty page", rewrite * 1e6);
	printf("%-34s %8.3f us/page (%lu pages returned; call %.1f ms)\n",
	       "lock_request clean, all dirty", clean_dirty * 1e6, got, issued * 1e3);
	printf("%-34s %8.3f us/page\n", "lock_request clean, all clean", clean_clean * 1e6);
	printf("%-34s %8.3f us/page\n", "write after clean (WP)", write_after_clean * 1e6);
	printf("ratio first write (WP) / write fault (dirty install): %.2f\n",
	       first_write / write_fault);
	vm_deallocate(mach_task_self(), a, size);
	vm_deallocate(mach_task_self(), b, size);
	return 0;
}
