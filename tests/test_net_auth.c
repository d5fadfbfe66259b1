/* Keys (MEMOBJ_KEY, the per-user key file made 0600), then the link
 * handshake: right key admitted, wrong key or a key on one side refused
 * by both sides, a reflected proof refused, TCP without an explicit key
 * admitted through the key file (loopback or not), another key file
 * refused, Unix socket file created 0600, the session keys agreeing.
 * Every wait is bounded by the handshake's timeout. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "../src/net/net_auth.h"
#include "../src/net/net_record.h"
#include "../src/net/net_socket.h"

#define TIMEOUT_MS 5000

TEST(key_from_env)
{
	struct net_auth_key key, again;
	unsetenv(NET_AUTH_KEY_ENV);
	net_auth_key_from_env(&key);
	CHECK(!key.present);
	setenv(NET_AUTH_KEY_ENV, "", 1);
	net_auth_key_from_env(&key);
	CHECK(!key.present);
	setenv(NET_AUTH_KEY_ENV, "s3cret", 1);
	net_auth_key_from_env(&key);
	CHECK(key.present);
	unsetenv(NET_AUTH_KEY_ENV);
	/* The same bytes give the same key, other bytes another. */
	net_auth_key_set(&again, "s3cret", 6);
	CHECK(again.present && memcmp(key.bytes, again.bytes, sizeof key.bytes) == 0);
	net_auth_key_set(&again, "s3creT", 6);
	CHECK(memcmp(key.bytes, again.bytes, sizeof key.bytes) != 0);
	net_auth_key_clear(&key);
	CHECK(!key.present);
}

static char key_dir[64];

/* The per-user key file: made 0600 on first use (in a 0700 directory),
 * the same key read back after, and refused once others may read it. */
TEST(key_file_made_private_on_first_use)
{
	char path[128];
	snprintf(path, sizeof path, "%s/sub/key", key_dir);
	setenv(NET_AUTH_KEY_FILE_ENV, path, 1);
	struct net_auth_key k1, k2;
	const char *why = NULL;
	CHECK_EQ(net_auth_key_from_file(&k1, &why), 0);
	struct stat st;
	REQUIRE(stat(path, &st) == 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0600);
	char sub[128];
	snprintf(sub, sizeof sub, "%s/sub", key_dir);
	REQUIRE(stat(sub, &st) == 0);
	CHECK_EQ(st.st_mode & 07777, 0700);
	CHECK_EQ(net_auth_key_from_file(&k2, &why), 0);
	CHECK(k1.present && memcmp(k1.bytes, k2.bytes, sizeof k1.bytes) == 0);
	REQUIRE(chmod(path, 0644) == 0);
	CHECK_EQ(net_auth_key_from_file(&k2, &why), -EACCES);
	CHECK(why != NULL);
	REQUIRE(chmod(path, 0600) == 0);
	/* Back to the suite's key file. */
	snprintf(path, sizeof path, "%s/key", key_dir);
	setenv(NET_AUTH_KEY_FILE_ENV, path, 1);
}

/* ---- the handshake ---- */

struct side {
	int fd;
	enum wire_role role;
	uint64_t node_id;
	struct net_auth_key key;
	int timeout_ms;
	bool offer_aes;
	bool offer_clear;
	int result;
	struct net_auth_peer peer;
};

