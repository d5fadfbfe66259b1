/* memobjd: serves memobj's pagers to kernels in other processes and hosts.
 *
 *   memobjd [--listen ADDRESS]... [--file NAME=PATH[:rw]]... [--dsm NAME=SIZE]...
 *           [--redis NAME=URL:SIZE]... [--default-pager FILE:SIZE]
 *           [--config FILE] [--log-level LEVEL]
 *
 * Each object is checked in with this node's name server under NAME; a
 * kernel anywhere maps it with memobj_connect(ADDRESS) + netname_look_up +
 * vm_map. The node's statistics port is published too (memobj stat, ls).
 * SIGTERM or SIGINT: every object is checked out, the kernels are asked
 * for their dirty pages and those written back, the pagers stopped, the
 * Unix sockets removed; exit 0. See memobjd(1). */
#include "memobjd.h"

#include <memobj/file_pager.h>

#include <ctype.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "tools_common.h"

#define LISTEN_MAX  16
#define OBJECTS_MAX 256
#define FLUSH_TIMEOUT_MS 30000

static int log_level = MEMOBJD_INFO;

void memobjd_log(int level, const char *fmt, ...)
{
	static const char *const names[] = { "", "error", "warning", "info", "debug" };
	if (level > log_level)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "memobjd: %s: %s\n", names[level], line);
}

static bool parse_level(const char *text, int *level)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	for (int i = 0; i < 4; i++)
		if (strcmp(text, names[i]) == 0) {
			*level = i + 1;
			return true;
		}
	if (strcmp(text, "warning") == 0) {
		*level = MEMOBJD_WARN;
		return true;
	}
	return false;
}

/* ---- what to serve ---------------------------------------------------------- */

static const char *listens[LISTEN_MAX];
static int nlistens;
static struct memobjd_object objects[OBJECTS_MAX];
static int nobjects;

int memobjd_publish(const struct memobjd_object *o)
{
	for (int i = 0; i < nobjects; i++)
		if (strcmp(objects[i].name, o->name) == 0) {
			memobjd_log(MEMOBJD_ERROR, "two objects named '%s'", o->name);
			return -1;
		}
	if (nobjects == OBJECTS_MAX) {
		memobjd_log(MEMOBJD_ERROR, "more than %d objects", OBJECTS_MAX);
		return -1;
	}
	kern_return_t kr = netname_check_in(MACH_PORT_NULL, o->name, MACH_PORT_NULL, o->object);
	if (kr != KERN_SUCCESS) {
		memobjd_log(MEMOBJD_ERROR, "netname_check_in '%s': %#x", o->name, kr);
		return -1;
	}
	objects[nobjects] = *o;
	struct memobjd_object *mine = &objects[nobjects++];
	if (mine->fill != NULL &&
	    memobj_statistics_register(mine->name, mine->fill, mine) != KERN_SUCCESS)
		memobjd_log(MEMOBJD_WARN, "'%s' will not show in memobj stat", mine->name);
	memobjd_log(MEMOBJD_INFO, "serving %s object '%s' (%llu bytes)", mine->kind, mine->name,
	            (unsigned long long)mine->size);
	return 0;
}

const char *memobjd_split_name(const char *option, const char *spec, char name[80])
{
	const char *eq = strchr(spec, '=');
	size_t len = eq ? (size_t)(eq - spec) : 0;
	if (eq == NULL || len == 0 || len >= 80 || eq[1] == '\0') {
		memobjd_log(MEMOBJD_ERROR, "--%s %s: want NAME=..., NAME 1 to 79 characters", option,
		            spec);
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)spec[i])) {
			memobjd_log(MEMOBJD_ERROR, "--%s %s: NAME has a space or control character",
			            option, spec);
			return NULL;
		}
	memcpy(name, spec, len);
	name[len] = '\0';
	return eq + 1;
}

