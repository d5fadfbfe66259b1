/* This process as a node: its id, its name server and notify port, its
 * listeners, and the public memobj_listen / memobj_connect. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net_internal.h"
#include "os/os_log.h"

pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;
uint64_t net_node_id;
mach_port_name_t net_notify_port;
struct nport *net_name_server;
int net_ping_ms = 10000;
struct net_limits net_limits = {
	.links_max = 256,
	.handshakes_max = 64,
	.handshakes_per_peer = 8,
	.first_byte_ms = 2000,
	.handshake_ms = NET_AUTH_TIMEOUT_MS,
	.link_buffer_max = WIRE_FRAME_MAX,
	.buffer_total_max = 256ull << 20,
};
_Thread_local uint64_t net_msg_from_node;

static pthread_once_t node_once = PTHREAD_ONCE_INIT;
static int node_error;

/* Handshakes in progress on accepted sockets, in all and per peer
 * address (TCP) or uid (Unix): bounded, so a flood of silent connections
 * cannot make us start unbounded threads, and one peer's flood cannot
 * take the slots of the others. */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot {
	struct net_slot_key key;
	int count;
} *slots;                              /* handshakes_max entries */
static int handshakes;                 /* under slots_lock */

void net_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	os_vlog(OS_LOG_WARN, fmt, ap);
	va_end(ap);
}

void net_log_limited(const char *fmt, ...)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t last_ms = -1000000;
	static unsigned long left_out;
	char line[512];
	int64_t now = net_now_ms();
	pthread_mutex_lock(&lock);
	if (now - last_ms < 1000) {
		left_out++;
		pthread_mutex_unlock(&lock);
		return;
	}
	last_ms = now;
	unsigned long skipped = left_out;
	left_out = 0;
	pthread_mutex_unlock(&lock);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (skipped)
		os_log(OS_LOG_WARN, "%s (and %lu more like it)", line, skipped);
	else
		os_log(OS_LOG_WARN, "%s", line);
}

/* A MEMOBJ_* count or size: digits with an optional k/m/g suffix, at
 * least `min`; anything else keeps the default, with a line saying so. */
static void limit_from_env(const char *name, uint64_t min, uint64_t max, uint64_t *value)
{
	const char *text = getenv(name);
	if (text == NULL || text[0] == '\0')
		return;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	int shift = 0;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (errno != 0 || end == text || *end != '\0' || v > (max >> shift) ||
	    (v << shift) < min) {
		net_log("%s=%s is not a value from %llu to %llu: default %llu kept", name, text,
		        (unsigned long long)min, (unsigned long long)max,
		        (unsigned long long)*value);
		return;
	}
	*value = (uint64_t)v << shift;
}

static void int_limit_from_env(const char *name, int min, int *value)
{
	uint64_t v = (uint64_t)*value;
	limit_from_env(name, (uint64_t)min, 1u << 30, &v);
	*value = (int)v;
}

static void limits_from_env(void)
{
	int_limit_from_env("MEMOBJ_LINKS_MAX", 1, &net_limits.links_max);
	int_limit_from_env("MEMOBJ_HANDSHAKES_MAX", 1, &net_limits.handshakes_max);
	int_limit_from_env("MEMOBJ_HANDSHAKES_PER_PEER", 1, &net_limits.handshakes_per_peer);
	int_limit_from_env("MEMOBJ_FIRST_BYTE_MS", 10, &net_limits.first_byte_ms);
	int_limit_from_env("MEMOBJ_HANDSHAKE_MS", 10, &net_limits.handshake_ms);
	limit_from_env("MEMOBJ_LINK_BUFFER_MAX", 4096, WIRE_FRAME_MAX,
	        &net_limits.link_buffer_max);
	limit_from_env("MEMOBJ_NET_BUFFER_MAX", 1u << 20, 1ull << 40,
	        &net_limits.buffer_total_max);
	if (net_limits.handshakes_per_peer > net_limits.handshakes_max)
		net_limits.handshakes_per_peer = net_limits.handshakes_max;
}

static mach_port_name_t kobject_port(ipc_kobject_handler_t handler)
{
	mach_port_name_t name;
	if (ipc_port_allocate(ipc_space_net(), MACH_PORT_RIGHT_RECEIVE, &name) != KERN_SUCCESS)
		return MACH_PORT_NULL;
	if (ipc_port_set_kobject(ipc_space_net(), name, handler, NULL) != KERN_SUCCESS) {
		ipc_port_destroy(ipc_space_net(), name);
		return MACH_PORT_NULL;
	}
	return name;
}

/* A forked child is another kernel: it must not answer to its parent's
 * node id (the node starts when the library loads, so any child forked
 * after that would otherwise take a link to its parent for a link to
 * itself). */
static void node_forked_child(void)
{
	uint64_t id;
	if (net_random_node_id(&id) == 0)
		net_node_id = id;
}

