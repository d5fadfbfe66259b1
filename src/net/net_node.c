/* This process as a node: its id, its name server and notify port, its
 * listeners, and the public memobj_listen / memobj_connect. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net_internal.h"

pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;
uint64_t net_node_id;
mach_port_name_t net_notify_port;
struct nport *net_name_server;
int net_ping_ms = 10000;

static pthread_once_t node_once = PTHREAD_ONCE_INIT;
static int node_error;

/* Handshakes in progress on accepted sockets: bounded, so a flood of
 * silent connections cannot make us start unbounded threads. */
#define NET_HANDSHAKES_MAX 16
static _Atomic int handshakes;

void net_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "memobj: %s\n", line);
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

static void node_start_once(void)
{
	const char *ping = getenv("MEMOBJ_PING_MS");
	if (ping != NULL && atoi(ping) >= 100)
		net_ping_ms = atoi(ping);
	int err = net_random_node_id(&net_node_id);
	if (err != 0) {
		node_error = err;
		return;
	}
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
	if (net_name_server == NULL)
		node_error = -ENOMEM;
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
		if (atomic_fetch_add(&handshakes, 1) >= NET_HANDSHAKES_MAX) {
			atomic_fetch_sub(&handshakes, 1);
			char name[NET_ADDR_NAME_MAX];
			net_peer_name(fd, name, sizeof name);
			net_log("link with %s refused: too many handshakes in progress", name);
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
		}
		if (a == NULL || pthread_create(&t, &attr, net_link_accept_thread, a) != 0) {
			free(a);
			close(fd);
			atomic_fetch_sub(&handshakes, 1);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

/* Called by the accepted connection's thread when its handshake is over. */
void net_handshake_done(void)
{
	atomic_fetch_sub(&handshakes, 1);
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
	struct net_link *link = net_link_create(fd, peer.node_id);
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
