/*
 * upload_once - helper of the object-store tests and bench: runs logseal's
 * uploader (followers/upload.h) on a data directory that is not being
 * served until the bucket holds its latest signed checkpoint, then stops.
 *
 *   upload_once DIR s3://BUCKET/PREFIX [THREADS [follow]]
 *
 * With "follow" it keeps uploading (a server may be writing DIR) until
 * SIGTERM or SIGINT, then waits for the bucket to catch up (at most 60 s).
 *
 * Endpoint, region and credentials come from the environment as for the
 * AWS tools (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...; LOGSEAL_S3_PATH_STYLE=1
 * for path-style).  Prints one line:
 *   uploaded: OBJECTS objects, BYTES bytes in SECONDS s
 * Exit 0 when the bucket caught up, 1 on a conflict or after 600 s.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "followers/upload.h"
#include "store/objstore.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void notice(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "upload_once: %s\n", msg);
}

int main(int argc, char **argv)
{
	struct objstore_cfg cfg;
	struct upload_opts o;
	struct upload *u = NULL;
	struct upload_stats st;
	struct ls_err err = { "" };
	struct timespec t0, t1;
	int rc = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: upload_once DIR s3://BUCKET/PREFIX [THREADS]\n");
		return 2;
	}
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.url, sizeof(cfg.url), "%s", argv[2]);
	if (objstore_cfg_env(&cfg, &err) != LS_OK) {
		fprintf(stderr, "upload_once: %s\n", err.msg);
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.dir = argv[1];
	o.store = &cfg;
	o.lock_days = 1;
	o.threads = argc > 3 ? (unsigned)atoi(argv[3]) : 0;
	o.poll_ms = 50;
	o.notice = notice;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (upload_start(&o, &u, &err) != LS_OK) {
		fprintf(stderr, "upload_once: %s\n", err.msg);
		return 1;
	}
	if (argc > 4 && !strcmp(argv[4], "follow")) {
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		while (!stop)
			usleep(50000);
		upload_kick(u);
	}
	for (int i = 0; i < 600 * 20; i++) {
		upload_stats(u, &st);
		if (st.conflict)
			break;
		if (st.log_size && st.uploaded_size == st.log_size && !st.backlog_objects) {
			rc = 0;
			break;
		}
		usleep(50000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	upload_stats(u, &st);
	upload_stop(u);
	printf("uploaded: %llu objects, %llu bytes in %.3f s (size %llu)\n",
	       (unsigned long long)st.uploaded_objects, (unsigned long long)st.uploaded_bytes,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)st.uploaded_size);
	if (rc)
		fprintf(stderr, "upload_once: the bucket did not catch up (%s)\n",
			st.conflict ? "conflict" : st.last_error);
	return rc;
}
