/* Types and constants of the external memory management interface. */
#ifndef MACH_MEMORY_OBJECT_TYPES_H
#define MACH_MEMORY_OBJECT_TYPES_H

#include <mach/vm_types.h>
#include <mach/message.h>

typedef int memory_object_return_t;
#define MEMORY_OBJECT_RETURN_NONE     0  /* return nothing */
#define MEMORY_OBJECT_RETURN_DIRTY    1  /* return dirty pages */
#define MEMORY_OBJECT_RETURN_ALL      2  /* dirty and precious pages */
#define MEMORY_OBJECT_RETURN_ANYTHING 3  /* every resident page */

typedef int memory_object_copy_strategy_t;
#define MEMORY_OBJECT_COPY_NONE      0
#define MEMORY_OBJECT_COPY_CALL      1
#define MEMORY_OBJECT_COPY_DELAY     2
#define MEMORY_OBJECT_COPY_TEMPORARY 3
#define MEMORY_OBJECT_COPY_SYMMETRIC 4
#define MEMORY_OBJECT_COPY_INVALID   5

typedef unsigned int memory_object_cluster_size_t;
typedef int memory_object_flavor_t;
typedef int *memory_object_info_t;
typedef int memory_object_info_data_t[1024];

#define MEMORY_OBJECT_PERFORMANCE_INFO 11
#define MEMORY_OBJECT_ATTRIBUTE_INFO   14
#define MEMORY_OBJECT_BEHAVIOR_INFO    15
/* memobj extension: read-ahead advice (docs/architecture.md, Read-ahead). */
#define MEMORY_OBJECT_READAHEAD_INFO   100

/* XNU names the caching flag may_cache in one structure and
 * may_cache_object in another; both spellings work on both. */
struct memory_object_perf_info {
	memory_object_cluster_size_t cluster_size;   /* bytes per request, a page multiple */
	union { boolean_t may_cache; boolean_t may_cache_object; };
};
struct memory_object_attr_info {
	memory_object_copy_strategy_t copy_strategy;
	memory_object_cluster_size_t  cluster_size;
	union { boolean_t may_cache; boolean_t may_cache_object; };
	boolean_t                     temporary;
};
struct memory_object_behave_info {
	memory_object_copy_strategy_t copy_strategy;
	boolean_t                     temporary;
	boolean_t                     invalidate;
	boolean_t                     silent_overwrite;
	boolean_t                     advisory_pageout;
};

/* Read-ahead (memobj extension): with max_window > 0, faults in
 * consecutive clusters make the kernel send data_requests for the clusters
 * after them before they are touched: 1, 2, 4... clusters (each request at
 * most cluster_size), up to max_window bytes ahead; a fault elsewhere stops
 * it. 0 (the default) turns it off: a manager that never sets it sees only
 * the requests faults make. requests and pages are read back by
 * memory_object_get_attributes (ignored on change): the read-ahead
 * data_requests this kernel sent for the object, and the pages they asked. */
struct memory_object_readahead_info {
	memory_object_cluster_size_t max_window;
	unsigned int                 requests;
	unsigned int                 pages;
};

typedef struct memory_object_perf_info   memory_object_perf_info_data_t;
typedef struct memory_object_perf_info  *memory_object_perf_info_t;
typedef struct memory_object_attr_info   memory_object_attr_info_data_t;
typedef struct memory_object_attr_info  *memory_object_attr_info_t;
typedef struct memory_object_behave_info memory_object_behave_info_data_t;
typedef struct memory_object_behave_info *memory_object_behave_info_t;

#define MEMORY_OBJECT_PERF_INFO_COUNT \
	((mach_msg_type_number_t)(sizeof(memory_object_perf_info_data_t) / sizeof(int)))
#define MEMORY_OBJECT_ATTR_INFO_COUNT \
	((mach_msg_type_number_t)(sizeof(memory_object_attr_info_data_t) / sizeof(int)))
typedef struct memory_object_readahead_info memory_object_readahead_info_data_t;
#define MEMORY_OBJECT_READAHEAD_INFO_COUNT \
	((mach_msg_type_number_t)(sizeof(memory_object_readahead_info_data_t) / sizeof(int)))
#define MEMORY_OBJECT_BEHAVE_INFO_COUNT \
	((mach_msg_type_number_t)(sizeof(memory_object_behave_info_data_t) / sizeof(int)))

#endif
