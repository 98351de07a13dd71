/*
 * test_note.c - signed notes and checkpoints against published vectors.
 *
 * The vectors are read at run time from tests/vectors/signed-note-vectors.txt
 * (C2SP signed-note.md example and the golang.org/x/mod/sumdb/note reference
 * key and note), so the expectations are the published bytes, not ours.
 * Negative cases are made by mutating those published notes.  Run from the
 * project root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/crypto.h"
#include "core/note.h"

#define VECTORS "tests/vectors/signed-note-vectors.txt"
#define EM_DASH "\xe2\x80\x94"

/* One numbered section of the vectors file. */
struct vec {
	char vkey[512];
	char skey[512];		/* empty when the section has none */
	char text[1024];	/* the quoted "note text", unescaped */
	char note[2048];	/* the "full note:" block, lines joined with '\n' */
};

static struct vec vecs[2];

static char *trim_eol(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

/* Unescape the quoted value after `note text...: "`; only \n and \\ and \"
 * occur in the file. */
static void unquote(const char *line, char *out, size_t cap)
{
	const char *p = strchr(line, '"'), *q = strrchr(line, '"');
	size_t o = 0;

	assert_non_null(p);
	assert_true(q > p);
	for (p++; p < q; p++) {
		char c = *p;

		if (c == '\\') {
			p++;
			c = *p == 'n' ? '\n' : *p;
		}
		assert_true(o + 1 < cap);
		out[o++] = c;
	}
	out[o] = 0;
}

/* snprintf that must not truncate (a truncated test input proves nothing). */
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

static void append(char *dst, size_t cap, const char *s)
{
	size_t a = strlen(dst), b = strlen(s);

	assert_true(a + b < cap);
	memcpy(dst + a, s, b + 1);
}

static int load_vectors(void **state)
{
	char line[1024];
	FILE *f = fopen(VECTORS, "r");
	int sec = -1, in_note = 0;

	(void)state;
	if (!f) {
		fprintf(stderr, "# cannot open %s (run from the project root)\n", VECTORS);
		return -1;
	}
	memset(vecs, 0, sizeof(vecs));
	while (fgets(line, sizeof(line), f)) {
		trim_eol(line);
		if (!strncmp(line, "## ", 3)) {
			sec = line[3] == '1' ? 0 : line[3] == '2' ? 1 : -1;
			in_note = 0;
			continue;
		}
		if (sec < 0)
			continue;
		struct vec *v = &vecs[sec];

		if (in_note) {
			append(v->note, sizeof(v->note), line);
			append(v->note, sizeof(v->note), "\n");
			/* The first signature line closes the block. */
			if (!strncmp(line, EM_DASH " ", 4))
				in_note = 0;
		} else if (!strncmp(line, "vkey: ", 6)) {
			fmt(v->vkey, sizeof(v->vkey), "%s", line + 6);
		} else if (!strncmp(line, "PRIVATE+KEY+", 12)) {
			fmt(v->skey, sizeof(v->skey), "%s", line);
		} else if (!strncmp(line, "note text", 9)) {
			unquote(line, v->text, sizeof(v->text));
		} else if (!strcmp(line, "full note:")) {
			in_note = 1;
		}
	}
	fclose(f);
	for (int i = 0; i < 2; i++)
		if (!vecs[i].vkey[0] || !vecs[i].text[0] || !vecs[i].note[0]) {
			fprintf(stderr, "# section %d of %s incomplete\n", i + 1, VECTORS);
			return -1;
		}
	if (!vecs[1].skey[0])
		return -1;
	return 0;
}

static void parse_vkey(const char *s, struct note_verifier *v)
{
	struct ls_err err = { { 0 } };

	assert_int_equal(note_verifier_parse(s, strlen(s), v, &err), LS_OK);
}

static ls_rc open_with(const char *note, size_t n, const struct note_verifier *v, size_t nv)
{
	struct ls_err err = { { 0 } };
	size_t tl = 99;
	ls_rc rc = note_open(note, n, v, nv, &tl, &err);

	if (rc == LS_OK)
		assert_true(tl > 0 && tl < n);
	else
		assert_int_equal(tl, 0);
	if (rc != LS_OK)
		assert_true(err.msg[0] != 0);
	return rc;
}

static ls_rc open_str(const char *note, const struct note_verifier *v)
{
	return open_with(note, strlen(note), v, 1);
}

/* ------------------------------------------------------------------------
 * Published vectors
 */

static void test_vector_notes_verify(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		struct note_verifier v;
		struct ls_err err = { { 0 } };
		const char *note = vecs[i].note;
		size_t tl = 0;

		parse_vkey(vecs[i].vkey, &v);
		assert_int_equal(note_open(note, strlen(note), &v, 1, &tl, &err), LS_OK);
		/* The signed text is exactly the published "note text". */
		assert_int_equal(tl, strlen(vecs[i].text));
		assert_memory_equal(note, vecs[i].text, tl);
		/* text_len is optional. */
		assert_int_equal(note_open(note, strlen(note), &v, 1, NULL, NULL), LS_OK);
	}
}

