/* Redis servers for the Redis pager's tests: each test program starts its
 * own redis-server processes on loopback ports derived from its pid (many
 * suites run at once on one machine), in a private temporary directory,
 * and kills them at exit, also when the test fails: the servers die with
 * the test process (PR_SET_PDEATHSIG) and an atexit handler kills and
 * reaps them. Waits are bounded polls (PING until PONG, N tries), never
 * sleeps. A port taken by someone else is detected (the server's
 * process_id must be our child's) and the next port block tried.
 *
 * Uses hiredis directly to look at the store (what keys landed where). */
#ifndef MEMOBJ_REDIS_FIXTURE_H
#define MEMOBJ_REDIS_FIXTURE_H

#include <hiredis/hiredis.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RF_MAX_SERVERS 8
#define RF_PORT_LOW 10000          /* servers' ports: [LOW, LOW + SPAN) */
#define RF_PORT_SPAN 12000
#define RF_POLL_TRIES 300          /* x 20 ms: 6 s for a server to answer */
#define RF_SYNC_TRIES 3000         /* x 20 ms: 60 s for replicas' first sync */

typedef struct rf_server {
	pid_t pid;
	int port;
	bool cluster;
	char sock[256];               /* its Unix socket */
} rf_server_t;

static rf_server_t rf_servers[RF_MAX_SERVERS];
static int rf_nservers;
static char rf_dir[160];
static int rf_base_port;
static pid_t rf_owner;
static bool rf_keep_logs;          /* keep rf_dir (the logs) at exit */

static inline void rf_poll_pause(void)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

static inline void rf_kill_one(rf_server_t *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
		s->pid = 0;
	}
}

/* The servers' logs are kept when the test asks (it failed, or stopped
 * early), on a fatal signal, or with MEMOBJ_TEST_REDIS_KEEP_LOGS=1: they
 * say which node was promoted, when, and how it synced. */
static inline void rf_remove_dir(void)
{
	if (rf_dir[0] == '\0')
		return;
	const char *keep = getenv("MEMOBJ_TEST_REDIS_KEEP_LOGS");
	if (rf_keep_logs || (keep && strcmp(keep, "1") == 0)) {
		fprintf(stderr, "redis_fixture: server logs kept in %s\n", rf_dir);
		rf_dir[0] = '\0';
		return;
	}
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", rf_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "redis_fixture: could not remove %s\n", rf_dir);
	rf_dir[0] = '\0';
}

static inline void rf_cleanup(void)
{
	if (getpid() != rf_owner)
		return;                  /* a forked child: not ours to kill */
	for (int i = 0; i < rf_nservers; i++)
		rf_kill_one(&rf_servers[i]);
	rf_remove_dir();
}

static inline void rf_on_fatal(int sig)
{
	rf_keep_logs = true;
	rf_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Is redis-server there at all? (77: skip the test when not) */
static inline bool rf_have_redis(void)
{
	return system("command -v redis-server >/dev/null 2>&1 && "
	              "command -v redis-cli >/dev/null 2>&1") == 0;
}

static inline void rf_setup(void)
{
	if (rf_owner != 0)
		return;
	rf_owner = getpid();
	const char *tmp = getenv("TMPDIR");
	snprintf(rf_dir, sizeof rf_dir, "%s/memobj-redis-%d-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp", (int)getpid());
	if (mkdtemp(rf_dir) == NULL) {
		perror("redis_fixture: mkdtemp");
		exit(1);
	}
	/* 10000..21999 in blocks of 10 ports, by pid; a cluster node's bus
	 * port is its port + 10000, so both stay below Linux's ephemeral
	 * range (32768..60999): a client's connect, the pager's retrying
	 * one included, never takes a port a server is about to bind. */
	rf_base_port = RF_PORT_LOW + (int)(getpid() % (RF_PORT_SPAN / 10)) * 10;
	atexit(rf_cleanup);
	signal(SIGALRM, rf_on_fatal);
	signal(SIGABRT, rf_on_fatal);
	signal(SIGTERM, rf_on_fatal);
	signal(SIGSEGV, rf_on_fatal);
}

static inline redisContext * rf_connect(int port)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	if (c)
		redisSetTimeout(c, tv);
	return c;
}

/* One command, the reply's text (status, string or integer as text) into
 * out; false when the server does not answer. */
