/* Link sockets: address parsing, Unix socket files (stale ones replaced,
 * live ones and other files left alone, only our own removed on close),
 * TCP with an ephemeral port, and descriptor flags. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "../src/net/net_socket.h"

#define TIMEOUT_MS 5000

static char dir[] = "/tmp/memobj-sock-XXXXXX";

static void unix_address(const char *name, char *address, size_t cap, char *path, size_t pcap)
{
	snprintf(path, pcap, "%s/%s", dir, name);
	snprintf(address, cap, "unix:%s", path);
}

TEST(parse_good_addresses)
{
	struct net_addr a;
	char name[NET_ADDR_NAME_MAX];

	CHECK_EQ(net_addr_parse("unix:/tmp/x.sock", &a), 0);
	CHECK_EQ(a.kind, NET_ADDR_UNIX);
	net_sockaddr_name((struct sockaddr *)&a.sa, a.sa_len, name, sizeof name);
	CHECK(strcmp(name, "unix:/tmp/x.sock") == 0);

	CHECK_EQ(net_addr_parse("unix:relative.sock", &a), 0);

	CHECK_EQ(net_addr_parse("tcp:127.0.0.1:4000", &a), 0);
	CHECK_EQ(a.kind, NET_ADDR_TCP);
	CHECK_EQ(a.sa.ss_family, AF_INET);
	net_sockaddr_name((struct sockaddr *)&a.sa, a.sa_len, name, sizeof name);
	CHECK(strcmp(name, "tcp:127.0.0.1:4000") == 0);

	CHECK_EQ(net_addr_parse("tcp:[::1]:65535", &a), 0);
	CHECK_EQ(a.sa.ss_family, AF_INET6);
	net_sockaddr_name((struct sockaddr *)&a.sa, a.sa_len, name, sizeof name);
	CHECK(strcmp(name, "tcp:[::1]:65535") == 0);

	CHECK_EQ(net_addr_parse("tcp:0.0.0.0:0", &a), 0);
	CHECK_EQ(net_addr_parse("tcp:[::]:7", &a), 0);
	CHECK_EQ(net_addr_parse("tcp:localhost:80", &a), 0);

	/* The longest path that fits sun_path. */
	char text[200] = "unix:";
	memset(text + 5, 'p', sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	CHECK_EQ(net_addr_parse(text, &a), 0);
}

TEST(parse_bad_addresses)
{
	struct net_addr a;
	const char *bad[] = {
		"", "unix:", "tcp:", "udp:1.2.3.4:5", "UNIX:/x", "/tmp/x.sock",
		"tcp:127.0.0.1", "tcp:127.0.0.1:", "tcp::80", "tcp:127.0.0.1:65536",
		"tcp:127.0.0.1:-1", "tcp:127.0.0.1:8x", "tcp:127.0.0.1:000080",
		"tcp:127.0.0.1:80:90", "tcp:::1:80", "tcp:[::1]80", "tcp:[::1]:",
		"tcp:[::1", "tcp:[]:80", "tcp:[127.0.0.1]:80", "tcp:[nonsense]:80",
		"tcp:[::1]:80x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = net_addr_parse(bad[i], &a);
		if (rc != -EINVAL)
			fprintf(stderr, "address \"%s\" gave %d\n", bad[i], rc);
		CHECK_EQ(rc, -EINVAL);
	}
	CHECK_EQ(net_addr_parse(NULL, &a), -EINVAL);

	char text[300] = "unix:";
	memset(text + 5, 'p', sizeof(((struct sockaddr_un *)0)->sun_path));
	CHECK_EQ(net_addr_parse(text, &a), -ENAMETOOLONG);

	static char huge[NET_ADDR_TEXT_MAX + 10];
	memcpy(huge, "tcp:", 4);
	memset(huge + 4, 'h', sizeof huge - 5);
	CHECK_EQ(net_addr_parse(huge, &a), -EINVAL);
	/* (An unknown host name gives -EADDRNOTAVAIL; not tested, it needs DNS.) */
}

static bool fd_flags_ok(int fd)
{
	return (fcntl(fd, F_GETFD) & FD_CLOEXEC) && (fcntl(fd, F_GETFL) & O_NONBLOCK);
}

static int accept_one(struct net_listener *l)
{
	struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
	int fd = -1;
	REQUIRE(poll(&pfd, 1, TIMEOUT_MS) == 1);
	REQUIRE(net_accept(l, &fd) == 0);
	return fd;
}

TEST(tcp_listen_connect_accept)
{
	struct net_addr a;
	struct net_listener l;
	int c, s;

	REQUIRE(net_addr_parse("tcp:127.0.0.1:0", &a) == 0);
	REQUIRE(net_listen(&a, &l) == 0);
	CHECK(fd_flags_ok(l.fd));
	CHECK(ntohs(((struct sockaddr_in *)&l.addr.sa)->sin_port) != 0);
	CHECK_EQ(net_accept(&l, &s), -EAGAIN);

	REQUIRE(net_connect(&l.addr, TIMEOUT_MS, &c) == 0);
	s = accept_one(&l);
	CHECK(fd_flags_ok(c));
	CHECK(fd_flags_ok(s));

	char buf[5000], got[5000];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)i;
	CHECK_EQ(net_write_full(c, buf, sizeof buf, net_now_ms() + TIMEOUT_MS), 0);
	CHECK_EQ(net_read_full(s, got, sizeof got, net_now_ms() + TIMEOUT_MS), 0);
	CHECK(memcmp(buf, got, sizeof buf) == 0);

	/* A short read before the peer closes reports the close. */
	CHECK_EQ(net_write_full(c, buf, 10, net_now_ms() + TIMEOUT_MS), 0);
	close(c);
	CHECK_EQ(net_read_full(s, got, 11, net_now_ms() + TIMEOUT_MS), -ECONNRESET);
	/* Nothing to read: the deadline bounds the wait. */
	close(s);
	REQUIRE(net_connect(&l.addr, TIMEOUT_MS, &c) == 0);
	s = accept_one(&l);
	CHECK_EQ(net_read_full(s, got, 1, net_now_ms() + 50), -ETIMEDOUT);
	close(c);
	close(s);

	struct net_addr dead = l.addr;
	net_listener_close(&l);
	CHECK_EQ(net_connect(&dead, TIMEOUT_MS, &c), -ECONNREFUSED);

	REQUIRE(net_addr_parse("tcp:127.0.0.1:0", &a) == 0);
	CHECK_EQ(net_connect(&a, TIMEOUT_MS, &c), -EINVAL);   /* port 0 */
}

