/* The Redis pager against a standalone redis-server this test starts
 * (TCP and Unix socket): bad input; an object four times
 * MEMOBJ_RESIDENT_MAX written from several threads, msynced and read back
 * byte for byte by a new process (at another page size too); absent keys
 * read as zero with one pipelined request per cluster; keys of the wrong
 * type or size are memory errors; a Redis killed mid-run gives SIGBUS
 * within the timeout, and a write that failed is kept and lands once
 * Redis is back. CMakeLists.txt runs it with MEMOBJ_RESIDENT_MAX=256k. */
#include "harness.h"
#include "redis_fixture.h"
#include "redis_common.h"

static int server;             /* index in rf_servers */
static char url[128];
static vm_size_t object_size;  /* 4 x MEMOBJ_RESIDENT_MAX */

static vm_size_t page_size(void)
{
	vm_size_t ps = 0;
	REQUIRE(host_page_size(mach_host_self(), &ps) == KERN_SUCCESS);
	return ps;
}

static void name_for(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "test-%d-%s", (int)getpid(), what);
}

TEST(bad_urls_and_names)
{
	memory_object_t o = MACH_PORT_NULL;
	const char *bad_urls[] = {
		NULL, "", "http://127.0.0.1:6379", "redis://", "redis://h:0",
		"redis://h:99999", "redis://h:12x", "unix:", "redis-cluster://",
		"redis-cluster://a:1,", "redis-cluster://a", "redis://h:1?foo=1",
		"redis://h:1?timeout=0", "redis://h:1?threads=99", "redis://h:1?wait",
		"redis://h:1?spin=1001", "redis://h:1?spin=x",
	};
	for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++)
		CHECK_EQ(redis_pager_create(bad_urls[i], "n", 4096, 0, &o),
		         KERN_INVALID_ARGUMENT);
	const char *bad_names[] = { NULL, "", "a b", "a{b}", "tab\there" };
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
		CHECK_EQ(redis_pager_create(url, bad_names[i], 4096, 0, &o),
		         KERN_INVALID_ARGUMENT);
	CHECK_EQ(redis_pager_create(url, "n", 0, 0, &o), KERN_INVALID_ARGUMENT);
	CHECK_EQ(redis_pager_create(url, "n", 4096, 2u << 20, &o), KERN_INVALID_ARGUMENT);
	CHECK_EQ(redis_pager_create(url, "n", 4096, 0, NULL), KERN_INVALID_ARGUMENT);
	/* Not a Redis pager's object. */
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(MACH_PORT_NULL, &st), KERN_INVALID_NAME);
	CHECK_EQ(redis_pager_set_wait(12345, 1, 100), KERN_INVALID_NAME);
	CHECK_EQ(redis_pager_set_timeout(12345, 100), KERN_INVALID_NAME);
	CHECK_EQ(redis_pager_wait_detached(12345, 10), KERN_INVALID_NAME);
	CHECK_EQ(redis_pager_destroy(12345), KERN_INVALID_NAME);
	/* Good ones, with options. */
	char good[200];
	snprintf(good, sizeof good, "%s?timeout=500&threads=3&wait=0&wait_timeout=10&spin=0", url);
	CHECK_EQ(redis_pager_create(good, "n", 4096, 0, &o), KERN_SUCCESS);
	CHECK_EQ(redis_pager_set_timeout(o, 0), KERN_INVALID_ARGUMENT);
	CHECK_EQ(redis_pager_get_stats(o, NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
	CHECK_EQ(redis_pager_create("redis://localhost", "n", 1, 4096, &o), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
}

/* Write, msync, unmap; a new process (a new kernel) sees every byte, at
 * its own page size and at 16 KiB. */
static void persist_via(const char *u, const char *what, uint32_t seed)
{
	char name[64];
	name_for(name, sizeof name, what);
	memory_object_t o;
	REQUIRE(redis_pager_create(u, name, object_size, 0, &o) == KERN_SUCCESS);
	uint8_t *m = rc_map(o, object_size, VM_PROT_READ | VM_PROT_WRITE);
	rc_write_pattern(m, object_size, seed, 4);
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, object_size,
	                  VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.sync_failures, 0);
	CHECK_EQ(st.pages_dirty, 0);
	CHECK(st.pages_written >= object_size / 4096);
	CHECK_EQ(rc_mismatches(m, object_size, seed), 0);
	rc_unmap(m, object_size);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
	CHECK_EQ(rc_verify_in_child(u, name, object_size, seed, NULL), 0);
	CHECK_EQ(rc_verify_in_child(u, name, object_size, seed, "16384"), 0);
}

TEST(persist_across_processes_tcp)
{
	long long before = rf_dbsize(rf_servers[server].port);
	persist_via(url, "tcp", 7);
	/* one key per 4 KiB page */
	CHECK_EQ(rf_dbsize(rf_servers[server].port) - before, (long long)(object_size / 4096));
}

TEST(persist_across_processes_unix)
{
	char u[400];
	snprintf(u, sizeof u, "unix:%s", rf_servers[server].sock);
	persist_via(u, "unix", 11);
}

/* Workers that sleep on every reply (spin=0) serve the same bytes as
 * the default, which polls for a reply first. */
TEST(persist_without_polling)
{
	char u[400];
	snprintf(u, sizeof u, "%s?spin=0", url);
	persist_via(u, "nospin", 13);
}

/* No msync: the unmap's terminate writes every dirty page before the
 * pager lets go of the kernel (wait_detached returns after that). */
TEST(unmap_without_msync_writes_everything)
{
	char name[64];
	name_for(name, sizeof name, "nomsync");
	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, object_size, 0, &o) == KERN_SUCCESS);
	uint8_t *m = rc_map(o, object_size, VM_PROT_READ | VM_PROT_WRITE);
	rc_write_pattern(m, object_size, 5, 3);
	rc_unmap(m, object_size);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.pages_dirty, 0);
	CHECK_EQ(st.terminates, 1);
	CHECK_EQ(st.synchronizes, 0);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
	CHECK_EQ(rc_verify_in_child(url, name, object_size, 5, NULL), 0);
}

