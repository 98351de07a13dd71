/*
 * test_fsutil.c - the durable-file helpers: fs_read_file returns the bytes,
 * NUL-terminated, up to its cap and refuses a file over it (LS_LIMIT),
 * tells a missing file (LS_NOTFOUND) from one it may not read (EACCES:
 * LS_IO); fs_write_file replaces a file whole (a concurrent reader never
 * sees a partial or missing file), sets the mode whatever the umask,
 * fsyncs the temporary file before the rename and the directory after it,
 * leaves no temporary file behind on any error and the old content intact,
 * maps a full disk to LS_NOSPACE, and with excl refuses an existing file;
 * fs_sync_dir fsyncs the directory it names; fs_mkdirs creates every
 * missing level and fsyncs each parent that gained an entry.
 *
 * fsync is interposed here (the library is linked statically into this
 * program, so its calls land on the definition below): it records which
 * file each call synced and can fail on demand, as a disk would.  Every
 * test works in its own directory under /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fsutil.h"

/* ======================================================= fsync interposed */

#define MAX_SYNCS 32
static struct {
	int n;				/* calls recorded */
	char path[MAX_SYNCS][PATH_MAX];	/* what each call synced */
	char content[MAX_SYNCS][16];	/* first bytes of the target file at that time */
	const char *target;		/* the file whose content is sampled */
	int fail_at;			/* call number that fails (-1: none) */
	int fail_errno;
	int skip_real;			/* do not reach the disk (speed) */
} sy = { .fail_at = -1 };

static void sync_log_reset(const char *target)
{
	memset(&sy, 0, sizeof(sy));
	sy.fail_at = -1;
	sy.target = target;
}

int fsync(int fd)
{
	char link[64];
	ssize_t r;
	int i = sy.n;

	if (i < MAX_SYNCS) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		r = readlink(link, sy.path[i], sizeof(sy.path[i]) - 1);
		sy.path[i][r > 0 ? r : 0] = 0;
		if (sy.target) {
			int t = open(sy.target, O_RDONLY | O_CLOEXEC);

			if (t >= 0) {
				r = read(t, sy.content[i], sizeof(sy.content[i]) - 1);
				sy.content[i][r > 0 ? r : 0] = 0;
				close(t);
			} else {
				snprintf(sy.content[i], sizeof(sy.content[i]), "(none)");
			}
		}
	}
	sy.n++;
	if (i == sy.fail_at) {
		errno = sy.fail_errno;
		return -1;
	}
	return sy.skip_real ? 0 : (int)syscall(SYS_fsync, fd);
}

/* ======================================================= fixture */

struct fx {
	char dir[64];
	char path[PATH_MAX];	/* dir/f */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_fsutil.XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	/* others may look in (the EACCES tests run as nobody when root) */
	chmod(fx->dir, 0755);
	snprintf(fx->path, sizeof(fx->path), "%s/f", fx->dir);
	sync_log_reset(NULL);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	sync_log_reset(NULL);
	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx %s; rm -rf %s", fx->dir, fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

static void put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(s, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Names in dir (but "." and ".."), space separated and sorted. */
static void listing(const char *dir, char *out, size_t cap)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	size_t o = 0;

	assert_true(n >= 0);
	out[0] = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
			o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? " " : "",
					      names[i]->d_name);
		free(names[i]);
	}
	free(names);
}

/* Run as an unprivileged user when root (root is never refused access):
 * returns 1 when the effective user was changed (undo with regain()). */
static int as_nobody(void)
{
	if (geteuid() != 0)
		return 0;
	assert_int_equal(setegid(65534), 0);
	assert_int_equal(seteuid(65534), 0);
	return 1;
}

static void regain(int changed)
{
	if (!changed)
		return;
	assert_int_equal(seteuid(0), 0);
	assert_int_equal(setegid(0), 0);
}

/* ======================================================= fs_read_file */