static void node_start_once(void)
{
	const char *ping = getenv("MEMOBJ_PING_MS");
	if (ping != NULL && atoi(ping) >= 100)
		net_ping_ms = atoi(ping);
	limits_from_env();
	slots = calloc((size_t)net_limits.handshakes_max, sizeof *slots);
	if (slots == NULL || net_crypto_init() != 0) {
		node_error = slots == NULL ? -ENOMEM : -ENOSYS;
		return;
	}
	int err = net_random_node_id(&net_node_id);
	if (err != 0) {
		node_error = err;
		return;
	}
	(void)pthread_atfork(NULL, NULL, node_forked_child); /* fails only on ENOMEM:
	                                                      * children keep the id */
	if (ipc_space_net() == NULL) {
		node_error = -ENOMEM;
		return;
	}
	net_notify_port = kobject_port(net_notify_handler);
	mach_port_name_t ns = kobject_port(net_name_server_handler);
	if (net_notify_port == MACH_PORT_NULL || ns == MACH_PORT_NULL) {
		node_error = -ENOMEM;
		return;
	}
	pthread_mutex_lock(&net_lock);
	net_name_server = net_nport_get(ns);
	if (net_name_server != NULL) {
		net_name_server->is_name_server = true;
		net_name_server->my_id = WIRE_PORT_ID_NAME_SERVER;
	}
	pthread_mutex_unlock(&net_lock);
	if (net_name_server == NULL) {
		node_error = -ENOMEM;
		return;
	}
	net_link_borrow_start();
}

int net_node_start(void)
{
	pthread_once(&node_once, node_start_once);
	return node_error;
}

/* ---- listening ---- */

struct listener {
	struct net_listener l;
	struct net_auth_key key;
};

/* Who a connection's handshake slot is charged to: its IP address
 * (any port), or its uid on a Unix socket. */
static void slot_key_of(int fd, struct net_slot_key *key)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	memset(key, 0, sizeof *key);
	if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0)
		return;
	key->bytes[0] = (uint8_t)sa.ss_family;
	if (sa.ss_family == AF_INET) {
		memcpy(key->bytes + 1, &((struct sockaddr_in *)&sa)->sin_addr, 4);
	} else if (sa.ss_family == AF_INET6) {
		memcpy(key->bytes + 1, &((struct sockaddr_in6 *)&sa)->sin6_addr, 16);
	} else if (sa.ss_family == AF_UNIX) {
		struct ucred cred;
		socklen_t cl = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
			memcpy(key->bytes + 1, &cred.uid, sizeof cred.uid);
	}
}

/* Takes a handshake slot for fd's peer; NULL, or why not. */
static const char *slot_take(int fd, struct net_slot_key *key)
{
	slot_key_of(fd, key);
	const char *why = NULL;
	pthread_mutex_lock(&slots_lock);
	struct slot *mine = NULL, *free_slot = NULL;
	for (int i = 0; i < net_limits.handshakes_max; i++) {
		if (slots[i].count > 0 && memcmp(&slots[i].key, key, sizeof *key) == 0)
			mine = &slots[i];
		else if (slots[i].count == 0 && free_slot == NULL)
			free_slot = &slots[i];
	}
	if (handshakes >= net_limits.handshakes_max)
		why = "too many handshakes in progress (MEMOBJ_HANDSHAKES_MAX)";
	else if (mine != NULL && mine->count >= net_limits.handshakes_per_peer)
		why = "too many handshakes from this peer (MEMOBJ_HANDSHAKES_PER_PEER)";
	else if (net_link_count() + handshakes >= net_limits.links_max)
		why = "too many links (MEMOBJ_LINKS_MAX)";
	if (why == NULL) {
		if (mine == NULL) {
			mine = free_slot;   /* there is one: fewer handshakes than slots */
			mine->key = *key;
		}
		mine->count++;
		handshakes++;
	}
	pthread_mutex_unlock(&slots_lock);
	return why;
}

void net_handshake_done(const struct net_slot_key *key)
{
	pthread_mutex_lock(&slots_lock);
	for (int i = 0; i < net_limits.handshakes_max; i++)
		if (slots[i].count > 0 && memcmp(&slots[i].key, key, sizeof *key) == 0) {
			slots[i].count--;
			handshakes--;
			break;
		}
	pthread_mutex_unlock(&slots_lock);
}

