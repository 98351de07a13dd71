/*
 * monitor.c - one poll of a tlog-tiles log against the monitor's state
 * (monitor.h has the checks, their order and the state file).
 *
 * Invariants:
 *  1. The state only ever holds a checkpoint that passed every check of a
 *     poll, and it is replaced durably (fsutil: temp, fsync, rename, fsync
 *     dir); a poll that finds anything (but a stall) leaves it alone, so
 *     the next poll judges against the same trusted point.
 *  2. Consistency is proven from the fetched tiles of the NEW tree alone:
 *     its root must be the signed root, and the state's root must be the
 *     root of the first state-size leaves (a consistency proof), so tiles
 *     rewritten to hide a change fail step 3 or 4.
 */
#include "followers/monitor.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fsutil.h"
#include "core/merkle.h"
#include "followers/tlogclient.h"

static const struct {
	int ev;
	const char *name;
} names[] = {
	{ MON_OK, "ok" },
	{ MON_ERROR, "error" },
	{ MON_BADSIG, "bad_signature" },
	{ MON_ROLLBACK, "rollback" },
	{ MON_FORK, "fork" },
	{ MON_STALL, "stall" },
	{ MON_MISMATCH, "mismatch" },
	{ MON_POLICY, "cosignature_policy" },
};

const char *monitor_event_name(int ev)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].ev == ev)
			return names[i].name;
	return "unknown";
}

void monitor_result_release(struct monitor_result *r)
{
	free(r->checkpoint);
	r->checkpoint = NULL;
}

struct state {
	int present;
	char origin[NOTE_MAX_NAME];
	uint64_t size, changed, checked;
	uint8_t root[LS_HASH_LEN];
	char *note;
};

static ls_rc load_state(const char *path, struct state *st, struct ls_err *err)
{
	char *data = NULL;
	size_t len = 0, rl = 0;
	json_t *j;
	json_error_t je;
	const char *origin, *root, *note;
	json_int_t size, changed, checked;
	ls_rc rc;

	memset(st, 0, sizeof(*st));
	rc = fs_read_file(path, 4 * NOTE_MAX_SIZE, &data, &len, err);
	if (rc == LS_NOTFOUND)
		return LS_OK;
	if (rc != LS_OK)
		return rc;
	j = json_loadb(data, len, 0, &je);
	free(data);
	if (!j || json_unpack(j, "{s:s, s:I, s:s, s:s, s:I, s:I}", "origin", &origin, "size",
			      &size, "root", &root, "checkpoint", &note, "changed", &changed,
			      "checked", &checked) != 0 ||
	    size < 0 || strlen(origin) >= NOTE_MAX_NAME ||
	    ls_b64_decode(root, strlen(root), st->root, LS_HASH_LEN, &rl) != LS_OK ||
	    rl != LS_HASH_LEN || !(st->note = strdup(note))) {
		json_decref(j);
		return ls_err_set(err, LS_CORRUPT, "%s: not a monitor state file", path);
	}
	snprintf(st->origin, sizeof(st->origin), "%s", origin);
	st->size = (uint64_t)size;
	st->changed = (uint64_t)changed;
	st->checked = (uint64_t)checked;
	st->present = 1;
	json_decref(j);
	return LS_OK;
}

static ls_rc save_state(const char *path, const struct state *st, struct ls_err *err)
{
	char root[LS_B64_LEN(LS_HASH_LEN) + 1];
	json_t *j;
	char *s;
	ls_rc rc;

	ls_b64_encode(st->root, LS_HASH_LEN, root, sizeof(root));
	j = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I}", "origin", st->origin, "size",
		      (json_int_t)st->size, "root", root, "checkpoint", st->note, "changed",
		      (json_int_t)st->changed, "checked", (json_int_t)st->checked);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	rc = fs_write_file(path, s, strlen(s), 0644, 0, err);
	free(s);
	return rc;
}

