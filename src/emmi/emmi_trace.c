/* MEMOBJ_TRACE: one line per EMMI and netname message this process's kernel
 * sends and receives, like rpctrace.
 *
 *   MEMOBJ_TRACE=stderr        lines on standard error
 *   MEMOBJ_TRACE=FILE          lines appended to FILE (created 0600)
 *
 * The decoder is registered with the IPC layer's trace hook (ipc_kernel.h)
 * when the library loads; with MEMOBJ_TRACE unset nothing is registered and
 * the message path pays one predictable branch. What is shown:
 *
 *   K>  a message the kernel sends: init, data_request, data_unlock,
 *       data_return, terminate, synchronize, create, data_initialize to a
 *       memory object; lock/supply/change_completed to a reply port
 *   K<  a control message the kernel receives (data_supply,
 *       data_unavailable, data_error, lock_request, change_attributes,
 *       get_attributes, synchronize_completed, destroy, and memobj's
 *       synchronize_failed), with its seqno
 *   T>  a netname request this task sends; T< its reply
 *
 * Each line: seconds since the first line, direction, seqno (or '-' when
 * the receiver has not dequeued it yet), the ports (names in the kernel's
 * space for K lines, the task's for T lines), the message name and its
 * arguments; an answer also shows the time since its request ("+37us"):
 * data_request -> data_supply/unavailable/error, data_unlock ->
 * lock_request, init -> change_attributes, synchronize ->
 * synchronize_completed or synchronize_failed, lock_request -> lock_completed, data_supply and
 * change_attributes with a reply port -> supply/change_completed, and a
 * netname request -> its reply. */
#include "emmi/emmi_msgs.h"
#include "ipc/ipc_kernel.h"
#include "os/os_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NETNAME_CHECK_IN   1040
#define NETNAME_LOOK_UP    1041
#define NETNAME_CHECK_OUT  1042
#define PENDING_MAX        512

enum pending_kind {
	P_FREE, P_INIT, P_DATA, P_UNLOCK, P_SYNC, P_LOCK, P_SUPPLY, P_CHANGE, P_NETNAME,
};

struct pending {
	enum pending_kind kind;
	mach_port_name_t port;     /* control port (K) or reply port (T) */
	vm_offset_t offset;
	vm_size_t length;
	uint64_t t;
};

static struct {
	int fd;
	uint64_t t0;
	pthread_mutex_t lock;
	struct pending pending[PENDING_MAX];
	unsigned next;
} tr = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads the message into `out` (zero past what was sent): never reads
 * beyond `size`, whatever the message claims. */
static void *fetch(const mach_msg_header_t *msg, mach_msg_size_t size, void *out, size_t n)
{
	memset(out, 0, n);
	memcpy(out, msg, size < n ? size : n);
	return out;
}

static const char *prot(vm_prot_t p, char buf[8])
{
	if (p == VM_PROT_NO_CHANGE)
		return "nochange";
	buf[0] = (p & VM_PROT_READ) ? 'r' : '-';
	buf[1] = (p & VM_PROT_WRITE) ? 'w' : '-';
	buf[2] = (p & VM_PROT_EXECUTE) ? 'x' : '-';
	buf[3] = '\0';
	return buf;
}

static const char *flavor(memory_object_flavor_t f)
{
	switch (f) {
	case MEMORY_OBJECT_PERFORMANCE_INFO: return "PERFORMANCE_INFO";
	case MEMORY_OBJECT_ATTRIBUTE_INFO: return "ATTRIBUTE_INFO";
	case MEMORY_OBJECT_BEHAVIOR_INFO: return "BEHAVIOR_INFO";
	default: return "?";
	}
}

static void pending_add(enum pending_kind kind, mach_port_name_t port,
        vm_offset_t offset, vm_size_t length, uint64_t t)
{
	struct pending *p = &tr.pending[tr.next++ % PENDING_MAX];   /* oldest goes */
	*p = (struct pending){ kind, port, offset, length, t };
}

/* The request this answer closes (same kind and port, offset inside its
 * range): its age in ns, or 0 when none is known. */
