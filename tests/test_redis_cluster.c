#include <stdlib.h>
#include <string.h>
/* The Redis pager on a real Redis Cluster this test makes: six
 * redis-server nodes, three masters with one replica each
 * (redis-cli --cluster create --cluster-replicas 1). An object four times
 * MEMOBJ_RESIDENT_MAX written from several threads lands on all three
 * masters (keys spread over hash slots) and a new process reads it back;
 * with WAIT for one replica, a master killed and its replica promoted
 * (CLUSTER FAILOVER TAKEOVER) loses none of the acknowledged pages, and the
 * same pager reconnects and goes on. CMakeLists.txt runs it with
 * MEMOBJ_RESIDENT_MAX=256k. */
#include "harness.h"
#include "redis_fixture.h"
#include "redis_common.h"

static int first;              /* index of the first node in rf_servers */
static char url[256];
static vm_size_t object_size;

static long long keys_on_masters(int *masters_with_keys)
{
	long long total = 0;
	*masters_with_keys = 0;
	for (int i = 0; i < 6; i++) {
		rf_server_t *s = &rf_servers[first + i];
		if (s->pid == 0 || !rf_is_master(s->port))
			continue;
		long long n = rf_dbsize(s->port);
		if (n > 0) {
			total += n;
			(*masters_with_keys)++;
		}
	}
	return total;
}

TEST(pages_spread_over_three_masters)
{
	char name[64];
	snprintf(name, sizeof name, "ctest-%d-spread", (int)getpid());
	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, object_size, 0, &o) == KERN_SUCCESS);
	uint8_t *m = rc_map(o, object_size, VM_PROT_READ | VM_PROT_WRITE);
	rc_write_pattern(m, object_size, 21, 4);
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, object_size,
	                  VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.sync_failures, 0);
	CHECK_EQ(st.pages_dirty, 0);
	CHECK(st.map_refreshes >= 1);
	rc_unmap(m, object_size);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);

	int masters = 0;
	CHECK_EQ(keys_on_masters(&masters), (long long)(object_size / 4096));
	CHECK_EQ(masters, 3);
	CHECK_EQ(rc_verify_in_child(url, name, object_size, 21, NULL), 0);
}

/* A slot half-way through a migration answers ASK: the pager sends
 * ASKING and the command to the importing node. Once the slot has moved,
 * the old owner answers MOVED and the pager follows it. */
