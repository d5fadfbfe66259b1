/* memobj: one command to watch memobj kernels.
 *
 *   memobj stat [ADDRESS] [-i SECONDS] [--json]   like vm_stat
 *   memobj ls [ADDRESS]                           names checked in there
 *   memobj trace [-o FILE] -- PROGRAM [ARGS...]   like rpctrace
 *
 * ADDRESS is unix:PATH or tcp:HOST:PORT of a node that published its
 * statistics port (memobjd does; memobj_statistics_publish(3)); without it,
 * this host's memobjd (see memobj(1)). Exit status: 0, 1 on failure, 2 on
 * bad usage; trace exits with the program's status. */
#include <mach/mach.h>

#include <getopt.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "tools_common.h"

static const char *progname = "memobj";

static void usage(FILE *to)
{
	fprintf(to,
	        "usage: memobj stat [ADDRESS] [-i SECONDS] [--json]\n"
	        "       memobj ls [ADDRESS]\n"
	        "       memobj trace [-o FILE] -- PROGRAM [ARGS...]\n"
	        "       memobj --help | --version\n"
	        "ADDRESS: unix:PATH or tcp:HOST:PORT (default: this host's memobjd, %s)\n",
	        tools_daemon_address());
}

static const char *kr_text(kern_return_t kr)
{
	switch (kr) {
	case KERN_INVALID_HOST: return "no statistics port there";
	case KERN_NODE_DOWN: return "node down";
	case KERN_OPERATION_TIMED_OUT: return "timed out";
	case KERN_INVALID_ARGUMENT: return "invalid argument";
	case KERN_RESOURCE_SHORTAGE: return "out of resources";
	case KERN_FAILURE: return "failed";
	default: return "error";
	}
}

/* Connects to ADDRESS and looks up its statistics port. */
static int stats_port_at(const char *address, mach_port_t *port)
{
	mach_port_t ns;
	kern_return_t kr = memobj_connect(address, &ns);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "%s: cannot connect to %s: %s (%#x)\n", progname, address,
		        kr_text(kr), kr);
		return -1;
	}
	kr = netname_look_up(ns, "", MEMOBJ_STATISTICS_NAME, port);
	mach_port_deallocate(mach_task_self(), ns);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "%s: %s publishes no statistics (netname %s: %#x)\n", progname,
		        address, MEMOBJ_STATISTICS_NAME, kr);
		return -1;
	}
	return 0;
}

/* ---- stat ------------------------------------------------------------------ */

#define OBJECTS_MAX 4096

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(const char *address, const memobj_statistics_t *s,
        const memobj_object_statistics_t *objs, uint32_t nobjs)
{
	printf("{\"address\":");
	json_string(address);
	printf(",\"node\":");
	json_string(s->node);
	printf(",\"pid\":%d,\"page_size\":%u,\"objects\":%u,\"served\":%u", s->pid,
	       s->page_size, s->objects, s->served);
	printf(",\"vm\":{\"faults\":%u,\"pageins\":%u,\"pageouts\":%u,\"zero_fill\":%u,"
	       "\"active\":%u,\"messages_sent\":%u,\"messages_received\":%u}",
	       s->vm.faults, s->vm.pageins, s->vm.pageouts, s->vm.zero_fill_count,
	       s->vm.active_count, s->vm.lookups, s->vm.hits);
	printf(",\"messages\":{");
	for (int k = 0; k < MEMOBJ_MSG_KINDS; k++)
		printf("%s\"%s\":%llu", k ? "," : "", memobj_msg_kind_name(k),
		       (unsigned long long)s->messages[k]);
	printf("},\"fault_wait_us\":[");
	for (int b = 0; b < MEMOBJ_FAULT_BUCKETS; b++)
		printf("%s%llu", b ? "," : "", (unsigned long long)s->fault_wait[b]);
	printf("],\"object_list\":[");
	for (uint32_t i = 0; i < nobjs; i++) {
		const memobj_object_statistics_t *o = &objs[i];
		printf("%s{\"name\":", i ? "," : "");
		json_string(o->name);
		printf(",\"id\":%llu,\"served\":%s,\"ready\":%s,\"size\":%llu,\"page_size\":%u,"
		       "\"kernels\":%u,\"mappings\":%u,\"resident_pages\":%llu,"
		       "\"dirty_pages\":%llu,\"pages_in\":%llu,\"pages_out\":%llu}",
		       (unsigned long long)o->id, (o->flags & MEMOBJ_OBJECT_SERVED) ? "true" : "false",
		       (o->flags & MEMOBJ_OBJECT_READY) ? "true" : "false",
		       (unsigned long long)o->size, o->page_size, o->kernels, o->mappings,
		       (unsigned long long)o->resident_pages, (unsigned long long)o->dirty_pages,
		       (unsigned long long)o->pages_in, (unsigned long long)o->pages_out);
	}
	printf("]}\n");
}

