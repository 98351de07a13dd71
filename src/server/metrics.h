/*
 * metrics.h - the server's counters and their rendering in the Prometheus
 * text exposition format (version 0.0.4) for GET /metrics.
 *
 * Two kinds of numbers:
 *  - counters this module keeps (HTTP requests by route and status, auth
 *    denials), bumped with relaxed atomics from any thread: no lock on the
 *    request path;
 *  - values other modules own (the log's commit statistics, the index's
 *    watermark, the alert engine's counters, the streams), read by the
 *    caller into a struct metrics_snapshot at scrape time, so this module
 *    depends on nothing but the structs it prints.
 *
 * Invariants:
 *  1. Every metric family is printed with its HELP and TYPE lines, once, and
 *     its samples follow it without interleaving (promtool check metrics).
 *  2. Label values are fixed strings chosen by the server (route patterns,
 *     not request paths), so the number of series is bounded and nothing a
 *     client sends ends up in a label.
 *  3. Counters only grow; a value this process cannot know (say, the
 *     checkpoint's age when it cannot be read) is left out, never printed
 *     as 0.
 */
#ifndef LS_METRICS_H
#define LS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "followers/alert.h"
#include "followers/upload.h"
#include "store/log.h"
#include "base/ls.h"

#define METRICS_MAX_ROUTES 96

struct metrics;

/* route_labels, route_methods: the label and the method of each route id
 * 0..nroutes-1 (borrowed, must outlive m); one more, "other" (method
 * "other"), is added for requests that match none.  A (method, label) pair
 * names one series: two routes may share a label only with different
 * methods. */
ls_rc metrics_new(const char *const *route_labels, const char *const *route_methods,
		  size_t nroutes, struct metrics **out);
void metrics_free(struct metrics *m);

/* One reply sent: route id (>= nroutes: "other"), HTTP status. */
void metrics_http(struct metrics *m, size_t route, unsigned status);
/* A request refused with 401 or 403. */
void metrics_auth_denial(struct metrics *m, unsigned status);
/* n items refused and recorded as logseal.ingest.rejected, by how they came:
 * partial batches of /v1/events or the k8s webhook, syslog messages (RELP,
 * RFC 5425), OTLP log records. */
enum metrics_rejected {
	METRICS_REJ_EVENTS,
	METRICS_REJ_K8S,
	METRICS_REJ_SYSLOG,
	METRICS_REJ_OTLP,
	METRICS_REJ_N
};
void metrics_ingest_rejected(struct metrics *m, enum metrics_rejected from, uint64_t n);
/* The syslog listeners (server/syslog_in.h), by kind (label listener="relp"
 * or "syslog-tls"): a connection accepted (opened 1: also one more open) or
 * ended (opened 0: one fewer open); n messages of one result (accepted:
 * durable or a duplicate of a durable one, refused: for good, recorded as
 * logseal.ingest.rejected, failed: the server could not take them and
 * acknowledged nothing); n bytes read from a connection (after TLS). */
enum metrics_listener { METRICS_LSN_RELP, METRICS_LSN_SYSLOG_TLS, METRICS_LSN_N };
enum metrics_msg_result { METRICS_MSG_ACCEPTED, METRICS_MSG_REFUSED, METRICS_MSG_FAILED, METRICS_MSG_N };
void metrics_syslog_conn(struct metrics *m, enum metrics_listener l, int opened);
void metrics_syslog_msgs(struct metrics *m, enum metrics_listener l, enum metrics_msg_result r,
			 uint64_t n);
void metrics_syslog_bytes(struct metrics *m, enum metrics_listener l, uint64_t n);

/* What the caller reads from the other modules at scrape time. */
struct metrics_snapshot {
	struct log_stats log;
	uint64_t tree_size;
	int has_checkpoint_age;
	double checkpoint_age_seconds;	/* now - mtime of DIR/log/checkpoint */
	uint64_t index_watermark;
	uint64_t search_watermark;	/* index_fresh_watermark() */
	int index_failed;		/* the index follower stopped on an error */
	uint64_t index_fed, index_read;	/* index_follow_counts() */
	int log_failed;			/* the journal refuses appends */
	int has_disk;
	uint64_t disk_free_bytes;	/* statvfs f_bavail * f_frsize of the data dir */
	int has_alerts;
	struct alert_counters alerts;
	uint64_t stream_clients;
	uint64_t stream_opened_total;
	uint64_t stream_overflows_total;
	int has_objstore;		/* an object store is configured */
	struct upload_stats objstore;
};

/* The exposition text (malloc'd, NUL-terminated) into *text, *len. */
ls_rc metrics_render(struct metrics *m, const struct metrics_snapshot *s, char **text,
		     size_t *len);

#endif
