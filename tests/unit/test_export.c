/*
 * test_export.c - export bundles, their offline check, and the CSV / ECS /
 * OCSF mappings.
 *
 * A small real log is made in a temporary directory (log_init, log_open
 * without threads, log_append, log_checkpoint); entries and proofs are read
 * back from its tiles exactly as the server does, exported to memory through
 * the callback and written to a file.  The good bundle must verify; then each
 * kind of tampering (an entry byte, a proof hash, a line dropped, repeated,
 * swapped or appended, the manifest truncated or missing, the filter changed,
 * the checkpoint or manifest re-signed by another key, an entry replaced by
 * another genuine one) must fail and name the right line.  The CSV test
 * checks exact bytes for awkward values; ECS and OCSF lines are parsed and
 * their key fields checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/crypto.h"
#include "core/event.h"
#include "followers/export.h"
#include "store/log.h"
#include "core/merkle.h"
#include "core/note.h"
#include "store/reader.h"
#include "store/tiles.h"

#define ORIGIN "test.example/export"
#define NEVENTS 13
#define RECEIVED_US 1714557600000000LL /* 2024-05-01T10:00:00Z */
#define MAXLINES 64

struct mem {
	char *p;
	size_t n, cap;
};

static ls_rc mem_out(void *ctx, const void *d, size_t n)
{
	struct mem *m = ctx;

	if (m->n + n + 1 > m->cap) {
		size_t cap = (m->n + n + 1) * 2;
		char *p = realloc(m->p, cap);

		if (!p)
			return LS_NOMEM;
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->n, d, n);
	m->n += n;
	m->p[m->n] = 0;
	return LS_OK;
}

/* A log that a second test group can make too (same origin, other key). */
struct testlog {
	char dir[256];
	struct log *l;
	char *note;
	uint64_t size;
	struct checkpoint cp;
	char vkey[512];
	struct note_verifier v;
};

static struct testlog main_log;
static char tmpdir[256];

static void fmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t cap, const char *f, ...)
{
	va_list ap;
	int w;

	va_start(ap, f);
	w = vsnprintf(out, cap, f, ap);
	va_end(ap);
	assert_true(w >= 0 && (size_t)w < cap);
}

static void make_log(struct testlog *t, const char *name)
{
	struct log_opts o = { 0 };
	struct store_recovery rec;
	struct event_ctx ctx = { .writer = "tok_1", .remote_ip = "127.0.0.1",
				 .received_us = RECEIVED_US };
	struct event_batch b = { 0 };
	struct event_error e;
	struct iovec iov[NEVENTS];
	struct ls_err err = { "" };
	char body[NEVENTS * 300];
	size_t o_ = 0, tl = 0;
	uint64_t first = 0;
	int i;

	fmt(t->dir, sizeof(t->dir), "%s/%s", tmpdir, name);
	assert_int_equal(log_init(t->dir, ORIGIN, &err), LS_OK);
	o.dir = t->dir;
	o.no_threads = 1;
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(log_open(&o, &t->l, &rec, &err), LS_OK);
	for (i = 0; i < NEVENTS; i++) {
		int w = snprintf(body + o_, sizeof(body) - o_,
				 "{\"time\":\"2024-05-01T09:%02d:00Z\",\"actor\":{\"id\":\"u%d\"},"
				 "\"action\":\"%s\",\"outcome\":\"%s\",\"source\":{\"ip\":\"10.0.0.%d\"},"
				 "\"details\":{\"n\":%d}}\n",
				 i, i, i % 3 ? "db.query" : "user.login",
				 i % 2 ? "denied" : "success", i + 1, i);

		assert_true(w > 0 && (size_t)w < sizeof(body) - o_);
		o_ += (size_t)w;
	}
	assert_int_equal(event_batch_parse(body, o_, EVENT_BODY_NDJSON, EVENT_FORMAT_NATIVE, &ctx,
					   &b, &e), LS_OK);
	assert_int_equal(b.n, NEVENTS);
	for (i = 0; i < NEVENTS; i++) {
		iov[i].iov_base = b.items[i].json;
		iov[i].iov_len = b.items[i].len;
	}
	assert_int_equal(log_append(t->l, iov, NEVENTS, &first, &err), LS_OK);
	assert_int_equal(first, 0);
	event_batch_release(&b);
	assert_int_equal(log_checkpoint(t->l, &err), LS_OK);
	assert_int_equal(log_latest_checkpoint(t->l, &t->note, &t->size), LS_OK);
	assert_int_equal(t->size, NEVENTS);
	t->v = *log_verifier(t->l);
	assert_int_equal(note_verifier_format(&t->v, t->vkey, sizeof(t->vkey)), LS_OK);
	assert_int_equal(note_open(t->note, strlen(t->note), &t->v, 1, &tl, &err), LS_OK);
	assert_int_equal(checkpoint_parse(t->note, tl, &t->cp, &err), LS_OK);
	assert_int_equal(t->cp.size, NEVENTS);
}

static void close_log(struct testlog *t)
{
	struct ls_err err;

	assert_int_equal(log_close(t->l, &err), LS_OK);
	t->l = NULL;
	free(t->note);
	t->note = NULL;
}

