/* file_pager: serves a regular file as a memory object, read-only or with
 * write-back. See file_pager.h for the protocol it speaks. */
#include <memobj/file_pager.h>

#include "pager_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* A private message id that tells the pager to stop serving: every message
 * before it is handled first (a barrier); no MIG interface uses it. */
#define FILE_PAGER_QUIT_ID 0x66696c65
/* Likewise: ask every kernel for its dirty pages (file_pager_flush). */
#define FILE_PAGER_FLUSH_ID 0x666c7368

/* Read-around on a page-cache miss: the window of the file (aligned) the
 * kernel is asked to read ahead, as it does for a fault on a plain mmap
 * of a file (its default read-around is 128 KiB). */
#define FILE_PAGER_READAROUND ((uint64_t)128 << 10)

/* The most one data_supply carries: bounds the memory a request pins. */
#define FILE_PAGER_MAX_SUPPLY ((vm_size_t)16 << 20)

/* One kernel that has mapped the object: its control port names it. */
typedef struct kernel_entry {
	memory_object_control_t control;
	vm_size_t page_size;
	unsigned flush_pending;       /* lock_completed still due from it */
} kernel_entry_t;

/* Returned bytes a pwrite failed to put in the file: kept, in return
 * order, until a retry succeeds (file_pager.h, Write errors). */
typedef struct held_run {
	uint64_t offset;
	vm_address_t data;            /* the data_return's memory, still ours */
	vm_size_t size;               /* what it covers (vm_deallocate size) */
	size_t length;                /* bytes to write: up to end of file */
	struct held_run *next;
} held_run_t;

struct file_pager {
	int fd;
	bool writable;
	uint64_t file_size;
	vm_size_t cluster_size;       /* as asked at create; 0 for the default */
	memory_object_t object;       /* receive right, plus the send right we hand out */
	pager_pool_t *pool;           /* the threads that serve it (pager_pool.h) */

	/* Several pool threads serve the object at once: data_requests in
	 * parallel, each reading into a buffer of its own. */
	pthread_mutex_t buffer_lock;
	struct io_buffer *buffers;    /* free ones, for the next requests */

	/* The write side: returns, held runs, batched deallocation. The pool
	 * orders returns of one page; this lock keeps the shared list and
	 * batch whole when returns of different pages run together. */
	pthread_mutex_t write_lock;
	held_run_t *held, **held_tail;
	atomic_uint held_runs;        /* length of held: a request reads it unlocked */
	bool warned_read_only;
	vm_address_t free_lo, free_hi; /* returned memory not yet deallocated */

	pthread_mutex_t lock;         /* guards everything below */
	bool quit;                    /* the quit message was handled */
	unsigned requests_in_service; /* data_requests being served now */
	pthread_cond_t detached_cond; /* signalled when kernel_count drops to 0,
	                               * when a flush completes, at the quit */
	uint64_t flush_requests;      /* file_pager_flush calls so far */
	uint64_t flush_started;       /* flush messages the server handled */
	uint64_t flush_done;          /* flush_started when the last completed */
	unsigned flush_pending;       /* lock_completed due from all kernels */
	kernel_entry_t *kernels;
	size_t kernel_count, kernel_capacity;
	file_pager_stats_t stats;
};

/* The pager whose message this thread is handling: the routines find it
 * here, because memory_object_server_routines passes no context. */
static _Thread_local file_pager_t *served_pager;

/* A buffer for file data on its way to a kernel. */
typedef struct io_buffer {
	vm_address_t address;
	vm_size_t size;
	struct io_buffer *next;
} io_buffer_t;

static vm_size_t round_up(vm_size_t value, vm_size_t page_size)
{
	return (value + page_size - 1) & ~(page_size - 1);
}

/* Adds `delta` to one counter under the lock. */
#define COUNT(pager, field, delta) do { \
	pthread_mutex_lock(&(pager)->lock); \
	(pager)->stats.field += (delta); \
	pthread_mutex_unlock(&(pager)->lock); \
} while (0)

/* ---- the kernels that map us -------------------------------------------- */

static kernel_entry_t *find_kernel_locked(file_pager_t *pager,
        memory_object_control_t control)
{
	for (size_t i = 0; i < pager->kernel_count; i++)
		if (pager->kernels[i].control == control)
			return &pager->kernels[i];
	return NULL;
}

static bool add_kernel(file_pager_t *pager, memory_object_control_t control,
        vm_size_t page_size)
{
	bool ok = true;
	pthread_mutex_lock(&pager->lock);
	kernel_entry_t *entry = find_kernel_locked(pager, control);
	if (entry == NULL && pager->kernel_count == pager->kernel_capacity) {
		size_t capacity = pager->kernel_capacity ? 2 * pager->kernel_capacity : 4;
		kernel_entry_t *grown = realloc(pager->kernels, capacity * sizeof *grown);
		if (grown) {
			pager->kernels = grown;
			pager->kernel_capacity = capacity;
		} else {
			ok = false;
		}
	}
	if (ok) {
		if (entry == NULL)
			entry = &pager->kernels[pager->kernel_count++];
		*entry = (kernel_entry_t){ control, page_size, 0 };
		pager->stats.inits++;
	}
	pthread_mutex_unlock(&pager->lock);
	return ok;
}