static void test_vector_vkeys_roundtrip(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		struct note_verifier v;
		char out[512], hex[9];
		uint8_t h[LS_HASH_LEN], tail[34];

		parse_vkey(vecs[i].vkey, &v);
		assert_int_equal(note_verifier_format(&v, out, sizeof(out)), LS_OK);
		assert_string_equal(out, vecs[i].vkey);
		assert_memory_equal(v.name, vecs[i].vkey, strlen(v.name));

		/* Recompute the key id by the spec's formula, independently of note.c. */
		tail[0] = 0x0a;
		tail[1] = 0x01;
		memcpy(tail + 2, v.pub, 32);
		ls_sha256(v.name, strlen(v.name), tail, sizeof(tail), h);
		ls_hex(h, 4, hex);
		assert_memory_equal(vecs[i].vkey + strlen(v.name) + 1, hex, 8);
		assert_int_equal(v.key_id, (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
						   (uint32_t)h[2] << 8 | h[3]);

		/* Too small a buffer is refused, not truncated silently. */
		assert_int_equal(note_verifier_format(&v, out, strlen(vecs[i].vkey)), LS_LIMIT);
	}
}

static void test_go_reference_sign(void **state)
{
	const struct vec *g = &vecs[1];
	struct note_signer s;
	struct note_verifier v, pv;
	struct ls_err err = { { 0 } };
	char out[512], *note = NULL;

	(void)state;
	assert_int_equal(note_signer_parse(g->skey, strlen(g->skey), &s, &err), LS_OK);
	note_signer_verifier(&s, &v);
	assert_int_equal(note_verifier_format(&v, out, sizeof(out)), LS_OK);
	assert_string_equal(out, g->vkey);
	parse_vkey(g->vkey, &pv);
	assert_memory_equal(pv.pub, v.pub, 32);
	assert_int_equal(pv.key_id, v.key_id);

	assert_int_equal(note_signer_format(&s, out, sizeof(out)), LS_OK);
	assert_string_equal(out, g->skey);
	assert_int_equal(note_signer_format(&s, out, 20), LS_LIMIT);
	assert_string_equal(out, "");

	/* Ed25519 is deterministic: the published note, byte for byte. */
	assert_int_equal(note_sign(&s, g->text, strlen(g->text), &note, &err), LS_OK);
	assert_string_equal(note, g->note);
	assert_int_equal(open_str(note, &v), LS_OK);
	free(note);

	note_signer_wipe(&s);
	for (size_t i = 0; i < sizeof(s.seed); i++)
		assert_int_equal(s.seed[i], 0);
}

/* ------------------------------------------------------------------------
 * Verification outcomes
 */

static void test_tampered_text(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		struct note_verifier v;
		char note[2048];
		size_t tl = strlen(vecs[i].text);

		parse_vkey(vecs[i].vkey, &v);
		/* Flip the case of each ASCII letter of the text in turn: the
		 * note stays well-formed, the signature must not. */
		for (size_t k = 0; k < tl; k++) {
			fmt(note, sizeof(note), "%s", vecs[i].note);
			if (!((note[k] | 0x20) >= 'a' && (note[k] | 0x20) <= 'z'))
				continue;
			note[k] ^= 0x20;
			assert_int_equal(open_str(note, &v), LS_TAMPERED);
		}
		/* An extra text line (before the blank line). */
		fmt(note, sizeof(note), "extra\n%s", vecs[i].note);
		assert_int_equal(open_str(note, &v), LS_TAMPERED);
	}
}

