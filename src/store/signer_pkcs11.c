/*
 * signer_pkcs11.c - an Ed25519 key in a PKCS#11 token (signer.h), through
 * p11-kit: p11_kit_uri_parse() reads the RFC 7512 URI, p11-kit loads the
 * module (module-path=..., or every module registered with p11-kit) and the
 * signature is CKM_EDDSA (PKCS#11 3.0) on a CKK_EC_EDWARDS private key.
 *
 * Why not OpenSSL: Debian 12's libengine-pkcs11-openssl (libp11 0.4.12)
 * cannot enumerate a token that holds a CKK_EC_EDWARDS key ("Unable to
 * enumerate private keys", it then finds no key at all, not even an EC
 * P-256 one beside it), and Debian 12 has no pkcs11-provider for OpenSSL 3.
 *
 * One session, serialised by a mutex; a session the token dropped
 * (CKR_SESSION_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, ...) is opened and
 * logged into again once before a signature is given up.
 */
#include "store/signer.h"

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"
#include "base/fsutil.h"

struct p11 {
	pthread_mutex_t mu;
	P11KitUri *uri;
	CK_FUNCTION_LIST **mods;	/* p11_kit_modules_load_and_initialize(), or NULL */
	CK_FUNCTION_LIST *mod;		/* the module holding the token */
	int own_mod;			/* mod came from p11_kit_module_load() */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE sess;
	int have_sess;
	char pin[256];
	size_t pinlen;
	int have_pin;
	char label[256];
};

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

static ls_rc ck_err(struct ls_err *err, const char *what, CK_RV rv)
{
	return ls_err_set(err, rv == CKR_PIN_INCORRECT ? LS_DENIED : LS_IO,
			  "PKCS#11 %s: %s (0x%lx)", what, p11_kit_strerror(rv), (unsigned long)rv);
}

/* Find the first slot whose token matches the URI, in one module. */
static int find_slot(struct p11 *p, CK_FUNCTION_LIST *m)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	CK_INFO info;

	if (m->C_GetInfo(&info) == CKR_OK && !p11_kit_uri_match_module_info(p->uri, &info))
		return 0;
	if (m->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;

		if (m->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (p11_kit_uri_match_token_info(p->uri, &ti)) {
			p->mod = m;
			p->slot = slots[i];
			return 1;
		}
	}
	return 0;
}

static ls_rc open_session(struct p11 *p, struct ls_err *err)
{
	CK_RV rv;

	if (p->have_sess) {
		p->mod->C_CloseSession(p->sess);
		p->have_sess = 0;
	}
	rv = p->mod->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL, &p->sess);
	if (rv != CKR_OK)
		return ck_err(err, "C_OpenSession", rv);
	p->have_sess = 1;
	if (p->have_pin) {
		rv = p->mod->C_Login(p->sess, CKU_USER, (CK_UTF8CHAR_PTR)p->pin, p->pinlen);
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
			return ck_err(err, "C_Login", rv);
	}
	return LS_OK;
}

/* The one object of class cls and type CKK_EC_EDWARDS matching the URI's
 * label and id. */
static ls_rc find_key(struct p11 *p, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *h,
		      struct ls_err *err)
{
	CK_KEY_TYPE kt = CKK_EC_EDWARDS;
	CK_ATTRIBUTE t[4] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
	};
	CK_ULONG nt = 2, found = 0;
	CK_OBJECT_HANDLE hs[2];
	CK_ATTRIBUTE *a;
	CK_RV rv;

	if ((a = p11_kit_uri_get_attribute(p->uri, CKA_LABEL)))
		t[nt++] = *a;
	if ((a = p11_kit_uri_get_attribute(p->uri, CKA_ID)))
		t[nt++] = *a;
	rv = p->mod->C_FindObjectsInit(p->sess, t, nt);
	if (rv != CKR_OK)
		return ck_err(err, "C_FindObjectsInit", rv);
	rv = p->mod->C_FindObjects(p->sess, hs, 2, &found);
	p->mod->C_FindObjectsFinal(p->sess);
	if (rv != CKR_OK)
		return ck_err(err, "C_FindObjects", rv);
	if (found == 0)
		return ls_err_set(err, LS_NOTFOUND, "the token has no Ed25519 %s key %s",
				  cls == CKO_PRIVATE_KEY ? "private" : "public", p->label);
	if (found > 1)
		return ls_err_set(err, LS_INVALID,
				  "more than one Ed25519 key on the token matches %s: add object= "
				  "or id= to the URI", p->label);
	*h = hs[0];
	return LS_OK;
}

