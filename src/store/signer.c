/*
 * signer.c - the log's signer (signer.h): keys/log.key in memory, or an
 * external one (a PKCS#11 token, signer_pkcs11.c, or a sign command, run
 * here) checked against DIR/verifier.key; the key files `init` writes.
 *
 * Files (docs/FORMAT.md, docs/KEYS.md):
 *   DIR/keys/log.key   "PRIVATE+KEY+<name>+<hex id>+<base64(0x01||seed)>\n", 0600
 *                      (the embedded key only)
 *   DIR/keys/seal.key  base64 of 32 random bytes "\n", 0600 (external signer
 *                      only: the MAC key of the sealed configuration files)
 *   DIR/verifier.key   "<name>+<hex id>+<base64(0x01||pub)>\n", 0644
 */
#include "store/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/crypto.h"
#include "base/fsutil.h"
#include "store/keys.h"

extern char **environ;

struct signer {
	struct p11 *p11;
	char **argv;			/* the sign command, or NULL */
	char what[128];			/* for messages */
	uint8_t pub[32];		/* the log's public key (invariant 2) */
	char keyname[NOTE_MAX_NAME + 16];
	void (*notice)(void *ctx, const char *msg);
	void *notice_ctx;
	pthread_mutex_t mu;		/* last_msg, last_t */
	char last_msg[sizeof(((struct ls_err *)0)->msg)];
	time_t last_t;
};

int signer_spec_external(const struct signer_spec *spec)
{
	return spec && ((spec->pkcs11 && *spec->pkcs11) || (spec->command && *spec->command));
}

/* err's message with a prefix (err->msg is copied first: formatting it into
 * itself would overlap). */
static ls_rc err_prefix(struct ls_err *err, ls_rc rc, const char *prefix)
{
	char m[sizeof(err->msg)];

	if (!err)
		return rc;
	snprintf(m, sizeof(m), "%s", err->msg);
	return ls_err_set(err, rc, "%s%s", prefix, m);
}

/* ------------------------------------------------------------- command --- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t cmd_timeout_ms(void)
{
	const char *v = getenv(SIGNER_TIMEOUT_ENV);
	char *end;
	unsigned long long t;

	if (!v || !*v)
		return SIGNER_CMD_TIMEOUT_MS;
	t = strtoull(v, &end, 10);
	return (*end || t == 0) ? SIGNER_CMD_TIMEOUT_MS : (uint64_t)t;
}

/* What the command printed: 64 raw bytes, or base64 of them between white
 * space. */
static ls_rc parse_sig(const char *out, size_t n, uint8_t sig[64], struct ls_err *err)
{
	size_t a = 0, b = n, got = 0;
	uint8_t buf[96];

	if (n == 64) {
		memcpy(sig, out, 64);
		return LS_OK;
	}
	while (a < b && strchr(" \t\r\n", out[a]))
		a++;
	while (b > a && strchr(" \t\r\n", out[b - 1]))
		b--;
	if (b - a == 0)
		return ls_err_set(err, LS_INVALID, "the sign command printed no signature");
	if (ls_b64_decode(out + a, b - a, buf, sizeof(buf), &got) != LS_OK || got != 64)
		return ls_err_set(err, LS_INVALID,
				  "the sign command printed %zu bytes that are neither a 64-byte "
				  "signature nor its base64", n);
	memcpy(sig, buf, 64);
	return LS_OK;
}

ls_rc signer_run_command(char *const *argv, const uint8_t *msg, size_t n, uint8_t sig[64],
			 struct ls_err *err)
{
	char out[SIGNER_CMD_OUT_CAP + 1], errb[512];
	size_t no = 0, ne = 0, nin = 0;
	int in[2] = { -1, -1 }, po[2] = { -1, -1 }, pe[2] = { -1, -1 }, st = 0, e, timed_out = 0;
	int too_much = 0;
	posix_spawn_file_actions_t fa;
	uint64_t deadline = mono_ms() + cmd_timeout_ms();
	pid_t pid;
	ls_rc rc;

