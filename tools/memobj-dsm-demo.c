/* memobj-dsm-demo: the seed's case, several kernels on one memory object.
 *
 * This process is the memory manager: it makes a DSM object
 * (dsm_pager_create), publishes it on a Unix socket with netname_check_in,
 * and starts two kernel processes with different page sizes (4 KiB and
 * 16 KiB, MEMOBJ_PAGE_SIZE). Each kernel maps the object with vm_map; the
 * manager prints each memory_object_init it receives. The kernels then
 * work on the shared data: both increment one counter with atomics, and
 * they multiply two matrices, each computing half the rows. Kernel A
 * checks the result; the manager prints the protocol it ran, by message
 * kind and kernel, and PASS.
 *
 *   memobj-dsm-demo [-n N] [-k K]   N: matrix order (default 128),
 *                                   K: increments per kernel (default 200000) */
#include <mach/mach.h>
#include <memobj/dsm_pager.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KERNELS 2
#define TIMEOUT_MS 60000
#define NAME "memobj-dsm-demo"

/* The object: the counter in the first 64 KiB, then A, B and C. */
#define OFF_COUNTER 0
#define OFF_MATRICES 65536

static size_t matrix_bytes(int n)
{
	size_t b = (size_t)n * (size_t)n * sizeof(double);
	return (b + 65535) & ~(size_t)65535;
}

static vm_size_t object_size(int n)
{
	return OFF_MATRICES + 3 * matrix_bytes(n);
}

static double a_at(int i, int j) { return (double)((i + 2 * j) % 7 - 3); }
static double b_at(int i, int j) { return (double)((3 * i + j) % 5 - 2); }

/* ---- a kernel process ----------------------------------------------------- */

/* Commands arrive on stdin, one a line; answers go to stdout. */
static int kernel_main(const char *address, int n)
{
	mach_port_t ns, object;
	vm_address_t base = 0;
	vm_size_t size = object_size(n);
	if (memobj_connect(address, &ns) != KERN_SUCCESS ||
	    netname_look_up(ns, "", NAME, &object) != KERN_SUCCESS ||
	    vm_map(mach_task_self(), &base, size, 0, TRUE, object, 0, FALSE,
	           VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS) {
		printf("error: cannot map the object\n");
		return 1;
	}
	_Atomic uint64_t *counter = (_Atomic uint64_t *)(uintptr_t)(base + OFF_COUNTER);
	double *a = (double *)(uintptr_t)(base + OFF_MATRICES);
	double *b = (double *)(uintptr_t)(base + OFF_MATRICES + matrix_bytes(n));
	double *c = (double *)(uintptr_t)(base + OFF_MATRICES + 2 * matrix_bytes(n));
	/* The first fault makes the kernel ready (init reaches the manager). */
	(void)atomic_load(counter);
	printf("mapped\n");
	fflush(stdout);
	char line[256];
	while (fgets(line, sizeof line, stdin) != NULL) {
		long x = 0, y = 0;
		if (sscanf(line, "counter %ld", &x) == 1) {
			for (long i = 0; i < x; i++)
				atomic_fetch_add(counter, 1);
			printf("done\n");
		} else if (strncmp(line, "fill", 4) == 0) {
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++) {
					a[i * n + j] = a_at(i, j);
					b[i * n + j] = b_at(i, j);
				}
			printf("done\n");
		} else if (sscanf(line, "rows %ld %ld", &x, &y) == 2) {
			for (long i = x; i < y; i++)
				for (int j = 0; j < n; j++) {
					double s = 0;
					for (int k = 0; k < n; k++)
						s += a[i * n + k] * b[k * n + j];
					c[i * n + j] = s;
				}
			printf("done\n");
		} else if (strncmp(line, "check", 5) == 0) {
			long bad = 0;
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++) {
					double s = 0;
					for (int k = 0; k < n; k++)
						s += a_at(i, k) * b_at(k, j);
					bad += c[i * n + j] != s;
				}
			printf("checked %llu %ld\n", (unsigned long long)atomic_load(counter), bad);
		} else if (strncmp(line, "exit", 4) == 0) {
			/* Unmapping returns this kernel's pages, then terminate. */
			vm_deallocate(mach_task_self(), base, size);
			printf("bye\n");
			fflush(stdout);
			return 0;
		}
		fflush(stdout);
	}
	return 1;
}

/* ---- the manager ------------------------------------------------------------ */

struct kernel {
	pid_t pid;
	FILE *in;
	int out;
	char buf[1024];
	size_t have;
	vm_size_t page_size;
};

static struct kernel kernels[KERNELS];
static char dir[64];

