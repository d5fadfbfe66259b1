/* VM protections, inheritance, sync flags, statistics and region info. */
#ifndef MACH_VM_TYPES_H
#define MACH_VM_TYPES_H

#include <mach/mach_types.h>

typedef int vm_prot_t;
#define VM_PROT_NONE       ((vm_prot_t)0x00)
#define VM_PROT_READ       ((vm_prot_t)0x01)
#define VM_PROT_WRITE      ((vm_prot_t)0x02)
#define VM_PROT_EXECUTE    ((vm_prot_t)0x04)
#define VM_PROT_DEFAULT    (VM_PROT_READ | VM_PROT_WRITE)
#define VM_PROT_ALL        (VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE)
#define VM_PROT_NO_CHANGE  ((vm_prot_t)0x08)

typedef unsigned int vm_inherit_t;
#define VM_INHERIT_SHARE   ((vm_inherit_t)0)
#define VM_INHERIT_COPY    ((vm_inherit_t)1)
#define VM_INHERIT_NONE    ((vm_inherit_t)2)
#define VM_INHERIT_DEFAULT VM_INHERIT_COPY
#define VM_INHERIT_LAST_VALID VM_INHERIT_NONE

typedef unsigned int vm_sync_t;
#define VM_SYNC_ASYNCHRONOUS ((vm_sync_t)0x01)
#define VM_SYNC_SYNCHRONOUS  ((vm_sync_t)0x02)
#define VM_SYNC_INVALIDATE   ((vm_sync_t)0x04)

/* vm_map flags through `anywhere` (a boolean in the OSF call). */
#define VM_FLAGS_FIXED     0x0000
#define VM_FLAGS_ANYWHERE  0x0001

typedef int vm_behavior_t;
#define VM_BEHAVIOR_DEFAULT ((vm_behavior_t)0)

/* host_statistics(HOST_VM_INFO); counts are in kernel pages. */
struct vm_statistics {
	natural_t free_count;
	natural_t active_count;     /* object pages resident in this kernel */
	natural_t inactive_count;
	natural_t wire_count;
	natural_t zero_fill_count;  /* pages zero-filled (data_unavailable) */
	natural_t reactivations;
	natural_t pageins;          /* pages installed from managers */
	natural_t pageouts;         /* pages returned to managers */
	natural_t faults;           /* page faults taken on object memory */
	natural_t cow_faults;
	natural_t lookups;          /* messages the kernel sent to managers */
	natural_t hits;             /* messages the kernel received from managers */
};
typedef struct vm_statistics *vm_statistics_t;
typedef struct vm_statistics vm_statistics_data_t;

typedef int vm_region_flavor_t;
typedef int *vm_region_info_t;
#define VM_REGION_BASIC_INFO 10
struct vm_region_basic_info {
	vm_prot_t     protection;
	vm_prot_t     max_protection;
	vm_inherit_t  inheritance;
	boolean_t     shared;
	boolean_t     reserved;
	uint32_t      offset;        /* low 32 bits, as XNU's 32-bit flavor */
	vm_behavior_t behavior;
	unsigned short user_wired_count;
};
typedef struct vm_region_basic_info vm_region_basic_info_data_t;
typedef struct vm_region_basic_info *vm_region_basic_info_t;
#define VM_REGION_BASIC_INFO_COUNT \
	((mach_msg_type_number_t)(sizeof(vm_region_basic_info_data_t) / sizeof(int)))

#endif
