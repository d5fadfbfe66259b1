/* mach_error_string, mach_error_type and mach_error: the texts Mach's
 * libmach prints for a return code, as OSF and XNU word them. A code is
 * system | subsystem | code (mach/error.h); the MIG codes (-300 ...) are
 * the old numbering of (ipc/mig) and are mapped first, as libmach does.
 * The texts are XNU's current ones (send codes 5 and 14 are
 * MACH_SEND_INVALID_VOUCHER and MACH_SEND_TOO_LARGE there, no longer
 * Mach 3's "will notify" and "no notify possible"). Where XNU answers
 * NULL (a system with no table), this answers "(?/?) unknown error
 * system": the result is always a string. */
#include <mach/mach_error.h>

#include <stdio.h>

static const char *const kern_texts[] = {
	"(os/kern) successful",                     /* KERN_SUCCESS 0 */
	"(os/kern) invalid address",
	"(os/kern) protection failure",
	"(os/kern) no space available",
	"(os/kern) invalid argument",
	"(os/kern) failure",                        /* 5 */
	"(os/kern) resource shortage",
	"(os/kern) not receiver",
	"(os/kern) no access",
	"(os/kern) memory failure",
	"(os/kern) memory error",                   /* 10 */
	"(os/kern) already in set",
	"(os/kern) not in set",
	"(os/kern) name exists",
	"(os/kern) aborted",
	"(os/kern) invalid name",                   /* 15 */
	"(os/kern) invalid task",
	"(os/kern) invalid right",
	"(os/kern) invalid value",
	"(os/kern) urefs overflow",
	"(os/kern) invalid capability",             /* 20 */
	"(os/kern) right exists",
	"(os/kern) invalid host",
	"(os/kern) memory present",
	"(os/kern) memory data moved",
	"(os/kern) memory restart copy",            /* 25 */
	"(os/kern) invalid processor set",
	"(os/kern) policy limit",
	"(os/kern) invalid policy",
	"(os/kern) invalid object",
	"(os/kern) already waiting",                /* 30 */
	"(os/kern) default set",
	"(os/kern) exception protected",
	"(os/kern) invalid ledger",
	"(os/kern) invalid memory control",
	"(os/kern) invalid security",               /* 35 */
	"(os/kern) not depressed",
	"(os/kern) object terminated",
	"(os/kern) lock set destroyed",
	"(os/kern) lock unstable",
	"(os/kern) lock owned by another",          /* 40 */
	"(os/kern) lock owned by self",
	"(os/kern) semaphore destroyed",
	"(os/kern) RPC terminated",
	"(os/kern) terminate orphan",
	"(os/kern) let orphan continue",            /* 45 */
	"(os/kern) service not supported",
	"(os/kern) remote node down",
	"(os/kern) thread not waiting",
	"(os/kern) operation timed out",            /* KERN_OPERATION_TIMED_OUT 49 */
};

static const char *const send_texts[] = {
	"(ipc/send) no error",
	"(ipc/send) send in progress",
	"(ipc/send) invalid data",
	"(ipc/send) invalid destination port",
	"(ipc/send) timed out",
	"(ipc/send) invalid voucher",               /* 5 */
	"(ipc/send) unused error",
	"(ipc/send) interrupted",
	"(ipc/send) msg too small",
	"(ipc/send) invalid reply port",
	"(ipc/send) invalid port right",            /* 10 */
	"(ipc/send) invalid notify port",
	"(ipc/send) invalid memory",
	"(ipc/send) no msg buffer",
	"(ipc/send) msg too large",
	"(ipc/send) invalid msg-type",              /* 15 */
	"(ipc/send) invalid msg-header",
	"(ipc/send) invalid msg-trailer",
};

