/* Frames cannot be forged, replayed or reordered (issue 15, point 4).
 *
 * A relay in this process sits between us and a manager node (a man in
 * the middle who can read and write the stream but does not know the
 * key): it passes the handshake through, then, on the manager-to-us
 * direction, injects a forged PORT_DEATH record, replays a record, or
 * swaps two. Each closes the relayed link (its ports become dead names
 * here, within a bound), and nothing else: an object mapped over a second,
 * direct link to the same manager keeps faulting in the right data, with
 * no SIGBUS. Passing records through untouched keeps the link working.
 * The manager pings every 500 ms (MEMOBJ_PING_MS), so records flow on
 * their own. Not faster: a link silent for three intervals is closed, and
 * under load this test process, which pings only at the default 10 s,
 * may not answer the manager within 300 ms (the direct link then closed
 * and the test failed). */
#include <mach/mach.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <stdatomic.h>

#include "harness.h"
#include "emmi_manager.h"
#include "net_peer.h"
#include "../src/net/net_record.h"
#include "../src/net/wire_frame.h"

#define OBJ_SIZE (256 * 1024)
#define KEY "MEMOBJ_KEY=tamper-test-key"
/* Keyed handshake: HELLO then AUTH, each way, passed through raw. */
#define HANDSHAKE_BYTES (WIRE_HELLO_SIZE + WIRE_AUTH_SIZE)

static char dir[64];

/* ---- the manager ---- */

static int peer_manager(const char *address)
{
	if (memobj_listen(address) != KERN_SUCCESS)
		return 2;
	struct mgr *m = mgr_start(1, 0, REPLY_SUPPLY);
	mach_port_t echo;
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &echo);
	if (m == NULL ||
	    netname_check_in(MACH_PORT_NULL, "obj", MACH_PORT_NULL, m->object) != KERN_SUCCESS ||
	    netname_check_in(MACH_PORT_NULL, "echo", MACH_PORT_NULL, echo) != KERN_SUCCESS)
		return 3;
	peer_say("ready");
	for (;;)
		pause();
}

/* ---- the relay ---- */

enum tamper { PASS, INJECT, REPLAY, REORDER };

struct relay {
	int listen_fd;
	char server[128];
	enum tamper mode;
	pthread_t thread;
};

/* One direction: bytes read from `from`, written to `to`. */
struct dir_state {
	int from, to;
	uint8_t buf[2 * NET_RECORD_FULL];
	size_t have;
	size_t raw_left;               /* handshake bytes still to pass raw */
	uint64_t records;              /* whole records seen after the handshake */
	bool tamper;                   /* this direction is the one tampered with */
};

/* The flags of the manager's HELLO, as the relay saw it pass (-1: not yet). */
static _Atomic int manager_hello_flags = -1;

static bool write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		b += w;
		n -= (size_t)w;
	}
	return true;
}

/* A PORT_DEATH for the manager's name server, sealed with a key the
 * relay made up (it does not know the session key) and the next sequence
 * number: what an attacker on the path could at best send. */
static size_t forged_port_death(uint64_t seq, uint8_t *out)
{
	struct wire_port_death d = { 1, 1 };
	size_t len;
	struct net_record_key k = { .seq = seq };
	memset(k.key, 0x42, sizeof k.key);
	REQUIRE(wire_encode_port_death(out + NET_RECORD_HEAD, WIRE_PORT_DEATH_SIZE, &d, &len) ==
	        WIRE_OK);
	net_record_seal(&k, out, (uint32_t)len);
	return NET_RECORD_HEAD + len + NET_RECORD_TAG;
}

/* Passes what can be passed; false when the relay should stop. */
static bool pump(struct dir_state *d, enum tamper mode)
{
	if (d->have == sizeof d->buf)
		return false;
	ssize_t got = recv(d->from, d->buf + d->have, sizeof d->buf - d->have, 0);
	if (got <= 0)
		return false;
	d->have += (size_t)got;
	size_t off = 0;
	if (d->tamper && d->raw_left == HANDSHAKE_BYTES && d->have > WIRE_HEADER_SIZE + 9)
		manager_hello_flags = d->buf[WIRE_HEADER_SIZE + 9];
	if (d->raw_left > 0) {
		size_t n = d->have < d->raw_left ? d->have : d->raw_left;
		if (!write_all(d->to, d->buf, n))
			return false;
		d->raw_left -= n;
		off = n;
	}
	static uint8_t held[NET_RECORD_FULL], forged[NET_RECORD_FULL];
	static size_t held_len;
	while (d->raw_left == 0 && d->have - off >= NET_RECORD_HEAD) {
		uint32_t len = net_record_length(d->buf + off);
		size_t whole = NET_RECORD_HEAD + (size_t)len + NET_RECORD_TAG;
		if (len == 0)
			return false;
		if (d->have - off < whole)
			break;
		const uint8_t *rec = d->buf + off;
		uint64_t n = d->records++;
		bool ok = true;
		if (!d->tamper || mode == PASS || n > 1) {
			ok = write_all(d->to, rec, whole);
		} else if (mode == INJECT) {
			ok = write_all(d->to, rec, whole);
			if (ok && n == 0)
				ok = write_all(d->to, forged, forged_port_death(1, forged));
		} else if (mode == REPLAY) {
			ok = write_all(d->to, rec, whole) && (n != 0 || write_all(d->to, rec, whole));
		} else if (mode == REORDER) {
			if (n == 0) {
				memcpy(held, rec, whole);
				held_len = whole;
			} else {
				ok = write_all(d->to, rec, whole) && write_all(d->to, held, held_len);
			}
		}
		if (!ok)
			return false;
		off += whole;
	}
	memmove(d->buf, d->buf + off, d->have - off);
	d->have -= off;
	return true;
}