static int rm_tree(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static int group_setup(void **state)
{
	char tmpl[] = "/tmp/test_export.XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	make_log(&main_log, "main");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	close_log(&main_log);
	return rm_tree(tmpdir) == 0 ? 0 : -1;
}

/* Export the given indexes of t as format fmt into m, through the public API,
 * reading entries through the store and proofs from the tiles as the server
 * does. */
static void export_to(struct testlog *t, enum export_format xf, const uint64_t *idx, size_t n,
		      const char *filter, struct mem *m)
{
	struct export_header h = { 0 };
	struct export_writer *w = NULL;
	struct tiles_reader *r = NULL;
	struct store_reader *sr = NULL;
	struct store_pass pass = { 0 };
	uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN];
	struct ls_err err = { "" };
	char logdir[300];
	size_t i, np;
	struct export_signer sg = export_log_signer(t->l);

	memset(m, 0, sizeof(*m));
	fmt(logdir, sizeof(logdir), "%s/log", t->dir);
	assert_int_equal(tiles_reader_open(logdir, t->size, &r), LS_OK);
	fmt(logdir, sizeof(logdir), "%s/journal", t->dir);
	assert_int_equal(store_reader_open(logdir, &sr, &err), LS_OK);
	h.origin = ORIGIN;
	h.verifier_key = t->vkey;
	h.checkpoint = t->note;
	h.tree_size = t->size;
	memcpy(h.root, t->cp.root, LS_HASH_LEN);
	h.filter_json = filter;
	h.created_us = RECEIVED_US + 5000000;
	assert_int_equal(export_begin(xf, &h, xf == EXPORT_BUNDLE ? &sg : NULL, mem_out, m, &w,
				      &err), LS_OK);
	for (i = 0; i < n; i++) {
		uint8_t *data = NULL;
		size_t len = 0;

		assert_int_equal(store_reader_get(sr, &pass, idx[i], UINT64_MAX, &data, &len, &err),
				 LS_OK);
		np = 0;
		assert_int_equal(merkle_inclusion_proof(tiles_node_hash, r, idx[i], t->size, proof,
							&np), LS_OK);
		assert_int_equal(export_entry(w, idx[i], data, len, (const uint8_t(*)[32])proof, np,
					      &err), LS_OK);
		free(data);
	}
	assert_int_equal(export_end(w, &err), LS_OK);
	export_free(w);
	tiles_reader_free(r);
	store_reader_free(sr);
}

/* --- a bundle as lines, edited and written back ------------------------- */

struct lines {
	char *l[MAXLINES];
	size_t n;
};

static void split(const struct mem *m, struct lines *ls)
{
	const char *p = m->p, *end = m->p + m->n, *nl;

	ls->n = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		assert_true(ls->n < MAXLINES);
		ls->l[ls->n++] = strndup(p, (size_t)(nl - p));
		p = nl + 1;
	}
}

static void lines_free(struct lines *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		free(ls->l[i]);
	ls->n = 0;
}

static void del_line(struct lines *ls, size_t i)
{
	free(ls->l[i]);
	memmove(&ls->l[i], &ls->l[i + 1], (ls->n - i - 1) * sizeof(char *));
	ls->n--;
}

static void ins_line(struct lines *ls, size_t i, const char *s)
{
	assert_true(ls->n < MAXLINES);
	memmove(&ls->l[i + 1], &ls->l[i], (ls->n - i) * sizeof(char *));
	ls->l[i] = strdup(s);
	ls->n++;
}

static void set_line(struct lines *ls, size_t i, char *s)
{
	free(ls->l[i]);
	ls->l[i] = s;
}

static const char *bundle_path(void)
{
	static char p[300];

	fmt(p, sizeof(p), "%s/bundle.ndjson", tmpdir);
	return p;
}