	/* stdin is a socket so that a command that exits early gives EPIPE
	 * (MSG_NOSIGNAL), never SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
	    pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
		rc = ls_err_set(err, LS_IO, "sign command: %s", strerror(errno));
		goto close_all;
	}
	shutdown(in[0], SHUT_WR);
	e = posix_spawn_file_actions_init(&fa);
	if (e == 0) {
		e = posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
		if (e == 0)
			e = posix_spawn_file_actions_adddup2(&fa, po[1], STDOUT_FILENO);
		if (e == 0)
			e = posix_spawn_file_actions_adddup2(&fa, pe[1], STDERR_FILENO);
		if (e == 0)
			e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(in[0]);
	close(po[1]);
	close(pe[1]);
	in[0] = po[1] = pe[1] = -1;
	if (e != 0) {
		rc = ls_err_set(err, LS_IO, "sign command: cannot run %s: %s", argv[0], strerror(e));
		goto close_all;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	if (n == 0) {
		close(in[1]);
		in[1] = -1;
	}
	while (po[0] >= 0 || pe[0] >= 0) {
		struct pollfd pf[3];
		int np = 0, r;
		uint64_t now = mono_ms();

		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		pf[np++] = (struct pollfd){ .fd = po[0], .events = POLLIN };
		pf[np++] = (struct pollfd){ .fd = pe[0], .events = POLLIN };
		pf[np++] = (struct pollfd){ .fd = in[1], .events = POLLOUT };
		r = poll(pf, 3, (int)(deadline - now));
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (pf[0].revents) {
			ssize_t k = read(po[0], out + no, sizeof(out) - 1 - no);

			if (k > 0)
				no += (size_t)k;
			if (no == sizeof(out) - 1) {
				too_much = 1;
				break;
			}
			if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) {
				close(po[0]);
				po[0] = -1;
			}
		}
		if (pf[1].revents) {
			char tmp[512];
			ssize_t k = read(pe[0], tmp, sizeof(tmp));

			if (k > 0 && ne < sizeof(errb) - 1) {
				size_t c = (size_t)k < sizeof(errb) - 1 - ne ? (size_t)k
									 : sizeof(errb) - 1 - ne;
				memcpy(errb + ne, tmp, c);
				ne += c;
			}
			if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) {
				close(pe[0]);
				pe[0] = -1;
			}
		}
		if (pf[2].revents) {
			ssize_t k = send(in[1], msg + nin, n - nin, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (k > 0)
				nin += (size_t)k;
			if (nin == n || (k < 0 && errno != EAGAIN && errno != EINTR)) {
				close(in[1]);
				in[1] = -1;
			}
		}
	}
	if (timed_out || too_much)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = -1;
			break;
		}
	}
	errb[ne] = 0;
	for (size_t i = 0; i < ne; i++)
		if (errb[i] == '\n' || errb[i] == '\r' || errb[i] == '\t')
			errb[i] = ' ';
	while (ne && errb[ne - 1] == ' ')
		errb[--ne] = 0;
	if (timed_out)
		rc = ls_err_set(err, LS_BUSY, "sign command %s: no answer within %llu ms; killed",
				argv[0], (unsigned long long)cmd_timeout_ms());
	else if (too_much)
		rc = ls_err_set(err, LS_LIMIT, "sign command %s: more than %d bytes of output; killed",
				argv[0], SIGNER_CMD_OUT_CAP);
	else if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		rc = ls_err_set(err, LS_IO, "sign command %s failed (%s %d)%s%s", argv[0],
				st != -1 && WIFSIGNALED(st) ? "signal" : "status",
				st == -1 ? -1 : WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
				ne ? ": " : "", errb);
	else
		rc = parse_sig(out, no, sig, err);
close_all:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	return rc;
}

/* ------------------------------------------------------------- signer --- */

/* note_sign_fn: the backend, then a notice of a failure (the checkpointer
 * retries every interval: the same message once a minute at most). */
static ls_rc ext_sign(void *ctx, const uint8_t *msg, size_t n, uint8_t sig[64],
		      struct ls_err *err)
{
	struct signer *sg = ctx;
	struct ls_err e = { "" };
	ls_rc rc;

