/*
 * verify_run.c - a full verify of a live data directory, re-run while the
 * log moves on under a failing run, and its outcome recorded in
 * DIR/state/last-verify.json (verify_run.h).  The record's fields are the
 * ones cli/cmd_verify.c writes: time, ok, entries, tree_size, checkpoints,
 * tiles, uncovered, archived, purged, root (null on failure),
 * purged_ranges, error {code, message} (null on success).
 */
#include "followers/verify_run.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fsutil.h"
#include "core/event.h"
#include "core/note.h"
#include "store/cfgseal.h"

/* DIR/log/checkpoint as it is now (NULL when unreadable). */
static char *published(const char *dir)
{
	char path[PATH_MAX], *note = NULL;
	size_t len;

	if (snprintf(path, sizeof(path), "%s/log/checkpoint", dir) >= (int)sizeof(path) ||
	    fs_read_file(path, NOTE_MAX_SIZE, &note, &len, NULL) != LS_OK)
		return NULL;
	return note;
}

void verify_run_record(const char *dir, ls_rc rc, const struct verify_report *rep,
		       const struct ls_err *verr, char *why, size_t whylen)
{
	char path[PATH_MAX], when[40], root[LS_B64_LEN(32) + 1];
	struct ls_err err = { "" };
	struct timespec now;
	json_t *o;
	char *text = NULL;

	clock_gettime(CLOCK_REALTIME, &now);
	event_format_time((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000, when, sizeof(when));
	ls_b64_encode(rep->root, 32, root, sizeof(root));
	o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "time", when, "ok", rc == LS_OK,
		      "entries", (json_int_t)rep->entries, "tree_size", (json_int_t)rep->tree_size,
		      "checkpoints", (json_int_t)rep->checkpoints, "tiles", (json_int_t)rep->tiles,
		      "uncovered", (json_int_t)rep->uncovered, "archived",
		      (json_int_t)rep->archived, "purged", (json_int_t)rep->purged);
	if (!o || json_object_set_new(o, "root", rc == LS_OK ? json_string(root) : json_null()) ||
	    json_object_set_new(o, "purged_ranges",
				rep->retention[0] ? json_string(rep->retention) : json_null()) ||
	    json_object_set_new(o, "error", rc == LS_OK ? json_null() :
				json_pack("{s:s,s:s}", "code", ls_rc_name(rc), "message",
					  verr->msg)) ||
	    !(text = json_dumps(o, JSON_COMPACT))) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	if (snprintf(path, sizeof(path), "%s/state", dir) >= (int)sizeof(path) ||
	    fs_mkdirs(path, 0700, &err) != LS_OK ||
	    snprintf(path, sizeof(path), "%s/state/last-verify.json", dir) >= (int)sizeof(path) ||
	    cfgseal_write_file(dir, CFGSEAL_VERIFY, path, text, strlen(text), 0600, &err) !=
		    LS_OK)
		snprintf(why, whylen, "%s", err.msg[0] ? err.msg : "path too long");
out:
	free(text);
	json_decref(o);
}

ls_rc verify_run_recorded(const char *dir, int flags, struct verify_report *rep,
			  struct ls_err *err, char *record_err, size_t record_err_len)
{
	ls_rc rc;

	record_err[0] = 0;
	for (int attempt = 0;; attempt++) {
		char *before = published(dir), *after;
		int moved;

		memset(rep, 0, sizeof(*rep));
		rc = verify_data_dir_ex(dir, NULL, flags, rep, err);
		after = published(dir);
		moved = !before || !after || strcmp(before, after) != 0;
		free(before);
		free(after);
		if (rc == LS_OK || rc == LS_DENIED || rc == LS_NOMEM || !moved || attempt == 4)
			break;
	}
	/* No verdict about the log: nothing recorded (as `logseal verify`). */
	if (rc != LS_DENIED && rc != LS_NOMEM)
		verify_run_record(dir, rc, rep, err, record_err, record_err_len);
	return rc;
}
