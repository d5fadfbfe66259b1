/* userfaultfd: open with UFFD_USER_MODE_ONLY (works unprivileged), probe
 * features, register/wake ranges, read fault events. */
#include "os/os_uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

/* Newer than the Debian 6.1 headers: defined here, probed at run time. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_EXACT_ADDRESS
#define UFFD_FEATURE_EXACT_ADDRESS (1 << 11)
#endif

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_MINOR_SHMEM
#define UFFD_FEATURE_MINOR_SHMEM (1 << 10)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_PAGEFAULT_FLAG_MINOR
#define UFFD_PAGEFAULT_FLAG_MINOR (1 << 2)
#endif
#ifndef UFFDIO_REGISTER_MODE_MINOR
#define UFFDIO_REGISTER_MODE_MINOR ((__u64)1 << 2)
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif

static int uffd_create(int flags)
{
	int fd = (int)syscall(SYS_userfaultfd,
	                      O_CLOEXEC | flags | UFFD_USER_MODE_ONLY);
	return fd < 0 ? -errno : fd;
}

/* UFFDIO_API may be called once per fd, so the probe uses a throwaway fd. */
static uint64_t uffd_probe_features(void)
{
	int fd = uffd_create(O_NONBLOCK);
	if (fd < 0)
		return 0;
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	uint64_t features = ioctl(fd, UFFDIO_API, &api) == 0 ? api.features : 0;
	close(fd);
	return features;
}

int os_uffd_open(unsigned *features)
{
	uint64_t offered = uffd_probe_features();
	/* Not WP_ASYNC: its write faults resolve in the kernel with no event,
	 * and a write lock must hold the writer (docs/architecture.md, Dirty
	 * tracking). */
	uint64_t wanted = offered & (UFFD_FEATURE_THREAD_ID |
	                             UFFD_FEATURE_EXACT_ADDRESS |
	                             UFFD_FEATURE_PAGEFAULT_FLAG_WP |
	                             UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
	                             UFFD_FEATURE_WP_UNPOPULATED |
	                             UFFD_FEATURE_MINOR_SHMEM);
	/* Non-blocking: readers sleep in epoll_wait (os_uffd_reader_wait), so
	 * that each event wakes one of them, and read after. */
	int fd = uffd_create(O_NONBLOCK);
	if (fd < 0)
		return fd;
	struct uffdio_api api = { .api = UFFD_API, .features = wanted };
	if (ioctl(fd, UFFDIO_API, &api) != 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	unsigned have = 0;
	if (wanted & UFFD_FEATURE_WP_HUGETLBFS_SHMEM)
		have |= OS_UFFD_HAVE_WP;
	if (wanted & UFFD_FEATURE_MINOR_SHMEM)
		have |= OS_UFFD_HAVE_MINOR;

	if (features)
		*features = have;
	return fd;
}

int os_uffd_register_missing(int uffd, uintptr_t addr, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	return ioctl(uffd, UFFDIO_REGISTER, &reg) == 0 ? 0 : -errno;
}

int os_uffd_register(int uffd, uintptr_t addr, size_t len, unsigned modes)
{
	struct uffdio_register reg = {
		.range = { .start = addr, .len = len },
		.mode = ((modes & OS_UFFD_MODE_MISSING) ? UFFDIO_REGISTER_MODE_MISSING : 0) |
		        ((modes & OS_UFFD_MODE_WP) ? UFFDIO_REGISTER_MODE_WP : 0) |
		        ((modes & OS_UFFD_MODE_MINOR) ? UFFDIO_REGISTER_MODE_MINOR : 0),
	};
	return ioctl(uffd, UFFDIO_REGISTER, &reg) == 0 ? 0 : -errno;
}

int os_uffd_writeprotect(int uffd, uintptr_t addr, size_t len,
        enum os_uffd_wp how)
{
	/* Protecting never wakes (and the kernel refuses DONTWAKE with it). */
	static const __u64 mode[] = {
		[OS_UFFD_WP_PROTECT] = UFFDIO_WRITEPROTECT_MODE_WP,
		[OS_UFFD_WP_CLEAR_WAKE] = 0,
		[OS_UFFD_WP_CLEAR_NOWAKE] = UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
	};
	struct uffdio_writeprotect wp = {
		.range = { .start = addr, .len = len },
		.mode = mode[how],
	};
	while (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) != 0) {
		if (errno != EAGAIN)
			return -errno;
	}
	return 0;
}