static void *accept_loop(void *arg)
{
	struct listener *ls = arg;
	for (;;) {
		struct pollfd p = { .fd = ls->l.fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		int fd;
		int err = net_accept(&ls->l, &fd);
		if (err == -EAGAIN || err == -EINTR || err == -ECONNABORTED)
			continue;
		if (err != 0) {
			net_log("accept on listener failed: %s", strerror(-err));
			if (err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM) {
				/* Out of descriptors: back off without spinning. */
				poll(NULL, 0, 100);
				continue;
			}
			break;
		}
		struct net_slot_key slot;
		const char *why = slot_take(fd, &slot);
		if (why != NULL) {
			char name[NET_ADDR_NAME_MAX];
			net_peer_name(fd, name, sizeof name);
			net_log_limited("link with %s refused: %s", name, why);
			close(fd);
			continue;
		}
		struct accepted *a = malloc(sizeof *a);
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (a != NULL) {
			a->fd = fd;
			a->key = ls->key;
			a->slot = slot;
		}
		if (a == NULL || pthread_create(&t, &attr, net_link_accept_thread, a) != 0) {
			free(a);
			close(fd);
			net_handshake_done(&slot);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

kern_return_t memobj_listen(const char *address)
{
	if (address == NULL || strnlen(address, NET_ADDR_TEXT_MAX + 1) > NET_ADDR_TEXT_MAX)
		return KERN_INVALID_ARGUMENT;
	struct listener *ls = calloc(1, sizeof *ls);
	if (ls == NULL)
		return KERN_RESOURCE_SHORTAGE;
	struct net_addr addr;
	int err = net_addr_parse(address, &addr);
	if (err != 0) {
		free(ls);
		return KERN_INVALID_ARGUMENT;
	}
	if (net_node_start() != 0) {
		free(ls);
		return KERN_RESOURCE_SHORTAGE;
	}
	err = net_listen(&addr, &ls->l);
	if (err != 0) {
		net_log("cannot listen on %s: %s", address, strerror(-err));
		free(ls);
		return KERN_FAILURE;
	}
	net_auth_key_from_env(&ls->key);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, accept_loop, ls);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		net_listener_close(&ls->l);
		free(ls);
		return KERN_RESOURCE_SHORTAGE;
	}
	/* The listener lives as long as the process (its socket file is
	 * removed at exit by nobody: a stale socket is replaced on the next
	 * listen, see net_listen). */
	return KERN_SUCCESS;
}

/* ---- connecting ---- */

kern_return_t memobj_connect(const char *address, mach_port_t *name_server)
{
	if (address == NULL || name_server == NULL ||
	    strnlen(address, NET_ADDR_TEXT_MAX + 1) > NET_ADDR_TEXT_MAX)
		return KERN_INVALID_ARGUMENT;
	*name_server = MACH_PORT_NULL;
	struct net_addr addr;
	int err = net_addr_parse(address, &addr);
	if (err == -EADDRNOTAVAIL)
		return KERN_NODE_DOWN;
	if (err != 0)
		return KERN_INVALID_ARGUMENT;
	if (net_node_start() != 0)
		return KERN_RESOURCE_SHORTAGE;

	int fd;
	err = net_connect(&addr, NET_AUTH_TIMEOUT_MS, &fd);
	if (err != 0)
		return KERN_NODE_DOWN;
	struct net_auth_key key;
	net_auth_key_from_env(&key);
	struct net_auth_peer peer;
	err = net_auth_handshake(fd, WIRE_ROLE_CONNECTOR, net_node_id, &key,
	        NET_AUTH_TIMEOUT_MS, &peer);
	net_auth_key_clear(&key);
	if (err == -ELOOP) {
		/* The address is this node's own: its name server is here. */
		close(fd);
		return net_name_server_right(name_server);
	}
	if (err != 0) {
		close(fd);
		/* Refused (key, identity) or a broken peer: it is there but will
		 * not talk to us. A timeout or reset is a node we cannot reach. */
		return (err == -ETIMEDOUT || err == -ECONNRESET) ? KERN_NODE_DOWN : KERN_FAILURE;
	}
	struct net_link *link = net_link_create(fd, &peer);
	if (link == NULL)
		return KERN_RESOURCE_SHORTAGE;

	/* The link starts with one send right to the peer's name server on
	 * each side (docs/wire.md 7); the caller gets one made from it. */
	kern_return_t kr = KERN_NODE_DOWN;
	pthread_mutex_lock(&net_lock);
	struct nref *r = link->dead ? NULL
	        : net_ref_find(link, peer.node_id, WIRE_PORT_ID_NAME_SERVER);
	if (r != NULL && r->np->proxy == r) {
		kr = ipc_right_transfer(ipc_space_net(), r->np->name, MACH_MSG_TYPE_MAKE_SEND,
		        ipc_space_task(), name_server);
		if (kr == KERN_SUCCESS)
			r->np->made++;
	}
	pthread_mutex_unlock(&net_lock);
	net_link_unref(link);
	return kr == KERN_SUCCESS ? KERN_SUCCESS : KERN_NODE_DOWN;
}

kern_return_t net_name_server_right(mach_port_t *name)
{
	if (net_node_start() != 0)
		return KERN_RESOURCE_SHORTAGE;
	return ipc_right_transfer(ipc_space_net(), net_name_server->name,
	        MACH_MSG_TYPE_MAKE_SEND, ipc_space_task(), name);
}