static ls_rc read_pin(struct p11 *p, struct ls_err *err)
{
	const char *v = p11_kit_uri_get_pin_value(p->uri);
	const char *src = p11_kit_uri_get_pin_source(p->uri);
	char *data = NULL;
	size_t len;
	ls_rc rc;

	if (v) {
		p->pinlen = strlen(v);
		if (p->pinlen >= sizeof(p->pin))
			return ls_err_set(err, LS_LIMIT, "PKCS#11 PIN too long");
		memcpy(p->pin, v, p->pinlen);
		p->have_pin = 1;
		return LS_OK;
	}
	if (!src)
		return LS_OK;
	if (strncmp(src, "file:", 5) == 0)
		src += 5;
	rc = fs_read_file(src, sizeof(p->pin) - 1, &data, &len, err);
	if (rc != LS_OK)
		return err_prefix(err, rc, "PKCS#11 pin-source: ");
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	memcpy(p->pin, data, len);
	p->pinlen = len;
	p->have_pin = 1;
	ls_wipe(data, len);
	free(data);
	return LS_OK;
}

ls_rc p11_open(const char *uri, struct p11 **out, struct ls_err *err)
{
	struct p11 *p;
	const char *mp;
	int r;
	ls_rc rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->uri = p11_kit_uri_new())) {
		free(p);
		return ls_err_set(err, LS_NOMEM, "out of memory");
	}
	pthread_mutex_init(&p->mu, NULL);
	/* The URI without its secrets, for messages. */
	snprintf(p->label, sizeof(p->label), "%.*s", (int)strcspn(uri, "?"), uri);
	r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN_AND_MODULE, p->uri);
	if (r != P11_KIT_URI_OK) {
		rc = ls_err_set(err, LS_INVALID, "bad PKCS#11 URI %s: %s", p->label,
				p11_kit_uri_message(r));
		goto fail;
	}
	rc = read_pin(p, err);
	if (rc != LS_OK)
		goto fail;
	mp = p11_kit_uri_get_module_path(p->uri);
	if (mp) {
		CK_RV rv;

		p->mod = p11_kit_module_load(mp, 0);
		if (!p->mod) {
			rc = ls_err_set(err, LS_NOTFOUND, "cannot load the PKCS#11 module %s: %s",
					mp, p11_kit_message() ? p11_kit_message() : "unknown error");
			goto fail;
		}
		p->own_mod = 1;
		rv = p11_kit_module_initialize(p->mod);
		if (rv != CKR_OK) {
			rc = ck_err(err, "C_Initialize", rv);
			p11_kit_module_release(p->mod);
			p->mod = NULL;
			p->own_mod = 0;
			goto fail;
		}
		if (!find_slot(p, p->mod)) {
			rc = ls_err_set(err, LS_NOTFOUND, "no token in %s matches %s", mp, p->label);
			goto fail;
		}
	} else {
		CK_FUNCTION_LIST *m = NULL;

		p->mods = p11_kit_modules_load_and_initialize(0);
		for (size_t i = 0; p->mods && p->mods[i] && !m; i++)
			if (find_slot(p, p->mods[i]))
				m = p->mods[i];
		if (!m) {
			rc = ls_err_set(err, LS_NOTFOUND,
					"no token matches %s in the PKCS#11 modules p11-kit knows "
					"(add module-path=... to the URI)", p->label);
			goto fail;
		}
	}
	rc = open_session(p, err);
	if (rc == LS_OK) {
		CK_OBJECT_HANDLE h;

		rc = find_key(p, CKO_PRIVATE_KEY, &h, err);
	}
	if (rc != LS_OK)
		goto fail;
	*out = p;
	return LS_OK;