bool memobjd_size(const char *option, const char *text, uint64_t *size)
{
	if (!tools_parse_size(text, size)) {
		memobjd_log(MEMOBJD_ERROR, "--%s: '%s' is not a size > 0 (e.g. 4096, 64k, 1g)",
		            option, text);
		return false;
	}
	return true;
}

/* ---- the file pager ---------------------------------------------------------- */

static void file_fill(void *arg, memobj_object_statistics_t *s)
{
	struct memobjd_object *o = arg;
	file_pager_stats_t fs;
	file_pager_get_stats(o->pager, &fs);
	s->size = o->size;
	s->kernels = (uint32_t)fs.kernels_attached;
	s->pages_in = fs.pages_in;
	s->pages_out = fs.bytes_written / 4096;
}

static void file_stop(struct memobjd_object *o)
{
	kern_return_t kr = file_pager_flush(o->pager, FLUSH_TIMEOUT_MS);
	file_pager_stats_t fs;
	file_pager_get_stats(o->pager, &fs);
	if (kr != KERN_SUCCESS)
		memobjd_log(MEMOBJD_ERROR, "'%s': kernels did not return their dirty pages "
		            "within %d s", o->name, FLUSH_TIMEOUT_MS / 1000);
	else if (strcmp(o->kind, "file") != 0)
		memobjd_log(fs.held_bytes ? MEMOBJD_ERROR : MEMOBJD_INFO,
		            "'%s': written back (%llu bytes in all%s)", o->name,
		            (unsigned long long)fs.bytes_written,
		            fs.held_bytes ? ", some could not be written" : "");
	file_pager_destroy(o->pager);
}

static int add_file(const char *spec)
{
	struct memobjd_object o = { .kind = "file", .stop = file_stop, .fill = file_fill };
	const char *rest = memobjd_split_name("file", spec, o.name);
	if (rest == NULL)
		return -1;
	char path[4096];
	snprintf(path, sizeof path, "%s", rest);
	bool rw = false;
	size_t len = strlen(path);
	if (len > 3 && strcmp(path + len - 3, ":rw") == 0) {
		rw = true;
		path[len - 3] = '\0';
	} else if (len > 3 && strcmp(path + len - 3, ":ro") == 0) {
		path[len - 3] = '\0';
	}
	file_pager_t *p = rw ? file_pager_create_writable(path, 0, &o.object)
	                     : file_pager_create(path, 0, &o.object);
	if (p == NULL) {
		memobjd_log(MEMOBJD_ERROR, "--file %s: %s: %s", spec, path, strerror(errno));
		return -1;
	}
	o.pager = p;
	o.size = file_pager_file_size(p);
	if (rw)
		o.kind = "file (read-write)";
	if (memobjd_publish(&o) != 0) {
		file_pager_destroy(p);
		return -1;
	}
	return 0;
}

#ifndef MEMOBJD_HAVE_DSM
int memobjd_add_dsm(const char *spec)
{
	memobjd_log(MEMOBJD_ERROR, "--dsm %s: this memobjd was built without the DSM pager", spec);
	return -1;
}
#endif
#ifndef MEMOBJD_HAVE_REDIS
int memobjd_add_redis(const char *spec)
{
	memobjd_log(MEMOBJD_ERROR, "--redis %s: this memobjd was built without the Redis "
	            "pager (needs hiredis)", spec);
	return -1;
}
#endif
#ifndef MEMOBJD_HAVE_DEFAULT_PAGER
int memobjd_add_default_pager(const char *spec)
{
	memobjd_log(MEMOBJD_ERROR, "--default-pager %s: this memobjd was built without the "
	            "default pager", spec);
	return -1;
}
#endif

/* ---- options and the config file --------------------------------------------- */

enum { OPT_DSM = 256, OPT_REDIS, OPT_DEFAULT_PAGER, OPT_LOG_LEVEL };

