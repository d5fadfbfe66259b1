/* The Mach name service: each node's name server is a kobject port in the
 * net space (port id 1 on every link), and netname_check_in / look_up /
 * check_out are RPCs to it, local or through a proxy. A server_port of
 * MACH_PORT_NULL means this node's own name server.
 *
 * Messages (MIG layout, ids as in Mach's netname.defs):
 *   1040 check_in  {body, signature: port, port_id: port, NDR, name[80]}
 *   1041 look_up   {NDR, host_name[80], port_name[80]}
 *   1042 check_out {body, signature: port, NDR, name[80]}
 * Replies (id + 100): mig_reply_error_t; look_up's success carries the
 * port in one descriptor. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

#define NETNAME_NAME_MAX        80
#define NETNAME_TIMEOUT_MS      30000
#define NETNAME_CHECK_IN_ID     1040
#define NETNAME_LOOK_UP_ID      1041
#define NETNAME_CHECK_OUT_ID    1042
/* Mach's netname error codes. */
#define NETNAME_NOT_YOUR_ENTRY  2500
#define NETNAME_NOT_CHECKED_IN  2501
#define NETNAME_NO_SUCH_HOST    2502
#define NETNAME_INVALID_PORT    2504

typedef struct {
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t signature;
	mach_msg_port_descriptor_t port_id;
	NDR_record_t NDR;
	char name[NETNAME_NAME_MAX];
} check_in_request_t;

typedef struct {
	mach_msg_header_t Head;
	NDR_record_t NDR;
	char host_name[NETNAME_NAME_MAX];
	char port_name[NETNAME_NAME_MAX];
} look_up_request_t;

typedef struct {
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t signature;
	NDR_record_t NDR;
	char name[NETNAME_NAME_MAX];
} check_out_request_t;

typedef struct {
	mach_msg_header_t Head;
	mach_msg_body_t body;
	mach_msg_port_descriptor_t port;
} look_up_reply_t;

/* ---- the server ---- */

