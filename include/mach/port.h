/* Port names, rights and their attributes (OSF/XNU values). */
#ifndef MACH_PORT_H
#define MACH_PORT_H

#include <mach/mach_types.h>

#define MACH_PORT_NULL  ((mach_port_t)0)
#define MACH_PORT_DEAD  ((mach_port_t)~0u)
#define MACH_PORT_VALID(name) \
	(((name) != MACH_PORT_NULL) && ((name) != MACH_PORT_DEAD))

#define MACH_PORT_RIGHT_SEND       ((mach_port_right_t)0)
#define MACH_PORT_RIGHT_RECEIVE    ((mach_port_right_t)1)
#define MACH_PORT_RIGHT_SEND_ONCE  ((mach_port_right_t)2)
#define MACH_PORT_RIGHT_PORT_SET   ((mach_port_right_t)3)
#define MACH_PORT_RIGHT_DEAD_NAME  ((mach_port_right_t)4)
#define MACH_PORT_RIGHT_NUMBER     ((mach_port_right_t)5)

#define MACH_PORT_TYPE(right) ((mach_port_type_t)(1u << ((right) + 16)))
#define MACH_PORT_TYPE_NONE       ((mach_port_type_t)0)
#define MACH_PORT_TYPE_SEND       MACH_PORT_TYPE(MACH_PORT_RIGHT_SEND)
#define MACH_PORT_TYPE_RECEIVE    MACH_PORT_TYPE(MACH_PORT_RIGHT_RECEIVE)
#define MACH_PORT_TYPE_SEND_ONCE  MACH_PORT_TYPE(MACH_PORT_RIGHT_SEND_ONCE)
#define MACH_PORT_TYPE_PORT_SET   MACH_PORT_TYPE(MACH_PORT_RIGHT_PORT_SET)
#define MACH_PORT_TYPE_DEAD_NAME  MACH_PORT_TYPE(MACH_PORT_RIGHT_DEAD_NAME)
#define MACH_PORT_TYPE_SEND_RECEIVE (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE)
#define MACH_PORT_TYPE_SEND_RIGHTS  (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)
#define MACH_PORT_TYPE_PORT_RIGHTS  (MACH_PORT_TYPE_SEND_RIGHTS | MACH_PORT_TYPE_RECEIVE)
#define MACH_PORT_TYPE_PORT_OR_DEAD (MACH_PORT_TYPE_PORT_RIGHTS | MACH_PORT_TYPE_DEAD_NAME)
#define MACH_PORT_TYPE_ALL_RIGHTS   (MACH_PORT_TYPE_PORT_OR_DEAD | MACH_PORT_TYPE_PORT_SET)
/* A dead-name request is registered on this name. */
#define MACH_PORT_TYPE_DNREQUEST  0x80000000u

#define MACH_PORT_UREFS_MAX ((mach_port_urefs_t)((1u << 16) - 1))
#define MACH_PORT_UREFS_OVERFLOW(urefs, delta) \
	(((delta) > 0) && ((((urefs) + (delta)) <= (urefs)) || \
	                   (((urefs) + (delta)) > MACH_PORT_UREFS_MAX)))
#define MACH_PORT_UREFS_UNDERFLOW(urefs, delta) \
	(((delta) < 0) && (((mach_port_urefs_t)-(delta)) > (urefs)))

#define MACH_PORT_QLIMIT_ZERO     ((mach_port_msgcount_t)0)
#define MACH_PORT_QLIMIT_BASIC    ((mach_port_msgcount_t)5)
#define MACH_PORT_QLIMIT_SMALL    ((mach_port_msgcount_t)16)
#define MACH_PORT_QLIMIT_LARGE    ((mach_port_msgcount_t)1024)
#define MACH_PORT_QLIMIT_MIN      MACH_PORT_QLIMIT_ZERO
#define MACH_PORT_QLIMIT_DEFAULT  MACH_PORT_QLIMIT_BASIC
#define MACH_PORT_QLIMIT_MAX      MACH_PORT_QLIMIT_LARGE

/* mach_port_get_attributes / set_attributes flavors */
#define MACH_PORT_LIMITS_INFO       1
#define MACH_PORT_RECEIVE_STATUS    2
#define MACH_PORT_DNREQUESTS_SIZE   3

typedef struct mach_port_limits {
	mach_port_msgcount_t mpl_qlimit;
} mach_port_limits_t;
#define MACH_PORT_LIMITS_INFO_COUNT \
	((natural_t)(sizeof(mach_port_limits_t) / sizeof(natural_t)))

typedef struct mach_port_status {
	mach_port_name_t     mps_pset;     /* containing port set */
	mach_port_seqno_t    mps_seqno;    /* sequence number */
	mach_port_mscount_t  mps_mscount;  /* make-send count */
	mach_port_msgcount_t mps_qlimit;   /* queue limit */
	mach_port_msgcount_t mps_msgcount; /* number in the queue */
	mach_port_rights_t   mps_sorights; /* how many send-once rights */
	boolean_t            mps_srights;  /* do send rights exist? */
	boolean_t            mps_pdrequest;/* port-deleted requested? */
	boolean_t            mps_nsrequest;/* no-senders requested? */
	natural_t            mps_flags;
} mach_port_status_t;
#define MACH_PORT_RECEIVE_STATUS_COUNT \
	((natural_t)(sizeof(mach_port_status_t) / sizeof(natural_t)))
#define MACH_PORT_DNREQUESTS_SIZE_COUNT 1

#endif
