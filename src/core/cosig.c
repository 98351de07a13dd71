/*
 * cosig.c - C2SP cosignature/v1 (Ed25519, type 0x04), cosigned notes and the
 * tlog-witness add-checkpoint request and replies (see cosig.h for the bytes).
 * Pure: no I/O, no logging, no global state.  The signed-note grammar is
 * note.c's (note_split): this file adds the cosignature type on top.
 *
 * Invariants:
 *  1. A line is judged only by the (name, key id) pair: a known pair is
 *     verified and a failure is LS_TAMPERED; any other pair, whatever its
 *     length or type, is never trusted (LS_UNTRUSTED, counted as unknown).
 *  2. Parsers are strict and bounded: decimals without sign or leading zero
 *     and at most 20 digits, base64 hashes of exactly 32 bytes, at most
 *     COSIG_MAX_PROOF proof lines, notes at most NOTE_MAX_SIZE bytes.
 *  3. Outputs are untouched on failure; seeds are wiped.
 */
#include "core/cosig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM_DASH "\xe2\x80\x94"
#define HEADER "cosignature/v1\ntime "

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
	p[3] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Strict decimal (see invariant 2). */
static int parse_dec(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return 0;
		d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*out = v;
	return 1;
}

/* ------------------------------------------------------------------------
 * Keys
 */

uint32_t cosig_key_id(const char *name, size_t n, const uint8_t pub[32])
{
	return note_key_id_alg(name, n, COSIG_ALG_ED25519, pub);
}

ls_rc cosig_signer_generate(const char *name, struct cosig_signer *s, struct ls_err *err)
{
	struct cosig_signer t;
	size_t nlen;

	if (!name || !note_name_ok(name, (nlen = strnlen(name, NOTE_MAX_NAME))))
		return ls_err_set(err, LS_INVALID,
				  "witness name must be non-empty, without spaces or '+'");
	memset(&t, 0, sizeof(t));
	memcpy(t.name, name, nlen);
	if (ls_ed25519_keygen(t.seed, t.pub) != LS_OK) {
		ls_wipe(&t, sizeof(t));
		return ls_err_set(err, LS_IO, "cannot generate an Ed25519 key");
	}
	t.key_id = cosig_key_id(t.name, nlen, t.pub);
	*s = t;
	ls_wipe(&t, sizeof(t));
	return LS_OK;
}

ls_rc cosig_signer_parse(const char *skey, size_t n, struct cosig_signer *s, struct ls_err *err)
{
	struct cosig_signer t;
	ls_rc rc;

	while (skey && n && (skey[n - 1] == '\n' || skey[n - 1] == '\r'))
		n--;
	memset(&t, 0, sizeof(t));
	rc = note_skey_parse(skey, n, COSIG_ALG_ED25519, "witness", cosig_key_id, t.name,
			     &t.key_id, t.seed, t.pub, err);
	if (rc == LS_OK)
		*s = t;
	ls_wipe(&t, sizeof(t));
	return rc;
}

ls_rc cosig_signer_format(const struct cosig_signer *s, char *out, size_t cap)
{
	return note_skey_format(s->name, s->key_id, COSIG_ALG_ED25519, s->seed, out, cap);
}

void cosig_signer_verifier(const struct cosig_signer *s, struct cosig_verifier *v)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->name, s->name, sizeof(v->name));
	v->name[sizeof(v->name) - 1] = 0;
	v->key_id = s->key_id;
	memcpy(v->pub, s->pub, sizeof(v->pub));
}

void cosig_signer_wipe(struct cosig_signer *s)
{
	ls_wipe(s, sizeof(*s));
}

ls_rc cosig_verifier_parse(const char *vkey, size_t n, struct cosig_verifier *v,
			   struct ls_err *err)
{
	struct cosig_verifier t;
	ls_rc rc;

	memset(&t, 0, sizeof(t));
	rc = note_vkey_parse(vkey, n, COSIG_ALG_ED25519, "witness verifier", cosig_key_id, t.name,
			     &t.key_id, t.pub, err);
	if (rc == LS_OK)
		*v = t;
	return rc;
}

ls_rc cosig_verifier_format(const struct cosig_verifier *v, char *out, size_t cap)
{
	return note_vkey_format(v->name, v->key_id, COSIG_ALG_ED25519, v->pub, out, cap);
}

/* ------------------------------------------------------------------------
 * Signing and verifying
 */

ls_rc cosig_message(const char *text, size_t n, uint64_t ts, char **msg, size_t *len,
		    struct ls_err *err)
{
	char head[sizeof(HEADER) + 24];
	int w;
	char *m;