static void write_raw(const char *data, size_t n)
{
	FILE *f = fopen(bundle_path(), "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void write_lines(const struct lines *ls)
{
	FILE *f = fopen(bundle_path(), "wb");

	assert_non_null(f);
	for (size_t i = 0; i < ls->n; i++)
		fprintf(f, "%s\n", ls->l[i]);
	assert_int_equal(fclose(f), 0);
}

/* Verify the file with key v; expect rc and an error starting "line N:". */
static void expect_fail(const struct note_verifier *v, ls_rc want, unsigned line,
			const char *words)
{
	struct bundle_report rep;
	struct ls_err err = { "" };
	char prefix[32];
	ls_rc rc;

	rc = export_verify_bundle(bundle_path(), v, &rep, &err);
	print_message("# %s -> %s: %s\n", words, ls_rc_name(rc), err.msg);
	assert_int_equal(rc, want);
	fmt(prefix, sizeof(prefix), "line %u: ", line);
	assert_memory_equal(err.msg, prefix, strlen(prefix));
	assert_non_null(strstr(err.msg, words));
}

/* Decode, edit and re-encode one member of a JSON line. */
static json_t *parse_line(const char *s)
{
	json_t *o = json_loads(s, 0, NULL);

	assert_non_null(o);
	return o;
}

static char *dump_line(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	assert_non_null(s);
	json_decref(o);
	return s;
}

static const uint64_t picked[] = { 0, 2, 3, 5, 8, 12 };
#define NPICKED (sizeof(picked) / sizeof(picked[0]))
#define FILTER "{\"outcome\":\"denied\", \"action\":\"db.*\"}"
#define FILTER_CANON "{\"action\":\"db.*\",\"outcome\":\"denied\"}"
#define MANIFEST_LINE (NPICKED + 2)

static void good_bundle(struct lines *ls)
{
	struct mem m;

	export_to(&main_log, EXPORT_BUNDLE, picked, NPICKED, FILTER, &m);
	split(&m, ls);
	free(m.p);
	assert_int_equal(ls->n, NPICKED + 2);
}

/* ------------------------------------------------------------------------ */

static void test_format_parse(void **state)
{
	enum export_format f = EXPORT_CSV;

	(void)state;
	assert_int_equal(export_format_parse(NULL, &f), LS_OK);
	assert_int_equal(f, EXPORT_BUNDLE);
	assert_int_equal(export_format_parse("bundle", &f), LS_OK);
	assert_int_equal(f, EXPORT_BUNDLE);
	assert_int_equal(export_format_parse("csv", &f), LS_OK);
	assert_int_equal(f, EXPORT_CSV);
	assert_int_equal(export_format_parse("ecs", &f), LS_OK);
	assert_int_equal(f, EXPORT_ECS);
	assert_int_equal(export_format_parse("ocsf", &f), LS_OK);
	assert_int_equal(f, EXPORT_OCSF);
	assert_int_equal(export_format_parse("CSV", &f), LS_INVALID);
	assert_int_equal(export_format_parse("", &f), LS_INVALID);
	assert_string_equal(export_content_type(EXPORT_BUNDLE), "application/x-ndjson");
	assert_string_equal(export_content_type(EXPORT_CSV), "text/csv; charset=utf-8");
	assert_string_equal(export_content_type(EXPORT_OCSF), "application/x-ndjson");
}

static void test_bundle_verifies(void **state)
{
	struct bundle_report rep;
	struct ls_err err = { "" };
	struct lines ls;
	json_t *o;

	(void)state;
	good_bundle(&ls);
	/* The header says what it should. */
	o = parse_line(ls.l[0]);
	assert_string_equal(json_string_value(json_object_get(o, "bundle")), "logseal/export/v1");
	assert_string_equal(json_string_value(json_object_get(o, "origin")), ORIGIN);
	assert_string_equal(json_string_value(json_object_get(o, "checkpoint")), main_log.note);
	assert_string_equal(json_string_value(json_object_get(o, "verifier_key")), main_log.vkey);
	assert_int_equal(json_integer_value(json_object_get(o, "tree_size")), NEVENTS);
	assert_string_equal(json_string_value(json_object_get(o, "created")),
			    "2024-05-01T10:00:05.000000Z");
	json_decref(o);
	/* The manifest is a signed note that is no checkpoint. */
	o = parse_line(ls.l[MANIFEST_LINE - 1]);
	assert_non_null(strstr(json_string_value(json_object_get(o, "manifest")),
			       "logseal export manifest v1\n" ORIGIN "\nfilter " FILTER_CANON
			       "\ncheckpoint 13 "));
	assert_non_null(strstr(json_string_value(json_object_get(o, "manifest")), "\nentries 6\n"));
	json_decref(o);

	write_lines(&ls);
	assert_int_equal(export_verify_bundle(bundle_path(), &main_log.v, &rep, &err), LS_OK);
	assert_int_equal(rep.entries, NPICKED);
	assert_int_equal(rep.tree_size, NEVENTS);
	assert_string_equal(rep.origin, ORIGIN);
	assert_string_equal(rep.filter, FILTER_CANON);
	lines_free(&ls);
}

static void test_bundle_empty_and_full(void **state)
{
	uint64_t all[NEVENTS];
	struct bundle_report rep;
	struct ls_err err = { "" };
	struct mem m;

	(void)state;
	export_to(&main_log, EXPORT_BUNDLE, NULL, 0, NULL, &m);
	write_raw(m.p, m.n);
	free(m.p);
	assert_int_equal(export_verify_bundle(bundle_path(), &main_log.v, &rep, &err), LS_OK);
	assert_int_equal(rep.entries, 0);
	assert_string_equal(rep.filter, "{}");

	for (uint64_t i = 0; i < NEVENTS; i++)
		all[i] = i;
	export_to(&main_log, EXPORT_BUNDLE, all, NEVENTS, "{}", &m);
	write_raw(m.p, m.n);
	free(m.p);
	assert_int_equal(export_verify_bundle(bundle_path(), &main_log.v, &rep, &err), LS_OK);
	assert_int_equal(rep.entries, NEVENTS);
}

/* The key as `logseal verify-bundle --key` and `logseal verify --key` take
 * it (export_load_verifier): the key text or a file holding it; the
 * command's options and exit codes are tested by the integration tests. */
static void test_key_arg(void **state)
{
	char keyfile[300], *other;
	struct note_signer s;
	struct note_verifier v, ov;
	struct bundle_report rep;
	struct ls_err err;
	struct lines ls;
	FILE *f;

	(void)state;
	good_bundle(&ls);
	write_lines(&ls);
	assert_int_equal(export_load_verifier(main_log.vkey, &v, &err), LS_OK);
	assert_int_equal(export_verify_bundle(bundle_path(), &v, &rep, &err), LS_OK);
	/* The key from a file. */
	fmt(keyfile, sizeof(keyfile), "%s/main/verifier.key", tmpdir);
	assert_int_equal(export_load_verifier(keyfile, &v, &err), LS_OK);
	assert_int_equal(export_verify_bundle(bundle_path(), &v, &rep, &err), LS_OK);
	/* Another key, as text and from a file. */
	assert_int_equal(note_signer_generate(ORIGIN, &s, NULL), LS_OK);
	note_signer_verifier(&s, &ov);
	note_signer_wipe(&s);
	other = malloc(512);
	assert_non_null(other);
	assert_int_equal(note_verifier_format(&ov, other, 512), LS_OK);
	assert_int_equal(export_load_verifier(other, &v, &err), LS_OK);
	assert_int_not_equal(export_verify_bundle(bundle_path(), &v, &rep, &err), LS_OK);
	fmt(keyfile, sizeof(keyfile), "%s/other.key", tmpdir);
	f = fopen(keyfile, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", other);
	fclose(f);
	assert_int_equal(export_load_verifier(keyfile, &v, &err), LS_OK);
	assert_int_not_equal(export_verify_bundle(bundle_path(), &v, &rep, &err), LS_OK);
	free(other);
	/* Neither a key nor a file. */
	assert_int_not_equal(export_load_verifier("not-a-key", &v, &err), LS_OK);
	/* A tampered bundle fails. */
	del_line(&ls, 2);
	write_lines(&ls);
	assert_int_equal(export_load_verifier(main_log.vkey, &v, &err), LS_OK);
	assert_int_not_equal(export_verify_bundle(bundle_path(), &v, &rep, &err), LS_OK);
	lines_free(&ls);
}

static void test_tamper_entry(void **state)
{
	uint8_t buf[EVENT_MAX_BYTES], h[LS_HASH_LEN];
	char b64[LS_B64_LEN(EVENT_MAX_BYTES) + 1], hb[64];
	struct lines ls;
	const char *e;
	size_t len = 0;
	json_t *o;

	(void)state;
	/* One byte of the entry on line 3. */
	good_bundle(&ls);
	o = parse_line(ls.l[2]);
	e = json_string_value(json_object_get(o, "entry"));
	assert_int_equal(ls_b64_decode(e, strlen(e), buf, sizeof(buf), &len), LS_OK);
	buf[len / 2] ^= 0x01;
	ls_b64_encode(buf, len, b64, sizeof(b64));
	json_object_set_new(o, "entry", json_string(b64));
	set_line(&ls, 2, dump_line(json_incref(o)));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, 3, "leaf hash does not match");
	/* ... and its leaf hash made to match: now the proof fails. */
	merkle_leaf_hash(buf, len, h);
	ls_b64_encode(h, LS_HASH_LEN, hb, sizeof(hb));
	json_object_set_new(o, "leaf_hash", json_string(hb));
	set_line(&ls, 2, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, 3, "inclusion proof");
	lines_free(&ls);

	/* One proof hash on line 4. */
	good_bundle(&ls);
	o = parse_line(ls.l[3]);
	e = json_string_value(json_array_get(json_object_get(o, "proof"), 1));
	assert_int_equal(ls_b64_decode(e, strlen(e), h, sizeof(h), &len), LS_OK);
	h[0] ^= 0x80;
	ls_b64_encode(h, LS_HASH_LEN, hb, sizeof(hb));
	json_array_set_new(json_object_get(o, "proof"), 1, json_string(hb));
	set_line(&ls, 3, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, 4, "inclusion proof");
	lines_free(&ls);

	/* A proof hash dropped. */
	good_bundle(&ls);
	o = parse_line(ls.l[4]);
	json_array_remove(json_object_get(o, "proof"), 0);
	set_line(&ls, 4, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, 5, "inclusion proof");
	lines_free(&ls);

	/* The index changed (entry and proof kept). */
	good_bundle(&ls);
	o = parse_line(ls.l[2]);
	json_object_set_new(o, "index", json_integer(1));
	set_line(&ls, 2, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, 3, "inclusion proof");
	lines_free(&ls);

	/* An unknown member rides along. */
	good_bundle(&ls);
	o = parse_line(ls.l[5]);
	json_object_set_new(o, "note", json_string("trust me"));
	set_line(&ls, 5, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, 6, "unexpected member");
	lines_free(&ls);

	/* An index beyond the checkpoint. */
	good_bundle(&ls);
	o = parse_line(ls.l[NPICKED]);
	json_object_set_new(o, "index", json_integer(NEVENTS));
	set_line(&ls, NPICKED, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, NPICKED + 1, "not in the checkpoint");
	lines_free(&ls);
}

static void test_tamper_lines(void **state)
{
	struct lines ls;
	char *s;

	(void)state;
	/* Dropped: every line checks, the manifest's count does not. */
	good_bundle(&ls);
	del_line(&ls, 2);
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, MANIFEST_LINE - 1, "entries dropped or added");
	lines_free(&ls);

	/* The first and the last entry dropped. */
	good_bundle(&ls);
	del_line(&ls, 1);
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, MANIFEST_LINE - 1, "entries dropped or added");
	lines_free(&ls);
	good_bundle(&ls);
	del_line(&ls, NPICKED);
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, MANIFEST_LINE - 1, "entries dropped or added");
	lines_free(&ls);

	/* Repeated. */
	good_bundle(&ls);
	ins_line(&ls, 3, ls.l[2]);
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, 4, "does not follow");
	lines_free(&ls);

	/* Swapped. */
	good_bundle(&ls);
	s = ls.l[3];
	ls.l[3] = ls.l[4];
	ls.l[4] = s;
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, 5, "does not follow");
	lines_free(&ls);

	/* The header moved down. */
	good_bundle(&ls);
	s = ls.l[0];
	ls.l[0] = ls.l[1];
	ls.l[1] = s;
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, 1, "not a logseal export bundle");
	lines_free(&ls);

	/* A line after the manifest, even an empty one. */
	good_bundle(&ls);
	ins_line(&ls, ls.n, ls.l[1]);
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, MANIFEST_LINE + 1, "data after the manifest");
	lines_free(&ls);
	good_bundle(&ls);
	ins_line(&ls, ls.n, "");
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, MANIFEST_LINE + 1, "data after the manifest");
	lines_free(&ls);

	/* A second manifest. */
	good_bundle(&ls);
	ins_line(&ls, ls.n, ls.l[ls.n - 1]);
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, MANIFEST_LINE + 1, "data after the manifest");
	lines_free(&ls);

	/* Manifest truncated: as a line, and as the file's end. */
	good_bundle(&ls);
	ls.l[ls.n - 1][strlen(ls.l[ls.n - 1]) / 2] = 0;
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, MANIFEST_LINE, "not a JSON object");
	lines_free(&ls);
	{
		struct mem m;

		export_to(&main_log, EXPORT_BUNDLE, picked, NPICKED, FILTER, &m);
		write_raw(m.p, m.n - 1);
		expect_fail(&main_log.v, LS_INVALID, MANIFEST_LINE, "does not end in a newline");
		write_raw(m.p, m.n - 40);
		expect_fail(&main_log.v, LS_INVALID, MANIFEST_LINE, "does not end in a newline");
		free(m.p);
	}

	/* Manifest missing. */
	good_bundle(&ls);
	del_line(&ls, ls.n - 1);
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, MANIFEST_LINE, "without its signed manifest");
	lines_free(&ls);

	/* Empty file. */
	write_raw("", 0);
	expect_fail(&main_log.v, LS_INVALID, 1, "empty file");
	/* A huge line is refused without being held. */
	{
		size_t n = 300 * 1024;
		char *big = malloc(n);

		assert_non_null(big);
		memset(big, 'A', n);
		write_raw(big, n);
		free(big);
		expect_fail(&main_log.v, LS_LIMIT, 1, "longer than");
	}
}