static const struct option options[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "file", required_argument, NULL, 'f' },
	{ "dsm", required_argument, NULL, OPT_DSM },
	{ "redis", required_argument, NULL, OPT_REDIS },
	{ "default-pager", required_argument, NULL, OPT_DEFAULT_PAGER },
	{ "config", required_argument, NULL, 'c' },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *to)
{
	fprintf(to,
	        "usage: memobjd [OPTION]...\n"
	        "Serves memobj pagers to kernels in other processes and hosts.\n\n"
	        "  -l, --listen ADDRESS        unix:PATH or tcp:HOST:PORT (repeatable;\n"
	        "                              default %s)\n"
	        "  -f, --file NAME=PATH[:rw]   a regular file (read-only, or read-write)\n"
	        "      --dsm NAME=SIZE         coherent shared memory%s\n"
	        "      --redis NAME=URL:SIZE   pages in Redis%s\n"
	        "      --default-pager FILE:SIZE  this node's default pager%s\n"
	        "  -c, --config FILE           the same options, one per line: KEY VALUE\n"
	        "      --log-level LEVEL       error, warn, info (default) or debug\n"
	        "  -h, --help                  this text\n"
	        "  -V, --version               the version\n\n"
	        "Objects are checked in with netname under NAME; SIGTERM or SIGINT writes\n"
	        "every dirty page back and exits 0. See memobjd(1).\n",
	        tools_daemon_address(),
#ifdef MEMOBJD_HAVE_DSM
	        "",
#else
	        " (not built)",
#endif
#ifdef MEMOBJD_HAVE_REDIS
	        "",
#else
	        " (not built)",
#endif
#ifdef MEMOBJD_HAVE_DEFAULT_PAGER
	        ""
#else
	        " (not built)"
#endif
	);
}

/* Deferred until the log level is known and signals are blocked. */
struct item {
	int opt;
	char *value;
};
static struct item items[OBJECTS_MAX + LISTEN_MAX];
static int nitems;

static int take(int opt, const char *value, const char *where)
{
	switch (opt) {
	case OPT_LOG_LEVEL:
		if (!parse_level(value, &log_level)) {
			fprintf(stderr, "memobjd: %s--log-level %s: want error, warn, info or debug\n",
			        where, value);
			return -1;
		}
		return 0;
	case 'l':
		if (nlistens == LISTEN_MAX) {
			fprintf(stderr, "memobjd: more than %d --listen\n", LISTEN_MAX);
			return -1;
		}
		if (strncmp(value, "unix:", 5) != 0 && strncmp(value, "tcp:", 4) != 0) {
			fprintf(stderr, "memobjd: %s--listen %s: want unix:PATH or tcp:HOST:PORT\n",
			        where, value);
			return -1;
		}
		listens[nlistens++] = strdup(value);
		return 0;
	default:
		if (nitems == (int)(sizeof items / sizeof items[0])) {
			fprintf(stderr, "memobjd: too many objects\n");
			return -1;
		}
		items[nitems++] = (struct item){ opt, strdup(value) };
		return 0;
	}
}

static int read_config(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "memobjd: --config %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[4400];
	int lineno = 0, bad = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		char *end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		char *key = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
		char where[4200];
		snprintf(where, sizeof where, "%s:%d: ", path, lineno);
		const struct option *o = options;
		while (o->name != NULL && strcmp(o->name, key) != 0)
			o++;
		if (o->name == NULL || o->has_arg != required_argument || !strcmp(key, "config")) {
			fprintf(stderr, "memobjd: %sunknown key '%s'\n", where, key);
			bad = 1;
			continue;
		}
		if (*p == '\0') {
			fprintf(stderr, "memobjd: %s%s wants a value\n", where, key);
			bad = 1;
			continue;
		}
		if (take(o->val, p, where) != 0)
			bad = 1;
	}
	fclose(f);
	return bad ? -1 : 0;
}

/* ---- listening ----------------------------------------------------------------- */

