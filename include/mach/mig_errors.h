/* MIG return codes and the reply layout MIG servers use. */
#ifndef MACH_MIG_ERRORS_H
#define MACH_MIG_ERRORS_H

#include <mach/message.h>

#define MIG_TYPE_ERROR        -300
#define MIG_REPLY_MISMATCH    -301
#define MIG_REMOTE_ERROR      -302
#define MIG_BAD_ID            -303
#define MIG_BAD_ARGUMENTS     -304
#define MIG_NO_REPLY          -305
#define MIG_EXCEPTION         -306
#define MIG_ARRAY_TOO_LARGE   -307
#define MIG_SERVER_DIED       -308
#define MIG_TRAILER_ERROR     -309

/* A routine's reply carries its id plus this. */
#define MIG_REPLY_ID_OFFSET   100

typedef struct {
	unsigned char mig_vers, if_vers, reserved1, mig_encoding;
	unsigned char int_rep, char_rep, float_rep, reserved2;
} NDR_record_t;
extern const NDR_record_t NDR_record;

#pragma pack(push, 4)
typedef struct {
	mach_msg_header_t Head;
	NDR_record_t      NDR;
	kern_return_t     RetCode;
} mig_reply_error_t;
#pragma pack(pop)

/* Per-thread reply port for routines (RPCs); made on first use. */
mach_port_t mig_get_reply_port(void);
void mig_dealloc_reply_port(mach_port_t reply_port);
void mig_put_reply_port(mach_port_t reply_port);

#endif