static void test_tamper_header(void **state)
{
	struct lines ls;
	json_t *o;

	(void)state;
	/* The filter claims something else: the signed manifest says otherwise. */
	good_bundle(&ls);
	o = parse_line(ls.l[0]);
	json_object_set_new(o, "filter", json_pack("{ss}", "outcome", "success"));
	set_line(&ls, 0, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, MANIFEST_LINE, "filter");
	lines_free(&ls);

	/* Filter dropped to {}. */
	good_bundle(&ls);
	o = parse_line(ls.l[0]);
	json_object_set_new(o, "filter", json_object());
	set_line(&ls, 0, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, MANIFEST_LINE, "filter");
	lines_free(&ls);

	/* Creation time moved. */
	good_bundle(&ls);
	o = parse_line(ls.l[0]);
	json_object_set_new(o, "created", json_string("2023-01-01T00:00:00.000000Z"));
	set_line(&ls, 0, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, MANIFEST_LINE, "created");
	lines_free(&ls);

	/* A tree size that is not the checkpoint's. */
	good_bundle(&ls);
	o = parse_line(ls.l[0]);
	json_object_set_new(o, "tree_size", json_integer(NEVENTS + 1));
	set_line(&ls, 0, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, 1, "tree_size");
	lines_free(&ls);

	/* The manifest in place of the checkpoint: it can never pass as one. */
	good_bundle(&ls);
	o = parse_line(ls.l[0]);
	{
		json_t *m = parse_line(ls.l[MANIFEST_LINE - 1]);

		json_object_set(o, "checkpoint", json_object_get(m, "manifest"));
		json_decref(m);
	}
	set_line(&ls, 0, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_INVALID, 1, "not a checkpoint");
	lines_free(&ls);
}