	*msg = NULL;
	if (!text || n == 0 || text[n - 1] != '\n' || n > NOTE_MAX_SIZE)
		return ls_err_set(err, LS_INVALID, "checkpoint text must end in a newline");
	w = snprintf(head, sizeof(head), HEADER "%" PRIu64 "\n", ts);
	m = malloc((size_t)w + n);
	if (!m)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	memcpy(m, head, (size_t)w);
	memcpy(m + w, text, n);
	*msg = m;
	*len = (size_t)w + n;
	return LS_OK;
}

ls_rc cosig_sign(const struct cosig_signer *s, const char *text, size_t n, uint64_t ts,
		 char *line, size_t cap, struct ls_err *err)
{
	uint8_t raw[4 + COSIG_SIG_LEN];
	char b64[LS_B64_LEN(sizeof(raw)) + 1];
	size_t nlen = strnlen(s->name, NOTE_MAX_NAME), mlen = 0;
	char *msg = NULL;
	ls_rc rc;
	int w;

	if (!note_name_ok(s->name, nlen))
		return ls_err_set(err, LS_INVALID, "witness has an invalid key name");
	if (ts == 0 || ts > (uint64_t)COSIG_MAX_TS)
		return ls_err_set(err, LS_INVALID, "cosignature time must be 1 .. 2^63-1");
	rc = cosig_message(text, n, ts, &msg, &mlen, err);
	if (rc != LS_OK)
		return rc;
	put_be32(raw, s->key_id);
	for (int i = 0; i < 8; i++)
		raw[4 + i] = (uint8_t)(ts >> (56 - 8 * i));
	rc = ls_ed25519_sign(s->seed, msg, mlen, raw + 12);
	free(msg);
	if (rc != LS_OK)
		return ls_err_set(err, LS_INVALID, "Ed25519 signing failed");
	ls_b64_encode(raw, sizeof(raw), b64, sizeof(b64));
	w = snprintf(line, cap, EM_DASH " %s %s\n", s->name, b64);
	if (w < 0 || (size_t)w >= cap)
		return ls_err_set(err, LS_LIMIT, "cosignature line buffer too small");
	return LS_OK;
}

/* Verify the decoded signature bytes (after the key id) of a known key's line. */
static ls_rc verify_raw(const struct cosig_verifier *v, const char *text, size_t tn,
			const uint8_t *sig, size_t sig_len, uint64_t *ts, struct ls_err *err)
{
	char *msg = NULL;
	size_t mlen = 0;
	uint64_t t;
	ls_rc rc;

	if (sig_len != COSIG_SIG_LEN)
		return ls_err_set(err, LS_TAMPERED, "cosignature by %s: wrong length", v->name);
	t = get_be64(sig);
	if (t > (uint64_t)COSIG_MAX_TS)
		return ls_err_set(err, LS_TAMPERED, "cosignature by %s: time past 2^63-1",
				  v->name);
	rc = cosig_message(text, tn, t, &msg, &mlen, err);
	if (rc != LS_OK)
		return rc;
	rc = ls_ed25519_verify(v->pub, msg, mlen, sig + 8);
	free(msg);
	if (rc != LS_OK)
		return ls_err_set(err, LS_TAMPERED,
				  "cosignature by %s+%08" PRIx32 " does not verify", v->name,
				  v->key_id);
	*ts = t;
	return LS_OK;
}

static const struct cosig_verifier *find_key(const char *name, size_t nlen, uint32_t id,
					     const struct cosig_verifier *known, size_t nknown,
					     size_t *which)
{
	for (size_t k = 0; k < nknown; k++) {
		size_t vlen = strnlen(known[k].name, NOTE_MAX_NAME);

		if (known[k].key_id == id && vlen == nlen && memcmp(known[k].name, name, nlen) == 0) {
			*which = k;
			return &known[k];
		}
	}
	return NULL;
}

/* One line checked by making a tiny note of it ("x\n\n" + line): the note
 * grammar is note_split's alone. */