static void test_read_whole_file(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char *data = NULL;
	size_t len = 99;

	put(fx->path, "hello\nworld");
	assert_int_equal(fs_read_file(fx->path, 1 << 20, &data, &len, &err), LS_OK);
	assert_int_equal(len, 11);
	assert_memory_equal(data, "hello\nworld", 11);
	assert_int_equal(data[11], 0); /* NUL-terminated */
	free(data);
	/* an empty file: an empty string */
	put(fx->path, "");
	assert_int_equal(fs_read_file(fx->path, 0, &data, &len, &err), LS_OK);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);
	/* binary content with NUL bytes comes back whole */
	{
		static const char bin[] = { 'a', 0, 'b', 0, 0, 'c' };
		int fd = open(fx->path, O_WRONLY | O_TRUNC);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, bin, sizeof(bin)), sizeof(bin));
		close(fd);
		assert_int_equal(fs_read_file(fx->path, 6, &data, &len, &err), LS_OK);
		assert_int_equal(len, 6);
		assert_memory_equal(data, bin, 6);
		free(data);
	}
}

static void test_read_limit(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char *data = NULL;
	size_t len = 0;
	char big[4097];

	memset(big, 'x', 4096);
	big[4096] = 0;
	put(fx->path, big);
	/* exactly the cap is allowed */
	assert_int_equal(fs_read_file(fx->path, 4096, &data, &len, &err), LS_OK);
	assert_int_equal(len, 4096);
	free(data);
	data = NULL;
	/* one byte over is refused, and nothing is handed out */
	assert_int_equal(fs_read_file(fx->path, 4095, &data, &len, &err), LS_LIMIT);
	assert_null(data);
	assert_non_null(strstr(err.msg, "larger than 4095 bytes"));
	assert_non_null(strstr(err.msg, fx->path));
	assert_int_equal(fs_read_file(fx->path, 0, &data, &len, &err), LS_LIMIT);
	assert_null(data);
}

static void test_read_errors(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char *data = NULL, p[PATH_MAX];
	size_t len = 0;
	int changed;

	/* ENOENT: not found, and the message names the path */
	assert_int_equal(fs_read_file(fx->path, 100, &data, &len, &err), LS_NOTFOUND);
	assert_null(data);
	assert_non_null(strstr(err.msg, fx->path));
	snprintf(p, sizeof(p), "%s/no/such/dir/f", fx->dir);
	assert_int_equal(fs_read_file(p, 100, &data, &len, &err), LS_NOTFOUND);
	/* ENOTDIR: an I/O error, not "missing" */
	put(fx->path, "x");
	snprintf(p, sizeof(p), "%s/below", fx->path);
	assert_int_equal(fs_read_file(p, 100, &data, &len, &err), LS_IO);
	assert_null(data);
	/* EACCES: an I/O error, not "missing" (a key file that exists but
	 * cannot be read must not look like a fresh start) */
	assert_int_equal(chmod(fx->path, 0), 0);
	changed = as_nobody();
	err.msg[0] = 0;
	assert_int_equal(fs_read_file(fx->path, 100, &data, &len, &err), LS_IO);
	regain(changed);
	assert_null(data);
	assert_non_null(strstr(err.msg, strerror(EACCES)));
	/* err may be NULL */
	assert_int_equal(fs_read_file(p, 100, &data, &len, NULL), LS_IO);
	/* a directory is not a file to read (it used to give LS_OK, empty) */
	assert_int_equal(fs_read_file(fx->dir, 100, &data, &len, &err), LS_INVALID);
	assert_null(data);
	assert_non_null(strstr(err.msg, "not a regular file"));
	snprintf(p, sizeof(p), "%s/none", fx->dir);
	assert_int_equal(fs_read_file(p, 100, &data, &len, NULL), LS_NOTFOUND);
	assert_null(data);
}

/* ======================================================= fs_write_file */

static void test_write_creates_and_replaces(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char *data, names[256];
	size_t len;
	struct stat st;
	mode_t old = umask(077);

	assert_int_equal(fs_write_file(fx->path, "first", 5, 0644, 0, &err), LS_OK);
	assert_int_equal(fs_read_file(fx->path, 100, &data, &len, &err), LS_OK);
	assert_string_equal(data, "first");
	free(data);
	/* the mode asked for, whatever the umask */
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* replaced whole, shorter, with another mode */
	assert_int_equal(fs_write_file(fx->path, "2nd", 3, 0600, 0, &err), LS_OK);
	assert_int_equal(fs_read_file(fx->path, 100, &data, &len, &err), LS_OK);
	assert_int_equal(len, 3);
	assert_string_equal(data, "2nd");
	free(data);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* an empty file */
	assert_int_equal(fs_write_file(fx->path, "", 0, 0600, 0, &err), LS_OK);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* no temporary file is left behind */
	listing(fx->dir, names, sizeof(names));
	assert_string_equal(names, "f");
	umask(old);
}