static void test_tampered_signature(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++) {
		struct note_verifier v;
		char note[2048];
		char *b64;

		parse_vkey(vecs[i].vkey, &v);
		fmt(note, sizeof(note), "%s", vecs[i].note);
		b64 = strrchr(note, ' ') + 1;
		/* Character 20 lies in the signature, past the 4-byte key id. */
		b64[20] = b64[20] == 'A' ? 'B' : 'A';
		assert_int_equal(open_str(note, &v), LS_TAMPERED);
	}
}

static void test_untrusted(void **state)
{
	struct note_verifier c2sp, go, other;
	struct note_signer s;
	struct ls_err err = { { 0 } };
	char *note = NULL;

	(void)state;
	parse_vkey(vecs[0].vkey, &c2sp);
	parse_vkey(vecs[1].vkey, &go);
	/* Each published note, checked with the other's key only. */
	assert_int_equal(open_str(vecs[0].note, &go), LS_UNTRUSTED);
	assert_int_equal(open_str(vecs[1].note, &c2sp), LS_UNTRUSTED);
	/* No known keys at all. */
	assert_int_equal(open_with(vecs[0].note, strlen(vecs[0].note), NULL, 0), LS_UNTRUSTED);

	/* Same name, different key (hence id): ignored, not tampered. */
	assert_int_equal(note_signer_generate(go.name, &s, &err), LS_OK);
	assert_int_not_equal(s.key_id, go.key_id);
	assert_int_equal(note_sign(&s, vecs[1].text, strlen(vecs[1].text), &note, &err), LS_OK);
	assert_int_equal(open_str(note, &go), LS_UNTRUSTED);
	free(note);

	/* Same id, different name: ignored as well. */
	other = go;
	fmt(other.name, sizeof(other.name), "PeterNeumann2");
	assert_int_equal(open_str(vecs[1].note, &other), LS_UNTRUSTED);
	note_signer_wipe(&s);
}

static void test_multiple_signatures(void **state)
{
	struct note_verifier go, c2sp, mine, both[2];
	struct note_signer s;
	struct ls_err err = { { 0 } };
	char note[4096], *extra = NULL;
	const char *sigline;

	(void)state;
	parse_vkey(vecs[1].vkey, &go);
	parse_vkey(vecs[0].vkey, &c2sp);
	assert_int_equal(note_signer_generate("witness.example/w1", &s, &err), LS_OK);
	note_signer_verifier(&s, &mine);
	assert_int_equal(note_sign(&s, vecs[1].text, strlen(vecs[1].text), &extra, &err), LS_OK);
	sigline = strstr(extra, "\n\n" EM_DASH) + 2;

	/* Published note plus a cosignature from a key the reader may not know. */
	fmt(note, sizeof(note), "%s%s", vecs[1].note, sigline);
	assert_int_equal(open_str(note, &go), LS_OK);
	assert_int_equal(open_str(note, &mine), LS_OK);
	both[0] = go;
	both[1] = mine;
	assert_int_equal(open_with(note, strlen(note), both, 2), LS_OK);
	both[1] = c2sp;
	assert_int_equal(open_with(note, strlen(note), both, 2), LS_OK);

	/* A signature by an unknown key that does not verify is still ignored. */
	fmt(note, sizeof(note), "%s%s", vecs[1].note, sigline);
	char *b64 = strrchr(note, ' ') + 1;
	b64[20] = b64[20] == 'A' ? 'B' : 'A';
	assert_int_equal(open_str(note, &go), LS_OK);
	/* ...but once known, one bad signature spoils the note. */
	both[0] = go;
	both[1] = mine;
	assert_int_equal(open_with(note, strlen(note), both, 2), LS_TAMPERED);
	assert_int_equal(open_str(note, &mine), LS_TAMPERED);
	free(extra);
	note_signer_wipe(&s);
}

/* ------------------------------------------------------------------------
 * Malformed notes
 */

