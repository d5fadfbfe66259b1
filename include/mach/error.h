/* The layout of a Mach error code (OSF/XNU mach/error.h): system in the
 * top 6 bits, subsystem in the next 12, code in the low 14. KERN_* codes
 * are system 0 (err_kern); MACH_SEND_* and MACH_RCV_* are system 4
 * (err_mach_ipc), subsystems 0 and 1; MIG_* codes (-300 and below) are
 * the old numbering of its subsystem 2. */
#ifndef MACH_ERROR_H
#define MACH_ERROR_H

#include <mach/kern_return.h>

typedef kern_return_t mach_error_t;

#define err_none            (mach_error_t)0
#define ERR_SUCCESS         (mach_error_t)0
#define err_system(x)       ((mach_error_t)(((unsigned)(x) & 0x3f) << 26))
#define err_sub(x)          ((mach_error_t)(((unsigned)(x) & 0xfff) << 14))
#define err_get_system(err) ((int)(((unsigned)(err) >> 26) & 0x3f))
#define err_get_sub(err)    ((int)(((unsigned)(err) >> 14) & 0xfff))
#define err_get_code(err)   ((int)((unsigned)(err) & 0x3fff))

#define system_emask        err_system(0x3f)
#define sub_emask           err_sub(0xfff)
#define code_emask          ((mach_error_t)0x3fff)

#define err_kern            err_system(0x0)
#define err_us              err_system(0x1)
#define err_server          err_system(0x2)
#define err_ipc             err_system(0x3)
#define err_mach_ipc        err_system(0x4)
#define err_local           err_system(0x3e)
#define err_ipc_compat      err_system(0x3f)
#define err_max_system      0x3f

#endif
