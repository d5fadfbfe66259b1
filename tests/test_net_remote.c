/* Ports and rights between processes (nodes) over Unix sockets: messages
 * with port rights and OOL data, no-senders and dead names across nodes,
 * a receive right with queued messages moving there and back, a peer
 * with the wrong key, a peer killed. The other node is this program
 * re-executed (tests/net_peer.h). */
#include <mach/mach.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "harness.h"
#include "net_peer.h"

#define ECHO_ID    100   /* reply with the same message */
#define DESTROY_ID 101   /* destroy the "victim" port, reply empty */
#define DROP_ID    102   /* drop what the message carries, reply empty */
#define RCV_TIMEOUT 20000

static char dir[64];
static char addr[128];

/* ---- the peer ---- */

static int peer_echo(const char *address)
{
	mach_port_t echo, victim;
	if (memobj_listen(address) != KERN_SUCCESS)
		return 2;
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &echo);
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &victim);
	if (netname_check_in(MACH_PORT_NULL, "echo", MACH_PORT_NULL, echo) != KERN_SUCCESS ||
	    netname_check_in(MACH_PORT_NULL, "victim", MACH_PORT_NULL, victim) != KERN_SUCCESS)
		return 3;
	peer_say("ready");
	union { mach_msg_header_t h; uint8_t b[1 << 16]; } *buf = malloc(sizeof *buf);
	for (;;) {
		mach_msg_return_t mr = mach_msg(&buf->h, MACH_RCV_MSG, 0, sizeof *buf, echo,
		        MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
		if (mr != MACH_MSG_SUCCESS)
			return 4;
		mach_msg_header_t *h = &buf->h;
		mach_port_t reply = h->msgh_remote_port;
		mach_msg_type_name_t reply_type = MACH_MSGH_BITS_REMOTE(h->msgh_bits);
		if (h->msgh_id == ECHO_ID) {
			/* Received types are the MOVE dispositions: send it back
			 * as it came, OOL regions handed over. */
			if (h->msgh_bits & MACH_MSGH_BITS_COMPLEX) {
				mach_msg_body_t *body = (mach_msg_body_t *)(h + 1);
				mach_msg_descriptor_t *d = (mach_msg_descriptor_t *)(body + 1);
				uint8_t *p = (uint8_t *)d;
				for (mach_msg_size_t i = 0; i < body->msgh_descriptor_count; i++) {
					mach_msg_type_descriptor_t *t = (void *)p;
					if (t->type == MACH_MSG_PORT_DESCRIPTOR) {
						p += sizeof(mach_msg_port_descriptor_t);
					} else {
						mach_msg_ool_descriptor_t *o = (void *)p;
						o->deallocate = TRUE;
						p += sizeof(mach_msg_ool_descriptor_t);
					}
				}
			}
			h->msgh_bits = (h->msgh_bits & MACH_MSGH_BITS_COMPLEX) |
			        MACH_MSGH_BITS(reply_type, 0);
			h->msgh_remote_port = reply;
			h->msgh_local_port = MACH_PORT_NULL;
			h->msgh_id = ECHO_ID + 100;
			if (mach_msg(h, MACH_SEND_MSG, h->msgh_size, 0, MACH_PORT_NULL, 0,
			        MACH_PORT_NULL) != MACH_MSG_SUCCESS)
				mach_msg_destroy(h);
			continue;
		}
		if (h->msgh_id == DESTROY_ID)
			mach_port_destroy(mach_task_self(), victim);
		h->msgh_remote_port = MACH_PORT_NULL;
		h->msgh_bits &= ~MACH_MSGH_BITS_REMOTE_MASK;
		mach_msg_destroy(h);
		mach_msg_header_t r = {
			.msgh_bits = MACH_MSGH_BITS(reply_type, 0),
			.msgh_size = sizeof r,
			.msgh_remote_port = reply,
			.msgh_id = h->msgh_id + 100,
		};
		if (mach_msg(&r, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL)
		        != MACH_MSG_SUCCESS)
			mach_port_deallocate(mach_task_self(), reply);
	}
}