/* Replace the first occurrence of `from` in the C2SP note by `to`. */
static void mutate(char *out, size_t cap, const char *src, const char *from, const char *to)
{
	const char *p = strstr(src, from);

	assert_non_null(p);
	fmt(out, cap, "%.*s%s%s", (int)(p - src), src, to, p + strlen(from));
}

static void test_malformed(void **state)
{
	const char *n0 = vecs[0].note;
	struct note_verifier v;
	char note[4096], *b64;
	size_t len = strlen(n0);

	(void)state;
	parse_vkey(vecs[0].vkey, &v);

	/* No blank line between text and signatures. */
	mutate(note, sizeof(note), n0, ".\n\n", ".\n");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* Missing trailing newline. */
	assert_int_equal(open_with(n0, len - 1, &v, 1), LS_INVALID);
	/* Bad base64: a character outside the alphabet; a dropped character;
	 * a non-canonical last digit before the padding. */
	fmt(note, sizeof(note), "%s", n0);
	b64 = strrchr(note, ' ') + 1;
	b64[10] = '!';
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, "Uw2Q", "Uw2");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, "QM=\n", "QN=\n");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* Wrong dash: ASCII hyphen, en dash, or no space after it. */
	mutate(note, sizeof(note), n0, EM_DASH " ", "- ");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, EM_DASH " ", "\xe2\x80\x93 ");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, EM_DASH " ", EM_DASH);
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* Trailing garbage: a stray line, bytes without newline, a blank line. */
	fmt(note, sizeof(note), "%sgarbage\n", n0);
	assert_int_equal(open_str(note, &v), LS_INVALID);
	fmt(note, sizeof(note), "%sx", n0);
	assert_int_equal(open_str(note, &v), LS_INVALID);
	fmt(note, sizeof(note), "%s\n", n0);
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* Empty text: nothing before the signature line. */
	fmt(note, sizeof(note), "%s", strstr(n0, "\n" EM_DASH));
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* No signature lines at all. */
	fmt(note, sizeof(note), "%s\n", vecs[0].text);
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* Key names with a space or '+' (the id no longer matters). */
	mutate(note, sizeof(note), n0, "example.com/foo ", "example.com/ foo ");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, "example.com/foo ", "example.com+foo ");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, "example.com/foo ", "example.com/\xc2\xa0" "foo ");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* Two spaces before the signature, and an empty name. */
	mutate(note, sizeof(note), n0, "foo ", "foo  ");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, "example.com/foo ", " ");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* Signature shorter than a key id plus one byte. */
	mutate(note, sizeof(note), n0, strrchr(n0, ' '), " AAAAAA==\n");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* Control characters (CR, tab, NUL) and invalid UTF-8 in the text. */
	mutate(note, sizeof(note), n0, "message.\n", "message.\r\n");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, "an example", "an\texample");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	memcpy(note, n0, len);
	note[3] = 0;
	assert_int_equal(open_with(note, len, &v, 1), LS_INVALID);
	mutate(note, sizeof(note), n0, "This", "Th\xc3is");
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, "This", "Th\xed\xa0\x80s"); /* surrogate */
	assert_int_equal(open_str(note, &v), LS_INVALID);
	mutate(note, sizeof(note), n0, "This", "Th\xc0\xafs"); /* overlong '/' */
	assert_int_equal(open_str(note, &v), LS_INVALID);
	/* Empty input. */
	assert_int_equal(open_with("", 0, &v, 1), LS_INVALID);
	assert_int_equal(open_with(NULL, 0, &v, 1), LS_INVALID);
}

