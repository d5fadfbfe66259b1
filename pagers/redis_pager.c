/* redis_pager: an object's pages in Redis or Redis Cluster. The protocol
 * is described in <memobj/redis_pager.h>, the design in docs/redis.md.
 *
 * Threads. `threads` server threads receive on the object port, each with
 * its own connection(s) to Redis; a writer thread with its own connection
 * sends every write. Messages are put back in the kernel's order with
 * their sequence numbers: a thread does the ordered part of a message
 * (bookkeeping, no I/O) in its turn, then its I/O outside it.
 *
 * The write-behind table holds every returned page until Redis
 * acknowledged it. A data_request takes, in its turn, the pages it finds
 * there, and reads from Redis only the others: those were acknowledged
 * before the request's turn, so Redis has their last bytes (SPEC section
 * 6: never read the store for a page whose write-back is in flight). One
 * writer means writes of one page never race each other. */
#include <memobj/redis_pager.h>

#include <hiredis/hiredis.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RP_PAGE REDIS_PAGER_PAGE_SIZE
#define RP_QUIT_ID 0x72656469          /* private: a server thread stops */
#define RP_MAX_SEEDS 16
#define RP_MAX_NODES 64
#define RP_MAX_THREADS 8
#define RP_SLOTS 16384
#define RP_NAME_MAX 200
#define RP_KEY_MAX (RP_NAME_MAX + 40)
#define RP_WRITE_BATCH 256             /* pages per write pipeline */
#define RP_WRITE_DELAY_MS 2            /* a part batch waits this long */
#define RP_IO_TIMEOUT_MS 1000          /* one socket read or write at most */
#define RP_BUCKETS 4096
#define RP_SPIN_US 50                  /* default: how long a worker polls for a reply */
#define RP_SPIN_MISSES 8               /* spins in a row that saw no reply ... */
#define RP_SPIN_REST 64                /* ... make the worker sleep on this many reads */

typedef struct rp_node {
	char host[256];                    /* or a socket path */
	int port;                          /* 0: Unix socket */
} rp_node_t;

/* The memory of one data_return, kept as the kernel handed it over: the
 * table's entries point into it (no copy per page), and it goes back with
 * one vm_deallocate once no entry and no batch being sent holds a page of
 * it. Copying each page into a buffer of its own was 44% of the pager's
 * CPU per written page (the copy, the allocator, faults on fresh heap). */
typedef struct rp_run {
	vm_address_t addr;
	vm_size_t size;
	unsigned refs;                     /* entries and batches holding a page */
	struct rp_run *next_free;          /* on a list of runs to deallocate */
} rp_run_t;

/* A page returned and not yet acknowledged by Redis. */
typedef struct rp_entry {
	uint64_t index;
	const uint8_t *data;               /* RP_PAGE bytes in `run` */
	rp_run_t *run;
	uint64_t first_ticket;             /* when it entered the table */
	uint64_t gen;                      /* bumped by each newer return */
	const uint8_t *sending;            /* the buffer the writer's batch sends, or NULL */
	bool failed;                       /* its last write failed */
	struct rp_entry *next;
} rp_entry_t;

typedef struct rp_kernel {
	memory_object_control_t control;
	vm_size_t page_size;
} rp_kernel_t;

typedef struct redis_pager redis_pager_t;

/* The writer: writing (or about to look), waiting with nothing to do,
 * waiting for a part batch to fill, waiting to retry failed pages. */
enum { RP_W_BUSY, RP_W_IDLE, RP_W_FILLING, RP_W_RETRY };

/* One thread's connections: one per node, made when first needed. */
typedef struct rp_conn {
	redisContext *ctx[RP_MAX_NODES];
	bool used[RP_MAX_NODES];
} rp_conn_t;

typedef struct rp_worker {
	redis_pager_t *pager;
	pthread_t thread;
	rp_conn_t conn;
	uint8_t *buffer;                   /* what a request supplies from */
	size_t buffer_size;
	int *state;                        /* per store page of a request */
	bool in_turn;
	bool quit;                         /* got its quit message */
	unsigned spin_misses, spin_rest;   /* await_reply's back-off */
} rp_worker_t;

struct redis_pager {
	memory_object_t object;
	char name[RP_NAME_MAX + 1];
	uint64_t size;                     /* bytes, a multiple of RP_PAGE */
	vm_size_t cluster;
	bool is_cluster;
	rp_node_t seeds[RP_MAX_SEEDS];
	int nseeds;
	unsigned nthreads;

	pthread_mutex_t lock;              /* guards everything below */
	pthread_cond_t turn_cond;          /* next_seqno moved */
	pthread_cond_t written_cond;       /* the table shrank or a batch ended */
	pthread_cond_t writer_cond;        /* work for the writer */
	pthread_cond_t detached_cond;
	mach_port_seqno_t next_seqno;
	unsigned timeout_ms, wait_replicas, wait_timeout_ms;
	unsigned spin_us;                  /* 0: workers sleep on every reply */
	/* nodes only grow, so an index stays valid; slot_node maps each slot */
	rp_node_t nodes[RP_MAX_NODES];
	int nnodes;
	uint8_t slot_node[RP_SLOTS];
	bool map_known;
	rp_entry_t *table[RP_BUCKETS];
	uint64_t ticket;
	int urgent;                        /* synchronizes/terminates waiting */
	int writer_state;                  /* RP_W_*: what a return must wake */
	bool quit;
	rp_kernel_t *kernels;
	size_t nkernels, kernel_capacity;
	unsigned detaching;                /* terminates still writing */
	redis_pager_stats_t stats;

	rp_worker_t workers[RP_MAX_THREADS];
	rp_worker_t writer;
	struct redis_pager *next_pager;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static redis_pager_t *registry;

static _Thread_local rp_worker_t *served;

/* ---- time ------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static struct timespec abs_after_ms(uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- keys and slots ---------------------------------------------------- */

/* CRC16-CCITT (XMODEM), the hash Redis Cluster uses for slots. */
static uint16_t crc16(const char *buf, size_t len)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)((uint8_t)buf[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
			                     : (uint16_t)(crc << 1);
	}
	return crc;
}

static size_t make_key(const redis_pager_t *p, uint64_t index, char *key)
{
	int n = snprintf(key, RP_KEY_MAX, "memobj:%s:%llu", p->name,
	                 (unsigned long long)index);
	return (size_t)n;
}

/* Names have no braces, so the whole key is hashed. */
static unsigned key_slot(const char *key, size_t len)
{
	return crc16(key, len) & (RP_SLOTS - 1);
}

/* ---- the node table ------------------------------------------------------ */

static int node_find_or_add_locked(redis_pager_t *p, const char *host, int port)
{
	for (int i = 0; i < p->nnodes; i++)
		if (p->nodes[i].port == port && strcmp(p->nodes[i].host, host) == 0)
			return i;
	if (p->nnodes == RP_MAX_NODES || strlen(host) >= sizeof p->nodes[0].host)
		return -1;
	snprintf(p->nodes[p->nnodes].host, sizeof p->nodes[0].host, "%s", host);
	p->nodes[p->nnodes].port = port;
	return p->nnodes++;
}

/* A TCP connect to a local port in the ephemeral range where nothing
 * listens can succeed by connecting to itself (simultaneous open: the
 * kernel picked the destination port as the source). The pager would
 * then read its own commands as replies, and hold the port so that the
 * Redis it is waiting for cannot bind it when it comes back. */
static bool connected_to_itself(const redisContext *c)
{
	struct sockaddr_storage self, peer;
	socklen_t sl = sizeof self, pl = sizeof peer;
	if (getsockname(c->fd, (struct sockaddr *)&self, &sl) != 0 ||
	    getpeername(c->fd, (struct sockaddr *)&peer, &pl) != 0)
		return false;
	return sl == pl && memcmp(&self, &peer, sl) == 0;
}

static void set_io_timeout(redisContext *c, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	redisSetTimeout(c, tv);
}