TEST(ask_and_moved_during_a_slot_migration)
{
	char name[64], key[128], buf[256];
	snprintf(name, sizeof name, "ctest-%d-ask", (int)getpid());
	snprintf(key, sizeof key, "memobj:%s:0", name);
	int any = rf_servers[first].port;
	REQUIRE(rf_cmd(any, buf, sizeof buf, "CLUSTER KEYSLOT %s", key));
	int slot = atoi(buf);
	/* The owner: a master answers nil (it has the slot) or MOVED. */
	int source = 0, target = 0;
	for (int i = 0; i < 6 && source == 0; i++) {
		int port = rf_servers[first + i].port;
		if (!rf_is_master(port) || !rf_cmd(port, buf, sizeof buf, "GET %s", key))
			continue;
		if (strncmp(buf, "MOVED", 5) == 0)
			source = atoi(strrchr(buf, ':') + 1);
		else
			source = port;
	}
	REQUIRE(source != 0);
	for (int i = 0; i < 6 && target == 0; i++) {
		int port = rf_servers[first + i].port;
		if (port != source && rf_is_master(port))
			target = port;
	}
	REQUIRE(target != 0);
	char source_id[64], target_id[64];
	REQUIRE(rf_cmd(source, source_id, sizeof source_id, "CLUSTER MYID"));
	REQUIRE(rf_cmd(target, target_id, sizeof target_id, "CLUSTER MYID"));
	/* A key of the same slot already on the source (the braces hash the
	 * page's key), so the move below has a key to carry. */
	char filler[160];
	snprintf(filler, sizeof filler, "{%s}filler", key);
	REQUIRE(rf_cmd(source, buf, sizeof buf, "SET %s x", filler));
	REQUIRE(strcmp(buf, "OK") == 0);
	REQUIRE(rf_cmd(target, buf, sizeof buf, "CLUSTER SETSLOT %d IMPORTING %s", slot, source_id));
	REQUIRE(rf_cmd(source, buf, sizeof buf, "CLUSTER SETSLOT %d MIGRATING %s", slot, target_id));

	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, 4096 * 4, 4096, &o) == KERN_SUCCESS);
	uint8_t *m = rc_map(o, 4096 * 4, VM_PROT_READ | VM_PROT_WRITE);
	memset(m, 0x3c, 4096);          /* GET, then SET: both asked on */
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, 4096 * 4,
	                  VM_SYNC_SYNCHRONOUS | VM_SYNC_INVALIDATE), KERN_SUCCESS);
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.sync_failures, 0);
	CHECK(st.redirects >= 2);
	uint64_t redirects = st.redirects;

	/* Finish the move as a resharding does: the source's keys of the
	 * slot (another case's pages may hash there) go to the target first.
	 * A source still holding keys refuses SETSLOT NODE, and on hearing
	 * of the target's claim deletes them: a page lost, and a master and
	 * its replica that disagree. */
	for (int moved = 0; moved < 1000; moved++) {
		REQUIRE(rf_cmd(source, buf, sizeof buf, "CLUSTER COUNTKEYSINSLOT %d", slot));
		if (atoi(buf) == 0)
			break;
		redisContext *c = rf_connect(source);
		REQUIRE(c != NULL);
		redisReply *r = redisCommand(c, "CLUSTER GETKEYSINSLOT %d 1", slot);
		REQUIRE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
		redisReply *m2 = redisCommand(c, "MIGRATE 127.0.0.1 %d %b 0 5000", target,
		                              r->element[0]->str, r->element[0]->len);
		CHECK(m2 && m2->type == REDIS_REPLY_STATUS);
		if (m2)
			freeReplyObject(m2);
		freeReplyObject(r);
		redisFree(c);
	}
	/* Every master learns the slot is the target's (target, source,
	 * then the others). */
	CHECK(rf_cmd(target, buf, sizeof buf, "CLUSTER SETSLOT %d NODE %s", slot, target_id));
	CHECK_EQ(strcmp(buf, "OK"), 0);
	CHECK(rf_cmd(source, buf, sizeof buf, "CLUSTER SETSLOT %d NODE %s", slot, target_id));
	CHECK_EQ(strcmp(buf, "OK"), 0);
	for (int i = 0; i < 6; i++) {
		int port = rf_servers[first + i].port;
		if (port != source && port != target && rf_is_master(port)) {
			CHECK(rf_cmd(port, buf, sizeof buf, "CLUSTER SETSLOT %d NODE %s", slot, target_id));
			CHECK_EQ(strcmp(buf, "OK"), 0);
		}
	}
	CHECK(rf_cmd(target, buf, sizeof buf, "EXISTS %s", key));
	CHECK_EQ(atoi(buf), 1);
	CHECK(rf_cmd(target, buf, sizeof buf, "EXISTS %s", filler));
	CHECK_EQ(atoi(buf), 1);
	/* The pager's map still names the source: MOVED takes it there. */
	uint8_t v = 0;
	CHECK_EQ(rc_touch(m + 5, &v), 0);
	CHECK_EQ(v, 0x3c);
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK(st.redirects > redirects);
	rc_unmap(m, 4096 * 4);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
}

/* On a failure: which pages are wrong, what they hold, and what the
 * cluster holds for their keys (each master's answer to EXISTS). */