static void *relay_run(void *arg)
{
	struct relay *r = arg;
	struct pollfd lp = { .fd = r->listen_fd, .events = POLLIN };
	if (poll(&lp, 1, PEER_TIMEOUT_MS) != 1)
		return NULL;
	int c = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof sun.sun_path, "%.100s", r->server);
	if (c < 0 || s < 0 || connect(s, (struct sockaddr *)&sun, sizeof sun) != 0) {
		if (c >= 0)
			close(c);
		if (s >= 0)
			close(s);
		return NULL;
	}
	static struct dir_state up, down;
	up = (struct dir_state){ .from = c, .to = s, .raw_left = HANDSHAKE_BYTES };
	down = (struct dir_state){ .from = s, .to = c, .raw_left = HANDSHAKE_BYTES,
	                           .tamper = true };
	for (;;) {
		struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = s, .events = POLLIN } };
		if (poll(p, 2, PEER_TIMEOUT_MS) <= 0)
			break;
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(&up, r->mode))
			break;
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(&down, r->mode))
			break;
	}
	close(c);
	close(s);
	return NULL;
}

static void relay_start(struct relay *r, const char *path, const char *server, enum tamper mode)
{
	memset(r, 0, sizeof *r);
	snprintf(r->server, sizeof r->server, "%s", server);
	r->mode = mode;
	r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof sun.sun_path, "%.100s", path);
	unlink(path);
	REQUIRE(r->listen_fd >= 0 && bind(r->listen_fd, (struct sockaddr *)&sun, sizeof sun) == 0 &&
	        listen(r->listen_fd, 4) == 0);
	REQUIRE(pthread_create(&r->thread, NULL, relay_run, r) == 0);
}

static void relay_stop(struct relay *r)
{
	pthread_join(r->thread, NULL);
	close(r->listen_fd);
}

/* ---- helpers ---- */

static bool becomes_dead(mach_port_t name, int timeout_ms)
{
	mach_port_t notify, prev = MACH_PORT_NULL;
	mach_port_type_t type;
	REQUIRE(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &notify) ==
	        KERN_SUCCESS);
	kern_return_t kr = mach_port_request_notification(mach_task_self(), name,
	        MACH_NOTIFY_DEAD_NAME, 0, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev);
	bool dead;
	if (kr == KERN_SUCCESS) {
		union { mach_msg_header_t h; uint8_t b[256]; } msg;
		dead = mach_msg(&msg.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof msg, notify,
		        (mach_msg_timeout_t)timeout_ms, MACH_PORT_NULL) == MACH_MSG_SUCCESS &&
		       msg.h.msgh_id == MACH_NOTIFY_DEAD_NAME;
	} else {
		dead = mach_port_type(mach_task_self(), name, &type) == KERN_SUCCESS &&
		       (type & MACH_PORT_TYPE_DEAD_NAME);
	}
	mach_port_mod_refs(mach_task_self(), notify, MACH_PORT_RIGHT_RECEIVE, -1);
	return dead;
}

/* Reads every page of [from, to) of the mapped object; -1 on a wrong byte. */
static int check_pages(vm_address_t base, vm_offset_t from, vm_offset_t to)
{
	vm_size_t ps = kernel_page_size();
	for (vm_offset_t off = from; off < to; off += ps) {
		const uint8_t *p = (const uint8_t *)base + off;
		if (p[0] != pattern_byte(off) || p[ps - 1] != pattern_byte(off + ps - 1))
			return -1;
	}
	return 0;
}

/* aead_env: NULL (the manager offers AES-256-GCM where it can, so the
 * link uses it) or a MEMOBJ_NET_AEAD setting for the manager. */