static void test_write_replaces_by_rename(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char buf[16] = "";
	int fd;

	/* A reader holding the old file keeps the old bytes: the new content
	 * is a new file renamed over the name, never written in place. */
	assert_int_equal(fs_write_file(fx->path, "old content", 11, 0644, 0, &err), LS_OK);
	fd = open(fx->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_file(fx->path, "NEW", 3, 0644, 0, &err), LS_OK);
	assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0), 11);
	assert_string_equal(buf, "old content");
	close(fd);
}

static void test_write_fsyncs_file_then_dir(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char tmp[PATH_MAX];

	assert_int_equal(fs_write_file(fx->path, "v1", 2, 0644, 0, &err), LS_OK);
	sync_log_reset(fx->path);
	assert_int_equal(fs_write_file(fx->path, "v2", 2, 0644, 0, &err), LS_OK);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", fx->path, (int)getpid());
	assert_int_equal(sy.n, 2);
	/* 1: the temporary file, while the name still holds the old content */
	assert_string_equal(sy.path[0], tmp);
	assert_string_equal(sy.content[0], "v1");
	/* 2: the directory, once the name holds the new content */
	assert_string_equal(sy.path[1], fx->dir);
	assert_string_equal(sy.content[1], "v2");
}

static void test_write_relative_path(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char cwd[PATH_MAX];

	/* a name without a slash lives in ".", which is what gets synced */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx->dir), 0);
	sync_log_reset(NULL);
	assert_int_equal(fs_write_file("plain", "x", 1, 0644, 0, &err), LS_OK);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(sy.n, 2);
	assert_string_equal(sy.path[1], fx->dir);
}

static void test_write_excl(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char *data, names[256];
	size_t len;

	assert_int_equal(fs_write_file(fx->path, "mine", 4, 0600, 1, &err), LS_OK);
	sync_log_reset(NULL);
	assert_int_equal(fs_write_file(fx->path, "theirs", 6, 0600, 1, &err), LS_EXISTS);
	assert_int_equal(fs_read_file(fx->path, 100, &data, &len, &err), LS_OK);
	assert_string_equal(data, "mine");
	free(data);
	listing(fx->dir, names, sizeof(names));
	assert_string_equal(names, "f");
	/* without excl the same call replaces it */
	assert_int_equal(fs_write_file(fx->path, "theirs", 6, 0600, 0, &err), LS_OK);
	assert_int_equal(fs_read_file(fx->path, 100, &data, &len, &err), LS_OK);
	assert_string_equal(data, "theirs");
	free(data);
}

/* A failure anywhere leaves the old content and no temporary file. */
static void assert_untouched(struct fx *fx, const char *content)
{
	struct ls_err err = { "" };
	char *data, names[256];
	size_t len;

	assert_int_equal(fs_read_file(fx->path, 100, &data, &len, &err), LS_OK);
	assert_string_equal(data, content);
	free(data);
	listing(fx->dir, names, sizeof(names));
	assert_string_equal(names, "f");
}

static void test_write_fsync_failure(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };

	assert_int_equal(fs_write_file(fx->path, "keep", 4, 0644, 0, &err), LS_OK);
	/* the file's fsync fails: nothing is renamed */
	sync_log_reset(NULL);
	sy.fail_at = 0;
	sy.fail_errno = EIO;
	assert_int_equal(fs_write_file(fx->path, "lost", 4, 0644, 0, &err), LS_IO);
	assert_non_null(strstr(err.msg, strerror(EIO)));
	assert_untouched(fx, "keep");
	/* fsync answering ENOSPC is a full disk */
	sync_log_reset(NULL);
	sy.fail_at = 0;
	sy.fail_errno = ENOSPC;
	assert_int_equal(fs_write_file(fx->path, "lost", 4, 0644, 0, &err), LS_NOSPACE);
	assert_untouched(fx, "keep");
	/* the directory's fsync fails: reported (the rename may not last) */
	sync_log_reset(NULL);
	sy.fail_at = 1;
	sy.fail_errno = EIO;
	assert_int_equal(fs_write_file(fx->path, "new", 3, 0644, 0, &err), LS_IO);
	assert_non_null(strstr(err.msg, fx->dir));
}