static int finding(struct monitor_result *r, int ev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int finding(struct monitor_result *r, int ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	r->event = ev;
	return ev;
}

struct entry_ctx {
	struct tlog_tree *tree;
	uint64_t bad;
	int found;
	uint64_t checked;
};

static ls_rc check_entry(void *ctx, uint64_t index, const uint8_t *entry, size_t n)
{
	struct entry_ctx *c = ctx;
	uint8_t leaf[LS_HASH_LEN], tile[LS_HASH_LEN];
	ls_rc rc;

	merkle_leaf_hash(entry, n, leaf);
	rc = tlog_node_hash(c->tree, 0, index, tile);
	if (rc != LS_OK)
		return rc;
	c->checked++;
	if (memcmp(leaf, tile, LS_HASH_LEN) != 0) {
		c->bad = index;
		c->found = 1;
		return LS_TAMPERED;
	}
	return LS_OK;
}

/* Step 5a for one witness (monitor.h); MON_OK also when it could not be
 * asked (noted in r->detail's tail by the caller's OK message). */
static int check_witness(const struct monitor_opts *o, const char *url, struct tlog_src *logsrc,
			 const struct checkpoint *logcp, struct monitor_result *r)
{
	struct ls_err err = { { 0 } };
	struct tlog_src *ws = NULL;
	struct cosig_report wr;
	uint8_t h[LS_HASH_LEN], root[LS_HASH_LEN], *note = NULL;
	char hex[2 * LS_HASH_LEN + 1], path[2 * LS_HASH_LEN + 16];
	size_t nlen = 0;
	int ev = MON_OK;
	ls_rc rc;

	ls_sha256(logcp->origin, strlen(logcp->origin), NULL, 0, h);
	ls_hex(h, sizeof(h), hex);
	snprintf(path, sizeof(path), "%s/checkpoint", hex);
	rc = tlog_src_open(url, NULL, &ws, &err);
	if (rc == LS_OK)
		rc = tlog_src_get(ws, path, &note, &nlen, &err);
	if (rc != LS_OK) {
		fprintf(stderr, "logseal monitor: witness %s: %s\n", url, err.msg);
		goto out;
	}
	rc = cosig_note_check((const char *)note, nlen, o->logkeys, o->nlogkeys, o->witnesses,
			      o->nwitnesses, NULL, &wr, &err);
	if (rc == LS_OK && !wr.cosigned)
		rc = ls_err_set(&err, LS_UNTRUSTED, "no cosignature of a configured witness");
	if (rc == LS_OK && strcmp(wr.cp.origin, logcp->origin) != 0)
		rc = ls_err_set(&err, LS_INVALID, "another origin");
	if (rc != LS_OK) {
		ev = finding(r, MON_BADSIG, "witness %s: its checkpoint: %s", url, err.msg);
		goto keep;
	}
	if (wr.cp.size > logcp->size) {
		ev = finding(r, MON_ROLLBACK,
			     "witness %s cosigned size %" PRIu64 ", the log serves %" PRIu64, url,
			     wr.cp.size, logcp->size);
		goto keep;
	}
	{
		struct tlog_tree tree = { logsrc, logcp->size, &err };

		rc = merkle_root(tlog_node_hash, &tree, wr.cp.size, root);
	}
	if (rc != LS_OK) {
		fprintf(stderr, "logseal monitor: witness %s: tiles: %s\n", url, err.msg);
		goto out;
	}
	if (memcmp(root, wr.cp.root, LS_HASH_LEN) != 0)
		ev = finding(r, MON_FORK,
			     "witness %s cosigned another tree of size %" PRIu64
			     " than the log serves (split view)",
			     url, wr.cp.size);
keep:
	if (ev != MON_OK) {
		free(r->checkpoint);
		r->checkpoint = strndup((const char *)note, nlen);
	}
out:
	free(note);
	tlog_src_free(ws);
	return ev;
}

/* The auditor's pinned checkpoint as the state, when there is none yet. */
static int seed_trusted(const struct monitor_opts *o, uint64_t now, struct state *st,
			struct monitor_result *r)
{
	struct ls_err err = { { 0 } };
	struct cosig_report rep;
	ls_rc rc;

	rc = cosig_note_check(o->trust_note, o->trust_len, o->logkeys, o->nlogkeys, o->witnesses,
			      o->nwitnesses, NULL, &rep, &err);
	if (rc != LS_OK)
		return finding(r, rc == LS_NOMEM ? MON_ERROR : MON_BADSIG,
			       "the trusted checkpoint: %s", err.msg);
	if (st->present) {
		if (strcmp(st->origin, rep.cp.origin) != 0)
			return finding(r, MON_FORK,
				       "the trusted checkpoint is of \"%s\", the state of \"%s\"",
				       rep.cp.origin, st->origin);
		return MON_OK;
	}
	snprintf(st->origin, sizeof(st->origin), "%s", rep.cp.origin);
	st->size = rep.cp.size;
	memcpy(st->root, rep.cp.root, LS_HASH_LEN);
	st->note = strndup(o->trust_note, o->trust_len);
	if (!st->note)
		return finding(r, MON_ERROR, "out of memory");
	st->changed = now;
	st->checked = 0;
	st->present = 1;
	r->trusted = 1;
	return MON_OK;
}

ls_rc monitor_poll(const struct monitor_opts *o, uint64_t now, struct monitor_result *r)
{
	struct ls_err err = { { 0 } };
	struct tlog_src *src = NULL;
	struct cosig_report rep;
	struct state st;
	uint8_t *note = NULL, root[LS_HASH_LEN];
	size_t nlen = 0;
	ls_rc rc;

	memset(r, 0, sizeof(*r));
	memset(&st, 0, sizeof(st));
	rc = load_state(o->state, &st, &err);
	if (rc != LS_OK) {
		finding(r, MON_ERROR, "%s", err.msg);
		goto out;
	}
	if (o->trust_note && seed_trusted(o, now, &st, r) != MON_OK)
		goto out;
	r->had_state = st.present;
	r->state_size = st.size;
	memcpy(r->state_root, st.root, LS_HASH_LEN);
	snprintf(r->origin, sizeof(r->origin), "%s", st.origin);

	rc = tlog_src_open(o->log, o->token, &src, &err);
	if (rc == LS_OK)
		rc = tlog_src_get(src, "checkpoint", &note, &nlen, &err);
	if (rc != LS_OK) {
		finding(r, MON_ERROR, "cannot fetch the checkpoint: %s", err.msg);
		goto out;
	}
	r->checkpoint = strndup((const char *)note, nlen);

	/* 1, 2: signatures and the cosignature policy. */
	rc = cosig_note_check((const char *)note, nlen, o->logkeys, o->nlogkeys, o->witnesses,
			      o->nwitnesses, NULL, &rep, &err);
	if (rc != LS_OK) {
		finding(r, rc == LS_NOMEM ? MON_ERROR : MON_BADSIG, "checkpoint: %s", err.msg);
		goto out;
	}
	snprintf(r->origin, sizeof(r->origin), "%s", rep.cp.origin);
	r->size = rep.cp.size;
	memcpy(r->root, rep.cp.root, LS_HASH_LEN);
	r->cosigned = rep.cosigned;
	if (st.present && strcmp(st.origin, rep.cp.origin) != 0) {
		finding(r, MON_FORK, "origin changed from \"%s\" to \"%s\"", st.origin,
			rep.cp.origin);
		goto out;
	}
	if (rep.cosigned < o->quorum) {
		finding(r, MON_POLICY, "%zu of the %zu required witnesses cosigned size %" PRIu64,
			rep.cosigned, o->quorum, rep.cp.size);
		goto out;
	}

	/* 3, 4: the tiles against the signed root, then against the state. */
	{
		struct tlog_tree tree = { src, rep.cp.size, &err };
		uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN];
		size_t np = 0;

		if (st.present && rep.cp.size < st.size) {
			finding(r, MON_ROLLBACK,
				"size %" PRIu64 " is smaller than the verified size %" PRIu64,
				rep.cp.size, st.size);
			goto out;
		}
		if (st.present && rep.cp.size == st.size &&
		    memcmp(rep.cp.root, st.root, LS_HASH_LEN) != 0) {
			finding(r, MON_FORK,
				"size %" PRIu64 " signed with another root than the verified one",
				rep.cp.size);
			goto out;
		}
		rc = merkle_root(tlog_node_hash, &tree, rep.cp.size, root);
		if (rc != LS_OK) {
			finding(r, rc == LS_IO || rc == LS_NOTFOUND || rc == LS_DENIED ? MON_ERROR
											 : MON_MISMATCH,
				"tiles of size %" PRIu64 ": %s", rep.cp.size, err.msg);
			goto out;
		}
		if (memcmp(root, rep.cp.root, LS_HASH_LEN) != 0) {
			finding(r, MON_MISMATCH,
				"the hash tiles do not give the signed root of size %" PRIu64,
				rep.cp.size);
			goto out;
		}
		if (st.present && st.size > 0 && rep.cp.size > st.size) {
			rc = merkle_consistency_proof(tlog_node_hash, &tree, st.size, rep.cp.size,
						      proof, &np);
			if (rc != LS_OK) {
				finding(r, MON_ERROR, "consistency proof: %s", err.msg);
				goto out;
			}
			if (merkle_verify_consistency(st.size, rep.cp.size, st.root, rep.cp.root,
						      (const uint8_t(*)[LS_HASH_LEN])proof,
						      np) != LS_OK) {
				finding(r, MON_FORK,
					"size %" PRIu64 " is not an extension of the verified size "
					"%" PRIu64 " (history rewritten)",
					rep.cp.size, st.size);
				goto out;
			}
		}

		/* 5: entries. */
		/* (all of them on the first poll, also from a trusted pin) */
		uint64_t from = st.present && !r->trusted ? st.size : 0;

		if (o->entries && rep.cp.size > from) {
			struct entry_ctx ec = { &tree, 0, 0, 0 };

			rc = tlog_entries(src, rep.cp.size, from, rep.cp.size,
					  check_entry, &ec, &err);
			r->entries_checked = ec.checked;
			if (ec.found) {
				finding(r, MON_MISMATCH,
					"entry %" PRIu64 " does not hash to its leaf in the tiles "
					"(rewritten)", ec.bad);
				goto out;
			}
			if (rc != LS_OK) {
				finding(r, rc == LS_CORRUPT ? MON_MISMATCH : MON_ERROR,
					"entry bundles: %s", err.msg);
				goto out;
			}
		}
	}

	/* 5a: what the witnesses cosigned. */
	for (size_t i = 0; i < o->npoll; i++) {
		int ev = check_witness(o, o->poll_witnesses[i], src, &rep.cp, r);

		if (ev != MON_OK)
			goto out;
	}

	/* 6: stall, then the new state. */
	{
		int same = st.present && rep.cp.size == st.size && st.note &&
			   strlen(st.note) == nlen && memcmp(st.note, note, nlen) == 0;
		struct state ns;

		if (same && o->stall_s && now >= st.changed && now - st.changed >= o->stall_s) {
			finding(r, MON_STALL,
				"no growth and no new checkpoint for %" PRIu64 " s (size %" PRIu64 ")",
				now - st.changed, st.size);
		} else {
			finding(r, MON_OK,
				"size %" PRIu64 " verified (%s %" PRIu64 ", %zu witness(es))",
				rep.cp.size, st.present ? "was" : "first, trusted as is:",
				st.present ? st.size : rep.cp.size, rep.cosigned);
		}
		memset(&ns, 0, sizeof(ns));
		snprintf(ns.origin, sizeof(ns.origin), "%s", rep.cp.origin);
		ns.size = rep.cp.size;
		memcpy(ns.root, rep.cp.root, LS_HASH_LEN);
		ns.note = r->checkpoint;
		ns.changed = same ? st.changed : now;
		ns.checked = now;
		if (ns.note && save_state(o->state, &ns, &err) != LS_OK)
			finding(r, MON_ERROR, "cannot write the state: %s", err.msg);
	}
out:
	free(note);
	free(st.note);
	tlog_src_free(src);
	return LS_OK;
}