static uint64_t pending_take(enum pending_kind kind, mach_port_name_t port,
        vm_offset_t offset, bool match_offset, uint64_t t)
{
	for (unsigned i = 0; i < PENDING_MAX; i++) {
		struct pending *p = &tr.pending[(tr.next - 1 - i) % PENDING_MAX];
		if (p->kind != kind || p->port != port)
			continue;
		if (match_offset && (offset < p->offset || offset - p->offset >= (p->length ? p->length : 1)))
			continue;
		uint64_t age = t - p->t;
		p->kind = P_FREE;
		return age ? age : 1;
	}
	return 0;
}

static void emit(uint64_t t, const char *dir, const char *seq, uint64_t latency,
        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void emit(uint64_t t, const char *dir, const char *seq, uint64_t latency,
        const char *fmt, ...)
{
	char line[512];
	uint64_t rel = t - tr.t0;
	int n = snprintf(line, sizeof line, "%4llu.%06llu %s %-5s ",
	        (unsigned long long)(rel / 1000000000u),
	        (unsigned long long)(rel % 1000000000u / 1000u), dir, seq);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 40)
		n = (int)sizeof line - 40;
	if (latency != 0)
		n += snprintf(line + n, sizeof line - (size_t)n, "  +%lluus",
		        (unsigned long long)((latency + 500) / 1000));
	line[n++] = '\n';
	ssize_t w;
	do
		w = write(tr.fd, line, (size_t)n);
	while (w < 0 && errno == EINTR);
}

/* A message the kernel sends (names in the kernel space). */
static void kernel_sends(const mach_msg_header_t *msg, mach_msg_size_t size, uint64_t t)
{
	mach_port_name_t obj = msg->msgh_remote_port;
	char pb[8];
	switch (msg->msgh_id) {
	case EMMI_INIT:
	case EMMI_TERMINATE: {
		emmi_init_msg_t m;
		fetch(msg, size, &m, sizeof m);
		if (msg->msgh_id == EMMI_INIT) {
			pending_add(P_INIT, m.control.name, 0, 0, t);
			emit(t, "K>", "-", 0, "obj=%#x ctl=%#x memory_object_init page_size=%llu",
			     obj, m.control.name, (unsigned long long)m.page_size);
		} else {
			emit(t, "K>", "-", 0, "obj=%#x ctl=%#x memory_object_terminate",
			     obj, m.control.name);
		}
		break;
	}
	case EMMI_DATA_REQUEST:
	case EMMI_DATA_UNLOCK:
	case EMMI_SYNCHRONIZE: {
		emmi_range_msg_t m;
		fetch(msg, size, &m, sizeof m);
		const char *name;
		if (msg->msgh_id == EMMI_DATA_REQUEST) {
			pending_add(P_DATA, m.control.name, m.offset, m.length, t);
			name = "memory_object_data_request";
		} else if (msg->msgh_id == EMMI_DATA_UNLOCK) {
			pending_add(P_UNLOCK, m.control.name, m.offset, m.length, t);
			name = "memory_object_data_unlock";
		} else {
			pending_add(P_SYNC, m.control.name, m.offset, m.length, t);
			emit(t, "K>", "-", 0, "obj=%#x ctl=%#x memory_object_synchronize "
			     "offset=%#llx length=%#llx flags=%#x", obj, m.control.name,
			     (unsigned long long)m.offset, (unsigned long long)m.length,
			     (unsigned)m.access);
			break;
		}
		emit(t, "K>", "-", 0, "obj=%#x ctl=%#x %s offset=%#llx length=%#llx access=%s",
		     obj, m.control.name, name, (unsigned long long)m.offset,
		     (unsigned long long)m.length, prot(m.access, pb));
		break;
	}
	case EMMI_DATA_RETURN:
	case EMMI_DATA_INITIALIZE: {
		emmi_data_return_msg_t m;
		fetch(msg, size, &m, sizeof m);
		if (msg->msgh_id == EMMI_DATA_RETURN)
			emit(t, "K>", "-", 0, "obj=%#x ctl=%#x memory_object_data_return "
			     "offset=%#llx count=%#x dirty=%d kernel_copy=%d", obj,
			     m.control.name, (unsigned long long)m.offset, m.data_count,
			     m.dirty, m.kernel_copy);
		else
			emit(t, "K>", "-", 0, "obj=%#x ctl=%#x memory_object_data_initialize "
			     "offset=%#llx count=%#x", obj, m.control.name,
			     (unsigned long long)m.offset, m.data_count);
		break;
	}
	case EMMI_CREATE: {
		emmi_create_msg_t m;
		fetch(msg, size, &m, sizeof m);
		emit(t, "K>", "-", 0, "pager=%#x memory_object_create new_object=%#x "
		     "new_control=%#x size=%#llx page_size=%llu", obj, m.new_object.name,
		     m.new_control.name, (unsigned long long)m.new_object_size,
		     (unsigned long long)m.new_page_size);
		break;
	}
	case EMMI_LOCK_COMPLETED: {
		emmi_lock_completed_msg_t m;
		fetch(msg, size, &m, sizeof m);
		emit(t, "K>", "-", pending_take(P_LOCK, m.control.name, m.offset, true, t),
		     "reply=%#x ctl=%#x memory_object_lock_completed offset=%#llx length=%#llx",
		     obj, m.control.name, (unsigned long long)m.offset,
		     (unsigned long long)m.length);
		break;
	}
	case EMMI_SUPPLY_COMPLETED: {
		emmi_supply_completed_msg_t m;
		fetch(msg, size, &m, sizeof m);
		emit(t, "K>", "-", pending_take(P_SUPPLY, m.control.name, m.offset, true, t),
		     "reply=%#x ctl=%#x memory_object_supply_completed offset=%#llx "
		     "length=%#llx result=%d error_offset=%#llx", obj, m.control.name,
		     (unsigned long long)m.offset, (unsigned long long)m.length, m.result,
		     (unsigned long long)m.error_offset);
		break;
	}
	case EMMI_CHANGE_COMPLETED: {
		emmi_change_completed_msg_t m;
		fetch(msg, size, &m, sizeof m);
		emit(t, "K>", "-", pending_take(P_CHANGE, m.control.name, 0, false, t),
		     "reply=%#x ctl=%#x memory_object_change_completed flavor=%s",
		     obj, m.control.name, flavor(m.flavor));
		break;
	}
	case EMMI_GET_ATTRIBUTES + MIG_REPLY_ID_OFFSET: {
		emmi_attributes_reply_t m;
		fetch(msg, size, &m, sizeof m);
		emit(t, "K>", "-", 0, "reply=%#x memory_object_get_attributes reply "
		     "result=%d count=%u", obj, m.RetCode, m.count);
		break;
	}
	default:
		break;
	}
}