static void print_text(const char *address, const memobj_statistics_t *s,
        const memobj_object_statistics_t *objs, uint32_t nobjs)
{
	printf("memobj statistics of %s (node \"%s\", page size %u bytes)\n", address,
	       s->node, s->page_size);
	printf("%-28s %12u\n", "Faults:", s->vm.faults);
	printf("%-28s %12u\n", "Pageins (pages):", s->vm.pageins);
	printf("%-28s %12u\n", "Pageouts (pages):", s->vm.pageouts);
	printf("%-28s %12u\n", "Zero fills (pages):", s->vm.zero_fill_count);
	printf("%-28s %12u\n", "Resident object pages:", s->vm.active_count);
	printf("%-28s %12u\n", "Messages sent:", s->vm.lookups);
	printf("%-28s %12u\n", "Messages received:", s->vm.hits);
	printf("Messages by kind (kernel -> manager):");
	for (int k = 0; k < MEMOBJ_MSG_KINDS; k++) {
		if (k == MEMOBJ_MSG_FIRST_RECEIVED)
			printf("\nMessages by kind (manager -> kernel):");
		if (s->messages[k] != 0)
			printf(" %s %llu", memobj_msg_kind_name(k), (unsigned long long)s->messages[k]);
	}
	printf("\n");
	printf("Objects: %u cached, %u served\n", s->objects, s->served);
	if (nobjs != 0) {
		printf("  %-24s %12s %6s %9s %9s %7s %8s %10s %10s\n", "OBJECT", "SIZE", "PAGE",
		       "RESIDENT", "DIRTY", "KERNELS", "MAPPINGS", "PAGES_IN", "PAGES_OUT");
		for (uint32_t i = 0; i < nobjs; i++) {
			const memobj_object_statistics_t *o = &objs[i];
			char label[32];
			if (o->flags & MEMOBJ_OBJECT_SERVED)
				snprintf(label, sizeof label, "%.24s", o->name);
			else
				snprintf(label, sizeof label, "cached #%llu%s", (unsigned long long)o->id,
				         (o->flags & MEMOBJ_OBJECT_READY) ? "" : " (not ready)");
			printf("  %-24s %12llu %6u %9llu %9llu %7u %8u %10llu %10llu\n", label,
			       (unsigned long long)o->size, o->page_size,
			       (unsigned long long)o->resident_pages, (unsigned long long)o->dirty_pages,
			       o->kernels, o->mappings, (unsigned long long)o->pages_in,
			       (unsigned long long)o->pages_out);
		}
	}
	uint64_t most = 0, all = 0;
	for (int b = 0; b < MEMOBJ_FAULT_BUCKETS; b++) {
		most = s->fault_wait[b] > most ? s->fault_wait[b] : most;
		all += s->fault_wait[b];
	}
	printf("Fault waits for managers (%llu, microseconds):\n", (unsigned long long)all);
	for (int b = 0; b < MEMOBJ_FAULT_BUCKETS; b++) {
		if (s->fault_wait[b] == 0)
			continue;
		char range[40];
		if (b == 0)
			snprintf(range, sizeof range, "[0, 2)");
		else if (b == MEMOBJ_FAULT_BUCKETS - 1)
			snprintf(range, sizeof range, "[%llu, ...)", 1ull << b);
		else
			snprintf(range, sizeof range, "[%llu, %llu)", 1ull << b, 1ull << (b + 1));
		int bar = (int)(s->fault_wait[b] * 40 / (most ? most : 1));
		printf("  %-22s %10llu %.*s\n", range, (unsigned long long)s->fault_wait[b],
		       bar ? bar : 1, "########################################");
	}
}