static redisContext *connect_node(const rp_node_t *node, unsigned ms)
{
	struct timeval tv = { ms / 1000, (suseconds_t)(ms % 1000) * 1000 };
	redisContext *c = node->port == 0
	        ? redisConnectUnixWithTimeout(node->host, tv)
	        : redisConnectWithTimeout(node->host, node->port, tv);
	if (c == NULL)
		return NULL;
	if (c->err || (node->port != 0 && connected_to_itself(c))) {
		redisFree(c);
		return NULL;
	}
	set_io_timeout(c, ms < RP_IO_TIMEOUT_MS ? ms : RP_IO_TIMEOUT_MS);
	return c;
}

/* "host:port" (the last colon splits, so IPv6 hosts work) */
static bool parse_hostport(const char *s, size_t len, char *host, size_t hostsz,
        int *port)
{
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ':')
			colon = s + i;
	if (colon == NULL || colon == s || (size_t)(colon - s) >= hostsz)
		return false;
	size_t hl = (size_t)(colon - s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	long v = 0;
	const char *q = colon + 1;
	if (q == s + len)
		return false;
	for (; q < s + len; q++) {
		if (*q < '0' || *q > '9')
			return false;
		v = v * 10 + (*q - '0');
		if (v > 65535)
			return false;
	}
	if (v == 0)
		return false;
	*port = (int)v;
	return true;
}

/* Reads the slot map with CLUSTER SLOTS from the first node that answers:
 * the known masters, then the seeds. */
static bool refresh_map(redis_pager_t *p)
{
	rp_node_t candidates[RP_MAX_NODES + RP_MAX_SEEDS];
	int n = 0;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < p->nnodes; i++)
		candidates[n++] = p->nodes[i];
	for (int i = 0; i < p->nseeds; i++)
		candidates[n++] = p->seeds[i];
	unsigned timeout = p->timeout_ms;
	pthread_mutex_unlock(&p->lock);

	for (int c = 0; c < n; c++) {
		redisContext *ctx = connect_node(&candidates[c],
		        timeout < RP_IO_TIMEOUT_MS ? timeout : RP_IO_TIMEOUT_MS);
		if (ctx == NULL)
			continue;
		redisReply *r = redisCommand(ctx, "CLUSTER SLOTS");
		bool ok = false;
		if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
			pthread_mutex_lock(&p->lock);
			ok = true;
			for (size_t i = 0; i < r->elements; i++) {
				redisReply *e = r->element[i];
				if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
				    e->element[0]->type != REDIS_REPLY_INTEGER ||
				    e->element[1]->type != REDIS_REPLY_INTEGER ||
				    e->element[2]->type != REDIS_REPLY_ARRAY ||
				    e->element[2]->elements < 2 ||
				    e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
				    e->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
					continue;
				long long lo = e->element[0]->integer, hi = e->element[1]->integer;
				const char *host = e->element[2]->element[0]->str;
				if (host[0] == '\0')
					host = candidates[c].host;
				int node = node_find_or_add_locked(p, host,
				        (int)e->element[2]->element[1]->integer);
				if (node < 0 || lo < 0 || hi >= RP_SLOTS || lo > hi)
					continue;
				for (long long s = lo; s <= hi; s++)
					p->slot_node[s] = (uint8_t)node;
			}
			p->map_known = true;
			p->stats.map_refreshes++;
			pthread_mutex_unlock(&p->lock);
		}
		if (r != NULL)
			freeReplyObject(r);
		redisFree(ctx);
		if (ok)
			return true;
	}
	return false;
}

/* ---- pipelines --------------------------------------------------------- */

enum { RP_GET, RP_SET };
enum { RP_PENDING, RP_DONE, RP_TENTATIVE };

typedef struct rp_cmd {
	int kind;
	char key[RP_KEY_MAX];
	size_t keylen;
	char head[RP_KEY_MAX + 48];        /* the command as sent, but a SET's value */
	const uint8_t *data;               /* SET: RP_PAGE bytes */
	int state;
	int ask_node;                      /* -1, or the node an ASK named */
	int node;                          /* where this round sent it */
	redisReply *reply;                 /* DONE: the reply (GET, SET) */
} rp_cmd_t;

static void conn_drop(rp_conn_t *conn, int node)
{
	if (conn->ctx[node]) {
		redisFree(conn->ctx[node]);
		conn->ctx[node] = NULL;
	}
}

static void conn_close(rp_conn_t *conn)
{
	for (int i = 0; i < RP_MAX_NODES; i++)
		conn_drop(conn, i);
}

static bool reply_is(const redisReply *r, const char *word)
{
	size_t n = strlen(word);
	return r->type == REDIS_REPLY_ERROR && r->len >= n &&
	       strncmp(r->str, word, n) == 0 &&
	       (r->len == n || r->str[n] == ' ');
}

/* "MOVED 3999 host:port" / "ASK 3999 host:port": the node it names. */
static int redirect_node(redis_pager_t *p, const redisReply *r, bool moved)
{
	const char *sp1 = memchr(r->str, ' ', r->len);
	if (sp1 == NULL)
		return -1;
	const char *sp2 = memchr(sp1 + 1, ' ', r->len - (size_t)(sp1 + 1 - r->str));
	if (sp2 == NULL)
		return -1;
	long slot = strtol(sp1 + 1, NULL, 10);
	char host[256];
	int port;
	if (!parse_hostport(sp2 + 1, r->len - (size_t)(sp2 + 1 - r->str), host,
	                    sizeof host, &port))
		return -1;
	pthread_mutex_lock(&p->lock);
	int node = node_find_or_add_locked(p, host, port);
	if (moved && node >= 0 && slot >= 0 && slot < RP_SLOTS)
		p->slot_node[slot] = (uint8_t)node;
	p->stats.redirects++;
	pthread_mutex_unlock(&p->lock);
	return node;
}

/* Writes a node's pending commands (and a WAIT, with `replicas`) in RESP
 * straight from where they lie: a SET's 4 KiB value is the page the
 * kernel returned. hiredis would format each command into a buffer of
 * its own and copy that into its output buffer: two copies and a
 * malloc per page, the writer's largest cost. Its reader still parses
 * the replies (nothing else is ever queued in its output buffer). */
#define RP_IOV_BATCH 960               /* iovecs per writev, under IOV_MAX */
static bool send_commands(redisContext *c, rp_cmd_t *cmds, size_t n, int node,
        unsigned replicas, unsigned wait_timeout)
{
	static const char asking[] = "*1\r\n$6\r\nASKING\r\n", crlf[] = "\r\n";
	char wait[96];
	struct iovec iov[RP_IOV_BATCH + 4];
	int niov = 0;
	for (size_t i = 0; i <= n; i++) {
		bool last = i == n;
		if (!last && (cmds[i].state != RP_PENDING || cmds[i].node != node))
			continue;
		if (last && replicas > 0) {
			char n[16], ms[16];
			int nl = snprintf(n, sizeof n, "%u", replicas);
			int msl = snprintf(ms, sizeof ms, "%u", wait_timeout);
			int len = snprintf(wait, sizeof wait, "*3\r\n$4\r\nWAIT\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
			                   nl, n, msl, ms);
			iov[niov++] = (struct iovec){ wait, (size_t)len };
		}
		if (!last) {
			rp_cmd_t *cmd = &cmds[i];
			if (cmd->ask_node >= 0)
				iov[niov++] = (struct iovec){ (void *)asking, sizeof asking - 1 };
			int len = cmd->kind == RP_GET
			        ? snprintf(cmd->head, sizeof cmd->head, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n",
			                   cmd->keylen, cmd->key)
			        : snprintf(cmd->head, sizeof cmd->head, "*3\r\n$3\r\nSET\r\n$%zu\r\n%s\r\n$%d\r\n",
			                   cmd->keylen, cmd->key, RP_PAGE);
			iov[niov++] = (struct iovec){ cmd->head, (size_t)len };
			if (cmd->kind == RP_SET) {
				iov[niov++] = (struct iovec){ (void *)cmd->data, RP_PAGE };
				iov[niov++] = (struct iovec){ (void *)crlf, 2 };
			}
		}
		if (niov < RP_IOV_BATCH && !last)
			continue;
		/* Write these, resuming after a partial write. */
		struct iovec *at = iov;
		int left = niov;
		while (left > 0) {
			ssize_t put = writev(c->fd, at, left);
			if (put < 0) {
				if (errno == EINTR)
					continue;
				return false;   /* a timeout (SO_SNDTIMEO) or a broken link */
			}
			while (left > 0 && (size_t)put >= at->iov_len) {
				put -= (ssize_t)at->iov_len;
				at++;
				left--;
			}
			if (left > 0) {
				at->iov_base = (char *)at->iov_base + put;
				at->iov_len -= (size_t)put;
			}
		}
		niov = 0;
	}
	return true;
}