/* Re-sign a note's text with s. */
static char *resign(const char *note, const struct note_signer *s)
{
	const char *sep = strstr(note, "\n\n");
	char *out = NULL;

	assert_non_null(sep);
	assert_int_equal(note_sign(s, note, (size_t)(sep - note) + 1, &out, NULL), LS_OK);
	return out;
}

static void test_resigned(void **state)
{
	struct note_signer s;
	struct note_verifier ov;
	char okey[512], *n;
	struct lines ls;
	json_t *o;

	(void)state;
	assert_int_equal(note_signer_generate(ORIGIN, &s, NULL), LS_OK);
	note_signer_verifier(&s, &ov);
	assert_int_equal(note_verifier_format(&ov, okey, sizeof(okey)), LS_OK);

	/* Manifest re-signed by another key of the same name. */
	good_bundle(&ls);
	o = parse_line(ls.l[MANIFEST_LINE - 1]);
	n = resign(json_string_value(json_object_get(o, "manifest")), &s);
	json_object_set_new(o, "manifest", json_string(n));
	free(n);
	set_line(&ls, MANIFEST_LINE - 1, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_UNTRUSTED, MANIFEST_LINE, "not signed by the given key");
	lines_free(&ls);

	/* Checkpoint re-signed, the header still naming the real key. */
	good_bundle(&ls);
	o = parse_line(ls.l[0]);
	n = resign(json_string_value(json_object_get(o, "checkpoint")), &s);
	json_object_set_new(o, "checkpoint", json_string(n));
	free(n);
	set_line(&ls, 0, dump_line(json_incref(o)));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_UNTRUSTED, 1, "not signed by the given key");
	/* ... and naming the other key. */
	json_object_set_new(o, "verifier_key", json_string(okey));
	set_line(&ls, 0, dump_line(o));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_UNTRUSTED, 1, "not the given key");
	/* Checked with the other key, the manifest (real key) fails instead. */
	expect_fail(&ov, LS_UNTRUSTED, MANIFEST_LINE, "not signed by the given key");
	lines_free(&ls);
	note_signer_wipe(&s);
}

/* A whole, self-consistent bundle from another log with the same origin. */
static void test_other_log(void **state)
{
	struct testlog other = { 0 };
	struct mem m;

	(void)state;
	make_log(&other, "other");
	export_to(&other, EXPORT_BUNDLE, picked, NPICKED, FILTER, &m);
	write_raw(m.p, m.n);
	free(m.p);
	expect_fail(&main_log.v, LS_UNTRUSTED, 1, "not the given key");
	{
		struct bundle_report rep;
		struct ls_err err;

		assert_int_equal(export_verify_bundle(bundle_path(), &other.v, &rep, &err), LS_OK);
	}
	close_log(&other);
}

/* An entry replaced by another genuine entry and proof of the same tree:
 * every line checks, the order holds, the count holds: the digest does not. */
static void test_substituted(void **state)
{
	uint64_t all[NEVENTS];
	struct lines ls, full;
	struct mem m;

	(void)state;
	for (uint64_t i = 0; i < NEVENTS; i++)
		all[i] = i;
	export_to(&main_log, EXPORT_BUNDLE, all, NEVENTS, FILTER, &m);
	split(&m, &full);
	free(m.p);
	good_bundle(&ls);
	/* picked[1] == 2 on line 3; entry 1 is line 2 of the full bundle. */
	set_line(&ls, 2, strdup(full.l[1 + 1]));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, MANIFEST_LINE, "digest");
	/* And entry 4 instead of entry 3 on line 4 (still increasing). */
	lines_free(&ls);
	good_bundle(&ls);
	set_line(&ls, 3, strdup(full.l[1 + 4]));
	write_lines(&ls);
	expect_fail(&main_log.v, LS_TAMPERED, MANIFEST_LINE, "digest");
	lines_free(&ls);
	lines_free(&full);
}

