/* A write that races the mapping of a clean page is never lost.
 *
 * After a read lock has been lifted, a page is in the cache but unmapped:
 * the next access is a minor fault, which the fault thread answers by
 * mapping the page (UFFDIO_CONTINUE) write-protected, since it is clean.
 * If the mapping were made writable first and protected after, a thread
 * not blocked on that fault (another thread of the task, or the faulting
 * one after a spurious wake-up) could write in between: the write would
 * land with no fault, in a page memobj counts clean, and the next flush
 * or pageout would drop it. (The hour soak lost one write this way, or so
 * it seems: tests/test_emmi_soak.c.)
 *
 * The test puts that other thread's write at the worst moment: it wraps
 * ioctl(2), and right after the UFFDIO_CONTINUE returns (before memobj
 * does anything else) writes a byte to the page from the kernel side
 * with process_vm_writev. A writable mapping takes it (the bug); a
 * write-protected one refuses it with EFAULT (userfaultfd in user-mode-
 * only mode does not wait for kernel accesses), and the racing writer
 * then writes from user space, where its write faults and is tracked.
 * Either way the flush that follows must return the byte. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <mach/mach.h>

#include "harness.h"
#include "cache_manager.h"

static atomic_int armed;          /* the next CONTINUE gets the racer */
static atomic_int continues_wp;   /* CONTINUEs asked with MODE_WP */
static atomic_int racer_result;   /* 0 not run, 1 written, -1 refused */
static uint8_t racer_value;

/* Every ioctl of the process comes here (the library's calls too). */
int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (request == UFFDIO_CONTINUE &&
	    (((const struct uffdio_continue *)arg)->mode & (1u << 1)))
		atomic_fetch_add(&continues_wp, 1);   /* UFFDIO_CONTINUE_MODE_WP */
	long r = syscall(SYS_ioctl, fd, request, arg);
	if (r == 0 && request == UFFDIO_CONTINUE && atomic_exchange(&armed, 0)) {
		const struct uffdio_continue *c = arg;
		struct iovec local = { &racer_value, 1 };
		struct iovec remote = { (void *)(uintptr_t)c->range.start, 1 };
		ssize_t n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
		atomic_store(&racer_result, n == 1 ? 1 : -1);
	}
	return (int)r;
}

static vm_size_t ps;
static bool fallback;             /* MEMOBJ_UFFD_CONTINUE_WP=0 */

/* Resident, clean, unlocked, unmapped from the view: read it, read-lock
 * it (which unmaps it), lift the lock. */
static void make_unmapped_clean(struct cm *m, mach_port_t control,
        volatile uint8_t *page)
{
	CHECK_EQ(page[0], cm_pattern(0));
	CHECK_EQ(memory_object_lock_request(control, 0, ps,
	         MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_READ, MACH_PORT_NULL),
	         KERN_SUCCESS);
	CHECK_EQ(memory_object_lock_request(control, 0, ps,
	         MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NONE, MACH_PORT_NULL),
	         KERN_SUCCESS);
	(void)m;
}

TEST(write_racing_a_minor_fault_is_kept)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	mach_port_t control = cm_control(m);
	REQUIRE(MACH_PORT_VALID(control));
	volatile uint8_t *page = (volatile uint8_t *)a;
	make_unmapped_clean(m, control, page);

	racer_value = (uint8_t)(cm_pattern(0) ^ 0x5a);
	atomic_store(&racer_result, 0);
	atomic_store(&armed, 1);
	uint8_t seen = page[1];            /* the minor fault: the racer writes */
	CHECK_EQ(seen, cm_pattern(1));
	atomic_store(&armed, 0);
	int how = atomic_load(&racer_result);
	if (how == 0) {
		/* No minor fault on this kernel (no MINOR mode on shmem): the
		 * window does not exist; nothing to race. */
		printf("     (no UFFDIO_CONTINUE on this kernel: not exercised)\n");
	} else if (how < 0) {
		/* Mapped write-protected: the racer's write goes through user
		 * space, faults, and is tracked. */
		page[0] = racer_value;
	}
	if (fallback && how != 0) {
		/* MEMOBJ_UFFD_CONTINUE_WP=0: as on a kernel without the mode,
		 * the page was mapped writable (the racer's write went in with
		 * no fault) and so counted dirty, never asked with the mode. */
		CHECK_EQ(how, 1);
		CHECK_EQ(atomic_load(&continues_wp), 0);
	}
	CHECK_EQ(page[0], racer_value);
	/* The flush returns what is dirty and drops the page; the next read
	 * comes from the manager's store. */
	CHECK_EQ(memory_object_lock_request(control, 0, ps,
	         MEMORY_OBJECT_RETURN_DIRTY, TRUE, VM_PROT_NO_CHANGE, m->object),
	         KERN_SUCCESS);
	REQUIRE(cm_wait(m, CM_LOCK_COMPLETED, 1, NULL) >= 0);
	pthread_mutex_lock(&m->lock);
	uint8_t stored = m->store[0];
	pthread_mutex_unlock(&m->lock);
	CHECK_EQ(stored, racer_value);
	CHECK_EQ(page[0], racer_value);
	REQUIRE(vm_deallocate(mach_task_self(), a, m->size) == KERN_SUCCESS);
	REQUIRE(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

/* The same race on a page written before: a dirty page stays writable
 * when mapped, and the byte goes back with it. */
TEST(write_racing_a_minor_fault_on_a_dirty_page_is_kept)
{
	struct cm *m = cm_start(4 * ps);
	REQUIRE(m != NULL);
	vm_address_t a = cm_map(m, FALSE);
	REQUIRE(a != 0);
	mach_port_t control = cm_control(m);
	REQUIRE(MACH_PORT_VALID(control));
	volatile uint8_t *page = (volatile uint8_t *)a;
	page[2] = 0x77;                    /* dirty */
	make_unmapped_clean(m, control, page);

	racer_value = (uint8_t)(cm_pattern(0) ^ 0xa5);
	atomic_store(&racer_result, 0);
	atomic_store(&armed, 1);
	CHECK_EQ(page[2], 0x77);
	atomic_store(&armed, 0);
	if (atomic_load(&racer_result) <= 0)
		page[0] = racer_value;
	CHECK_EQ(memory_object_lock_request(control, 0, ps,
	         MEMORY_OBJECT_RETURN_DIRTY, TRUE, VM_PROT_NO_CHANGE, m->object),
	         KERN_SUCCESS);
	REQUIRE(cm_wait(m, CM_LOCK_COMPLETED, 1, NULL) >= 0);
	pthread_mutex_lock(&m->lock);
	CHECK_EQ(m->store[0], racer_value);
	CHECK_EQ(m->store[2], 0x77);
	pthread_mutex_unlock(&m->lock);
	CHECK_EQ(page[0], racer_value);
	REQUIRE(vm_deallocate(mach_task_self(), a, m->size) == KERN_SUCCESS);
	REQUIRE(cm_wait(m, CM_TERMINATE, 1, NULL) >= 0);
	cm_stop(m);
}

int main(void)
{
	ps = cm_kernel_page_size();
	const char *env = getenv("MEMOBJ_UFFD_CONTINUE_WP");
	fallback = env != NULL && strcmp(env, "0") == 0;
	RUN(write_racing_a_minor_fault_is_kept);
	RUN(write_racing_a_minor_fault_on_a_dirty_page_is_kept);
	return harness_done();
}
