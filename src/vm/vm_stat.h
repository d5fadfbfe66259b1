/* The kernel's own statistics beyond host_statistics (vm_stat.c): how
 * long faults wait for managers, and what each cached object holds. */
#ifndef MEMOBJ_VM_STAT_H
#define MEMOBJ_VM_STAT_H

#include <stdint.h>
#include <time.h>
#include <mach/mach.h>

static inline uint64_t vm_stat_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A thread that began waiting at `since` (vm_stat_now) is woken. */
void vm_stat_fault_waited(uint64_t since);
void vm_stat_fault_histogram(uint64_t buckets[MEMOBJ_FAULT_BUCKETS]);

/* Statistics of the cached objects from index `start`: fills at most
 * `max`, returns how many it filled; *total is the number of objects. */
uint32_t vm_stat_objects(uint32_t start, memobj_object_statistics_t *out,
        uint32_t max, uint32_t *total);

#endif
