/* A remote page fault: the kernel in this process, the pager in another
 * (this program re-executed), over a Unix socket and over TCP between two
 * network namespaces (skipped where they cannot be made). Beside each:
 * a raw socket round trip of one 4 KiB page on the same path (a request
 * of 64 bytes, an answer of 4 KiB), and the in-process fault (pager
 * thread in this process). Prints µs per fault and the ratios; the aim is
 * remote <= raw round trip + in-process fault + 20%.
 *
 *   bench_remote [PAGES]      (default 2000 faults per measurement) */
#include <mach/mach.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static size_t pages = 2000;
static const size_t PAGE = 4096;

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* ---- the pager (a trivial manager: every request supplied at once) ---- */

static mach_port_t the_object;

kern_return_t memory_object_init(memory_object_t object, memory_object_control_t control,
        vm_size_t page_size)
{
	(void)object;
	(void)page_size;
	memory_object_perf_info_data_t perf = { .cluster_size = 0, .may_cache = FALSE };
	memory_object_change_attributes(control, MEMORY_OBJECT_PERFORMANCE_INFO,
	        (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL);
	return KERN_SUCCESS;
}

kern_return_t memory_object_data_request(memory_object_t object,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_prot_t access)
{
	(void)object;
	(void)access;
	static uint8_t buf[1 << 16];
	memset(buf, (int)(offset >> 12) & 0xff, length < sizeof buf ? length : sizeof buf);
	memory_object_data_supply(control, offset, (pointer_t)buf,
	        (mach_msg_type_number_t)length, FALSE, VM_PROT_NONE, FALSE, MACH_PORT_NULL);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

kern_return_t memory_object_terminate(memory_object_t object, memory_object_control_t control)
{
	(void)object;
	mach_port_destroy(mach_task_self(), control);
	return KERN_SUCCESS;
}

static void *pager_thread(void *arg)
{
	(void)arg;
	mach_msg_server(memory_object_server, 8192 + 65536, the_object, 0);
	return NULL;
}

static mach_port_t pager_start(void)
{
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &the_object);
	mach_port_insert_right(mach_task_self(), the_object, the_object, MACH_MSG_TYPE_MAKE_SEND);
	pthread_t t;
	pthread_create(&t, NULL, pager_thread, NULL);
	return the_object;
}

/* ---- raw socket: a 64-byte request, a 4 KiB answer ---- */

static void raw_serve(int fd)
{
	uint8_t req[64], page[4096];
	memset(page, 7, sizeof page);
	for (;;) {
		size_t got = 0;
		while (got < sizeof req) {
			ssize_t n = read(fd, req + got, sizeof req - got);
			if (n <= 0)
				return;
			got += (size_t)n;
		}
		if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
			return;
	}
}

static double raw_rtt(int fd)
{
	uint8_t req[64] = {0}, page[4096];
	double t0 = now_us();
	for (size_t i = 0; i < pages; i++) {
		if (write(fd, req, sizeof req) != (ssize_t)sizeof req)
			return -1;
		size_t got = 0;
		while (got < sizeof page) {
			ssize_t n = read(fd, page + got, sizeof page - got);
			if (n <= 0)
				return -1;
			got += (size_t)n;
		}
	}
	return (now_us() - t0) / (double)pages;
}

/* ---- the peer: pager node + raw server ---- */

static int peer(const char *memobj_addr, const char *raw_kind, const char *raw_addr, int port)
{
	if (memobj_listen(memobj_addr) != KERN_SUCCESS)
		return 2;
	mach_port_t obj = pager_start();
	if (netname_check_in(MACH_PORT_NULL, "bench", MACH_PORT_NULL, obj) != KERN_SUCCESS)
		return 3;
	int ls;
	if (strcmp(raw_kind, "unix") == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", raw_addr);
		unlink(raw_addr);
		ls = socket(AF_UNIX, SOCK_STREAM, 0);
		if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0)
			return 4;
	} else {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, raw_addr, &sa.sin_addr);
		ls = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0)
			return 4;
	}
	listen(ls, 1);
	printf("ready\n");
	fflush(stdout);
	int fd = accept(ls, NULL, NULL);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	raw_serve(fd);
	for (;;)
		pause();
}