	if (sg->p11)
		rc = p11_sign(sg->p11, msg, n, sig, &e);
	else
		rc = signer_run_command(sg->argv, msg, n, sig, &e);
	/* note_sign() checks it too; here so that the failure is told. */
	if (rc == LS_OK && ls_ed25519_verify(sg->pub, msg, n, sig) != LS_OK)
		rc = ls_err_set(&e, LS_TAMPERED,
				"%s returned a signature that does not verify under the public key "
				"of %s; nothing published", sg->what, sg->keyname);
	if (rc != LS_OK) {
		time_t now = time(NULL);
		int say;

		pthread_mutex_lock(&sg->mu);
		say = strcmp(sg->last_msg, e.msg) != 0 || now - sg->last_t >= 60;
		if (say) {
			snprintf(sg->last_msg, sizeof(sg->last_msg), "%s", e.msg);
			sg->last_t = now;
		}
		pthread_mutex_unlock(&sg->mu);
		if (say && sg->notice) {
			char line[sizeof(e.msg) + 64];

			snprintf(line, sizeof(line), "signing a checkpoint failed: %s", e.msg);
			sg->notice(sg->notice_ctx, line);
		}
		return ls_err_set(err, rc, "%s", e.msg);
	}
	return LS_OK;
}

void signer_close(struct signer *sg)
{
	if (!sg)
		return;
	p11_close(sg->p11);
	free(sg->argv);
	pthread_mutex_destroy(&sg->mu);
	free(sg);
}

static ls_rc signer_open(const struct signer_spec *spec, struct signer **out, struct ls_err *err)
{
	struct signer *sg;
	ls_rc rc;

	*out = NULL;
	if (spec->pkcs11 && *spec->pkcs11 && spec->command && *spec->command)
		return ls_err_set(err, LS_INVALID, "give a PKCS#11 key or a sign command, not both");
	sg = calloc(1, sizeof(*sg));
	if (!sg)
		return ls_err_set(err, LS_NOMEM, "out of memory");
	pthread_mutex_init(&sg->mu, NULL);
	sg->notice = spec->notice;
	sg->notice_ctx = spec->notice_ctx;
	if (spec->pkcs11 && *spec->pkcs11) {
		if (strncmp(spec->pkcs11, "pkcs11:", 7) != 0)
			rc = ls_err_set(err, LS_INVALID, "--signing-key wants a pkcs11: URI");
		else
			rc = p11_open(spec->pkcs11, &sg->p11, err);
		snprintf(sg->what, sizeof(sg->what), "the PKCS#11 key");
	} else {
		rc = keys_split_command(spec->command, &sg->argv, err);
		if (rc != LS_OK)
			rc = err_prefix(err, rc, "sign command: ");
		snprintf(sg->what, sizeof(sg->what), "the sign command");
	}
	if (rc != LS_OK) {
		signer_close(sg);
		return rc;
	}
	*out = sg;
	return LS_OK;
}

/* A public key file: a verifier key line, or an Ed25519 PEM public key
 * (name then is `origin`, or unknown: v->name left empty). */
static ls_rc read_public(const char *path, struct note_verifier *v, struct ls_err *err)
{
	char *data = NULL;
	size_t len, plen = 32;
	EVP_PKEY *pk = NULL;
	BIO *b;
	ls_rc rc;

	memset(v, 0, sizeof(*v));
	rc = fs_read_file(path, 65536, &data, &len, err);
	if (rc != LS_OK)
		return rc;
	if (!strstr(data, "-----BEGIN")) {
		while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
			len--;
		rc = note_verifier_parse(data, len, v, err);
		free(data);
		if (rc != LS_OK) {
			char pre[PATH_MAX + 4];

			snprintf(pre, sizeof(pre), "%s: ", path);
			return err_prefix(err, rc, pre);
		}
		return LS_OK;
	}
	b = BIO_new_mem_buf(data, (int)len);
	if (b)
		pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	free(data);
	if (!pk || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pk, v->pub, &plen) != 1 || plen != 32)
		rc = ls_err_set(err, LS_INVALID, "%s: not an Ed25519 public key", path);
	EVP_PKEY_free(pk);
	return rc;
}

