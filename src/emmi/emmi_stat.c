/* memobj_statistics and friends (<mach/memobj_stat.h>): the kernel's counts
 * by message kind, the served-object registry, and the statistics port —
 * a kernel object that answers the same questions for another node.
 *
 * Wire (one RPC, like MIG's; the reply right is send-once):
 *   request  id 4800 {Head, NDR, what, start}
 *   reply    id 4900 {Head, NDR, RetCode, what, total, count, data[]}
 * what: 0 statistics (data: one memobj_statistics_t), 1 objects (data:
 * `count` memobj_object_statistics_t from `start`), 2 names (`count`
 * memobj_name_t). The layout is the build's own: nodes of one build. */
#include "emmi/emmi_stat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/ipc_kernel.h"
#include "emmi/emmi_msgs.h"
#include "net/net_internal.h"
#include "vm/vm_kernel.h"
#include "vm/vm_stat.h"

#define STAT_REQUEST_ID  4800
#define STAT_REPLY_ID    4900
#define STAT_DATA_MAX    8000
#define STAT_TIMEOUT_MS  10000

enum { WHAT_STATS, WHAT_OBJECTS, WHAT_NAMES };

#pragma pack(push, 4)
typedef struct {
	mach_msg_header_t Head;
	NDR_record_t NDR;
	uint32_t what;
	uint32_t start;
} stat_request_t;

typedef struct {
	mach_msg_header_t Head;
	NDR_record_t NDR;
	kern_return_t RetCode;
	uint32_t what;
	uint32_t total;
	uint32_t count;
	uint8_t data[STAT_DATA_MAX];
} stat_reply_t;
#pragma pack(pop)

/* ---- messages by kind ---- */

static _Atomic uint64_t messages[MEMOBJ_MSG_KINDS];

static int kind_of(mach_msg_id_t id)
{
	switch (id) {
	case EMMI_INIT: return MEMOBJ_MSG_INIT;
	case EMMI_TERMINATE: return MEMOBJ_MSG_TERMINATE;
	case EMMI_DATA_REQUEST: return MEMOBJ_MSG_DATA_REQUEST;
	case EMMI_DATA_UNLOCK: return MEMOBJ_MSG_DATA_UNLOCK;
	case EMMI_DATA_RETURN: return MEMOBJ_MSG_DATA_RETURN;
	case EMMI_SYNCHRONIZE: return MEMOBJ_MSG_SYNCHRONIZE;
	case EMMI_LOCK_COMPLETED: return MEMOBJ_MSG_LOCK_COMPLETED;
	case EMMI_SUPPLY_COMPLETED: return MEMOBJ_MSG_SUPPLY_COMPLETED;
	case EMMI_CHANGE_COMPLETED: return MEMOBJ_MSG_CHANGE_COMPLETED;
	case EMMI_CREATE: return MEMOBJ_MSG_CREATE;
	case EMMI_DATA_INITIALIZE: return MEMOBJ_MSG_DATA_INITIALIZE;
	case EMMI_DATA_SUPPLY: return MEMOBJ_MSG_DATA_SUPPLY;
	case EMMI_DATA_UNAVAILABLE: return MEMOBJ_MSG_DATA_UNAVAILABLE;
	case EMMI_DATA_ERROR: return MEMOBJ_MSG_DATA_ERROR;
	case EMMI_LOCK_REQUEST: return MEMOBJ_MSG_LOCK_REQUEST;
	case EMMI_CHANGE_ATTRIBUTES: return MEMOBJ_MSG_CHANGE_ATTRIBUTES;
	case EMMI_GET_ATTRIBUTES: return MEMOBJ_MSG_GET_ATTRIBUTES;
	case EMMI_SYNCHRONIZE_COMPLETED: return MEMOBJ_MSG_SYNCHRONIZE_COMPLETED;
	case EMMI_DESTROY: return MEMOBJ_MSG_DESTROY;
	case EMMI_SYNCHRONIZE_FAILED: return MEMOBJ_MSG_SYNCHRONIZE_FAILED;
	default: return -1;
	}
}