static inline bool rf_cmd(int port, char *out, size_t outsz, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static inline bool rf_cmd(int port, char *out, size_t outsz, const char *fmt, ...)
{
	redisContext *c = rf_connect(port);
	if (c == NULL)
		return false;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	bool ok = r != NULL;
	if (r && out) {
		if (r->type == REDIS_REPLY_INTEGER)
			snprintf(out, outsz, "%lld", r->integer);
		else if (r->str)
			snprintf(out, outsz, "%.*s", (int)r->len, r->str);
		else
			snprintf(out, outsz, "%s", "");
	}
	if (r)
		freeReplyObject(r);
	redisFree(c);
	return ok;
}

/* PING until PONG, at most RF_POLL_TRIES tries; and the server must be
 * our child (not another suite's server on the same port). */
static inline bool rf_wait_up(rf_server_t *s)
{
	char buf[8192];
	for (int i = 0; i < RF_POLL_TRIES; i++) {
		int status;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return false;        /* it exited: port taken, probably */
		}
		if (rf_cmd(s->port, buf, sizeof buf, "PING") && strcmp(buf, "PONG") == 0) {
			if (!rf_cmd(s->port, buf, sizeof buf, "INFO server"))
				return false;
			char want[64];
			snprintf(want, sizeof want, "process_id:%d\r", (int)s->pid);
			return strstr(buf, want) != NULL;
		}
		rf_poll_pause();
	}
	return false;
}

static inline pid_t rf_spawn(char *const argv[], bool quiet)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (quiet) {
			int fd = open("/dev/null", O_RDWR);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Starts a server on the slot'th port of our block (standalone, or a
 * cluster node). Returns its index in rf_servers, -1 on failure. */
static inline int rf_start_at(int port, bool cluster)
{
	REQUIRE(rf_nservers < RF_MAX_SERVERS);
	rf_server_t *s = &rf_servers[rf_nservers];
	memset(s, 0, sizeof *s);
	s->port = port;
	s->cluster = cluster;
	snprintf(s->sock, sizeof s->sock, "%s/redis-%d.sock", rf_dir, port);
	char portstr[16], conf[300], log[300], rdb[64];
	snprintf(portstr, sizeof portstr, "%d", port);
	snprintf(conf, sizeof conf, "nodes-%d.conf", port);
	snprintf(rdb, sizeof rdb, "dump-%d.rdb", port);
	snprintf(log, sizeof log, "%s/redis-%d.log", rf_dir, port);
	char *argv[40];
	int n = 0;
	argv[n++] = "redis-server";
	argv[n++] = "--port"; argv[n++] = portstr;
	argv[n++] = "--bind"; argv[n++] = "127.0.0.1";
	argv[n++] = "--unixsocket"; argv[n++] = s->sock;
	argv[n++] = "--save"; argv[n++] = "";
	/* Each server its own RDB file: a replica's full sync renames the
	 * RDB it received onto this name and then loads it, so with one
	 * shared dump.rdb two replicas syncing at once could each load the
	 * other's master's data (the lost failover pages of issue 11). */
	argv[n++] = "--dbfilename"; argv[n++] = rdb;
	argv[n++] = "--appendonly"; argv[n++] = "no";
	argv[n++] = "--dir"; argv[n++] = rf_dir;
	argv[n++] = "--daemonize"; argv[n++] = "no";
	argv[n++] = "--protected-mode"; argv[n++] = "no";
	argv[n++] = "--enable-debug-command"; argv[n++] = "local";
	argv[n++] = "--logfile"; argv[n++] = log;
	argv[n++] = "--loglevel"; argv[n++] = "verbose";
	if (cluster) {
		argv[n++] = "--cluster-enabled"; argv[n++] = "yes";
		argv[n++] = "--cluster-config-file"; argv[n++] = conf;
		argv[n++] = "--cluster-node-timeout"; argv[n++] = "2000";
		/* One replica per master: nothing to gain by waiting 5 s for
		 * more replicas to share a full sync. */
		argv[n++] = "--repl-diskless-sync-delay"; argv[n++] = "0";
	}
	argv[n] = NULL;
	s->pid = rf_spawn(argv, true);
	if (s->pid < 0)
		return -1;
	rf_nservers++;
	if (!rf_wait_up(s)) {
		rf_kill_one(s);
		rf_nservers--;
		return -1;
	}
	return rf_nservers - 1;
}

/* `count` servers on consecutive ports of one free block of 10. */
static inline int rf_start_block(int count, bool cluster)
{
	rf_setup();
	for (int attempt = 0; attempt < 20; attempt++) {
		int base = RF_PORT_LOW + (rf_base_port - RF_PORT_LOW + attempt * 1510) % RF_PORT_SPAN;
		int first = rf_nservers, ok = 1;
		for (int i = 0; i < count && ok; i++)
			ok = rf_start_at(base + i, cluster) >= 0;
		if (ok)
			return first;
		while (rf_nservers > first)
			rf_kill_one(&rf_servers[--rf_nservers]);
	}
	return -1;
}

static inline void rf_stop(int index)
{
	rf_kill_one(&rf_servers[index]);
}

/* Restart a stopped server on its port (standalone only). */
static inline bool rf_restart(int index)
{
	rf_server_t *s = &rf_servers[index];
	int saved = rf_nservers;
	rf_nservers = index;
	int i = rf_start_at(s->port, s->cluster);
	rf_nservers = saved;
	return i == index;
}

static inline bool rf_cluster_ok(int port)
{
	char buf[4096];
	return rf_cmd(port, buf, sizeof buf, "CLUSTER INFO") &&
	       strstr(buf, "cluster_state:ok") != NULL;
}

