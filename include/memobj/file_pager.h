/* file_pager: a memory manager that serves a regular file, read-only or
 * read-write.
 *
 * file_pager_create (read-only) or file_pager_create_writable opens the
 * file, makes a memory object port (the pager holds its receive right) and
 * starts a small pool of server threads (MEMOBJ_PAGER_THREADS, default the
 * online CPUs, 2 to 4) that answer the kernel's messages for it:
 *
 *   memory_object_init          remember the kernel (its control port and
 *                               page size), reply change_attributes: ready
 *   memory_object_data_request  pread the range into a buffer the pager
 *                               reuses, memory_object_data_supply;
 *                               whole pages past the end of the file are
 *                               data_unavailable (zero), the tail of the
 *                               last page is zero; a read error is
 *                               data_error(KERN_MEMORY_ERROR)
 *   memory_object_data_return   writable: pwrite the pages into the file;
 *                               read-only: drop them (counted, and said
 *                               once on stderr). Then vm_deallocate them.
 *   memory_object_synchronize   writable: fdatasync, then
 *                               synchronize_completed(offset, length) as
 *                               received, or memobj_synchronize_failed
 *                               (KERN_MEMORY_ERROR) when pages of the range
 *                               are held or fdatasync failed; read-only:
 *                               completed at once
 *   memory_object_terminate     forget that kernel, destroy its control port
 *
 * Any task maps the object with vm_map(..., object, ...). Several kernels
 * may map one pager; each gets its own entry.
 *
 * Size. The object's size is the file's size, taken once at create; the
 * pager never changes the file's size. A mapping past the end reads zeros;
 * writes there are dropped when the pages come back (counted in
 * bytes_past_eof). A dirty page that straddles the end is written only up
 * to the end.
 *
 * Order. The threads serve data_requests side by side (several threads
 * faulting on one object are served in parallel), but keep the order the
 * protocol needs, by the messages' seqnos (SPEC 3.11, section 6): a
 * data_return's pwrite has completed before a data_request that follows
 * it for any of its pages (a refault right after a pageout) reads the
 * file, so the refault sees the written data; returns of one page are
 * written in the order the kernel sent them; init, terminate, synchronize
 * and lock_completed each run alone, after every message before them.
 * docs/pager_pool.md has the rules.
 *
 * Write errors. A pwrite that fails (EIO, ENOSPC, ...) is logged on stderr
 * and counted (write_errors); the pages are not dropped: the pager keeps
 * them in memory (held_bytes), serves later data_requests from them, and
 * tries again, oldest first, before each later write-back and at each
 * synchronize and at destroy. While any are held, newer returns are held
 * behind them, so the file is never written out of order. A synchronize
 * of a range with pages still held, or whose fdatasync failed, makes
 * vm_msync return KERN_MEMORY_ERROR (memobj_synchronize_failed); the
 * counters held_bytes / write_errors / sync_errors say more. Pages still held at destroy are reported lost on stderr.
 *
 * Several pagers may live in one process: each has its own port and pool,
 * and dispatches with memory_object_server_routines, so no pager claims the
 * link-time memory_object_* names. */
#ifndef MEMOBJ_FILE_PAGER_H
#define MEMOBJ_FILE_PAGER_H

#include <mach/mach.h>
#include <stdint.h>

typedef struct file_pager file_pager_t;

/* Cluster size used when the caller passes 0: bytes the kernel asks for at
 * once (a whole number of the kernel's pages). Good for reading; for
 * random writes one page is best (extra pages arrive clean, and a later
 * write to one costs a write-protect fault; see bench_writeback). */
#define FILE_PAGER_DEFAULT_CLUSTER (64 * 1024)

/* Read-ahead the pager asks each kernel for (MEMORY_OBJECT_READAHEAD_INFO):
 * at most this many clusters ahead of a sequential read. */
#define FILE_PAGER_READAHEAD_CLUSTERS 8

/* What the pager has done so far. Messages are counted as they arrive,
 * replies just before the pager sends them: a thread that sees a page
 * finds it counted already. */
typedef struct file_pager_stats {
	/* messages received from kernels */
	uint64_t inits;
	uint64_t data_requests;
	uint64_t terminates;
	uint64_t data_unlocks;       /* read-only: refused; writable: lifted */
	uint64_t data_returns;
	uint64_t synchronizes;
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
	/* write-back */
	uint64_t bytes_written;      /* bytes pwritten into the file */
	uint64_t bytes_dropped;      /* returned to a read-only pager */
	uint64_t bytes_past_eof;     /* returned beyond the file's end: dropped */
	uint64_t write_errors;       /* failed pwrite attempts (data held) */
	uint64_t held_bytes;         /* returned, not yet in the file */
	uint64_t sync_errors;        /* failed fdatasync calls */
	/* serving threads (MEMOBJ_PAGER_THREADS) */
	uint64_t requests_overlapped; /* data_requests begun while another
	                               * was being served: the pool at work */
} file_pager_stats_t;

/* Opens `path` read-only and starts serving it. `cluster_size` (bytes, 0 for
 * the default, at most 1 GiB) is what the pager tells each kernel in its
 * ready reply; it is rounded up to that kernel's page size. On success returns the pager and
 * stores the object's port name in *object_out: a send right the pager
 * keeps; use it with vm_map, do not deallocate it. On failure returns NULL
 * with errno set. Map the object read-only: writes through a writable
 * mapping are dropped when the pages come back (bytes_dropped). */
file_pager_t *file_pager_create(const char *path, vm_size_t cluster_size,
        memory_object_t *object_out);

/* The same, but opens `path` O_RDWR and writes returned pages back into
 * it (see Write errors above); vm_msync makes a range durable. */
file_pager_t *file_pager_create_writable(const char *path,
        vm_size_t cluster_size, memory_object_t *object_out);

/* Waits until every kernel that called init has sent terminate (that is,
 * every mapping is gone, the kernel let go of the object), at most
 * timeout_ms milliseconds. KERN_SUCCESS or KERN_OPERATION_TIMED_OUT. */
kern_return_t file_pager_wait_detached(file_pager_t *pager, unsigned timeout_ms);

/* Asks every kernel that maps the object for its dirty pages
 * (memory_object_lock_request with MEMORY_OBJECT_RETURN_DIRTY, pages kept
 * cached), and returns once all have answered and the pages are in the
 * file (fdatasync), at most timeout_ms milliseconds. A kernel that
 * terminates meanwhile counts as answered. Read-only pagers: returns when
 * the kernels answered (returned pages are dropped, see above).
 * KERN_SUCCESS, KERN_OPERATION_TIMED_OUT, KERN_INVALID_ARGUMENT (NULL),
 * KERN_FAILURE (the pager's port is gone). Do not call it from a thread
 * the pager's kernel needs to answer (it waits). memobjd calls it at
 * shutdown. */
kern_return_t file_pager_flush(file_pager_t *pager, unsigned timeout_ms);

/* Handles every message already queued, stops the server threads (joined:
 * none is left) and destroys the object port and the rights the
 * pager still holds. Unmap the object first (and, to be tidy, wait with
 * file_pager_wait_detached): a kernel still mapping it finds its manager
 * dead, and its faults fail. */
void file_pager_destroy(file_pager_t *pager);

/* A consistent snapshot of the counters. */
void file_pager_get_stats(file_pager_t *pager, file_pager_stats_t *stats);

/* The file's size in bytes, as taken at create. */
uint64_t file_pager_file_size(const file_pager_t *pager);

#endif
