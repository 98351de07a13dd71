/*
 * cfgseal_format.c - the seal of a sealed file: its MAC, sealing a text,
 * splitting the seal off and checking it, and the process-wide adopt mode
 * (cfgseal_format.h; docs/FORMAT.md section 8).  No keys and no files: the
 * caller brings the key, so keys.c can seal master.json with it too.
 */
#include "store/cfgseal_format.h"

#include <stdlib.h>
#include <string.h>

#include "base/crypto.h"

#define SEAL_HEAD "{\"mac\":\""
#define SEAL_HEAD_LEN 8
#define SEAL_HEX (2 * CFGSEAL_MAC_LEN)
/* {"mac":"<64 hex>" then ',' or '}' */
#define SEAL_PREFIX_LEN (SEAL_HEAD_LEN + SEAL_HEX + 1)

static int adopt_mode;

void cfgseal_set_adopt(int on)
{
	adopt_mode = on;
}

int cfgseal_adopt(void)
{
	return adopt_mode;
}

const char *cfgseal_label(enum cfgseal_purpose p)
{
	switch (p) {
	case CFGSEAL_TOKENS: return "logseal/cfgseal/v1/tokens";
	case CFGSEAL_MASTER: return "logseal/cfgseal/v1/master";
	case CFGSEAL_ALERTS: return "logseal/cfgseal/v1/alerts";
	case CFGSEAL_VERIFY: return "logseal/cfgseal/v1/verify-state";
	case CFGSEAL_CHECKPOINTS: return "logseal/cfgseal/v1/checkpoints";
	case CFGSEAL_OBJSTORE: return "logseal/cfgseal/v1/objstore";
	case CFGSEAL_CLUSTER_TOKENS: return "logseal/cfgseal/v1/cluster-tokens";
	}
	return "logseal/cfgseal/v1/unknown";
}

void cfgseal_mac(const uint8_t key[CFGSEAL_KEY_LEN], const char *name, const void *text,
		 size_t len, uint8_t mac[CFGSEAL_MAC_LEN])
{
	size_t nl = strlen(name);
	uint8_t *buf = malloc(nl + 1 + len);

	if (!buf) {
		/* Never a seal that anything could match. */
		memset(mac, 0, CFGSEAL_MAC_LEN);
		mac[0] = 1;
		return;
	}
	memcpy(buf, name, nl);
	buf[nl] = 0;
	memcpy(buf + nl + 1, text, len);
	ls_hmac_sha256(key, CFGSEAL_KEY_LEN, buf, nl + 1 + len, mac);
	free(buf);
}

ls_rc cfgseal_seal(const uint8_t key[CFGSEAL_KEY_LEN], const char *name, const char *text,
		   size_t len, char **out, size_t *outlen)
{
	uint8_t mac[CFGSEAL_MAC_LEN];
	char *f;
	size_t n;

	if (len < 2 || text[0] != '{')
		return LS_INVALID;
	cfgseal_mac(key, name, text, len, mac);
	/* "{}" has no member to put a comma before. */
	n = SEAL_PREFIX_LEN + (len == 2 && text[1] == '}' ? 1 : len);
	f = malloc(n + 1);
	if (!f)
		return LS_NOMEM;
	memcpy(f, SEAL_HEAD, SEAL_HEAD_LEN);
	ls_hex(mac, sizeof(mac), f + SEAL_HEAD_LEN);
	f[SEAL_HEAD_LEN + SEAL_HEX] = '"';
	if (len == 2 && text[1] == '}') {
		f[SEAL_PREFIX_LEN] = '}';
	} else {
		f[SEAL_PREFIX_LEN] = ',';
		memcpy(f + SEAL_PREFIX_LEN + 1, text + 1, len - 1);
	}
	f[n] = 0;
	*out = f;
	*outlen = n;
	return LS_OK;
}

ls_rc cfgseal_split(char *data, size_t *len, uint8_t mac[CFGSEAL_MAC_LEN])
{
	size_t n = *len;

	if (n < SEAL_PREFIX_LEN + 1 || memcmp(data, SEAL_HEAD, SEAL_HEAD_LEN) != 0 ||
	    data[SEAL_HEAD_LEN + SEAL_HEX] != '"' ||
	    ls_unhex(data + SEAL_HEAD_LEN, SEAL_HEX, mac, CFGSEAL_MAC_LEN) != LS_OK)
		return LS_NOTFOUND;
	if (data[SEAL_PREFIX_LEN] == '}' && n == SEAL_PREFIX_LEN + 1) {
		data[0] = '{';
		data[1] = '}';
		data[2] = 0;
		*len = 2;
		return LS_OK;
	}
	if (data[SEAL_PREFIX_LEN] != ',')
		return LS_NOTFOUND;
	data[0] = '{';
	memmove(data + 1, data + SEAL_PREFIX_LEN + 1, n - SEAL_PREFIX_LEN - 1);
	*len = n - SEAL_PREFIX_LEN;
	data[*len] = 0;
	return LS_OK;
}

ls_rc cfgseal_open(const uint8_t key[CFGSEAL_KEY_LEN], const char *name, char *data,
		   size_t *len)
{
	uint8_t mac[CFGSEAL_MAC_LEN], want[CFGSEAL_MAC_LEN];
	ls_rc rc = cfgseal_split(data, len, mac);

	if (rc != LS_OK)
		return rc;
	cfgseal_mac(key, name, data, *len, want);
	return ls_ct_equal(mac, want, sizeof(mac)) ? LS_OK : LS_TAMPERED;
}