static int raw_connect(const char *kind, const char *addr, int port)
{
	int fd;
	if (strcmp(kind, "unix") == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", addr);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			return -1;
	} else {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, addr, &sa.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
			return -1;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	return fd;
}

/* Faults `pages` pages of a fresh mapping of obj, one at a time. */
static double fault_us(mach_port_t obj)
{
	vm_address_t a = 0;
	vm_size_t size = pages * PAGE;
	if (vm_map(mach_task_self(), &a, size, 0, TRUE, obj, 0, FALSE, VM_PROT_READ,
	           VM_PROT_ALL, VM_INHERIT_NONE) != KERN_SUCCESS)
		return -1;
	(void)*(volatile uint8_t *)a;   /* the object is ready after this one */
	double t0 = now_us();
	for (size_t i = 1; i < pages; i++)
		(void)*(volatile uint8_t *)(a + i * PAGE);
	double us = (now_us() - t0) / (double)(pages - 1);
	vm_deallocate(mach_task_self(), a, size);
	return us;
}

static pid_t spawn(const char *const *argv, int *out)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return pid;
}

static int wait_ready(int fd)
{
	char buf[64];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 20000) <= 0)
		return -1;
	return read(fd, buf, sizeof buf) > 0 ? 0 : -1;
}

static void run(const char *label, const char *const *prefix, const char *memobj_addr,
        const char *raw_kind, const char *raw_addr, int port, double local)
{
	char self[4096], portstr[16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(portstr, sizeof portstr, "%d", port);
	const char *argv[16];
	int argc = 0;
	for (int i = 0; prefix && prefix[i]; i++)
		argv[argc++] = prefix[i];
	argv[argc++] = self;
	argv[argc++] = "--peer";
	argv[argc++] = memobj_addr;
	argv[argc++] = raw_kind;
	argv[argc++] = raw_addr;
	argv[argc++] = portstr;
	argv[argc] = NULL;
	int out;
	pid_t pid = spawn(argv, &out);
	mach_port_t ns, obj;
	double remote = -1, raw = -1;
	if (pid > 0 && wait_ready(out) == 0 && memobj_connect(memobj_addr, &ns) == KERN_SUCCESS &&
	    netname_look_up(ns, "", "bench", &obj) == KERN_SUCCESS) {
		remote = fault_us(obj);
		int fd = raw_connect(raw_kind, raw_addr, port);
		if (fd >= 0) {
			raw = raw_rtt(fd);
			close(fd);
		}
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(out);
	}
	if (remote < 0 || raw < 0) {
		printf("%-22s failed\n", label);
		return;
	}
	double aim = (raw + local) * 1.2;
	printf("%-22s remote fault %7.1f us  raw 4K round trip %6.1f us  in-process fault %6.1f us\n"
	       "%-22s remote/(raw+local) = %.2f  (aim <= 1.20: %s)\n",
	       label, remote, raw, local, "", remote / (raw + local), remote <= aim ? "met" : "missed");
}

static int sh(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && strcmp(argv[1], "--peer") == 0)
		return peer(argv[2], argv[3], argv[4], atoi(argv[5]));
	if (argc >= 2 && atol(argv[1]) > 1)
		pages = (size_t)atol(argv[1]);
	setenv("MEMOBJ_PAGE_SIZE", "4096", 1);

	double local = fault_us(pager_start());
	printf("in-process fault       %7.1f us (%zu faults)\n", local, pages - 1);

	char dir[] = "/tmp/memobj-bench-XXXXXX", maddr[128], raddr[128];
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(maddr, sizeof maddr, "unix:%s/memobj", dir);
	snprintf(raddr, sizeof raddr, "%s/raw", dir);
	run("unix socket", NULL, maddr, "unix", raddr, 0, local);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	sh(cmd);

	/* TCP between two namespaces (this one and a new one over a veth). */
	char nsn[32];
	snprintf(nsn, sizeof nsn, "mobjb%d", (int)getpid() % 100000);
	snprintf(cmd, sizeof cmd,
	         "ip netns add %1$s && ip link add %1$sa type veth peer name %1$sb && "
	         "ip link set %1$sb netns %1$s && ip addr add 10.198.7.1/24 dev %1$sa && "
	         "ip link set %1$sa up && ip -n %1$s addr add 10.198.7.2/24 dev %1$sb && "
	         "ip -n %1$s link set %1$sb up && ip -n %1$s link set lo up 2>/dev/null", nsn);
	if (sh(cmd) == 0) {
		setenv("MEMOBJ_KEY", "bench key, not secret", 1);
		const char *prefix[] = { "ip", "netns", "exec", nsn, NULL };
		run("tcp, two namespaces", prefix, "tcp:10.198.7.2:7456", "tcp", "10.198.7.2",
		    7457, local);
	} else {
		printf("tcp, two namespaces    skipped: cannot make network namespaces (needs root)\n");
	}
	snprintf(cmd, sizeof cmd, "ip netns del %1$s 2>/dev/null; ip link del %1$sa 2>/dev/null", nsn);
	sh(cmd);
	return 0;
}
