/*
 * index_terms.c - an entry's terms as the postings keep them (struct terms,
 * every keyed hash computed by ix_terms_fill()): the plaintext values of
 * action, outcome and service, the keyed hashes of the personal fields,
 * the keyed network prefixes and family of the source address, and the
 * keyed prefixes of the resource id up to its first '/' or ':' separators.
 */
#include "followers/index.h"
#include "followers/index_int.h"

void ix_mask_prefix(const uint8_t ip[16], unsigned bits, uint8_t out[16])
{
	unsigned i;

	for (i = 0; i < 16; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;

		out[i] = keep ? ip[i] & (uint8_t)(0xff << (8 - keep)) : 0;
	}
}

static void net_key(const uint8_t ip[16], unsigned bits, uint8_t m[17])
{
	m[0] = (uint8_t)bits;
	ix_mask_prefix(ip, bits, m + 1);
}

/*
 * The PF_NET term of a network prefix: plen, then the first NET_HASH_LEN
 * bytes of B("source_net", plen || masked address).  Two prefixes of the
 * same length share a term with probability 2^-64 per pair, which would
 * only add the other network's events to a CIDR answer.
 */
int ix_net_term(const struct blind *b, EVP_MD_CTX *w, const uint8_t ip[16], unsigned bits,
		uint8_t out[1 + NET_HASH_LEN])
{
	uint8_t m[17], h[BLIND_LEN];
	int rc;

	net_key(ip, bits, m);
	rc = ix_blind_hash(b, w, "source_net", m, sizeof(m), h);
	out[0] = (uint8_t)bits;
	memcpy(out + 1, h, NET_HASH_LEN);
	return rc;
}

/* Where the record the iterator returned last starts in its segment. */
int64_t ix_iter_offset(const struct store_iter *it)
{
	const char *seg;
	uint64_t off;

	store_iter_where(it, &seg, &off);
	return off <= INT64_MAX ? (int64_t)off : -1;
}

const char *ix_field_name(uint8_t field)
{
	static const char *const names[PF_FIELDS] = {
		"?", "action", "outcome", "service", "actor", "resource_type", "resource_id",
		"writer", "source_ip", "source_net", "ip_family"
	};

	return field < PF_FIELDS ? names[field] : "?";
}

static void add_term(struct pf_row *r, uint8_t field, const void *v, size_t n)
{
	/* A value longer than PF_TERM_MAX is kept as its first PF_TERM_MAX
	 * bytes (docs/FORMAT.md); an empty one has no term. */
	if (!v || n == 0)
		return;
	r->t[r->nterms].field = field;
	r->t[r->nterms].len = (uint8_t)(n > PF_TERM_MAX ? PF_TERM_MAX : n);
	r->t[r->nterms].bytes = v;
	r->nterms++;
}

/* Fill t from r (strings shared with r).  -1 when OpenSSL fails (OOM). */
int ix_terms_fill(const struct blind *bl, EVP_MD_CTX *w, struct bcache *bc, const struct row *r,
		  struct terms *t)
{
	struct pf_row *pr = &t->row;
	int bad = 0;
	size_t i;

	memset(pr, 0, sizeof(*pr));
	pr->has_time = r->has_time;
	pr->time_us = r->time_us;
	pr->has_received = r->has_received;
	pr->received_us = r->received_us;
	add_term(pr, PF_ACTION, r->action, r->action_n);
	add_term(pr, PF_OUTCOME, r->outcome, r->outcome_n);
	add_term(pr, PF_SERVICE, r->service, r->service_n);
	{
		/* Each value's slot first, all fetched at once; then the
		 * lookups (see struct bcache). */
		struct bkey {
			uint8_t field, pf;
			const char *name;
			const void *v;
			size_t n;
			uint8_t *out;
			struct bslot *sl;
		} k[4 + 1 + NET_MAX];
		uint8_t nets[NET_MAX][17], nh[NET_MAX][BLIND_LEN];
		const uint8_t *lens = NET_V6;
		size_t nk = 0, nn = 0;

#define KEY(val, len, f, pff, nm, o)                                                          \
	do {                                                                                   \
		if (val)                                                                       \
			k[nk++] = (struct bkey){ (f), (pff), (nm), (val), (len), (o), NULL };  \
	} while (0)
		KEY(r->actor, r->actor_n, BC_ACTOR, PF_ACTOR, "actor", t->actor);
		KEY(r->rtype, r->rtype_n, BC_RTYPE, PF_RTYPE, "resource_type", t->rtype);
		KEY(r->rid, r->rid_n, BC_RID, PF_RID, "resource_id", t->rid);
		KEY(r->writer, r->writer_n, BC_WRITER, PF_WRITER, "writer", t->writer);
#undef KEY
		if (r->has_ip) {
			bool v4 = !memcmp(r->ip, V4_MAPPED, sizeof(V4_MAPPED));

			lens = v4 ? NET_V4 : NET_V6;
			nn = v4 ? sizeof(NET_V4) : sizeof(NET_V6);
			t->family = v4 ? 4 : 6;
			k[nk++] = (struct bkey){ BC_IP, PF_IP, "source_ip", r->ip, 16, t->ip, NULL };
			for (i = 0; i < nn; i++) {
				net_key(r->ip, lens[i], nets[i]);
				k[nk++] = (struct bkey){ BC_NET, 0, "source_net", nets[i],
							 sizeof(nets[i]), nh[i], NULL };
			}
		}
		for (i = 0; i < nk; i++)
			k[i].sl = ix_bc_slot(bc, k[i].field, k[i].v, k[i].n);
		for (i = 0; i < nk; i++) {
			bad |= ix_blind_at(bl, w, k[i].sl, k[i].field, k[i].name, k[i].v, k[i].n,
					   k[i].out);
			if (k[i].pf)
				add_term(pr, k[i].pf, k[i].out, TERM_HASH_LEN);
		}
		for (i = 0; i < nn; i++) {
			t->net[i][0] = lens[i];
			memcpy(t->net[i] + 1, nh[i], NET_HASH_LEN);
			add_term(pr, PF_NET, t->net[i], 1 + NET_HASH_LEN);
		}
		if (r->has_ip)
			add_term(pr, PF_FAMILY, &t->family, 1);
	}
	/* resource.id up to and including each of its first INDEX_RID_PREFIXES
	 * '/' or ':', as PF_RID terms under their own name (never equal to an
	 * id's term but by a 2^-64 chance): resource_id=payments/ * */
	if (r->rid) {
		size_t np = 0;

		for (i = 0; i < r->rid_n && np < INDEX_RID_PREFIXES; i++) {
			if (r->rid[i] != '/' && r->rid[i] != ':')
				continue;
			bad |= ix_blind_at(bl, w, ix_bc_slot(bc, BC_RIDP, r->rid, i + 1), BC_RIDP,
					   "resource_id_prefix", r->rid, i + 1, t->ridp[np]);
			add_term(pr, PF_RID, t->ridp[np], TERM_HASH_LEN);
			np++;
		}
	}
	return bad ? -1 : 0;
}