/* A fault waits for this reply. Where waking a sleeping thread costs
 * more than Redis takes to answer (on a VM, a vCPU that went idle takes
 * 25-50 us to wake: more than a loopback GET), a worker that sleeps on
 * its reply pays that on top of the round trip. So it polls for up to
 * spin_us first, yielding the CPU between polls (Redis may need it).
 * Polls that see nothing in time are CPU thrown away: after
 * RP_SPIN_MISSES of them in a row, the worker sleeps on its next
 * RP_SPIN_REST reads before it polls again. */
static void await_reply(rp_worker_t *w, redisContext *c, unsigned spin_us)
{
	if (spin_us == 0 || c->reader->len > c->reader->pos)
		return;   /* no polling, or a reply is already buffered */
	if (w->spin_rest > 0) {
		w->spin_rest--;
		return;
	}
	uint64_t start = now_us();
	for (;;) {
		char byte;
		if (recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 ||
		    (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			w->spin_misses = 0;   /* a reply, an EOF or an error: the read sees it */
			return;
		}
		if (now_us() - start >= spin_us)
			break;
		sched_yield();
	}
	if (++w->spin_misses >= RP_SPIN_MISSES) {
		w->spin_misses = 0;
		w->spin_rest = RP_SPIN_REST;
	}
}

/* Runs the commands until each has its answer or `deadline` (ms, monotonic)
 * passes: split per node, one pipeline per node per round, every node's
 * pipeline sent before any reply is read. Connections that fail are
 * remade, MOVED/ASK followed, the slot map reread after a failure. With
 * `replicas`, each node's SETs end with WAIT and count only if it saw
 * that many replicas. Returns how many commands are still pending. */
static size_t run_pipeline(rp_worker_t *w, rp_cmd_t *cmds, size_t n,
        uint64_t deadline, unsigned replicas, unsigned wait_timeout)
{
	redis_pager_t *p = w->pager;
	rp_conn_t *conn = &w->conn;
	unsigned backoff = 5;
	size_t pending = n;
	pthread_mutex_lock(&p->lock);
	unsigned io_ms = p->timeout_ms < RP_IO_TIMEOUT_MS ? p->timeout_ms : RP_IO_TIMEOUT_MS;
	/* Only a fault waits on a worker's reads; the writer's batches take
	 * far longer than any spin. */
	unsigned spin_us = w == &p->writer ? 0 : p->spin_us;
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		cmds[i].state = RP_PENDING;
		cmds[i].ask_node = -1;
		cmds[i].reply = NULL;
	}
	for (;;) {
		bool need_refresh = false;
		bool progress = false;
		pthread_mutex_lock(&p->lock);
		bool known = p->map_known;
		pthread_mutex_unlock(&p->lock);
		if (p->is_cluster && !known)
			need_refresh = !refresh_map(p);
		/* Route the pending commands. */
		bool node_used[RP_MAX_NODES] = { false };
		size_t sets_on[RP_MAX_NODES] = { 0 };
		pthread_mutex_lock(&p->lock);
		for (size_t i = 0; i < n; i++) {
			if (cmds[i].state != RP_PENDING)
				continue;
			int node = cmds[i].ask_node >= 0 ? cmds[i].ask_node
			        : p->is_cluster ? p->slot_node[key_slot(cmds[i].key, cmds[i].keylen)]
			        : 0;
			cmds[i].node = node;
			node_used[node] = true;
		}
		rp_node_t nodes[RP_MAX_NODES];
		int nnodes = p->nnodes;
		memcpy(nodes, p->nodes, sizeof nodes[0] * (size_t)nnodes);
		pthread_mutex_unlock(&p->lock);

		/* Connect, append, send. */
		bool node_ok[RP_MAX_NODES] = { false };
		uint64_t now = now_ms();
		unsigned left = deadline > now ? (unsigned)(deadline - now) : 1;
		for (int node = 0; node < nnodes; node++) {
			if (!node_used[node])
				continue;
			if (conn->ctx[node] == NULL) {
				conn->ctx[node] = connect_node(&nodes[node], left);
				if (conn->ctx[node] == NULL) {
					need_refresh = true;
					continue;
				}
				if (conn->used[node]) {
					pthread_mutex_lock(&p->lock);
					p->stats.reconnects++;
					pthread_mutex_unlock(&p->lock);
				}
				conn->used[node] = true;
			}
			redisContext *c = conn->ctx[node];
			for (size_t i = 0; i < n; i++)
				if (cmds[i].state == RP_PENDING && cmds[i].node == node &&
				    cmds[i].kind == RP_SET)
					sets_on[node]++;
			bool done = send_commands(c, cmds, n, node,
			        replicas > 0 && sets_on[node] > 0 ? replicas : 0,
			        wait_timeout);
			if (!done) {
				conn_drop(conn, node);
				need_refresh = true;
				continue;
			}
			node_ok[node] = true;
		}

		/* Read each node's replies, in the order sent. */
		for (int node = 0; node < nnodes; node++) {
			if (!node_ok[node])
				continue;
			redisContext *c = conn->ctx[node];
			bool broken = false;
			size_t first_set = n, ok_sets = 0;
			await_reply(w, c, spin_us);
			for (size_t i = 0; i < n && !broken; i++) {
				rp_cmd_t *cmd = &cmds[i];
				if (cmd->state != RP_PENDING || cmd->node != node)
					continue;
				void *vr = NULL;
				if (cmd->ask_node >= 0) {
					if (redisGetReply(c, &vr) != REDIS_OK) {
						broken = true;
						break;
					}
					freeReplyObject(vr);
					vr = NULL;
				}
				if (redisGetReply(c, &vr) != REDIS_OK) {
					broken = true;
					break;
				}
				redisReply *r = vr;
				cmd->ask_node = -1;
				if (reply_is(r, "MOVED") || reply_is(r, "ASK")) {
					int to = redirect_node(p, r, reply_is(r, "MOVED"));
					if (to >= 0 && reply_is(r, "ASK"))
						cmd->ask_node = to;
					if (to < 0)
						need_refresh = true;
					freeReplyObject(r);
					progress = true;
					continue;
				}
				if (reply_is(r, "TRYAGAIN") || reply_is(r, "CLUSTERDOWN") ||
				    reply_is(r, "LOADING") || reply_is(r, "READONLY") ||
				    reply_is(r, "MASTERDOWN") || reply_is(r, "BUSY")) {
					need_refresh = true;
					freeReplyObject(r);
					continue;
				}
				if (cmd->kind == RP_SET) {
					/* Counted after the WAIT, if any. */
					bool ok = r->type == REDIS_REPLY_STATUS;
					freeReplyObject(r);
					if (ok && replicas > 0) {
						if (first_set == n)
							first_set = i;
						ok_sets++;
						cmd->state = RP_TENTATIVE;   /* tentatively */
						continue;
					}
					if (!ok)
						continue;   /* an error: retried until the deadline */
					cmd->state = RP_DONE;
				} else {
					cmd->reply = r;
					cmd->state = RP_DONE;
				}
				pending--;
				progress = true;
			}
			if (!broken && replicas > 0 && sets_on[node] > 0) {
				void *vr = NULL;
				long long got = -1;
				/* WAIT answers after its own timeout (0: when enough
				 * replicas have it), which may be longer than one
				 * socket read may take: a read timeout there dropped
				 * the connection and sent the batch again. */
				uint64_t now = now_ms(), left = deadline > now ? deadline - now : 0;
				uint64_t wait_ms = wait_timeout != 0 && wait_timeout < left
				                   ? wait_timeout : left;
				set_io_timeout(c, wait_ms + RP_IO_TIMEOUT_MS);
				int rc = redisGetReply(c, &vr);
				set_io_timeout(c, io_ms);
				if (rc != REDIS_OK) {
					broken = true;
				} else {
					redisReply *r = vr;
					if (r->type == REDIS_REPLY_INTEGER)
						got = r->integer;
					freeReplyObject(r);
				}
				bool enough = got >= (long long)replicas;
				for (size_t i = first_set; i < n && ok_sets > 0; i++) {
					if (cmds[i].state != RP_TENTATIVE || cmds[i].node != node)
						continue;
					cmds[i].state = enough ? RP_DONE : RP_PENDING;
					if (enough) {
						pending--;
						progress = true;
					}
				}
			} else {
				/* A broken connection: tentative SETs go again. */
				for (size_t i = 0; i < n; i++)
					if (cmds[i].state == RP_TENTATIVE && cmds[i].node == node)
						cmds[i].state = RP_PENDING;
			}
			if (broken) {
				conn_drop(conn, node);
				need_refresh = true;
			}
		}
		if (pending == 0 || now_ms() >= deadline)
			return pending;
		if (need_refresh && p->is_cluster)
			refresh_map(p);
		if (!progress) {
			uint64_t now2 = now_ms();
			unsigned left2 = deadline > now2 ? (unsigned)(deadline - now2) : 0;
			pause_ms(backoff < left2 ? backoff : left2);
			if (backoff < 200)
				backoff *= 2;
		} else {
			backoff = 5;
		}
	}
}