static volatile sig_atomic_t stop;
static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_stat(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double interval = 0;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+i:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'i': {
			char *end;
			interval = strtod(optarg, &end);
			if (*end != '\0' || !(interval > 0) || interval > 86400) {
				fprintf(stderr, "%s stat: -i wants a number of seconds > 0, not '%s'\n",
				        progname, optarg);
				return 2;
			}
			break;
		}
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		return 2;
	}
	const char *address = optind < argc ? argv[optind] : tools_daemon_address();
	mach_port_t port;
	if (stats_port_at(address, &port) != 0)
		return 1;
	static memobj_object_statistics_t objs[OBJECTS_MAX];
	memobj_statistics_t s, prev;
	memset(&prev, 0, sizeof prev);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	for (unsigned round = 0; !stop; round++) {
		kern_return_t kr = memobj_statistics(port, &s);
		uint32_t n = OBJECTS_MAX, total = 0;
		if (kr == KERN_SUCCESS && (interval == 0 || json))
			kr = memobj_object_statistics(port, 0, objs, &n, &total);
		else
			n = 0;
		if (kr != KERN_SUCCESS) {
			fprintf(stderr, "%s stat: %s: %s (%#x)\n", progname, address, kr_text(kr), kr);
			return 1;
		}
		if (json)
			print_json(address, &s, objs, n);
		else if (interval == 0)
			print_text(address, &s, objs, n);
		else {
			/* vm_stat style: totals first, then what changed per interval. */
			if (round % 20 == 0)
				printf("%10s %10s %10s %10s %10s %10s %10s%s\n", "faults", "pageins",
				       "pageouts", "zerofill", "resident", "msgs_out", "msgs_in",
				       round ? "" : "  (first line: totals)");
			printf("%10u %10u %10u %10u %10u %10u %10u\n", s.vm.faults - prev.vm.faults,
			       s.vm.pageins - prev.vm.pageins, s.vm.pageouts - prev.vm.pageouts,
			       s.vm.zero_fill_count - prev.vm.zero_fill_count, s.vm.active_count,
			       s.vm.lookups - prev.vm.lookups, s.vm.hits - prev.vm.hits);
		}
		fflush(stdout);
		prev = s;
		if (interval == 0)
			break;
		struct timespec ts = { (time_t)interval,
		                       (long)((interval - (double)(time_t)interval) * 1e9) };
		while (nanosleep(&ts, &ts) != 0 && !stop)
			;
	}
	mach_port_deallocate(mach_task_self(), port);
	return 0;
}

/* ---- ls -------------------------------------------------------------------- */

static int cmd_ls(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			usage(stdout);
			return 0;
		}
		usage(stderr);
		return 2;
	}
	const char *address = argc == 2 ? argv[1] : tools_daemon_address();
	mach_port_t port;
	if (stats_port_at(address, &port) != 0)
		return 1;
	static memobj_name_t names[OBJECTS_MAX];
	uint32_t n = OBJECTS_MAX, total;
	kern_return_t kr = memobj_netname_list(port, 0, names, &n, &total);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "%s ls: %s: %s (%#x)\n", progname, address, kr_text(kr), kr);
		return 1;
	}
	for (uint32_t i = 0; i < n; i++) {
		names[i][sizeof names[i] - 1] = '\0';
		printf("%s\n", names[i]);
	}
	mach_port_deallocate(mach_task_self(), port);
	return 0;
}

