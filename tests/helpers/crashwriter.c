/*
 * crashwriter - helper of the crash tests.
 *
 *   crashwriter write DIR THREADS   append forever from THREADS threads;
 *                                   print "ack FIRST THREAD BATCH N" after
 *                                   each acknowledged batch (flushed)
 *   crashwriter check DIR ACKFILE   reopen the log (recovery), print what
 *                                   recovery cut, and check that every
 *                                   acknowledged entry is present with the
 *                                   content that was written; then close
 *                                   (which signs a checkpoint)
 *
 * Entry content is a function of (thread, batch, item), so the check needs
 * nothing but the ack lines.  Sealed segments are small (CRASH_SEGMENT_LEAVES
 * in the environment, default 512), so that kills land while ranges are
 * sealed and journal files dropped; entries are read back through the
 * store's seam (sealed segments, then the write-ahead log).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/log.h"
#include "store/reader.h"

static uint64_t segment_leaves(void)
{
	const char *v = getenv("CRASH_SEGMENT_LEAVES");

	return v && *v ? strtoull(v, NULL, 10) : 512;
}

static struct log *lg;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t make_entry(unsigned t, unsigned b, unsigned k, char *buf, size_t cap)
{
	/* ~350 bytes, varying length */
	return (size_t)snprintf(buf, cap,
				"{\"t\":%u,\"b\":%u,\"k\":%u,\"actor\":{\"id\":\"user-%u\"},"
				"\"action\":\"db.query\",\"pad\":\"%.*s\"}",
				t, b, k, (t * 31 + b * 7 + k) % 1000, (int)(200 + (b + k) % 100),
				"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static unsigned batch_len(unsigned t, unsigned b)
{
	return 1 + (t * 17 + b * 13) % 50;
}

static void *writer(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	static __thread char bufs[64][512];
	struct iovec iov[64];

	for (unsigned b = 0;; b++) {
		unsigned n = batch_len(t, b);
		uint64_t first;
		struct ls_err err;
		ls_rc rc;

		for (unsigned k = 0; k < n; k++) {
			iov[k].iov_base = bufs[k];
			iov[k].iov_len = make_entry(t, b, k, bufs[k], sizeof(bufs[k]));
		}
		rc = log_append(lg, iov, n, &first, &err);
		if (rc == LS_BUSY) {
			usleep(1000);
			b--;
			continue;
		}
		if (rc != LS_OK) {
			fprintf(stderr, "append: %s\n", err.msg);
			exit(3);
		}
		pthread_mutex_lock(&out_mu);
		printf("ack %llu %u %u %u\n", (unsigned long long)first, t, b, n);
		fflush(stdout);
		pthread_mutex_unlock(&out_mu);
	}
	return NULL;
}

static int do_write(const char *dir, unsigned threads)
{
	struct log_opts o = { .dir = dir, .checkpoint_interval_ms = 50, .segment_size = 256 << 10,
			      .segment_leaves = segment_leaves() };
	struct store_recovery rec;
	struct ls_err err;
	pthread_t th[16];

	if (log_open(&o, &lg, &rec, &err) != LS_OK) {
		fprintf(stderr, "open: %s\n", err.msg);
		return 2;
	}
	for (unsigned i = 0; i < threads && i < 16; i++)
		pthread_create(&th[i], NULL, writer, (void *)(uintptr_t)i);
	for (;;)
		pause();
}

static int do_check(const char *dir, const char *ackfile)
{
	struct log_opts o = { .dir = dir, .no_threads = 1, .segment_leaves = segment_leaves() };
	struct store_recovery rec;
	struct store_iter *it;
	struct ls_err err;
	char jdir[4096], line[256], want[512];
	uint64_t size, acked = 0, bad = 0;
	FILE *f;
	int status = 0;

	memset(&rec, 0, sizeof(rec));
	if (log_open(&o, &lg, &rec, &err) != LS_OK) {
		printf("not ok - reopen after the crash: %s\n", err.msg);
		return 1;
	}
	size = log_size(lg);
	if (rec.cut)
		printf("# recovery cut %llu bytes (%llu whole records, from index %llu) at %s offset "
		       "%llu\n", (unsigned long long)rec.bytes, (unsigned long long)rec.records,
		       (unsigned long long)rec.first, rec.segment, (unsigned long long)rec.offset);
	else
		printf("# recovery cut nothing\n");
	f = fopen(ackfile, "r");
	if (!f) {
		printf("not ok - cannot read %s\n", ackfile);
		return 1;
	}
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long first;
		unsigned t, b, n;

		if (sscanf(line, "ack %llu %u %u %u", &first, &t, &b, &n) != 4)
			continue; /* the kill may tear the last line */
		if (first + n > size) {
			printf("# acknowledged %llu+%u but the log has %llu entries\n", first, n,
			       (unsigned long long)size);
			bad++;
			continue;
		}
		if (store_iter_open(jdir, first, 0, &it, &err) != LS_OK) {
			printf("# iter: %s\n", err.msg);
			bad++;
			continue;
		}
		for (unsigned k = 0; k < n; k++) {
			const uint8_t *data;
			size_t len, wl = make_entry(t, b, k, want, sizeof(want));
			uint64_t idx;
			if (store_iter_next(it, &data, &len, &idx, &err) != LS_OK ||
			    idx != first + k || len != wl || memcmp(data, want, len) != 0) {
				printf("# entry %llu differs from what was acknowledged\n", first + k);
				bad++;
				break;
			}
		}
		store_iter_free(it);
		acked += n;
	}
	fclose(f);
	if (bad || acked == 0) {
		printf("not ok - %llu acknowledged entries checked, %llu missing or wrong\n",
		       (unsigned long long)acked, (unsigned long long)bad);
		status = 1;
	} else {
		printf("ok - all %llu acknowledged entries present after the crash (log has %llu)\n",
		       (unsigned long long)acked, (unsigned long long)size);
	}
	if (log_close(lg, &err) != LS_OK) {
		printf("not ok - close: %s\n", err.msg);
		status = 1;
	}
	return status;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "write"))
		return do_write(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "check"))
		return do_check(argv[2], argv[3]);
	fprintf(stderr, "usage: crashwriter write DIR THREADS | check DIR ACKFILE\n");
	return 2;
}