fail:
	p11_close(p);
	return rc;
}

/* CKA_EC_POINT of an Ed25519 key: the DER OCTET STRING 04 20 <32 bytes>
 * (PKCS#11 3.0), or the 32 bytes bare (some tokens). */
ls_rc p11_public(struct p11 *p, uint8_t pub[32], struct ls_err *err)
{
	uint8_t pt[64];
	CK_ATTRIBUTE a = { CKA_EC_POINT, pt, sizeof(pt) };
	CK_OBJECT_HANDLE h;
	ls_rc rc;
	CK_RV rv;

	pthread_mutex_lock(&p->mu);
	rc = find_key(p, CKO_PUBLIC_KEY, &h, err);
	if (rc == LS_OK) {
		rv = p->mod->C_GetAttributeValue(p->sess, h, &a, 1);
		if (rv != CKR_OK)
			rc = ck_err(err, "C_GetAttributeValue(CKA_EC_POINT)", rv);
		else if (a.ulValueLen == 34 && pt[0] == 0x04 && pt[1] == 0x20)
			memcpy(pub, pt + 2, 32);
		else if (a.ulValueLen == 32)
			memcpy(pub, pt, 32);
		else
			rc = ls_err_set(err, LS_INVALID, "the token's public key %s is not Ed25519",
					p->label);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static ls_rc sign_once(struct p11 *p, const uint8_t *msg, size_t n, uint8_t sig[64], CK_RV *rvp,
		       struct ls_err *err)
{
	CK_MECHANISM mech = { CKM_EDDSA, NULL, 0 };
	CK_ULONG slen = 64;
	CK_OBJECT_HANDLE h;
	ls_rc rc;

	*rvp = CKR_OK;
	rc = find_key(p, CKO_PRIVATE_KEY, &h, err);
	if (rc != LS_OK)
		return rc;
	*rvp = p->mod->C_SignInit(p->sess, &mech, h);
	if (*rvp != CKR_OK)
		return ck_err(err, "C_SignInit(CKM_EDDSA)", *rvp);
	*rvp = p->mod->C_Sign(p->sess, (CK_BYTE_PTR)msg, n, sig, &slen);
	if (*rvp != CKR_OK)
		return ck_err(err, "C_Sign", *rvp);
	if (slen != 64)
		return ls_err_set(err, LS_INVALID, "the token gave a %lu-byte signature, not 64",
				  (unsigned long)slen);
	return LS_OK;
}

ls_rc p11_sign(struct p11 *p, const uint8_t *msg, size_t n, uint8_t sig[64], struct ls_err *err)
{
	CK_RV rv;
	ls_rc rc;

	pthread_mutex_lock(&p->mu);
	rc = sign_once(p, msg, n, sig, &rv, err);
	if (rc != LS_OK && (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
			    rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_DEVICE_REMOVED ||
			    rv == CKR_TOKEN_NOT_PRESENT)) {
		rc = open_session(p, err);
		if (rc == LS_OK)
			rc = sign_once(p, msg, n, sig, &rv, err);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void p11_close(struct p11 *p)
{
	if (!p)
		return;
	if (p->have_sess && p->mod)
		p->mod->C_CloseSession(p->sess);
	if (p->own_mod && p->mod) {
		p11_kit_module_finalize(p->mod);
		p11_kit_module_release(p->mod);
	}
	if (p->mods)
		p11_kit_modules_finalize_and_release(p->mods);
	if (p->uri)
		p11_kit_uri_free(p->uri);
	pthread_mutex_destroy(&p->mu);
	ls_wipe(p->pin, sizeof(p->pin));
	free(p);
}