static void count_kind(mach_msg_id_t id)
{
	int kind = kind_of(id);
	if (kind >= 0)
		atomic_fetch_add_explicit(&messages[kind], 1, memory_order_relaxed);
}

static atomic_uint sent_total, received_total;

void emmi_stat_sent(mach_msg_id_t id)
{
	atomic_fetch_add_explicit(&sent_total, 1, memory_order_relaxed);
	count_kind(id);
}

void emmi_stat_received(const mach_msg_header_t *msg, mach_msg_size_t size)
{
	atomic_fetch_add_explicit(&received_total, 1, memory_order_relaxed);
	if (size >= sizeof(mach_msg_header_t))
		count_kind(msg->msgh_id);
}

void emmi_stat_totals(natural_t *sent, natural_t *received)
{
	*sent = atomic_load_explicit(&sent_total, memory_order_relaxed);
	*received = atomic_load_explicit(&received_total, memory_order_relaxed);
}

const char *memobj_msg_kind_name(int kind)
{
	static const char *const names[MEMOBJ_MSG_KINDS] = {
		"init", "terminate", "data_request", "data_unlock", "data_return",
		"synchronize", "lock_completed", "supply_completed",
		"change_completed", "create", "data_initialize", "data_supply",
		"data_unavailable", "data_error", "lock_request", "change_attributes",
		"get_attributes", "synchronize_completed", "destroy",
		"synchronize_failed",
	};
	return kind >= 0 && kind < MEMOBJ_MSG_KINDS ? names[kind] : NULL;
}

/* ---- served objects ---- */

struct served {
	char name[80];
	memobj_object_statistics_fn fill;
	void *arg;
};

static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;
static struct served *served;
static size_t nserved, served_cap;

static bool name_ok(const char *name)
{
	return name != NULL && name[0] != '\0' && strnlen(name, 80) < 80;
}

kern_return_t memobj_statistics_register(const char *name,
        memobj_object_statistics_fn fill, void *arg)
{
	if (!name_ok(name) || fill == NULL)
		return KERN_INVALID_ARGUMENT;
	kern_return_t kr = KERN_SUCCESS;
	pthread_mutex_lock(&served_lock);
	for (size_t i = 0; i < nserved; i++)
		if (strcmp(served[i].name, name) == 0)
			kr = KERN_NAME_EXISTS;
	if (kr == KERN_SUCCESS && nserved == served_cap) {
		size_t cap = served_cap ? served_cap * 2 : 8;
		struct served *s = realloc(served, cap * sizeof *s);
		if (s == NULL)
			kr = KERN_RESOURCE_SHORTAGE;
		else {
			served = s;
			served_cap = cap;
		}
	}
	if (kr == KERN_SUCCESS) {
		struct served *s = &served[nserved++];
		memset(s, 0, sizeof *s);
		strcpy(s->name, name);
		s->fill = fill;
		s->arg = arg;
	}
	pthread_mutex_unlock(&served_lock);
	return kr;
}

kern_return_t memobj_statistics_unregister(const char *name)
{
	if (!name_ok(name))
		return KERN_INVALID_ARGUMENT;
	kern_return_t kr = KERN_INVALID_NAME;
	pthread_mutex_lock(&served_lock);
	for (size_t i = 0; i < nserved; i++)
		if (strcmp(served[i].name, name) == 0) {
			served[i] = served[--nserved];
			kr = KERN_SUCCESS;
			break;
		}
	pthread_mutex_unlock(&served_lock);
	return kr;
}

/* Copies of the registrations, so that no lock is held across a fill. */
static size_t served_snapshot(struct served **out)
{
	pthread_mutex_lock(&served_lock);
	size_t n = nserved;
	*out = malloc((n ? n : 1) * sizeof **out);
	if (*out == NULL)
		n = 0;
	else if (n != 0)
		memcpy(*out, served, n * sizeof **out);
	pthread_mutex_unlock(&served_lock);
	return n;
}

/* ---- local answers ---- */