static void test_write_disk_full(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char tmp[PATH_MAX];

	/* The temporary file's name made to lead to /dev/full: every write
	 * fails with ENOSPC, as on a full disk. */
	assert_int_equal(fs_write_file(fx->path, "keep", 4, 0644, 0, &err), LS_OK);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", fx->path, (int)getpid());
	if (symlink("/dev/full", tmp) != 0 || access("/dev/full", W_OK) != 0)
		skip();
	assert_int_equal(fs_write_file(fx->path, "lost", 4, 0644, 0, &err), LS_NOSPACE);
	assert_non_null(strstr(err.msg, strerror(ENOSPC)));
	assert_untouched(fx, "keep");
}

static void test_write_errors(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char p[PATH_MAX + 16], d[PATH_MAX], names[256];
	int changed;

	/* ENOENT: the directory does not exist */
	snprintf(p, sizeof(p), "%s/missing/f", fx->dir);
	assert_int_equal(fs_write_file(p, "x", 1, 0644, 0, &err), LS_IO);
	assert_non_null(strstr(err.msg, strerror(ENOENT)));
	listing(fx->dir, names, sizeof(names));
	assert_string_equal(names, "");
	/* EACCES: a directory we may not write */
	snprintf(d, sizeof(d), "%s/ro", fx->dir);
	assert_int_equal(mkdir(d, 0555), 0);
	snprintf(p, sizeof(p), "%s/f", d);
	changed = as_nobody();
	err.msg[0] = 0;
	assert_int_equal(fs_write_file(p, "x", 1, 0644, 0, &err), LS_IO);
	regain(changed);
	assert_non_null(strstr(err.msg, strerror(EACCES)));
	listing(d, names, sizeof(names));
	assert_string_equal(names, "");
	/* a name too long for a temporary file next to it */
	memset(p, 'a', PATH_MAX + 8);
	p[PATH_MAX + 8] = 0;
	assert_int_equal(fs_write_file(p, "x", 1, 0644, 0, &err), LS_LIMIT);
	/* the target is a directory: the rename fails, no temporary is left */
	snprintf(d, sizeof(d), "%s/adir", fx->dir);
	assert_int_equal(mkdir(d, 0755), 0);
	assert_int_equal(fs_write_file(d, "x", 1, 0644, 0, &err), LS_IO);
	listing(fx->dir, names, sizeof(names));
	assert_string_equal(names, "adir ro");
}

static void test_write_atomic_for_readers(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	enum { SZ = 64 * 1024, ROUNDS = 60 };
	char *a = malloc(SZ), *b = malloc(SZ);
	pid_t child;
	int status, reads = 0, bad = 0;

	assert_non_null(a);
	assert_non_null(b);
	memset(a, 'a', SZ);
	memset(b, 'b', SZ);
	sy.skip_real = 1; /* speed: atomicity is about the rename, not the disk */
	assert_int_equal(fs_write_file(fx->path, a, SZ, 0644, 0, &err), LS_OK);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		for (int i = 0; i < ROUNDS; i++)
			if (fs_write_file(fx->path, i % 2 ? a : b, SZ, 0644, 0, NULL) != LS_OK)
				_exit(1);
		_exit(0);
	}
	/* Whatever moment the reader picks, it sees one version whole. */
	for (;;) {
		char *data = NULL;
		size_t len = 0;
		ls_rc rc = fs_read_file(fx->path, SZ, &data, &len, NULL);
		int done = waitpid(child, &status, WNOHANG) == child;

		reads++;
		if (rc != LS_OK || len != SZ || (memcmp(data, a, SZ) && memcmp(data, b, SZ))) {
			if (bad++ == 0)
				print_message("read %d: rc %d, %zu bytes, starts '%c', ends '%c'\n",
					      reads, rc, len, len ? data[0] : '-',
					      len ? data[len - 1] : '-');
		}
		free(data);
		if (done)
			break;
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(bad, 0);
	free(a);
	free(b);
}

