/*
 * note.c - C2SP signed notes with Ed25519 signatures and C2SP tlog-checkpoint
 * bodies (see note.h).  Pure: no I/O, no logging, no global state.
 *
 * Byte format of a note (c2sp.org/signed-note):
 *
 *   note    = text "\n" 1*sigline
 *   text    = 1*(*char "\n")            ; may contain empty lines
 *   sigline = U+2014 " " name " " base64(key id[4, big-endian] || sig) "\n"
 *
 * The text ends at the newline before the LAST blank line; everything after
 * that blank line must be signature lines and nothing else.  A signature line
 * never contains an empty line, so the split is unambiguous and note_sign's
 * output always splits back at the separator it wrote.
 *
 * Keys (golang.org/x/mod/sumdb/note encoding, so keys interoperate with Go):
 *   verifier  <name>+<8 hex key id>+base64(0x01 || 32-byte public key)
 *   signer    PRIVATE+KEY+<name>+<8 hex key id>+base64(0x01 || 32-byte seed)
 *   key id    SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian
 *
 * Invariants:
 *  1. A note is judged whole: at most NOTE_MAX_SIZE bytes and NOTE_MAX_SIGS
 *     signature lines (else LS_LIMIT), valid UTF-8, no control character but
 *     '\n', every line after the split a well-formed signature line, no
 *     trailing bytes (else LS_INVALID).  All of this is checked before any
 *     signature is verified, so a malformed note is LS_INVALID whatever keys
 *     the caller knows, and garbage costs no Ed25519 work.
 *  2. A signature is considered only when both its name and its key id match
 *     a known verifier; anything else is ignored, never trusted.  One failing
 *     known-key signature makes the whole note LS_TAMPERED, even when another
 *     known key's signature verifies.
 *  3. Parsed keys always have their key id recomputed from name and public
 *     key and compared with the encoded one; a signer's public key is always
 *     derived from its seed.  Seeds, and buffers that held them, are wiped.
 *  4. Every function that can fail leaves its output struct untouched on
 *     failure (parsers fill a local copy first).
 */
#include "core/note.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALG_ED25519 0x01
#define SKEY_PREFIX "PRIVATE+KEY+"
#define EM_DASH "\xe2\x80\x94"

/* ------------------------------------------------------------------------
 * Characters
 */