/* ---- the tests ---- */

struct rcvbuf {
	union {
		mach_msg_header_t h;
		uint8_t b[1 << 16];
	};
};

static mach_port_t new_port(void)
{
	mach_port_t p = MACH_PORT_NULL;
	mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p);
	return p;
}

static struct peer echo_peer;
static mach_port_t echo_ns, echo_port;

static mach_msg_return_t receive(mach_port_t port, struct rcvbuf *b, mach_msg_timeout_t ms)
{
	return mach_msg(&b->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port, ms,
	        MACH_PORT_NULL);
}

TEST(echo_peer_starts)
{
	const char *args[] = { "echo", addr, NULL };
	REQUIRE(peer_start(&echo_peer, NULL, NULL, args) == 0);
	REQUIRE(peer_expect(&echo_peer, "ready", PEER_TIMEOUT_MS) != NULL);
	struct stat st;
	REQUIRE(stat(addr + 5, &st) == 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(memobj_connect(addr, &echo_ns), KERN_SUCCESS);
	CHECK_EQ(netname_look_up(echo_ns, "", "echo", &echo_port), KERN_SUCCESS);
	CHECK(MACH_PORT_VALID(echo_port));
	mach_port_t none;
	CHECK_EQ(netname_look_up(echo_ns, "", "nobody-checked-this-in", &none), 2501);
}

TEST(bad_arguments)
{
	mach_port_t ns;
	CHECK_EQ(memobj_listen(NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memobj_listen("carrier-pigeon:1"), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memobj_connect(addr, NULL), KERN_INVALID_ARGUMENT);
	CHECK_EQ(memobj_connect("tcp:nohost", &ns), KERN_INVALID_ARGUMENT);
	char nowhere[128];
	snprintf(nowhere, sizeof nowhere, "unix:%s/nobody-listens", dir);
	CHECK_EQ(memobj_connect(nowhere, &ns), KERN_NODE_DOWN);
	CHECK_EQ(netname_check_in(MACH_PORT_NULL, NULL, MACH_PORT_NULL, echo_port),
	         KERN_INVALID_ARGUMENT);
	CHECK_EQ(netname_look_up(echo_ns, "", "", &ns), KERN_INVALID_ARGUMENT);
	CHECK_EQ(netname_check_in(MACH_PORT_NULL, "x", MACH_PORT_NULL, 0x12345),
	         KERN_INVALID_ARGUMENT);
}

struct echo_msg {
	mach_msg_header_t h;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t port;
	mach_msg_ool_descriptor_t ool;
	char text[16];
};

TEST(rights_and_ool_go_there_and_back)
{
	mach_port_t reply = new_port(), p = new_port();
	size_t len = 200 * 1024 + 123;
	uint8_t *data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	struct echo_msg m = {
		.h = { .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
		                    MACH_MSG_TYPE_MAKE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX,
		       .msgh_size = sizeof m, .msgh_remote_port = echo_port,
		       .msgh_local_port = reply, .msgh_id = ECHO_ID },
		.body = { 2 },
		.port = { .name = p, .disposition = MACH_MSG_TYPE_MAKE_SEND,
		          .type = MACH_MSG_PORT_DESCRIPTOR },
		.ool = { .address = data, .size = (mach_msg_size_t)len, .deallocate = FALSE,
		         .copy = MACH_MSG_VIRTUAL_COPY, .type = MACH_MSG_OOL_DESCRIPTOR },
		.text = "hello, node",
	};
	CHECK_EQ(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0), MACH_MSG_SUCCESS);
	struct rcvbuf *b = malloc(sizeof *b);
	CHECK_EQ(receive(reply, b, RCV_TIMEOUT), MACH_MSG_SUCCESS);
	struct echo_msg *r = (struct echo_msg *)&b->h;
	CHECK_EQ(r->h.msgh_id, ECHO_ID + 100);
	CHECK_EQ(r->h.msgh_size, sizeof m);
	CHECK_EQ(r->body.msgh_descriptor_count, 2);
	/* Our own port came back: the same name. */
	CHECK_EQ(r->port.name, p);
	CHECK_EQ(r->port.disposition, MACH_MSG_TYPE_PORT_SEND);
	CHECK_EQ(r->ool.size, len);
	CHECK(r->ool.address != NULL && memcmp(r->ool.address, data, len) == 0);
	CHECK(strcmp(r->text, "hello, node") == 0);
	vm_deallocate(mach_task_self(), (vm_address_t)r->ool.address, r->ool.size);
	mach_port_deallocate(mach_task_self(), p);
	mach_port_urefs_t refs = 9;
	CHECK_EQ(mach_port_get_refs(mach_task_self(), p, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
	CHECK_EQ(refs, 0);
	mach_port_destroy(mach_task_self(), p);
	mach_port_destroy(mach_task_self(), reply);
	free(b);
	free(data);
}

static void send_simple(mach_port_t dest, mach_msg_id_t id, mach_port_t reply,
        mach_port_t carry, mach_msg_type_name_t carry_disp)
{
	struct {
		mach_msg_header_t h;
		mach_msg_body_t body;
		mach_msg_port_descriptor_t port;
	} m = {
		.h = { .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
		                    reply ? MACH_MSG_TYPE_MAKE_SEND_ONCE : 0) | MACH_MSGH_BITS_COMPLEX,
		       .msgh_size = sizeof m, .msgh_remote_port = dest,
		       .msgh_local_port = reply, .msgh_id = id },
		.body = { 1 },
		.port = { .name = carry, .disposition = carry_disp,
		          .type = MACH_MSG_PORT_DESCRIPTOR },
	};
	CHECK_EQ(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, 0, 0, 0), MACH_MSG_SUCCESS);
}

TEST(no_senders_across_nodes)
{
	mach_port_t p = new_port(), notify = new_port(), reply = new_port(), prev;
	CHECK_EQ(mach_port_request_notification(mach_task_self(), p, MACH_NOTIFY_NO_SENDERS, 0,
	         notify, MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	/* The peer gets a send right and drops it: only then no senders. */
	send_simple(echo_port, DROP_ID, reply, p, MACH_MSG_TYPE_MAKE_SEND);
	struct rcvbuf *b = malloc(sizeof *b);
	CHECK_EQ(receive(reply, b, RCV_TIMEOUT), MACH_MSG_SUCCESS);
	CHECK_EQ(receive(notify, b, RCV_TIMEOUT), MACH_MSG_SUCCESS);
	CHECK_EQ(b->h.msgh_id, MACH_NOTIFY_NO_SENDERS);
	mach_port_destroy(mach_task_self(), p);
	mach_port_destroy(mach_task_self(), notify);
	mach_port_destroy(mach_task_self(), reply);
	free(b);
}

TEST(dead_name_across_nodes)
{
	mach_port_t victim, notify = new_port(), reply = new_port(), prev;
	CHECK_EQ(netname_look_up(echo_ns, "", "victim", &victim), KERN_SUCCESS);
	CHECK_EQ(mach_port_request_notification(mach_task_self(), victim, MACH_NOTIFY_DEAD_NAME, 0,
	         notify, MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	send_simple(echo_port, DESTROY_ID, reply, MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND);
	struct rcvbuf *b = malloc(sizeof *b);
	CHECK_EQ(receive(reply, b, RCV_TIMEOUT), MACH_MSG_SUCCESS);
	CHECK_EQ(receive(notify, b, RCV_TIMEOUT), MACH_MSG_SUCCESS);
	CHECK_EQ(b->h.msgh_id, MACH_NOTIFY_DEAD_NAME);
	CHECK_EQ(((mach_dead_name_notification_t *)&b->h)->not_port, victim);
	mach_port_type_t type = 0;
	CHECK_EQ(mach_port_type(mach_task_self(), victim, &type), KERN_SUCCESS);
	CHECK(type & MACH_PORT_TYPE_DEAD_NAME);
	mach_port_destroy(mach_task_self(), victim);
	mach_port_destroy(mach_task_self(), notify);
	mach_port_destroy(mach_task_self(), reply);
	free(b);
}

TEST(receive_right_with_its_queue_goes_and_comes_back)
{
	mach_port_t q = new_port(), reply = new_port();
	for (int i = 0; i < 3; i++) {
		mach_msg_header_t h = { .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		                        .msgh_size = sizeof h, .msgh_remote_port = q,
		                        .msgh_id = 500 + i };
		CHECK_EQ(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, 0, 0, 0), MACH_MSG_SUCCESS);
	}
	send_simple(echo_port, ECHO_ID, reply, q, MACH_MSG_TYPE_MOVE_RECEIVE);
	struct rcvbuf *b = malloc(sizeof *b);
	CHECK_EQ(receive(reply, b, RCV_TIMEOUT), MACH_MSG_SUCCESS);
	mach_msg_port_descriptor_t *pd =
	        (mach_msg_port_descriptor_t *)((uint8_t *)&b->h + sizeof(mach_msg_base_t));
	CHECK_EQ(pd->disposition, MACH_MSG_TYPE_PORT_RECEIVE);
	mach_port_t back = pd->name;
	CHECK(MACH_PORT_VALID(back));
	/* The queue travelled with it, in order, and seqnos restart. */
	for (int i = 0; i < 3; i++) {
		mach_msg_return_t mr = mach_msg(&b->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT |
		        MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
		        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO),
		        0, sizeof *b, back, RCV_TIMEOUT, MACH_PORT_NULL);
		CHECK_EQ(mr, MACH_MSG_SUCCESS);
		CHECK_EQ(b->h.msgh_id, 500 + i);
		mach_msg_seqno_trailer_t *t = (void *)((uint8_t *)&b->h + round_msg(b->h.msgh_size));
		CHECK_EQ(t->msgh_seqno, (mach_port_seqno_t)i);
	}
	mach_port_destroy(mach_task_self(), back);
	mach_port_destroy(mach_task_self(), reply);
	free(b);
}

TEST(wrong_key_is_refused)
{
	char addr2[128];
	snprintf(addr2, sizeof addr2, "unix:%s/keyed", dir);
	struct peer keyed;
	const char *env[] = { "MEMOBJ_KEY=the right key", NULL };
	const char *args[] = { "echo", addr2, NULL };
	REQUIRE(peer_start(&keyed, NULL, env, args) == 0);
	REQUIRE(peer_expect(&keyed, "ready", PEER_TIMEOUT_MS) != NULL);
	mach_port_t ns = MACH_PORT_NULL;
	setenv("MEMOBJ_KEY", "a wrong key", 1);
	CHECK_EQ(memobj_connect(addr2, &ns), KERN_FAILURE);
	CHECK_EQ(ns, MACH_PORT_NULL);
	unsetenv("MEMOBJ_KEY");
	CHECK_EQ(memobj_connect(addr2, &ns), KERN_FAILURE);   /* no key at all */
	setenv("MEMOBJ_KEY", "the right key", 1);
	CHECK_EQ(memobj_connect(addr2, &ns), KERN_SUCCESS);
	unsetenv("MEMOBJ_KEY");
	mach_port_t e;
	CHECK_EQ(netname_look_up(ns, "", "echo", &e), KERN_SUCCESS);
	peer_stop(&keyed);
}

TEST(killed_peer_makes_dead_names)
{
	mach_port_t notify = new_port(), prev;
	CHECK_EQ(mach_port_request_notification(mach_task_self(), echo_port,
	         MACH_NOTIFY_DEAD_NAME, 0, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
	         KERN_SUCCESS);
	peer_kill(&echo_peer);
	struct rcvbuf *b = malloc(sizeof *b);
	CHECK_EQ(receive(notify, b, RCV_TIMEOUT), MACH_MSG_SUCCESS);
	CHECK_EQ(b->h.msgh_id, MACH_NOTIFY_DEAD_NAME);
	CHECK_EQ(((mach_dead_name_notification_t *)&b->h)->not_port, echo_port);
	/* The name server's proxy died with the link too. */
	mach_port_t x;
	CHECK_EQ(netname_look_up(echo_ns, "", "echo", &x), KERN_NODE_DOWN);
	mach_port_destroy(mach_task_self(), notify);
	free(b);
}

/* A link's reader waits (in poll on a Unix link, in recv on TCP) with a
 * timeout of one ping interval
 * (MEMOBJ_PING_MS, 1 s here: long enough that a loaded machine does not
 * starve a reader for three of them): an idle link whose peer answers
 * pings stays up past three intervals; a peer that stops answering
 * (frozen, not dead: its socket stays open) is dropped, and its ports
 * become dead names. */
TEST(idle_link_stays_frozen_peer_goes)
{
	char faddr[128];
	snprintf(faddr, sizeof faddr, "unix:%s/frozen", dir);
	struct peer p;
	const char *args[] = { "echo", faddr, NULL };
	REQUIRE(peer_start(&p, NULL, NULL, args) == 0);
	REQUIRE(peer_expect(&p, "ready", PEER_TIMEOUT_MS) != NULL);
	mach_port_t ns, port, x;
	CHECK_EQ(memobj_connect(faddr, &ns), KERN_SUCCESS);
	CHECK_EQ(netname_look_up(ns, "", "echo", &port), KERN_SUCCESS);
	/* Idle for four ping intervals (a receive that times out). */
	mach_port_t idle = new_port(), notify = new_port(), prev;
	struct rcvbuf *b = malloc(sizeof *b);
	CHECK_EQ(receive(idle, b, 4000), MACH_RCV_TIMED_OUT);
	CHECK_EQ(netname_look_up(ns, "", "echo", &x), KERN_SUCCESS);
	mach_port_deallocate(mach_task_self(), x);
	CHECK_EQ(mach_port_request_notification(mach_task_self(), port, MACH_NOTIFY_DEAD_NAME, 0,
	         notify, MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev), KERN_SUCCESS);
	kill(p.pid, SIGSTOP);
	CHECK_EQ(receive(notify, b, RCV_TIMEOUT), MACH_MSG_SUCCESS);
	CHECK_EQ(b->h.msgh_id, MACH_NOTIFY_DEAD_NAME);
	CHECK_EQ(netname_look_up(ns, "", "echo", &x), KERN_NODE_DOWN);
	kill(p.pid, SIGCONT);
	peer_stop(&p);
	mach_port_destroy(mach_task_self(), notify);
	mach_port_destroy(mach_task_self(), idle);
	mach_port_deallocate(mach_task_self(), port);
	mach_port_deallocate(mach_task_self(), ns);
	free(b);
	snprintf(faddr, sizeof faddr, "%s/frozen", dir);
	unlink(faddr);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "test_net_remote: timed out\n";
	(void)!write(2, msg, sizeof msg - 1);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	(void)!system(cmd);
	_exit(1);
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "--peer") == 0 && strcmp(argv[2], "echo") == 0)
		return peer_echo(argv[3]);
	/* Links ping every second. The node reads this when the library
	 * loads, so the test runs itself again with it set. */
	if (getenv("MEMOBJ_PING_MS") == NULL) {
		setenv("MEMOBJ_PING_MS", "1000", 1);
		execv("/proc/self/exe", argv);
		return 1;
	}
	signal(SIGALRM, on_alarm);
	alarm(240);
	snprintf(dir, sizeof dir, "/tmp/memobj-net-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(addr, sizeof addr, "unix:%s/echo", dir);
	RUN(echo_peer_starts);
	RUN(bad_arguments);
	RUN(rights_and_ool_go_there_and_back);
	RUN(no_senders_across_nodes);
	RUN(dead_name_across_nodes);
	RUN(receive_right_with_its_queue_goes_and_comes_back);
	RUN(wrong_key_is_refused);
	RUN(killed_peer_makes_dead_names);
	RUN(idle_link_stays_frozen_peer_goes);
	peer_stop(&echo_peer);
	char path[160];
	snprintf(path, sizeof path, "%s/echo", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/keyed", dir);
	unlink(path);
	rmdir(dir);
	return harness_done();
}
