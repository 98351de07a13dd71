/*
 * verify_run.h - a full verify of a live data directory whose outcome is
 * recorded for the dashboard: verify_data_dir_ex() run again (up to five
 * times) while the published checkpoint moves during a failed run, so a
 * false "tampered" is never recorded, then DIR/state/last-verify.json
 * written (sealed, cfgseal.h CFGSEAL_VERIFY) with when it ran, whether it
 * passed and what it covered: the same record `logseal verify` writes
 * (cli/cmd_verify.c), read back by GET /v1/integrity.  Used by
 * POST /v1/verify (server/api_overview.c), which runs it in the background.
 */
#ifndef LS_VERIFY_RUN_H
#define LS_VERIFY_RUN_H

#include "base/ls.h"
#include "followers/verify.h"

/* The verify's own result; a failure to record is not one (it is put in
 * *record_err, "" when recorded). */
ls_rc verify_run_recorded(const char *dir, int flags, struct verify_report *rep,
			  struct ls_err *err, char *record_err, size_t record_err_len);

/* Write the record of one verify's outcome (rc, rep; verr->msg when it
 * failed) to DIR/state/last-verify.json; why receives the reason when it
 * could not be written, else "" is left as it was.  `logseal verify`
 * records its own runs with it. */
void verify_run_record(const char *dir, ls_rc rc, const struct verify_report *rep,
		       const struct ls_err *verr, char *why, size_t whylen);

#endif
