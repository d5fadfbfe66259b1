/* file_pager: a memory manager that serves a regular file, read-only.
 *
 * file_pager_create opens the file, makes a memory object port (the pager
 * holds its receive right) and starts one server thread that answers the
 * kernel's messages for it:
 *
 *   memory_object_init          remember the kernel (its control port and
 *                               page size), reply change_attributes: ready
 *   memory_object_data_request  pread the range into a buffer the pager
 *                               reuses, memory_object_data_supply;
 *                               whole pages past the end of the file are
 *                               data_unavailable (zero), the tail of the
 *                               last page is zero; a read error is
 *                               data_error(KERN_MEMORY_ERROR)
 *   memory_object_terminate     forget that kernel, destroy its control port
 *
 * Any task maps the object with vm_map(..., object, ...). The file's size is
 * taken once, at create. Several kernels may map one pager; each gets its
 * own entry. One server thread handles every message in arrival order, so
 * each object's requests stay in order (SPEC section 6).
 *
 * Write-back is for a later issue: data_return would pwrite the pages (the
 * file would then be opened O_RDWR). Map the object read-only until then:
 * a write through a writable mapping would reach the kernel's cache and be
 * dropped when the page comes back.
 *
 * Several pagers may live in one process: each has its own port and thread,
 * and dispatches with memory_object_server_routines, so no pager claims the
 * link-time memory_object_* names. */
#ifndef MEMOBJ_FILE_PAGER_H
#define MEMOBJ_FILE_PAGER_H

#include <mach/mach.h>
#include <stdint.h>

typedef struct file_pager file_pager_t;

/* Cluster size used when the caller passes 0: bytes the kernel asks for at
 * once (a whole number of the kernel's pages). */
#define FILE_PAGER_DEFAULT_CLUSTER (64 * 1024)

/* What the pager has done so far. Messages are counted as they arrive,
 * replies just before the pager sends them: a thread that sees a page
 * finds it counted already. */
typedef struct file_pager_stats {
	/* messages received from kernels */
	uint64_t inits;
	uint64_t data_requests;
	uint64_t terminates;
	uint64_t data_unlocks;       /* refused: the pager is read-only */
	uint64_t data_returns;       /* dropped until write-back exists */
	uint64_t synchronizes;       /* completed at once */
	uint64_t unknown_messages;   /* ids no memory object routine knows */
	/* messages sent to kernels */
	uint64_t change_attributes;  /* the "ready" reply to each init */
	uint64_t data_supplies;
	uint64_t data_unavailables;
	uint64_t data_errors;
	uint64_t send_failures;      /* control calls that did not return KERN_SUCCESS */
	/* data */
	uint64_t pages_in;           /* pages supplied, in the kernels' page sizes */
	uint64_t bytes_read;         /* bytes read from the file */
	uint64_t kernels_attached;   /* inits not yet terminated */
} file_pager_stats_t;

/* Opens `path` read-only and starts serving it. `cluster_size` (bytes, 0 for
 * the default, at most 1 GiB) is what the pager tells each kernel in its
 * ready reply; it is rounded up to that kernel's page size. On success returns the pager and
 * stores the object's port name in *object_out: a send right the pager
 * keeps; use it with vm_map, do not deallocate it. On failure returns NULL
 * with errno set. */
file_pager_t *file_pager_create(const char *path, vm_size_t cluster_size,
        memory_object_t *object_out);

/* Waits until every kernel that called init has sent terminate (that is,
 * every mapping is gone, the kernel let go of the object), at most
 * timeout_ms milliseconds. KERN_SUCCESS or KERN_OPERATION_TIMED_OUT. */
kern_return_t file_pager_wait_detached(file_pager_t *pager, unsigned timeout_ms);

/* Stops the server thread and destroys the object port and the rights the
 * pager still holds. Unmap the object first (and, to be tidy, wait with
 * file_pager_wait_detached): a kernel still mapping it finds its manager
 * dead, and its faults fail. */
void file_pager_destroy(file_pager_t *pager);

/* A consistent snapshot of the counters. */
void file_pager_get_stats(file_pager_t *pager, file_pager_stats_t *stats);

/* The file's size in bytes, as taken at create. */
uint64_t file_pager_file_size(const file_pager_t *pager);

#endif
