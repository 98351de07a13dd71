/*
 * fuzz_jlex - differential: the JSON lexer (base/jlex.h) against jansson on
 * the same token.
 *  - Strings: the input is the text after an opening quote.  The lexer
 *    (no flags) takes it exactly when jansson takes ["<input up to the
 *    first unescaped quote>"], and decodes the same bytes; JLEX_RAW and
 *    JLEX_NUL take everything it takes, with the same bytes; the canonical
 *    writer's form of the decoded bytes lexes back to them.
 *  - Numbers: when the input starts a number, the lexer's token is one
 *    jansson takes (unless out of range, which is the caller's business)
 *    and strtod reads whole; when it refuses, jansson refuses the run of
 *    number characters too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/jcanon.h"
#include "base/jlex.h"

/* Decode the string after s[0] (a quote): 1 and the bytes in *out (malloc'd,
 * *olen), or 0. */
static int lex(const char *s, size_t n, unsigned flags, char **out, size_t *olen, size_t *end)
{
	struct jlex_str t;
	size_t i = 1, o = 0;
	char *b = malloc(n + 1);
	int k;

	if (!b)
		abort();
	while ((k = jlex_str_next(s, n, &i, flags, &t)) > 0) {
		const char *src = k == JLEX_RUN ? s + t.start : t.utf8;
		size_t sn = k == JLEX_RUN ? i - t.start : t.len;

		if (i > n || o + sn > n) /* a decoded string is never longer */
			abort();
		memcpy(b + o, src, sn);
		o += sn;
	}
	if (i > n)
		abort();
	*end = i;
	if (k == JLEX_ERR) {
		free(b);
		return 0;
	}
	*out = b;
	*olen = o;
	return 1;
}

static json_t *jansson_wrapped(const char *s, size_t n)
{
	char *w = malloc(n + 2);
	json_t *v;

	if (!w)
		abort();
	w[0] = '[';
	memcpy(w + 1, s, n);
	w[n + 1] = ']';
	v = json_loadb(w, n + 2, 0, NULL);
	free(w);
	return v;
}

static void strings(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *d = NULL, *d2 = NULL;
	size_t n = size + 1, dl = 0, dl2 = 0, end = 0, end2 = 0, close = 0;
	int ok;
	json_t *v;

	if (!s)
		abort();
	s[0] = '"';
	memcpy(s + 1, data, size);
	/* where a plain scanner says the string closes: the first quote not
	 * escaped by a backslash */
	for (size_t i = 1; i < n && !close; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			close = i + 1;
	}
	ok = lex(s, n, 0, &d, &dl, &end);
	if (!close) {
		if (ok)
			abort(); /* took a string with no closing quote */
		free(s);
		return;
	}
	v = jansson_wrapped(s, close);
	if (ok != (v != NULL)) {
		fprintf(stderr, "jlex %s, jansson %s\n", ok ? "takes" : "refuses",
			v ? "takes" : "refuses");
		abort();
	}
	if (ok) {
		json_t *str = json_array_get(v, 0);
		char *back;
		size_t bl = 0;

		if (end != close || json_string_length(str) != dl ||
		    memcmp(json_string_value(str), d, dl) != 0)
			abort();
		/* the other modes take it too, with the same bytes */
		for (unsigned f = 1; f <= 3; f++) {
			if (!lex(s, n, f, &d2, &dl2, &end2) || end2 != end || dl2 != dl ||
			    memcmp(d2, d, dl) != 0)
				abort();
			free(d2);
		}
		/* the canonical form lexes back to the same bytes */
		{
			struct jcanon_buf b = { .max = SIZE_MAX };

			jcanon_buf_str(&b, d, dl);
			if (b.nomem)
				abort();
			if (!lex(b.p, b.len, 0, &back, &bl, &end2) || end2 != b.len || bl != dl ||
			    memcmp(back, d, dl) != 0)
				abort();
			free(back);
			free(b.p);
		}
		free(d);
	}
	json_decref(v);
	free(s);
}

static void numbers(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t i = 0, m = 0;
	bool real;

	if (!size || !jlex_number_start(data[0]))
		return;
	while (m < size && strchr("0123456789+-.eE", s[m]) && s[m])
		m++;
	if (jlex_number(s, size, &i, &real)) {
		json_error_t e;
		char *w = malloc(i + 3), *txt = malloc(i + 1), *endp;
		json_t *v;

		if (!w || !txt || i == 0 || i > m)
			abort();
		w[0] = '[';
		memcpy(w + 1, s, i);
		w[i + 1] = ']';
		v = json_loadb(w, i + 2, 0, &e);
		if (!v && !strstr(e.text, "too big") && !strstr(e.text, "overflow")) {
			fprintf(stderr, "jlex takes %.*s, jansson: %s\n", (int)i, s, e.text);
			abort();
		}
		if (v && json_is_real(json_array_get(v, 0)) != real)
			abort();
		json_decref(v);
		memcpy(txt, s, i);
		txt[i] = 0;
		(void)strtod(txt, &endp);
		if (endp != txt + i)
			abort();
		free(w);
		free(txt);
	} else {
		json_t *v = jansson_wrapped(s, m);

		if (v) {
			fprintf(stderr, "jlex refuses %.*s, jansson takes it\n", (int)m, s);
			abort();
		}
		if (i > size)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strings(data, size);
	numbers(data, size);
	return 0;
}