static void local_statistics(memobj_statistics_t *s)
{
	memset(s, 0, sizeof *s);
	struct vm_kernel *k = vm_kernel();
	s->page_size = (uint32_t)k->page_size;
	mach_msg_type_number_t count = HOST_VM_INFO_COUNT;
	host_statistics(mach_host_self(), HOST_VM_INFO, (host_info_t)&s->vm, &count);
	for (int i = 0; i < MEMOBJ_MSG_KINDS; i++)
		s->messages[i] = atomic_load_explicit(&messages[i], memory_order_relaxed);
	vm_stat_fault_histogram(s->fault_wait);
	uint32_t total = 0;
	vm_stat_objects(0, NULL, 0, &total);
	s->objects = total;
	pthread_mutex_lock(&served_lock);
	s->served = (uint32_t)nserved;
	pthread_mutex_unlock(&served_lock);
	s->pid = (int32_t)getpid();
	char host[48] = "";
	gethostname(host, sizeof host - 1);
	snprintf(s->node, sizeof s->node, "%s %d", host, (int)s->pid);
}

static uint32_t local_objects(uint32_t start, memobj_object_statistics_t *out,
        uint32_t max, uint32_t *total)
{
	uint32_t cached;
	uint32_t n = vm_stat_objects(start, out, max, &cached);
	struct served *sv;
	size_t ns = served_snapshot(&sv);
	for (size_t i = 0; i < ns; i++) {
		uint32_t index = cached + (uint32_t)i;
		if (index < start || n >= max)
			continue;
		memobj_object_statistics_t *s = &out[n++];
		memset(s, 0, sizeof *s);
		sv[i].fill(sv[i].arg, s);
		memcpy(s->name, sv[i].name, sizeof s->name);
		s->flags |= MEMOBJ_OBJECT_SERVED;
	}
	free(sv);
	*total = cached + (uint32_t)ns;
	return n;
}

/* ---- the statistics port ---- */

static pthread_once_t port_once = PTHREAD_ONCE_INIT;
static mach_port_name_t stat_port_k;

static void stat_handler(void *context, mach_msg_header_t *msg, mach_msg_size_t size)
{
	(void)context;
	mach_port_name_t reply_k = msg->msgh_remote_port;
	mach_msg_type_name_t reply_type = MACH_MSGH_BITS_REMOTE(msg->msgh_bits);
	static _Thread_local stat_reply_t r;
	memset(&r, 0, offsetof(stat_reply_t, data));
	mach_msg_size_t bytes = 0;
	const stat_request_t *req = (const stat_request_t *)msg;
	if (msg->msgh_bits & MACH_MSGH_BITS_COMPLEX) {
		ipc_mach_msg_destroy(ipc_space_kernel(), msg);   /* not ours: drop it */
		return;
	}
	if (msg->msgh_id != STAT_REQUEST_ID || size < sizeof *req) {
		r.RetCode = MIG_BAD_ARGUMENTS;
	} else {
		r.what = req->what;
		switch (req->what) {
		case WHAT_STATS:
			local_statistics((memobj_statistics_t *)(void *)r.data);
			r.total = r.count = 1;
			bytes = sizeof(memobj_statistics_t);
			break;
		case WHAT_OBJECTS: {
			static _Thread_local memobj_object_statistics_t objs[STAT_DATA_MAX / sizeof(memobj_object_statistics_t)];
			r.count = local_objects(req->start, objs,
			        STAT_DATA_MAX / sizeof objs[0], &r.total);
			bytes = r.count * (mach_msg_size_t)sizeof objs[0];
			memcpy(r.data, objs, bytes);
			break;
		}
		case WHAT_NAMES:
			r.count = net_nameserver_names(req->start, (char (*)[80])(void *)r.data,
			        STAT_DATA_MAX / 80, &r.total);
			bytes = r.count * 80u;
			break;
		default:
			r.RetCode = KERN_INVALID_ARGUMENT;
			break;
		}
	}
	/* The request carried nothing but its reply right. */
	if (!MACH_PORT_VALID(reply_k))
		return;
	if (reply_type != MACH_MSG_TYPE_PORT_SEND_ONCE && reply_type != MACH_MSG_TYPE_PORT_SEND) {
		ipc_mach_msg_destroy(ipc_space_kernel(), msg);
		return;
	}
	r.Head.msgh_bits = MACH_MSGH_BITS(reply_type == MACH_MSG_TYPE_PORT_SEND_ONCE
	        ? MACH_MSG_TYPE_MOVE_SEND_ONCE : MACH_MSG_TYPE_MOVE_SEND, 0);
	r.Head.msgh_size = (mach_msg_size_t)offsetof(stat_reply_t, data) + bytes;
	r.Head.msgh_remote_port = reply_k;
	r.Head.msgh_local_port = MACH_PORT_NULL;
	r.Head.msgh_id = STAT_REPLY_ID;
	r.NDR = NDR_record;
	mach_msg_return_t mr = ipc_mach_msg(ipc_space_kernel(), &r.Head,
	        MACH_SEND_MSG | MACH_SEND_TIMEOUT, r.Head.msgh_size, 0, MACH_PORT_NULL,
	        0, MACH_PORT_NULL);
	if (mr != MACH_MSG_SUCCESS)
		ipc_port_deallocate(ipc_space_kernel(), reply_k);
}