/* The largest entry (65,535 bytes) makes the longest entry line; it must
 * stay under the verifier's line limit. */
static void test_big_entry(void **state)
{
	struct testlog t = { 0 };
	struct log_opts o = { 0 };
	struct store_recovery rec;
	struct bundle_report rep;
	struct ls_err err = { "" };
	struct iovec iov[3];
	uint64_t first = 0, all[] = { 0, 1, 2 };
	char *big = malloc(EVENT_MAX_BYTES);
	size_t tl = 0;
	struct mem m;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', EVENT_MAX_BYTES);
	fmt(t.dir, sizeof(t.dir), "%s/big", tmpdir);
	assert_int_equal(log_init(t.dir, ORIGIN, &err), LS_OK);
	o.dir = t.dir;
	o.no_threads = 1;
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(log_open(&o, &t.l, &rec, &err), LS_OK);
	iov[0].iov_base = "{\"a\":1}";
	iov[0].iov_len = 7;
	iov[1].iov_base = big;
	iov[1].iov_len = EVENT_MAX_BYTES;
	iov[2] = iov[0];
	assert_int_equal(log_append(t.l, iov, 3, &first, &err), LS_OK);
	assert_int_equal(log_checkpoint(t.l, &err), LS_OK);
	assert_int_equal(log_latest_checkpoint(t.l, &t.note, &t.size), LS_OK);
	t.v = *log_verifier(t.l);
	assert_int_equal(note_verifier_format(&t.v, t.vkey, sizeof(t.vkey)), LS_OK);
	assert_int_equal(note_open(t.note, strlen(t.note), &t.v, 1, &tl, &err), LS_OK);
	assert_int_equal(checkpoint_parse(t.note, tl, &t.cp, &err), LS_OK);
	export_to(&t, EXPORT_BUNDLE, all, 3, NULL, &m);
	write_raw(m.p, m.n);
	free(m.p);
	assert_int_equal(export_verify_bundle(bundle_path(), &t.v, &rep, &err), LS_OK);
	assert_int_equal(rep.entries, 3);
	close_log(&t);
	free(big);
}

/* A signer that is no log: a bare note key (export.h, struct export_signer). */
static ls_rc key_signs(void *ctx, const char *text, size_t n, char **note, struct ls_err *err)
{
	return note_sign(ctx, text, n, note, err);
}

static void test_writer_refuses(void **state)
{
	struct export_signer sg = export_log_signer(main_log.l), other;
	struct note_signer ks;
	struct note_verifier kv;
	struct export_header h = { 0 };
	struct export_writer *w = NULL;
	struct ls_err err = { "" };
	uint8_t proof[1][LS_HASH_LEN] = { { 0 } };
	const char *e = "{\"a\":1}";
	struct mem m = { 0 };

	(void)state;
	h.origin = ORIGIN;
	h.verifier_key = main_log.vkey;
	h.checkpoint = main_log.note;
	h.tree_size = main_log.size;
	memcpy(h.root, main_log.cp.root, LS_HASH_LEN);
	h.filter_json = "{}";
	/* A root that is not the checkpoint's. */
	h.root[0] ^= 1;
	assert_int_equal(export_begin(EXPORT_BUNDLE, &h, &sg, mem_out, &m, &w, &err),
			 LS_INVALID);
	assert_null(w);
	h.root[0] ^= 1;
	/* A signer whose key is not the header's. */
	assert_int_equal(note_signer_generate(ORIGIN, &ks, NULL), LS_OK);
	note_signer_verifier(&ks, &kv);
	other = (struct export_signer){ ORIGIN, &kv, key_signs, &ks };
	assert_int_equal(export_begin(EXPORT_BUNDLE, &h, &other, mem_out, &m, &w, &err),
			 LS_INVALID);
	assert_null(w);
	note_signer_wipe(&ks);
	/* No signer, a bad filter. */
	assert_int_equal(export_begin(EXPORT_BUNDLE, &h, NULL, mem_out, &m, &w, &err), LS_INVALID);
	h.filter_json = "[1]";
	assert_int_equal(export_begin(EXPORT_BUNDLE, &h, &sg, mem_out, &m, &w, &err),
			 LS_INVALID);
	h.filter_json = "{}";
	/* An entry whose proof does not match, out of range, or out of order. */
	assert_int_equal(export_begin(EXPORT_BUNDLE, &h, &sg, mem_out, &m, &w, &err), LS_OK);
	assert_int_equal(export_entry(w, 3, (const uint8_t *)e, strlen(e),
				      (const uint8_t(*)[32])proof, 1, &err), LS_TAMPERED);
	/* Sticky: nothing more after a failure. */
	assert_int_not_equal(export_end(w, &err), LS_OK);
	export_free(w);
	w = NULL;
	assert_int_equal(export_begin(EXPORT_BUNDLE, &h, &sg, mem_out, &m, &w, &err), LS_OK);
	assert_int_equal(export_entry(w, NEVENTS, (const uint8_t *)e, strlen(e),
				      (const uint8_t(*)[32])proof, 1, &err), LS_INVALID);
	export_free(w);
	free(m.p);
}

/* --- SIEM formats --------------------------------------------------------- */

static const char *siem_body =
	"{\"time\":\"2024-05-01T12:00:00+02:00\",\"actor\":{\"id\":\"=HYPERLINK(\\\"http://x\\\")\","
	"\"type\":\"user\",\"name\":\"Zo\\u00eb\",\"email\":\"zoe@example.com\"},"
	"\"action\":\"db.query\",\"outcome\":\"denied\",\"source\":{\"ip\":\"10.0.0.1\","
	"\"port\":5432,\"user_agent\":\"psql/15\"},\"service\":\"billing,eu\","
	"\"reason\":\"line1\\nline2 \\\"quoted\\\"\",\"resource\":{\"type\":\"table\",\"id\":\"-1\"},"
	"\"details\":{\"sql\":\"select 1\",\"n\":2},\"request_id\":\"@req\",\"id\":\"evt-1\"}\n"
	"{\"time\":\"2024-05-01T10:00:01Z\",\"actor\":{\"id\":\"+49 151 \xe2\x9c\x93\"},"
	"\"action\":\"user.login\",\"outcome\":\"success\","
	"\"source\":{\"endpoint\":\"https://app.example/login\"},\"service\":\"auth\"}\n";