/* A control message the kernel receives (copied out into the kernel
 * space: the local port is the control port, the remote the reply). */
static void kernel_receives(const mach_msg_header_t *msg, mach_msg_size_t size,
        mach_port_seqno_t seqno, uint64_t t)
{
	mach_port_name_t ctl = msg->msgh_local_port, reply = msg->msgh_remote_port;
	char seq[16], pb[8];
	snprintf(seq, sizeof seq, "#%u", (unsigned)seqno);
	switch (msg->msgh_id) {
	case EMMI_DATA_SUPPLY: {
		emmi_data_supply_msg_t m;
		fetch(msg, size, &m, sizeof m);
		if (reply != MACH_PORT_NULL)
			pending_add(P_SUPPLY, ctl, m.offset, m.data_count, t);
		emit(t, "K<", seq, pending_take(P_DATA, ctl, m.offset, true, t),
		     "ctl=%#x memory_object_data_supply offset=%#llx count=%#x lock=%s "
		     "precious=%d reply=%#x", ctl, (unsigned long long)m.offset,
		     m.data_count, prot(m.lock_value, pb), m.precious, reply);
		break;
	}
	case EMMI_DATA_UNAVAILABLE:
	case EMMI_DATA_ERROR:
	case EMMI_SYNCHRONIZE_COMPLETED:
	case EMMI_SYNCHRONIZE_FAILED:
	case EMMI_DESTROY: {
		emmi_control_range_msg_t m;
		fetch(msg, size, &m, sizeof m);
		if (msg->msgh_id == EMMI_DATA_UNAVAILABLE)
			emit(t, "K<", seq, pending_take(P_DATA, ctl, m.offset, true, t),
			     "ctl=%#x memory_object_data_unavailable offset=%#llx size=%#llx",
			     ctl, (unsigned long long)m.offset, (unsigned long long)m.size);
		else if (msg->msgh_id == EMMI_DATA_ERROR)
			emit(t, "K<", seq, pending_take(P_DATA, ctl, m.offset, true, t),
			     "ctl=%#x memory_object_data_error offset=%#llx size=%#llx reason=%d",
			     ctl, (unsigned long long)m.offset, (unsigned long long)m.size, m.reason);
		else if (msg->msgh_id == EMMI_SYNCHRONIZE_COMPLETED)
			emit(t, "K<", seq, pending_take(P_SYNC, ctl, m.offset, true, t),
			     "ctl=%#x memory_object_synchronize_completed offset=%#llx length=%#llx",
			     ctl, (unsigned long long)m.offset, (unsigned long long)m.size);
		else if (msg->msgh_id == EMMI_SYNCHRONIZE_FAILED)
			emit(t, "K<", seq, pending_take(P_SYNC, ctl, m.offset, true, t),
			     "ctl=%#x memobj_synchronize_failed offset=%#llx length=%#llx reason=%d",
			     ctl, (unsigned long long)m.offset, (unsigned long long)m.size, m.reason);
		else
			emit(t, "K<", seq, 0, "ctl=%#x memory_object_destroy reason=%d",
			     ctl, m.reason);
		break;
	}
	case EMMI_LOCK_REQUEST: {
		emmi_lock_request_msg_t m;
		fetch(msg, size, &m, sizeof m);
		if (reply != MACH_PORT_NULL)
			pending_add(P_LOCK, ctl, m.offset, m.size, t);
		emit(t, "K<", seq, pending_take(P_UNLOCK, ctl, m.offset, true, t),
		     "ctl=%#x memory_object_lock_request offset=%#llx size=%#llx "
		     "return=%d flush=%d lock=%s reply=%#x", ctl,
		     (unsigned long long)m.offset, (unsigned long long)m.size,
		     m.should_return, m.should_flush, prot(m.lock_value, pb), reply);
		break;
	}
	case EMMI_CHANGE_ATTRIBUTES:
	case EMMI_GET_ATTRIBUTES: {
		emmi_attributes_msg_t m;
		fetch(msg, size, &m, sizeof m);
		if (msg->msgh_id == EMMI_GET_ATTRIBUTES) {
			emit(t, "K<", seq, 0, "ctl=%#x memory_object_get_attributes flavor=%s "
			     "count=%u reply=%#x", ctl, flavor(m.flavor), m.count, reply);
			break;
		}
		if (reply != MACH_PORT_NULL)
			pending_add(P_CHANGE, ctl, 0, 0, t);
		char args[96] = "";
		int n = 0;
		for (unsigned i = 0; i < m.count && i < 4 && i < EMMI_ATTRIBUTES_MAX; i++)
			n += snprintf(args + n, sizeof args - (size_t)n, "%s%d", i ? "," : "",
			              m.info[i]);
		emit(t, "K<", seq, pending_take(P_INIT, ctl, 0, false, t),
		     "ctl=%#x memory_object_change_attributes flavor=%s info={%s} reply=%#x",
		     ctl, flavor(m.flavor), args, reply);
		break;
	}
	default:
		break;
	}
}