static void free_replies(rp_cmd_t *cmds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cmds[i].reply) {
			freeReplyObject(cmds[i].reply);
			cmds[i].reply = NULL;
		}
}

/* ---- the write-behind table --------------------------------------------- */

static rp_entry_t **entry_slot_locked(redis_pager_t *p, uint64_t index)
{
	rp_entry_t **pp = &p->table[index & (RP_BUCKETS - 1)];
	while (*pp && (*pp)->index != index)
		pp = &(*pp)->next;
	return pp;
}

/* A hold on a run ends; the last one puts it on `to_free`, for
 * runs_free after the pager's lock is dropped. */
static void run_drop_locked(rp_run_t *run, rp_run_t **to_free)
{
	if (--run->refs == 0) {
		run->next_free = *to_free;
		*to_free = run;
	}
}

static void runs_free(rp_run_t *list)
{
	while (list != NULL) {
		rp_run_t *next = list->next_free;
		vm_deallocate(mach_task_self(), list->addr, list->size);
		free(list);
		list = next;
	}
}

static void entry_remove_locked(redis_pager_t *p, rp_entry_t **pp,
        rp_run_t **to_free)
{
	rp_entry_t *e = *pp;
	*pp = e->next;
	run_drop_locked(e->run, to_free);
	free(e);
	p->stats.pages_dirty--;
}

/* Is any page that entered the table at or before `ticket` still there? */
static bool older_dirty_locked(redis_pager_t *p, uint64_t ticket)
{
	for (size_t b = 0; b < RP_BUCKETS; b++)
		for (rp_entry_t *e = p->table[b]; e; e = e->next)
			if (e->first_ticket <= ticket)
				return true;
	return false;
}

/* Waits until the pages returned before `ticket` are acknowledged, at most
 * the timeout. Returns whether they are. */
static bool wait_written(redis_pager_t *p, uint64_t ticket)
{
	pthread_mutex_lock(&p->lock);
	struct timespec deadline = abs_after_ms(p->timeout_ms);
	p->urgent++;
	pthread_cond_signal(&p->writer_cond);
	int err = 0;
	bool dirty;
	while ((dirty = older_dirty_locked(p, ticket)) && err == 0)
		err = pthread_cond_timedwait(&p->written_cond, &p->lock, &deadline);
	p->urgent--;
	pthread_mutex_unlock(&p->lock);
	return !dirty;
}

/* The writer: takes up to RP_WRITE_BATCH pages at once (everything that
 * came in while the last batch was on the wire: group commit), sends them
 * as one pipeline, and drops from the table what Redis acknowledged. A
 * page returned again meanwhile stays for the next batch. A failed batch
 * stays too, retried after a pause (at once when a synchronize waits). */
static void *writer_main(void *arg)
{
	rp_worker_t *w = arg;
	redis_pager_t *p = w->pager;
	pthread_setname_np(pthread_self(), "redis-write");
	rp_cmd_t *cmds = calloc(RP_WRITE_BATCH, sizeof *cmds);
	rp_entry_t **batch = calloc(RP_WRITE_BATCH, sizeof *batch);
	uint64_t *gens = calloc(RP_WRITE_BATCH, sizeof *gens);
	const uint8_t **data = calloc(RP_WRITE_BATCH, sizeof *data);
	rp_run_t **runs = calloc(RP_WRITE_BATCH, sizeof *runs);
	unsigned retry_pause = 50;
	bool filled = false;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		p->writer_state = RP_W_BUSY;
		/* Group commit: a part batch waits up to RP_WRITE_DELAY_MS for
		 * more returns, unless someone waits for the writes. */
		if (!filled && !p->urgent && !p->quit &&
		    p->stats.pages_dirty > 0 && p->stats.pages_dirty < RP_WRITE_BATCH) {
			p->writer_state = RP_W_FILLING;
			struct timespec ts = abs_after_ms(RP_WRITE_DELAY_MS);
			pthread_cond_timedwait(&p->writer_cond, &p->lock, &ts);
			filled = true;
			continue;
		}
		filled = false;
		bool any_failed = false;
		size_t n = 0;
		for (size_t b = 0; b < RP_BUCKETS && n < RP_WRITE_BATCH; b++)
			for (rp_entry_t *e = p->table[b]; e && n < RP_WRITE_BATCH; e = e->next) {
				if (e->failed && !p->urgent && !p->quit) {
					any_failed = true;
					continue;
				}
				/* The batch holds this page's run until it ends: a
				 * newer return points the entry elsewhere. */
				batch[n] = e;
				gens[n] = e->gen;
				data[n] = e->data;
				runs[n] = e->run;
				e->run->refs++;
				e->sending = e->data;
				e->failed = false;
				n++;
			}
		if (n == 0 && (cmds == NULL || batch == NULL || gens == NULL ||
		               data == NULL || runs == NULL))
			break;
		if (n == 0) {
			if (p->quit)
				break;
			if (any_failed) {
				struct timespec ts = abs_after_ms(retry_pause);
				p->writer_state = RP_W_RETRY;
				pthread_cond_timedwait(&p->writer_cond, &p->lock, &ts);
				if (retry_pause < 1000)
					retry_pause *= 2;
				/* Failed pages become writable again. */
				for (size_t b = 0; b < RP_BUCKETS; b++)
					for (rp_entry_t *e = p->table[b]; e; e = e->next)
						e->failed = false;
			} else {
				p->writer_state = RP_W_IDLE;
				pthread_cond_wait(&p->writer_cond, &p->lock);
				continue;         /* the first return starts the delay */
			}
			filled = true;        /* retry now: no extra delay */
			continue;
		}
		p->stats.write_batches++;
		unsigned replicas = p->wait_replicas, wait_timeout = p->wait_timeout_ms;
		uint64_t deadline = now_ms() + p->timeout_ms;
		pthread_mutex_unlock(&p->lock);

		for (size_t i = 0; i < n; i++) {
			cmds[i].kind = RP_SET;
			cmds[i].keylen = make_key(p, batch[i]->index, cmds[i].key);
			cmds[i].data = data[i];
		}
		run_pipeline(w, cmds, n, deadline, replicas, wait_timeout);

		pthread_mutex_lock(&p->lock);
		size_t failed = 0;
		rp_run_t *to_free = NULL;
		for (size_t i = 0; i < n; i++) {
			rp_entry_t *e = batch[i];
			e->sending = NULL;
			run_drop_locked(runs[i], &to_free);
			if (cmds[i].state == RP_DONE) {
				p->stats.pages_written++;
				/* Returned again meanwhile: the newer bytes go next. */
				if (e->gen == gens[i])
					entry_remove_locked(p, entry_slot_locked(p, e->index),
					                    &to_free);
			} else {
				e->failed = true;
				failed++;
			}
		}
		if (failed) {
			p->stats.write_errors++;
		} else {
			retry_pause = 50;
		}
		pthread_cond_broadcast(&p->written_cond);
		if (to_free != NULL) {
			/* Still RP_W_BUSY: returns meanwhile are seen at the top. */
			pthread_mutex_unlock(&p->lock);
			runs_free(to_free);
			pthread_mutex_lock(&p->lock);
		}
		if (failed && p->quit)
			break;              /* stopping: that was the last try */
	}
	pthread_mutex_unlock(&p->lock);
	free(cmds);
	free(batch);
	free(gens);
	free(data);
	free(runs);
	conn_close(&w->conn);
	return NULL;
}

