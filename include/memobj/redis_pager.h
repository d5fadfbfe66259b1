/* redis_pager: a memory manager that keeps an object's pages in Redis or
 * Redis Cluster (far memory). See docs/redis.md for the whole story.
 *
 *   memory_object_init          remember the kernel, reply change_attributes
 *                               (cluster size, may_cache off): ready
 *   memory_object_data_request  one pipelined round trip of GETs (split per
 *                               cluster node) for the whole range; present
 *                               keys are data_supply, absent ones
 *                               data_unavailable (zero pages), a key of the
 *                               wrong type or size, or a store that stays
 *                               unreachable past the timeout, data_error
 *                               (KERN_MEMORY_ERROR: the thread gets SIGBUS)
 *   memory_object_data_return   the pages go into the pager's write-behind
 *                               table; one writer thread sends them as
 *                               pipelined SETs (group commit), and a page
 *                               leaves the table only once Redis acknowledged
 *                               it (and, with a wait option, WAIT saw enough
 *                               replicas). Until then data_requests are
 *                               served from the table, never from Redis.
 *   memory_object_synchronize   synchronize_completed once every page
 *                               returned before it is acknowledged; if the
 *                               timeout passes first, memobj_synchronize_failed
 *                               (KERN_OPERATION_TIMED_OUT, which vm_msync
 *                               returns; sync_failures counts it)
 *   memory_object_terminate     waits (up to the timeout) until every dirty
 *                               page is written, then lets go of the kernel
 *
 * Keys: page i (4096 bytes of the object at offset i * 4096, whatever the
 * kernel's page size) is the string key "memobj:NAME:i", exactly 4096
 * bytes. No hash tag: in a cluster the keys spread over every slot.
 *
 * URL: "redis://HOST[:PORT]", "unix:PATH" or
 * "redis-cluster://HOST:PORT[,HOST:PORT...]" (seed nodes; the slot map is
 * read with CLUSTER SLOTS and refreshed on MOVED/ASK and on node failure),
 * each optionally followed by "?OPT=VALUE[&OPT=VALUE...]":
 *   timeout=MS       how long a fault or a write waits for Redis (10000)
 *   threads=N        server threads, each with its own connection (2, 1..8)
 *   wait=N           every write batch ends with WAIT N: a page counts as
 *                    written only once N replicas have it (0: off)
 *   wait_timeout=MS  the WAIT's own timeout (1000)
 *   spin=US          how long a server thread polls for a fault's reply
 *                    before it sleeps (50, 0..1000; 0: always sleep)
 *
 * Two kernels mapping one name at once are NOT kept coherent by this pager
 * (each caches pages and writes them back last-writer-wins). For coherent
 * sharing, let one process map it and serve it to the others through the
 * DSM manager (<memobj/dsm_pager.h>). */
#ifndef MEMOBJ_REDIS_PAGER_H
#define MEMOBJ_REDIS_PAGER_H

#include <mach/mach.h>
#include <stdint.h>

/* The unit of storage: one key per this many bytes of the object. */
#define REDIS_PAGER_PAGE_SIZE 4096
/* Cluster size used when the caller passes 0. */
#define REDIS_PAGER_DEFAULT_CLUSTER (64 * 1024)
/* Largest cluster: a data_request never asks for more. */
#define REDIS_PAGER_MAX_CLUSTER (1024 * 1024)
#define REDIS_PAGER_DEFAULT_TIMEOUT_MS 10000

typedef struct redis_pager_stats {
	/* messages received from kernels */
	uint64_t inits, terminates, data_requests, data_unlocks, data_returns;
	uint64_t synchronizes, unknown_messages;
	/* answers sent */
	uint64_t data_supplies, data_unavailables, data_errors;
	/* store pages (4096 bytes) */
	uint64_t pages_read;          /* present keys fetched */
	uint64_t pages_absent;        /* absent keys (zero) */
	uint64_t pages_bad;           /* wrong type or size: memory error */
	uint64_t pages_written;       /* SETs acknowledged */
	uint64_t pages_dirty;         /* in the write-behind table now */
	uint64_t write_batches;       /* write pipelines sent (pages_written /
	                               * write_batches: the group commit) */
	/* failures */
	uint64_t write_errors;        /* write batches that failed (pages kept) */
	uint64_t sync_failures;       /* synchronizes answered with pages unwritten */
	uint64_t fetch_timeouts;      /* data_requests that ran out of time */
	uint64_t reconnects;          /* connections (re)made after the first */
	uint64_t redirects;           /* MOVED and ASK replies followed */
	uint64_t map_refreshes;       /* cluster slot maps read */
	uint64_t kernels_attached;    /* inits not yet terminated */
} redis_pager_stats_t;

/* Makes a memory object of `size` bytes (rounded up to 4096) whose pages
 * live in Redis under `name` (1-200 printable characters, no space, '{' or
 * '}'); `cluster` is the bytes each data_request asks for (0: the default,
 * at most REDIS_PAGER_MAX_CLUSTER, rounded to each kernel's page size).
 * Stores a send right in *object (the pager keeps it; use it with vm_map).
 * KERN_INVALID_ARGUMENT (one line on stderr) for a bad URL, name or size,
 * KERN_RESOURCE_SHORTAGE when memory or threads run out. Redis need not be
 * reachable yet: faults wait for it up to the timeout. */
kern_return_t redis_pager_create(const char *url, const char *name,
        vm_size_t size, vm_size_t cluster, memory_object_t *object);

/* Every later write batch is followed by WAIT `replicas` `timeout_ms`; a
 * page is acknowledged (leaves the table, lets a synchronize complete)
 * only when that many replicas have it. replicas 0 turns it off.
 * KERN_INVALID_NAME: not a Redis pager's object. */
kern_return_t redis_pager_set_wait(memory_object_t object, unsigned replicas,
        unsigned timeout_ms);

/* How long faults, writes and synchronizes wait for Redis (ms, > 0). */
kern_return_t redis_pager_set_timeout(memory_object_t object, unsigned timeout_ms);

/* Waits until every kernel that sent init has sent terminate and its dirty
 * pages are written (or given up after the timeout), at most timeout_ms.
 * KERN_SUCCESS or KERN_OPERATION_TIMED_OUT. */
kern_return_t redis_pager_wait_detached(memory_object_t object, unsigned timeout_ms);

/* A snapshot of the counters. */
kern_return_t redis_pager_get_stats(memory_object_t object, redis_pager_stats_t *stats);

/* Stops the pager: its threads end, pages still in the write-behind table
 * get one last try (up to the timeout; what fails is reported lost on
 * stderr), the object port and its rights go. Unmap the object first. */
kern_return_t redis_pager_destroy(memory_object_t object);

#endif