char *monitor_json(const struct monitor_opts *o, const struct monitor_result *r, uint64_t now)
{
	char sroot[LS_B64_LEN(LS_HASH_LEN) + 1], root[LS_B64_LEN(LS_HASH_LEN) + 1];
	json_t *j;
	char *s;

	ls_b64_encode(r->state_root, LS_HASH_LEN, sroot, sizeof(sroot));
	ls_b64_encode(r->root, LS_HASH_LEN, root, sizeof(root));
	j = json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:s?, s:I, s:s?, s:I, s:I, s:s?}", "event",
		      monitor_event_name(r->event), "code", r->event, "log", o->log, "origin",
		      r->origin, "detail", r->detail, "state_size", (json_int_t)r->state_size,
		      "state_root", r->had_state ? sroot : NULL, "size", (json_int_t)r->size,
		      "root", r->size || r->checkpoint ? root : NULL, "cosigned",
		      (json_int_t)r->cosigned, "time", (json_int_t)now, "checkpoint",
		      r->checkpoint);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	return size * n;
}

ls_rc monitor_webhook(const char *url, const char *secret, const char *body, struct ls_err *err)
{
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	long status = 0;
	CURLcode cc;

	if (!c)
		return ls_err_set(err, LS_NOMEM, "cannot start libcurl");
	h = curl_slist_append(h, "Content-Type: application/json");
	if (secret) {
		uint8_t mac[LS_HASH_LEN];
		char hex[2 * LS_HASH_LEN + 1], line[128];

		ls_hmac_sha256(secret, strlen(secret), body, strlen(body), mac);
		ls_hex(mac, sizeof(mac), hex);
		snprintf(line, sizeof(line), "X-Logseal-Signature: sha256=%s", hex);
		h = curl_slist_append(h, line);
		snprintf(line, sizeof(line), "X-Logseal-Timestamp: %lld", (long long)time(NULL));
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK)
		return ls_err_set(err, LS_IO, "webhook %s: %s", url, curl_easy_strerror(cc));
	if (status < 200 || status > 299)
		return ls_err_set(err, LS_IO, "webhook %s: HTTP %ld", url, status);
	return LS_OK;
}