static const char *const rcv_texts[] = {
	"(ipc/rcv) no error",
	"(ipc/rcv) receive in progress",
	"(ipc/rcv) invalid name",
	"(ipc/rcv) timed out",
	"(ipc/rcv) msg too large",
	"(ipc/rcv) interrupted",                    /* 5 */
	"(ipc/rcv) port changed",
	"(ipc/rcv) invalid notify port",
	"(ipc/rcv) invalid data",
	"(ipc/rcv) port died",
	"(ipc/rcv) port in set",                    /* 10 */
	"(ipc/rcv) header error",
	"(ipc/rcv) body error",
	"(ipc/rcv) invalid scatter list entry",
	"(ipc/rcv) overwrite region too small",
	"(ipc/rcv) invalid msg-trailer",            /* 15 */
};

static const char *const mig_texts[] = {
	"(ipc/mig) client type check failure",      /* MIG_TYPE_ERROR -300 */
	"(ipc/mig) wrong reply message ID",
	"(ipc/mig) server detected error",
	"(ipc/mig) bad request message ID",
	"(ipc/mig) server type check failure",
	"(ipc/mig) no reply should be sent",        /* MIG_NO_REPLY -305 */
	"(ipc/mig) server raised exception",
	"(ipc/mig) array not large enough",
	"(ipc/mig) server died",
	"(ipc/mig) unknown trailer format",         /* MIG_TRAILER_ERROR -309 */
};

struct subsystem {
	const char *name;
	const char *const *texts;
	int count;
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct subsystem os_subs[] = {
	{ "(os/kern)", kern_texts, COUNT(kern_texts) },
};
static const struct subsystem mach_ipc_subs[] = {
	{ "(ipc/send)", send_texts, COUNT(send_texts) },
	{ "(ipc/rcv)", rcv_texts, COUNT(rcv_texts) },
	{ "(ipc/mig)", mig_texts, COUNT(mig_texts) },
};

struct system {
	const struct subsystem *subs;
	int count;
	const char *bad_sub;
};

static const struct system systems[err_max_system + 1] = {
	[0] = { os_subs, COUNT(os_subs), "(operating system/?) unknown subsystem error" },
	[4] = { mach_ipc_subs, COUNT(mach_ipc_subs), "(ipc/?) unknown subsystem error" },
};

#define NO_SUCH_ERROR "unknown error code"

/* The old negative numbering: -100.. send, -200.. receive, -300.. MIG. */
static mach_error_t compat(mach_error_t err)
{
	if (err <= -100 && err > -200)
		return err_mach_ipc | err_sub(0) | -(err + 100);
	if (err <= -200 && err > -300)
		return err_mach_ipc | err_sub(1) | -(err + 200);
	if (err <= -300 && err > -400)
		return err_mach_ipc | err_sub(2) | -(err + 300);
	return err;
}

/* The text for err; *known is false for "unknown ..." answers. */
static const char *lookup(mach_error_t err, int *known)
{
	err = compat(err);
	const struct system *sys = &systems[err_get_system(err)];
	int sub = err_get_sub(err), code = err_get_code(err);
	*known = 0;
	if (sys->subs == NULL)
		return "(?/?) unknown error system";
	if (sub >= sys->count)
		return sys->bad_sub;
	if (code >= sys->subs[sub].count)
		return NO_SUCH_ERROR;
	*known = 1;
	return sys->subs[sub].texts[code];
}

char *mach_error_string(mach_error_t error_value)
{
	int known;
	return (char *)lookup(error_value, &known);
}

char *mach_error_type(mach_error_t error_value)
{
	mach_error_t err = compat(error_value);
	const struct system *sys = &systems[err_get_system(err)];
	int sub = err_get_sub(err);
	if (sys->subs == NULL || sub >= sys->count)
		return (char *)"(?/?)";
	return (char *)sys->subs[sub].name;
}

void mach_error(const char *str, mach_error_t error_value)
{
	int known;
	const char *text = lookup(error_value, &known);
	if (str == NULL)
		str = "";
	if (known)
		fprintf(stderr, "%s %s\n", str, text);
	else
		fprintf(stderr, "%s %s %s (%x)\n", str, mach_error_type(error_value), text,
		        (unsigned)error_value);
}
