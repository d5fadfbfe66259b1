/* memobj's statistics: what a kernel has done and holds, like vm_stat, for
 * this process or for another node (memobj(7), memobj_statistics(3)).
 *
 *   memobj_statistics(mach_host_self(), &s)        this kernel
 *   memobj_statistics(port, &s)                    the node whose
 *       statistics port `port` is: look it up with
 *       netname_look_up(name_server, "", MEMOBJ_STATISTICS_NAME, &port)
 *       on a node that called memobj_statistics_publish (memobjd does).
 *
 * Numbers are counts since the kernel started; the layout is the same on
 * every node of one build (it crosses links as bytes). */
#ifndef MACH_MEMOBJ_STAT_H
#define MACH_MEMOBJ_STAT_H

#include <stdint.h>
#include <mach/message.h>
#include <mach/vm_types.h>

/* The netname a node's statistics port is checked in under. */
#define MEMOBJ_STATISTICS_NAME "memobj.statistics"

/* Messages by kind: kernel -> manager first, then manager -> kernel. */
enum memobj_msg_kind {
	MEMOBJ_MSG_INIT, MEMOBJ_MSG_TERMINATE, MEMOBJ_MSG_DATA_REQUEST,
	MEMOBJ_MSG_DATA_UNLOCK, MEMOBJ_MSG_DATA_RETURN, MEMOBJ_MSG_SYNCHRONIZE,
	MEMOBJ_MSG_LOCK_COMPLETED, MEMOBJ_MSG_SUPPLY_COMPLETED,
	MEMOBJ_MSG_CHANGE_COMPLETED, MEMOBJ_MSG_CREATE, MEMOBJ_MSG_DATA_INITIALIZE,
	MEMOBJ_MSG_DATA_SUPPLY, MEMOBJ_MSG_DATA_UNAVAILABLE, MEMOBJ_MSG_DATA_ERROR,
	MEMOBJ_MSG_LOCK_REQUEST, MEMOBJ_MSG_CHANGE_ATTRIBUTES,
	MEMOBJ_MSG_GET_ATTRIBUTES, MEMOBJ_MSG_SYNCHRONIZE_COMPLETED,
	MEMOBJ_MSG_DESTROY,
	MEMOBJ_MSG_SYNCHRONIZE_FAILED,     /* memobj extension */
	MEMOBJ_MSG_KINDS
};
#define MEMOBJ_MSG_FIRST_RECEIVED MEMOBJ_MSG_DATA_SUPPLY

/* The routine's name without "memory_object_" ("data_request"), or NULL. */
const char *memobj_msg_kind_name(int kind);

/* Fault waits: bucket i counts faults whose thread waited for a manager
 * between 2^i and 2^(i+1) microseconds (bucket 0 also holds waits under
 * 1 us; the last bucket everything longer). */
#define MEMOBJ_FAULT_BUCKETS 32

typedef struct memobj_statistics {
	uint32_t page_size;            /* this kernel's page size */
	uint32_t objects;              /* memory objects cached by this kernel */
	uint32_t served;               /* objects registered as served here */
	int32_t  pid;                  /* the node's process */
	vm_statistics_data_t vm;       /* host_statistics(HOST_VM_INFO) */
	uint64_t messages[MEMOBJ_MSG_KINDS];   /* sent and received by kind */
	uint64_t fault_wait[MEMOBJ_FAULT_BUCKETS];
	char     node[64];             /* "hostname pid" */
} memobj_statistics_t;

#define MEMOBJ_OBJECT_SERVED 0x1   /* served by a pager of this node */
#define MEMOBJ_OBJECT_READY  0x2   /* cached: its manager said ready */

typedef struct memobj_object_statistics {
	char     name[80];             /* served: its netname; cached: "" */
	uint64_t id;                   /* cached: this kernel's number for it */
	uint64_t size;                 /* bytes (cached: highest offset mapped) */
	uint32_t page_size;            /* cached: this kernel's; served: 0 */
	uint32_t flags;                /* MEMOBJ_OBJECT_* */
	uint32_t kernels;              /* kernels mapping it (cached: 1) */
	uint32_t mappings;             /* cached: mappings in this kernel */
	uint64_t resident_pages;       /* cached in this kernel */
	uint64_t dirty_pages;          /* cached: modified, not yet returned */
	uint64_t pages_in;             /* served: pages supplied to kernels */
	uint64_t pages_out;            /* served: pages returned by kernels */
} memobj_object_statistics_t;

typedef char memobj_name_t[80];

/* The kernel's statistics. KERN_SUCCESS, KERN_INVALID_ARGUMENT (NULL),
 * KERN_INVALID_HOST (neither this host nor a live statistics port),
 * KERN_NODE_DOWN or KERN_OPERATION_TIMED_OUT (the node did not answer in
 * 10 s). */
kern_return_t memobj_statistics(mach_port_t host, memobj_statistics_t *stats);

/* Per-object statistics, cached objects first, then served ones, from
 * index `start`: fills at most *count entries, sets *count to the number
 * filled and *total to how many there are. Errors as memobj_statistics. */
kern_return_t memobj_object_statistics(mach_port_t host, uint32_t start,
        memobj_object_statistics_t *objects, uint32_t *count, uint32_t *total);

/* The names checked in with the node's name server, from index `start`,
 * as memobj_object_statistics counts them. */
kern_return_t memobj_netname_list(mach_port_t host, uint32_t start,
        memobj_name_t *names, uint32_t *count, uint32_t *total);

/* A send right to this kernel's statistics port (the caller owns it), and
 * the same checked in with the name server `name_server` (MACH_PORT_NULL:
 * this node's) under MEMOBJ_STATISTICS_NAME. */
kern_return_t memobj_statistics_port(mach_port_t *port);
kern_return_t memobj_statistics_publish(mach_port_t name_server);

/* Served objects: a pager (memobjd) registers each object it serves under
 * a name; `fill` is called (any thread, no lock of memobj's held) to
 * report it when statistics are asked for. KERN_INVALID_ARGUMENT (NULL or
 * empty name, name of 80 bytes or more), KERN_NAME_EXISTS,
 * KERN_RESOURCE_SHORTAGE; unregister: KERN_INVALID_NAME when unknown. */
typedef void (*memobj_object_statistics_fn)(void *arg, memobj_object_statistics_t *stats);
kern_return_t memobj_statistics_register(const char *name,
        memobj_object_statistics_fn fill, void *arg);
kern_return_t memobj_statistics_unregister(const char *name);

#endif