static void cleanup(void)
{
	for (int i = 0; i < KERNELS; i++)
		if (kernels[i].pid > 0) {
			kill(kernels[i].pid, SIGKILL);
			waitpid(kernels[i].pid, NULL, 0);
			kernels[i].pid = 0;
		}
	if (dir[0]) {
		char path[128];
		snprintf(path, sizeof path, "%s/sock", dir);
		unlink(path);
		rmdir(dir);
	}
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "memobj-dsm-demo: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nFAIL\n");
	va_end(ap);
	cleanup();
	exit(1);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* The kernel's next line (bounded wait). */
static const char *reply(struct kernel *k)
{
	static char line[1024];
	long long deadline = now_ms() + TIMEOUT_MS;
	for (;;) {
		char *nl = memchr(k->buf, '\n', k->have);
		if (nl != NULL) {
			size_t len = (size_t)(nl - k->buf);
			memcpy(line, k->buf, len);
			line[len] = '\0';
			memmove(k->buf, nl + 1, k->have - len - 1);
			k->have -= len + 1;
			return line;
		}
		long long left = deadline - now_ms();
		struct pollfd pf = { .fd = k->out, .events = POLLIN };
		if (left <= 0 || k->have == sizeof k->buf)
			fail("kernel %d did not answer in time", (int)k->pid);
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t got = r > 0 ? read(k->out, k->buf + k->have, sizeof k->buf - k->have) : 0;
		if (got <= 0)
			fail("kernel %d went away", (int)k->pid);
		k->have += (size_t)got;
	}
}

static void command(struct kernel *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(k->in, fmt, ap);
	va_end(ap);
	fputc('\n', k->in);
	fflush(k->in);
}

static void expect(struct kernel *k, const char *want)
{
	const char *l = reply(k);
	if (strncmp(l, want, strlen(want)) != 0)
		fail("kernel %d: \"%s\", expected \"%s\"", (int)k->pid, l, want);
}

