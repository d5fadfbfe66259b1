/* Many memory objects at once (issue 8.6): 10,000 distinct objects mapped
 * and touched together in one process, with a file descriptor limit far
 * below that count; and past the limit (no descriptor left at all),
 * vm_map answers KERN_RESOURCE_SHORTAGE with one line on stderr naming
 * RLIMIT_NOFILE. One manager thread serves every object through a port
 * set. Public API only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <mach/mach.h>

#include "harness.h"

#define NOBJECTS 10000
#define TIMEOUT_S 60

static vm_size_t ps;
static mach_port_t port_set;
static pthread_t server;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int inits, requests, terminates;

/* Every byte of an object's pages tells which object and page it is. */
static uint8_t value_of(mach_port_t object, vm_offset_t offset)
{
	return (uint8_t)(object * 131u + (offset / ps) * 7u + 1u);
}

static void bump(int *counter)
{
	pthread_mutex_lock(&lock);
	(*counter)++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static int wait_count(int *counter, int n)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += TIMEOUT_S;
	pthread_mutex_lock(&lock);
	while (*counter < n &&
	       pthread_cond_timedwait(&cond, &lock, &deadline) != ETIMEDOUT)
		;
	int ok = *counter >= n;
	pthread_mutex_unlock(&lock);
	return ok;
}

static kern_return_t m_init(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)object; (void)seqno; (void)page_size;
	memory_object_perf_info_data_t perf = { .cluster_size = 0,
	                                        .may_cache = FALSE };
	memory_object_change_attributes(control, MEMORY_OBJECT_PERFORMANCE_INFO,
	        (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT,
	        MACH_PORT_NULL);
	bump(&inits);
	return KERN_SUCCESS;
}

static kern_return_t m_data_request(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t access)
{
	(void)seqno; (void)access;
	vm_address_t buf = 0;
	if (vm_allocate(mach_task_self(), &buf, length, TRUE) == KERN_SUCCESS) {
		for (vm_size_t i = 0; i < length; i += ps)
			memset((void *)(buf + i), value_of(object, offset + i), ps);
		memory_object_data_supply(control, offset, buf,
		        (mach_msg_type_number_t)length, TRUE, VM_PROT_NONE, FALSE,
		        MACH_PORT_NULL);
	}
	mach_port_deallocate(mach_task_self(), control);
	bump(&requests);
	return KERN_SUCCESS;
}

static kern_return_t m_terminate(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control)
{
	(void)object; (void)seqno;
	mach_port_destroy(mach_task_self(), control);
	bump(&terminates);
	return KERN_SUCCESS;
}

static const memory_object_routines_t routines = {
	.init = m_init,
	.data_request = m_data_request,
	.terminate = m_terminate,
};

static boolean_t demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	return memory_object_server_routines(&routines, in, out);
}

static void *server_main(void *arg)
{
	(void)arg;
	mach_msg_server(demux, MEMORY_OBJECT_MSG_SIZE_MAX, port_set, 0);
	return NULL;
}

static void server_start(void)
{
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET,
	                           &port_set) == KERN_SUCCESS);
	REQUIRE(pthread_create(&server, NULL, server_main, NULL) == 0);
}

static void server_stop(void)
{
	mach_port_destroy(mach_task_self(), port_set);
	pthread_join(server, NULL);
}

/* A new object port, served by the set. */
static mach_port_t object_new(void)
{
	mach_port_t p = MACH_PORT_NULL;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p)
	        == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), p, p,
	                               MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_member(mach_task_self(), p, port_set)
	        == KERN_SUCCESS);
	return p;
}

static kern_return_t map_one(mach_port_t object, vm_address_t *addr)
{
	*addr = 0;
	return vm_map(mach_task_self(), addr, ps, 0, TRUE, object, 0, FALSE,
	              VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_NONE);
}

/* Open descriptors, but for the fault readers' (an epoll set and an
 * eventfd per thread that has waited in mach_msg on an object port: they
 * belong to the thread, not to any object). */
static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[300], link[64];
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, link, sizeof link - 1);
		link[len > 0 ? len : 0] = '\0';
		if (strcmp(link, "anon_inode:[eventpoll]") != 0 &&
		    strcmp(link, "anon_inode:[eventfd]") != 0)
			n++;
	}
	closedir(d);
	return n - 3;           /* ".", ".." and the directory's own */
}

/* Ten thousand objects at once, with RLIMIT_NOFILE lowered to a few dozen
 * above what is open: the objects share their caches' descriptors. */