/* A fresh name: every page absent, zero, and one request (one pipelined
 * round trip of GETs) per cluster. */
TEST(absent_keys_are_zero)
{
	char name[64];
	name_for(name, sizeof name, "absent");
	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, 256 * 1024, 64 * 1024, &o) == KERN_SUCCESS);
	uint8_t *m = rc_map(o, 256 * 1024, VM_PROT_READ);
	CHECK_EQ(m[0], 0);
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.data_requests, 1);
	CHECK_EQ(st.pages_absent, 16);
	CHECK_EQ(st.data_unavailables, 1);
	size_t nonzero = 0;
	for (size_t i = 0; i < 256 * 1024; i++)
		nonzero += m[i] != 0;
	CHECK_EQ(nonzero, 0);
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.data_requests, 4);
	rc_unmap(m, 256 * 1024);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
}

/* A list where a page should be, and a string of the wrong size: those
 * pages are memory errors (SIGBUS), their neighbours read fine. */
TEST(wrong_type_or_size_is_a_memory_error)
{
	char name[64], buf[64];
	name_for(name, sizeof name, "wrongtype");
	int port = rf_servers[server].port;
	vm_size_t ps = page_size();
	/* store pages 1 (list) and 2*ps/4096 (short string) */
	uint64_t list_index = ps / 4096, short_index = 2 * ps / 4096;
	REQUIRE(rf_cmd(port, buf, sizeof buf, "RPUSH memobj:%s:%llu x", name,
	               (unsigned long long)list_index));
	REQUIRE(rf_cmd(port, buf, sizeof buf, "SET memobj:%s:%llu short", name,
	               (unsigned long long)short_index));
	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, 4 * ps, ps, &o) == KERN_SUCCESS);
	uint8_t *m = rc_map(o, 4 * ps, VM_PROT_READ);
	uint8_t v = 0xff;
	CHECK_EQ(rc_touch(m, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(rc_touch(m + ps, &v), 1);
	CHECK_EQ(rc_touch(m + 2 * ps + 100, &v), 1);
	v = 0xff;
	CHECK_EQ(rc_touch(m + 3 * ps, &v), 0);
	CHECK_EQ(v, 0);
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.pages_bad, 2);
	CHECK(st.data_errors >= 2);
	rc_unmap(m, 4 * ps);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
}