/* ---- kernels -------------------------------------------------------------- */

static rp_kernel_t *kernel_find_locked(redis_pager_t *p, memory_object_control_t c)
{
	for (size_t i = 0; i < p->nkernels; i++)
		if (p->kernels[i].control == c)
			return &p->kernels[i];
	return NULL;
}

static vm_size_t kernel_page_size(redis_pager_t *p, memory_object_control_t c)
{
	pthread_mutex_lock(&p->lock);
	rp_kernel_t *k = kernel_find_locked(p, c);
	vm_size_t ps = k ? k->page_size : 0;
	pthread_mutex_unlock(&p->lock);
	return ps;
}

/* ---- turns (seqno order) --------------------------------------------------- */

static void turn_begin(rp_worker_t *w, mach_port_seqno_t seqno)
{
	redis_pager_t *p = w->pager;
	pthread_mutex_lock(&p->lock);
	while (p->next_seqno != seqno)
		pthread_cond_wait(&p->turn_cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	w->in_turn = true;
}

static void turn_end(rp_worker_t *w)
{
	if (!w->in_turn)
		return;
	redis_pager_t *p = w->pager;
	w->in_turn = false;
	pthread_mutex_lock(&p->lock);
	p->next_seqno++;
	pthread_cond_broadcast(&p->turn_cond);
	pthread_mutex_unlock(&p->lock);
}

#define COUNT(p, field, delta) do { \
	pthread_mutex_lock(&(p)->lock); \
	(p)->stats.field += (delta); \
	pthread_mutex_unlock(&(p)->lock); \
} while (0)

/* ---- the server interface ---------------------------------------------------- */

static kern_return_t rp_init(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)object; (void)seqno;
	rp_worker_t *w = served;
	redis_pager_t *p = w->pager;
	if (page_size < RP_PAGE || (page_size & (page_size - 1)) != 0)
		return KERN_INVALID_ARGUMENT;
	pthread_mutex_lock(&p->lock);
	p->stats.inits++;
	rp_kernel_t *k = kernel_find_locked(p, control);
	if (k == NULL && p->nkernels == p->kernel_capacity) {
		size_t cap = p->kernel_capacity ? 2 * p->kernel_capacity : 4;
		rp_kernel_t *grown = realloc(p->kernels, cap * sizeof *grown);
		if (grown == NULL) {
			pthread_mutex_unlock(&p->lock);
			return KERN_RESOURCE_SHORTAGE;
		}
		p->kernels = grown;
		p->kernel_capacity = cap;
	}
	if (k == NULL)
		k = &p->kernels[p->nkernels++];
	*k = (rp_kernel_t){ control, page_size };
	pthread_mutex_unlock(&p->lock);
	vm_size_t cluster = (p->cluster + page_size - 1) & ~(page_size - 1);
	memory_object_perf_info_data_t perf = {
		.cluster_size = (memory_object_cluster_size_t)cluster,
		.may_cache = FALSE,
	};
	memory_object_change_attributes(control, MEMORY_OBJECT_PERFORMANCE_INFO,
	        (memory_object_info_t)&perf, MEMORY_OBJECT_PERF_INFO_COUNT,
	        MACH_PORT_NULL);
	return KERN_SUCCESS;
}

enum { PG_DATA, PG_ABSENT, PG_BAD, PG_FAIL };

/* A request buffer of at least `size` bytes (a cluster, or one page of a
 * kernel whose pages are larger). */
static bool worker_room(rp_worker_t *w, size_t size)
{
	if (w->buffer_size >= size)
		return true;
	uint8_t *b = realloc(w->buffer, size);
	if (b == NULL)
		return false;
	w->buffer = b;
	int *st = realloc(w->state, size / RP_PAGE * sizeof *st);
	if (st == NULL)
		return false;
	w->state = st;
	w->buffer_size = size;
	return true;
}

/* Sends the answer for kernel pages [first, first + count) of one kind. */
static void answer_run(redis_pager_t *p, memory_object_control_t control,
        int kind, vm_offset_t offset, vm_size_t length, const uint8_t *data)
{
	if (length == 0)
		return;
	if (kind == PG_DATA) {
		COUNT(p, data_supplies, 1);
		memory_object_data_supply(control, offset, (pointer_t)(uintptr_t)data,
		        (mach_msg_type_number_t)length, FALSE, VM_PROT_NONE, FALSE,
		        MACH_PORT_NULL);
	} else if (kind == PG_ABSENT) {
		COUNT(p, data_unavailables, 1);
		memory_object_data_unavailable(control, offset, length);
	} else {
		COUNT(p, data_errors, 1);
		memory_object_data_error(control, offset, length, KERN_MEMORY_ERROR);
	}
}

