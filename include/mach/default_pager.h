/* The default pager's own interface (OSF default_pager_object.defs). */
#ifndef MACH_DEFAULT_PAGER_H
#define MACH_DEFAULT_PAGER_H

#include <mach/memory_object_types.h>

typedef mach_port_t backing_store_t;
typedef int backing_store_flavor_t;
typedef int *backing_store_info_t;

typedef struct default_pager_info {
	vm_size_t total_space;   /* bytes of backing store */
	vm_size_t free_space;    /* bytes free */
	vm_size_t page_size;     /* the pager's page size */
} default_pager_info_t;

#define BACKING_STORE_BASIC_INFO 1
struct backing_store_basic_info {
	natural_t pageout_calls;
	natural_t pagein_calls;
	natural_t pages_in;
	natural_t pages_out;
	natural_t pages_unavail;
	natural_t pages_init;
	natural_t pages_init_writes;
	natural_t bs_pages_total;
	natural_t bs_pages_free;
	natural_t bs_pages_in;
	natural_t bs_pages_in_fail;
	natural_t bs_pages_out;
	natural_t bs_pages_out_fail;
	integer_t bs_priority;
	integer_t bs_clsize;
};
typedef struct backing_store_basic_info backing_store_basic_info_data_t;
#define BACKING_STORE_BASIC_INFO_COUNT \
	((mach_msg_type_number_t)(sizeof(backing_store_basic_info_data_t) / sizeof(integer_t)))

#define DEFAULT_PAGER_BACKING_STORE_MAXPRI 4
#define BS_MAXPRI     DEFAULT_PAGER_BACKING_STORE_MAXPRI
#define BS_NOPRI      -1
#define BS_FULLPRI    -2

kern_return_t default_pager_object_create(default_pager_t pager,
        memory_object_t *memory_object, vm_size_t object_size);
kern_return_t default_pager_info(default_pager_t pager, default_pager_info_t *info);
kern_return_t default_pager_backing_store_create(default_pager_t pager,
        int priority, int clsize, backing_store_t *backing_store);
kern_return_t default_pager_backing_store_delete(backing_store_t backing_store);
kern_return_t default_pager_backing_store_info(backing_store_t backing_store,
        backing_store_flavor_t flavor, backing_store_info_t info,
        mach_msg_type_number_t *info_count);
/* On Linux the "device" is a path to a file or block device the pager opens. */
kern_return_t default_pager_add_segment(backing_store_t backing_store,
        const char *device, vm_offset_t offset, vm_size_t count, int record_size);

#endif