static void siem_export(enum export_format f, struct mem *m, uint8_t leaf[2][LS_HASH_LEN])
{
	struct event_ctx ctx = { .writer = "tok_1", .received_us = RECEIVED_US };
	struct export_writer *w = NULL;
	struct export_header h = { 0 };
	struct event_batch b = { 0 };
	struct event_error e;
	struct ls_err err = { "" };

	memset(m, 0, sizeof(*m));
	assert_int_equal(event_batch_parse(siem_body, strlen(siem_body), EVENT_BODY_NDJSON,
					   EVENT_FORMAT_NATIVE, &ctx, &b, &e), LS_OK);
	assert_int_equal(b.n, 2);
	h.origin = ORIGIN;
	h.filter_json = "{}";
	h.created_us = RECEIVED_US;
	assert_int_equal(export_begin(f, &h, NULL, mem_out, m, &w, &err), LS_OK);
	for (size_t i = 0; i < 2; i++) {
		merkle_leaf_hash(b.items[i].json, b.items[i].len, leaf[i]);
		assert_int_equal(export_entry(w, 40 + i, (const uint8_t *)b.items[i].json,
					      b.items[i].len, NULL, 0, &err), LS_OK);
	}
	assert_int_equal(export_end(w, &err), LS_OK);
	export_free(w);
	event_batch_release(&b);
}

static void test_csv(void **state)
{
	uint8_t leaf[2][LS_HASH_LEN];
	char h0[65], h1[65], want[2048];
	struct mem m;

	(void)state;
	siem_export(EXPORT_CSV, &m, leaf);
	ls_hex(leaf[0], LS_HASH_LEN, h0);
	ls_hex(leaf[1], LS_HASH_LEN, h1);
	fmt(want, sizeof(want), "%s%s%s%s%s",
	    "index,time,received,service,actor_id,actor_type,action,outcome,source_ip,"
	    "source_endpoint,resource_type,resource_id,writer,request_id,reason,details,"
	    "leaf_hash\r\n",
	    "40,2024-05-01T10:00:00.000000Z,2024-05-01T10:00:00.000000Z,\"billing,eu\","
	    "\"'=HYPERLINK(\"\"http://x\"\")\",user,db.query,denied,10.0.0.1,,table,'-1,tok_1,"
	    "'@req,\"line1\nline2 \"\"quoted\"\"\",\"{\"\"n\"\":2,\"\"sql\"\":\"\"select 1\"\"}\",",
	    h0,
	    "\r\n41,2024-05-01T10:00:01.000000Z,2024-05-01T10:00:00.000000Z,auth,"
	    "'+49 151 \xe2\x9c\x93,,user.login,success,,https://app.example/login,,,tok_1,,,,",
	    h1);
	assert_int_equal(strlen(want) + 2, m.n);
	assert_memory_equal(m.p, want, strlen(want));
	assert_memory_equal(m.p + strlen(want), "\r\n", 2);
	free(m.p);
}

/* o at a dotted path ("event.outcome"); "@timestamp" has no dot. */
static json_t *jget(json_t *o, const char *path)
{
	char key[64];
	const char *p = path, *dot;

	while (o && *p) {
		dot = strchr(p, '.');
		fmt(key, sizeof(key), "%.*s", dot ? (int)(dot - p) : (int)strlen(p), p);
		o = json_object_get(o, key);
		p = dot ? dot + 1 : p + strlen(p);
	}
	return o;
}

static void assert_jstr(json_t *o, const char *path, const char *want)
{
	json_t *v = jget(o, path);

	if (!json_is_string(v))
		fail_msg("%s is not a string", path);
	assert_string_equal(json_string_value(v), want);
}

static void assert_jint(json_t *o, const char *path, long long want)
{
	json_t *v = jget(o, path);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", path);
	assert_int_equal(json_integer_value(v), want);
}

static void two_lines(const struct mem *m, json_t *o[2])
{
	struct lines ls;

	split(m, &ls);
	assert_int_equal(ls.n, 2);
	for (int i = 0; i < 2; i++) {
		o[i] = json_loads(ls.l[i], JSON_REJECT_DUPLICATES, NULL);
		assert_true(json_is_object(o[i]));
	}
	lines_free(&ls);
}

