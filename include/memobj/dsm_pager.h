/* dsm_pager: coherent distributed shared memory over the EMMI.
 *
 * dsm_pager_create makes a memory object whose data lives in this process
 * (the manager). Publish it (netname_check_in) and any number of kernels,
 * in this process, in others or on other hosts, vm_map it, each with its
 * own page size (4 KiB to 2 MiB). The manager keeps them coherent: single
 * writer / many readers, write-invalidate, so every access sees the last
 * write to that byte (sequential consistency per page), and an atomic
 * read-modify-write instruction is atomic across kernels (a page being
 * written is held by one kernel only). docs/dsm.md describes the protocol,
 * how page sizes mix, and what happens when a kernel or the manager dies.
 *
 * The objects are served on the pager's own threads (DSM_PAGER_THREADS for
 * every object of the process together); each object's messages are
 * handled in the order the kernels sent them (sequence numbers). */
#ifndef MEMOBJ_DSM_PAGER_H
#define MEMOBJ_DSM_PAGER_H

#include <mach/mach.h>
#include <stdint.h>

/* Threads serving every DSM object of the process. */
#define DSM_PAGER_THREADS 2
/* Kernels one object tracks over its life (inits, live or gone). */
#define DSM_PAGER_MAX_KERNELS 64
/* The manager's coherence bookkeeping unit (bytes): the smallest page. */
#define DSM_PAGER_GRANULE 4096

/* Makes an object of `size` bytes (a multiple of DSM_PAGER_GRANULE, at
 * most 16 GiB), zero-filled. *object receives a send right the pager keeps
 * (use it with vm_map or netname_check_in; do not deallocate it).
 * KERN_INVALID_ARGUMENT: size 0, not a multiple of the granule, too large,
 * or object NULL. KERN_RESOURCE_SHORTAGE: no memory, ports or threads. */
kern_return_t dsm_pager_create(vm_size_t size, memory_object_t *object);

/* Stops serving the object and frees it. Kernels that still map it find
 * their manager gone: their faults on it give SIGBUS.
 * KERN_INVALID_ARGUMENT: not an object dsm_pager_create made. */
kern_return_t dsm_pager_destroy(memory_object_t object);

/* The messages the protocol uses, counted per kernel. */
typedef enum dsm_msg_kind {
	/* kernel -> manager */
	DSM_MSG_INIT,
	DSM_MSG_DATA_REQUEST,
	DSM_MSG_DATA_UNLOCK,
	DSM_MSG_DATA_RETURN,
	DSM_MSG_LOCK_COMPLETED,
	DSM_MSG_SYNCHRONIZE,
	DSM_MSG_TERMINATE,
	/* manager -> kernel */
	DSM_MSG_CHANGE_ATTRIBUTES,  /* the ready reply to init */
	DSM_MSG_DATA_SUPPLY,        /* data_supply, or data_unavailable for memory
	                               nobody ever had (zero-filled by the kernel) */
	DSM_MSG_LOCK_FLUSH,         /* lock_request(should_flush): invalidate */
	DSM_MSG_LOCK_UNLOCK,        /* lock_request(VM_PROT_NONE): grant write */
	DSM_MSG_LOCK_DOWNGRADE,     /* lock_request(VM_PROT_WRITE): keep a read copy */
	DSM_MSG_SYNCHRONIZE_COMPLETED,
	DSM_MSG_DATA_ERROR,
	DSM_MSG_KINDS
} dsm_msg_kind_t;

/* A short name for a kind ("data_request", ...); "?" for others. */
const char *dsm_msg_kind_name(dsm_msg_kind_t kind);

typedef enum dsm_kernel_state {
	DSM_KERNEL_ATTACHED,        /* init seen, mapping the object */
	DSM_KERNEL_TERMINATED,      /* sent terminate: let go cleanly */
	DSM_KERNEL_DEAD             /* its control port died (kernel gone) */
} dsm_kernel_state_t;

/* One kernel that sent init, in the order the inits arrived. */
typedef struct dsm_kernel_info {
	memory_object_control_t control;  /* the manager's name for its control port */
	vm_size_t page_size;
	dsm_kernel_state_t state;
	uint64_t faults;                  /* data_requests + data_unlocks */
	uint64_t messages[DSM_MSG_KINDS]; /* messages by kind, both ways */
	uint64_t pages_lost;              /* granules it held for writing when it died */
} dsm_kernel_info_t;

/* Copies up to *count kernel records into `kernels` (in init order) and
 * sets *count to how many the object has. KERN_INVALID_ARGUMENT: bad
 * object or NULL count (kernels may be NULL when *count is 0). */
kern_return_t dsm_pager_kernels(memory_object_t object,
        dsm_kernel_info_t *kernels, unsigned *count);

/* Waits until at least `count` kernels have sent init, at most timeout_ms.
 * KERN_SUCCESS, KERN_OPERATION_TIMED_OUT or KERN_INVALID_ARGUMENT. */
kern_return_t dsm_pager_wait_kernels(memory_object_t object, unsigned count,
        unsigned timeout_ms);

#endif
