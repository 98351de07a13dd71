/*
 * retention_worker.c - the background retention thread: it calls
 * retention_run() every interval until retention_worker_stop().
 */
#include "followers/retention_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* --------------------------------------------------------------- worker --- */

struct retention_worker {
	struct log *log;
	int64_t (*now)(void *ctx);
	void *now_ctx;
	void (*report)(void *ctx, ls_rc rc, const struct retention_report *rep,
		       const char *msg);
	void *report_ctx;
	unsigned interval_ms;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

static int64_t real_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *worker_main(void *arg)
{
	struct retention_worker *w = arg;

	pthread_setname_np(pthread_self(), "ls-retention");
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct retention_report rep;
		struct ls_err err = { "" };
		struct timespec until;
		ls_rc rc;

		pthread_mutex_unlock(&w->mu);
		rc = retention_run(w->log, w->now(w->now_ctx), &rep, &err);
		if (w->report && (rc != LS_OK || rep.archived || rep.purged))
			w->report(w->report_ctx, rc, &rep, err.msg);
		pthread_mutex_lock(&w->mu);
		ls_deadline(&until, CLOCK_REALTIME, w->interval_ms);
		while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

ls_rc retention_worker_start(struct log *l, const struct retention_worker_opts *o,
			     struct retention_worker **out, struct ls_err *err)
{
	struct retention_worker *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	w->log = l;
	w->now = o && o->now_us ? o->now_us : real_now;
	w->now_ctx = o ? o->clock_ctx : NULL;
	w->report = o ? o->report : NULL;
	w->report_ctx = o ? o->report_ctx : NULL;
	w->interval_ms = o && o->interval_ms ? o->interval_ms : 60000;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w);
		return ls_err_set(err, LS_IO, "cannot start the retention thread");
	}
	*out = w;
	return LS_OK;
}

void retention_worker_stop(struct retention_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