static kern_return_t rp_data_request(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t desired_access)
{
	(void)object; (void)seqno; (void)desired_access;
	rp_worker_t *w = served;
	redis_pager_t *p = w->pager;
	vm_size_t ps = kernel_page_size(p, control);
	pthread_mutex_lock(&p->lock);
	p->stats.data_requests++;
	pthread_mutex_unlock(&p->lock);
	if (ps == 0 || length == 0) {
		turn_end(w);
	} else if (((offset | length) & (ps - 1)) != 0 ||
	           offset + length < offset) {
		turn_end(w);
		answer_run(p, control, PG_BAD, offset, length, NULL);
	} else {
		/* Past the object's end: zero pages. */
		vm_size_t inside = offset >= p->size ? 0
		        : p->size - offset < length ? (vm_size_t)(p->size - offset) : length;
		inside = (inside + ps - 1) & ~(ps - 1);
		size_t npages = inside / RP_PAGE;
		bool room = worker_room(w, inside);
		int *state = w->state;
		rp_cmd_t *cmds = npages && room ? calloc(npages, sizeof *cmds) : NULL;
		size_t *which = npages && room ? calloc(npages, sizeof *which) : NULL;
		size_t ncmds = 0;
		uint64_t first = offset / RP_PAGE;
		if (npages && (!room || cmds == NULL || which == NULL)) {
			/* Out of memory: a memory error, not a hang. */
			turn_end(w);
			free(cmds);
			free(which);
			answer_run(p, control, PG_FAIL, offset, length, NULL);
			mach_port_deallocate(mach_task_self(), control);
			return KERN_SUCCESS;
		}
		/* In turn: the pages still in the write-behind table. */
		pthread_mutex_lock(&p->lock);
		for (size_t i = 0; i < npages; i++) {
			rp_entry_t *e = *entry_slot_locked(p, first + i);
			if (e != NULL) {
				memcpy(w->buffer + i * RP_PAGE, e->data, RP_PAGE);
				state[i] = PG_DATA;
			} else {
				state[i] = PG_FAIL;
			}
		}
		unsigned timeout = p->timeout_ms;
		pthread_mutex_unlock(&p->lock);
		turn_end(w);
		for (size_t i = 0; i < npages; i++) {
			if (state[i] == PG_DATA)
				continue;
			cmds[ncmds].kind = RP_GET;
			cmds[ncmds].keylen = make_key(p, first + i, cmds[ncmds].key);
			which[ncmds++] = i;
		}
		if (ncmds > 0) {
			size_t left = run_pipeline(w, cmds, ncmds, now_ms() + timeout, 0, 0);
			uint64_t present = 0, absent = 0, bad = 0;
			for (size_t c = 0; c < ncmds; c++) {
				size_t i = which[c];
				redisReply *r = cmds[c].reply;
				if (cmds[c].state != RP_DONE || r == NULL) {
					state[i] = PG_FAIL;
				} else if (r->type == REDIS_REPLY_NIL) {
					state[i] = PG_ABSENT;
					memset(w->buffer + i * RP_PAGE, 0, RP_PAGE);
					absent++;
				} else if (r->type == REDIS_REPLY_STRING && r->len == RP_PAGE) {
					memcpy(w->buffer + i * RP_PAGE, r->str, RP_PAGE);
					state[i] = PG_DATA;
					present++;
				} else {
					state[i] = PG_BAD;
					bad++;
				}
			}
			free_replies(cmds, ncmds);
			pthread_mutex_lock(&p->lock);
			p->stats.pages_read += present;
			p->stats.pages_absent += absent;
			p->stats.pages_bad += bad;
			if (left)
				p->stats.fetch_timeouts++;
			pthread_mutex_unlock(&p->lock);
			if (bad)
				fprintf(stderr, "redis_pager: %s: %llu key(s) of the wrong type "
				        "or size near offset %llu: memory error\n", p->name,
				        (unsigned long long)bad, (unsigned long long)offset);
		}
		/* Per kernel page: an error anywhere is an error; absent only
		 * if every store page is; otherwise data (absent parts zero). */
		size_t per = ps / RP_PAGE;
		int run_kind = -1;
		vm_offset_t run_start = offset;
		for (size_t k = 0; k < npages / per; k++) {
			int kind = PG_ABSENT;
			for (size_t j = 0; j < per; j++) {
				int s = state[k * per + j];
				if (s == PG_BAD || s == PG_FAIL)
					kind = PG_FAIL;
				else if (s == PG_DATA && kind == PG_ABSENT)
					kind = PG_DATA;
			}
			vm_offset_t at = offset + k * ps;
			if (kind != run_kind) {
				if (run_kind >= 0)
					answer_run(p, control, run_kind, run_start, at - run_start,
					           w->buffer + (run_start - offset));
				run_kind = kind;
				run_start = at;
			}
		}
		if (run_kind >= 0)
			answer_run(p, control, run_kind, run_start,
			           offset + inside - run_start,
			           w->buffer + (run_start - offset));
		if (inside < length && offset + inside >= p->size)
			answer_run(p, control, PG_ABSENT, offset + inside,
			           length - inside, NULL);
		free(cmds);
		free(which);
	}
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t rp_data_unlock(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t desired_access)
{
	(void)object; (void)seqno; (void)desired_access;
	rp_worker_t *w = served;
	COUNT(w->pager, data_unlocks, 1);
	turn_end(w);
	/* The pager never withholds access: lift the lock. */
	memory_object_lock_request(control, offset, length,
	        MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NONE, MACH_PORT_NULL);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t rp_data_return(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t data_count,
        boolean_t dirty, boolean_t kernel_copy)
{
	(void)object; (void)seqno; (void)kernel_copy;
	rp_worker_t *w = served;
	redis_pager_t *p = w->pager;
	bool lost = false;
	bool keep = dirty && (offset & (RP_PAGE - 1)) == 0 && data_count >= RP_PAGE;
	rp_run_t *run = keep ? malloc(sizeof *run) : NULL;
	rp_run_t *to_free = NULL;
	if (keep && run == NULL) {
		lost = true;
		keep = false;
	}
	pthread_mutex_lock(&p->lock);
	p->stats.data_returns++;
	if (keep) {
		/* This call holds the run too, until its pages are in. */
		*run = (rp_run_t){ .addr = data, .size = data_count, .refs = 1 };
		for (uint64_t pos = 0; pos + RP_PAGE <= data_count; pos += RP_PAGE) {
			if (offset + pos >= p->size)
				break;              /* past the end: dropped */
			uint64_t index = (offset + pos) / RP_PAGE;
			rp_entry_t **pp = entry_slot_locked(p, index);
			rp_entry_t *e = *pp;
			if (e == NULL) {
				e = calloc(1, sizeof *e);
				if (e == NULL) {
					lost = true;
					continue;
				}
				e->index = index;
				e->first_ticket = ++p->ticket;
				*pp = e;
				p->stats.pages_dirty++;
			} else {
				++p->ticket;
				if (e->sending == NULL)
					e->failed = false;
				/* A batch sending the old bytes holds their run itself. */
				run_drop_locked(e->run, &to_free);
			}
			e->gen++;
			e->data = (const uint8_t *)(uintptr_t)(data + pos);
			e->run = run;
			run->refs++;
		}
		/* Wake the writer only when it has a reason to start: no
		 * wake-up (and context switch) per returned page. */
		if (p->writer_state == RP_W_IDLE || p->writer_state == RP_W_RETRY ||
		    (p->writer_state == RP_W_FILLING &&
		     p->stats.pages_dirty >= RP_WRITE_BATCH)) {
			p->writer_state = RP_W_BUSY;
			pthread_cond_signal(&p->writer_cond);
		}
	}
	if (keep)
		run_drop_locked(run, &to_free);
	pthread_mutex_unlock(&p->lock);
	turn_end(w);
	if (lost)
		fprintf(stderr, "redis_pager: %s: out of memory: returned pages at "
		        "%llu lost\n", p->name, (unsigned long long)offset);
	runs_free(to_free);
	if (!keep && data_count > 0)
		vm_deallocate(mach_task_self(), data, data_count);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t rp_synchronize(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_sync_t sync_flags)
{
	(void)object; (void)seqno; (void)sync_flags;
	rp_worker_t *w = served;
	redis_pager_t *p = w->pager;
	pthread_mutex_lock(&p->lock);
	p->stats.synchronizes++;
	uint64_t ticket = p->ticket;
	pthread_mutex_unlock(&p->lock);
	turn_end(w);
	if (!wait_written(p, ticket)) {
		COUNT(p, sync_failures, 1);
		fprintf(stderr, "redis_pager: %s: synchronize: pages not written "
		        "within %u ms (kept, retried)\n", p->name, p->timeout_ms);
		/* The pages stay in the table; vm_msync says they are not in
		 * Redis yet (memobj's extension beyond OSF). */
		memobj_synchronize_failed(control, offset, length,
		                          KERN_OPERATION_TIMED_OUT);
	} else {
		memory_object_synchronize_completed(control, offset, length);
	}
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

static kern_return_t rp_terminate(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control)
{
	(void)object; (void)seqno;
	rp_worker_t *w = served;
	redis_pager_t *p = w->pager;
	pthread_mutex_lock(&p->lock);
	p->stats.terminates++;
	rp_kernel_t *k = kernel_find_locked(p, control);
	if (k)
		*k = p->kernels[--p->nkernels];
	p->detaching++;
	uint64_t ticket = p->ticket;
	pthread_mutex_unlock(&p->lock);
	turn_end(w);
	if (!wait_written(p, ticket))
		fprintf(stderr, "redis_pager: %s: terminate: pages not written "
		        "within %u ms (kept, retried)\n", p->name, p->timeout_ms);
	mach_port_destroy(mach_task_self(), control);
	pthread_mutex_lock(&p->lock);
	p->detaching--;
	pthread_cond_broadcast(&p->detached_cond);
	pthread_mutex_unlock(&p->lock);
	return KERN_SUCCESS;
}

static const memory_object_routines_t rp_routines = {
	.init = rp_init,
	.terminate = rp_terminate,
	.data_request = rp_data_request,
	.data_unlock = rp_data_unlock,
	.data_return = rp_data_return,
	.synchronize = rp_synchronize,
};

/* ---- server threads ----------------------------------------------------------- */

static boolean_t rp_demux(mach_msg_header_t *in, mach_msg_header_t *out)
{
	rp_worker_t *w = served;
	const mach_msg_seqno_trailer_t *t = (const mach_msg_seqno_trailer_t *)
	        ((const char *)in + round_msg(in->msgh_size));
	turn_begin(w, t->msgh_seqno);
	boolean_t handled;
	if (in->msgh_id == RP_QUIT_ID) {
		mig_reply_error_t *reply = (mig_reply_error_t *)out;
		*reply = (mig_reply_error_t){ .Head = { .msgh_size = sizeof *reply,
		        .msgh_id = in->msgh_id + MIG_REPLY_ID_OFFSET },
		        .NDR = NDR_record, .RetCode = MIG_NO_REPLY };
		handled = TRUE;
		w->quit = true;
	} else {
		handled = memory_object_server_routines(&rp_routines, in, out);
		if (!handled)
			COUNT(w->pager, unknown_messages, 1);
	}
	/* Every message consumes its seqno, handled or not (SPEC section 6). */
	turn_end(w);
	return handled;
}

static void *server_main(void *arg)
{
	rp_worker_t *w = arg;
	served = w;
	pthread_setname_np(pthread_self(), "redis-serve");
	for (;;) {
		mach_msg_return_t mr = mach_msg_server_once(rp_demux,
		        MEMORY_OBJECT_MSG_SIZE_MAX, w->pager->object,
		        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO));
		if (w->quit)
			break;
		if (mr == MACH_RCV_INVALID_NAME || mr == MACH_RCV_PORT_DIED)
			break;
	}
	conn_close(&w->conn);
	return NULL;
}

/* ---- creating and finding pagers ---------------------------------------- */

static kern_return_t bad(const char *what, const char *value, const char *why)
{
	fprintf(stderr, "redis_pager: bad %s \"%s\": %s\n", what, value ? value : "(null)", why);
	return KERN_INVALID_ARGUMENT;
}

static bool parse_uint(const char *s, size_t len, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* "?opt=v&opt=v" */
static kern_return_t parse_options(redis_pager_t *p, const char *url, const char *q)
{
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		if (eq == NULL)
			return bad("URL", url, "option without '='");
		size_t klen = (size_t)(eq - q), vlen = len - klen - 1;
		unsigned long v;
		if (klen == 7 && strncmp(q, "timeout", 7) == 0) {
			if (!parse_uint(eq + 1, vlen, 3600000, &v) || v == 0)
				return bad("URL", url, "timeout must be 1..3600000 ms");
			p->timeout_ms = (unsigned)v;
		} else if (klen == 7 && strncmp(q, "threads", 7) == 0) {
			if (!parse_uint(eq + 1, vlen, RP_MAX_THREADS, &v) || v == 0)
				return bad("URL", url, "threads must be 1..8");
			p->nthreads = (unsigned)v;
		} else if (klen == 4 && strncmp(q, "wait", 4) == 0) {
			if (!parse_uint(eq + 1, vlen, 64, &v))
				return bad("URL", url, "wait must be 0..64 replicas");
			p->wait_replicas = (unsigned)v;
		} else if (klen == 12 && strncmp(q, "wait_timeout", 12) == 0) {
			if (!parse_uint(eq + 1, vlen, 600000, &v) || v == 0)
				return bad("URL", url, "wait_timeout must be 1..600000 ms");
			p->wait_timeout_ms = (unsigned)v;
		} else if (klen == 4 && strncmp(q, "spin", 4) == 0) {
			if (!parse_uint(eq + 1, vlen, 1000, &v))
				return bad("URL", url, "spin must be 0..1000 us");
			p->spin_us = (unsigned)v;
		} else {
			return bad("URL", url, "unknown option (timeout, threads, wait, wait_timeout, spin)");
		}
		q += len + (amp ? 1 : 0);
	}
	return KERN_SUCCESS;
}

static kern_return_t parse_url(redis_pager_t *p, const char *url)
{
	if (url == NULL)
		return bad("URL", url, "no URL");
	const char *q = strchr(url, '?');
	size_t len = q ? (size_t)(q - url) : strlen(url);
	if (strncmp(url, "unix:", 5) == 0) {
		size_t plen = len - 5;
		if (plen == 0 || plen >= 108)
			return bad("URL", url, "unix:PATH needs a socket path of 1..107 bytes");
		memcpy(p->seeds[0].host, url + 5, plen);
		p->seeds[0].host[plen] = '\0';
		p->seeds[0].port = 0;
		p->nseeds = 1;
	} else if (strncmp(url, "redis://", 8) == 0) {
		const char *hp = url + 8;
		size_t hl = len - 8;
		if (hl == 0 || memchr(hp, '/', hl) || memchr(hp, '@', hl))
			return bad("URL", url, "expected redis://HOST[:PORT]");
		bool has_port = memchr(hp, ':', hl) != NULL && hp[0] != '[';
		if (hp[0] == '[')
			has_port = hl > 0 && memchr(hp, ']', hl) && hp[hl - 1] != ']';
		if (has_port) {
			if (!parse_hostport(hp, hl, p->seeds[0].host, sizeof p->seeds[0].host,
			                    &p->seeds[0].port))
				return bad("URL", url, "expected redis://HOST[:PORT], port 1..65535");
		} else {
			if (hl >= sizeof p->seeds[0].host)
				return bad("URL", url, "host name too long");
			memcpy(p->seeds[0].host, hp, hl);
			p->seeds[0].host[hl] = '\0';
			p->seeds[0].port = 6379;
		}
		p->nseeds = 1;
	} else if (strncmp(url, "redis-cluster://", 16) == 0) {
		const char *s = url + 16, *end = url + len;
		p->is_cluster = true;
		while (s < end) {
			const char *comma = memchr(s, ',', (size_t)(end - s));
			size_t l = comma ? (size_t)(comma - s) : (size_t)(end - s);
			if (p->nseeds == RP_MAX_SEEDS)
				return bad("URL", url, "at most 16 seed nodes");
			rp_node_t *n = &p->seeds[p->nseeds];
			if (!parse_hostport(s, l, n->host, sizeof n->host, &n->port))
				return bad("URL", url, "expected redis-cluster://HOST:PORT[,HOST:PORT...]");
			p->nseeds++;
			s += l + (comma ? 1 : 0);
			if (comma && s == end)
				return bad("URL", url, "empty seed after ','");
		}
		if (p->nseeds == 0)
			return bad("URL", url, "no seed node");
	} else {
		return bad("URL", url, "expected redis://, unix: or redis-cluster://");
	}
	if (!p->is_cluster) {
		p->nodes[0] = p->seeds[0];
		p->nnodes = 1;
	}
	return q ? parse_options(p, url, q + 1) : KERN_SUCCESS;
}

static kern_return_t check_name(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return bad("name", name, "empty");
	size_t n = strlen(name);
	if (n > RP_NAME_MAX)
		return bad("name", name, "longer than 200 bytes");
	for (size_t i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] > '~' || name[i] == '{' || name[i] == '}')
			return bad("name", name, "only printable characters, no space, '{' or '}'");
	return KERN_SUCCESS;
}

static void pager_free(redis_pager_t *p)
{
	for (size_t b = 0; b < RP_BUCKETS; b++)
		while (p->table[b]) {
			rp_run_t *to_free = NULL;
			entry_remove_locked(p, &p->table[b], &to_free);
			runs_free(to_free);
		}
	for (unsigned i = 0; i < RP_MAX_THREADS; i++) {
		free(p->workers[i].buffer);
		free(p->workers[i].state);
	}
	free(p->kernels);
	pthread_cond_destroy(&p->turn_cond);
	pthread_cond_destroy(&p->written_cond);
	pthread_cond_destroy(&p->writer_cond);
	pthread_cond_destroy(&p->detached_cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void send_quit(redis_pager_t *p)
{
	mach_msg_header_t quit = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof quit,
		.msgh_remote_port = p->object,
		.msgh_id = RP_QUIT_ID,
	};
	mach_msg(&quit, MACH_SEND_MSG, sizeof quit, 0, MACH_PORT_NULL,
	         MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
}

/* Stops the threads started so far: servers first (one quit message
 * each, taken in turn), then the writer, which gives what is left in the
 * table one last try. */
static void stop_threads(redis_pager_t *p, unsigned servers, bool writer)
{
	for (unsigned i = 0; i < servers; i++)
		send_quit(p);
	for (unsigned i = 0; i < servers; i++)
		pthread_join(p->workers[i].thread, NULL);
	if (writer) {
		pthread_mutex_lock(&p->lock);
		p->quit = true;
		pthread_cond_signal(&p->writer_cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->writer.thread, NULL);
	}
}

kern_return_t redis_pager_create(const char *url, const char *name,
        vm_size_t size, vm_size_t cluster, memory_object_t *object)
{
	if (object == NULL)
		return bad("argument", "object", "NULL");
	kern_return_t kr = check_name(name);
	if (kr != KERN_SUCCESS)
		return kr;
	if (size == 0 || size > ((vm_size_t)1 << 52))
		return bad("size", "0 or > 4 PiB", "size must be 1 byte .. 4 PiB");
	if (cluster > REDIS_PAGER_MAX_CLUSTER)
		return bad("cluster", "> 1 MiB", "cluster must be 0 .. 1 MiB");
	redis_pager_t *p = calloc(1, sizeof *p);
	if (p == NULL)
		return KERN_RESOURCE_SHORTAGE;
	p->timeout_ms = REDIS_PAGER_DEFAULT_TIMEOUT_MS;
	p->wait_timeout_ms = 1000;
	p->spin_us = RP_SPIN_US;
	p->nthreads = 2;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->turn_cond, NULL);
	pthread_cond_init(&p->written_cond, &attr);
	pthread_cond_init(&p->writer_cond, &attr);
	pthread_cond_init(&p->detached_cond, &attr);
	pthread_condattr_destroy(&attr);
	kr = parse_url(p, url);
	if (kr != KERN_SUCCESS) {
		pager_free(p);
		return kr;
	}
	snprintf(p->name, sizeof p->name, "%s", name);
	p->size = (size + RP_PAGE - 1) & ~(uint64_t)(RP_PAGE - 1);
	p->cluster = cluster ? (cluster + RP_PAGE - 1) & ~(vm_size_t)(RP_PAGE - 1)
	                     : REDIS_PAGER_DEFAULT_CLUSTER;
	for (unsigned i = 0; i < p->nthreads; i++) {
		p->workers[i].pager = p;
		if (!worker_room(&p->workers[i], REDIS_PAGER_MAX_CLUSTER)) {
			pager_free(p);
			return KERN_RESOURCE_SHORTAGE;
		}
	}
	p->writer.pager = p;
	/* The slot map, read now if a seed answers (at most one connect
	 * timeout per seed); otherwise at the first request that needs it. */
	if (p->is_cluster)
		refresh_map(p);
	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                       &p->object) != KERN_SUCCESS) {
		pager_free(p);
		return KERN_RESOURCE_SHORTAGE;
	}
	if (mach_port_insert_right(mach_task_self(), p->object, p->object,
	                           MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS) {
		mach_port_destroy(mach_task_self(), p->object);
		pager_free(p);
		return KERN_RESOURCE_SHORTAGE;
	}
	if (pthread_create(&p->writer.thread, NULL, writer_main, &p->writer) != 0) {
		mach_port_destroy(mach_task_self(), p->object);
		pager_free(p);
		return KERN_RESOURCE_SHORTAGE;
	}
	for (unsigned i = 0; i < p->nthreads; i++) {
		if (pthread_create(&p->workers[i].thread, NULL, server_main,
		                   &p->workers[i]) != 0) {
			stop_threads(p, i, true);
			mach_port_destroy(mach_task_self(), p->object);
			pager_free(p);
			return KERN_RESOURCE_SHORTAGE;
		}
	}
	pthread_mutex_lock(&registry_lock);
	p->next_pager = registry;
	registry = p;
	pthread_mutex_unlock(&registry_lock);
	*object = p->object;
	return KERN_SUCCESS;
}

static redis_pager_t *lookup(memory_object_t object, bool unlink)
{
	pthread_mutex_lock(&registry_lock);
	redis_pager_t **pp = &registry;
	while (*pp && (*pp)->object != object)
		pp = &(*pp)->next_pager;
	redis_pager_t *p = *pp;
	if (p && unlink)
		*pp = p->next_pager;
	pthread_mutex_unlock(&registry_lock);
	return p;
}

kern_return_t redis_pager_set_wait(memory_object_t object, unsigned replicas,
        unsigned timeout_ms)
{
	redis_pager_t *p = lookup(object, false);
	if (p == NULL)
		return KERN_INVALID_NAME;
	if (timeout_ms == 0 && replicas > 0)
		return KERN_INVALID_ARGUMENT;
	pthread_mutex_lock(&p->lock);
	p->wait_replicas = replicas;
	if (timeout_ms)
		p->wait_timeout_ms = timeout_ms;
	pthread_mutex_unlock(&p->lock);
	return KERN_SUCCESS;
}

kern_return_t redis_pager_set_timeout(memory_object_t object, unsigned timeout_ms)
{
	redis_pager_t *p = lookup(object, false);
	if (p == NULL)
		return KERN_INVALID_NAME;
	if (timeout_ms == 0)
		return KERN_INVALID_ARGUMENT;
	pthread_mutex_lock(&p->lock);
	p->timeout_ms = timeout_ms;
	pthread_mutex_unlock(&p->lock);
	return KERN_SUCCESS;
}

kern_return_t redis_pager_wait_detached(memory_object_t object, unsigned timeout_ms)
{
	redis_pager_t *p = lookup(object, false);
	if (p == NULL)
		return KERN_INVALID_NAME;
	struct timespec deadline = abs_after_ms(timeout_ms);
	pthread_mutex_lock(&p->lock);
	int err = 0;
	while ((p->nkernels > 0 || p->detaching > 0) && err == 0)
		err = pthread_cond_timedwait(&p->detached_cond, &p->lock, &deadline);
	bool detached = p->nkernels == 0 && p->detaching == 0;
	pthread_mutex_unlock(&p->lock);
	return detached ? KERN_SUCCESS : KERN_OPERATION_TIMED_OUT;
}

kern_return_t redis_pager_get_stats(memory_object_t object, redis_pager_stats_t *stats)
{
	redis_pager_t *p = lookup(object, false);
	if (p == NULL)
		return KERN_INVALID_NAME;
	if (stats == NULL)
		return KERN_INVALID_ARGUMENT;
	pthread_mutex_lock(&p->lock);
	*stats = p->stats;
	stats->kernels_attached = p->nkernels;
	pthread_mutex_unlock(&p->lock);
	return KERN_SUCCESS;
}

kern_return_t redis_pager_destroy(memory_object_t object)
{
	redis_pager_t *p = lookup(object, true);
	if (p == NULL)
		return KERN_INVALID_NAME;
	stop_threads(p, p->nthreads, true);
	mach_port_destroy(mach_task_self(), p->object);
	uint64_t lost = p->stats.pages_dirty;
	if (lost)
		fprintf(stderr, "redis_pager: %s: destroyed with %llu page(s) Redis "
		        "did not take: lost\n", p->name, (unsigned long long)lost);
	for (size_t i = 0; i < p->nkernels; i++)
		mach_port_deallocate(mach_task_self(), p->kernels[i].control);
	pager_free(p);
	return KERN_SUCCESS;
}