static void describe_wrong_pages(const uint8_t *m, const char *name, uint32_t seed)
{
	for (size_t pg = 0; pg < object_size / 4096; pg++) {
		const uint8_t *b = m + pg * 4096;
		size_t bad = 0, zero = 0;
		for (size_t i = 0; i < 4096; i++) {
			bad += b[i] != rc_pattern(seed, pg * 4096 + i);
			zero += b[i] == 0;
		}
		if (bad == 0)
			continue;
		long other = -1;
		for (size_t q = 0; q < object_size / 4096 && other < 0; q++)
			if (b[0] == rc_pattern(seed, q * 4096) && b[1] == rc_pattern(seed, q * 4096 + 1) &&
			    b[2] == rc_pattern(seed, q * 4096 + 2) && b[3] == rc_pattern(seed, q * 4096 + 3))
				other = (long)q;
		fprintf(stderr, "page %zu: %zu bytes wrong, %zu zero, looks like page %ld\n",
		        pg, bad, zero, other);
		for (int i = 0; i < 6; i++) {
			rf_server_t *s = &rf_servers[first + i];
			char buf[256];
			if (s->pid == 0)
				continue;
			/* %llu: hiredis's formatter refuses %zu (the command fails) */
			if (rf_cmd(s->port, buf, sizeof buf, "EXISTS memobj:%s:%llu", name,
			           (unsigned long long)pg))
				fprintf(stderr, "  port %d (%s): %s\n", s->port,
				        rf_is_master(s->port) ? "master" : "replica", buf);
		}
	}
}

/* A WAIT that takes longer than one socket read may (every replica
 * paused 1.5 s by DEBUG SLEEP, under the cluster's 2 s node timeout) is
 * waited for on the same connection: the batch is not dropped and sent
 * again every second. */
TEST(slow_wait_is_waited_for)
{
	char name[64];
	snprintf(name, sizeof name, "ctest-%d-slowwait", (int)getpid());
	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, 64 * 1024, 0, &o) == KERN_SUCCESS);
	CHECK_EQ(redis_pager_set_wait(o, 1, 5000), KERN_SUCCESS);
	uint8_t *m = rc_map(o, 64 * 1024, VM_PROT_READ | VM_PROT_WRITE);
	m[0] = 1;                       /* connected, the map read */
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, 64 * 1024,
	                  VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	redis_pager_stats_t before, after;
	CHECK_EQ(redis_pager_get_stats(o, &before), KERN_SUCCESS);
	redisContext *paused[6] = { NULL };
	for (int i = 0; i < 6; i++) {
		int port = rf_servers[first + i].port;
		if (rf_is_master(port))
			continue;
		paused[i] = rf_connect(port);
		REQUIRE(paused[i] != NULL);
		redisAppendCommand(paused[i], "DEBUG SLEEP 1.5");
		int done = 0;
		while (!done)
			REQUIRE(redisBufferWrite(paused[i], &done) == REDIS_OK);
	}
	m[0] = 2;
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, 64 * 1024,
	                  VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_get_stats(o, &after), KERN_SUCCESS);
	CHECK_EQ(after.reconnects, before.reconnects);
	CHECK_EQ(after.write_errors, before.write_errors);
	CHECK_EQ(after.sync_failures, 0);
	for (int i = 0; i < 6; i++) {
		if (paused[i] == NULL)
			continue;
		void *r = NULL;
		if (redisGetReply(paused[i], &r) == REDIS_OK)
			freeReplyObject(r);
		redisFree(paused[i]);
	}
	rc_unmap(m, 64 * 1024);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);
}

