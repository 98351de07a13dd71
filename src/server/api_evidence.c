/*
 * api_evidence.c - GET /v1/export?format=evidence&index=N: the evidence
 * file for one event (followers/evidence.h): the entry, its inclusion proof
 * to the latest signed checkpoint (signed first when none covers N), and
 * that checkpoint as stored, with the witnesses' cosignature lines when the
 * log has them (followers/cosigned.h).  Audited as an export
 * (logseal.export, format "evidence", the index and checkpoint size).
 */
#include "server/api.h"
#include "server/api_int.h"
#include "store/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/merkle.h"
#include "followers/cosigned.h"
#include "followers/evidence.h"
#include "store/tiles.h"

int api_export_is_evidence(const struct request *q)
{
	for (size_t i = 0; i < q->nargs; i++)
		if (!strcmp(q->args[i].key, "format") && !strcmp(q->args[i].value, "evidence"))
			return 1;
	return 0;
}

void api_export_evidence(struct server *s, const struct request *q, struct reply *r)
{
	uint8_t proof[MERKLE_MAX_PROOF][LS_HASH_LEN];
	struct ls_err err = { { 0 } };
	struct tiles_reader *tr = NULL;
	uint64_t index = 0, covered = 0, off = INDEX_NO_OFFSET;
	const char *idxs = NULL;
	uint8_t *data = NULL;
	size_t len = 0, np = 0, olen = 0;
	char *note = NULL, *cnote = NULL, *out = NULL;
	json_t *details = NULL;
	ls_rc rc;

	for (size_t i = 0; i < q->nargs; i++) {
		if (!strcmp(q->args[i].key, "index") && !idxs) {
			idxs = q->args[i].value;
		} else if (strcmp(q->args[i].key, "format") != 0) {
			reply_error(r, 400, "bad_parameter",
				    "format=evidence takes exactly one more parameter: index");
			return;
		}
	}
	if (!idxs || !ls_parse_u64(idxs, 0, UINT64_MAX, &index)) {
		reply_error(r, 400, "bad_parameter",
			    "format=evidence needs index=N, a decimal leaf index");
		return;
	}
	if (index >= log_size(s->log)) {
		reply_error(r, 404, "not_found", "no entry %llu: the log holds %llu %s",
			    (unsigned long long)index, (unsigned long long)log_size(s->log),
			    LS_PL(log_size(s->log), "entry", "entries"));
		return;
	}
	if (api_covering_checkpoint(s, index + 1, &note, &covered, r) != LS_OK)
		goto out;
	/* The stored copy with the witnesses' lines, when there is one. */
	if (cosigned_read(s->dir, covered, &cnote, NULL) == LS_OK) {
		free(note);
		note = cnote;
		cnote = NULL;
	}
	if (api_tiles_reader(s, covered, &tr, r) != LS_OK)
		goto out;
	if (s->jr && index_entry_offset(s->index, index, &off, &err) != LS_OK)
		off = INDEX_NO_OFFSET;
	rc = api_read_entry(s, NULL, tr, index, off, &data, &len, &err);
	if (rc == LS_OK)
		rc = merkle_inclusion_proof(tiles_node_hash, tr, index, covered, proof, &np);
	if (rc == LS_OK)
		rc = evidence_format(log_origin(s->log), index, data, len, covered,
				     (const uint8_t(*)[LS_HASH_LEN])proof, np, note, &out, &olen,
				     &err);
	if (rc != LS_OK) {
		api_reply_rc(NULL, r, rc, API_RC_READ, "evidence for entry %llu: %s",
			     (unsigned long long)index, err.msg[0] ? err.msg : ls_rc_name(rc));
		goto out;
	}
	details = json_object();
	if (!details || json_object_set_new(details, "format", json_string("evidence")) ||
	    json_object_set_new(details, "index", json_integer((json_int_t)index)) ||
	    json_object_set_new(details, "tree_size", json_integer((json_int_t)covered)) ||
	    json_object_set_new(details, "results", json_integer(1))) {
		api_reply_rc(NULL, r, LS_NOMEM, API_RC_READ, "out of memory");
		goto out;
	}
	snprintf(r->disposition, sizeof(r->disposition),
		 "attachment; filename=\"logseal-evidence-%llu.json\"", (unsigned long long)index);
	if (api_reply_audited_raw(s, q, "logseal.export", details, out, olen, "application/json",
				  r) == LS_OK)
		out = NULL;
out:
	json_decref(details);
	tiles_reader_free(tr);
	free(data);
	free(note);
	free(cnote);
	free(out);
}