/* Length of the well-formed UTF-8 sequence at p (n bytes available) and its
 * code point; 0 for overlong forms, surrogates, values past U+10FFFF and
 * truncated or stray bytes. */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c, min;
	size_t len, i;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2, c = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3, c = p[0] & 0x0f, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Unicode White_Space (what Go's unicode.IsSpace reports), which key names
 * must not contain; the ASCII controls among them are refused anyway. */
static int is_unicode_space(uint32_t c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 ||
	       c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
	       c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Valid UTF-8 without control characters other than newline (when allowed). */
static int text_ok(const char *s, size_t n, int allow_newline)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, k;
	uint32_t c;

	while (i < n) {
		k = utf8_next(p + i, n - i, &c);
		if (!k)
			return 0;
		if (c < 0x20 && !(c == '\n' && allow_newline))
			return 0;
		i += k;
	}
	return 1;
}

/* Key names: non-empty, short enough for NOTE_MAX_NAME with its NUL, valid
 * UTF-8, no control characters, no Unicode space, no '+'. */
static int name_ok(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, k;
	uint32_t c;

	if (n == 0 || n >= NOTE_MAX_NAME)
		return 0;
	while (i < n) {
		k = utf8_next(p + i, n - i, &c);
		if (!k || c < 0x20 || c == '+' || is_unicode_space(c))
			return 0;
		i += k;
	}
	return 1;
}

/* ------------------------------------------------------------------------
 * Keys
 */

uint32_t note_key_id_alg(const char *name, size_t n, uint8_t alg, const uint8_t pub[32])
{
	uint8_t tail[2 + 32], h[LS_HASH_LEN];

	tail[0] = '\n';
	tail[1] = alg;
	memcpy(tail + 2, pub, 32);
	ls_sha256(name, n, tail, sizeof(tail), h);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static uint32_t key_id(const char *name, size_t n, const uint8_t pub[32])
{
	return note_key_id_alg(name, n, ALG_ED25519, pub);
}

int note_name_ok(const char *s, size_t n)
{
	return name_ok(s, n);
}

/*
 * Split "<name>+<hex8>+<base64(alg || 32 bytes)>" and decode it.  The name
 * ends at the first '+' and the id at the second; the key is the rest, which
 * may itself contain '+' (a base64 digit).  what names the key kind in errors.
 */
static ls_rc note_key_split(const char *s, size_t n, uint8_t alg, const char *what,
		     char name[NOTE_MAX_NAME], uint32_t *id, uint8_t key[32], struct ls_err *err)
{
	const char *p1, *p2;
	uint8_t raw[33], idb[4];
	size_t rawlen = 0, nlen;
	ls_rc rc;

	p1 = memchr(s, '+', n);
	if (!p1)
		return ls_err_set(err, LS_INVALID, "%s key: missing '+' after the name", what);
	nlen = (size_t)(p1 - s);
	if (!name_ok(s, nlen))
		return ls_err_set(err, LS_INVALID, "%s key: invalid key name", what);
	p2 = memchr(p1 + 1, '+', n - nlen - 1);
	if (!p2)
		return ls_err_set(err, LS_INVALID, "%s key: missing '+' after the key id", what);
	if (ls_unhex(p1 + 1, (size_t)(p2 - p1 - 1), idb, sizeof(idb)) != LS_OK)
		return ls_err_set(err, LS_INVALID, "%s key: key id is not 8 hex digits", what);
	rc = ls_b64_decode(p2 + 1, n - (size_t)(p2 + 1 - s), raw, sizeof(raw), &rawlen);
	if (rc != LS_OK || rawlen != sizeof(raw) || raw[0] != alg) {
		ls_wipe(raw, sizeof(raw));
		return ls_err_set(err, LS_INVALID,
				  "%s key: want base64 of 0x%02x and 32 key bytes", what, alg);
	}
	memcpy(name, s, nlen);
	name[nlen] = 0;
	*id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
	memcpy(key, raw + 1, 32);
	ls_wipe(raw, sizeof(raw));
	return LS_OK;
}

/* Key strings are short; this cap keeps garbage from being scanned at length. */
#define KEY_MAX_LEN (sizeof(SKEY_PREFIX) + NOTE_MAX_NAME + 1 + 8 + 1 + LS_B64_LEN(33))

ls_rc note_vkey_parse(const char *vkey, size_t n, uint8_t alg, const char *what,
		      note_key_id_fn id_of, char name[NOTE_MAX_NAME], uint32_t *kid,
		      uint8_t pub[32], struct ls_err *err)
{
	ls_rc rc;

	if (!vkey || n > KEY_MAX_LEN)
		return ls_err_set(err, LS_INVALID, "%s key: missing or too long", what);
	rc = note_key_split(vkey, n, alg, what, name, kid, pub, err);
	if (rc != LS_OK)
		return rc;
	if (id_of(name, strlen(name), pub) != *kid)
		return ls_err_set(err, LS_INVALID, "%s key: key id does not match name and public key",
				  what);
	return LS_OK;
}

ls_rc note_vkey_format(const char *name, uint32_t kid, uint8_t alg, const uint8_t pub[32],
		       char *out, size_t cap)
{
	char b64[LS_B64_LEN(33) + 1];
	uint8_t raw[33];
	size_t nlen = strnlen(name, NOTE_MAX_NAME);
	int w;

	if (!name_ok(name, nlen))
		return LS_INVALID;
	raw[0] = alg;
	memcpy(raw + 1, pub, 32);
	ls_b64_encode(raw, sizeof(raw), b64, sizeof(b64));
	w = snprintf(out, cap, "%s+%08" PRIx32 "+%s", name, kid, b64);
	if (w < 0 || (size_t)w >= cap)
		return LS_LIMIT;
	return LS_OK;
}

ls_rc note_verifier_parse(const char *vkey, size_t n, struct note_verifier *v, struct ls_err *err)
{
	struct note_verifier t;
	ls_rc rc;

	memset(&t, 0, sizeof(t));
	rc = note_vkey_parse(vkey, n, ALG_ED25519, "verifier", key_id, t.name, &t.key_id, t.pub,
			     err);
	if (rc == LS_OK)
		*v = t;
	return rc;
}

ls_rc note_verifier_format(const struct note_verifier *v, char *out, size_t cap)
{
	return note_vkey_format(v->name, v->key_id, ALG_ED25519, v->pub, out, cap);
}

ls_rc note_signer_generate(const char *name, struct note_signer *s, struct ls_err *err)
{
	struct note_signer t;
	size_t nlen;

	if (!name || !name_ok(name, (nlen = strnlen(name, NOTE_MAX_NAME))))
		return ls_err_set(err, LS_INVALID,
				  "key name must be non-empty, without spaces or '+'");
	memset(&t, 0, sizeof(t));
	memcpy(t.name, name, nlen);
	if (ls_ed25519_keygen(t.seed, t.pub) != LS_OK) {
		ls_wipe(&t, sizeof(t));
		return ls_err_set(err, LS_IO, "cannot generate an Ed25519 key");
	}
	t.key_id = key_id(t.name, nlen, t.pub);
	*s = t;
	ls_wipe(&t, sizeof(t));
	return LS_OK;
}

ls_rc note_skey_parse(const char *skey, size_t n, uint8_t alg, const char *what,
		      note_key_id_fn id_of, char name[NOTE_MAX_NAME], uint32_t *kid,
		      uint8_t seed[32], uint8_t pub[32], struct ls_err *err)
{
	const size_t plen = sizeof(SKEY_PREFIX) - 1;
	ls_rc rc;

	if (!skey || n > KEY_MAX_LEN)
		return ls_err_set(err, LS_INVALID, "%s key: missing or too long", what);
	if (n < plen || memcmp(skey, SKEY_PREFIX, plen) != 0)
		return ls_err_set(err, LS_INVALID, "%s key: does not start with " SKEY_PREFIX, what);
	rc = note_key_split(skey + plen, n - plen, alg, what, name, kid, seed, err);
	if (rc != LS_OK)
		return rc;
	if (ls_ed25519_public(seed, pub) != LS_OK)
		return ls_err_set(err, LS_INVALID, "%s key: not a usable Ed25519 seed", what);
	if (id_of(name, strlen(name), pub) != *kid)
		return ls_err_set(err, LS_INVALID, "%s key: key id does not match name and public key",
				  what);
	return LS_OK;
}

ls_rc note_signer_parse(const char *skey, size_t n, struct note_signer *s, struct ls_err *err)
{
	struct note_signer t;
	ls_rc rc;

	memset(&t, 0, sizeof(t));
	rc = note_skey_parse(skey, n, ALG_ED25519, "signer", key_id, t.name, &t.key_id, t.seed,
			     t.pub, err);
	if (rc == LS_OK)
		*s = t;
	ls_wipe(&t, sizeof(t));
	return rc;
}

ls_rc note_skey_format(const char *name, uint32_t kid, uint8_t alg, const uint8_t seed[32],
		       char *out, size_t cap)
{
	char b64[LS_B64_LEN(33) + 1];
	uint8_t raw[33];
	size_t nlen = strnlen(name, NOTE_MAX_NAME);
	ls_rc rc = LS_OK;
	int w;

	if (!name_ok(name, nlen))
		return LS_INVALID;
	raw[0] = alg;
	memcpy(raw + 1, seed, 32);
	ls_b64_encode(raw, sizeof(raw), b64, sizeof(b64));
	w = snprintf(out, cap, SKEY_PREFIX "%s+%08" PRIx32 "+%s", name, kid, b64);
	if (w < 0 || (size_t)w >= cap) {
		/* Never leave a truncated private key behind. */
		ls_wipe(out, cap);
		if (cap)
			out[0] = 0;
		rc = LS_LIMIT;
	}
	ls_wipe(raw, sizeof(raw));
	ls_wipe(b64, sizeof(b64));
	return rc;
}

ls_rc note_signer_format(const struct note_signer *s, char *out, size_t cap)
{
	return note_skey_format(s->name, s->key_id, ALG_ED25519, s->seed, out, cap);
}

void note_signer_verifier(const struct note_signer *s, struct note_verifier *v)
{
	memset(v, 0, sizeof(*v));
	memcpy(v->name, s->name, sizeof(v->name));
	v->name[sizeof(v->name) - 1] = 0;
	v->key_id = s->key_id;
	memcpy(v->pub, s->pub, sizeof(v->pub));
}

void note_signer_wipe(struct note_signer *s)
{
	ls_wipe(s, sizeof(*s));
}

ls_rc note_signer_external(const char *name, const uint8_t pub[32], note_sign_fn fn, void *ctx,
			   struct note_signer *s, struct ls_err *err)
{
	size_t n = strnlen(name, NOTE_MAX_NAME);

	memset(s, 0, sizeof(*s));
	if (n >= NOTE_MAX_NAME || !name_ok(name, n) || !fn)
		return ls_err_set(err, LS_INVALID, "invalid key name for an external signer");
	memcpy(s->name, name, n);
	memcpy(s->pub, pub, 32);
	s->key_id = key_id(name, n, pub);
	s->sign = fn;
	s->sign_ctx = ctx;
	return LS_OK;
}

/* ------------------------------------------------------------------------
 * Notes
 */

/* Bytes of a signature line besides the name: dash, two spaces, base64 of
 * key id and Ed25519 signature, newline. */
#define SIGLINE_EXTRA (sizeof(EM_DASH) - 1 + 2 + LS_B64_LEN(4 + LS_ED25519_SIG_LEN) + 1)

ls_rc note_sign(const struct note_signer *s, const char *text, size_t n, char **out,
		struct ls_err *err)
{
	uint8_t sig[4 + LS_ED25519_SIG_LEN];
	char b64[LS_B64_LEN(sizeof(sig)) + 1];
	size_t nlen = strnlen(s->name, NOTE_MAX_NAME), total, o;
	char *buf;

	*out = NULL;
	if (!name_ok(s->name, nlen))
		return ls_err_set(err, LS_INVALID, "signer has an invalid key name");
	if (!text || n == 0 || text[n - 1] != '\n')
		return ls_err_set(err, LS_INVALID, "note text must be non-empty and end in a newline");
	if (!text_ok(text, n, 1))
		return ls_err_set(err, LS_INVALID,
				  "note text must be UTF-8 without control characters");
	/* The result must be something note_open accepts. */
	if (n > NOTE_MAX_SIZE || NOTE_MAX_SIZE - n < 1 + SIGLINE_EXTRA + nlen)
		return ls_err_set(err, LS_LIMIT, "note text too large (limit %d bytes)",
				  NOTE_MAX_SIZE);
	total = n + 1 + SIGLINE_EXTRA + nlen;

	sig[0] = (uint8_t)(s->key_id >> 24);
	sig[1] = (uint8_t)(s->key_id >> 16);
	sig[2] = (uint8_t)(s->key_id >> 8);
	sig[3] = (uint8_t)s->key_id;
	if (s->sign) {
		ls_rc rc = s->sign(s->sign_ctx, (const uint8_t *)text, n, sig + 4, err);

		if (rc != LS_OK)
			return rc;
		if (ls_ed25519_verify(s->pub, text, n, sig + 4) != LS_OK)
			return ls_err_set(err, LS_TAMPERED,
					  "the external signer's signature does not verify under "
					  "the public key of %s+%08x; nothing signed",
					  s->name, (unsigned)s->key_id);
	} else if (ls_ed25519_sign(s->seed, text, n, sig + 4) != LS_OK) {
		return ls_err_set(err, LS_INVALID, "Ed25519 signing failed");
	}
	ls_b64_encode(sig, sizeof(sig), b64, sizeof(b64));

	buf = malloc(total + 1);
	if (!buf)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	memcpy(buf, text, n);
	o = n;
	buf[o++] = '\n';
	memcpy(buf + o, EM_DASH " ", sizeof(EM_DASH));
	o += sizeof(EM_DASH);
	memcpy(buf + o, s->name, nlen);
	o += nlen;
	buf[o++] = ' ';
	memcpy(buf + o, b64, LS_B64_LEN(sizeof(sig)));
	o += LS_B64_LEN(sizeof(sig));
	buf[o++] = '\n';
	buf[o] = 0;
	*out = buf;
	return LS_OK;
}

struct sigline {
	const char *name;
	size_t name_len;
	uint32_t key_id;
	const uint8_t *sig;	/* points into the decode buffer */
	size_t sig_len;
};

/* One signature line p[0..n) (without its newline) into *sl, decoding the
 * base64 into dec (cap bytes, enough for any line of the note). */
static ls_rc parse_sigline(const char *p, size_t n, uint8_t *dec, size_t cap, struct sigline *sl,
			   struct ls_err *err)
{
	const size_t dl = sizeof(EM_DASH) - 1;
	const char *sp;
	size_t rest, len = 0;

	if (n < dl + 1 || memcmp(p, EM_DASH " ", dl + 1) != 0)
		return ls_err_set(err, LS_INVALID,
				  "signature line does not start with an em dash and a space");
	p += dl + 1;
	n -= dl + 1;
	sp = memchr(p, ' ', n);
	if (!sp)
		return ls_err_set(err, LS_INVALID, "signature line: no space after the key name");
	sl->name = p;
	sl->name_len = (size_t)(sp - p);
	if (!name_ok(sl->name, sl->name_len))
		return ls_err_set(err, LS_INVALID, "signature line: invalid key name");
	rest = n - sl->name_len - 1;
	if (ls_b64_decode(sp + 1, rest, dec, cap, &len) != LS_OK)
		return ls_err_set(err, LS_INVALID, "signature line: bad base64");
	if (len < 5)
		return ls_err_set(err, LS_INVALID, "signature line: signature too short");
	sl->key_id = (uint32_t)dec[0] << 24 | (uint32_t)dec[1] << 16 | (uint32_t)dec[2] << 8 |
		     dec[3];
	sl->sig = dec + 4;
	sl->sig_len = len - 4;
	return LS_OK;
}

ls_rc note_split(const char *note, size_t n, struct note_split *out, struct ls_err *err)
{
	size_t split, nsig = 0;
	uint8_t *dec = NULL;
	ls_rc rc = LS_OK;
	const char *p, *end;

	out->text_len = 0;
	out->nsigs = 0;
	if (!note || n == 0)
		return ls_err_set(err, LS_INVALID, "empty note");
	if (n > NOTE_MAX_SIZE)
		return ls_err_set(err, LS_LIMIT, "note larger than %d bytes", NOTE_MAX_SIZE);
	if (note[n - 1] != '\n')
		return ls_err_set(err, LS_INVALID, "note does not end in a newline");
	if (!text_ok(note, n, 1))
		return ls_err_set(err, LS_INVALID,
				  "note is not UTF-8 or contains control characters");
	for (split = n - 1; split > 0; split--)
		if (note[split - 1] == '\n' && note[split] == '\n')
			break;
	if (split == 0)
		return ls_err_set(err, LS_INVALID, "no blank line between text and signatures");
	/* note[split] is the blank line; the text keeps the newline before it. */
	p = note + split + 1;
	end = note + n;
	if (p == end)
		return ls_err_set(err, LS_INVALID, "note has no signature lines");

	/* Base64 never decodes to more bytes than it has characters. */
	dec = malloc((size_t)(end - p));
	if (!dec)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct note_sigref *r = &out->sigs[nsig];
		struct sigline sl = { 0 };

		/* Always found: the note ends in '\n' (checked above). */
		if (nsig == NOTE_MAX_SIGS) {
			rc = ls_err_set(err, LS_LIMIT, "more than %d signatures", NOTE_MAX_SIGS);
			goto out;
		}
		rc = parse_sigline(p, (size_t)(nl - p), dec, (size_t)(end - p), &sl, err);
		if (rc != LS_OK)
			goto out;
		r->off = (size_t)(p - note);
		r->len = (size_t)(nl - p);
		r->name_off = (size_t)(sl.name - note);
		r->name_len = sl.name_len;
		r->key_id = sl.key_id;
		r->sig_len = sl.sig_len;
		nsig++;
		p = nl + 1;
	}
	out->text_len = split;
	out->nsigs = nsig;
out:
	free(dec);
	return rc;
}

ls_rc note_sigref_decode(const char *note, const struct note_sigref *r, uint8_t *sig, size_t cap)
{
	const char *b = note + r->name_off + r->name_len + 1;
	size_t blen = r->off + r->len - (r->name_off + r->name_len + 1), len = 0;
	uint8_t *dec;
	ls_rc rc;

	if (r->sig_len > cap)
		return LS_LIMIT;
	dec = malloc(blen);
	if (!dec)
		return LS_NOMEM;
	rc = ls_b64_decode(b, blen, dec, blen, &len);
	if (rc == LS_OK && len == r->sig_len + 4)
		memcpy(sig, dec + 4, r->sig_len);
	else if (rc == LS_OK)
		rc = LS_INVALID;
	free(dec);
	return rc;
}

ls_rc note_open(const char *note, size_t n, const struct note_verifier *known, size_t nknown,
		size_t *text_len, struct ls_err *err)
{
	struct note_split *sp;
	uint8_t sig[LS_ED25519_SIG_LEN];
	size_t i, k, verified = 0;
	ls_rc rc;

	if (text_len)
		*text_len = 0;
	/* Heap: a note_split holds NOTE_MAX_SIGS references. */
	sp = malloc(sizeof(*sp));
	if (!sp)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = note_split(note, n, sp, err);
	if (rc != LS_OK)
		goto out;
	for (i = 0; i < sp->nsigs; i++) {
		const struct note_sigref *r = &sp->sigs[i];

		for (k = 0; k < nknown; k++) {
			const struct note_verifier *v = &known[k];
			size_t vlen = strnlen(v->name, NOTE_MAX_NAME);

			if (v->key_id != r->key_id || vlen != r->name_len ||
			    memcmp(v->name, note + r->name_off, vlen) != 0)
				continue;
			if (r->sig_len != LS_ED25519_SIG_LEN ||
			    note_sigref_decode(note, r, sig, sizeof(sig)) != LS_OK ||
			    ls_ed25519_verify(v->pub, note, sp->text_len, sig) != LS_OK) {
				rc = ls_err_set(err, LS_TAMPERED,
						"signature by %.*s+%08" PRIx32 " does not verify",
						(int)vlen, v->name, v->key_id);
				goto out;
			}
			verified++;
		}
	}
	if (!verified) {
		rc = ls_err_set(err, LS_UNTRUSTED, "note is not signed by any known key");
		goto out;
	}
	if (text_len)
		*text_len = sp->text_len;
out:
	free(sp);
	return rc;
}

/* ------------------------------------------------------------------------
 * Checkpoints
 */

ls_rc checkpoint_format(const struct checkpoint *c, char *out, size_t cap)
{
	char root[LS_B64_LEN(LS_HASH_LEN) + 1];
	size_t olen = strnlen(c->origin, NOTE_MAX_NAME);
	int w;

	if (olen == 0 || olen == NOTE_MAX_NAME || !text_ok(c->origin, olen, 0))
		return LS_INVALID;
	ls_b64_encode(c->root, LS_HASH_LEN, root, sizeof(root));
	w = snprintf(out, cap, "%s\n%" PRIu64 "\n%s\n", c->origin, c->size, root);
	if (w < 0 || (size_t)w >= cap)
		return LS_LIMIT;
	return LS_OK;
}

/* Strict decimal: 1 to 20 digits, no sign, no leading zero but "0" itself,
 * no overflow. */
static int parse_size(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
		return 0;
	for (i = 0; i < n; i++) {
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

ls_rc checkpoint_parse(const char *text, size_t n, struct checkpoint *c, struct ls_err *err)
{
	struct checkpoint t;
	const char *p, *end, *nl;
	uint8_t root[LS_HASH_LEN + 1];
	size_t len = 0;

	if (!text || n == 0)
		return ls_err_set(err, LS_INVALID, "empty checkpoint");
	if (n > NOTE_MAX_SIZE)
		return ls_err_set(err, LS_LIMIT, "checkpoint larger than %d bytes", NOTE_MAX_SIZE);
	if (text[n - 1] != '\n')
		return ls_err_set(err, LS_INVALID, "checkpoint does not end in a newline");
	if (!text_ok(text, n, 1))
		return ls_err_set(err, LS_INVALID,
				  "checkpoint is not UTF-8 or contains control characters");
	memset(&t, 0, sizeof(t));
	p = text;
	end = text + n;

	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == p)
		return ls_err_set(err, LS_INVALID, "checkpoint: empty origin line");
	if ((size_t)(nl - p) >= NOTE_MAX_NAME)
		return ls_err_set(err, LS_INVALID, "checkpoint: origin longer than %d bytes",
				  NOTE_MAX_NAME - 1);
	memcpy(t.origin, p, (size_t)(nl - p));
	p = nl + 1;

	if (p == end)
		return ls_err_set(err, LS_INVALID, "checkpoint: missing tree size line");
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!parse_size(p, (size_t)(nl - p), &t.size))
		return ls_err_set(err, LS_INVALID,
				  "checkpoint: tree size is not a plain decimal number");
	p = nl + 1;

	if (p == end)
		return ls_err_set(err, LS_INVALID, "checkpoint: missing root hash line");
	nl = memchr(p, '\n', (size_t)(end - p));
	if (ls_b64_decode(p, (size_t)(nl - p), root, sizeof(root), &len) != LS_OK ||
	    len != LS_HASH_LEN)
		return ls_err_set(err, LS_INVALID,
				  "checkpoint: root hash is not base64 of %d bytes", LS_HASH_LEN);
	memcpy(t.root, root, LS_HASH_LEN);
	p = nl + 1;

	/* Extension lines are opaque to us but must be non-empty. */
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == p)
			return ls_err_set(err, LS_INVALID, "checkpoint: empty extension line");
	}
	*c = t;
	return LS_OK;
}
