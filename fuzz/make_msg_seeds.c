/* Writes seed inputs for the message targets (fuzz_msg.h's encoding):
 * well-formed control calls (data_supply, data_unavailable, data_error,
 * lock_request, change/get_attributes, synchronize_completed, destroy)
 * and server messages to the object port (data_request, data_return,
 * terminate, create), so the fuzzer starts past the layout checks.
 *
 *   fuzz_make_msg_seeds CONTROL_DIR MACH_MSG_DIR */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct seed {
	uint8_t b[512];
	size_t n;
};

static void u8(struct seed *s, uint32_t v) { s->b[s->n++] = (uint8_t)v; }
static void be(struct seed *s, uint32_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		u8(s, v >> (8 * i));
}
static void le(struct seed *s, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		u8(s, (uint32_t)(v >> (8 * i)));
}
static void ndr(struct seed *s) { le(s, 0x0000000001000000ull, 8); }

static void write_seed(const char *dir, const char *name, const struct seed *s)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		return;
	}
	fwrite(s->b, 1, s->n, f);
	fclose(f);
}

/* target byte, then fuzz_build's header bytes: flags, reply disposition,
 * reply name selector, id offset (2 bytes, big-endian). */
static void head(struct seed *s, uint32_t target, uint32_t flags, uint32_t id_offset)
{
	s->n = 0;
	u8(s, target);
	u8(s, flags);
	u8(s, 0);
	u8(s, 0);
	be(s, id_offset, 2);
}

#define PAGE 4096u
#define CONTROL_SEL 9    /* the control port's place in the name table */

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s CONTROL_DIR MACH_MSG_DIR\n", argv[0]);
		return 2;
	}
	const char *cdir = argv[1], *mdir = argv[2];
	struct seed s;

	/* data_supply: 2 pages at offset 0 and 8, locked or not, with reply */
	for (int i = 0; i < 4; i++) {
		head(&s, i & 1 ? 4 : 0, 0x02, 0);
		u8(&s, 1);                      /* one descriptor */
		u8(&s, 1); u8(&s, 0); u8(&s, 0); /* OOL, in the scratch */
		be(&s, 0, 2);                   /* start */
		be(&s, 2 * PAGE, 3);            /* size */
		u8(&s, 1);                      /* virtual copy */
		ndr(&s);
		le(&s, (uint64_t)(i * 8) * PAGE, 8);
		le(&s, 2 * PAGE, 4);
		le(&s, i & 2 ? 2 : 0, 4);       /* lock_value */
		le(&s, (uint64_t)(i == 3), 4);  /* precious */
		char name[32];
		snprintf(name, sizeof name, "data_supply_%d", i);
		write_seed(cdir, name, &s);
	}
	/* range calls: unavailable, error, synchronize_completed, destroy */
	static const struct { uint32_t id; const char *name; } ranges[] = {
		{ 1, "data_unavailable" }, { 2, "data_error" },
		{ 6, "synchronize_completed" }, { 7, "destroy" },
	};
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		head(&s, 0, 0, ranges[i].id);
		ndr(&s);
		le(&s, 4 * PAGE, 8);
		le(&s, 4 * PAGE, 8);
		le(&s, 9, 4);
		write_seed(cdir, ranges[i].name, &s);
	}
	/* lock_request: return dirty, flush, write lock; with reply */
	for (int i = 0; i < 3; i++) {
		head(&s, 4, 0, 3);
		ndr(&s);
		le(&s, 0, 8);
		le(&s, 16 * PAGE, 8);
		le(&s, (uint64_t)i, 4);         /* should_return */
		le(&s, (uint64_t)(i == 2), 4);  /* should_flush */
		le(&s, i == 1 ? 2 : 8, 4);      /* lock_value */
		char name[32];
		snprintf(name, sizeof name, "lock_request_%d", i);
		write_seed(cdir, name, &s);
	}
	/* change_attributes (ATTRIBUTE_INFO), get_attributes with reply */
	head(&s, 4, 0, 4);
	ndr(&s);
	le(&s, 14, 4); le(&s, 4, 4);
	le(&s, 2, 4); le(&s, PAGE, 4); le(&s, 1, 4); le(&s, 0, 4);
	write_seed(cdir, "change_attributes", &s);
	head(&s, 4, 0, 5);
	ndr(&s);
	le(&s, 14, 4); le(&s, 4, 4);
	write_seed(cdir, "get_attributes", &s);

	/* to the object port: data_request, data_unlock, synchronize naming
	 * the control port; a data_return with data; terminate */
	static const uint32_t object_ids[] = { 3, 4, 10 };
	for (size_t i = 0; i < 3; i++) {
		head(&s, 1 | (i == 2 ? 8 : 0), 0x02, object_ids[i]);
		u8(&s, 1);
		u8(&s, 0); u8(&s, 19); u8(&s, CONTROL_SEL);   /* port, COPY_SEND */
		ndr(&s);
		le(&s, PAGE, 8);
		le(&s, PAGE, 8);
		le(&s, 3, 4);
		char name[32];
		snprintf(name, sizeof name, "object_%u", object_ids[i]);
		write_seed(cdir, name, &s);
	}
	head(&s, 1, 0x02, 8);
	u8(&s, 2);
	u8(&s, 0); u8(&s, 19); u8(&s, CONTROL_SEL);
	u8(&s, 1); u8(&s, 0); u8(&s, 0);
	be(&s, 0, 2); be(&s, PAGE, 3); u8(&s, 1);
	ndr(&s);
	le(&s, 0, 8); le(&s, PAGE, 4); le(&s, 1, 4); le(&s, 0, 4);
	write_seed(cdir, "object_data_return", &s);

	/* mach_msg: a message with a port, an OOL region and OOL ports */
	s.n = 0;
	u8(&s, 0); u8(&s, 0);               /* mode, dest selector */
	u8(&s, 0x02); u8(&s, 21); u8(&s, 5); be(&s, 7, 2);  /* reply: make-send-once */
	u8(&s, 3);
	u8(&s, 0); u8(&s, 20); u8(&s, 2);   /* port: make-send of the victim */
	u8(&s, 1); u8(&s, 0); u8(&s, 0); be(&s, 100, 2); be(&s, 3000, 3); u8(&s, 0);
	u8(&s, 2); u8(&s, 19); u8(&s, 0); u8(&s, 2); u8(&s, 2); u8(&s, 4); u8(&s, 0);
	le(&s, 0x1122334455667788ull, 8);
	write_seed(mdir, "complex", &s);
	s.n = 0;
	u8(&s, 8); u8(&s, 0);               /* send and receive */
	u8(&s, 0); u8(&s, 0); u8(&s, 0); be(&s, 1, 2);
	le(&s, 42, 8);
	write_seed(mdir, "simple_rpc", &s);
	return 0;
}