static void tamper_case(enum tamper mode, const char *tag, const char *aead_env)
{
	char srv_path[128], relay_path[128], srv_addr[160], relay_addr[160];
	snprintf(srv_path, sizeof srv_path, "%s/mgr-%s", dir, tag);
	snprintf(relay_path, sizeof relay_path, "%s/relay-%s", dir, tag);
	snprintf(srv_addr, sizeof srv_addr, "unix:%s", srv_path);
	snprintf(relay_addr, sizeof relay_addr, "unix:%s", relay_path);

	struct peer mgr;
	const char *env[] = { KEY, "MEMOBJ_PING_MS=500", aead_env, NULL };
	const char *args[] = { "manager", srv_addr, NULL };
	REQUIRE(peer_start(&mgr, NULL, env, args) == 0);
	REQUIRE(peer_expect(&mgr, "ready", PEER_TIMEOUT_MS) != NULL);

	/* The direct link, and an object mapped over it, half read. */
	mach_port_t ns_direct, obj, echo_direct;
	vm_address_t base = 0;
	REQUIRE(memobj_connect(srv_addr, &ns_direct) == KERN_SUCCESS);
	REQUIRE(netname_look_up(ns_direct, "", "obj", &obj) == KERN_SUCCESS);
	REQUIRE(vm_map(mach_task_self(), &base, OBJ_SIZE, 0, TRUE, obj, 0, FALSE,
	               VM_PROT_READ | VM_PROT_WRITE, VM_PROT_ALL, VM_INHERIT_NONE) == KERN_SUCCESS);
	CHECK_EQ(check_pages(base, 0, OBJ_SIZE / 2), 0);

	/* The relayed link. */
	struct relay relay;
	relay_start(&relay, relay_path, srv_path, mode);
	mach_port_t ns_relayed, echo_relayed;
	manager_hello_flags = -1;
	CHECK_EQ(memobj_connect(relay_addr, &ns_relayed), KERN_SUCCESS);
	/* The manager offered AES-256-GCM unless told not to (or it cannot). */
	CHECK(manager_hello_flags >= 0);
	CHECK_EQ(!!(manager_hello_flags & WIRE_HELLO_AES256GCM),
	         aead_env == NULL && crypto_aead_aes256gcm_is_available());
	if (mode == PASS) {
		for (int i = 0; i < 3; i++)
			CHECK_EQ(netname_look_up(ns_relayed, "", "echo", &echo_relayed), KERN_SUCCESS);
		CHECK_EQ(netname_look_up(ns_direct, "", "echo", &echo_direct), KERN_SUCCESS);
	} else {
		/* The manager's next records (pings) are tampered with: the
		 * link closes, here and at the manager. */
		CHECK(becomes_dead(ns_relayed, 10000));
	}
	/* Everything over the direct link goes on as before. */
	CHECK_EQ(netname_look_up(ns_direct, "", "echo", &echo_direct), KERN_SUCCESS);
	CHECK_EQ(check_pages(base, OBJ_SIZE / 2, OBJ_SIZE), 0);
	CHECK_EQ(vm_deallocate(mach_task_self(), base, OBJ_SIZE), KERN_SUCCESS);
	peer_stop(&mgr);
	relay_stop(&relay);
}

TEST(untouched_records_pass)
{
	tamper_case(PASS, "pass", NULL);
}

TEST(forged_port_death_closes_link)
{
	tamper_case(INJECT, "inject", NULL);
}

TEST(replayed_record_closes_link)
{
	tamper_case(REPLAY, "replay", NULL);
}

TEST(reordered_records_close_link)
{
	tamper_case(REORDER, "reorder", NULL);
}

/* The same against a manager that offers only the fallback AEAD
 * (XChaCha20-Poly1305): the links use it, and it holds as well. */
#define FALLBACK "MEMOBJ_NET_AEAD=xchacha20poly1305"

TEST(fallback_untouched_records_pass)
{
	tamper_case(PASS, "fb-pass", FALLBACK);
}

TEST(fallback_forged_port_death_closes_link)
{
	tamper_case(INJECT, "fb-inject", FALLBACK);
}

TEST(fallback_replayed_record_closes_link)
{
	tamper_case(REPLAY, "fb-replay", FALLBACK);
}

TEST(fallback_reordered_records_close_link)
{
	tamper_case(REORDER, "fb-reorder", FALLBACK);
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "--peer") == 0 && strcmp(argv[2], "manager") == 0)
		return peer_manager(argv[3]);
	snprintf(dir, sizeof dir, "/tmp/memobj-tamper-%ld", (long)getpid());
	REQUIRE(mkdir(dir, 0700) == 0);
	putenv((char *)KEY);
	RUN(untouched_records_pass);
	RUN(forged_port_death_closes_link);
	RUN(replayed_record_closes_link);
	RUN(reordered_records_close_link);
	RUN(fallback_untouched_records_pass);
	RUN(fallback_forged_port_death_closes_link);
	RUN(fallback_replayed_record_closes_link);
	RUN(fallback_reordered_records_close_link);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("     (could not remove %s)\n", dir);
	return harness_done();
}