static void start_kernel(struct kernel *k, const char *address, int n, vm_size_t page_size)
{
	int to[2], from[2];
	if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0)
		fail("pipe: %s", strerror(errno));
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len <= 0)
		fail("cannot find myself");
	self[len] = '\0';
	char ns[16], ps[32];
	snprintf(ns, sizeof ns, "%d", n);
	snprintf(ps, sizeof ps, "%lu", (unsigned long)page_size);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		setenv("MEMOBJ_PAGE_SIZE", ps, 1);
		execl(self, self, "--kernel", address, ns, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	k->pid = pid;
	k->in = fdopen(to[1], "w");
	k->out = from[0];
	k->page_size = page_size;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--kernel") == 0)
		return kernel_main(argv[2], atoi(argv[3]));
	int n = 128;
	long increments = 200000;
	int opt;
	while ((opt = getopt(argc, argv, "n:k:h")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 'k')
			increments = atol(optarg);
		else {
			fprintf(stderr, "usage: memobj-dsm-demo [-n ORDER] [-k INCREMENTS]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (n < 2 || n > 2048 || increments < 0 || increments > 100000000) {
		fprintf(stderr, "memobj-dsm-demo: -n 2..2048, -k 0..100000000\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof dir, "/tmp/memobj-dsm-demo-XXXXXX");
	if (mkdtemp(dir) == NULL)
		fail("mkdtemp: %s", strerror(errno));
	char address[128];
	snprintf(address, sizeof address, "unix:%s/sock", dir);
	memory_object_t object;
	vm_size_t size = object_size(n);
	if (memobj_listen(address) != KERN_SUCCESS)
		fail("cannot listen on %s", address);
	if (dsm_pager_create(size, &object) != KERN_SUCCESS ||
	    netname_check_in(MACH_PORT_NULL, NAME, MACH_PORT_NULL, object) != KERN_SUCCESS)
		fail("cannot make the DSM object");
	printf("memobj DSM demo: one manager (pid %d), %d kernel processes, one object of %lu KiB\n",
	       (int)getpid(), KERNELS, (unsigned long)(size >> 10));

	static const vm_size_t sizes[KERNELS] = { 4096, 16384 };
	static const char names[KERNELS] = { 'A', 'B' };
	dsm_kernel_info_t info[DSM_PAGER_MAX_KERNELS];
	for (int i = 0; i < KERNELS; i++) {
		start_kernel(&kernels[i], address, n, sizes[i]);
		if (dsm_pager_wait_kernels(object, (unsigned)i + 1, TIMEOUT_MS) != KERN_SUCCESS)
			fail("no memory_object_init from kernel %c", names[i]);
		unsigned count = DSM_PAGER_MAX_KERNELS;
		dsm_pager_kernels(object, info, &count);
		printf("manager: memory_object_init #%d: control port 0x%x, page size %5lu  "
		       "-> kernel %c (pid %d, MEMOBJ_PAGE_SIZE=%lu)\n", i + 1,
		       (unsigned)info[i].control, (unsigned long)info[i].page_size,
		       names[i], (int)kernels[i].pid, (unsigned long)kernels[i].page_size);
		if (info[i].page_size != kernels[i].page_size)
			fail("kernel %c has page size %lu", names[i],
			     (unsigned long)info[i].page_size);
		expect(&kernels[i], "mapped");
	}

	/* Both kernels at once: one counter, atomics. */
	for (int i = 0; i < KERNELS; i++)
		command(&kernels[i], "counter %ld", increments);
	for (int i = 0; i < KERNELS; i++)
		expect(&kernels[i], "done");
	/* A writes the inputs; each kernel computes half of C's rows. */
	command(&kernels[0], "fill");
	expect(&kernels[0], "done");
	for (int i = 0; i < KERNELS; i++)
		command(&kernels[i], "rows %d %d", i * n / KERNELS, (i + 1) * n / KERNELS);
	for (int i = 0; i < KERNELS; i++)
		expect(&kernels[i], "done");
	command(&kernels[0], "check");
	unsigned long long total = 0;
	long bad = -1;
	const char *l = reply(&kernels[0]);
	if (sscanf(l, "checked %llu %ld", &total, &bad) != 2)
		fail("kernel A: \"%s\"", l);
	unsigned long long want = (unsigned long long)increments * KERNELS;
	printf("counter: %d kernels x %ld atomic_fetch_add = %llu (expected %llu)\n",
	       KERNELS, increments, total, want);
	printf("matrix:  C = A x B, %dx%d doubles, rows 0-%d on kernel A, %d-%d on kernel B: "
	       "%s (checked by kernel A)\n", n, n, n / 2 - 1, n / 2, n - 1,
	       bad == 0 ? "correct" : "WRONG");
	for (int i = 0; i < KERNELS; i++) {
		command(&kernels[i], "exit");
		expect(&kernels[i], "bye");
		waitpid(kernels[i].pid, NULL, 0);
		kernels[i].pid = 0;
	}

	/* terminate follows each unmap: let the manager see both (bounded). */
	unsigned count = DSM_PAGER_MAX_KERNELS;
	for (long long until = now_ms() + TIMEOUT_MS;;) {
		count = DSM_PAGER_MAX_KERNELS;
		dsm_pager_kernels(object, info, &count);
		bool gone = true;
		for (unsigned i = 0; i < count && i < KERNELS; i++)
			gone &= info[i].state != DSM_KERNEL_ATTACHED;
		if (gone || now_ms() > until)
			break;
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	static const dsm_msg_kind_t shown[] = {
		DSM_MSG_DATA_REQUEST, DSM_MSG_DATA_UNLOCK, DSM_MSG_DATA_RETURN,
		DSM_MSG_LOCK_COMPLETED, DSM_MSG_DATA_SUPPLY, DSM_MSG_LOCK_FLUSH,
		DSM_MSG_LOCK_UNLOCK, DSM_MSG_LOCK_DOWNGRADE,
	};
	static const char *const heads[] = { "request", "unlock", "return", "lock_cmpl",
	                                     "supply", "flush", "grant_w", "downgrade" };
	printf("protocol at a glance (messages per kernel)\n"
	       "  kernel -> manager: data_request, data_unlock, data_return, lock_completed\n"
	       "  manager -> kernel: data_supply, lock_request(flush), lock_request(unlock: grant write),\n"
	       "                     lock_request(downgrade: write-lock, keep a read copy)\n");
	printf("  kernel       faults");
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
		printf(" %9s", heads[i]);
	printf("  state\n");
	uint64_t faults = 0, messages = 0;
	for (unsigned i = 0; i < count && i < KERNELS; i++) {
		printf("  %c (%2lu KiB) %8llu", names[i], (unsigned long)(info[i].page_size >> 10),
		       (unsigned long long)info[i].faults);
		for (size_t j = 0; j < sizeof shown / sizeof shown[0]; j++) {
			printf(" %9llu", (unsigned long long)info[i].messages[shown[j]]);
			messages += info[i].messages[shown[j]];
		}
		faults += info[i].faults;
		printf("  %s\n", info[i].state == DSM_KERNEL_TERMINATED ? "terminated"
		       : info[i].state == DSM_KERNEL_DEAD ? "dead" : "attached");
	}
	printf("  messages per fault: %.2f (netmemory, 1989: 5.0 centralized, 4.1 distributed)\n",
	       faults ? (double)messages / (double)faults : 0.0);
	netname_check_out(MACH_PORT_NULL, NAME, MACH_PORT_NULL);
	dsm_pager_destroy(object);
	cleanup();
	if (total != want || bad != 0) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}