TEST(failover_keeps_waited_pages)
{
	char name[64];
	snprintf(name, sizeof name, "ctest-%d-failover", (int)getpid());
	memory_object_t o;
	REQUIRE(redis_pager_create(url, name, object_size, 0, &o) == KERN_SUCCESS);
	CHECK_EQ(redis_pager_set_wait(o, 1, 5000), KERN_SUCCESS);
	uint8_t *m = rc_map(o, object_size, VM_PROT_READ | VM_PROT_WRITE);
	rc_write_pattern(m, object_size, 33, 3);
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, object_size,
	                  VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	redis_pager_stats_t st;
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.sync_failures, 0);
	CHECK_EQ(st.pages_dirty, 0);
	rc_unmap(m, object_size);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);

	/* Kill a master, promote its replica. */
	int victim = -1, replica = -1;
	for (int i = 0; i < 6 && victim < 0; i++)
		if (rf_is_master(rf_servers[first + i].port))
			victim = first + i;
	REQUIRE(victim >= 0);
	for (int i = 0; i < 6; i++)
		if (rf_master_of(rf_servers[first + i].port) == rf_servers[victim].port)
			replica = first + i;
	REQUIRE(replica >= 0);
	int vport = rf_servers[victim].port, rport = rf_servers[replica].port;
	/* WAIT counted the replica by its replication offset, not by what it
	 * holds: check it holds what its master holds, so that a replica
	 * that loaded the wrong data set (two replicas' full syncs sharing
	 * one RDB file, once the fixture's fault) is named here and not
	 * taken for a pager that lost pages. */
	int tries = 0;
	while (!rf_replica_caught_up(rport, vport) && ++tries < RF_POLL_TRIES)
		rf_poll_pause();
	CHECK(tries < RF_POLL_TRIES);
	CHECK_EQ(rf_dbsize(rport), rf_dbsize(vport));
	char rid[64], buf[64];
	REQUIRE(rf_cmd(rport, rid, sizeof rid, "CLUSTER MYID"));
	rf_stop(victim);
	CHECK(rf_cmd(rport, buf, sizeof buf, "CLUSTER FAILOVER TAKEOVER"));
	/* Until every live node names the promoted replica as the master of
	 * those slots; the pager's own map still names the dead node. */
	for (int i = 0; i < 6; i++) {
		rf_server_t *s = &rf_servers[first + i];
		tries = 0;
		while (s->pid && !(rf_sees_serving_master(s->port, rid) && rf_cluster_ok(s->port)) &&
		       ++tries < RF_POLL_TRIES)
			rf_poll_pause();
		CHECK(tries < RF_POLL_TRIES);
	}
	CHECK(rf_is_master(rport));

	/* The same pager: reconnects, finds the new master, every byte is there. */
	m = rc_map(o, object_size, VM_PROT_READ | VM_PROT_WRITE);
	size_t wrong = rc_mismatches(m, object_size, 33);
	CHECK_EQ(wrong, 0);
	if (wrong)
		describe_wrong_pages(m, name, 33);
	/* The promoted master has no replica now: stop waiting for one. */
	CHECK_EQ(redis_pager_set_wait(o, 0, 0), KERN_SUCCESS);
	rc_write_pattern(m, object_size, 34, 2);
	CHECK_EQ(vm_msync(mach_task_self(), (vm_address_t)(uintptr_t)m, object_size,
	                  VM_SYNC_SYNCHRONOUS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_get_stats(o, &st), KERN_SUCCESS);
	CHECK_EQ(st.sync_failures, 0);
	CHECK_EQ(st.pages_dirty, 0);
	CHECK(st.reconnects + st.redirects + st.map_refreshes >= 2);
	rc_unmap(m, object_size);
	CHECK_EQ(redis_pager_wait_detached(o, RC_DETACH_MS), KERN_SUCCESS);
	CHECK_EQ(redis_pager_destroy(o), KERN_SUCCESS);

	/* A seed list naming the dead node first still works. */
	char u2[256];
	snprintf(u2, sizeof u2, "redis-cluster://127.0.0.1:%d,127.0.0.1:%d", vport, rport);
	CHECK_EQ(rc_verify_in_child(u2, name, object_size, 34, NULL), 0);
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
	rf_keep_logs = true;       /* until every case passed (REQUIRE exits) */
	first = rf_start_cluster();
	REQUIRE(first >= 0);
	snprintf(url, sizeof url, "redis-cluster://127.0.0.1:%d,127.0.0.1:%d",
	         rf_servers[first].port, rf_servers[first + 1].port);
	vm_size_t resident = 256 * 1024;
	const char *env = getenv("MEMOBJ_RESIDENT_MAX");
	if (env && strcmp(env, "256k") != 0)
		resident = 1024 * 1024;
	object_size = 4 * resident;
	RUN(pages_spread_over_three_masters);
	RUN(ask_and_moved_during_a_slot_migration);
	RUN(slow_wait_is_waited_for);
	RUN(failover_keeps_waited_pages);
	rf_keep_logs = harness_failed > 0;
	return harness_done();
}