/* ======================================================= fs_sync_dir */

static void test_sync_dir(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char p[PATH_MAX];

	sync_log_reset(NULL);
	assert_int_equal(fs_sync_dir(fx->dir, &err), LS_OK);
	assert_int_equal(sy.n, 1);
	assert_string_equal(sy.path[0], fx->dir);
	/* missing, or not a directory */
	snprintf(p, sizeof(p), "%s/none", fx->dir);
	assert_int_equal(fs_sync_dir(p, &err), LS_IO);
	assert_non_null(strstr(err.msg, p));
	put(fx->path, "x");
	assert_int_equal(fs_sync_dir(fx->path, &err), LS_IO);
	/* the fsync itself fails */
	sync_log_reset(NULL);
	sy.fail_at = 0;
	sy.fail_errno = EIO;
	assert_int_equal(fs_sync_dir(fx->dir, &err), LS_IO);
	assert_non_null(strstr(err.msg, strerror(EIO)));
}

/* ======================================================= fs_mkdirs */

static void test_mkdirs(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char p[PATH_MAX], q[PATH_MAX];
	struct stat st;
	mode_t old = umask(0);

	snprintf(p, sizeof(p), "%s/a/b/c", fx->dir);
	sync_log_reset(NULL);
	assert_int_equal(fs_mkdirs(p, 0750, &err), LS_OK);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	/* each parent that gained an entry was synced: dir, a, a/b */
	assert_int_equal(sy.n, 3);
	assert_string_equal(sy.path[0], fx->dir);
	snprintf(q, sizeof(q), "%s/a", fx->dir);
	assert_string_equal(sy.path[1], q);
	snprintf(q, sizeof(q), "%s/a/b", fx->dir);
	assert_string_equal(sy.path[2], q);
	/* again: nothing to create, nothing to sync */
	sync_log_reset(NULL);
	assert_int_equal(fs_mkdirs(p, 0750, &err), LS_OK);
	assert_int_equal(sy.n, 0);
	/* a trailing slash */
	snprintf(p, sizeof(p), "%s/a/b/d/", fx->dir);
	assert_int_equal(fs_mkdirs(p, 0700, &err), LS_OK);
	snprintf(p, sizeof(p), "%s/a/b/d", fx->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	umask(old);
}

static void test_mkdirs_errors(void **state)
{
	struct fx *fx = *state;
	struct ls_err err = { "" };
	char p[PATH_MAX + 16];
	int changed;

	assert_int_equal(fs_mkdirs("", 0700, &err), LS_INVALID);
	memset(p, 'a', PATH_MAX + 8);
	p[PATH_MAX + 8] = 0;
	assert_int_equal(fs_mkdirs(p, 0700, &err), LS_INVALID);
	/* a file in the way (ENOTDIR below it) */
	put(fx->path, "x");
	snprintf(p, sizeof(p), "%s/sub", fx->path);
	assert_int_equal(fs_mkdirs(p, 0700, &err), LS_IO);
	assert_non_null(strstr(err.msg, p));
	/* the path itself is a file: not a directory (it used to give LS_OK) */
	assert_int_equal(fs_mkdirs(fx->path, 0700, &err), LS_IO);
	assert_non_null(strstr(err.msg, "not a directory"));
	/* EACCES */
	snprintf(p, sizeof(p), "%s/ro", fx->dir);
	assert_int_equal(mkdir(p, 0555), 0);
	snprintf(p, sizeof(p), "%s/ro/x/y", fx->dir);
	changed = as_nobody();
	err.msg[0] = 0;
	assert_int_equal(fs_mkdirs(p, 0700, &err), LS_IO);
	regain(changed);
	assert_non_null(strstr(err.msg, strerror(EACCES)));
	/* the parent's fsync fails: reported */
	snprintf(p, sizeof(p), "%s/n1/n2", fx->dir);
	sync_log_reset(NULL);
	sy.fail_at = 0;
	sy.fail_errno = EIO;
	assert_int_equal(fs_mkdirs(p, 0700, &err), LS_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_whole_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_creates_and_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_replaces_by_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fsyncs_file_then_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_relative_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_excl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fsync_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_for_readers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
