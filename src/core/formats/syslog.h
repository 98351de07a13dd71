/*
 * formats/syslog.h - syslog messages (RFC 5424, and RFC 3164 as rsyslog and
 * syslog-ng send it) parsed and mapped onto a native logseal/v1 object,
 * which event.c then validates like any event sent over HTTP.  Pure: no
 * I/O, no threads; the clock is passed in.  The RELP and syslog-over-TLS
 * listeners (server/relp.c, server/syslog_tls.c) are its callers; the
 * mapping is documented in docs/SHIPPERS.md.
 *
 * The bytes (RFC 5424 section 6):
 *   <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
 *        SP STRUCTURED-DATA [SP MSG]
 *   STRUCTURED-DATA = "-" / 1*("[" SD-ID *(SP NAME "=" DQUOTE VALUE DQUOTE) "]")
 *   (VALUE escapes '"', '\' and ']' with '\'; MSG may start with a UTF-8 BOM)
 * and RFC 3164 (section 4.1), the header read as rsyslog reads it:
 *   <PRI>[TIMESTAMP SP HOSTNAME SP]TAG["[" PID "]"][":"] SP MSG
 *   TIMESTAMP = "Mmm dd hh:mm:ss" (no year, no zone: UTC, the year that puts
 *   it at most a day ahead of now) or an RFC 3339 time (rsyslog's forward
 *   formats).
 *
 * The mapping (struct syslog_map, every default configurable):
 *   1. a MSG that is a JSON object is the event itself (a full native
 *      event, as POST /v1/events takes it); otherwise the event starts empty
 *      and details.syslog carries the header and the MSG text;
 *   2. every field the event lacks comes from the params of the SD element
 *      whose SD-ID is map->sd_id ("logseal@32473"): actor, actor_type,
 *      actor_name, action, outcome, resource, resource_type, resource_name,
 *      service, id, reason, request_id, source_ip, source_port;
 *   3. then from the header: TIMESTAMP -> time (NILVALUE: now), MSGID ->
 *      action, HOSTNAME -> source.endpoint (NILVALUE: the peer's address as
 *      source.ip), APP-NAME -> service (not when the writer is bound to a
 *      service: the binding decides);
 *   4. then the defaults: outcome map->default_outcome, actor.id
 *      map->default_actor, action map->default_action; a required field
 *      still missing refuses the message (LS_INVALID, err says which);
 *   5. id: none given and map->id_hash set -> "syslog:" + the SHA-256 (hex)
 *      of the whole message as received, so a resend of the same bytes
 *      (RELP after a reconnect) is the same idempotency key.
 *   Other SD elements go to details.sd.<SD-ID>.<param> (a param given twice:
 *   an array of its values).
 */
#ifndef LS_FORMATS_SYSLOG_H
#define LS_FORMATS_SYSLOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/ls.h"

#define SYSLOG_MAX_MSG 65536	/* a message longer than this is refused */
#define SYSLOG_DEFAULT_SD_ID "logseal@32473"

/* A piece of the message: p == NULL when absent or NILVALUE ("-"). */
struct syslog_span {
	const char *p;
	size_t n;
};

struct syslog_msg {
	int pri;		/* 0..191: facility * 8 + severity */
	int version;		/* 1: RFC 5424; 0: RFC 3164 */
	int has_time;		/* 0: NILVALUE / none: time_us is 0 */
	int64_t time_us;	/* microseconds since the epoch, UTC */
	struct syslog_span hostname, app_name, procid, msgid;
	struct syslog_span sd;	/* RFC 5424 STRUCTURED-DATA, checked, brackets included */
	struct syslog_span msg;	/* MSG, a UTF-8 BOM removed */
};

/* Parse n bytes (no NUL needed).  now_us places RFC 3164 times in a year.
 * LS_INVALID (err says where) or LS_LIMIT (over SYSLOG_MAX_MSG). */
ls_rc syslog_parse(const char *p, size_t n, int64_t now_us, struct syslog_msg *m,
		   struct ls_err *err);

/* Call fn for each SD param of m in order (name and value; the value still
 * escaped, esc tells whether it has a '\').  Stops at a non-zero return. */
typedef int (*syslog_sd_fn)(void *ctx, struct syslog_span id, struct syslog_span name,
			    struct syslog_span value, int esc);
int syslog_sd_foreach(const struct syslog_msg *m, syslog_sd_fn fn, void *ctx);

struct syslog_map {
	const char *sd_id;		/* SYSLOG_DEFAULT_SD_ID */
	const char *default_outcome;	/* "unknown"; NULL: refuse without one */
	const char *default_actor;	/* NULL: refuse without one */
	const char *default_action;	/* NULL: refuse without action or MSGID */
	int id_hash;			/* 1 (default): hash id when none is given */
	int json_body;			/* 1 (default): a JSON object MSG is the event */
	int app_service;		/* 1 (default): APP-NAME -> service */
	size_t msg_max;			/* bytes of MSG kept in details.syslog.msg; 8192 */
};

void syslog_map_init(struct syslog_map *map);

/*
 * One message (raw, n bytes) -> new native object in *out (caller
 * decrefs).  peer_ip: the sender's address (for a NILVALUE HOSTNAME),
 * bound_service: the writer's service binding or NULL.  LS_INVALID /
 * LS_LIMIT with err saying why, LS_NOMEM.
 */
ls_rc syslog_to_native(const char *raw, size_t n, const struct syslog_map *map,
		       const char *peer_ip, const char *bound_service, int64_t now_us,
		       json_t **out, struct ls_err *err);

#endif