ls_rc cosig_verify_line(const char *text, size_t tn, const char *line, size_t ln,
			const struct cosig_verifier *known, size_t nknown, size_t *which,
			uint64_t *ts, struct ls_err *err)
{
	struct note_split *sp = NULL;
	const struct cosig_verifier *v;
	uint8_t sig[COSIG_SIG_LEN];
	size_t w = 0;
	uint64_t t = 0;
	char *buf;
	ls_rc rc;

	if (ln && line[ln - 1] == '\n')
		ln--;
	if (ln == 0 || memchr(line, '\n', ln) || ln > NOTE_MAX_SIZE)
		return ls_err_set(err, LS_INVALID, "not one signature line");
	buf = malloc(ln + 4);
	sp = malloc(sizeof(*sp));
	if (!buf || !sp) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	memcpy(buf, "x\n\n", 3);
	memcpy(buf + 3, line, ln);
	buf[ln + 3] = '\n';
	rc = note_split(buf, ln + 4, sp, err);
	if (rc != LS_OK)
		goto out;
	if (sp->nsigs != 1) {
		rc = ls_err_set(err, LS_INVALID, "not one signature line");
		goto out;
	}
	v = find_key(buf + sp->sigs[0].name_off, sp->sigs[0].name_len, sp->sigs[0].key_id, known,
		     nknown, &w);
	if (!v) {
		rc = ls_err_set(err, LS_UNTRUSTED, "cosignature of an unknown witness or type");
		goto out;
	}
	if (sp->sigs[0].sig_len != COSIG_SIG_LEN) {
		rc = ls_err_set(err, LS_TAMPERED, "cosignature by %s: wrong length", v->name);
		goto out;
	}
	rc = note_sigref_decode(buf, &sp->sigs[0], sig, sizeof(sig));
	if (rc != LS_OK) {
		rc = ls_err_set(err, LS_INVALID, "signature line: bad base64");
		goto out;
	}
	rc = verify_raw(v, text, tn, sig, sizeof(sig), &t, err);
	if (rc == LS_OK) {
		if (which)
			*which = w;
		if (ts)
			*ts = t;
	}
out:
	free(buf);
	free(sp);
	return rc;
}

ls_rc cosig_note_check(const char *note, size_t n, const struct note_verifier *logkeys,
		       size_t nlog, const struct cosig_verifier *wit, size_t nwit,
		       uint64_t *witness_ts, struct cosig_report *rep, struct ls_err *err)
{
	struct note_split *sp;
	struct cosig_report r;
	uint8_t sig[COSIG_SIG_LEN];
	uint8_t *seen = NULL;
	ls_rc rc;

	memset(&r, 0, sizeof(r));
	sp = malloc(sizeof(*sp));
	seen = calloc(nwit ? nwit : 1, 1);
	if (!sp || !seen) {
		rc = ls_err_set(err, LS_NOMEM, "out of memory");
		goto out;
	}
	rc = note_split(note, n, sp, err);
	if (rc != LS_OK)
		goto out;
	r.text_len = sp->text_len;
	r.lines = sp->nsigs;
	rc = checkpoint_parse(note, sp->text_len, &r.cp, err);
	if (rc != LS_OK)
		goto out;
	if (witness_ts)
		memset(witness_ts, 0, nwit * sizeof(*witness_ts));
	for (size_t i = 0; i < sp->nsigs; i++) {
		const struct note_sigref *l = &sp->sigs[i];
		const char *name = note + l->name_off;
		const struct cosig_verifier *v;
		int matched = 0;
		size_t w = 0;
		uint64_t t = 0;

		for (size_t k = 0; k < nlog; k++) {
			const struct note_verifier *lk = &logkeys[k];
			size_t vlen = strnlen(lk->name, NOTE_MAX_NAME);

			if (lk->key_id != l->key_id || vlen != l->name_len ||
			    memcmp(lk->name, name, vlen) != 0)
				continue;
			matched = 1;
			if (l->sig_len != LS_ED25519_SIG_LEN ||
			    note_sigref_decode(note, l, sig, sizeof(sig)) != LS_OK ||
			    ls_ed25519_verify(lk->pub, note, sp->text_len, sig) != LS_OK) {
				rc = ls_err_set(err, LS_TAMPERED,
						"log signature by %s+%08" PRIx32 " does not verify",
						lk->name, lk->key_id);
				goto out;
			}
			r.log_sigs++;
		}
		v = find_key(name, l->name_len, l->key_id, wit, nwit, &w);
		if (v) {
			matched = 1;
			if (l->sig_len != COSIG_SIG_LEN ||
			    note_sigref_decode(note, l, sig, sizeof(sig)) != LS_OK) {
				rc = ls_err_set(err, LS_TAMPERED, "cosignature by %s: wrong length",
						v->name);
				goto out;
			}
			rc = verify_raw(v, note, sp->text_len, sig, sizeof(sig), &t, err);
			if (rc != LS_OK)
				goto out;
			if (!seen[w]) {
				seen[w] = 1;
				r.cosigned++;
			}
			if (witness_ts && t > witness_ts[w])
				witness_ts[w] = t;
		}
		if (!matched)
			r.unknown++;
	}
	if (!r.log_sigs)
		rc = ls_err_set(err, LS_UNTRUSTED, "checkpoint is not signed by a known log key");
out:
	if (rep && (rc == LS_OK || rc == LS_UNTRUSTED))
		*rep = r;
	free(sp);
	free(seen);
	return rc;
}

/* ------------------------------------------------------------------------
 * add-checkpoint
 */

