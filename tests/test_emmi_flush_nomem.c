/* A flush that cannot copy a dirty page out keeps the page.
 *
 * lock_request(RETURN_DIRTY, flush) copies each dirty run into fresh pages
 * for its data_return, then drops the range. When the copy fails (no
 * memory for the fresh pages), that run must stay resident and dirty:
 * dropping it loses the data (it did: the drop ignored the failure). The
 * test makes the fresh-page mmap fail once, by wrapping mmap(2). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"

static atomic_int fail_next;      /* the next fresh anonymous mapping fails */

/* Every mmap of the library comes here (glibc's own use its internal
 * entry). Only a fresh private read-write anonymous mapping is failed. */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (addr == NULL && fd == -1 && (flags & MAP_ANONYMOUS) &&
	    (flags & MAP_PRIVATE) && prot == (PROT_READ | PROT_WRITE) &&
	    atomic_exchange(&fail_next, 0)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static vm_size_t ps;

TEST(flush_keeps_a_page_it_cannot_return)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	mach_port_t control = cm_control(m);
	REQUIRE(MACH_PORT_VALID(control));
	volatile uint8_t *page = (volatile uint8_t *)a;
	uint8_t value = (uint8_t)(cm_pattern(0) ^ 0x3c);
	page[0] = value;                           /* page 0 dirty */
	CHECK_EQ(page[ps], cm_pattern(ps));        /* page 1 clean */

	atomic_store(&fail_next, 1);
	CHECK_EQ(memory_object_lock_request(control, 0, 2 * ps,
	         MEMORY_OBJECT_RETURN_DIRTY, TRUE, VM_PROT_NO_CHANGE, m->object),
	         KERN_SUCCESS);
	REQUIRE(cm_wait(m, CM_LOCK_COMPLETED, 1, NULL) >= 0);
	CHECK_EQ(atomic_load(&fail_next), 0);      /* the copy was tried */
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 0);
	int requests = cm_count(m, CM_DATA_REQUEST);
	CHECK_EQ(page[0], value);                  /* still here */
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), requests);
	CHECK_EQ(page[ps], cm_pattern(ps));        /* the clean page went */
	CHECK_EQ(cm_count(m, CM_DATA_REQUEST), requests + 1);

	/* Still dirty: the next flush returns it. */
	CHECK_EQ(memory_object_lock_request(control, 0, ps,
	         MEMORY_OBJECT_RETURN_DIRTY, TRUE, VM_PROT_NO_CHANGE, m->object),
	         KERN_SUCCESS);
	REQUIRE(cm_wait(m, CM_LOCK_COMPLETED, 2, NULL) >= 0);
	CHECK_EQ(cm_count(m, CM_DATA_RETURN), 1);
	pthread_mutex_lock(&m->lock);
	CHECK_EQ(m->store[0], value);
	pthread_mutex_unlock(&m->lock);
	CHECK_EQ(page[0], value);
	REQUIRE(vm_deallocate(mach_task_self(), a, m->size) == KERN_SUCCESS);
	REQUIRE(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

int main(void)
{
	ps = cm_kernel_page_size();
	RUN(flush_keeps_a_page_it_cannot_return);
	return harness_done();
}
