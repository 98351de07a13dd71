/*
 * objstore_cfg.c - objstore_cfg_env(): fill a store's configuration the way
 * AWS tools do, what struct objstore_cfg leaves empty taken in this order:
 *
 *   1. the struct itself (options given to logseal);
 *   2. the environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
 *      AWS_SESSION_TOKEN), AWS_ENDPOINT_URL_S3 then AWS_ENDPOINT_URL,
 *      AWS_REGION then AWS_DEFAULT_REGION, LOGSEAL_S3_PATH_STYLE=1,
 *      LOGSEAL_S3_CACERT;
 *   3. the files of profile AWS_PROFILE (else "default"): the credentials
 *      file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials; sections
 *      "[NAME]") for aws_access_key_id, aws_secret_access_key,
 *      aws_session_token; the config file (AWS_CONFIG_FILE, else
 *      ~/.aws/config; sections "[default]" and "[profile NAME]") for region,
 *      endpoint_url and, when the credentials file has none, the keys;
 *   4. region us-east-1.
 *
 * An access key and its secret always come from the same place (a key from
 * the environment is never paired with a secret from a file).  The files
 * are INI: "key = value" lines, '#' and ';' comments, spaces trimmed.
 */
#include "store/objstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/fsutil.h"

static void set(char *dst, size_t cap, const char *v)
{
	if (v && *v && !*dst)
		snprintf(dst, cap, "%s", v);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Find key in section sect (exact name between the brackets) of the INI text
 * s; copy its value into out.  Returns 1 when found. */
static int ini_get(const char *s, const char *sect, const char *key, char *out, size_t cap)
{
	int in = 0;
	size_t kl = strlen(key), sl = strlen(sect);

	while (s && *s) {
		const char *e = strchr(s, '\n'), *p = s, *q;
		size_t n;

		if (!e)
			e = s + strlen(s);
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		q = e;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r'))
			q--;
		n = (size_t)(q - p);
		if (n >= 2 && *p == '[' && q[-1] == ']') {
			const char *a = p + 1, *b = q - 1;

			while (a < b && (*a == ' ' || *a == '\t'))
				a++;
			while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
				b--;
			in = (size_t)(b - a) == sl && memcmp(a, sect, sl) == 0;
		} else if (in && n > kl && memcmp(p, key, kl) == 0) {
			const char *v = p + kl;

			while (v < q && (*v == ' ' || *v == '\t'))
				v++;
			if (v < q && *v == '=') {
				v++;
				while (v < q && (*v == ' ' || *v == '\t'))
					v++;
				if ((size_t)(q - v) < cap) {
					memcpy(out, v, (size_t)(q - v));
					out[q - v] = 0;
					return 1;
				}
			}
		}
		s = *e ? e + 1 : e;
	}
	return 0;
}

static char *read_aws_file(const char *var, const char *name)
{
	char path[1024];
	const char *home = env("HOME");
	char *data = NULL;
	size_t n;

	if (env(var))
		snprintf(path, sizeof(path), "%s", env(var));
	else if (home)
		snprintf(path, sizeof(path), "%s/.aws/%s", home, name);
	else
		return NULL;
	if (fs_read_file(path, 1u << 20, &data, &n, NULL) != LS_OK)
		return NULL;
	return data;
}

static void creds_from(struct objstore_cfg *cfg, const char *text, const char *sect)
{
	char ak[256], sk[256], tok[4096];

	if (cfg->access_key[0] || !text)
		return;
	if (!ini_get(text, sect, "aws_access_key_id", ak, sizeof(ak)) ||
	    !ini_get(text, sect, "aws_secret_access_key", sk, sizeof(sk)) || !ak[0] || !sk[0])
		return;
	set(cfg->access_key, sizeof(cfg->access_key), ak);
	set(cfg->secret_key, sizeof(cfg->secret_key), sk);
	if (ini_get(text, sect, "aws_session_token", tok, sizeof(tok)))
		set(cfg->session_token, sizeof(cfg->session_token), tok);
	ls_wipe(sk, sizeof(sk));
	ls_wipe(tok, sizeof(tok));
}

ls_rc objstore_cfg_env(struct objstore_cfg *cfg, struct ls_err *err)
{
	struct objstore_url u;
	const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
	char csect[300], v[512];
	char *creds, *conf;
	ls_rc rc;

	rc = objstore_parse_url(cfg->url, &u, err);
	if (rc != LS_OK)
		return rc;
	if (strcmp(profile, "default") == 0)
		snprintf(csect, sizeof(csect), "default");
	else
		snprintf(csect, sizeof(csect), "profile %s", profile);

	/* 2. the environment */
	if (!cfg->access_key[0] && env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
		set(cfg->access_key, sizeof(cfg->access_key), env("AWS_ACCESS_KEY_ID"));
		set(cfg->secret_key, sizeof(cfg->secret_key), env("AWS_SECRET_ACCESS_KEY"));
		set(cfg->session_token, sizeof(cfg->session_token), env("AWS_SESSION_TOKEN"));
	}
	set(cfg->endpoint, sizeof(cfg->endpoint), env("AWS_ENDPOINT_URL_S3"));
	set(cfg->endpoint, sizeof(cfg->endpoint), env("AWS_ENDPOINT_URL"));
	set(cfg->region, sizeof(cfg->region), env("AWS_REGION"));
	set(cfg->region, sizeof(cfg->region), env("AWS_DEFAULT_REGION"));
	if (env("LOGSEAL_S3_PATH_STYLE") && strcmp(env("LOGSEAL_S3_PATH_STYLE"), "1") == 0)
		cfg->path_style = 1;
	set(cfg->cacert, sizeof(cfg->cacert), env("LOGSEAL_S3_CACERT"));

	/* 3. the files */
	creds = read_aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	conf = read_aws_file("AWS_CONFIG_FILE", "config");
	creds_from(cfg, creds, profile);
	creds_from(cfg, conf, csect);
	if (conf && ini_get(conf, csect, "region", v, sizeof(v)))
		set(cfg->region, sizeof(cfg->region), v);
	if (conf && ini_get(conf, csect, "endpoint_url", v, sizeof(v)))
		set(cfg->endpoint, sizeof(cfg->endpoint), v);
	if (creds) {
		ls_wipe(creds, strlen(creds));
		free(creds);
	}
	if (conf) {
		ls_wipe(conf, strlen(conf));
		free(conf);
	}

	/* 4. defaults */
	set(cfg->region, sizeof(cfg->region), "us-east-1");
	if (u.s3 && (!cfg->access_key[0] || !cfg->secret_key[0]))
		return ls_err_set(err, LS_INVALID,
				  "%.300s: no credentials (set AWS_ACCESS_KEY_ID and "
				  "AWS_SECRET_ACCESS_KEY, or profile %.100s in the AWS credentials file)",
				  cfg->url, profile);
	return LS_OK;
}