/* ---- trace ----------------------------------------------------------------- */

struct tally {
	char name[64];
	unsigned long count, answered;
	unsigned long long lat_sum, lat_max;
};

static struct tally tallies[64];
static int ntallies;

static void tally_line(const char *line)
{
	const char *name = strstr(line, " memory_object_");
	if (name == NULL)
		name = strstr(line, " netname_");
	if (name == NULL)
		return;
	name++;
	size_t len = strcspn(name, " \n");
	if (strncmp(name + len, " reply", 6) == 0)
		len += 6;
	if (len >= sizeof tallies[0].name)
		len = sizeof tallies[0].name - 1;
	struct tally *t = NULL;
	for (int i = 0; i < ntallies && t == NULL; i++)
		if (strlen(tallies[i].name) == len && strncmp(tallies[i].name, name, len) == 0)
			t = &tallies[i];
	if (t == NULL) {
		if (ntallies == (int)(sizeof tallies / sizeof tallies[0]))
			return;
		t = &tallies[ntallies++];
		memcpy(t->name, name, len);
		t->name[len] = '\0';
	}
	t->count++;
	const char *lat = strstr(line, "  +");
	if (lat != NULL) {
		unsigned long long us = strtoull(lat + 3, NULL, 10);
		t->answered++;
		t->lat_sum += us;
		if (us > t->lat_max)
			t->lat_max = us;
	}
}

static int cmd_trace(int argc, char **argv)
{
	const char *out_path = NULL;
	int i = 1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			out_path = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-') {
			usage(stderr);
			return 2;
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "%s trace: no program to run\n", progname);
		usage(stderr);
		return 2;
	}
	FILE *out = stderr;
	if (out_path != NULL && (out = fopen(out_path, "w")) == NULL) {
		fprintf(stderr, "%s trace: %s: %s\n", progname, out_path, strerror(errno));
		return 1;
	}
	int fds[2];
	if (pipe(fds) != 0) {
		perror("memobj trace: pipe");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("memobj trace: fork");
		return 1;
	}
	if (pid == 0) {
		close(fds[0]);
		char where[64];
		snprintf(where, sizeof where, "/dev/fd/%d", fds[1]);
		setenv("MEMOBJ_TRACE", where, 1);
		execvp(argv[i], argv + i);
		fprintf(stderr, "%s trace: %s: %s\n", progname, argv[i], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	signal(SIGINT, SIG_IGN);     /* the program gets it; we report its end */
	FILE *in = fdopen(fds[0], "r");
	char line[1024];
	unsigned long lines = 0;
	while (in != NULL && fgets(line, sizeof line, in) != NULL) {
		fputs(line, out);
		tally_line(line);
		lines++;
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	fprintf(out, "-- %s: %lu messages", argv[i], lines);
	if (WIFEXITED(status))
		fprintf(out, ", exit %d\n", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(out, ", killed by signal %d\n", WTERMSIG(status));
	else
		fprintf(out, "\n");
	for (int t = 0; t < ntallies; t++) {
		fprintf(out, "   %-40s %8lu", tallies[t].name, tallies[t].count);
		if (tallies[t].answered)
			fprintf(out, "   answer after mean %llu us, max %llu us",
			        tallies[t].lat_sum / tallies[t].answered, tallies[t].lat_max);
		fprintf(out, "\n");
	}
	if (out != stderr)
		fclose(out);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("memobj %s\n", MEMOBJ_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "stat"))
		return cmd_stat(argc - 1, argv + 1);
	if (!strcmp(cmd, "ls"))
		return cmd_ls(argc - 1, argv + 1);
	if (!strcmp(cmd, "trace"))
		return cmd_trace(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s'\n", progname, cmd);
	usage(stderr);
	return 2;
}