static void netname(ipc_trace_point_t point, const mach_msg_header_t *msg,
        mach_msg_size_t size, mach_port_seqno_t seqno, uint64_t t)
{
	static const char *const names[] = { "netname_check_in", "netname_look_up",
	                                     "netname_check_out" };
	mach_msg_id_t id = msg->msgh_id;
	if (point == IPC_TRACE_SEND && id >= NETNAME_CHECK_IN && id <= NETNAME_CHECK_OUT) {
		/* Names are at fixed offsets (see src/net/net_nameserver.c). */
		struct { mach_msg_header_t h; char pad[sizeof(mach_msg_body_t) +
		         2 * sizeof(mach_msg_port_descriptor_t) + sizeof(NDR_record_t)];
		         char name[80]; } in;
		struct { mach_msg_header_t h; NDR_record_t ndr; char host[80]; char port[80]; } lu;
		char text[200];
		if (id == NETNAME_LOOK_UP) {
			fetch(msg, size, &lu, sizeof lu);
			lu.host[79] = lu.port[79] = '\0';
			snprintf(text, sizeof text, "host=\"%s\" name=\"%s\"", lu.host, lu.port);
		} else {
			fetch(msg, size, &in, sizeof in);
			const char *name = in.name;
			if (id == NETNAME_CHECK_OUT)   /* one descriptor fewer */
				name = in.name - sizeof(mach_msg_port_descriptor_t);
			char copy[80];
			memcpy(copy, name, sizeof copy);
			copy[79] = '\0';
			snprintf(text, sizeof text, "name=\"%s\"", copy);
		}
		pending_add(P_NETNAME, msg->msgh_local_port, 0, 0, t);
		emit(t, "T>", "-", 0, "server=%#x reply=%#x %s %s", msg->msgh_remote_port,
		     msg->msgh_local_port, names[id - NETNAME_CHECK_IN], text);
	} else if (point == IPC_TRACE_RECEIVE && id >= NETNAME_CHECK_IN + MIG_REPLY_ID_OFFSET &&
	           id <= NETNAME_CHECK_OUT + MIG_REPLY_ID_OFFSET) {
		char seq[16];
		snprintf(seq, sizeof seq, "#%u", (unsigned)seqno);
		const char *name = names[id - MIG_REPLY_ID_OFFSET - NETNAME_CHECK_IN];
		uint64_t lat = pending_take(P_NETNAME, msg->msgh_local_port, 0, false, t);
		if (msg->msgh_bits & MACH_MSGH_BITS_COMPLEX) {
			struct { mach_msg_header_t h; mach_msg_body_t b;
			         mach_msg_port_descriptor_t port; } r;
			fetch(msg, size, &r, sizeof r);
			emit(t, "T<", seq, lat, "reply=%#x %s reply port=%#x",
			     msg->msgh_local_port, name, r.port.name);
		} else {
			mig_reply_error_t r;
			fetch(msg, size, &r, sizeof r);
			emit(t, "T<", seq, lat, "reply=%#x %s reply result=%d",
			     msg->msgh_local_port, name, r.RetCode);
		}
	}
}