/* How many of the six nodes from `first` are replicas with their link to
 * the master up (first full sync done). */
static inline int rf_replicas_synced(int first)
{
	int n = 0;
	for (int i = 0; i < 6; i++) {
		char buf[4096];
		if (rf_cmd(rf_servers[first + i].port, buf, sizeof buf, "INFO replication") &&
		    strstr(buf, "role:slave") && strstr(buf, "master_link_status:up"))
			n++;
	}
	return n;
}

/* Six nodes, three masters each with one replica, made by redis-cli. */
static inline int rf_start_cluster(void)
{
	int first = rf_start_block(6, true);
	if (first < 0)
		return -1;
	char *argv[20];
	char addr[6][32];
	int n = 0;
	argv[n++] = "redis-cli";
	argv[n++] = "--cluster";
	argv[n++] = "create";
	for (int i = 0; i < 6; i++) {
		snprintf(addr[i], sizeof addr[i], "127.0.0.1:%d", rf_servers[first + i].port);
		argv[n++] = addr[i];
	}
	argv[n++] = "--cluster-replicas";
	argv[n++] = "1";
	argv[n++] = "--cluster-yes";
	argv[n] = NULL;
	pid_t pid = rf_spawn(argv, true);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "redis_fixture: redis-cli --cluster create failed\n");
		return -1;
	}
	for (int i = 0; i < 6; i++) {
		int tries = 0;
		while (!rf_cluster_ok(rf_servers[first + i].port) && ++tries < RF_POLL_TRIES)
			rf_poll_pause();
		if (tries == RF_POLL_TRIES)
			return -1;
	}
	/* Ready means replicated too: until each replica's first full sync
	 * is done, a write with WAIT waits for it, and on a loaded machine
	 * that took longer than the pager's 10 s timeout. */
	for (int tries = 0; rf_replicas_synced(first) < 3; tries++) {
		if (tries == RF_SYNC_TRIES) {
			fprintf(stderr, "redis_fixture: replicas not in sync after %d s\n",
			        RF_SYNC_TRIES / 50);
			return -1;
		}
		rf_poll_pause();
	}
	return first;
}

/* Is the server on `port` a master? */
static inline bool rf_is_master(int port)
{
	char buf[4096];
	return rf_cmd(port, buf, sizeof buf, "INFO replication") &&
	       strstr(buf, "role:master") != NULL;
}

/* The port of the master a replica follows, 0 if not a replica. */
static inline int rf_master_of(int port)
{
	char buf[4096];
	if (!rf_cmd(port, buf, sizeof buf, "INFO replication"))
		return 0;
	const char *m = strstr(buf, "master_port:");
	return m ? atoi(m + 12) : 0;
}

/* A number after `field` in INFO replication, -1 if not there. */
static inline long long rf_repl_field(int port, const char *field)
{
	char buf[4096];
	if (!rf_cmd(port, buf, sizeof buf, "INFO replication"))
		return -1;
	const char *f = strstr(buf, field);
	return f ? atoll(f + strlen(field)) : -1;
}

/* A replica has all its master has: its link is up and it has applied
 * the master's whole replication stream (the master idle meanwhile). */
static inline bool rf_replica_caught_up(int replica, int master)
{
	char buf[4096];
	if (!rf_cmd(replica, buf, sizeof buf, "INFO replication") ||
	    strstr(buf, "master_link_status:up") == NULL)
		return false;
	long long have = rf_repl_field(replica, "slave_repl_offset:");
	long long want = rf_repl_field(master, "master_repl_offset:");
	return have >= 0 && have == want;
}

/* Does the node on `port` see node `id` as a master serving slots (not
 * failed)? Reads its CLUSTER NODES line for `id`: id addr flags master
 * ping pong epoch link slot... */
static inline bool rf_sees_serving_master(int port, const char *id)
{
	char buf[8192];
	if (!rf_cmd(port, buf, sizeof buf, "CLUSTER NODES"))
		return false;
	size_t idlen = strlen(id);
	for (const char *line = buf; *line; ) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len > idlen && strncmp(line, id, idlen) == 0 && line[idlen] == ' ') {
			char copy[1024];
			snprintf(copy, sizeof copy, "%.*s", (int)len, line);
			char *save = NULL, *field[9] = { NULL };
			int n = 0;
			for (char *t = strtok_r(copy, " ", &save); t && n < 9;
			     t = strtok_r(NULL, " ", &save))
				field[n++] = t;
			return n == 9 && strstr(field[2], "master") != NULL &&
			       strstr(field[2], "fail") == NULL &&
			       strcmp(field[7], "connected") == 0;
		}
		line += len + (end ? 1 : 0);
	}
	return false;
}

static inline long long rf_dbsize(int port)
{
	char buf[64];
	if (!rf_cmd(port, buf, sizeof buf, "DBSIZE"))
		return -1;
	return atoll(buf);
}

#endif