struct netname_entry {
	char name[NETNAME_NAME_MAX];
	mach_port_name_t port;         /* send rights in the net space */
	mach_port_name_t signature;
	uint64_t owner;                /* the node that checked it in (net_node_id: us) */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct netname_entry *registry;
static size_t registry_len, registry_cap;

static bool name_ok(const char *name)
{
	size_t n = strnlen(name, NETNAME_NAME_MAX);
	return n > 0 && n < NETNAME_NAME_MAX;
}

static struct netname_entry *find(const char *name)
{
	for (size_t i = 0; i < registry_len; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	return NULL;
}

static void remove_entry(struct netname_entry *e, mach_port_name_t drop[2])
{
	drop[0] = e->port;
	drop[1] = e->signature;
	*e = registry[--registry_len];
}

/* The node a request came from: a link's peer, or this node. */
static uint64_t request_node(void)
{
	return net_msg_from_node != 0 ? net_msg_from_node : net_node_id;
}

/* May the request's sender replace or remove e? With a signature, whoever
 * presents the same port; without one, only the node that checked it in
 * (so a peer cannot take over another node's name). */
static bool may_change(const struct netname_entry *e, mach_port_name_t sig);

static bool same_signature(mach_port_name_t a, mach_port_name_t b)
{
	if (!MACH_PORT_VALID(a) && !MACH_PORT_VALID(b))
		return true;
	return MACH_PORT_VALID(a) && MACH_PORT_VALID(b) &&
	       ipc_port_same(ipc_space_net(), a, ipc_space_net(), b);
}

static bool may_change(const struct netname_entry *e, mach_port_name_t sig)
{
	if (!same_signature(e->signature, sig))
		return false;
	return MACH_PORT_VALID(e->signature) || e->owner == request_node();
}

static void drop_names(const mach_port_name_t *names, int n)
{
	for (int i = 0; i < n; i++)
		if (MACH_PORT_VALID(names[i]))
			ipc_port_deallocate(ipc_space_net(), names[i]);
}

static kern_return_t check_in(check_in_request_t *m, mach_port_name_t drop[4])
{
	if (!(m->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX) || m->body.msgh_descriptor_count != 2 ||
	    m->signature.type != MACH_MSG_PORT_DESCRIPTOR ||
	    m->port_id.type != MACH_MSG_PORT_DESCRIPTOR)
		return MIG_BAD_ARGUMENTS;
	mach_port_name_t sig = m->signature.name, port = m->port_id.name;
	if (m->signature.disposition != MACH_MSG_TYPE_PORT_SEND)
		sig = MACH_PORT_NULL;
	if (!name_ok(m->name) || !MACH_PORT_VALID(port) ||
	    m->port_id.disposition != MACH_MSG_TYPE_PORT_SEND)
		return NETNAME_INVALID_PORT;
	kern_return_t kr = KERN_SUCCESS;
	pthread_mutex_lock(&registry_lock);
	struct netname_entry *e = find(m->name);
	if (e != NULL && !may_change(e, sig)) {
		kr = NETNAME_NOT_YOUR_ENTRY;
	} else {
		if (e != NULL) {
			remove_entry(e, drop + 2);
		}
		if (registry_len == registry_cap) {
			size_t cap = registry_cap ? registry_cap * 2 : 16;
			struct netname_entry *r = realloc(registry, cap * sizeof *r);
			if (r == NULL) {
				kr = KERN_RESOURCE_SHORTAGE;
				goto out;
			}
			registry = r;
			registry_cap = cap;
		}
		e = &registry[registry_len++];
		memset(e, 0, sizeof *e);
		strcpy(e->name, m->name);
		e->port = port;
		e->signature = sig;
		e->owner = request_node();
		m->port_id.name = MACH_PORT_NULL;       /* kept */
		if (sig == m->signature.name)
			m->signature.name = MACH_PORT_NULL;
	}
out:
	pthread_mutex_unlock(&registry_lock);
	return kr;
}

/* A registered port whose home died is forgotten when looked up. */
static kern_return_t look_up(look_up_request_t *m, mach_port_name_t *port,
        mach_port_name_t drop[2])
{
	if (m->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX)
		return MIG_BAD_ARGUMENTS;
	if (strnlen(m->host_name, NETNAME_NAME_MAX) == NETNAME_NAME_MAX || !name_ok(m->port_name))
		return NETNAME_NOT_CHECKED_IN;
	if (m->host_name[0] != '\0' && strcmp(m->host_name, "*") != 0 &&
	    strcmp(m->host_name, "localhost") != 0)
		return NETNAME_NO_SUCH_HOST;
	kern_return_t kr = NETNAME_NOT_CHECKED_IN;
	pthread_mutex_lock(&registry_lock);
	struct netname_entry *e = find(m->port_name);
	if (e != NULL) {
		mach_port_type_t type = 0;
		if (ipc_port_type(ipc_space_net(), e->port, &type) != KERN_SUCCESS ||
		    !(type & MACH_PORT_TYPE_SEND)) {
			remove_entry(e, drop);
		} else if (ipc_right_transfer(ipc_space_net(), e->port, MACH_MSG_TYPE_COPY_SEND,
		                              ipc_space_net(), port) == KERN_SUCCESS) {
			kr = KERN_SUCCESS;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return kr;
}

static kern_return_t check_out(check_out_request_t *m, mach_port_name_t drop[2])
{
	if (!(m->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX) || m->body.msgh_descriptor_count != 1 ||
	    m->signature.type != MACH_MSG_PORT_DESCRIPTOR)
		return MIG_BAD_ARGUMENTS;
	if (!name_ok(m->name))
		return NETNAME_NOT_CHECKED_IN;
	mach_port_name_t sig = m->signature.disposition == MACH_MSG_TYPE_PORT_SEND
	        ? m->signature.name : MACH_PORT_NULL;
	kern_return_t kr;
	pthread_mutex_lock(&registry_lock);
	struct netname_entry *e = find(m->name);
	if (e == NULL)
		kr = NETNAME_NOT_CHECKED_IN;
	else if (!may_change(e, sig))
		kr = NETNAME_NOT_YOUR_ENTRY;
	else {
		remove_entry(e, drop);
		kr = KERN_SUCCESS;
	}
	pthread_mutex_unlock(&registry_lock);
	return kr;
}

static void reply(mach_port_name_t dest, mach_msg_type_name_t type, mach_msg_id_t id,
        kern_return_t kr, mach_port_name_t port)
{
	ipc_space_t net = ipc_space_net();
	if (!MACH_PORT_VALID(dest)) {
		if (MACH_PORT_VALID(port))
			ipc_port_deallocate(net, port);
		return;
	}
	mach_msg_type_name_t disp = type == MACH_MSG_TYPE_PORT_SEND_ONCE
	        ? MACH_MSG_TYPE_MOVE_SEND_ONCE : MACH_MSG_TYPE_MOVE_SEND;
	mach_msg_return_t mr;
	if (kr == KERN_SUCCESS && MACH_PORT_VALID(port)) {
		look_up_reply_t r;
		memset(&r, 0, sizeof r);
		r.Head.msgh_bits = MACH_MSGH_BITS(disp, 0) | MACH_MSGH_BITS_COMPLEX;
		r.Head.msgh_size = sizeof r;
		r.Head.msgh_remote_port = dest;
		r.Head.msgh_id = id + MIG_REPLY_ID_OFFSET;
		r.body.msgh_descriptor_count = 1;
		r.port.name = port;
		r.port.disposition = MACH_MSG_TYPE_MOVE_SEND;
		r.port.type = MACH_MSG_PORT_DESCRIPTOR;
		mr = ipc_mach_msg(net, &r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, 0,
		        MACH_PORT_NULL);
		if (mr != MACH_MSG_SUCCESS) {
			ipc_port_deallocate(net, port);
			ipc_port_deallocate(net, dest);
		}
		return;
	}
	mig_reply_error_t r;
	memset(&r, 0, sizeof r);
	r.Head.msgh_bits = MACH_MSGH_BITS(disp, 0);
	r.Head.msgh_size = sizeof r;
	r.Head.msgh_remote_port = dest;
	r.Head.msgh_id = id + MIG_REPLY_ID_OFFSET;
	r.NDR = NDR_record;
	r.RetCode = kr;
	if (ipc_mach_msg(net, &r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, 0,
	        MACH_PORT_NULL) != MACH_MSG_SUCCESS)
		ipc_port_deallocate(net, dest);
}

void net_name_server_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size)
{
	(void)context;
	mach_port_name_t dest = msg->msgh_remote_port;
	mach_msg_type_name_t dest_type = MACH_MSGH_BITS_REMOTE(msg->msgh_bits);
	msg->msgh_remote_port = MACH_PORT_NULL;
	msg->msgh_bits &= ~MACH_MSGH_BITS_REMOTE_MASK;
	mach_port_name_t drop[4] = { MACH_PORT_NULL, MACH_PORT_NULL, MACH_PORT_NULL,
	                             MACH_PORT_NULL };
	mach_port_name_t port = MACH_PORT_NULL;
	kern_return_t kr = MIG_BAD_ID;
	switch (msg->msgh_id) {
	case NETNAME_CHECK_IN_ID:
		kr = size == offsetof(check_in_request_t, name) + NETNAME_NAME_MAX
		        ? check_in((check_in_request_t *)msg, drop) : MIG_BAD_ARGUMENTS;
		break;
	case NETNAME_LOOK_UP_ID:
		kr = size == sizeof(look_up_request_t)
		        ? look_up((look_up_request_t *)msg, &port, drop) : MIG_BAD_ARGUMENTS;
		break;
	case NETNAME_CHECK_OUT_ID:
		kr = size == sizeof(check_out_request_t)
		        ? check_out((check_out_request_t *)msg, drop) : MIG_BAD_ARGUMENTS;
		break;
	}
	/* What the request still holds (rights not kept) goes. */
	ipc_mach_msg_destroy(ipc_space_net(), msg);
	drop_names(drop, 4);
	reply(dest, dest_type, msg->msgh_id, kr, port);
}

/* ---- the client calls ---- */

static pthread_once_t local_once = PTHREAD_ONCE_INIT;
static mach_port_t local_server;

static void local_server_make(void)
{
	if (net_node_start() != 0)
		return;
	mach_port_name_t name;
	if (ipc_right_transfer(ipc_space_net(), net_name_server->name, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_task(), &name) == KERN_SUCCESS)
		local_server = name;
}

/* The server to talk to: the caller's right, or our own server's. */
static kern_return_t server_of(mach_port_t server_port, mach_port_t *server)
{
	if (server_port == MACH_PORT_NULL) {
		pthread_once(&local_once, local_server_make);
		*server = local_server;
		return local_server != MACH_PORT_NULL ? KERN_SUCCESS : KERN_RESOURCE_SHORTAGE;
	}
	mach_port_type_t type;
	if (!MACH_PORT_VALID(server_port) ||
	    mach_port_type(mach_task_self(), server_port, &type) != KERN_SUCCESS)
		return MACH_SEND_INVALID_DEST;
	if (type & MACH_PORT_TYPE_DEAD_NAME)
		return KERN_NODE_DOWN;
	if (!(type & MACH_PORT_TYPE_SEND))
		return MACH_SEND_INVALID_DEST;
	*server = server_port;
	return KERN_SUCCESS;
}

/* How a caller's right travels: a send right made from a receive right
 * the caller holds, else a copy of its send right. */
static kern_return_t port_disposition(mach_port_t port, bool optional,
        mach_msg_type_name_t *disp)
{
	*disp = MACH_MSG_TYPE_COPY_SEND;
	if (port == MACH_PORT_NULL && optional)
		return KERN_SUCCESS;
	mach_port_type_t type;
	if (!MACH_PORT_VALID(port) || mach_port_type(mach_task_self(), port, &type) != KERN_SUCCESS)
		return KERN_INVALID_ARGUMENT;
	if (type & MACH_PORT_TYPE_SEND)
		return KERN_SUCCESS;
	if (type & MACH_PORT_TYPE_RECEIVE) {
		*disp = MACH_MSG_TYPE_MAKE_SEND;
		return KERN_SUCCESS;
	}
	return KERN_INVALID_ARGUMENT;
}

union netname_reply {
	mig_reply_error_t error;
	look_up_reply_t port;
	uint8_t bytes[sizeof(look_up_reply_t) + sizeof(mach_msg_max_trailer_t) + 64];
};

/* Sends the request with a fresh reply port and waits (bounded) for the
 * answer. The reply port is destroyed after, so a late answer is lost
 * rather than mistaken for the next one. */
static kern_return_t rpc(mach_msg_header_t *req, mach_msg_size_t size, union netname_reply *rep)
{
	mach_port_t reply_port;
	kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply_port);
	if (kr != KERN_SUCCESS)
		return kr;
	mach_msg_id_t id = req->msgh_id;
	req->msgh_local_port = reply_port;
	req->msgh_bits |= MACH_MSGH_BITS(0, MACH_MSG_TYPE_MAKE_SEND_ONCE);
	mach_msg_return_t mr = mach_msg(req, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT,
	        size, sizeof *rep, reply_port, NETNAME_TIMEOUT_MS, MACH_PORT_NULL);
	if (mr == MACH_MSG_SUCCESS) {
		memcpy(rep, req, sizeof *rep);
	}
	mach_port_mod_refs(mach_task_self(), reply_port, MACH_PORT_RIGHT_RECEIVE, -1);
	if (mr == MACH_RCV_TIMED_OUT)
		return KERN_OPERATION_TIMED_OUT;
	if (mr == MACH_SEND_INVALID_DEST)
		return KERN_NODE_DOWN;
	if (mr != MACH_MSG_SUCCESS)
		return mr;
	if (rep->error.Head.msgh_id == MACH_NOTIFY_SEND_ONCE)
		return KERN_NODE_DOWN;   /* the server (or its node) went away */
	if (rep->error.Head.msgh_id != id + MIG_REPLY_ID_OFFSET) {
		mach_msg_destroy(&rep->error.Head);
		return MIG_REPLY_MISMATCH;
	}
	return KERN_SUCCESS;
}

kern_return_t netname_check_in(mach_port_t server_port, const char *port_name,
        mach_port_t signature, mach_port_t port_id)
{
	if (port_name == NULL || strnlen(port_name, NETNAME_NAME_MAX) == 0 ||
	    strnlen(port_name, NETNAME_NAME_MAX) >= NETNAME_NAME_MAX)
		return KERN_INVALID_ARGUMENT;
	mach_port_t server;
	kern_return_t kr = server_of(server_port, &server);
	if (kr != KERN_SUCCESS)
		return kr;
	mach_msg_type_name_t sig_disp, port_disp;
	if (port_disposition(signature, true, &sig_disp) != KERN_SUCCESS ||
	    port_disposition(port_id, false, &port_disp) != KERN_SUCCESS)
		return KERN_INVALID_ARGUMENT;
	union { check_in_request_t req; union netname_reply rep; } u;
	memset(&u, 0, sizeof u);
	check_in_request_t *m = &u.req;
	m->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	m->Head.msgh_size = sizeof *m;
	m->Head.msgh_remote_port = server;
	m->Head.msgh_id = NETNAME_CHECK_IN_ID;
	m->body.msgh_descriptor_count = 2;
	m->signature.name = signature;
	m->signature.disposition = signature == MACH_PORT_NULL ? MACH_MSG_TYPE_COPY_SEND : sig_disp;
	m->signature.type = MACH_MSG_PORT_DESCRIPTOR;
	m->port_id.name = port_id;
	m->port_id.disposition = port_disp;
	m->port_id.type = MACH_MSG_PORT_DESCRIPTOR;
	m->NDR = NDR_record;
	strncpy(m->name, port_name, NETNAME_NAME_MAX - 1);
	union netname_reply rep;
	kr = rpc(&m->Head, sizeof *m, &rep);
	return kr == KERN_SUCCESS ? rep.error.RetCode : kr;
}

kern_return_t netname_look_up(mach_port_t server_port, const char *host_name,
        const char *port_name, mach_port_t *port_id)
{
	if (port_id == NULL || port_name == NULL || strnlen(port_name, NETNAME_NAME_MAX) == 0 ||
	    strnlen(port_name, NETNAME_NAME_MAX) >= NETNAME_NAME_MAX ||
	    (host_name != NULL && strnlen(host_name, NETNAME_NAME_MAX) >= NETNAME_NAME_MAX))
		return KERN_INVALID_ARGUMENT;
	*port_id = MACH_PORT_NULL;
	mach_port_t server;
	kern_return_t kr = server_of(server_port, &server);
	if (kr != KERN_SUCCESS)
		return kr;
	union { look_up_request_t req; union netname_reply rep; } u;
	memset(&u, 0, sizeof u);
	look_up_request_t *m = &u.req;
	m->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
	m->Head.msgh_size = sizeof *m;
	m->Head.msgh_remote_port = server;
	m->Head.msgh_id = NETNAME_LOOK_UP_ID;
	m->NDR = NDR_record;
	if (host_name != NULL)
		strncpy(m->host_name, host_name, NETNAME_NAME_MAX - 1);
	strncpy(m->port_name, port_name, NETNAME_NAME_MAX - 1);
	union netname_reply rep;
	kr = rpc(&m->Head, sizeof *m, &rep);
	if (kr != KERN_SUCCESS)
		return kr;
	if (rep.port.Head.msgh_bits & MACH_MSGH_BITS_COMPLEX) {
		if (rep.port.Head.msgh_size != sizeof rep.port || rep.port.body.msgh_descriptor_count != 1 ||
		    rep.port.port.type != MACH_MSG_PORT_DESCRIPTOR) {
			mach_msg_destroy(&rep.port.Head);
			return MIG_TYPE_ERROR;
		}
		*port_id = rep.port.port.name;
		return KERN_SUCCESS;
	}
	return rep.error.RetCode == KERN_SUCCESS ? MIG_TYPE_ERROR : rep.error.RetCode;
}

kern_return_t netname_check_out(mach_port_t server_port, const char *port_name,
        mach_port_t signature)
{
	if (port_name == NULL || strnlen(port_name, NETNAME_NAME_MAX) == 0 ||
	    strnlen(port_name, NETNAME_NAME_MAX) >= NETNAME_NAME_MAX)
		return KERN_INVALID_ARGUMENT;
	mach_port_t server;
	kern_return_t kr = server_of(server_port, &server);
	if (kr != KERN_SUCCESS)
		return kr;
	mach_msg_type_name_t sig_disp;
	if (port_disposition(signature, true, &sig_disp) != KERN_SUCCESS)
		return KERN_INVALID_ARGUMENT;
	union { check_out_request_t req; union netname_reply rep; } u;
	memset(&u, 0, sizeof u);
	check_out_request_t *m = &u.req;
	m->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
	m->Head.msgh_size = sizeof *m;
	m->Head.msgh_remote_port = server;
	m->Head.msgh_id = NETNAME_CHECK_OUT_ID;
	m->body.msgh_descriptor_count = 1;
	m->signature.name = signature;
	m->signature.disposition = sig_disp;
	m->signature.type = MACH_MSG_PORT_DESCRIPTOR;
	m->NDR = NDR_record;
	strncpy(m->name, port_name, NETNAME_NAME_MAX - 1);
	union netname_reply rep;
	kr = rpc(&m->Head, sizeof *m, &rep);
	return kr == KERN_SUCCESS ? rep.error.RetCode : kr;
}

/* For memobj_netname_list (src/emmi/emmi_stat.c): copies the names checked
 * in here from index `start`, at most `max`; returns how many, and the
 * number of names in *total. */
uint32_t net_nameserver_names(uint32_t start, char (*names)[NETNAME_NAME_MAX],
        uint32_t max, uint32_t *total)
{
	uint32_t n = 0;
	pthread_mutex_lock(&registry_lock);
	for (size_t i = start; i < registry_len && n < max; i++)
		memcpy(names[n++], registry[i].name, NETNAME_NAME_MAX);
	*total = (uint32_t)registry_len;
	pthread_mutex_unlock(&registry_lock);
	return n;
}