int os_uffd_continue(int uffd, uintptr_t addr, size_t len, int wp,
        int dontwake)
{
	struct uffdio_continue c = {
		.range = { .start = addr, .len = len },
		.mode = (wp ? UFFDIO_CONTINUE_MODE_WP : 0) |
		        (dontwake ? UFFDIO_CONTINUE_MODE_DONTWAKE : 0),
	};
	for (;;) {
		c.mapped = 0;
		if (ioctl(uffd, UFFDIO_CONTINUE, &c) == 0)
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
}

int os_uffd_copy(int uffd, uintptr_t dst, const void *src, size_t len,
        int wp, int dontwake, size_t *copied)
{
	*copied = 0;
	while (*copied < len) {
		struct uffdio_copy c = {
			.dst = dst + *copied,
			.src = (uintptr_t)src + *copied,
			.len = len - *copied,
			.mode = (wp ? UFFDIO_COPY_MODE_WP : 0) |
			        (dontwake ? UFFDIO_COPY_MODE_DONTWAKE : 0),
		};
		if (ioctl(uffd, UFFDIO_COPY, &c) == 0)
			c.copy = (__s64)c.len;
		else if (errno != EAGAIN && c.copy <= 0)
			return c.copy < 0 ? (int)c.copy : -errno;
		if (c.copy > 0)
			*copied += (size_t)c.copy;
	}
	return 0;
}

int os_uffd_unregister(int uffd, uintptr_t addr, size_t len)
{
	struct uffdio_range range = { .start = addr, .len = len };
	return ioctl(uffd, UFFDIO_UNREGISTER, &range) == 0 ? 0 : -errno;
}

int os_uffd_wake(int uffd, uintptr_t addr, size_t len)
{
	struct uffdio_range range = { .start = addr, .len = len };
	return ioctl(uffd, UFFDIO_WAKE, &range) == 0 ? 0 : -errno;
}

int os_uffd_wait(int uffd)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	return poll(&pfd, 1, -1) < 0 ? -errno : 0;
}

int os_uffd_read_faults(int uffd, os_uffd_fault_t *faults, int max)
{
	struct uffd_msg msgs[32];
	if (max > 32)
		max = 32;
	ssize_t n = read(uffd, msgs, sizeof msgs[0] * (size_t)max);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	int count = 0;
	for (ssize_t i = 0; i < n / (ssize_t)sizeof msgs[0]; i++) {
		if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		faults[count].address = (uintptr_t)msgs[i].arg.pagefault.address;
		faults[count].tid = (pid_t)msgs[i].arg.pagefault.feat.ptid;
		uint64_t flags = msgs[i].arg.pagefault.flags;
		faults[count].write = (flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
		faults[count].kind = (flags & UFFD_PAGEFAULT_FLAG_WP) ? OS_UFFD_FAULT_WP
		                   : (flags & UFFD_PAGEFAULT_FLAG_MINOR) ? OS_UFFD_FAULT_MINOR
		                   : OS_UFFD_FAULT_MISSING;
		count++;
	}
	return count;
}

static int add_uffd(int epfd, int uffd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
	                          .data.u32 = OS_UFFD_READY_FAULT };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, uffd, &ev) == 0 ? 0 : -errno;
}

int os_uffd_reader_open(int uffd, int *wake_fd)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	int err = add_uffd(epfd, uffd);
	if (err == 0 && wake_fd != NULL) {
		*wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		/* Edge-triggered: each write reports once, so the counter is
		 * never read (it would take 2^64 wakes to fill). */
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET,
		                          .data.u32 = OS_UFFD_READY_WAKE };
		if (*wake_fd < 0)
			err = -errno;
		else if (epoll_ctl(epfd, EPOLL_CTL_ADD, *wake_fd, &ev) != 0) {
			err = -errno;
			close(*wake_fd);
		}
	}
	if (err != 0) {
		close(epfd);
		return err;
	}
	return epfd;
}

int os_uffd_reader_requeue(int epfd, int uffd)
{
	/* EPOLL_CTL_MOD is refused on an exclusive entry: delete and add.
	 * An event in between is not lost: the add polls the fd. */
	if (epoll_ctl(epfd, EPOLL_CTL_DEL, uffd, NULL) != 0)
		return -errno;
	return add_uffd(epfd, uffd);
}

int os_uffd_reader_wait(int epfd, const struct timespec *deadline)
{
	int timeout = -1;
	if (deadline != NULL) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t ns = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000 +
		             (deadline->tv_nsec - now.tv_nsec);
		/* Rounded up: a timed receive never returns early. */
		timeout = ns <= 0 ? 0 : ns >= (int64_t)INT32_MAX * 1000000
		                      ? INT32_MAX : (int)((ns + 999999) / 1000000);
	}
	struct epoll_event ev[2];
	int n = epoll_wait(epfd, ev, 2, timeout);
	if (n == 0)
		return -1;
	int ready = 0;
	for (int i = 0; i < n; i++)
		ready |= (int)ev[i].data.u32;
	return ready;   /* 0: a signal */
}

void os_uffd_reader_wake(int wake_fd)
{
	uint64_t one = 1;
	ssize_t n = write(wake_fd, &one, sizeof one);
	(void)n;   /* EAGAIN only when 2^64-2 wakes are pending: it is awake */
}