/* The external signer's public key: from the token, or the spec's file. */
static ls_rc ext_public(struct signer *sg, const struct signer_spec *spec,
			struct note_verifier *v, int *have, struct ls_err *err)
{
	ls_rc rc;

	*have = 0;
	memset(v, 0, sizeof(*v));
	if (sg->p11) {
		rc = p11_public(sg->p11, v->pub, err);
		if (rc == LS_OK)
			*have = 1;
		else if (rc != LS_NOTFOUND)
			return rc;
	}
	if (spec->verifier_key) {
		struct note_verifier f;

		rc = read_public(spec->verifier_key, &f, err);
		if (rc != LS_OK)
			return rc;
		if (*have && memcmp(f.pub, v->pub, 32) != 0)
			return ls_err_set(err, LS_DENIED, "%s is not the public key of %s",
					  spec->verifier_key, spec->pkcs11);
		*v = f;
		*have = 1;
	}
	return LS_OK;
}

/* One signature made and checked at the open: a token that cannot sign
 * with the key, or a command that signs with another, is found now. */
static ls_rc probe(struct note_signer *s, struct ls_err *err)
{
	static const char text[] = "logseal signer check\n";
	char *note = NULL;
	ls_rc rc = note_sign(s, text, sizeof(text) - 1, &note, err);

	free(note);
	return rc;
}

static ls_rc load_file_key(const char *dir, struct note_signer *s, struct ls_err *err)
{
	char path[PATH_MAX], *data = NULL;
	size_t len;
	struct stat st;
	ls_rc rc;

	snprintf(path, sizeof(path), "%s/keys/log.key", dir);
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		return ls_err_set(err, LS_DENIED,
				  "%s is readable by group or others (mode %03o); chmod 600 it",
				  path, (unsigned)(st.st_mode & 0777));
	rc = fs_read_file(path, 4096, &data, &len, err);
	if (rc == LS_NOTFOUND)
		return ls_err_set(err, LS_NOTFOUND,
				  "%s is missing: if this log's key is off the disk, give "
				  "--signing-key pkcs11:... or --sign-command", path);
	if (rc != LS_OK)
		return rc;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	rc = note_signer_parse(data, len, s, err);
	ls_wipe(data, len);
	free(data);
	return rc;
}

ls_rc signer_load(const char *dir, const struct signer_spec *spec, struct note_signer *s,
		  struct signer **out, struct ls_err *err)
{
	struct note_verifier want, got;
	char path[PATH_MAX], *data = NULL;
	struct signer *sg = NULL;
	size_t len;
	int have;
	ls_rc rc;

	*out = NULL;
	if (!signer_spec_external(spec))
		return load_file_key(dir, s, err);
	snprintf(path, sizeof(path), "%s/verifier.key", dir);
	rc = fs_read_file(path, 4096, &data, &len, err);
	if (rc != LS_OK)
		return rc;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	rc = note_verifier_parse(data, len, &want, err);
	free(data);
	if (rc != LS_OK)
		return err_prefix(err, rc, "DIR/verifier.key: ");
	rc = signer_open(spec, &sg, err);
	if (rc == LS_OK)
		rc = ext_public(sg, spec, &got, &have, err);
	if (rc == LS_OK && have && memcmp(got.pub, want.pub, 32) != 0)
		rc = ls_err_set(err, LS_DENIED,
				"the public key of %s is not the log's key in %s (%s+%08x)",
				sg->what, path, want.name, (unsigned)want.key_id);
	if (rc == LS_OK)
		rc = note_signer_external(want.name, want.pub, ext_sign, sg, s, err);
	if (rc == LS_OK) {
		memcpy(sg->pub, s->pub, 32);
		snprintf(sg->keyname, sizeof(sg->keyname), "%s+%08x", s->name, (unsigned)s->key_id);
	}
	if (rc == LS_OK)
		rc = probe(s, err);
	if (rc != LS_OK) {
		note_signer_wipe(s);
		signer_close(sg);
		return rc;
	}
	*out = sg;
	return LS_OK;
}