static void trace_hook(ipc_trace_point_t point, ipc_space_t space,
        const mach_msg_header_t *msg, mach_msg_size_t size, mach_port_seqno_t seqno)
{
	mach_msg_id_t id = msg->msgh_id;
	bool emmi = id >= EMMI_DATA_SUPPLY && id <= EMMI_DATA_INITIALIZE;
	bool nn = (id >= NETNAME_CHECK_IN && id <= NETNAME_CHECK_OUT) ||
	          (id >= NETNAME_CHECK_IN + MIG_REPLY_ID_OFFSET &&
	           id <= NETNAME_CHECK_OUT + MIG_REPLY_ID_OFFSET);
	if (!emmi && !nn)
		return;
	bool kernel = space == ipc_space_kernel();
	if (emmi && !kernel)
		return;
	if (nn && space != ipc_space_task())
		return;
	pthread_mutex_lock(&tr.lock);
	uint64_t t = now_ns();
	if (tr.t0 == 0)
		tr.t0 = t;
	if (nn)
		netname(point, msg, size, seqno, t);
	else if (point == IPC_TRACE_SEND)
		kernel_sends(msg, size, t);
	else if (point == IPC_TRACE_KOBJECT)
		kernel_receives(msg, size, seqno, t);
	pthread_mutex_unlock(&tr.lock);
}

__attribute__((constructor)) static void emmi_trace_start(void)
{
	const char *where = getenv("MEMOBJ_TRACE");
	if (where == NULL || *where == '\0')
		return;
	if (strcmp(where, "stderr") == 0) {
		tr.fd = dup(STDERR_FILENO);
	} else {
		tr.fd = open(where, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	}
	if (tr.fd < 0) {
		os_log(OS_LOG_ERROR, "MEMOBJ_TRACE=%s: %s; not tracing", where, strerror(errno));
		return;
	}
	fcntl(tr.fd, F_SETFD, FD_CLOEXEC);
	ipc_trace_register(trace_hook);
}
