/* SHA-256 and HMAC-SHA256 against the published vectors, then the link
 * handshake: right key admitted, wrong key or a key on one side refused
 * by both sides, a reflected proof refused, no key over loopback TCP
 * admitted, no key from a non-loopback address refused, Unix socket file
 * created 0600. Every wait is bounded by the handshake's timeout. */
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
#include "../src/net/hmac_sha256.h"
#include "../src/net/net_auth.h"
#include "../src/net/net_socket.h"
#include "../src/net/sha256.h"

#define TIMEOUT_MS 5000

static void hex_to_bytes(const char *hex, uint8_t *out, size_t *len)
{
	size_t n = 0;
	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;
		REQUIRE(sscanf(hex, "%2x", &v) == 1);
		out[n++] = (uint8_t)v;
	}
	*len = n;
}

static bool digest_is(const uint8_t *digest, size_t n, const char *hex)
{
	uint8_t want[64];
	size_t len;
	hex_to_bytes(hex, want, &len);
	return len == n && memcmp(digest, want, n) == 0;
}

/* ---- SHA-256: FIPS 180-2 appendix B and the NIST example vectors ---- */

TEST(sha256_vectors)
{
	uint8_t d[NET_SHA256_DIGEST_SIZE];

	net_sha256("", 0, d);
	CHECK(digest_is(d, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	net_sha256("abc", 3, d);
	CHECK(digest_is(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	net_sha256(two_blocks, strlen(two_blocks), d);
	CHECK(digest_is(d, 32, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
	const char *long_msg = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
	                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	net_sha256(long_msg, strlen(long_msg), d);
	CHECK(digest_is(d, 32, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"));
}

/* One million 'a', fed in uneven pieces to cross every block boundary case. */
TEST(sha256_million_a_in_pieces)
{
	static uint8_t a[1000];
	struct net_sha256 ctx;
	uint8_t d[NET_SHA256_DIGEST_SIZE];
	size_t fed = 0, piece = 1;

	memset(a, 'a', sizeof a);
	net_sha256_init(&ctx);
	while (fed < 1000000) {
		size_t n = piece < 1000000 - fed ? piece : 1000000 - fed;
		net_sha256_update(&ctx, a, n);
		fed += n;
		piece = piece % 997 + 1 + piece / 3 % 7;
	}
	net_sha256_final(&ctx, d);
	CHECK(digest_is(d, 32, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

/* Lengths around the padding boundary (55, 56, 63, 64 bytes), one-shot
 * against byte-at-a-time. */
TEST(sha256_padding_edges)
{
	uint8_t msg[130], d1[32], d2[32];
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (uint8_t)(i * 31 + 7);
	for (size_t len = 0; len <= sizeof msg; len++) {
		struct net_sha256 ctx;
		net_sha256(msg, len, d1);
		net_sha256_init(&ctx);
		for (size_t i = 0; i < len; i++)
			net_sha256_update(&ctx, msg + i, 1);
		net_sha256_final(&ctx, d2);
		CHECK(memcmp(d1, d2, 32) == 0);
	}
	/* 56 'a' bytes: the length no longer fits in the first block. */
	memset(msg, 'a', 56);
	net_sha256(msg, 56, d1);
	CHECK(digest_is(d1, 32, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"));
}

/* ---- HMAC-SHA256: RFC 4231 test cases 1 to 7 ---- */

TEST(hmac_sha256_rfc4231)
{
	struct {
		const char *key_hex, *data_hex, *mac_hex;
		size_t mac_len;
	} cases[] = {
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32 },
		{ "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32 },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
		  "dddddddddddddddd",
		  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32 },
		{ "0102030405060708090a0b0c0d0e0f10111213141516171819",
		  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
		  "cdcdcdcdcdcdcdcd",
		  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32 },
		{ "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "546573742057697468205472756e636174696f6e",
		  "a3b6167473100ee06e0c796c2955552b", 16 },
		{ NULL,   /* 131 bytes of 0xaa */
		  "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048"
		  "617368204b6579204669727374",
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32 },
		{ NULL,   /* 131 bytes of 0xaa */
		  "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d"
		  "73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174"
		  "612e20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e"
		  "6720757365642062792074686520484d414320616c676f726974686d2e",
		  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t key[256], data[256], mac[32];
		size_t key_len, data_len;
		if (cases[i].key_hex != NULL) {
			hex_to_bytes(cases[i].key_hex, key, &key_len);
		} else {
			key_len = 131;
			memset(key, 0xaa, key_len);
		}
		hex_to_bytes(cases[i].data_hex, data, &data_len);
		net_hmac_sha256(key, key_len, data, data_len, mac);
		if (!digest_is(mac, cases[i].mac_len, cases[i].mac_hex)) {
			fprintf(stderr, "RFC 4231 case %zu\n", i + 1);
			CHECK(!"HMAC mismatch");
		}
	}
}

TEST(constant_time_compare)
{
	uint8_t a[32], b[32];
	memset(a, 7, sizeof a);
	memcpy(b, a, sizeof b);
	CHECK(net_equal_constant_time(a, b, 32));
	CHECK(net_equal_constant_time(a, b, 0));
	for (size_t i = 0; i < 32; i++) {
		b[i] ^= 0x01;
		CHECK(!net_equal_constant_time(a, b, 32));
		b[i] ^= 0x01;
	}
}

TEST(key_from_env)
{
	struct net_auth_key key;
	unsetenv(NET_AUTH_KEY_ENV);
	net_auth_key_from_env(&key);
	CHECK(!key.present);
	setenv(NET_AUTH_KEY_ENV, "", 1);
	net_auth_key_from_env(&key);
	CHECK(!key.present);
	setenv(NET_AUTH_KEY_ENV, "s3cret", 1);
	net_auth_key_from_env(&key);
	CHECK(key.present && key.len == 6 && memcmp(key.bytes, "s3cret", 6) == 0);
	unsetenv(NET_AUTH_KEY_ENV);

	/* A key longer than a block is kept as its hash, as HMAC would use it. */
	char long_key[100];
	uint8_t mac1[32], mac2[32];
	memset(long_key, 'k', sizeof long_key);
	net_auth_key_set(&key, long_key, sizeof long_key);
	CHECK(key.present && key.len == 32);
	net_hmac_sha256(key.bytes, key.len, "x", 1, mac1);
	net_hmac_sha256(long_key, sizeof long_key, "x", 1, mac2);
	CHECK(memcmp(mac1, mac2, 32) == 0);
	net_auth_key_clear(&key);
	CHECK(!key.present);
}

/* ---- the handshake ---- */

struct side {
	int fd;
	enum wire_role role;
	uint64_t node_id;
	struct net_auth_key key;
	int timeout_ms;
	int result;
	struct net_auth_peer peer;
};

static void *run_side(void *arg)
{
	struct side *s = arg;
	s->result = net_auth_handshake(s->fd, s->role, s->node_id, &s->key, s->timeout_ms,
	                               &s->peer);
	/* Closing tells a peer still waiting that we are done with it. */
	if (s->result != 0)
		shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

/* Runs both sides of a handshake over two connected sockets. */
static void handshake_pair(int fd_connector, int fd_listener, const char *key_connector,
                           const char *key_listener, struct side *c, struct side *l)
{
	*c = (struct side){ .fd = fd_connector, .role = WIRE_ROLE_CONNECTOR, .node_id = 0x1001,
	                    .timeout_ms = TIMEOUT_MS };
	*l = (struct side){ .fd = fd_listener, .role = WIRE_ROLE_LISTENER, .node_id = 0x2002,
	                    .timeout_ms = TIMEOUT_MS };
	net_auth_key_set(&c->key, key_connector, key_connector ? strlen(key_connector) : 0);
	net_auth_key_set(&l->key, key_listener, key_listener ? strlen(key_listener) : 0);
	pthread_t thread;
	REQUIRE(pthread_create(&thread, NULL, run_side, l) == 0);
	run_side(c);
	pthread_join(thread, NULL);
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

	/* The handshake consumed exactly its own frames: what follows arrives
	 * intact. */
	struct wire_ping ping = { 0xfeedface };
	uint8_t buf[WIRE_PING_SIZE];
	size_t len;
	struct wire_frame f;
	CHECK_EQ(wire_encode_ping(buf, sizeof buf, &ping, &len), WIRE_OK);
	CHECK_EQ(net_write_full(fds[0], buf, len, net_now_ms() + TIMEOUT_MS), 0);
	memset(buf, 0, sizeof buf);
	CHECK_EQ(net_read_full(fds[1], buf, len, net_now_ms() + TIMEOUT_MS), 0);
	CHECK_EQ(wire_frame_decode(buf, len, &f), WIRE_OK);
	CHECK(f.u.ping.cookie == 0xfeedface);
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
	                            .flags = WIRE_HELLO_KEYED, .max_version = 1 };
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
 * to ourselves through it: without a key the peer must be refused, with
 * a key admitted. Skipped where namespaces are not allowed. */
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
	if (c.result == 0 || l.result != -EACCES)
		return 1;
	if (!handshake_over("tcp:10.77.0.1:0", "k3y", &c, &l))
		return 77;
	return c.result == 0 && l.result == 0 ? 0 : 2;
}

TEST(tcp_non_loopback_without_key_refused)
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
	RUN(sha256_vectors);
	RUN(sha256_million_a_in_pieces);
	RUN(sha256_padding_edges);
	RUN(hmac_sha256_rfc4231);
	RUN(constant_time_compare);
	RUN(key_from_env);
	RUN(right_key_admitted);
	RUN(wrong_key_refused_by_both);
	RUN(key_on_one_side_only_refused);
	RUN(no_key_same_uid_unix_admitted);
	RUN(connection_to_self_refused);
	RUN(reflected_proof_refused);
	RUN(garbage_refused);
	RUN(silent_peer_times_out);
	RUN(peer_closing_is_reported);
	RUN(tcp_loopback_without_key_admitted);
	RUN(tcp_non_loopback_without_key_refused);
	RUN(unix_socket_file_is_0600);
	return harness_done();
}