/* Redis killed: a fault on a page not resident gets SIGBUS within the
 * timeout (bounded: timeout + 5 s); a write-back that fails is counted,
 * vm_msync returns KERN_OPERATION_TIMED_OUT, the page stays in the pager (served from it) and lands
 * once Redis is back. */
TEST(redis_killed_sigbus_then_write_retried)
{
	int s = rf_start_block(1, false);
	REQUIRE(s >= 0);
	int port = rf_servers[s].port;
	char u[128], name[64];
	snprintf(u, sizeof u, "redis://127.0.0.1:%d?timeout=1500", port);
	name_for(name, sizeof name, "killed");
	vm_size_t ps = page_size();
	memory_object_t o;
	REQUIRE(redis_pager_create(u, name, 8 * ps, ps, &o) == KERN_SUCCESS);
	uint8_t *m = rc_map(o, 8 * ps, VM_PROT_READ | VM_PROT_WRITE);
	m[0] = 1;
	m[ps] = 1;                /* resident before Redis goes */
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, 2 * ps,
	                  VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);

	rf_stop(s);
	uint8_t v;
	double t0 = rc_seconds();
	CHECK_EQ(rc_touch(m + 5 * ps, &v), 1);
	CHECK(rc_seconds() - t0 < 1.5 + 5.0);
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK(st.fetch_timeouts >= 1);

	/* Not acknowledged within the timeout: vm_msync says so. */
	memset(m + ps, 0xab, ps);
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)(m + ps), ps,
	                  VM_SYNC_SYNCHRONOUS), KERN_OPERATION_TIMED_OUT);
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK(st.sync_failures >= 1);
	CHECK(st.pages_dirty >= ps / 4096);
	/* Flushed from the kernel, the page comes back from the pager's table. */
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)(m + ps), ps,
	                  VM_SYNC_INVALIDATE), KERN_OPERATION_TIMED_OUT);
	CHECK_EQ(rc_touch(m + ps + 7, &v), 0);
	CHECK_EQ(v, 0xab);

	REQUIRE(rf_restart(s));
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)(m + ps), ps,
	                  VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.pages_dirty, 0);
	CHECK(st.write_errors >= 1);     /* the batch that failed, before */
	char buf[8];
	CHECK(rf_cmd(port, buf, sizeof buf, "GETRANGE memobj:%s:%llu 0 0", name,
	             (unsigned long long)(ps / 4096)));
	CHECK_EQ((uint8_t)buf[0], 0xab);
	/* And faults work again. */
	CHECK_EQ(rc_touch(m + 6 * ps, &v), 0);
	rc_unmap(m, 8 * ps);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
	rf_stop(s);
}

/* Makes the test's Redis stop answering for 2 s (DEBUG SLEEP sent, its
 * reply not awaited: the server is busy from now on). */
static redisContext *hang_redis(void)
{
	redisContext *c = rf_connect(rf_servers[server].port);
	if (c == NULL)
		return NULL;
	redisAppendCommand(c, "DEBUG SLEEP 2");
	int done = 0;
	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK) {
			redisFree(c);
			return NULL;
		}
	return c;
}

/* Waits for the DEBUG SLEEP's reply: Redis answers again. */
static void hang_redis_end(redisContext *c)
{
	void *r = NULL;
	if (redisGetReply(c, &r) == REDIS_OK)
		freeReplyObject(r);
	redisFree(c);
}