/* A Unix socket file left by a daemon that died: nobody answers on it. */
static bool stale_socket(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
		return false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	bool stale = connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static int start_listening(const char *address)
{
	kern_return_t kr = memobj_listen(address);
	if (kr != KERN_SUCCESS && strncmp(address, "unix:", 5) == 0 && stale_socket(address + 5)) {
		memobjd_log(MEMOBJD_WARN, "removing stale socket %s", address + 5);
		unlink(address + 5);
		kr = memobj_listen(address);
	}
	if (kr != KERN_SUCCESS) {
		memobjd_log(MEMOBJD_ERROR, "cannot listen on %s (%#x)%s", address, kr,
		            strncmp(address, "unix:", 5) == 0 ? ": is another memobjd running?" : "");
		return -1;
	}
	memobjd_log(MEMOBJD_INFO, "listening on %s", address);
	return 0;
}

static void shutdown_all(void)
{
	/* No new kernel finds the objects; then each pager writes back. */
	for (int i = 0; i < nobjects; i++) {
		memobj_statistics_unregister(objects[i].name);
		netname_check_out(MACH_PORT_NULL, objects[i].name, MACH_PORT_NULL);
	}
	for (int i = 0; i < nobjects; i++)
		if (objects[i].stop != NULL)
			objects[i].stop(&objects[i]);
	for (int i = 0; i < nlistens; i++)
		if (strncmp(listens[i], "unix:", 5) == 0 && unlink(listens[i] + 5) == 0)
			memobjd_log(MEMOBJD_DEBUG, "removed %s", listens[i] + 5);
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "l:f:c:hV", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("memobjd %s\n", MEMOBJ_VERSION);
			return 0;
		case 'c':
			config = optarg;
			break;
		case '?':
			usage(stderr);
			return 2;
		default:
			if (take(c, optarg, "") != 0)
				return 2;
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "memobjd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (config != NULL && read_config(config) != 0)
		return 2;
	if (nlistens == 0)
		listens[nlistens++] = tools_daemon_address();
	/* The library's own messages follow the daemon's level. */
	static const char *const lib_levels[] = { "", "error", "warn", "info", "debug" };
	setenv("MEMOBJ_LOG", lib_levels[log_level], 0);

	/* Every thread (the library's too) inherits this: only sigwait below
	 * takes the signals, so shutdown runs in one known place. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	int failed = 0;
	for (int i = 0; i < nitems && !failed; i++) {
		switch (items[i].opt) {
		case 'f': failed = add_file(items[i].value) != 0; break;
		case OPT_DSM: failed = memobjd_add_dsm(items[i].value) != 0; break;
		case OPT_REDIS: failed = memobjd_add_redis(items[i].value) != 0; break;
		case OPT_DEFAULT_PAGER: failed = memobjd_add_default_pager(items[i].value) != 0; break;
		default: break;
		}
	}
	kern_return_t kr = failed ? KERN_FAILURE : memobj_statistics_publish(MACH_PORT_NULL);
	if (!failed && kr != KERN_SUCCESS)
		memobjd_log(MEMOBJD_WARN, "statistics not published (%#x)", kr);
	int listening = 0;
	for (int i = 0; i < nlistens && !failed; i++) {
		if (start_listening(listens[i]) != 0)
			failed = 1;
		else
			listening = i + 1;
	}
	if (failed) {
		nlistens = listening;    /* remove only the sockets we made */
		shutdown_all();
		return 1;
	}
	memobjd_log(MEMOBJD_INFO, "ready: %d object%s", nobjects, nobjects == 1 ? "" : "s");

	for (;;) {
		int sig;
		if (sigwait(&stop, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			memobjd_log(MEMOBJD_INFO, "SIGHUP: nothing to reload (restart to change objects)");
			continue;
		}
		memobjd_log(MEMOBJD_INFO, "%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
	shutdown_all();
	memobjd_log(MEMOBJD_INFO, "stopped");
	return 0;
}
