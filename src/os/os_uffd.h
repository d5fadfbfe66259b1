/* Thin wrappers over Linux userfaultfd: the only place (with os_uffd.c)
 * that includes <linux/userfaultfd.h>. The VM layer sees fault events as
 * os_uffd_fault_t and never the kernel's structures. */
#ifndef MEMOBJ_OS_UFFD_H
#define MEMOBJ_OS_UFFD_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Features found at run time (UFFDIO_API probe) that the VM acts on.
 * (The faulting tid and exact address are asked for too when offered;
 * without them events carry tid 0 and the page address, which the VM
 * handles as they come.) */
#define OS_UFFD_HAVE_WP            0x10u /* WP mode on shmem (dirty tracking) */
#define OS_UFFD_HAVE_MINOR         0x20u /* MINOR mode on shmem (read locks) */

/* Registration modes (os_uffd_register). */
#define OS_UFFD_MODE_MISSING 0x1u
#define OS_UFFD_MODE_WP      0x2u
#define OS_UFFD_MODE_MINOR   0x4u

/* What raised a fault event. */
enum os_uffd_fault_kind {
	OS_UFFD_FAULT_MISSING = 0,   /* no page in the cache */
	OS_UFFD_FAULT_WP,            /* write to a write-protected page */
	OS_UFFD_FAULT_MINOR,         /* page in the cache, not mapped here */
};

typedef struct os_uffd_fault {
	uintptr_t address;   /* faulting address (exact when the kernel can) */
	pid_t     tid;       /* faulting thread, 0 when unknown */
	int       write;     /* nonzero for a write fault */
	int       kind;      /* enum os_uffd_fault_kind */
} os_uffd_fault_t;

/* Opens a user-mode-only userfaultfd (O_CLOEXEC|O_NONBLOCK: several
 * threads may read it, see os_uffd_reader_open), negotiates the
 * API with every useful feature the running kernel offers. Returns the fd or
 * -errno; *features gets OS_UFFD_HAVE_* bits. */
int os_uffd_open(unsigned *features);
/* Registers [addr, addr+len) for MISSING faults. 0 or -errno. */
int os_uffd_register_missing(int uffd, uintptr_t addr, size_t len);
/* Registers (or re-registers, same fd) with OS_UFFD_MODE_* modes. */
int os_uffd_register(int uffd, uintptr_t addr, size_t len, unsigned modes);
/* What os_uffd_writeprotect does to a range. */
enum os_uffd_wp {
	OS_UFFD_WP_PROTECT,        /* protect (never wakes anyone) */
	OS_UFFD_WP_CLEAR_WAKE,     /* clear, and wake the threads blocked on it */
	OS_UFFD_WP_CLEAR_NOWAKE,   /* clear; the caller wakes them later */
};
/* Sets or clears the userfault write protection of the range. On shmem,
 * protecting an unmapped page leaves a marker, so its first write after
 * it is mapped still faults. 0 or -errno. */
int os_uffd_writeprotect(int uffd, uintptr_t addr, size_t len,
        enum os_uffd_wp how);
/* Maps the cache pages of a MINOR-registered range and, unless dontwake,
 * wakes the waiters; wp maps them write-protected in the same step (the
 * range must be registered WP; kernels before 6.3 refuse it: -EINVAL).
 * 0, -EEXIST when already mapped, or -errno. */
int os_uffd_continue(int uffd, uintptr_t addr, size_t len, int wp,
        int dontwake);
/* UFFDIO_COPY of len bytes from src to dst (a registered range): fills
 * the page cache of a shared mapping and maps the pages there; wakes the
 * range unless dontwake; wp maps them write-protected (the range must be
 * registered WP). Retries EAGAIN. Returns 0 when all was copied, else
 * -errno with *copied the bytes that were (-EEXIST: the page at dst +
 * *copied was already there). */
int os_uffd_copy(int uffd, uintptr_t dst, const void *src, size_t len,
        int wp, int dontwake, size_t *copied);
/* Stops userfaults on [addr, addr+len) (an undo of os_uffd_register).
 * 0 or -errno. */
int os_uffd_unregister(int uffd, uintptr_t addr, size_t len);
/* Wakes threads waiting on faults inside [addr, addr+len). 0 or -errno. */
int os_uffd_wake(int uffd, uintptr_t addr, size_t len);
/* Blocks until the fd is readable (or a signal interrupts). */
int os_uffd_wait(int uffd);
/* Reads up to max pagefault events without blocking; other event kinds
 * are skipped. Returns the count (0 when there were none, another reader
 * took them, or only other events came) or -errno. */
int os_uffd_read_faults(int uffd, os_uffd_fault_t *faults, int max);

/* A fault reader: an epoll set holding the userfaultfd as an exclusive
 * waiter (EPOLLEXCLUSIVE: each fault event wakes one reader that is
 * waiting, the earliest registered first, and passes over readers that
 * are busy) and an eventfd that wakes this reader alone. Returns the epoll
 * fd, *wake_fd the eventfd (-1 for none: the fault thread), or -errno. */
int os_uffd_reader_open(int uffd, int *wake_fd);
/* Puts this reader's userfaultfd entry last, behind every reader
 * registered since (the fault thread is the reader of last resort). */
int os_uffd_reader_requeue(int epfd, int uffd);
/* Waits for a fault event or a wake (or until the absolute
 * CLOCK_MONOTONIC deadline, NULL for none). Returns OS_UFFD_READY_* bits
 * (0 when a signal interrupted), -1 when the deadline passed. */
#define OS_UFFD_READY_FAULT 0x1
#define OS_UFFD_READY_WAKE  0x2
int os_uffd_reader_wait(int epfd, const struct timespec *deadline);
/* Wakes the reader whose wake_fd this is (a stale wake is harmless: the
 * reader re-checks why it waits). */
void os_uffd_reader_wake(int wake_fd);

#endif