static ls_rc write_line(const char *path, const char *line, mode_t mode, struct ls_err *err)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s\n", line);
	ls_rc rc;

	if (n < 0 || (size_t)n >= sizeof(buf))
		return ls_err_set(err, LS_LIMIT, "key line too long");
	rc = fs_write_file(path, buf, (size_t)n, mode, mode == 0600, err);
	ls_wipe(buf, sizeof(buf));
	return rc;
}

ls_rc signer_create(const char *dir, const char *origin, const struct signer_spec *spec,
		    struct note_signer *s, struct signer **out, struct ls_err *err)
{
	char path[PATH_MAX], line[1024];
	struct note_verifier v;
	struct signer *sg = NULL;
	int have = 0;
	ls_rc rc;

	*out = NULL;
	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/keys", dir);
	rc = fs_mkdirs(path, 0700, err);
	if (rc != LS_OK)
		return rc;
	chmod(dir, 0700);
	if (!signer_spec_external(spec)) {
		rc = note_signer_generate(origin, s, err);
		if (rc == LS_OK)
			rc = note_signer_format(s, line, sizeof(line) - 1);
		snprintf(path, sizeof(path), "%s/keys/log.key", dir);
		if (rc == LS_OK)
			rc = write_line(path, line, 0600, err);
		ls_wipe(line, sizeof(line));
	} else {
		uint8_t k[32];

		rc = signer_open(spec, &sg, err);
		if (rc == LS_OK)
			rc = ext_public(sg, spec, &v, &have, err);
		if (rc == LS_OK && !have)
			rc = ls_err_set(err, LS_INVALID,
					"%s gives no public key: give --verifier-key FILE", sg->what);
		if (rc == LS_OK && v.name[0] && strcmp(v.name, origin) != 0)
			rc = ls_err_set(err, LS_INVALID,
					"the verifier key is named %s, not the origin %s", v.name,
					origin);
		if (rc == LS_OK)
			rc = note_signer_external(origin, v.pub, ext_sign, sg, s, err);
		if (rc == LS_OK) {
			memcpy(sg->pub, s->pub, 32);
			snprintf(sg->keyname, sizeof(sg->keyname), "%s+%08x", s->name,
				 (unsigned)s->key_id);
		}
		if (rc == LS_OK)
			rc = probe(s, err);
		if (rc == LS_OK)
			rc = ls_random(k, sizeof(k));
		if (rc == LS_OK) {
			ls_b64_encode(k, sizeof(k), line, sizeof(line));
			snprintf(path, sizeof(path), "%s/keys/seal.key", dir);
			rc = write_line(path, line, 0600, err);
		}
		ls_wipe(k, sizeof(k));
		ls_wipe(line, sizeof(line));
	}
	if (rc == LS_OK) {
		note_signer_verifier(s, &v);
		rc = note_verifier_format(&v, line, sizeof(line) - 1);
	}
	snprintf(path, sizeof(path), "%s/verifier.key", dir);
	if (rc == LS_OK)
		rc = write_line(path, line, 0644, err);
	if (rc != LS_OK) {
		note_signer_wipe(s);
		signer_close(sg);
		return rc;
	}
	*out = sg;
	return LS_OK;
}