static void test_limits(void **state)
{
	const char *n0 = vecs[0].note;
	const char *sig = strstr(n0, "\n" EM_DASH) + 1;
	struct note_verifier v;
	size_t cap = NOTE_MAX_SIZE + 2, o;
	char *buf = malloc(cap);
	int i;

	(void)state;
	assert_non_null(buf);
	parse_vkey(vecs[0].vkey, &v);

	/* 100 signatures (the same one repeated) are accepted; 101 are not. */
	o = (size_t)snprintf(buf, cap, "%s", n0);
	for (i = 1; i < 100; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s", sig);
	assert_int_equal(open_with(buf, o, &v, 1), LS_OK);
	o += (size_t)snprintf(buf + o, cap - o, "%s", sig);
	assert_int_equal(open_with(buf, o, &v, 1), LS_LIMIT);

	/* A note over NOTE_MAX_SIZE is refused before it is looked at. */
	memset(buf, 'a', cap);
	buf[NOTE_MAX_SIZE] = '\n';
	assert_int_equal(open_with(buf, NOTE_MAX_SIZE + 1, &v, 1), LS_LIMIT);
	free(buf);
}

/* ------------------------------------------------------------------------
 * Keys
 */

static void test_key_rejects(void **state)
{
	const char *vk = vecs[1].vkey, *sk = vecs[1].skey;
	struct note_verifier v;
	struct note_signer s;
	struct ls_err err = { { 0 } };
	char buf[512];

	(void)state;
	memset(&v, 0x5a, sizeof(v));
	/* Key id mismatch: last hex digit changed. */
	mutate(buf, sizeof(buf), vk, "+c74f20a3+", "+c74f20a4+");
	assert_int_equal(note_verifier_parse(buf, strlen(buf), &v, &err), LS_INVALID);
	assert_int_equal(v.key_id, 0x5a5a5a5a); /* untouched on failure */
	/* Upper-case hex is the same id (Go parses it too). */
	mutate(buf, sizeof(buf), vk, "+c74f20a3+", "+C74F20A3+");
	assert_int_equal(note_verifier_parse(buf, strlen(buf), &v, &err), LS_OK);
	/* Renaming the key breaks the id. */
	mutate(buf, sizeof(buf), vk, "PeterNeumann+", "PeterNeumann2+");
	assert_int_equal(note_verifier_parse(buf, strlen(buf), &v, &err), LS_INVALID);
	/* Short hex, missing parts, bad base64, wrong algorithm byte. */
	mutate(buf, sizeof(buf), vk, "+c74f20a3+", "+c74f20a+");
	assert_int_equal(note_verifier_parse(buf, strlen(buf), &v, &err), LS_INVALID);
	assert_int_equal(note_verifier_parse("PeterNeumann", 12, &v, &err), LS_INVALID);
	assert_int_equal(note_verifier_parse("PeterNeumann+c74f20a3", 21, &v, &err), LS_INVALID);
	assert_int_equal(note_verifier_parse("+c74f20a3+ARpc", 14, &v, &err), LS_INVALID);
	mutate(buf, sizeof(buf), vk, "+ARpc", "+ARp!");
	assert_int_equal(note_verifier_parse(buf, strlen(buf), &v, &err), LS_INVALID);
	mutate(buf, sizeof(buf), vk, "+ARpc", "+AhpC");
	assert_int_equal(note_verifier_parse(buf, strlen(buf), &v, &err), LS_INVALID);
	/* Trailing newline or bytes. */
	fmt(buf, sizeof(buf), "%s\n", vk);
	assert_int_equal(note_verifier_parse(buf, strlen(buf), &v, &err), LS_INVALID);
	/* A name with a space. */
	mutate(buf, sizeof(buf), vk, "PeterNeumann", "Peter Neumann");
	assert_int_equal(note_verifier_parse(buf, strlen(buf), &v, &err), LS_INVALID);
	/* A private key is not a verifier key and vice versa. */
	assert_int_equal(note_verifier_parse(sk, strlen(sk), &v, &err), LS_INVALID);
	assert_int_equal(note_signer_parse(vk, strlen(vk), &s, &err), LS_INVALID);
	/* Signer with a key id that does not match its seed. */
	mutate(buf, sizeof(buf), sk, "+c74f20a3+", "+c74f20a4+");
	assert_int_equal(note_signer_parse(buf, strlen(buf), &s, &err), LS_INVALID);
	mutate(buf, sizeof(buf), sk, "PRIVATE+KEY+", "PRIVATE+KEY");
	assert_int_equal(note_signer_parse(buf, strlen(buf), &s, &err), LS_INVALID);
}

static void test_generate_roundtrip(void **state)
{
	struct note_signer s, s2;
	struct note_verifier v, v2;
	struct ls_err err = { { 0 } };
	char sk[512], vk[512], *note = NULL;
	const char *text = "hello\n\nwith an empty line and \xe2\x80\x94 a dash\n";
	size_t tl = 0;

	(void)state;
	assert_int_equal(note_signer_generate("", &s, &err), LS_INVALID);
	assert_int_equal(note_signer_generate("a b", &s, &err), LS_INVALID);
	assert_int_equal(note_signer_generate("a+b", &s, &err), LS_INVALID);
	assert_int_equal(note_signer_generate("logseal.example/log", &s, &err), LS_OK);
	assert_int_equal(note_signer_format(&s, sk, sizeof(sk)), LS_OK);
	assert_int_equal(note_signer_parse(sk, strlen(sk), &s2, &err), LS_OK);
	assert_memory_equal(&s, &s2, sizeof(s));
	note_signer_verifier(&s, &v);
	assert_int_equal(note_verifier_format(&v, vk, sizeof(vk)), LS_OK);
	assert_int_equal(note_verifier_parse(vk, strlen(vk), &v2, &err), LS_OK);
	assert_memory_equal(&v, &v2, sizeof(v));

	/* Empty lines and dashes inside the text survive the split. */
	assert_int_equal(note_sign(&s, text, strlen(text), &note, &err), LS_OK);
	assert_int_equal(note_open(note, strlen(note), &v2, 1, &tl, &err), LS_OK);
	assert_int_equal(tl, strlen(text));
	assert_memory_equal(note, text, tl);
	free(note);

	/* Texts note_sign must refuse. */
	assert_int_equal(note_sign(&s, "", 0, &note, &err), LS_INVALID);
	assert_null(note);
	assert_int_equal(note_sign(&s, "no newline", 10, &note, &err), LS_INVALID);
	assert_int_equal(note_sign(&s, "tab\there\n", 9, &note, &err), LS_INVALID);
	assert_int_equal(note_sign(&s, "nul\0x\n", 6, &note, &err), LS_INVALID);
	assert_int_equal(note_sign(&s, "bad \xff\n", 6, &note, &err), LS_INVALID);
	note_signer_wipe(&s);
	note_signer_wipe(&s2);
}

/* ------------------------------------------------------------------------
 * Checkpoints
 */

/* The example from C2SP tlog-checkpoint.md (its signing key is not
 * published, so only the body is used). */
static const char spec_checkpoint[] =
	"example.com/behind-the-sofa\n"
	"20852163\n"
	"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

static ls_rc cp_parse(const char *s, struct checkpoint *c)
{
	struct ls_err err = { { 0 } };
	ls_rc rc = checkpoint_parse(s, strlen(s), c, &err);

	if (rc != LS_OK)
		assert_true(err.msg[0] != 0);
	return rc;
}

static void test_checkpoint_spec_example(void **state)
{
	struct checkpoint c;
	char out[512];
	uint8_t root[LS_HASH_LEN];
	size_t len = 0;

	(void)state;
	assert_int_equal(cp_parse(spec_checkpoint, &c), LS_OK);
	assert_string_equal(c.origin, "example.com/behind-the-sofa");
	assert_int_equal(c.size, 20852163);
	assert_int_equal(ls_b64_decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", 44, root,
				       sizeof(root), &len), LS_OK);
	assert_memory_equal(c.root, root, sizeof(root));
	assert_int_equal(checkpoint_format(&c, out, sizeof(out)), LS_OK);
	assert_string_equal(out, spec_checkpoint);
	assert_int_equal(checkpoint_format(&c, out, strlen(spec_checkpoint)), LS_LIMIT);
}