static void *run_side(void *arg)
{
	struct side *s = arg;
	s->result = net_auth_handshake_offer(s->fd, s->role, s->node_id, &s->key, s->timeout_ms,
	                                     s->offer_aes, s->offer_clear, &s->peer);
	/* Closing tells a peer still waiting that we are done with it. */
	if (s->result != 0)
		shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

/* Runs sides c and l (their offers set) with these keys. */
static void run_pair(struct side *c, struct side *l, const char *key_connector,
                     const char *key_listener)
{
	net_auth_key_set(&c->key, key_connector, key_connector ? strlen(key_connector) : 0);
	net_auth_key_set(&l->key, key_listener, key_listener ? strlen(key_listener) : 0);
	pthread_t thread;
	REQUIRE(pthread_create(&thread, NULL, run_side, l) == 0);
	run_side(c);
	pthread_join(thread, NULL);
}

/* The two sides of a handshake over sockets fd_c and fd_l, with these
 * offers. */
static void sides_offering(int fd_c, int fd_l, bool aes_c, bool aes_l, bool clear_c,
                           bool clear_l, struct side *c, struct side *l)
{
	*c = (struct side){ .fd = fd_c, .role = WIRE_ROLE_CONNECTOR, .node_id = 0x1001,
	                    .timeout_ms = TIMEOUT_MS, .offer_aes = aes_c, .offer_clear = clear_c };
	*l = (struct side){ .fd = fd_l, .role = WIRE_ROLE_LISTENER, .node_id = 0x2002,
	                    .timeout_ms = TIMEOUT_MS, .offer_aes = aes_l, .offer_clear = clear_l };
}

/* Runs both sides of a handshake over two connected sockets, each
 * offering what this node offers. */
static void handshake_pair(int fd_connector, int fd_listener, const char *key_connector,
                           const char *key_listener, struct side *c, struct side *l)
{
	sides_offering(fd_connector, fd_listener, net_auth_offers_aes(), net_auth_offers_aes(),
	               net_auth_offers_clear(), net_auth_offers_clear(), c, l);
	run_pair(c, l, key_connector, key_listener);
}

static void socket_pair(int fds[2])
{
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
}

TEST(right_key_admitted)
{
	int fds[2];
	struct side c, l;
	socket_pair(fds);
	handshake_pair(fds[0], fds[1], "shared secret", "shared secret", &c, &l);
	CHECK_EQ(c.result, 0);
	CHECK_EQ(l.result, 0);
	CHECK(c.peer.node_id == 0x2002);
	CHECK(l.peer.node_id == 0x1001);
	CHECK_EQ(c.peer.version, WIRE_VERSION);

	/* Each side's sending key is the other's receiving key, and the two
	 * directions differ. */
	CHECK(memcmp(c.peer.tx_key, l.peer.rx_key, NET_KEY_SIZE) == 0);
	CHECK(memcmp(c.peer.rx_key, l.peer.tx_key, NET_KEY_SIZE) == 0);
	CHECK(memcmp(c.peer.tx_key, c.peer.rx_key, NET_KEY_SIZE) != 0);

	/* The handshake consumed exactly its own frames: a record sealed by
	 * one side opens at the other, and opens only once. */
	static uint8_t rec[NET_RECORD_FULL], out[NET_RECORD_MAX];
	struct net_record_key tx = { .seq = 0 }, rx = { .seq = 0 };
	memcpy(tx.key, c.peer.tx_key, NET_KEY_SIZE);
	memcpy(rx.key, l.peer.rx_key, NET_KEY_SIZE);
	memcpy(rec + NET_RECORD_HEAD, "ping", 4);
	net_record_seal(&tx, rec, 4);
	size_t len = NET_RECORD_HEAD + 4 + NET_RECORD_TAG;
	CHECK_EQ(net_write_full(fds[0], rec, len, net_now_ms() + TIMEOUT_MS), 0);
	memset(rec, 0, sizeof rec);
	CHECK_EQ(net_read_full(fds[1], rec, len, net_now_ms() + TIMEOUT_MS), 0);
	CHECK_EQ(net_record_length(rec), 4u);
	CHECK_EQ(net_record_open(&rx, rec, 4, out), 0);
	CHECK(memcmp(out, "ping", 4) == 0);
	CHECK_EQ(net_record_open(&rx, rec, 4, out), -EBADMSG);   /* replayed */
	rec[NET_RECORD_HEAD] ^= 1;
	rx.seq = 0;
	CHECK_EQ(net_record_open(&rx, rec, 4, out), -EBADMSG);   /* altered */
	close(fds[0]);
	close(fds[1]);
}

TEST(wrong_key_refused_by_both)
{
	int fds[2];
	struct side c, l;
	socket_pair(fds);
	handshake_pair(fds[0], fds[1], "shared secret", "shared secreT", &c, &l);
	CHECK_EQ(c.result, -EACCES);
	CHECK_EQ(l.result, -EACCES);
	close(fds[0]);
	close(fds[1]);
}

TEST(key_on_one_side_only_refused)
{
	int fds[2];
	struct side c, l;
	socket_pair(fds);
	handshake_pair(fds[0], fds[1], "shared secret", NULL, &c, &l);
	CHECK(c.result != 0);
	CHECK(l.result != 0);
	close(fds[0]);
	close(fds[1]);

	socket_pair(fds);
	handshake_pair(fds[0], fds[1], NULL, "shared secret", &c, &l);
	CHECK(c.result != 0);
	CHECK(l.result != 0);
	close(fds[0]);
	close(fds[1]);
}

TEST(no_key_same_uid_unix_admitted)
{
	int fds[2];
	struct side c, l;
	socket_pair(fds);
	handshake_pair(fds[0], fds[1], NULL, NULL, &c, &l);
	CHECK_EQ(c.result, 0);
	CHECK_EQ(l.result, 0);
	/* By default such a link sends its records in clear. */
	CHECK(net_auth_offers_clear());
	CHECK_EQ(c.peer.aead, NET_AEAD_NONE);
	CHECK_EQ(l.peer.aead, NET_AEAD_NONE);
	close(fds[0]);
	close(fds[1]);
}

TEST(connection_to_self_refused)
{
	int fds[2];
	struct side c, l;
	socket_pair(fds);
	c = (struct side){ .fd = fds[0], .role = WIRE_ROLE_CONNECTOR, .node_id = 77,
	                   .timeout_ms = TIMEOUT_MS };
	l = (struct side){ .fd = fds[1], .role = WIRE_ROLE_LISTENER, .node_id = 77,
	                   .timeout_ms = TIMEOUT_MS };
	pthread_t thread;
	REQUIRE(pthread_create(&thread, NULL, run_side, &l) == 0);
	run_side(&c);
	pthread_join(thread, NULL);
	CHECK_EQ(c.result, -ELOOP);
	CHECK_EQ(l.result, -ELOOP);
	close(fds[0]);
	close(fds[1]);
}

/* A fake listener that sends our own proof back to us, and one that
 * sends garbage, and one that says nothing. */
struct fake_peer {
	int fd;
	int mode;     /* 0 reflect, 1 garbage after HELLO, 2 silent, 3 close at once */
};

static void *run_fake_peer(void *arg)
{
	struct fake_peer *p = arg;
	int64_t deadline = net_now_ms() + TIMEOUT_MS;
	uint8_t buf[WIRE_HANDSHAKE_FRAME_MAX];
	size_t len;

	if (p->mode == 3) {
		shutdown(p->fd, SHUT_RDWR);
		return NULL;
	}
	if (p->mode == 2) {
		/* Wait (bounded) until the other side gives up and closes. */
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		char sink[256];
		while (poll(&pfd, 1, TIMEOUT_MS) > 0 && recv(p->fd, sink, sizeof sink, 0) > 0)
			;
		return NULL;
	}
	struct wire_hello hello = { .node_id = 0x3003, .role = WIRE_ROLE_LISTENER,
	                            .flags = WIRE_HELLO_KEYED, .max_version = WIRE_VERSION };
	if (net_read_full(p->fd, buf, WIRE_HELLO_SIZE, deadline) != 0)
		return NULL;
	wire_encode_hello(buf, sizeof buf, &hello, &len);
	if (net_write_full(p->fd, buf, len, deadline) != 0)
		return NULL;
	if (p->mode == 0) {
		if (net_read_full(p->fd, buf, WIRE_AUTH_SIZE, deadline) == 0)
			net_write_full(p->fd, buf, WIRE_AUTH_SIZE, deadline);
	} else {
		memset(buf, 0x5a, sizeof buf);
		net_write_full(p->fd, buf, sizeof buf, deadline);
	}
	return NULL;
}

static int handshake_with_fake(int mode, int timeout_ms)
{
	int fds[2];
	struct fake_peer fake = { .mode = mode };
	struct net_auth_key key;
	struct net_auth_peer peer;
	pthread_t thread;

	socket_pair(fds);
	fake.fd = fds[1];
	net_auth_key_set(&key, "k", 1);
	REQUIRE(pthread_create(&thread, NULL, run_fake_peer, &fake) == 0);
	int rc = net_auth_handshake(fds[0], WIRE_ROLE_CONNECTOR, 0x1001, &key, timeout_ms, &peer);
	shutdown(fds[0], SHUT_RDWR);
	pthread_join(thread, NULL);
	close(fds[0]);
	close(fds[1]);
	return rc;
}

TEST(reflected_proof_refused)
{
	CHECK_EQ(handshake_with_fake(0, TIMEOUT_MS), -EACCES);
}

TEST(garbage_refused)
{
	CHECK_EQ(handshake_with_fake(1, TIMEOUT_MS), -EPROTO);
}

TEST(silent_peer_times_out)
{
	CHECK_EQ(handshake_with_fake(2, 100), -ETIMEDOUT);
}

TEST(peer_closing_is_reported)
{
	CHECK_EQ(handshake_with_fake(3, TIMEOUT_MS), -ECONNRESET);
}

/* ---- the records' AEAD ---- */

/* A record sealed with tx opens once with rx, and not replayed, altered
 * or under the other construction. */
static void records_work(const uint8_t tx_key[NET_KEY_SIZE], const uint8_t rx_key[NET_KEY_SIZE],
                         enum net_aead aead)
{
	static uint8_t rec[NET_RECORD_FULL], copy[NET_RECORD_FULL], out[NET_RECORD_MAX];
	struct net_record_key tx, rx, other;
	REQUIRE(net_record_key_init(&tx, tx_key, aead) == 0);
	REQUIRE(net_record_key_init(&rx, rx_key, aead) == 0);
	for (uint32_t len = 1; len <= NET_RECORD_MAX; len = len * 4 + 3) {
		for (uint32_t i = 0; i < len; i++)
			rec[NET_RECORD_HEAD + i] = (uint8_t)(i * 7 + len);
		net_record_seal(&tx, rec, len);
		memcpy(copy, rec, NET_RECORD_HEAD + len + NET_RECORD_TAG);
		CHECK_EQ(net_record_length(rec), len);
		CHECK_EQ(net_record_open(&rx, rec, len, out), 0);
		CHECK(out[0] == (uint8_t)len && out[len - 1] == (uint8_t)((len - 1) * 7 + len));
		CHECK_EQ(net_record_open(&rx, copy, len, out), -EBADMSG);   /* replayed */
		/* Under the other AEAD, same key and number: refused. */
		if (aead == NET_AEAD_XCHACHA20POLY1305 && !crypto_aead_aes256gcm_is_available())
			continue;
		enum net_aead alt = aead == NET_AEAD_AES256GCM ? NET_AEAD_XCHACHA20POLY1305
		                                               : NET_AEAD_AES256GCM;
		REQUIRE(net_record_key_init(&other, rx_key, alt) == 0);
		other.seq = rx.seq - 1;
		CHECK_EQ(net_record_open(&other, copy, len, out), -EBADMSG);
		net_record_key_clear(&other);
	}
	/* Altered bytes, tag or length; a skipped number. */
	memcpy(rec + NET_RECORD_HEAD, "frame", 5);
	net_record_seal(&tx, rec, 5);
	memcpy(copy, rec, NET_RECORD_HEAD + 5 + NET_RECORD_TAG);
	const size_t flip[] = { 0, NET_RECORD_HEAD, NET_RECORD_HEAD + 4, NET_RECORD_HEAD + 5 + 15 };
	for (size_t i = 0; i < sizeof flip / sizeof flip[0]; i++) {
		memcpy(rec, copy, sizeof copy);
		rec[flip[i]] ^= 0x10;
		CHECK_EQ(net_record_open(&rx, rec, 5, out), -EBADMSG);
	}
	rx.seq++;
	CHECK_EQ(net_record_open(&rx, copy, 5, out), -EBADMSG);
	rx.seq--;
	CHECK_EQ(net_record_open(&rx, copy, 5, out), 0);
	CHECK(memcmp(out, "frame", 5) == 0);
	net_record_key_clear(&tx);
	net_record_key_clear(&rx);
}

/* Each combination of offers: records in clear only on an unkeyed Unix
 * link whose both sides offer it; else AES-256-GCM when both sides offer
 * it (and libsodium has it here), else the XChaCha20-Poly1305 fallback;
 * both sides agree, and records sealed by one open at the other. */
TEST(aead_negotiated_from_both_offers)
{
	bool have_aes = crypto_aead_aes256gcm_is_available();
	for (int combo = 0; combo < 16; combo++) {
		for (int keyed = 0; keyed < 2; keyed++) {
			int fds[2];
			struct side c, l;
			socket_pair(fds);
			const char *key = keyed ? "shared secret" : NULL;
			sides_offering(fds[0], fds[1], combo & 1, combo & 2, combo & 4, combo & 8,
			               &c, &l);
			run_pair(&c, &l, key, key);
			CHECK_EQ(c.result, 0);
			CHECK_EQ(l.result, 0);
			enum net_aead want = (combo & 12) == 12 && !keyed ? NET_AEAD_NONE
			                     : (combo & 3) == 3 && have_aes ? NET_AEAD_AES256GCM
			                                                    : NET_AEAD_XCHACHA20POLY1305;
			CHECK_EQ(c.peer.aead, want);
			CHECK_EQ(l.peer.aead, want);
			if (c.result == 0 && l.result == 0 && want != NET_AEAD_NONE) {
				records_work(c.peer.tx_key, l.peer.rx_key, want);
				records_work(l.peer.tx_key, c.peer.rx_key, want);
			}
			close(fds[0]);
			close(fds[1]);
		}
	}
	/* This node offers AES wherever libsodium can run it, and clear
	 * (MEMOBJ_NET_AEAD and MEMOBJ_NET_SEAL_UNIX unset here). */
	CHECK_EQ(net_auth_offers_aes(), have_aes);
	CHECK(net_auth_offers_clear());
	CHECK(strcmp(net_aead_name(NET_AEAD_AES256GCM), "AES-256-GCM") == 0);
	CHECK(strcmp(net_aead_name(NET_AEAD_XCHACHA20POLY1305), "XChaCha20-Poly1305") == 0);
	CHECK(strcmp(net_aead_name(NET_AEAD_NONE), "none") == 0);
}

/* In clear a record is its length and its frames' bytes as they are. */
TEST(clear_records_carry_bytes_as_they_are)
{
	/* The record format in clear: length, then the bytes; no tag. */
	static uint8_t rec[NET_RECORD_FULL], out[NET_RECORD_MAX];
	uint8_t k[NET_KEY_SIZE] = { 0 };
	struct net_record_key tx, rx;
	REQUIRE(net_record_key_init(&tx, k, NET_AEAD_NONE) == 0);
	REQUIRE(net_record_key_init(&rx, k, NET_AEAD_NONE) == 0);
	CHECK_EQ(net_record_tag(&tx), 0u);
	memcpy(rec + NET_RECORD_HEAD, "frames", 6);
	net_record_seal(&tx, rec, 6);
	CHECK_EQ(net_record_length(rec), 6u);
	CHECK(memcmp(rec + NET_RECORD_HEAD, "frames", 6) == 0);
	CHECK_EQ(net_record_open(&rx, rec, 6, out), 0);
	CHECK(memcmp(out, "frames", 6) == 0);
	net_record_key_clear(&tx);
	net_record_key_clear(&rx);
}

/* A man in the middle who clears the AES-256-GCM offer in the
 * listener's HELLO (to force the other AEAD) breaks the proofs: both
 * sides refuse the link. */
struct strip {
	int a, b;              /* a: the connector's end; b: the listener's */
};

static void *run_strip(void *arg)
{
	struct strip *s = arg;
	int64_t deadline = net_now_ms() + TIMEOUT_MS;
	uint8_t hello[WIRE_HELLO_SIZE];
	/* The listener's HELLO, altered, then every byte as it is. */
	if (net_read_full(s->b, hello, sizeof hello, deadline) != 0)
		return NULL;
	hello[WIRE_HEADER_SIZE + 9] &= (uint8_t)~WIRE_HELLO_AES256GCM;
	if (net_write_full(s->a, hello, sizeof hello, deadline) != 0)
		return NULL;
	for (;;) {
		struct pollfd p[2] = { { .fd = s->a, .events = POLLIN }, { .fd = s->b, .events = POLLIN } };
		if (poll(p, 2, TIMEOUT_MS) <= 0)
			break;
		uint8_t buf[512];
		int from = (p[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 0 : 1;
		ssize_t n = recv(from ? s->b : s->a, buf, sizeof buf, 0);
		if (n <= 0 || net_write_full(from ? s->a : s->b, buf, (size_t)n, deadline) != 0)
			break;
	}
	shutdown(s->a, SHUT_RDWR);
	shutdown(s->b, SHUT_RDWR);
	return NULL;
}

TEST(aead_offer_cannot_be_stripped)
{
	if (!crypto_aead_aes256gcm_is_available()) {
		printf("     (skipped: no AES-256-GCM in libsodium on this CPU)\n");
		return;
	}
	int left[2], right[2];
	socket_pair(left);
	socket_pair(right);
	struct strip strip = { .a = left[1], .b = right[0] };
	pthread_t mitm, thread;
	REQUIRE(pthread_create(&mitm, NULL, run_strip, &strip) == 0);
	struct side c = { .fd = left[0], .role = WIRE_ROLE_CONNECTOR, .node_id = 0x1001,
	                  .timeout_ms = TIMEOUT_MS, .offer_aes = true };
	struct side l = { .fd = right[1], .role = WIRE_ROLE_LISTENER, .node_id = 0x2002,
	                  .timeout_ms = TIMEOUT_MS, .offer_aes = true };
	net_auth_key_set(&c.key, "shared secret", 13);
	net_auth_key_set(&l.key, "shared secret", 13);
	REQUIRE(pthread_create(&thread, NULL, run_side, &l) == 0);
	run_side(&c);
	pthread_join(thread, NULL);
	pthread_join(mitm, NULL);
	/* The connector sees the altered HELLO and proves over it: the
	 * listener's check fails, and so does the connector's. */
	CHECK(c.result != 0);
	CHECK(l.result != 0);
	CHECK(c.result == -EACCES || l.result == -EACCES);
	for (int i = 0; i < 2; i++) {
		close(left[i]);
		close(right[i]);
	}
}

/* Accepts one connection on the listener, waiting at most TIMEOUT_MS. */
static int accept_one(struct net_listener *l)
{
	struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
	int fd = -1;
	REQUIRE(poll(&pfd, 1, TIMEOUT_MS) == 1);
	REQUIRE(net_accept(l, &fd) == 0);
	return fd;
}

/* Listens on `address`, connects, and runs a handshake with the given
 * keys. Returns false when the address cannot be used here. */
static bool handshake_over(const char *address, const char *key, struct side *c, struct side *l)
{
	struct net_addr addr;
	struct net_listener listener;
	char name[NET_ADDR_NAME_MAX];
	int cfd;

	if (net_addr_parse(address, &addr) != 0 || net_listen(&addr, &listener) != 0)
		return false;
	net_sockaddr_name((struct sockaddr *)&listener.addr.sa, listener.addr.sa_len, name,
	                  sizeof name);
	REQUIRE(net_connect(&listener.addr, TIMEOUT_MS, &cfd) == 0);
	int lfd = accept_one(&listener);
	handshake_pair(cfd, lfd, key, key, c, l);
	close(cfd);
	close(lfd);
	net_listener_close(&listener);
	return true;
}

TEST(tcp_loopback_without_key_admitted)
{
	struct side c, l;
	REQUIRE(handshake_over("tcp:127.0.0.1:0", NULL, &c, &l));
	CHECK_EQ(c.result, 0);
	CHECK_EQ(l.result, 0);
	/* Keyed by the key file, so sealed, though both offer clear. */
	CHECK(c.offer_clear && l.offer_clear);
	CHECK(c.peer.aead != NET_AEAD_NONE);
	CHECK_EQ(c.peer.aead, l.peer.aead);
	if (handshake_over("tcp:[::1]:0", NULL, &c, &l)) {
		CHECK_EQ(c.result, 0);
		CHECK_EQ(l.result, 0);
	} else {
		printf("     (no IPv6 loopback here; skipped [::1])\n");
	}
	/* And with a key. */
	REQUIRE(handshake_over("tcp:127.0.0.1:0", "k3y", &c, &l));
	CHECK_EQ(c.result, 0);
	CHECK_EQ(l.result, 0);
}

/* In a private network namespace, give lo a non-loopback address and talk
 * to ourselves through it: without an explicit key both sides use the key
 * file, so the peer is admitted; a peer with another key file (another
 * user's) is refused. Skipped where namespaces are not allowed. */
static int non_loopback_child(void)
{
	if (unshare(CLONE_NEWNET) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
		return 77;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		return 77;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
		return 77;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo:1");
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "10.77.0.1", &sin->sin_addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) != 0)
		return 77;
	close(s);

	struct side c, l;
	if (!handshake_over("tcp:10.77.0.1:0", NULL, &c, &l))
		return 77;
	if (c.result != 0 || l.result != 0)
		return 1;
	if (!handshake_over("tcp:10.77.0.1:0", "k3y", &c, &l))
		return 77;
	return c.result == 0 && l.result == 0 ? 0 : 2;
}

TEST(tcp_non_loopback_with_key_file_admitted)
{
	fflush(NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(non_loopback_child());
	int status;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		printf("     (no network namespace here; skipped)\n");
	else
		CHECK_EQ(WEXITSTATUS(status), 0);
}

/* A connector with another key file (as another user would have) is
 * refused by both sides. */
TEST(tcp_other_key_file_refused)
{
	char other[128], mine[128];
	snprintf(other, sizeof other, "%s/other-key", key_dir);
	snprintf(mine, sizeof mine, "%s/key", key_dir);
	/* Each side's key is read when its handshake starts: the listener's
	 * from our file, the connector's from the other file. */
	struct net_auth_key kl, kc;
	const char *why;
	REQUIRE(net_auth_key_from_file(&kl, &why) == 0);
	setenv(NET_AUTH_KEY_FILE_ENV, other, 1);
	REQUIRE(net_auth_key_from_file(&kc, &why) == 0);
	setenv(NET_AUTH_KEY_FILE_ENV, mine, 1);
	CHECK(memcmp(kl.bytes, kc.bytes, sizeof kl.bytes) != 0);

	struct net_addr addr;
	struct net_listener listener;
	int cfd;
	REQUIRE(net_addr_parse("tcp:127.0.0.1:0", &addr) == 0);
	REQUIRE(net_listen(&addr, &listener) == 0);
	REQUIRE(net_connect(&listener.addr, TIMEOUT_MS, &cfd) == 0);
	int lfd = accept_one(&listener);
	struct side c = { .fd = cfd, .role = WIRE_ROLE_CONNECTOR, .node_id = 0x1001,
	                  .timeout_ms = TIMEOUT_MS, .key = kc };
	struct side l = { .fd = lfd, .role = WIRE_ROLE_LISTENER, .node_id = 0x2002,
	                  .timeout_ms = TIMEOUT_MS, .key = kl };
	pthread_t thread;
	REQUIRE(pthread_create(&thread, NULL, run_side, &l) == 0);
	run_side(&c);
	pthread_join(thread, NULL);
	CHECK_EQ(c.result, -EACCES);
	CHECK_EQ(l.result, -EACCES);
	close(cfd);
	close(lfd);
	net_listener_close(&listener);
}

TEST(unix_socket_file_is_0600)
{
	char dir[] = "/tmp/memobj-auth-XXXXXX", path[128], address[160];
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/node.sock", dir);
	snprintf(address, sizeof address, "unix:%s", path);

	/* Even with a permissive umask. */
	mode_t old = umask(0);
	struct net_addr addr;
	struct net_listener listener;
	REQUIRE(net_addr_parse(address, &addr) == 0);
	CHECK_EQ(net_listen(&addr, &listener), 0);
	umask(old);
	struct stat st;
	REQUIRE(lstat(path, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0600);
	net_listener_close(&listener);

	struct side c, l;
	REQUIRE(handshake_over(address, NULL, &c, &l));
	CHECK_EQ(c.result, 0);
	CHECK_EQ(l.result, 0);
	rmdir(dir);
}

int main(void)
{
	/* A key file of this run's own, not the user's. */
	snprintf(key_dir, sizeof key_dir, "/tmp/memobj-auth-keys-%ld", (long)getpid());
	REQUIRE(mkdir(key_dir, 0700) == 0);
	char path[128];
	snprintf(path, sizeof path, "%s/key", key_dir);
	setenv(NET_AUTH_KEY_FILE_ENV, path, 1);
	unsetenv(NET_AUTH_KEY_ENV);
	RUN(key_from_env);
	RUN(key_file_made_private_on_first_use);
	RUN(right_key_admitted);
	RUN(wrong_key_refused_by_both);
	RUN(key_on_one_side_only_refused);
	RUN(no_key_same_uid_unix_admitted);
	RUN(connection_to_self_refused);
	RUN(reflected_proof_refused);
	RUN(garbage_refused);
	RUN(silent_peer_times_out);
	RUN(peer_closing_is_reported);
	RUN(aead_negotiated_from_both_offers);
	RUN(clear_records_carry_bytes_as_they_are);
	RUN(aead_offer_cannot_be_stripped);
	RUN(tcp_loopback_without_key_admitted);
	RUN(tcp_non_loopback_with_key_file_admitted);
	RUN(tcp_other_key_file_refused);
	RUN(unix_socket_file_is_0600);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf %s", key_dir);
	if (system(cmd) != 0)
		printf("     (could not remove %s)\n", key_dir);
	return harness_done();
}
