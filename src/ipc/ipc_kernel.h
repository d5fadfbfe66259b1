/* The IPC layer as the rest of the kernel (VM, EMMI, net) sees it.
 *
 * memobj has two name spaces per process: the *task* space, which
 * mach_task_self() names and every public call works on, and the *kernel*
 * space, where the memobj kernel (VM layer) holds its own rights: the
 * receive rights of control ports, its send rights to memory objects.
 * Rights move between the two only through messages (or the explicit
 * right copy below), exactly as between a Mach task and the Mach kernel.
 *
 * Every public mach_port_* / mach_msg call is a thin wrapper that turns a
 * task port name into a space and calls the ipc_ twin declared here. */
#ifndef MEMOBJ_IPC_KERNEL_H
#define MEMOBJ_IPC_KERNEL_H

#include <stdbool.h>
#include <time.h>
#include <mach/mach.h>

typedef struct ipc_space *ipc_space_t;

ipc_space_t ipc_space_task(void);    /* the one mach_task_self() names */
ipc_space_t ipc_space_kernel(void);  /* the memobj kernel's own rights */

/* A second kernel space, for the net layer's proxies and exported rights
 * (src/net). It behaves exactly as the kernel space (kobject handlers,
 * senders never wait) but has names of its own, so the net layer's rights
 * and notification requests never share an entry with the VM's (each name
 * holds one dead-name request). Implemented in ipc_net_hooks.c. */
ipc_space_t ipc_space_net(void);

/* mach_msg in `space`; same semantics and return codes as mach_msg. */
mach_msg_return_t ipc_mach_msg(ipc_space_t space, mach_msg_header_t *msg,
        mach_msg_option_t option, mach_msg_size_t send_size,
        mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
        mach_msg_timeout_t timeout, mach_port_name_t notify);
void ipc_mach_msg_destroy(ipc_space_t space, mach_msg_header_t *msg);

kern_return_t ipc_port_allocate(ipc_space_t space, mach_port_right_t right,
        mach_port_name_t *name);
kern_return_t ipc_port_deallocate(ipc_space_t space, mach_port_name_t name);
kern_return_t ipc_port_destroy(ipc_space_t space, mach_port_name_t name);
kern_return_t ipc_port_mod_refs(ipc_space_t space, mach_port_name_t name,
        mach_port_right_t right, mach_port_delta_t delta);
kern_return_t ipc_port_get_refs(ipc_space_t space, mach_port_name_t name,
        mach_port_right_t right, mach_port_urefs_t *refs);
kern_return_t ipc_port_type(ipc_space_t space, mach_port_name_t name,
        mach_port_type_t *ptype);
kern_return_t ipc_port_insert_right(ipc_space_t space, mach_port_name_t name,
        mach_port_t poly, mach_msg_type_name_t poly_poly);
kern_return_t ipc_port_request_notification(ipc_space_t space,
        mach_port_name_t name, mach_msg_id_t msgid, mach_port_mscount_t sync,
        mach_port_t notify, mach_msg_type_name_t notify_poly,
        mach_port_t *previous);

/* Carries one right from `from` to `to` as a message would: `msgt` is a
 * disposition (COPY_SEND, MAKE_SEND, MOVE_SEND, MAKE_SEND_ONCE, ...) applied
 * to `name` in `from`; the resulting right is inserted in `to` and its name
 * returned in *to_name. A send right for a port already named in `to` gets
 * that same name (so a name in the kernel space identifies a port).
 * Errors: KERN_INVALID_NAME, KERN_INVALID_RIGHT, KERN_INVALID_CAPABILITY
 * (the name is a dead name). */
kern_return_t ipc_right_transfer(ipc_space_t from, mach_port_name_t name,
        mach_msg_type_name_t msgt, ipc_space_t to, mach_port_name_t *to_name);

/* True when `a` in space_a and `b` in space_b denote the same live port. */
boolean_t ipc_port_same(ipc_space_t space_a, mach_port_name_t a,
        ipc_space_t space_b, mach_port_name_t b);

/* Kernel objects. A receive right held in the kernel space can be given a
 * handler: a message sent to it is not queued but copied out into the
 * kernel space and handed to the handler in the sender's thread, with no
 * IPC lock held. The handler owns the message's rights (it keeps them or
 * calls ipc_mach_msg_destroy); the buffer itself is freed after it returns.
 * Out-of-line data is usually *lent*: the descriptors point at the
 * sender's own memory, valid until the handler returns (the sender is
 * still inside mach_msg), and freed afterwards only if the sender asked
 * (deallocate) — so a supply costs no copy. ipc_mach_msg_destroy releases
 * what the handler owns and leaves lent data alone; never vm_deallocate
 * OOL data yourself, and copy what must outlive the call
 * (ipc_msg_ool_lent tells whether it was lent). `size` is msg->msgh_size; the trailer (the
 * full mach_msg_max_trailer_t: seqno, sender) follows at round_msg(size).
 * Each delivery takes the port's next seqno. Handlers of one port may run
 * concurrently in several senders' threads, and a delivery dispatched
 * just before the port is destroyed may still reach the handler. When the
 * receive right leaves the kernel space (e.g. moved in a message) the
 * handler is dropped and the port becomes an ordinary queue.
 * Errors: KERN_INVALID_NAME, KERN_INVALID_RIGHT (not a receive right). */