static void test_checkpoint_roundtrip(void **state)
{
	static const uint64_t sizes[] = { 0, 1, 9, 10, 1234567, UINT64_MAX };
	struct note_signer s;
	struct note_verifier v;
	struct ls_err err = { { 0 } };
	struct checkpoint c, d;
	char body[512], ext[600], *note = NULL;
	size_t tl = 0;

	(void)state;
	memset(&c, 0, sizeof(c));
	fmt(c.origin, sizeof(c.origin), "logseal.example/log");
	for (size_t i = 0; i < LS_HASH_LEN; i++)
		c.root[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		c.size = sizes[i];
		assert_int_equal(checkpoint_format(&c, body, sizeof(body)), LS_OK);
		assert_int_equal(cp_parse(body, &d), LS_OK);
		assert_memory_equal(&c, &d, sizeof(c));
	}
	/* Extension lines are allowed and ignored. */
	fmt(ext, sizeof(ext), "%sext one\next two\n", body);
	assert_int_equal(cp_parse(ext, &d), LS_OK);
	assert_memory_equal(&c, &d, sizeof(c));

	/* As a signed note, end to end. */
	assert_int_equal(note_signer_generate(c.origin, &s, &err), LS_OK);
	note_signer_verifier(&s, &v);
	assert_int_equal(note_sign(&s, body, strlen(body), &note, &err), LS_OK);
	assert_int_equal(note_open(note, strlen(note), &v, 1, &tl, &err), LS_OK);
	assert_int_equal(checkpoint_parse(note, tl, &d, &err), LS_OK);
	assert_memory_equal(&c, &d, sizeof(c));
	free(note);
	note_signer_wipe(&s);

	/* An origin that would break the format is refused. */
	c.origin[0] = 0;
	assert_int_equal(checkpoint_format(&c, body, sizeof(body)), LS_INVALID);
	fmt(c.origin, sizeof(c.origin), "two\nlines");
	assert_int_equal(checkpoint_format(&c, body, sizeof(body)), LS_INVALID);
}

