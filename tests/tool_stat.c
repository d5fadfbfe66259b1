/* memobj stat --json, checked against this process's own numbers: the test
 * is a kernel with a pager, maps its object and touches pages, publishes
 * its statistics port on a Unix socket, runs `memobj stat --json ADDRESS`
 * and compares what the command prints with host_statistics and with what
 * it knows it did; then the same through memobj_statistics in-process,
 * and the bad-input paths of the public calls.
 *
 *   tool_stat PATH-TO-memobj */
#include <mach/mach.h>

#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

#define PAGES 12

static vm_size_t page;
static const char *memobj_path;
static char address[128];

/* ---- a pager: each page holds its number ---- */

kern_return_t memory_object_init(memory_object_t object,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)object;
	memory_object_perf_info_data_t perf = { .cluster_size = page_size };
	return memory_object_change_attributes(control, MEMORY_OBJECT_PERFORMANCE_INFO,
	        (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL);
}

kern_return_t memory_object_data_request(memory_object_t object,
        memory_object_control_t control, vm_offset_t offset, vm_size_t length,
        vm_prot_t access)
{
	(void)object; (void)access;
	vm_address_t data;
	if (vm_allocate(mach_task_self(), &data, length, TRUE) != KERN_SUCCESS)
		return KERN_FAILURE;
	for (vm_size_t o = 0; o < length; o += page)
		*(uint64_t *)(uintptr_t)(data + o) = (offset + o) / page;
	memory_object_data_supply(control, offset, data, (mach_msg_type_number_t)length,
	        TRUE, VM_PROT_NONE, FALSE, MACH_PORT_NULL);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static void *serve(void *arg)
{
	mach_msg_server(memory_object_server, MEMORY_OBJECT_MSG_SIZE_MAX,
	        (mach_port_t)(uintptr_t)arg, MACH_MSG_OPTION_NONE);
	return NULL;
}

/* Runs memobj with `args`, returns its stdout (malloc'd) and status. */
static char *run_memobj(char *const args[], int *status)
{
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	pid_t pid;
	REQUIRE(posix_spawn(&pid, memobj_path, &fa, NULL, args, environ) == 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	REQUIRE(out != NULL);
	ssize_t n;
	while ((n = read(fds[0], out + len, cap - 1 - len)) > 0) {
		len += (size_t)n;
		if (len == cap - 1) {
			cap *= 2;
			out = realloc(out, cap);
			REQUIRE(out != NULL);
		}
	}
	out[len] = '\0';
	close(fds[0]);
	REQUIRE(waitpid(pid, status, 0) == pid);
	return out;
}

/* The number after "key": in `json` (after `from`), or -1. */
static long long json_num(const char *json, const char *key)
{
	char pat[96];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(json, pat);
	if (p == NULL)
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

static mach_port_t object;
static vm_address_t addr;

TEST(stat_json_matches_host_statistics)
{
	/* Touch every other page: PAGES/2 faults, each a data_request. */
	volatile uint64_t sum = 0;
	for (int i = 0; i < PAGES; i += 2)
		sum += *(volatile uint64_t *)(uintptr_t)(addr + (vm_size_t)i * page);
	CHECK_EQ(sum, (PAGES / 2) * (PAGES / 2 - 1));   /* 0+2+4+... */

	vm_statistics_data_t vs;
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	REQUIRE(host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&vs, &count)
	        == KERN_SUCCESS);

	char *args[] = { "memobj", "stat", "--json", address, NULL };
	int status;
	char *out = run_memobj(args, &status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(out[0] == '{' && strchr(out, '}') != NULL);
	CHECK_EQ(json_num(out, "pid"), getpid());
	CHECK_EQ(json_num(out, "page_size"), page);
	CHECK_EQ(json_num(out, "faults"), vs.faults);
	CHECK_EQ(json_num(out, "pageins"), vs.pageins);
	CHECK_EQ(json_num(out, "zero_fill"), vs.zero_fill_count);
	CHECK_EQ(json_num(out, "active"), vs.active_count);
	CHECK_EQ(json_num(out, "pageins"), PAGES / 2);
	CHECK_EQ(json_num(out, "data_request"), PAGES / 2);
	CHECK_EQ(json_num(out, "data_supply"), PAGES / 2);
	CHECK_EQ(json_num(out, "init"), 1);
	CHECK_EQ(json_num(out, "objects"), 1);
	/* The one cached object: its resident pages are the touched ones. */
	const char *obj = strstr(out, "\"object_list\":[{");
	CHECK(obj != NULL);
	if (obj != NULL) {
		CHECK_EQ(json_num(obj, "resident_pages"), PAGES / 2);
		CHECK_EQ(json_num(obj, "dirty_pages"), 0);
		CHECK_EQ(json_num(obj, "mappings"), 1);
		CHECK_EQ(json_num(obj, "size"), PAGES * page);
	}
	/* Every fault waited for the pager once: the histogram holds them. */
	const char *hist = strstr(out, "\"fault_wait_us\":[");
	CHECK(hist != NULL);
	if (hist != NULL) {
		long long total = 0;
		const char *p = hist + strlen("\"fault_wait_us\":[");
		for (int b = 0; b < MEMOBJ_FAULT_BUCKETS; b++) {
			char *end;
			total += strtoll(p, &end, 10);
			p = end + 1;
		}
		CHECK_EQ(total, PAGES / 2);
	}
	free(out);
}

TEST(stat_in_process_and_ls)
{
	memobj_statistics_t s;
	CHECK_EQ(memobj_statistics(mach_host_self(), &s), KERN_SUCCESS);
	CHECK_EQ(s.messages[MEMOBJ_MSG_DATA_REQUEST], PAGES / 2);
	CHECK_EQ(s.objects, 1);
	memobj_object_statistics_t objs[4];
	uint32_t n = 4, total = 0;
	CHECK_EQ(memobj_object_statistics(mach_host_self(), 0, objs, &n, &total), KERN_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(total, 1);
	CHECK_EQ(objs[0].resident_pages, PAGES / 2);
	CHECK_EQ(objs[0].page_size, page);

	char *args[] = { "memobj", "ls", address, NULL };
	int status;
	char *out = run_memobj(args, &status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(strstr(out, MEMOBJ_STATISTICS_NAME "\n") != NULL);
	CHECK(strstr(out, "tool-stat-object\n") != NULL);
	free(out);

	/* The text form names the numbers a person looks for. */
	char *text_args[] = { "memobj", "stat", address, NULL };
	out = run_memobj(text_args, &status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(strstr(out, "Faults:") != NULL && strstr(out, "Fault waits") != NULL);
	free(out);
}

static void fill_served(void *arg, memobj_object_statistics_t *s)
{
	s->kernels = (uint32_t)(uintptr_t)arg;
	s->size = 12345;
}

TEST(served_objects_and_bad_input)
{
	CHECK_EQ(memobj_statistics_register("served-one", fill_served, (void *)3), KERN_SUCCESS);
	CHECK_EQ(memobj_statistics_register("served-one", fill_served, NULL), KERN_NAME_EXISTS);
	CHECK_EQ(memobj_statistics_register("", fill_served, NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memobj_statistics_register(NULL, fill_served, NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memobj_statistics_register("x", NULL, NULL), KERN_INVALID_ARGUMENT);
	memobj_object_statistics_t objs[4];
	uint32_t n = 4, total = 0;
	CHECK_EQ(memobj_object_statistics(mach_host_self(), 0, objs, &n, &total), KERN_SUCCESS);
	CHECK_EQ(n, 2);
	CHECK_EQ(total, 2);
	CHECK(strcmp(objs[1].name, "served-one") == 0);
	CHECK_EQ(objs[1].kernels, 3);
	CHECK(objs[1].flags & MEMOBJ_OBJECT_SERVED);
	/* Start past the cached one. */
	n = 4;
	CHECK_EQ(memobj_object_statistics(mach_host_self(), 1, objs, &n, &total), KERN_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(objs[0].size, 12345);
	CHECK_EQ(memobj_statistics_unregister("served-one"), KERN_SUCCESS);
	CHECK_EQ(memobj_statistics_unregister("served-one"), KERN_INVALID_NAME);

	memobj_statistics_t s;
	CHECK_EQ(memobj_statistics(mach_host_self(), NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memobj_statistics(MACH_PORT_NULL, &s), KERN_INVALID_HOST);
	CHECK_EQ(memobj_statistics((mach_port_t)0x7777, &s), KERN_INVALID_HOST);
	CHECK_EQ(memobj_object_statistics(mach_host_self(), 0, NULL, &n, &total),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(memobj_statistics_port(NULL), KERN_INVALID_ARGUMENT);
	/* Our own statistics port answers as a remote node's would. */
	mach_port_t own;
	CHECK_EQ(memobj_statistics_port(&own), KERN_SUCCESS);
	CHECK_EQ(memobj_statistics(own, &s), KERN_SUCCESS);
	CHECK_EQ(s.pid, getpid());
	mach_port_deallocate(mach_task_self(), own);
	CHECK(memobj_msg_kind_name(MEMOBJ_MSG_DATA_SUPPLY) != NULL &&
	      strcmp(memobj_msg_kind_name(MEMOBJ_MSG_DATA_SUPPLY), "data_supply") == 0);
	CHECK(memobj_msg_kind_name(-1) == NULL && memobj_msg_kind_name(MEMOBJ_MSG_KINDS) == NULL);

	/* Nobody listening: memobj says so and fails. */
	char nowhere[128];
	snprintf(nowhere, sizeof nowhere, "unix:/tmp/memobj-tool-stat-none-%d.sock", (int)getpid());
	char *args[] = { "memobj", "stat", nowhere, NULL };
	int status;
	char *out = run_memobj(args, &status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	free(out);
	char *bad[] = { "memobj", "stat", "-i", "0", address, NULL };
	out = run_memobj(bad, &status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	free(out);
}

int main(int argc, char **argv)
{
	REQUIRE(argc == 2);
	memobj_path = argv[1];
	host_page_size(mach_host_self(), &page);

	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &object) == KERN_SUCCESS);
	REQUIRE(mach_port_insert_right(mach_task_self(), object, object, MACH_MSG_TYPE_MAKE_SEND)
	        == KERN_SUCCESS);
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, serve, (void *)(uintptr_t)object) == 0);
	pthread_detach(t);
	REQUIRE(vm_map(mach_task_self(), &addr, PAGES * page, 0, TRUE, object, 0, FALSE,
	        VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE) == KERN_SUCCESS);

	char path[96];
	snprintf(path, sizeof path, "/tmp/memobj-tool-stat-%d.sock", (int)getpid());
	snprintf(address, sizeof address, "unix:%s", path);
	REQUIRE(memobj_listen(address) == KERN_SUCCESS);
	REQUIRE(memobj_statistics_publish(MACH_PORT_NULL) == KERN_SUCCESS);
	REQUIRE(netname_check_in(MACH_PORT_NULL, "tool-stat-object", MACH_PORT_NULL, object)
	        == KERN_SUCCESS);

	RUN(stat_json_matches_host_statistics);
	RUN(stat_in_process_and_ls);
	RUN(served_objects_and_bad_input);
	unlink(path);
	return harness_done();
}