TEST(unix_listen_connect)
{
	char address[256], path[200];
	struct net_addr a;
	struct net_listener l;
	struct stat st;
	int c, s;

	unix_address("plain.sock", address, sizeof address, path, sizeof path);
	REQUIRE(net_addr_parse(address, &a) == 0);
	REQUIRE(net_listen(&a, &l) == 0);
	CHECK(fd_flags_ok(l.fd));
	REQUIRE(lstat(path, &st) == 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	REQUIRE(net_connect(&a, TIMEOUT_MS, &c) == 0);
	s = accept_one(&l);
	CHECK(fd_flags_ok(s));
	CHECK(fd_flags_ok(c));
	close(c);
	close(s);
	net_listener_close(&l);
	CHECK(lstat(path, &st) != 0 && errno == ENOENT);
	CHECK_EQ(net_connect(&a, TIMEOUT_MS, &c), -ENOENT);
}

TEST(unix_stale_socket_replaced)
{
	char address[256], path[200];
	struct net_addr a;
	struct net_listener l;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	unix_address("stale.sock", address, sizeof address, path, sizeof path);
	REQUIRE(net_addr_parse(address, &a) == 0);
	/* A socket file left behind by a process that exited. */
	int old = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sun.sun_path, path);
	REQUIRE(bind(old, (struct sockaddr *)&sun, sizeof sun) == 0);
	close(old);

	CHECK_EQ(net_listen(&a, &l), 0);
	int c;
	CHECK_EQ(net_connect(&a, TIMEOUT_MS, &c), 0);
	close(c);
	net_listener_close(&l);
}

TEST(unix_live_socket_kept)
{
	char address[256], path[200];
	struct net_addr a;
	struct net_listener first, second;
	struct stat before, after;

	unix_address("live.sock", address, sizeof address, path, sizeof path);
	REQUIRE(net_addr_parse(address, &a) == 0);
	REQUIRE(net_listen(&a, &first) == 0);
	REQUIRE(lstat(path, &before) == 0);
	CHECK_EQ(net_listen(&a, &second), -EADDRINUSE);
	REQUIRE(lstat(path, &after) == 0);
	CHECK(before.st_ino == after.st_ino);
	int c;
	CHECK_EQ(net_connect(&a, TIMEOUT_MS, &c), 0);
	close(c);
	net_listener_close(&first);
}

TEST(unix_other_file_kept)
{
	char address[256], path[200];
	struct net_addr a;
	struct net_listener l;
	struct stat st;

	unix_address("regular", address, sizeof address, path, sizeof path);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "keep", 4) == 4);
	close(fd);
	REQUIRE(net_addr_parse(address, &a) == 0);
	CHECK_EQ(net_listen(&a, &l), -EADDRINUSE);
	REQUIRE(lstat(path, &st) == 0);
	CHECK(S_ISREG(st.st_mode) && st.st_size == 4);
	unlink(path);
}

/* Close removes the socket file only while it is still the one we made. */
TEST(unix_close_leaves_a_replaced_file)
{
	char address[256], path[200];
	struct net_addr a;
	struct net_listener l;
	struct stat st;

	unix_address("replaced.sock", address, sizeof address, path, sizeof path);
	REQUIRE(net_addr_parse(address, &a) == 0);
	REQUIRE(net_listen(&a, &l) == 0);
	REQUIRE(unlink(path) == 0);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	net_listener_close(&l);
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	unlink(path);
}

/* A peer that has gone away reads and writes as the same error. */
TEST(closed_peer_is_econnreset_both_ways)
{
	int fds[2];
	char byte = 'x';
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
	close(fds[1]);
	CHECK_EQ(net_write_full(fds[0], &byte, 1, net_now_ms() + TIMEOUT_MS), -ECONNRESET);
	CHECK_EQ(net_read_full(fds[0], &byte, 1, net_now_ms() + TIMEOUT_MS), -ECONNRESET);
	close(fds[0]);
}

int main(void)
{
	REQUIRE(mkdtemp(dir) != NULL);
	RUN(parse_good_addresses);
	RUN(parse_bad_addresses);
	RUN(tcp_listen_connect_accept);
	RUN(unix_listen_connect);
	RUN(unix_stale_socket_replaced);
	RUN(unix_live_socket_kept);
	RUN(unix_other_file_kept);
	RUN(unix_close_leaves_a_replaced_file);
	RUN(closed_peer_is_econnreset_both_ways);
	rmdir(dir);
	return harness_done();
}