static void test_checkpoint_rejects(void **state)
{
	static const char root[] = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
	static const char *sizes_bad[] = {
		"00", "007", "01", "-1", "+1", " 1", "1 ", "1a", "", "0x10",
		"18446744073709551616", "99999999999999999999", "000000000000000000001",
	};
	static const char *roots_bad[] = {
		"", "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I",	/* no padding */
		"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==",		/* 31 bytes */
		"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA",		/* 33 bytes */
		"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=",		/* non-canonical */
		"CsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=",		/* base64url */
	};
	struct checkpoint c;
	char buf[512];

	(void)state;
	memset(&c, 0x5a, sizeof(c));
	for (size_t i = 0; i < sizeof(sizes_bad) / sizeof(sizes_bad[0]); i++) {
		fmt(buf, sizeof(buf), "o\n%s\n%s\n", sizes_bad[i], root);
		assert_int_equal(cp_parse(buf, &c), LS_INVALID);
	}
	assert_int_equal(c.size, 0x5a5a5a5a5a5a5a5aULL); /* untouched on failure */
	for (size_t i = 0; i < sizeof(roots_bad) / sizeof(roots_bad[0]); i++) {
		fmt(buf, sizeof(buf), "o\n5\n%s\n", roots_bad[i]);
		assert_int_equal(cp_parse(buf, &c), LS_INVALID);
	}
	fmt(buf, sizeof(buf), "o\n18446744073709551615\n%s\n", root);
	assert_int_equal(cp_parse(buf, &c), LS_OK);
	assert_true(c.size == UINT64_MAX);

	/* Missing lines, empty origin, empty extension line, no final newline. */
	assert_int_equal(cp_parse("o\n5\n", &c), LS_INVALID);
	assert_int_equal(cp_parse("o\n", &c), LS_INVALID);
	assert_int_equal(cp_parse("", &c), LS_INVALID);
	fmt(buf, sizeof(buf), "\n5\n%s\n", root);
	assert_int_equal(cp_parse(buf, &c), LS_INVALID);
	fmt(buf, sizeof(buf), "o\n5\n%s\n\n", root);
	assert_int_equal(cp_parse(buf, &c), LS_INVALID);
	fmt(buf, sizeof(buf), "o\n5\n%s\next\n\nmore\n", root);
	assert_int_equal(cp_parse(buf, &c), LS_INVALID);
	fmt(buf, sizeof(buf), "o\n5\n%s", root);
	assert_int_equal(cp_parse(buf, &c), LS_INVALID);
	fmt(buf, sizeof(buf), "o\r\n5\n%s\n", root);
	assert_int_equal(cp_parse(buf, &c), LS_INVALID);
	/* An origin too long for struct checkpoint. */
	memset(buf, 'o', NOTE_MAX_NAME);
	fmt(buf + NOTE_MAX_NAME, sizeof(buf) - NOTE_MAX_NAME, "\n5\n%s\n", root);
	assert_int_equal(cp_parse(buf, &c), LS_INVALID);
	memset(buf, 'o', NOTE_MAX_NAME - 1);
	fmt(buf + NOTE_MAX_NAME - 1, sizeof(buf) - NOTE_MAX_NAME + 1, "\n5\n%s\n", root);
	assert_int_equal(cp_parse(buf, &c), LS_OK);
	assert_int_equal(strlen(c.origin), NOTE_MAX_NAME - 1);
}