ls_rc witness_req_parse(const char *body, size_t n, struct witness_req *r, struct ls_err *err)
{
	const char *p = body, *end = body + n, *nl;
	struct witness_req t;

	if (!body || n == 0)
		return ls_err_set(err, LS_INVALID, "empty request");
	if (n > NOTE_MAX_SIZE + 16 + COSIG_MAX_PROOF * (LS_B64_LEN(LS_HASH_LEN) + 1))
		return ls_err_set(err, LS_LIMIT, "request too large");
	memset(&t, 0, sizeof(t));
	nl = memchr(p, '\n', n);
	if (!nl || nl - p < 4 || memcmp(p, "old ", 4) != 0 ||
	    !parse_dec(p + 4, (size_t)(nl - p - 4), &t.old))
		return ls_err_set(err, LS_INVALID, "first line must be \"old <size>\"");
	p = nl + 1;
	for (;;) {
		size_t len = 0;

		if (p == end)
			return ls_err_set(err, LS_INVALID, "no blank line before the checkpoint");
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return ls_err_set(err, LS_INVALID, "proof line without a newline");
		if (nl == p)
			break;
		if (t.nproof == COSIG_MAX_PROOF)
			return ls_err_set(err, LS_INVALID, "more than %d proof lines",
					  COSIG_MAX_PROOF);
		if (ls_b64_decode(p, (size_t)(nl - p), t.proof[t.nproof], LS_HASH_LEN, &len) !=
			    LS_OK ||
		    len != LS_HASH_LEN)
			return ls_err_set(err, LS_INVALID,
					  "proof line %zu is not base64 of 32 bytes", t.nproof + 1);
		t.nproof++;
		p = nl + 1;
	}
	p = nl + 1;
	if (p == end)
		return ls_err_set(err, LS_INVALID, "no checkpoint after the blank line");
	if ((size_t)(end - p) > NOTE_MAX_SIZE)
		return ls_err_set(err, LS_LIMIT, "checkpoint larger than %d bytes", NOTE_MAX_SIZE);
	t.note = p;
	t.note_len = (size_t)(end - p);
	*r = t;
	return LS_OK;
}

ls_rc witness_req_format(uint64_t old, const uint8_t (*proof)[LS_HASH_LEN], size_t nproof,
			 const char *note, size_t note_len, char **out, size_t *len,
			 struct ls_err *err)
{
	size_t cap, o;
	char *b;
	int w;

	*out = NULL;
	if (nproof > COSIG_MAX_PROOF)
		return ls_err_set(err, LS_INVALID, "more than %d proof hashes", COSIG_MAX_PROOF);
	if (!note || note_len == 0 || note_len > NOTE_MAX_SIZE)
		return ls_err_set(err, LS_INVALID, "no checkpoint");
	cap = 32 + nproof * (LS_B64_LEN(LS_HASH_LEN) + 1) + 1 + note_len + 1;
	b = malloc(cap);
	if (!b)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	w = snprintf(b, cap, "old %" PRIu64 "\n", old);
	o = (size_t)w;
	for (size_t i = 0; i < nproof; i++) {
		o += ls_b64_encode(proof[i], LS_HASH_LEN, b + o, cap - o);
		b[o++] = '\n';
	}
	b[o++] = '\n';
	memcpy(b + o, note, note_len);
	o += note_len;
	b[o] = 0;
	*out = b;
	*len = o;
	return LS_OK;
}

ls_rc witness_size_parse(const char *body, size_t n, uint64_t *size)
{
	if (!body || n < 2 || body[n - 1] != '\n' || !parse_dec(body, n - 1, size))
		return LS_INVALID;
	return LS_OK;
}

ls_rc witness_size_format(uint64_t size, char *out, size_t cap)
{
	int w = snprintf(out, cap, "%" PRIu64 "\n", size);

	return (w < 0 || (size_t)w >= cap) ? LS_LIMIT : LS_OK;
}

ls_rc witness_reply_check(const char *text, size_t tn, const char *body, size_t n,
			  const struct cosig_verifier *known, size_t nknown, size_t *ok,
			  struct ls_err *err)
{
	const char *p = body, *end = body + n;
	size_t good = 0, lines = 0;

	if (ok)
		*ok = 0;
	if (!body || n == 0 || body[n - 1] != '\n')
		return ls_err_set(err, LS_INVALID, "reply is not signature lines");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		ls_rc rc;

		if (++lines > NOTE_MAX_SIGS)
			return ls_err_set(err, LS_LIMIT, "more than %d lines", NOTE_MAX_SIGS);
		rc = cosig_verify_line(text, tn, p, (size_t)(nl - p), known, nknown, NULL, NULL,
				       err);
		if (rc == LS_OK)
			good++;
		else if (rc != LS_UNTRUSTED)
			return rc;
		p = nl + 1;
	}
	if (ok)
		*ok = good;
	return LS_OK;
}