static void remove_kernel(file_pager_t *pager, memory_object_control_t control)
{
	pthread_mutex_lock(&pager->lock);
	kernel_entry_t *entry = find_kernel_locked(pager, control);
	if (entry) {
		/* Its lock_completed will never come: a flush waits no more. */
		pager->flush_pending -= entry->flush_pending;
		if (entry->flush_pending != 0 && pager->flush_pending == 0) {
			pager->flush_done = pager->flush_started;
			pthread_cond_broadcast(&pager->detached_cond);
		}
		*entry = pager->kernels[--pager->kernel_count];
	}
	pager->stats.terminates++;
	if (pager->kernel_count == 0)
		pthread_cond_broadcast(&pager->detached_cond);
	pthread_mutex_unlock(&pager->lock);
}

/* ---- reading the file ---------------------------------------------------- */

/* Reads up to `length` bytes at `offset`; a short count means end of file.
 * Returns the bytes read, or -1 with errno set. */
static ssize_t read_fully(int fd, void *buffer, size_t length, uint64_t offset)
{
	size_t done = 0;
	while (done < length) {
		ssize_t n = pread(fd, (char *)buffer + done, length - done,
		                  (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* read_fully, but a miss in the file's page cache first starts the
 * kernel's readahead of the aligned window around the range: random
 * faults on a cold file then cost about what they cost a plain mmap,
 * whose fault handler reads around the same way. The non-blocking probe
 * (RWF_NOWAIT) keeps a cached file at one read per request. */
static ssize_t read_around(int fd, void *buffer, size_t length, uint64_t offset)
{
	struct iovec iov = { buffer, length };
	ssize_t n = preadv2(fd, &iov, 1, (off_t)offset, RWF_NOWAIT);
	if (n == (ssize_t)length)
		return n;
	size_t done = n > 0 ? (size_t)n : 0;
	uint64_t start = offset & ~(FILE_PAGER_READAROUND - 1);
	uint64_t end = (offset + length + FILE_PAGER_READAROUND - 1) &
	               ~(FILE_PAGER_READAROUND - 1);
	posix_fadvise(fd, (off_t)start, (off_t)(end - start), POSIX_FADV_WILLNEED);
	ssize_t rest = read_fully(fd, (char *)buffer + done, length - done,
	                          offset + done);
	return rest < 0 ? -1 : (ssize_t)(done + (size_t)rest);
}

static void count_send(file_pager_t *pager, kern_return_t kr)
{
	if (kr != KERN_SUCCESS)
		COUNT(pager, send_failures, 1);
}

/* A buffer of at least `size` bytes, kept from one request to the next
 * (one per request served at once: at most the pool's threads).
 *
 * Why not a fresh vm_allocate per request, supplied with deallocate=TRUE?
 * The kernel copies supplied data into its page cache (a memfd, which
 * cannot adopt our pages) either way, so handing the pages over saves no
 * copy; it only adds an mmap, a fault per fresh page and a munmap per
 * request: about a quarter of the paging time, measured. */
static io_buffer_t *take_buffer(file_pager_t *pager, vm_size_t size)
{
	pthread_mutex_lock(&pager->buffer_lock);
	io_buffer_t *b = pager->buffers;
	if (b != NULL)
		pager->buffers = b->next;
	pthread_mutex_unlock(&pager->buffer_lock);
	if (b == NULL && (b = calloc(1, sizeof *b)) == NULL)
		return NULL;
	if (b->size < size) {
		if (b->size)
			vm_deallocate(mach_task_self(), b->address, b->size);
		b->size = 0;
		if (vm_allocate(mach_task_self(), &b->address, size, TRUE) != KERN_SUCCESS) {
			free(b);
			return NULL;
		}
		b->size = size;
	}
	return b;
}

static void give_buffer(file_pager_t *pager, io_buffer_t *b)
{
	pthread_mutex_lock(&pager->buffer_lock);
	b->next = pager->buffers;
	pager->buffers = b;
	pthread_mutex_unlock(&pager->buffer_lock);
}

/* ---- returned memory -------------------------------------------------------- */

/* Deallocated once it reaches this much, or at the next synchronize,
 * terminate or destroy. */
#define FILE_PAGER_FREE_BATCH ((vm_size_t)4 << 20)

static void flush_free(file_pager_t *pager)
{
	if (pager->free_hi > pager->free_lo)
		vm_deallocate(mach_task_self(), pager->free_lo,
		              pager->free_hi - pager->free_lo);
	pager->free_lo = pager->free_hi = 0;
}

/* Frees a data_return's memory. The kernel hands out the memory of
 * successive returns side by side, so adjacent regions are gathered and
 * unmapped at once: one unmap (and one TLB shootdown across the CPUs)
 * for a batch instead of one per returned page, a tenth of the time of a
 * random-write workload that pages out. */
static void release_returned(file_pager_t *pager, vm_address_t data, vm_size_t size)
{
	if (size == 0)
		return;
	if (pager->free_hi > pager->free_lo &&
	    pager->free_hi - pager->free_lo + size <= FILE_PAGER_FREE_BATCH) {
		if (data + size == pager->free_lo) {
			pager->free_lo = data;
			return;
		}
		if (data == pager->free_hi) {
			pager->free_hi += size;
			return;
		}
	}
	flush_free(pager);
	pager->free_lo = data;
	pager->free_hi = data + size;
}

/* ---- writing the file ---------------------------------------------------- */

/* Writes all of `length` bytes at `offset`. 0, or -1 with errno set. */
static int write_fully(int fd, const void *data, size_t length, uint64_t offset)
{
	size_t done = 0;
	while (done < length) {
		ssize_t n = pwrite(fd, (const char *)data + done, length - done,
		                   (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;      /* no progress: do not spin */
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Writes one run; on failure says so and counts it. */
static bool write_run(file_pager_t *pager, const void *data, size_t length,
        uint64_t offset)
{
	if (write_fully(pager->fd, data, length, offset) == 0) {
		COUNT(pager, bytes_written, length);
		return true;
	}
	fprintf(stderr, "file_pager: pwrite of %zu bytes at %llu: %s (kept, "
	        "will retry)\n", length, (unsigned long long)offset, strerror(errno));
	COUNT(pager, write_errors, 1);
	return false;
}

/* Tries the held runs again, oldest first, stopping at the first failure
 * (order matters: a later run may cover an earlier one). With
 * `probe_only`, tries only the oldest (a data_return while the disk is
 * failing should not retry everything each time). True when none is left. */
static bool retry_held(file_pager_t *pager, bool probe_only)
{
	while (pager->held != NULL) {
		held_run_t *run = pager->held;
		if (!write_run(pager, (void *)(uintptr_t)run->data, run->length,
		               run->offset))
			return false;
		pager->held = run->next;
		if (pager->held == NULL)
			pager->held_tail = &pager->held;
		atomic_fetch_sub(&pager->held_runs, 1);
		COUNT(pager, held_bytes, -(uint64_t)run->length);
		vm_deallocate(mach_task_self(), run->data, run->size);
		free(run);
		if (probe_only && pager->held != NULL)
			return false;
	}
	return true;
}

/* Whether a held run overlaps [offset, offset + length). (write_lock) */
static bool overlaps_held(file_pager_t *pager, uint64_t offset, size_t length)
{
	for (held_run_t *run = pager->held; run != NULL; run = run->next)
		if (run->offset < offset + length && offset < run->offset + run->length)
			return true;
	return false;
}

/* Keeps a returned run that did not reach the file; false if it cannot
 * (then the caller must drop it, loudly). */
static bool hold_run(file_pager_t *pager, vm_address_t data, vm_size_t size,
        size_t length, uint64_t offset)
{
	held_run_t *run = malloc(sizeof *run);
	if (run == NULL)
		return false;
	*run = (held_run_t){ offset, data, size, length, NULL };
	*pager->held_tail = run;
	pager->held_tail = &run->next;
	atomic_fetch_add(&pager->held_runs, 1);
	COUNT(pager, held_bytes, length);
	return true;
}

/* A data_request must see what the file would hold: copy the held runs
 * over the bytes just read, oldest first. */
static void overlay_held(file_pager_t *pager, char *buffer, uint64_t pos,
        vm_size_t chunk)
{
	/* A run held for these pages was held by a return before this
	 * request (the pool ordered them), so the count shows it; runs held
	 * meanwhile are of other pages. */
	if (atomic_load(&pager->held_runs) == 0)
		return;
	pthread_mutex_lock(&pager->write_lock);
	for (held_run_t *run = pager->held; run != NULL; run = run->next) {
		uint64_t lo = run->offset > pos ? run->offset : pos;
		uint64_t hi = run->offset + run->length < pos + chunk
		        ? run->offset + run->length : pos + chunk;
		if (lo < hi)
			memcpy(buffer + (lo - pos),
			       (const char *)(uintptr_t)run->data + (lo - run->offset),
			       hi - lo);
	}
	pthread_mutex_unlock(&pager->write_lock);
}

/* Answers [offset, offset + length) for one kernel: file data in pages,
 * zero in the rest of the last page, data_unavailable past it. */
static void serve_range(file_pager_t *pager, memory_object_control_t control,
        vm_size_t page_size, vm_offset_t offset, vm_size_t length)
{
	vm_offset_t end = offset + length;
	/* End of the last page that holds any of the file. */
	vm_offset_t data_end = round_up(pager->file_size, page_size);

	for (vm_offset_t pos = offset; pos < end && pos < data_end;) {
		vm_size_t chunk = end < data_end ? end - pos : data_end - pos;
		if (chunk > FILE_PAGER_MAX_SUPPLY)
			chunk = FILE_PAGER_MAX_SUPPLY;

		io_buffer_t *io = take_buffer(pager, chunk);
		char *buffer = io ? (char *)(uintptr_t)io->address : NULL;
		ssize_t got = -1;
		size_t want = pager->file_size - pos < chunk
		        ? (size_t)(pager->file_size - pos) : (size_t)chunk;
		if (buffer != NULL)
			got = read_around(pager->fd, buffer, want, pos);
		if (got < 0) {
			if (io != NULL)
				give_buffer(pager, io);
			/* The faulting threads get a memory error (SIGBUS). */
			COUNT(pager, data_errors, 1);
			count_send(pager, memory_object_data_error(control, pos, end - pos,
			        KERN_MEMORY_ERROR));
			return;
		}
		/* Past the end of the file (or of a file that shrank): zero. */
		memset(buffer + got, 0, chunk - (size_t)got);
		overlay_held(pager, buffer, pos, chunk);

		/* Counted before sending: once the faulting thread sees the
		 * page, the counters already show it. */
		pthread_mutex_lock(&pager->lock);
		pager->stats.data_supplies++;
		pager->stats.pages_in += chunk / page_size;
		pager->stats.bytes_read += (uint64_t)got;
		pthread_mutex_unlock(&pager->lock);
		/* deallocate=FALSE: the kernel copies, the buffer stays ours. */
		count_send(pager, memory_object_data_supply(control, pos,
		        (pointer_t)(uintptr_t)buffer, (mach_msg_type_number_t)chunk,
		        FALSE, VM_PROT_NONE, FALSE, MACH_PORT_NULL));
		give_buffer(pager, io);
		pos += chunk;
	}
	if (end > data_end) {
		vm_offset_t start = offset > data_end ? offset : data_end;
		COUNT(pager, data_unavailables, 1);
		count_send(pager, memory_object_data_unavailable(control, start, end - start));
	}
}

/* ---- the server interface (memory_object_routines_t) ---------------------- */

static kern_return_t file_pager_init(memory_object_t object, mach_port_seqno_t seqno,
        memory_object_control_t control, vm_size_t page_size)
{
	(void)object; (void)seqno;
	file_pager_t *pager = served_pager;
	if (page_size == 0 || (page_size & (page_size - 1)) != 0)
		return KERN_INVALID_ARGUMENT;    /* releases the control right */
	if (!add_kernel(pager, control, page_size))
		return KERN_RESOURCE_SHORTAGE;

	/* The ready handshake (SPEC 3.1): until this arrives, faults wait. */
	vm_size_t cluster = round_up(pager->cluster_size ? pager->cluster_size
	                             : FILE_PAGER_DEFAULT_CLUSTER, page_size);
	memory_object_perf_info_data_t perf = {
		.cluster_size = (memory_object_cluster_size_t)cluster,
		.may_cache = FALSE,   /* let go of the object when the last map goes */
	};
	COUNT(pager, change_attributes, 1);
	count_send(pager, memory_object_change_attributes(control,
	        MEMORY_OBJECT_PERFORMANCE_INFO, (memory_object_info_t)&perf,
	        MEMORY_OBJECT_PERF_INFO_COUNT, MACH_PORT_NULL));
	/* Sequential reads get the next clusters asked for ahead of them
	 * (up to FILE_PAGER_READAHEAD_CLUSTERS), as a file read would. */
	memory_object_readahead_info_data_t ra = {
		.max_window = (memory_object_cluster_size_t)(cluster *
		              FILE_PAGER_READAHEAD_CLUSTERS),
	};
	count_send(pager, memory_object_change_attributes(control,
	        MEMORY_OBJECT_READAHEAD_INFO, (memory_object_info_t)&ra,
	        MEMORY_OBJECT_READAHEAD_INFO_COUNT, MACH_PORT_NULL));
	/* KERN_SUCCESS: we keep the send right to the control port. */
	return KERN_SUCCESS;
}

static kern_return_t file_pager_data_request(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t desired_access)
{
	(void)object; (void)seqno; (void)desired_access;
	file_pager_t *pager = served_pager;
	pthread_mutex_lock(&pager->lock);
	pager->stats.data_requests++;
	if (pager->requests_in_service++ != 0)
		pager->stats.requests_overlapped++;
	kernel_entry_t *entry = find_kernel_locked(pager, control);
	vm_size_t page_size = entry ? entry->page_size : 0;
	pthread_mutex_unlock(&pager->lock);
	if (page_size == 0) {
		/* No init from this kernel: not ours to answer. */
	} else if ((offset | length) & (page_size - 1)) {
		COUNT(pager, data_errors, 1);
		count_send(pager, memory_object_data_error(control, offset, length,
		        KERN_INVALID_ARGUMENT));
	} else if (length != 0) {
		serve_range(pager, control, page_size, offset, length);
	}
	pthread_mutex_lock(&pager->lock);
	pager->requests_in_service--;
	pthread_mutex_unlock(&pager->lock);
	/* Each message that carries the control port adds a reference to our
	 * send right (SPEC 3.11); init's is the one we keep. */
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* Only a write to a locked page asks this. The pager never supplies
 * locked pages, so for a writable pager there is nothing to withhold:
 * lift the lock. A read-only pager refuses. */
static kern_return_t file_pager_data_unlock(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_prot_t desired_access)
{
	(void)object; (void)seqno; (void)desired_access;
	file_pager_t *pager = served_pager;
	COUNT(pager, data_unlocks, 1);
	if (pager->writable) {
		count_send(pager, memory_object_lock_request(control, offset, length,
		        MEMORY_OBJECT_RETURN_NONE, FALSE, VM_PROT_NONE, MACH_PORT_NULL));
	} else {
		COUNT(pager, data_errors, 1);
		count_send(pager, memory_object_data_error(control, offset, length,
		        KERN_PROTECTION_FAILURE));
	}
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* Writes the returned pages into the file, up to its end. The pool runs a
 * data_request for these pages that was queued behind this return only
 * once this handler has finished, so the pwrite is done before the file
 * is read for them (SPEC section 6: a refault can follow a data_return at
 * once). Keep it synchronous here: handing it to another thread would
 * break that. */
static kern_return_t file_pager_data_return(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, pointer_t data, mach_msg_type_number_t data_count,
        boolean_t dirty, boolean_t kernel_copy)
{
	(void)object; (void)seqno; (void)kernel_copy;
	file_pager_t *pager = served_pager;
	COUNT(pager, data_returns, 1);
	/* The part inside the file; the rest is past the object's end. */
	size_t length = offset >= pager->file_size ? 0
	        : pager->file_size - offset < data_count
	        ? (size_t)(pager->file_size - offset) : (size_t)data_count;
	bool keep = false;
	pthread_mutex_lock(&pager->write_lock);
	if (!pager->writable) {
		/* A writable mapping of a read-only pager: nothing can hold the
		 * data; say so once rather than lose it without a word. */
		if (dirty && !pager->warned_read_only) {
			pager->warned_read_only = true;
			fprintf(stderr, "file_pager: writes to a read-only pager's "
			        "object are dropped (map it read-only)\n");
		}
		if (dirty)
			COUNT(pager, bytes_dropped, length);
	} else if (dirty && length > 0) {
		/* The oldest held run is tried first. Behind a held run it
		 * overlaps, this one waits its turn (the later write must land
		 * last); one that overlaps none is written now, so a range the
		 * file refuses holds back no other (returns of different pages
		 * run in either order on the pool's threads). */
		bool clear = retry_held(pager, true);
		bool written = (clear || !overlaps_held(pager, offset, length)) &&
		        write_run(pager, (void *)(uintptr_t)data, length, offset);
		if (!written) {
			keep = hold_run(pager, data, data_count, length, offset);
			if (!keep)
				fprintf(stderr, "file_pager: out of memory: %zu bytes "
				        "at %llu lost\n", length, (unsigned long long)offset);
		}
	}
	if (dirty && data_count > length)
		COUNT(pager, bytes_past_eof, data_count - length);
	if (!keep)
		release_returned(pager, data, data_count);
	pthread_mutex_unlock(&pager->write_lock);
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* The kernel returned the range's dirty pages before this message, and
 * they are written already (a barrier: the pool ran it after every
 * message before it): make them durable.
 * fdatasync covers the whole file, more than the range: there is no
 * narrower call that also flushes the metadata a read needs. */
static kern_return_t file_pager_synchronize(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length, vm_sync_t sync_flags)
{
	(void)object; (void)seqno; (void)sync_flags;
	file_pager_t *pager = served_pager;
	COUNT(pager, synchronizes, 1);
	pthread_mutex_lock(&pager->write_lock);
	flush_free(pager);
	bool failed = false;
	if (pager->writable) {
		retry_held(pager, false);
		/* Returned bytes of this range still held: not in the file. */
		for (held_run_t *run = pager->held; run; run = run->next)
			if (run->offset < (uint64_t)offset + length &&
			    run->offset + run->length > (uint64_t)offset)
				failed = true;
	}
	pthread_mutex_unlock(&pager->write_lock);
	if (pager->writable) {
		int err;
		while ((err = fdatasync(pager->fd)) != 0 && errno == EINTR)
			;
		if (err != 0) {
			fprintf(stderr, "file_pager: fdatasync: %s\n", strerror(errno));
			COUNT(pager, sync_errors, 1);
			failed = true;
		}
	}
	/* vm_msync reports the failure (memobj's extension beyond OSF). */
	if (failed)
		count_send(pager, memobj_synchronize_failed(control, offset, length,
		                                            KERN_MEMORY_ERROR));
	else
		count_send(pager, memory_object_synchronize_completed(control, offset, length));
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* The kernel let go: the message moved the control port's receive right to
 * us; destroying the name drops it and every send right we held. */
static kern_return_t file_pager_terminate(memory_object_t object,
        mach_port_seqno_t seqno, memory_object_control_t control)
{
	(void)object; (void)seqno;
	pthread_mutex_lock(&served_pager->write_lock);
	flush_free(served_pager);
	pthread_mutex_unlock(&served_pager->write_lock);
	remove_kernel(served_pager, control);
	mach_port_destroy(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* A flush is complete when every kernel asked has answered: the returned
 * pages were handled before each lock_completed (same port, in order). */
static void flush_finish_locked(file_pager_t *pager)
{
	pager->flush_done = pager->flush_started;
	pthread_cond_broadcast(&pager->detached_cond);
}

/* Frees what returns left to batch, writes what is held, fdatasync. */
static void flush_sync(file_pager_t *pager)
{
	pthread_mutex_lock(&pager->write_lock);
	flush_free(pager);
	if (pager->writable)
		retry_held(pager, false);
	pthread_mutex_unlock(&pager->write_lock);
	if (!pager->writable)
		return;
	int err;
	while ((err = fdatasync(pager->fd)) != 0 && errno == EINTR)
		;
	if (err != 0) {
		fprintf(stderr, "file_pager: fdatasync: %s\n", strerror(errno));
		COUNT(pager, sync_errors, 1);
	}
}

static kern_return_t file_pager_lock_completed(mach_port_t reply,
        mach_port_seqno_t seqno, memory_object_control_t control,
        vm_offset_t offset, vm_size_t length)
{
	(void)reply; (void)seqno; (void)offset; (void)length;
	file_pager_t *pager = served_pager;
	bool last = false;
	pthread_mutex_lock(&pager->lock);
	kernel_entry_t *entry = find_kernel_locked(pager, control);
	if (entry != NULL && entry->flush_pending != 0) {
		entry->flush_pending--;
		last = --pager->flush_pending == 0;
	}
	pthread_mutex_unlock(&pager->lock);
	if (last) {
		flush_sync(pager);
		pthread_mutex_lock(&pager->lock);
		if (pager->flush_pending == 0)
			flush_finish_locked(pager);
		pthread_mutex_unlock(&pager->lock);
	}
	mach_port_deallocate(mach_task_self(), control);
	return KERN_SUCCESS;
}

/* The pool's part of file_pager_flush (a barrier): ask each kernel for its
 * dirty pages, lock_completed to our own port. Never waits here: the
 * answers come through the pool, and a handler that waited for a later
 * message of its own object would wedge it (SPEC section 6). */
static void flush_start(file_pager_t *pager)
{
	pthread_mutex_lock(&pager->lock);
	pager->flush_started++;
	size_t n = pager->kernel_count;
	kernel_entry_t *ks = malloc((n ? n : 1) * sizeof *ks);
	if (ks != NULL && n != 0)
		memcpy(ks, pager->kernels, n * sizeof *ks);
	pthread_mutex_unlock(&pager->lock);
	for (size_t i = 0; ks != NULL && i < n; i++) {
		vm_size_t size = round_up(pager->file_size ? pager->file_size : 1, ks[i].page_size);
		kern_return_t kr = memory_object_lock_request(ks[i].control, 0, size,
		        MEMORY_OBJECT_RETURN_DIRTY, FALSE, VM_PROT_NO_CHANGE, pager->object);
		count_send(pager, kr);
		if (kr != KERN_SUCCESS)
			continue;
		pthread_mutex_lock(&pager->lock);
		kernel_entry_t *entry = find_kernel_locked(pager, ks[i].control);
		if (entry != NULL) {
			entry->flush_pending++;
			pager->flush_pending++;
		}
		pthread_mutex_unlock(&pager->lock);
	}
	free(ks);
	pthread_mutex_lock(&pager->lock);
	bool idle = pager->flush_pending == 0;
	pthread_mutex_unlock(&pager->lock);
	if (idle) {
		flush_sync(pager);
		pthread_mutex_lock(&pager->lock);
		flush_finish_locked(pager);
		pthread_mutex_unlock(&pager->lock);
	}
}

static const memory_object_routines_t file_pager_routines = {
	.lock_completed = file_pager_lock_completed,
	.init = file_pager_init,
	.terminate = file_pager_terminate,
	.data_request = file_pager_data_request,
	.data_unlock = file_pager_data_unlock,
	.data_return = file_pager_data_return,
	.synchronize = file_pager_synchronize,
};

/* ---- serving: the pool ------------------------------------------------------ */

static boolean_t file_pager_demux(void *ctx, mach_msg_header_t *in,
        mach_msg_header_t *out)
{
	file_pager_t *pager = ctx;
	served_pager = pager;
	pthread_mutex_lock(&pager->lock);
	bool quit = pager->quit;
	if (in->msgh_id == FILE_PAGER_QUIT_ID) {
		/* Every message before it has been handled (a barrier). */
		pager->quit = true;
		pthread_cond_broadcast(&pager->detached_cond);
	}
	pthread_mutex_unlock(&pager->lock);
	if (quit)
		return FALSE;     /* after the quit: as if still queued at destroy */
	if (in->msgh_id == FILE_PAGER_QUIT_ID || in->msgh_id == FILE_PAGER_FLUSH_ID) {
		if (in->msgh_id == FILE_PAGER_FLUSH_ID)
			flush_start(pager);
		/* A one-way message: fill the reply as MIG would, send nothing. */
		mig_reply_error_t *reply = (mig_reply_error_t *)out;
		*reply = (mig_reply_error_t){ .Head = { .msgh_size = sizeof *reply,
		        .msgh_id = in->msgh_id + MIG_REPLY_ID_OFFSET },
		        .NDR = NDR_record, .RetCode = MIG_NO_REPLY };
		return TRUE;
	}
	if (memory_object_server_routines(&file_pager_routines, in, out))
		return TRUE;
	COUNT(pager, unknown_messages, 1);
	return FALSE;
}

/* The pager's private messages are barriers; the EMMI ones as the pool
 * orders them (requests in parallel, a return before a later request for
 * its pages). */
static pager_pool_order_t file_pager_classify(void *ctx, mach_msg_header_t *in,
        vm_offset_t *offset, vm_size_t *length)
{
	(void)ctx;
	if (in->msgh_id == FILE_PAGER_QUIT_ID || in->msgh_id == FILE_PAGER_FLUSH_ID)
		return PAGER_POOL_BARRIER;
	return pager_pool_classify_emmi(in, offset, length);
}

/* ---- public calls ---------------------------------------------------------- */

static file_pager_t *create(const char *path, vm_size_t cluster_size,
        bool writable, memory_object_t *object_out)
{
	if (path == NULL || object_out == NULL) {
		errno = EINVAL;
		return NULL;
	}
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	int saved = 0;
	if (fstat(fd, &st) != 0)
		saved = errno;
	else if (!S_ISREG(st.st_mode))
		saved = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	if (saved != 0) {
		close(fd);
		errno = saved;
		return NULL;
	}
	file_pager_t *pager = calloc(1, sizeof *pager);
	if (pager == NULL) {
		close(fd);
		return NULL;
	}
	pager->fd = fd;
	pager->writable = writable;
	pager->held_tail = &pager->held;
	atomic_init(&pager->held_runs, 0);
	pager->file_size = (uint64_t)st.st_size;
	pager->cluster_size = cluster_size > ((vm_size_t)1 << 30)
	        ? (vm_size_t)1 << 30 : cluster_size;
	pthread_mutex_init(&pager->lock, NULL);
	pthread_mutex_init(&pager->buffer_lock, NULL);
	pthread_mutex_init(&pager->write_lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pager->detached_cond, &attr);
	pthread_condattr_destroy(&attr);

	if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE,
	                       &pager->object) != KERN_SUCCESS)
		goto fail;
	if (mach_port_insert_right(mach_task_self(), pager->object, pager->object,
	                           MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS) {
		mach_port_destroy(mach_task_self(), pager->object);
		goto fail;
	}
	pager->pool = pager_pool_create(0, MEMORY_OBJECT_MSG_SIZE_MAX);
	if (pager->pool == NULL) {
		mach_port_destroy(mach_task_self(), pager->object);
		goto fail;
	}
	if (pager_pool_add(pager->pool, pager->object, true, file_pager_demux,
	                   file_pager_classify, pager) != KERN_SUCCESS) {
		pager_pool_destroy(pager->pool);
		mach_port_destroy(mach_task_self(), pager->object);
		goto fail;
	}
	*object_out = pager->object;
	return pager;

fail:
	pthread_cond_destroy(&pager->detached_cond);
	pthread_mutex_destroy(&pager->write_lock);
	pthread_mutex_destroy(&pager->buffer_lock);
	pthread_mutex_destroy(&pager->lock);
	close(fd);
	free(pager);
	errno = EAGAIN;
	return NULL;
}

file_pager_t *file_pager_create(const char *path, vm_size_t cluster_size,
        memory_object_t *object_out)
{
	return create(path, cluster_size, false, object_out);
}

file_pager_t *file_pager_create_writable(const char *path,
        vm_size_t cluster_size, memory_object_t *object_out)
{
	return create(path, cluster_size, true, object_out);
}

kern_return_t file_pager_wait_detached(file_pager_t *pager, unsigned timeout_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pager->lock);
	int err = 0;
	while (pager->kernel_count > 0 && err == 0)
		err = pthread_cond_timedwait(&pager->detached_cond, &pager->lock, &deadline);
	bool detached = pager->kernel_count == 0;
	pthread_mutex_unlock(&pager->lock);
	return detached ? KERN_SUCCESS : KERN_OPERATION_TIMED_OUT;
}

void file_pager_destroy(file_pager_t *pager)
{
	if (pager == NULL)
		return;
	/* Queued behind every message already sent to us, so a terminate
	 * that is on its way is still handled. */
	mach_msg_header_t quit = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof quit,
		.msgh_remote_port = pager->object,
		.msgh_id = FILE_PAGER_QUIT_ID,
	};
	if (mach_msg(&quit, MACH_SEND_MSG, sizeof quit, 0, MACH_PORT_NULL,
	             MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL) == MACH_MSG_SUCCESS) {
		pthread_mutex_lock(&pager->lock);
		while (!pager->quit)
			pthread_cond_wait(&pager->detached_cond, &pager->lock);
		pthread_mutex_unlock(&pager->lock);
	}
	/* No handler runs after this: every pool thread has stopped. */
	pager_pool_destroy(pager->pool);

	mach_port_destroy(mach_task_self(), pager->object);
	flush_free(pager);
	/* Last chance for data a pwrite refused; what is left is lost. */
	if (!retry_held(pager, false)) {
		uint64_t lost = 0;
		for (held_run_t *run = pager->held; run != NULL; run = run->next)
			lost += run->length;
		fprintf(stderr, "file_pager: destroyed with %llu bytes that could "
		        "not be written: lost\n", (unsigned long long)lost);
	}
	while (pager->held != NULL) {
		held_run_t *run = pager->held;
		pager->held = run->next;
		vm_deallocate(mach_task_self(), run->data, run->size);
		free(run);
	}
	for (size_t i = 0; i < pager->kernel_count; i++)
		mach_port_deallocate(mach_task_self(), pager->kernels[i].control);
	while (pager->buffers != NULL) {
		io_buffer_t *b = pager->buffers;
		pager->buffers = b->next;
		vm_deallocate(mach_task_self(), b->address, b->size);
		free(b);
	}
	free(pager->kernels);
	pthread_cond_destroy(&pager->detached_cond);
	pthread_mutex_destroy(&pager->write_lock);
	pthread_mutex_destroy(&pager->buffer_lock);
	pthread_mutex_destroy(&pager->lock);
	close(pager->fd);
	free(pager);
}

kern_return_t file_pager_flush(file_pager_t *pager, unsigned timeout_ms)
{
	if (pager == NULL)
		return KERN_INVALID_ARGUMENT;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pager->lock);
	uint64_t ticket = ++pager->flush_requests;
	pthread_mutex_unlock(&pager->lock);
	/* Behind every message already queued, like the quit message. */
	mach_msg_header_t flush = {
		.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0),
		.msgh_size = sizeof flush,
		.msgh_remote_port = pager->object,
		.msgh_id = FILE_PAGER_FLUSH_ID,
	};
	mach_msg_return_t mr = mach_msg(&flush, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof flush,
	        0, MACH_PORT_NULL, timeout_ms, MACH_PORT_NULL);
	if (mr == MACH_SEND_TIMED_OUT)
		return KERN_OPERATION_TIMED_OUT;
	if (mr != MACH_MSG_SUCCESS)
		return KERN_FAILURE;
	pthread_mutex_lock(&pager->lock);
	int err = 0;
	while (pager->flush_done < ticket && err == 0)
		err = pthread_cond_timedwait(&pager->detached_cond, &pager->lock, &deadline);
	bool done = pager->flush_done >= ticket;
	pthread_mutex_unlock(&pager->lock);
	return done ? KERN_SUCCESS : KERN_OPERATION_TIMED_OUT;
}

void file_pager_get_stats(file_pager_t *pager, file_pager_stats_t *stats)
{
	pthread_mutex_lock(&pager->lock);
	*stats = pager->stats;
	stats->kernels_attached = pager->kernel_count;
	pthread_mutex_unlock(&pager->lock);
}

uint64_t file_pager_file_size(const file_pager_t *pager)
{
	return pager->file_size;
}