static void port_make(void)
{
	mach_port_name_t name;
	if (ipc_port_allocate(ipc_space_kernel(), MACH_PORT_RIGHT_RECEIVE, &name) != KERN_SUCCESS)
		return;
	if (ipc_port_set_kobject(ipc_space_kernel(), name, stat_handler, NULL) != KERN_SUCCESS) {
		ipc_port_destroy(ipc_space_kernel(), name);
		return;
	}
	stat_port_k = name;
}

kern_return_t memobj_statistics_port(mach_port_t *port)
{
	if (port == NULL)
		return KERN_INVALID_ARGUMENT;
	pthread_once(&port_once, port_make);
	if (stat_port_k == MACH_PORT_NULL)
		return KERN_RESOURCE_SHORTAGE;
	return ipc_right_transfer(ipc_space_kernel(), stat_port_k, MACH_MSG_TYPE_MAKE_SEND,
	        ipc_space_task(), port);
}

kern_return_t memobj_statistics_publish(mach_port_t name_server)
{
	mach_port_t port;
	kern_return_t kr = memobj_statistics_port(&port);
	if (kr != KERN_SUCCESS)
		return kr;
	kr = netname_check_in(name_server, MEMOBJ_STATISTICS_NAME, MACH_PORT_NULL, port);
	mach_port_deallocate(mach_task_self(), port);
	return kr;
}

/* ---- the calls: here, or an RPC to another node's port ---- */

static kern_return_t rpc(mach_port_t port, uint32_t what, uint32_t start, stat_reply_t *r)
{
	mach_port_type_t type;
	if (!MACH_PORT_VALID(port) || mach_port_type(mach_task_self(), port, &type) != KERN_SUCCESS)
		return KERN_INVALID_HOST;
	if (type & MACH_PORT_TYPE_DEAD_NAME)
		return KERN_NODE_DOWN;
	if (!(type & MACH_PORT_TYPE_SEND))
		return KERN_INVALID_HOST;
	mach_port_t reply;
	kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply);
	if (kr != KERN_SUCCESS)
		return kr;
	union { stat_request_t req; stat_reply_t rep;
	        uint8_t room[sizeof(stat_reply_t) + sizeof(mach_msg_max_trailer_t)]; } *u;
	u = calloc(1, sizeof *u);
	if (u == NULL) {
		mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1);
		return KERN_RESOURCE_SHORTAGE;
	}
	u->req.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
	u->req.Head.msgh_size = sizeof u->req;
	u->req.Head.msgh_remote_port = port;
	u->req.Head.msgh_local_port = reply;
	u->req.Head.msgh_id = STAT_REQUEST_ID;
	u->req.NDR = NDR_record;
	u->req.what = what;
	u->req.start = start;
	mach_msg_return_t mr = mach_msg(&u->req.Head, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT |
	        MACH_SEND_TIMEOUT, sizeof u->req, sizeof u->room, reply, STAT_TIMEOUT_MS,
	        MACH_PORT_NULL);
	mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1);
	if (mr == MACH_MSG_SUCCESS) {
		if (u->rep.Head.msgh_id == MACH_NOTIFY_SEND_ONCE) {
			kr = KERN_NODE_DOWN;
		} else if (u->rep.Head.msgh_id != STAT_REPLY_ID ||
		           u->rep.Head.msgh_size < offsetof(stat_reply_t, data)) {
			mach_msg_destroy(&u->rep.Head);
			kr = MIG_REPLY_MISMATCH;
		} else {
			memcpy(r, &u->rep, u->rep.Head.msgh_size);
			kr = r->RetCode;
		}
	} else if (mr == MACH_RCV_TIMED_OUT || mr == MACH_SEND_TIMED_OUT) {
		kr = KERN_OPERATION_TIMED_OUT;
	} else if (mr == MACH_SEND_INVALID_DEST) {
		kr = KERN_NODE_DOWN;
	} else {
		kr = mr;
	}
	free(u);
	return kr;
}

