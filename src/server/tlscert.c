/*
 * tlscert.c - a self-signed certificate for trying logseal out over HTTPS
 * (`logseal init --self-signed`).  Production deployments bring their own.
 *
 * ECDSA P-256 rather than Ed25519: every TLS client supports it.  The
 * certificate names localhost and the loopback addresses in
 * subjectAltName (what clients actually check), is valid for one year, and
 * is marked as a CA for itself so that clients accept it as its own trust
 * anchor (curl --cacert cert.pem).
 */
#include "server/tlscert.h"

#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return 0;
	ok = X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return ok;
}

/* PEM text of whatever writer puts into a memory BIO. */
static ls_rc bio_text(BIO *b, char **out, size_t *len)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);

	if (n <= 0)
		return LS_NOMEM;
	*out = p;
	*len = (size_t)n;
	return LS_OK;
}

static ls_rc ensure_parent(const char *path, struct ls_err *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return LS_OK;
	if ((size_t)(slash - path) >= sizeof(dir))
		return ls_err_set(err, LS_LIMIT, "path too long");
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = 0;
	return fs_mkdirs(dir, 0700, err);
}

ls_rc tls_make_selfsigned(const char *cert_path, const char *key_path, const char *cn,
			  struct ls_err *err)
{
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	BIO *kb = NULL, *cb = NULL;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	char *text, san[320];
	size_t len;
	ls_rc rc = LS_NOMEM;

	if (!cn || !*cn)
		cn = "localhost";
	if (access(cert_path, F_OK) == 0 || access(key_path, F_OK) == 0)
		return ls_err_set(err, LS_EXISTS, "%s or %s already exists", cert_path, key_path);
	if ((rc = ensure_parent(cert_path, err)) != LS_OK ||
	    (rc = ensure_parent(key_path, err)) != LS_OK)
		return rc;
	rc = LS_NOMEM;
	pk = EVP_EC_gen("P-256");
	x = X509_new();
	if (!pk || !x)
		goto fail;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* a positive serial number */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto fail;
	if (!X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600) || !X509_set_pubkey(x, pk))
		goto fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"logseal",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto fail;
	if (!add_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
	    !add_ext(x, NID_ext_key_usage, "serverAuth") ||
	    !add_ext(x, NID_subject_key_identifier, "hash"))
		goto fail;
	/* Clients match the host against subjectAltName only: a CN other than
	 * localhost is named there too. */
	if (strcmp(cn, "localhost") == 0)
		snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1");
	else if (strlen(cn) > 253 || strpbrk(cn, ",:= \t"))
		goto fail;
	else
		snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:%s", cn);
	if (!add_ext(x, NID_subject_alt_name, san))
		goto fail;
	if (!X509_sign(x, pk, EVP_sha256()))
		goto fail;

	kb = BIO_new(BIO_s_mem());
	cb = BIO_new(BIO_s_mem());
	if (!kb || !cb || !PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cb, x))
		goto fail;
	if ((rc = bio_text(kb, &text, &len)) != LS_OK)
		goto fail;
	rc = fs_write_file(key_path, text, len, 0600, 1, err);
	OPENSSL_cleanse(text, len);
	if (rc != LS_OK)
		goto out;
	if ((rc = bio_text(cb, &text, &len)) != LS_OK)
		goto fail;
	rc = fs_write_file(cert_path, text, len, 0644, 1, err);
	if (rc != LS_OK)
		unlink(key_path);
	goto out;
fail:
	ls_err_set(err, rc == LS_OK ? LS_NOMEM : rc, "cannot make a self-signed certificate");
	if (rc == LS_OK)
		rc = LS_NOMEM;
out:
	BIO_free(kb);
	BIO_free(cb);
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}