static void test_ecs(void **state)
{
	uint8_t leaf[2][LS_HASH_LEN];
	char hb[64];
	json_t *o[2], *t;
	struct mem m;

	(void)state;
	siem_export(EXPORT_ECS, &m, leaf);
	two_lines(&m, o);
	assert_jstr(o[0], "@timestamp", "2024-05-01T10:00:00.000000Z");
	assert_jstr(o[0], "event.action", "db.query");
	assert_jstr(o[0], "event.outcome", "failure");
	assert_jstr(o[0], "event.kind", "event");
	assert_jstr(o[0], "event.id", "evt-1");
	assert_jstr(o[0], "event.created", "2024-05-01T10:00:00.000000Z");
	assert_jstr(o[0], "event.reason", "line1\nline2 \"quoted\"");
	t = jget(o[0], "event.type");
	assert_true(json_is_array(t));
	/* db.query on a table: category database, whose expected types have
	 * no "denied" (the outcome says it) */
	assert_string_equal(json_string_value(json_array_get(t, 0)), "access");
	assert_int_equal(json_array_size(t), 1);
	t = jget(o[0], "event.category");
	assert_true(json_is_array(t));
	assert_int_equal(json_array_size(t), 1);
	assert_string_equal(json_string_value(json_array_get(t, 0)), "database");
	assert_jstr(o[0], "user.id", "=HYPERLINK(\"http://x\")");
	assert_jstr(o[0], "user.name", "Zo\xc3\xab");
	assert_jstr(o[0], "user.email", "zoe@example.com");
	assert_jstr(o[0], "source.ip", "10.0.0.1");
	assert_jint(o[0], "source.port", 5432);
	assert_jstr(o[0], "user_agent.original", "psql/15");
	assert_jstr(o[0], "service.name", "billing,eu");
	assert_jstr(o[0], "http.request.id", "@req");
	assert_jint(o[0], "logseal.index", 40);
	ls_b64_encode(leaf[0], LS_HASH_LEN, hb, sizeof(hb));
	assert_jstr(o[0], "logseal.leaf_hash", hb);
	assert_jstr(o[0], "logseal.writer", "tok_1");
	assert_jstr(o[0], "logseal.origin", ORIGIN);
	assert_jstr(o[0], "logseal.resource.type", "table");
	assert_jstr(o[0], "logseal.resource.id", "-1");
	assert_jint(o[0], "logseal.details.n", 2);

	assert_jstr(o[1], "event.outcome", "success");
	assert_jstr(o[1], "url.original", "https://app.example/login");
	assert_null(jget(o[1], "source"));
	assert_jstr(o[1], "user.id", "+49 151 \xe2\x9c\x93");
	/* user.login: authentication, a session starts */
	assert_string_equal(json_string_value(json_array_get(jget(o[1], "event.type"), 0)), "start");
	assert_string_equal(json_string_value(json_array_get(jget(o[1], "event.category"), 0)),
			    "authentication");
	json_decref(o[0]);
	json_decref(o[1]);
	free(m.p);
}

static void test_ocsf(void **state)
{
	uint8_t leaf[2][LS_HASH_LEN];
	char hb[64];
	json_t *o[2];
	struct mem m;

	(void)state;
	siem_export(EXPORT_OCSF, &m, leaf);
	two_lines(&m, o);
	assert_jint(o[0], "class_uid", 6003);
	assert_jint(o[0], "category_uid", 6);
	assert_jint(o[0], "activity_id", 2);	/* db.query: Read */
	assert_jint(o[0], "type_uid", 600302);
	assert_jint(o[0], "time", 1714557600000LL);
	assert_jint(o[0], "severity_id", 1);
	assert_jint(o[0], "status_id", 2);
	assert_jstr(o[0], "status", "Failure");
	assert_jstr(o[0], "status_detail", "denied");
	assert_jstr(o[0], "actor.user.uid", "=HYPERLINK(\"http://x\")");
	assert_jstr(o[0], "actor.user.email_addr", "zoe@example.com");
	assert_jint(o[0], "actor.user.type_id", 1);
	assert_jstr(o[0], "src_endpoint.ip", "10.0.0.1");
	assert_jint(o[0], "src_endpoint.port", 5432);
	assert_jstr(o[0], "api.operation", "db.query");
	assert_jstr(o[0], "api.service.name", "billing,eu");
	assert_jstr(o[0], "api.request.uid", "@req");
	assert_jstr(o[0], "http_request.user_agent", "psql/15");
	assert_jstr(o[0], "metadata.product.name", "logseal");
	assert_jstr(o[0], "metadata.version", "1.1.0");
	assert_jstr(o[0], "metadata.uid", "40");
	assert_jint(o[0], "metadata.logged_time", 1714557600000LL);
	assert_jstr(o[0], "message", "line1\nline2 \"quoted\"");
	assert_true(json_is_array(jget(o[0], "resources")));
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(jget(o[0], "resources"), 0), "uid")),
		"-1");
	assert_jint(o[0], "unmapped.logseal.index", 40);
	ls_b64_encode(leaf[0], LS_HASH_LEN, hb, sizeof(hb));
	assert_jstr(o[0], "unmapped.logseal.leaf_hash", hb);
	assert_jstr(o[0], "unmapped.logseal.writer", "tok_1");

	/* user.login: OCSF Authentication (3002), Logon (1) */
	assert_jint(o[1], "class_uid", 3002);
	assert_jstr(o[1], "class_name", "Authentication");
	assert_jint(o[1], "category_uid", 3);
	assert_jstr(o[1], "category_name", "Identity & Access Management");
	assert_jint(o[1], "activity_id", 1);
	assert_jstr(o[1], "activity_name", "Logon");
	assert_jint(o[1], "type_uid", 300201);
	assert_jstr(o[1], "user.uid", "+49 151 \xe2\x9c\x93");
	assert_jstr(o[1], "actor.user.uid", "+49 151 \xe2\x9c\x93");
	assert_jstr(o[1], "service.name", "auth");
	assert_null(jget(o[1], "api"));
	assert_jint(o[1], "unmapped.logseal.index", 41);
	assert_jint(o[1], "time", 1714557601000LL);
	assert_jint(o[1], "status_id", 1);
	assert_jstr(o[1], "http_request.url.url_string", "https://app.example/login");
	assert_null(jget(o[1], "actor.user.type_id"));
	json_decref(o[0]);
	json_decref(o[1]);
	free(m.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_bundle_verifies),
		cmocka_unit_test(test_bundle_empty_and_full),
		cmocka_unit_test(test_key_arg),
		cmocka_unit_test(test_tamper_entry),
		cmocka_unit_test(test_tamper_lines),
		cmocka_unit_test(test_tamper_header),
		cmocka_unit_test(test_resigned),
		cmocka_unit_test(test_other_log),
		cmocka_unit_test(test_substituted),
		cmocka_unit_test(test_big_entry),
		cmocka_unit_test(test_writer_refuses),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_ecs),
		cmocka_unit_test(test_ocsf),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