/* A Redis that stops answering for a while (DEBUG SLEEP 2) delays a
 * fault, which then gets the right bytes: the pager's socket timeout
 * drops the stuck connection and it asks again on a new one. */
TEST(hung_redis_delays_faults_then_serves_them)
{
	char name[64];
	name_for(name, sizeof name, "sleep");
	vm_size_t ps = page_size();
	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, 4 * ps, ps, &o) == KERN_SUCCESS);
	uint8_t *m = rc_map(o, 4 * ps, VM_PROT_READ | VM_PROT_WRITE);
	memset(m + ps, 0x5a, ps);
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, 4 * ps,
	                  VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE), KERN_SUCCESS);
	redisContext *c = hang_redis();
	REQUIRE(c != NULL);
	uint8_t v = 0;
	CHECK_EQ(rc_touch(m + ps + 9, &v), 0);
	CHECK_EQ(v, 0x5a);
	hang_redis_end(c);
	rc_unmap(m, 4 * ps);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
}

/* A page returned again and again while the writer's batch is stuck on
 * the wire (DEBUG SLEEP 2) keeps one spare buffer, not one per return
 * (the ASan run's leak check), and the last bytes returned are the ones
 * that land. */
TEST(returns_during_a_stuck_write_keep_the_last)
{
	char name[64];
	name_for(name, sizeof name, "rereturn");
	vm_size_t ps = page_size();
	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, 2 * ps, ps, &o) == KERN_SUCCESS);
	uint8_t *m = rc_map(o, 2 * ps, VM_PROT_READ | VM_PROT_WRITE);
	redisContext *c = hang_redis();
	REQUIRE(c != NULL);
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	uint64_t batches = st.write_batches;
	m[0] = 1;
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, ps,
	                  VM_SYNC_ASYNCHRONOUS), KERN_SUCCESS);
	/* The writer took the page into a batch: it is on the wire now. */
	for (int i = 0; i < 100000 && st.write_batches == batches; i++) {
		sched_yield();
		CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	}
	CHECK(st.write_batches > batches);
	for (uint8_t v = 2; v <= 4; v++) {
		m[0] = v;
		CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, ps,
		                  VM_SYNC_ASYNCHRONOUS), KERN_SUCCESS);
	}
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, ps,
	                  VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	char buf[8];
	CHECK(rf_cmd(rf_servers[server].port, buf, sizeof buf,
	             "GETRANGE memobj:%s:0 0 0", name));
	CHECK_EQ((uint8_t)buf[0], 4);
	hang_redis_end(c);
	rc_unmap(m, 2 * ps);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--verify") == 0)
		return rc_verify_main(argv);
	alarm(240);
	if (!rf_have_redis()) {
		printf("skip: redis-server or redis-cli not installed\n");
		return 77;
	}
	rc_catch_sigbus();
	rc_fatal_hook = rf_cleanup;
	server = rf_start_block(1, false);
	REQUIRE(server >= 0);
	snprintf(url, sizeof url, "redis://127.0.0.1:%d", rf_servers[server].port);
	vm_size_t resident = 256 * 1024;
	const char *env = getenv("MEMOBJ_RESIDENT_MAX");
	if (env && strcmp(env, "256k") != 0)
		resident = 1024 * 1024;
	object_size = 4 * resident;
	RUN(bad_urls_and_names);
	RUN(persist_without_polling);
	RUN(persist_across_processes_tcp);
	RUN(persist_across_processes_unix);
	RUN(unmap_without_msync_writes_everything);
	RUN(absent_keys_are_zero);
	RUN(wrong_type_or_size_is_a_memory_error);
	RUN(hung_redis_delays_faults_then_serves_them);
	RUN(returns_during_a_stuck_write_keep_the_last);
	RUN(redis_killed_sigbus_then_write_retried);
	return harness_done();
}