/* An external signer (note_sign_fn): the embedded key's seed behind a
 * callback, or one that signs with another key. */
struct ext_ctx {
	uint8_t seed[32];
	int calls;
};

static ls_rc ext_sign_cb(void *ctx, const uint8_t *msg, size_t n, uint8_t sig[64],
			 struct ls_err *err)
{
	struct ext_ctx *c = ctx;

	(void)err;
	c->calls++;
	return ls_ed25519_sign(c->seed, msg, n, sig);
}

static ls_rc ext_fail_cb(void *ctx, const uint8_t *msg, size_t n, uint8_t sig[64],
			 struct ls_err *err)
{
	(void)ctx; (void)msg; (void)n; (void)sig;
	return ls_err_set(err, LS_IO, "token unplugged");
}

static void test_external_signer(void **state)
{
	static const char text[] = "ext.test/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
	struct note_signer mem, ext, bad, fail;
	struct note_verifier v;
	struct ext_ctx good = { { 0 }, 0 }, other = { { 0 }, 0 };
	struct ls_err err = { "" };
	char *n1 = NULL, *n2 = NULL;
	size_t tl;

	(void)state;
	assert_int_equal(note_signer_generate("ext.test/log", &mem, &err), LS_OK);
	memcpy(good.seed, mem.seed, 32);
	assert_int_equal(note_signer_external("ext.test/log", mem.pub, ext_sign_cb, &good, &ext,
					      &err), LS_OK);
	assert_int_equal(ext.key_id, mem.key_id);
	/* Ed25519 is deterministic: the same note byte for byte. */
	assert_int_equal(note_sign(&mem, text, strlen(text), &n1, &err), LS_OK);
	assert_int_equal(note_sign(&ext, text, strlen(text), &n2, &err), LS_OK);
	assert_int_equal(good.calls, 1);
	assert_string_equal(n1, n2);
	note_signer_verifier(&ext, &v);
	assert_int_equal(note_open(n2, strlen(n2), &v, 1, &tl, &err), LS_OK);
	free(n2);
	n2 = NULL;
	/* A signer that signs with another key: refused, nothing returned. */
	assert_int_equal(ls_ed25519_keygen(other.seed, v.pub), LS_OK);
	assert_int_equal(note_signer_external("ext.test/log", mem.pub, ext_sign_cb, &other, &bad,
					      &err), LS_OK);
	assert_int_equal(note_sign(&bad, text, strlen(text), &n2, &err), LS_TAMPERED);
	assert_null(n2);
	assert_non_null(strstr(err.msg, "does not verify"));
	/* A failing signer's error is passed on. */
	assert_int_equal(note_signer_external("ext.test/log", mem.pub, ext_fail_cb, NULL, &fail,
					      &err), LS_OK);
	assert_int_equal(note_sign(&fail, text, strlen(text), &n2, &err), LS_IO);
	assert_null(n2);
	assert_string_equal(err.msg, "token unplugged");
	assert_int_equal(note_signer_external("bad name", mem.pub, ext_sign_cb, &good, &fail, &err),
			 LS_INVALID);
	free(n1);
	note_signer_wipe(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_notes_verify),
		cmocka_unit_test(test_vector_vkeys_roundtrip),
		cmocka_unit_test(test_go_reference_sign),
		cmocka_unit_test(test_tampered_text),
		cmocka_unit_test(test_tampered_signature),
		cmocka_unit_test(test_untrusted),
		cmocka_unit_test(test_multiple_signatures),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_key_rejects),
		cmocka_unit_test(test_generate_roundtrip),
		cmocka_unit_test(test_checkpoint_spec_example),
		cmocka_unit_test(test_checkpoint_roundtrip),
		cmocka_unit_test(test_checkpoint_rejects),
		cmocka_unit_test(test_external_signer),
	};

	return cmocka_run_group_tests_name("note", tests, load_vectors, NULL);
}