kern_return_t memobj_statistics(mach_port_t host, memobj_statistics_t *stats)
{
	if (stats == NULL)
		return KERN_INVALID_ARGUMENT;
	if (host == mach_host_self()) {
		local_statistics(stats);
		return KERN_SUCCESS;
	}
	stat_reply_t *r = calloc(1, sizeof *r);
	if (r == NULL)
		return KERN_RESOURCE_SHORTAGE;
	kern_return_t kr = rpc(host, WHAT_STATS, 0, r);
	if (kr == KERN_SUCCESS && r->Head.msgh_size - offsetof(stat_reply_t, data) < sizeof *stats)
		kr = MIG_TYPE_ERROR;
	if (kr == KERN_SUCCESS)
		memcpy(stats, r->data, sizeof *stats);
	free(r);
	return kr;
}

static kern_return_t list(mach_port_t host, uint32_t what, uint32_t start, void *out,
        size_t item, uint32_t *count, uint32_t *total)
{
	if (out == NULL || count == NULL || total == NULL)
		return KERN_INVALID_ARGUMENT;
	uint32_t want = *count, got = 0;
	*count = 0;
	*total = 0;
	if (host == mach_host_self()) {
		if (what == WHAT_OBJECTS) {
			*count = local_objects(start, out, want, total);
		} else {
			*count = net_nameserver_names(start, out, want, total);
		}
		return KERN_SUCCESS;
	}
	stat_reply_t *r = calloc(1, sizeof *r);
	if (r == NULL)
		return KERN_RESOURCE_SHORTAGE;
	kern_return_t kr = KERN_SUCCESS;
	/* As many round trips as the answer needs. */
	while (got < want) {
		kr = rpc(host, what, start + got, r);
		if (kr != KERN_SUCCESS)
			break;
		size_t bytes = r->Head.msgh_size - offsetof(stat_reply_t, data);
		if (r->count > bytes / item) {
			kr = MIG_TYPE_ERROR;
			break;
		}
		uint32_t n = r->count < want - got ? r->count : want - got;
		memcpy((char *)out + (size_t)got * item, r->data, (size_t)n * item);
		got += n;
		*total = r->total;
		if (r->count == 0 || start + got >= r->total)
			break;
	}
	if (kr == KERN_SUCCESS)
		*count = got;
	free(r);
	return kr;
}

kern_return_t memobj_object_statistics(mach_port_t host, uint32_t start,
        memobj_object_statistics_t *objects, uint32_t *count, uint32_t *total)
{
	return list(host, WHAT_OBJECTS, start, objects, sizeof *objects, count, total);
}

kern_return_t memobj_netname_list(mach_port_t host, uint32_t start,
        memobj_name_t *names, uint32_t *count, uint32_t *total)
{
	return list(host, WHAT_NAMES, start, names, sizeof *names, count, total);
}