typedef void (*ipc_kobject_handler_t)(void *context, mach_msg_header_t *msg,
        mach_msg_size_t size);
kern_return_t ipc_port_set_kobject(ipc_space_t space, mach_port_name_t name,
        ipc_kobject_handler_t handler, void *context);
boolean_t ipc_msg_ool_lent(const mach_msg_header_t *msg);
/* Says the kobject `name`'s handler reads lent OOL data only with calls
 * that fail cleanly on a bad address (pwrite, UFFDIO_COPY: EFAULT), so a
 * send to it lends the data without first checking that it is mapped (an
 * msync per message). Cleared by ipc_port_set_kobject. */
kern_return_t ipc_port_set_kobject_reads_ool_safely(ipc_space_t space,
        mach_port_name_t name);

/* True when `name` in `space` is a right (send, send-once or receive) to a kernel
 * object: a live port whose receive right a kernel-class space holds with
 * a handler (a control port of this kernel, or the net layer's proxy for
 * a port of another node). */
boolean_t ipc_port_is_kobject(ipc_space_t space, mach_port_name_t name);

/* Message tracing (ipc_trace.c). A registered hook sees every message at
 * three points: SEND, as a sender in `space` hands it to mach_msg (the
 * sender's names, before anything is checked); KOBJECT, as a kernel-class
 * `space` is about to run a kobject handler on it (names copied out into
 * that space, seqno given); RECEIVE, as a receiver in `space` gets it from
 * a queue (its names, seqno). The hook must not call into IPC. Off (NULL)
 * by default: one predictable branch per point. */
typedef enum { IPC_TRACE_SEND, IPC_TRACE_KOBJECT, IPC_TRACE_RECEIVE } ipc_trace_point_t;
typedef void (*ipc_trace_hook_t)(ipc_trace_point_t point, ipc_space_t space,
        const mach_msg_header_t *msg, mach_msg_size_t size, mach_port_seqno_t seqno);
extern ipc_trace_hook_t ipc_trace_hook_fn;
void ipc_trace_register(ipc_trace_hook_t hook);
static inline void ipc_trace(ipc_trace_point_t point, ipc_space_t space,
        const mach_msg_header_t *msg, mach_msg_size_t size, mach_port_seqno_t seqno)
{
	ipc_trace_hook_t hook = __atomic_load_n(&ipc_trace_hook_fn, __ATOMIC_RELAXED);
	if (__builtin_expect(hook != NULL, 0))
		hook(point, space, msg, size, seqno);
}

/* The handler of the kernel object `name` in `space` denotes (as
 * ipc_port_is_kobject), or NULL when it is none: lets a layer tell its own
 * kernel objects (control ports, proxies, special ports) apart. */
ipc_kobject_handler_t ipc_port_kobject_handler(ipc_space_t space,
        mach_port_name_t name);

/* The idle hook (the VM's fault reader, src/vm/vm_fault.c). A receive in
 * the task space that would sleep on a port the kernel space holds a send
 * right to (a memory object's port: the kernel's requests go there), or
 * on a set holding one, sleeps in wait() instead, with no IPC lock held,
 * until a wake(wake_fd()) from a sender (0), the deadline (-1), or page
 * faults to serve (1): the receiver then calls serve(), no longer a
 * waiter of its queue and with no IPC lock held; what serving sends (the
 * data_request) is in the queue it receives from next. wake_fd() is this
 * thread's, -1 when it has none (then the receive sleeps as before). */
struct ipc_idle_hook {
	int (*wake_fd)(void);
	int (*wait)(const struct timespec *deadline);
	void (*serve)(void);
	void (*wake)(int wake_fd);
	/* The net hook's, under the IPC lock before each wait(): the name in
	 * the net space of the port (or a set's first such member) the
	 * receive sleeps on, and the VM's hook when that receive may read
	 * faults too (else NULL): the net hook's wait then also waits for
	 * faults (fault_fd) and its serve serves them (the VM's serve). */
	void (*arm)(mach_port_name_t net_name, const struct ipc_idle_hook *faults);
	/* The VM's: the descriptor its wait watches for faults (the
	 * userfaultfd), to be waited on exclusively (EPOLLEXCLUSIVE) by
	 * another hook's wait; requeue() then keeps the fault thread's
	 * registration behind the new one. */
	int (*fault_fd)(void);
	void (*requeue)(void);
};
void ipc_set_idle_hook(const struct ipc_idle_hook *hook);
/* The net layer's idle hook (src/net/net_link.c): a receive in the task
 * space that would sleep on a port the net space holds a send right to
 * (one exported over links: their readers deliver its messages), or on a
 * set holding one among its first 64 members, and that the VM's hook
 * does not take, sleeps in its wait() instead, after arm(): the hook
 * waits on the links the port is named on as well as on wake_fd, and its
 * serve() reads what arrived on them, so the thread that receives a
 * message from a link is the one that takes it (no hand-off from the
 * link's reader). Same contract as ipc_set_idle_hook otherwise. */
void ipc_set_net_idle_hook(const struct ipc_idle_hook *hook);

#endif