TEST(ten_thousand_objects_mapped_and_touched)
{
	static mach_port_t objects[NOBJECTS];
	static vm_address_t addrs[NOBJECTS];
	struct rlimit saved, low;
	REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
	int before = open_fds();
	CHECK(before > 0);
	low = saved;
	if (low.rlim_cur == RLIM_INFINITY || low.rlim_cur > (rlim_t)before + 64)
		low.rlim_cur = (rlim_t)before + 64;
	REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
	int mapped = 0;
	for (int i = 0; i < NOBJECTS; i++) {
		objects[i] = object_new();
		kern_return_t kr = map_one(objects[i], &addrs[i]);
		if (kr != KERN_SUCCESS) {
			CHECK_EQ(kr, KERN_SUCCESS);
			fprintf(stderr, "vm_map of object %d failed\n", i);
			break;
		}
		mapped++;
	}
	CHECK_EQ(mapped, NOBJECTS);
	/* Touch every one, all still mapped: each page is its object's. */
	int wrong = 0;
	for (int i = 0; i < mapped; i++) {
		volatile uint8_t *p = (volatile uint8_t *)addrs[i];
		wrong += p[0] != value_of(objects[i], 0) ||
		         p[ps - 1] != value_of(objects[i], 0);
	}
	CHECK_EQ(wrong, 0);
	CHECK(wait_count(&inits, mapped));
	CHECK(wait_count(&requests, mapped));
	/* Writes stay in their own object. */
	for (int i = 0; i < mapped; i++)
		((volatile uint8_t *)addrs[i])[1] = (uint8_t)(i * 3);
	for (int i = 0; i < mapped; i++) {
		volatile uint8_t *p = (volatile uint8_t *)addrs[i];
		wrong += p[1] != (uint8_t)(i * 3) || p[2] != value_of(objects[i], 0);
	}
	CHECK_EQ(wrong, 0);
	int during = open_fds();
	CHECK(during - before <= 16);
	pthread_mutex_lock(&lock);
	CHECK_EQ(requests, mapped);       /* one fetch each, nothing refetched */
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < mapped; i++)
		CHECK_EQ(vm_deallocate(mach_task_self(), addrs[i], ps), KERN_SUCCESS);
	CHECK(wait_count(&terminates, mapped));
	for (int i = 0; i < NOBJECTS; i++)
		if (MACH_PORT_VALID(objects[i]))
			mach_port_destroy(mach_task_self(), objects[i]);
	/* The caches' descriptors went with their objects. */
	CHECK(open_fds() <= before);
	REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
}

/* In a child (before this process starts the kernel): with no descriptor
 * left, vm_map fails with KERN_RESOURCE_SHORTAGE and says so once on
 * stderr; with one free again, it works, and many objects share it. */
static int child_past_the_limit(int err_fd)
{
	int failures = 0;
#define CHILD_CHECK(c) do { if (!(c)) { \
	dprintf(err_fd, "child %d: CHECK failed: %s\n", __LINE__, #c); \
	failures++; } } while (0)
	server_start();
	ps = 0;
	host_page_size(mach_host_self(), &ps);   /* starts the kernel */
	mach_port_t first = object_new(), second = object_new();
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = (rlim_t)open_fds() + 16;
	CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	int spare[64], nspare = 0;
	while (nspare < 64 && (spare[nspare] = dup(0)) >= 0)
		nspare++;
	CHILD_CHECK(nspare > 0 && nspare < 64 && errno == EMFILE);
	vm_address_t a = 0;
	CHILD_CHECK(map_one(first, &a) == KERN_RESOURCE_SHORTAGE);
	CHILD_CHECK(map_one(second, &a) == KERN_RESOURCE_SHORTAGE);
	/* One descriptor back: the objects' caches share it. */
	close(spare[--nspare]);
	vm_address_t addrs[100];
	mach_port_t objects[100];
	for (int i = 0; i < 100; i++) {
		objects[i] = i == 0 ? first : i == 1 ? second : object_new();
		CHILD_CHECK(map_one(objects[i], &addrs[i]) == KERN_SUCCESS);
	}
	for (int i = 0; i < 100; i++)
		CHILD_CHECK(((volatile uint8_t *)addrs[i])[5] ==
		            value_of(objects[i], 0));
	while (nspare > 0)
		close(spare[--nspare]);
	return failures;
#undef CHILD_CHECK
}

TEST(past_the_descriptor_limit_in_a_child)
{
	int pipefd[2];
	REQUIRE(pipe(pipefd) == 0);
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		int err_fd = dup(2);
		dup2(pipefd[1], 2);
		close(pipefd[1]);
		alarm(TIMEOUT_S);
		_exit(child_past_the_limit(err_fd) == 0 ? 0 : 1);
	}
	close(pipefd[1]);
	char text[4096];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof text - 1 &&
	       (n = read(pipefd[0], text + len, sizeof text - 1 - len)) > 0)
		len += (size_t)n;
	text[len] = '\0';
	close(pipefd[0]);
	int status = 0;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	int lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	CHECK_EQ(lines, 1);
	CHECK(strstr(text, "vm_map") != NULL);
	CHECK(strstr(text, "RLIMIT_NOFILE") != NULL);
	if (lines != 1)
		fprintf(stderr, "child's stderr:\n%s", text);
}

int main(void)
{
	alarm(240);
	/* The child first: it must fork before this process uses memobj. */
	RUN(past_the_descriptor_limit_in_a_child);
	host_page_size(mach_host_self(), &ps);
	server_start();
	RUN(ten_thousand_objects_mapped_and_touched);
	server_stop();
	return harness_done();
}
