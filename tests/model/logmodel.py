#!/usr/bin/env python3
"""
logmodel.py - the model-based test of logseal's queries (issue 14): random
standard events are POSTed through the real server, kept in a plain
in-memory model (leaf index from each reply), and random queries
(GET /v1/events with every filter, alone and combined, cursors to the end,
both orders) and counts (GET /v1/events/stats) are compared with the
model's answer, leaf index by leaf index and body by body.  The shell
scripts tests/integration/t09*-model-*.sh drive it between server starts,
crashes and retention passes; the model lives in a JSON state file
between its runs.  Python 3 standard library only.

The server's own events (service "logseal": token changes, fired alerts,
recovery cuts, retention actions and the audit event of every read) are
read back and added to the model: `sync` lists service=logseal in
ascending order and takes every one below the first page's watermark W
(that query waits until the index covers every acknowledged entry).  An
entry at or above W that is not one of ours may only be a server event
appended since (the audit events of this test's own reads): it is dropped
from an answer before the comparison ("volatile").  Stats cannot drop
single entries, so every stats query carries a filter that no server
event can pass (a service, writer, actor, action or resource of ours, or
`to` before the first server event's time).

MODEL_BREAK=drop_last|to_inclusive|prefix_dotted|stats_total|ack_shift
makes the model answer wrongly on purpose (the last result dropped, `to`
taken as inclusive, a prefix cut back to its last dot, a stats total one
off, the first acknowledged index of a load one off), to see the
comparison fail; never set in the suite.

Output is TAP without numbers ("ok - ...", "not ok - ...", "# ...");
tests/model/model_lib.sh numbers it.  Every run prints its seed; the same
seed and the same server answers replay the same queries.

Commands (all take --url, --state):
  setup     --admin-token-file F       tokens; the state file
  ingest    --events N --phase P [--services A,B]
                                       random events in random batches
  importgen --events N --out F [--first I]
                                       NDJSON for `logseal import`, in the model
  sync                                 read the server's own events back
  check     --queries N --stats N --phase P [--badparams] [--sweep]
            [--mode lenient|strict]
  load      --ackfile F --phase P [--seconds S] [--threads T]
            send batches until the server goes away; one JSON line per
            batch sent and per batch acknowledged, flushed, in F
  crashcheck --ackfile F --phase P [--spot N] [--no-model]
                                       after the restart: every acknowledged
            event present exactly once at its index, unacknowledged ones at
            most once, nothing else of ours; resend the unacknowledged
            batches (idempotency keys: duplicates name the present index)
  retention --mode lenient|strict      the purged ranges (logseal.retention.purge
            events): queries never list a purged event; lenient (before a
            reindex) lets stats still count them, strict wants them gone
"""
import argparse
import calendar
import http.client
import ipaddress
import json
import math
import os
import random
import sys
import threading
import time
import urllib.parse

# ----------------------------------------------------------------- output

BREAK = os.environ.get("MODEL_BREAK", "")

FAILS = []


def tap(ok, desc, diag=()):
    print(("ok - " if ok else "not ok - ") + desc)
    for d in diag:
        print("#   " + d)
    sys.stdout.flush()
    if not ok:
        FAILS.append(desc)


def note(msg):
    print("# " + msg)
    sys.stdout.flush()


# ------------------------------------------------------------------ times

US = 1_000_000


def now_us():
    return time.time_ns() // 1000


def fmt_time(us):
    """The server's canonical form: UTC, six fraction digits, Z."""
    s, f = divmod(us, US)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%06dZ" % f


def parse_canon(s):
    """A canonical time (as the server stores it) in microseconds."""
    base = calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))
    frac = s[20:-1] if len(s) > 20 else ""
    return base * US + int((frac + "000000")[:6] or 0)


def fmt_any(rng, us):
    """us written as RFC 3339 in a random form that means the same instant:
    an offset other than Z, no fraction when it is zero, or nine digits
    (the server truncates digits past the sixth)."""
    off_min = rng.choice([0, 0, 0, 60, 120, 330, -300, -480, 765])
    s, f = divmod(us + off_min * 60 * US, US)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
    form = rng.random()
    if f == 0 and form < 0.5:
        pass
    elif f % 1000 == 0 and form < 0.7:
        text += ".%03d" % (f // 1000)
    elif form < 0.85:
        text += ".%06d" % f
    else:
        text += ".%06d%03d" % (f, rng.randrange(1000))
    if off_min == 0:
        return text + rng.choice(["Z", "Z", "z", "+00:00"])
    sign = "+" if off_min > 0 else "-"
    return text + "%s%02d:%02d" % (sign, abs(off_min) // 60, abs(off_min) % 60)


# ------------------------------------------------------------------- HTTP

class Client:
    """One keep-alive connection; GETs are retried once on a stale one."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None
        self.requests = 0

    def close(self):
        if self.conn:
            self.conn.close()
        self.conn = None

    def req(self, method, path, token=None, body=None, ctype=None, timeout=60):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
                h = {}
                if token:
                    h["Authorization"] = "Bearer " + token
                if ctype:
                    h["Content-Type"] = ctype
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                self.requests += 1
                if (r.getheader("Connection") or "").lower() == "close":
                    self.close()
                return r.status, data
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt or method != "GET":
                    raise
        raise AssertionError("unreachable")

    def get_json(self, path, token):
        st, data = self.req("GET", path, token)
        try:
            return st, json.loads(data) if data else None
        except ValueError:
            return st, None


# ------------------------------------------------------------- vocabulary

ACTIONS = [
    "auth.login", "auth.logout", "auth.mfa.verify", "auth.mfa.enroll", "auth.token.refresh",
    "doc", "doc.read", "doc.write", "doc.delete", "doc.share.create", "doc.share.revoke",
    "docs.read", "docs.index", "db.query", "db.query.slow", "db.admin.grant",
    "db.admin.revoke", "user.create", "user.delete", "user.update.email",
    "user.update.name", "admin.config.set", "admin.config.get", "k8s.pods.get",
    "k8s.pods.list", "k8s.secrets.get", "k8s.deploy.patch", "billing.invoice.create",
    "billing.invoice.void", "billing.refund",
]
OUTCOMES = ["success"] * 12 + ["failure"] * 3 + ["denied"] * 3 + ["error", "unknown"]
SERVICES = ["web", "api", "auth-svc", "billing", "k8s"]
ACTORS = ["u%03d" % i for i in range(1, 48)] + ["zo\u00eb", "svc:deploy", "a b", "x+y&z=1",
                                                  "\u5f20\u4e09"]
RTYPES = ["doc", "table", "bucket", "pod", "secret"]
RIDS = ["r%d" % i for i in range(1, 150)] + ["caf\u00e9/1", "x?y#z"]
V4_NETS = ["10.1.1", "10.1.2", "10.2.7", "10.200.0", "192.168.1", "192.168.2", "172.16.5",
           "203.0.113", "198.51.100", "127.0.0"]
V6_NETS = ["2001:db8:1:1", "2001:db8:1:2", "2001:db8:1:100", "2001:db8:2:1", "2001:db9:5:1",
           "fd00:1:2:3", "0:0:0:1"]
V4_LENS = [None, 0, 8, 16, 24, 32]
V6_LENS = [None, 0, 16, 32, 48, 56, 64, 128]
# Event times: ten days from 2024-01-01; server events carry the current
# time, years later, so `to` at or before TIME_END excludes all of them.
TIME_BASE = calendar.timegm((2024, 1, 1, 0, 0, 0)) * US
TIME_SPAN = 10 * 86400 * US
TIME_END = TIME_BASE + TIME_SPAN + 86400 * US


def rand_ip(rng):
    if rng.random() < 0.6:
        return "%s.%d" % (rng.choice(V4_NETS), rng.randrange(1, 21))
    return str(ipaddress.IPv6Address("%s::%x" % (rng.choice(V6_NETS), rng.randrange(1, 21))))


def ip16(text):
    """The 16-byte form the index uses (IPv4 as ::ffff:a.b.c.d), as an int."""
    a = ipaddress.ip_address(text)
    if a.version == 4:
        return (0xFFFF << 32) | int(a)
    return int(a)


def rand_event(rng, eid, bound_service, services=None):
    """A random standard event (what is sent); services: those an unbound
    writer picks from (default SERVICES)."""
    t = TIME_BASE + rng.randrange(TIME_SPAN)
    if rng.random() < 0.1:
        t -= t % US  # on a whole second: boundaries land exactly on events
    ev = {"time": None, "action": rng.choice(ACTIONS), "outcome": rng.choice(OUTCOMES)}
    actor = {"id": rng.choice(ACTORS)}
    if rng.random() < 0.8:
        actor["type"] = rng.choice(["user", "service", "system", "anonymous"])
    if rng.random() < 0.1:
        actor["name"] = "Name " + actor["id"]
    ev["actor"] = actor
    src = {}
    r = rng.random()
    if r < 0.08:
        src["endpoint"] = "gw-%d" % rng.randrange(3)
    else:
        src["ip"] = rand_ip(rng)
        if r > 0.9:
            src["endpoint"] = "lb-1"
        if rng.random() < 0.2:
            src["port"] = rng.randrange(65536)
    ev["source"] = src
    if rng.random() < 0.75:
        res = {}
        if rng.random() < 0.85:
            res["type"] = rng.choice(RTYPES)
        if rng.random() < 0.85:
            res["id"] = rng.choice(RIDS)
        if rng.random() < 0.1:
            res["name"] = "the thing"
        ev["resource"] = res
    if bound_service:
        if rng.random() < 0.5:
            ev["service"] = bound_service
    elif rng.random() < 0.75:
        ev["service"] = rng.choice(services or SERVICES)
    if eid is not None:
        ev["id"] = eid
    if rng.random() < 0.2:
        ev["reason"] = rng.choice(["policy", "ok", "r\u00e9sum\u00e9"])
    if rng.random() < 0.15:
        ev["details"] = {"n": rng.randrange(100), "tag": rng.choice(["a", "b"])}
    if rng.random() < 0.1:
        ev["request_id"] = "req-%d" % rng.randrange(10**6)
    sent = dict(ev)
    sent["time"] = fmt_any(rng, t)
    ev["time"] = fmt_time(t)
    return sent, ev


# ------------------------------------------------------------------ model

def rec_from(idx, body, rlo, rhi, kind):
    """A model record: the stored body (without received) and its fields."""
    ev = dict(body)
    ev.pop("received", None)
    actor = ev.get("actor") if isinstance(ev.get("actor"), dict) else {}
    src = ev.get("source") if isinstance(ev.get("source"), dict) else {}
    res = ev.get("resource") if isinstance(ev.get("resource"), dict) else {}
    t = ev.get("time")
    return {"i": idx, "k": kind, "ev": ev, "rlo": rlo, "rhi": rhi,
            "t": parse_canon(t) if isinstance(t, str) else None,
            "actor": actor.get("id"), "action": ev.get("action"), "outcome": ev.get("outcome"),
            "ip": ip16(src["ip"]) if "ip" in src else None, "service": ev.get("service"),
            "rtype": res.get("type"), "rid": res.get("id"), "writer": ev.get("writer")}


class State:
    def __init__(self, path):
        self.path = path
        d = json.load(open(path)) if os.path.exists(path) else {}
        self.seed = d.get("seed")
        self.tokens = d.get("tokens", {})     # name -> {secret, id, service}
        self.recs = {int(k): v for k, v in d.get("recs", {}).items()}
        self.w_sync = d.get("w_sync", 0)
        self.purged = d.get("purged", [])       # [[first, last], ...]
        self.ids = d.get("ids", {})             # event id -> index (ours)
        self.counter = d.get("counter", 0)

    def save(self):
        d = {"seed": self.seed, "tokens": self.tokens, "w_sync": self.w_sync,
             "purged": self.purged, "ids": self.ids, "counter": self.counter,
             "recs": {str(k): v for k, v in self.recs.items()}}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f, separators=(",", ":"))
        os.replace(tmp, self.path)

    def is_purged(self, i):
        return any(a <= i <= b for a, b in self.purged)

    def add(self, rec):
        self.recs[rec["i"]] = rec
        eid = rec["ev"].get("id")
        if rec["k"] == "m" and eid is not None:
            self.ids[eid] = rec["i"]


def writer_tokens(st):
    return [t for n, t in sorted(st.tokens.items()) if n.startswith("w")]


# ---------------------------------------------------------------- queries

def match(r, q):
    """Does record r pass every filter of q (the API's meaning)?"""
    if "from" in q or "to" in q:
        if r["t"] is None:
            return False
        if "from" in q and r["t"] < q["from"]:
            return False
        if "to" in q and r["t"] >= q["to"] + (BREAK == "to_inclusive"):
            return False
    if ("rfrom" in q or "rto" in q) and r["rlo"] is None:
        return False              # imported: no received
    if "rfrom" in q:
        if r["rhi"] < q["rfrom"]:
            return False
        assert r["rlo"] >= q["rfrom"], "received boundary inside a batch"
    if "rto" in q:
        if r["rlo"] >= q["rto"]:
            return False
        assert r["rhi"] < q["rto"], "received boundary inside a batch"
    for key, field in (("actor", "actor"), ("action", "action"), ("outcome", "outcome"),
                       ("service", "service"), ("resource_type", "rtype"),
                       ("resource_id", "rid"), ("writer", "writer")):
        if key in q and r[field] != q[key]:
            return False
    if "prefix" in q:
        p = q["prefix"]
        if BREAK == "prefix_dotted" and "." in p:
            p = p[:p.rindex(".") + 1]
        if not (isinstance(r["action"], str) and r["action"].startswith(p)):
            return False
    if "net" in q:
        lo, bits = q["net"]
        if r["ip"] is None:
            return False
        if bits and (r["ip"] >> (128 - bits)) != (lo >> (128 - bits)):
            return False
    return True


def cidr_text(rng, ip_text, plen=False):
    """A random source_ip parameter around ip_text, of a supported length
    (plen: that one; None: the bare address): (text, (lo16, bits)) with the
    block in the index's 16-byte form."""
    a = ipaddress.ip_address(ip_text)
    if plen is not False and plen not in (V4_LENS if a.version == 4 else V6_LENS):
        plen = None
    if a.version == 4:
        plen = rng.choice(V4_LENS) if plen is False else plen
        p = 32 if plen is None else plen
        net = ipaddress.IPv4Network("%s/%d" % (a, p), strict=False)
        bits, lo = 96 + p, (0xFFFF << 32) | int(net.network_address)
        r = rng.random()
        if plen is None:
            text = str(a)
        elif r < 0.1:
            text = "%s/%d" % (a, p)                      # host bits set: masked
        elif r < 0.2:
            text = "::ffff:%s/%d" % (net.network_address, 96 + p)  # mapped form
        else:
            text = "%s/%d" % (net.network_address, p)
        return text, (lo, bits)
    plen = rng.choice(V6_LENS) if plen is False else plen
    p = 128 if plen is None else plen
    net = ipaddress.IPv6Network("%s/%d" % (a, p), strict=False)
    if plen is None:
        text = str(a)
    elif rng.random() < 0.1:
        text = "%s/%d" % (a, p)
    else:
        text = "%s/%d" % (net.network_address, p)
    return text, (int(net.network_address), p)


def received_boundary(st, rng, recs):
    """A received time that no batch straddles (model records have the
    interval their batch was in flight), or None."""
    every = [x for x in st.recs.values() if x["rlo"] is not None]
    recs = [x for x in recs if x["rlo"] is not None]
    for _ in range(30 if recs else 0):
        r = rng.choice(recs)
        b = r["rlo"] if rng.random() < 0.5 else r["rhi"] + 1
        if all(not (x["rlo"] < b <= x["rhi"]) for x in every):
            return b
    return None


KINDS = ["time", "received", "actor", "action", "prefix", "outcome", "source_ip",
         "service", "resource_type", "resource_id", "writer"]


def gen_query(st, rng, recs, for_stats=False, force=None, force_len=False):
    """Random filters: (params as a list of (name, text), model query).
    force: exactly these kinds; force_len: the CIDR length (V4_LENS or
    V6_LENS member, with the family of the address picked)."""
    kinds = KINDS + ["source_ip", "prefix"]
    n = rng.choice([0, 1, 1, 1, 2, 2, 2, 3, 3, 4])
    chosen = list(force) if force is not None else list(dict.fromkeys(rng.sample(kinds, n)))
    if "action" in chosen and "prefix" in chosen:
        chosen.remove("prefix")
    params, q = [], {}
    pool = [r for r in recs if r["k"] == "m"] or recs
    for k in chosen:
        r = rng.choice(pool if rng.random() < 0.85 else recs)
        miss = rng.random() < 0.06
        if k == "time":
            a = r["t"] if r["t"] is not None and rng.random() < 0.5 else \
                TIME_BASE + rng.randrange(TIME_SPAN)
            b = a + rng.choice([1, US, 60 * US, 3600 * US, 86400 * US, 3 * 86400 * US])
            if rng.random() < 0.5:
                b = rng.choice(pool)["t"] or b  # on an event: `to` excludes it
            a, b = min(a, b), max(a, b)
            form = rng.random()
            if form < 0.6 or for_stats:
                q["from"], q["to"] = a, b
            elif form < 0.8:
                q["from"] = a
            else:
                q["to"] = b
        elif k == "received":
            a = received_boundary(st, rng, recs)
            b = received_boundary(st, rng, recs)
            if a is None or b is None:
                continue
            a, b = min(a, b), max(a, b)
            form = rng.random()
            if form < 0.5:
                q["rfrom"], q["rto"] = a, b
            elif form < 0.75:
                q["rfrom"] = a
            else:
                q["rto"] = b
        elif k == "actor":
            q["actor"] = "nobody" if miss else (r["actor"] or rng.choice(ACTORS))
        elif k == "action":
            q["action"] = "doc.nothing" if miss else (r["action"] or rng.choice(ACTIONS))
        elif k == "prefix":
            act = r["action"] if isinstance(r["action"], str) else rng.choice(ACTIONS)
            parts = act.split(".")
            if rng.random() < 0.15 or len(parts) == 1:
                q["prefix"] = act[:rng.randrange(1, len(act) + 1)]
            else:
                q["prefix"] = ".".join(parts[:rng.randrange(1, len(parts))]) + "."
            if miss:
                q["prefix"] = "zz."
        elif k == "outcome":
            q["outcome"] = r["outcome"] if not miss else rng.choice(["error", "unknown"])
        elif k == "source_ip":
            ipt = None
            if r["ip"] is not None:
                ipt = str(r["ev"]["source"]["ip"])
            if force_len is not False:
                fam, plen = force_len
                ipt = next((str(x["ev"]["source"]["ip"]) for x in rng.sample(pool, len(pool))
                            if x["ip"] is not None and
                            (":" in x["ev"]["source"]["ip"]) == (fam == 6)), None)
            if ipt is None or miss:
                ipt = rand_ip(rng)
            text, net = cidr_text(rng, ipt, force_len[1] if force_len is not False else False)
            q["net"], q["net_text"] = net, text
        elif k == "service":
            q["service"] = r["service"] or rng.choice(SERVICES)
            if miss:
                q["service"] = "no-such-service"
        elif k == "resource_type":
            q["resource_type"] = r["rtype"] or rng.choice(RTYPES)
        elif k == "resource_id":
            q["resource_id"] = r["rid"] or rng.choice(RIDS)
        elif k == "writer":
            q["writer"] = r["writer"] or rng.choice(writer_tokens(st))["id"]
    if for_stats and not excludes_server(q):
        # Stats cannot drop the volatile server events: add a filter that
        # no server event passes (their time is years after ours).
        if rng.random() < 0.5:
            q["to"] = TIME_BASE + rng.randrange(TIME_SPAN + US)
            if "from" in q and q["from"] > q["to"]:
                q["from"], q["to"] = q["to"], q["from"]
        else:
            q["writer"] = rng.choice(writer_tokens(st))["id"]
    for name, key in (("from", "from"), ("to", "to"), ("received_from", "rfrom"),
                      ("received_to", "rto")):
        if key in q:
            params.append((name, fmt_any(rng, q[key])))
    for name in ("actor", "action", "outcome", "service", "resource_type", "resource_id",
                 "writer"):
        if name in q:
            params.append((name, q[name]))
    if "prefix" in q:
        params.append(("action", q["prefix"] + "*"))
    if "net" in q:
        params.append(("source_ip", q["net_text"]))
    rng.shuffle(params)
    return params, q


def excludes_server(q):
    """True when no server event (service logseal, no writer, actor a token
    id, action logseal.*, no resource, time years after ours) can match."""
    if "service" in q and q["service"] != "logseal":
        return True
    if "writer" in q or "resource_type" in q or "resource_id" in q:
        return True
    if "actor" in q and not q["actor"].startswith("tok_") and q["actor"] != "logseal":
        return True
    if "action" in q and not q["action"].startswith("logseal"):
        return True
    if "prefix" in q and not ("logseal.".startswith(q["prefix"]) or
                              q["prefix"].startswith("logseal.")):
        return True
    if "to" in q and q["to"] <= TIME_END:
        return True
    return False


def qs(params):
    return "&".join("%s=%s" % (k, urllib.parse.quote(v, safe="")) for k, v in params)


def describe(params):
    return "?" + "&".join("%s=%s" % kv for kv in params)


def body_diff(want, got):
    """None when the returned entry is the model's event (received is
    checked against the batch's interval separately)."""
    g = dict(got)
    g.pop("received", None)
    w = want
    if "source" in w and "ip" in w["source"] and isinstance(g.get("source"), dict) and \
            "ip" in g["source"]:
        try:
            if ipaddress.ip_address(g["source"]["ip"]) == ipaddress.ip_address(w["source"]["ip"]):
                g = dict(g)
                g["source"] = dict(g["source"], ip=w["source"]["ip"])
        except ValueError:
            pass
    if g == w:
        return None
    keys = sorted(set(g) | set(w))
    return ", ".join("%s: want %s got %s" % (k, json.dumps(w.get(k))[:80],
                                              json.dumps(g.get(k))[:80])
                     for k in keys if g.get(k) != w.get(k))


class Checker:
    def __init__(self, st, cli, rng, mode="normal"):
        self.st, self.cli, self.rng, self.mode = st, cli, rng, mode
        self.aud = st.tokens["auditor"]["secret"]
        self.pages = self.results = self.partial = 0
        self.used = {}

    def touches_purged(self, q):
        return any(self.st.is_purged(r["i"]) and match(r, q) for r in self.st.recs.values())

    def known(self, purged_too):
        return [r for r in self.st.recs.values()
                if purged_too or not self.st.is_purged(r["i"])]

    def model_answer(self, q, order):
        out = [r for r in self.st.recs.values() if not self.st.is_purged(r["i"]) and match(r, q)]
        out.sort(key=lambda r: r["i"], reverse=(order != "asc"))
        if BREAK == "drop_last" and out:
            out.pop()
        return out

    def run_query(self, params, q, order, order_given, limit, limit_given):
        """Follow the cursors to the end; None or what differs."""
        st = self.st
        want = self.model_answer(q, order)
        base = list(params)
        if order_given:
            base.append(("order", order))
        if limit_given:
            base.append(("limit", str(limit)))
        got, seen, cursor, pages, partial = [], set(), None, 0, False
        max_known = max(st.recs) if st.recs else -1
        while True:
            p = base + ([("cursor", cursor)] if cursor is not None else [])
            code, r = self.cli.get_json("/v1/events?" + qs(p), self.aud)
            pages += 1
            self.pages += 1
            if code != 200 or not isinstance(r, dict):
                # Queries skip every leaf below the retained point, also
                # before a reindex (API.md "Legal holds"): a purged entry is
                # never read, so no status but 200 is acceptable here.
                return "page %d: status %s %s" % (pages, code, json.dumps(r)[:200])
            evs, nxt = r.get("events"), r.get("next_cursor")
            if not isinstance(evs, list):
                return "page %d: no events array" % pages
            if r.get("watermark", -1) < max_known + 1 and pages == 1:
                return "watermark %s below the model's %d" % (r.get("watermark"), max_known + 1)
            if len(evs) > limit:
                return "page %d: %d events, limit %d" % (pages, len(evs), limit)
            if nxt is not None and len(evs) != limit:
                return "page %d: %d events and a next_cursor (limit %d)" % (pages, len(evs),
                                                                             limit)
            if cursor is not None and not evs:
                return "page %d: empty page after a non-null next_cursor" % pages
            for e in evs:
                i = e.get("index")
                if i in seen:
                    return "index %s returned twice" % i
                seen.add(i)
                got.append(e)
            self.results += len(evs)
            if nxt is None:
                break
            if pages >= 80:
                return "more than 80 pages"
            cursor = nxt
        # Drop the volatile server events and (lenient mode) purged ones.
        kept = []
        for e in got:
            i, body = e["index"], e.get("entry")
            rec = st.recs.get(i)
            if rec is not None and st.is_purged(i):
                # In both modes: queries never list a leaf below the
                # retained point (lenient mode is for stats only).
                return "purged index %d returned (mode %s)" % (i, self.mode)
            if rec is None:
                if i >= st.w_sync and isinstance(body, dict) and body.get("service") == "logseal":
                    continue
                return "index %d is not in the model (w_sync %d): %s" % (
                    i, st.w_sync, json.dumps(body)[:200])
            kept.append(e)
        gi = [e["index"] for e in kept]
        wi = [r["i"] for r in want]
        if partial:
            wi = wi[:len(gi)]
            want = want[:len(gi)]
        if gi != wi:
            k = next((j for j in range(min(len(gi), len(wi))) if gi[j] != wi[j]),
                     min(len(gi), len(wi)))
            return "model %d results, server %d; first difference at position %d: model %s, " \
                   "server %s" % (len(wi), len(gi), k, wi[k:k + 3], gi[k:k + 3])
        for e, w in zip(kept, want):
            body = e.get("entry")
            if not isinstance(body, dict):
                return "index %d: entry %s" % (e["index"], json.dumps(body)[:100])
            d = body_diff(w["ev"], body)
            if d:
                return "index %d: body differs: %s" % (e["index"], d)
            rcv = body.get("received")
            if w["rlo"] is None:
                if rcv is not None:
                    return "index %d: imported, but has received %r" % (e["index"], rcv)
                continue
            try:
                ru = parse_canon(rcv)
            except (TypeError, ValueError):
                return "index %d: received %r" % (e["index"], rcv)
            if not (w["rlo"] <= ru <= w["rhi"]):
                return "index %d: received %s outside its batch [%s, %s]" % (
                    e["index"], rcv, fmt_time(w["rlo"]), fmt_time(w["rhi"]))
        return None

    def random_query(self, force=None, force_len=False):
        rng = self.rng
        recs = self.known(False) or self.known(True)
        # Mostly answers of at most ~600 events (time is bounded), and
        # now and then up to 3,000.
        cap = 600 if rng.random() < 0.9 or force is not None else 3000
        for _ in range(8):
            params, q = gen_query(self.st, rng, recs, force=force, force_len=force_len)
            n = sum(1 for r in recs if match(r, q))
            if n <= cap:
                break
        o = rng.random()
        order = "asc" if o < 0.5 else "desc"
        order_given = o < 0.8
        min_limit = max(1, math.ceil((n + 40) / 12))
        if n <= 1200 and min_limit <= 100 and rng.random() < 0.2:
            limit, limit_given = 100, False
        else:
            limit = min(1000, min_limit + int(rng.random() ** 3 * (1000 - min_limit + 1)))
            limit_given = True
        for name, v in params:
            key = name
            if name == "action" and v.endswith("*"):
                key = "action=prefix.*" if v.endswith(".*") else "action=prefix*"
            elif name == "source_ip":
                key = "source_ip" + (v[v.index("/"):] if "/" in v else "")
                key += "(v6)" if ":" in v else "(v4)"
            self.used[key] = self.used.get(key, 0) + 1
        self.used["filters=%d" % len(params)] = self.used.get("filters=%d" % len(params), 0) + 1
        self.used["order=" + order] = self.used.get("order=" + order, 0) + 1
        err = self.run_query(params, q, order, order_given, limit, limit_given)
        shown = params + ([("order", order)] if order_given else []) + \
            ([("limit", str(limit))] if limit_given else [])
        return err, describe(shown), n

    def stats_answer(self, q, group_by, bucket):
        field = {"outcome": "outcome", "action": "action", "service": "service"}[group_by]
        recs = [r for r in self.st.recs.values() if match(r, q)]
        return recs, field

    def stats_expect(self, recs, field, bucket, group_by):
        buckets = {}
        total = 0
        for r in recs:
            total += 1
            if bucket:
                if r["t"] is None:
                    continue
                key = (r["t"] // (bucket * US)) * bucket
            else:
                key = None
            b = buckets.setdefault(key, {})
            v = r[field]
            b[v] = b.get(v, 0) + 1
        out = []
        for key in sorted(buckets, key=lambda x: -1 if x is None else x):
            counts = buckets[key]
            other = counts.pop(None, 0)
            groups = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))
            other += sum(c for _, c in groups[100:])
            out.append({"start": None if key is None else fmt_time(key * US),
                        "counts": dict(groups[:100]), "other": other})
        if BREAK == "stats_total":
            total += 1
        return {"group_by": group_by, "bucket": bucket, "total": total, "buckets": out}

    def random_stats(self):
        rng = self.rng
        recs = self.known(False) or self.known(True)
        params, q = gen_query(self.st, rng, recs, for_stats=True)
        if rng.random() < 0.25:
            # Only a range of whole hours (the rollup's case in an index that
            # keeps one), ending before every server event.
            h = 3600 * US
            a = TIME_BASE + rng.randrange(-2, TIME_SPAN // h) * h
            q = {"from": a, "to": min(a + rng.randrange(1, 300) * h, TIME_END - TIME_END % h)}
            if q["to"] <= q["from"]:
                q["to"] = q["from"] + h
            params = [("from", fmt_any(rng, q["from"])), ("to", fmt_any(rng, q["to"]))]
        group_by = rng.choice([None, "outcome", "action", "service"])
        matching = [r for r in recs if match(r, q)]
        times = [r["t"] for r in matching if r["t"] is not None]
        span = (max(times) - min(times)) // US + 1 if times else 1
        if "from" in q and "to" in q:
            span = max(span, (q["to"] - q["from"]) // US + 1)
        cands = [b for b in (1, 60, 300, 900, 3600, 7200, 21600, 86400, 604800)
                 if span // b < 900]
        bucket = rng.choice([0, 0] + cands)
        p = list(params)
        if group_by:
            p.append(("group_by", group_by))
        if bucket or rng.random() < 0.3:
            p.append(("bucket", str(bucket)))
        code, r = self.cli.get_json("/v1/events/stats?" + qs(p), self.aud)
        if code != 200 or not isinstance(r, dict):
            return "status %s %s" % (code, json.dumps(r)[:200]), describe(p)
        exp_all = self.stats_expect([x for x in self.st.recs.values() if match(x, q)],
                                    group_by or "outcome", bucket, group_by or "outcome")
        exp = self.stats_expect(matching, group_by or "outcome", bucket, group_by or "outcome")
        got = {k: r.get(k) for k in ("group_by", "bucket", "total", "buckets")}
        if got == exp:
            return None, describe(p)
        if self.mode == "lenient" and got == exp_all:
            return None, describe(p)  # the purged events still counted
        if got["total"] != exp["total"]:
            return "total: model %d, server %s" % (exp["total"], got["total"]), describe(p)
        for k in ("group_by", "bucket"):
            if got[k] != exp[k]:
                return "%s: model %s, server %s" % (k, exp[k], got[k]), describe(p)
        for j, (a, b) in enumerate(zip(exp["buckets"], got["buckets"] or [])):
            if a != b:
                return "bucket %d: model %s, server %s" % (j, json.dumps(a)[:300],
                                                           json.dumps(b)[:300]), describe(p)
        return "buckets: model %d, server %d" % (len(exp["buckets"]),
                                                  len(got["buckets"] or [])), describe(p)


# ------------------------------------------------------------- commands

def make_rng(st, phase):
    seed = "%s/%s" % (st.seed, phase)
    return random.Random(seed)


def cmd_setup(a, st, cli):
    if st.seed is None:
        st.seed = int(os.environ.get("MODEL_SEED") or random.SystemRandom().randrange(10**9))
        note("seed %d (MODEL_SEED=%d replays it)" % (st.seed, st.seed))
    admin = open(a.admin_token_file).read().strip()
    want = [("auditor", {"role": "auditor"}), ("w0", {"role": "writer"}),
            ("w1", {"role": "writer"}), ("w2", {"role": "writer", "service": "billing"}),
            ("w3", {"role": "writer", "service": "web"})]
    ok = True
    for name, body in want:
        code, data = cli.req("POST", "/v1/tokens", admin, json.dumps(body).encode(),
                             "application/json")
        if code != 201:
            ok = False
            note("POST /v1/tokens %s: %s %s" % (body, code, data[:200]))
            continue
        r = json.loads(data)
        st.tokens[name] = {"secret": r["token"], "id": r["id"], "service": body.get("service")}
    tap(ok, "setup: an auditor and four writer tokens (two bound to a service)")


def post_batch(cli, rng, tok, evs):
    """POST evs as an array, NDJSON or a single object: (status, reply)."""
    r = rng.random()
    if len(evs) == 1 and r < 0.3:
        body, ct = json.dumps(evs[0]), "application/json"
    elif r < 0.6:
        body, ct = json.dumps(evs), "application/json"
    else:
        body, ct = "".join(json.dumps(e) + "\n" for e in evs), "application/x-ndjson"
    code, data = cli.req("POST", "/v1/events", tok["secret"], body.encode(), ct)
    try:
        return code, json.loads(data)
    except ValueError:
        return code, None


def expected_body(ev, tok):
    w = dict(ev)
    if tok["service"] and "service" not in w:
        w["service"] = tok["service"]
    w["writer"] = tok["id"]
    w["remote_ip"] = "127.0.0.1"
    w["schema"] = "logseal/v1"
    return w


def gen_batch(st, rng, phase, tok, size, services=None):
    sent, bodies = [], []
    for _ in range(size):
        st.counter += 1
        eid = "%s-%d" % (phase, st.counter) if rng.random() < 0.9 else None
        s, ev = rand_event(rng, eid, tok["service"], services)
        sent.append(s)
        bodies.append(expected_body(ev, tok))
    return sent, bodies


def cmd_ingest(a, st, cli):
    rng = make_rng(st, "ingest-" + a.phase)
    services = a.services.split(",") if a.services else None
    writers = [t for t in writer_tokens(st)
               if not services or t["service"] is None or t["service"] in services]
    n = nb = 0
    errs = []
    t0 = time.time()
    while n < a.events:
        size = min(a.events - n, rng.choice([1, 2, 5, 17, 64, 100, 250, 400, rng.randrange(1, 300)]))
        tok = rng.choice(writers)
        sent, bodies = gen_batch(st, rng, a.phase, tok, size, services)
        rlo = now_us()
        code, r = post_batch(cli, rng, tok, sent)
        rhi = now_us()
        nb += 1
        if code != 200 or not isinstance(r, dict) or len(r.get("indexes", [])) != size or \
                r.get("appended") != size or r.get("duplicates"):
            errs.append("batch %d (%d events): %s %s" % (nb, size, code, json.dumps(r)[:200]))
            break
        for i, b in zip(r["indexes"], bodies):
            if i in st.recs:
                errs.append("index %d given twice" % i)
            st.add(rec_from(i, b, rlo, rhi, "m"))
        n += size
    tap(not errs, "ingest %s: %d events in %d batches acknowledged with fresh leaf indexes "
        "(%.1f s)" % (a.phase, n, nb, time.time() - t0), errs[:5])
    st.save()


def cmd_importgen(a, st, cli):
    """NDJSON of random events for `logseal import` (--out), in the model at
    leaf indexes --first.. (import appends in input order; an entry is the
    input object canonicalised: no received, writer or schema, the time as
    written)."""
    rng = make_rng(st, "import-" + a.phase)
    with open(a.out, "w") as f:
        for k in range(a.events):
            st.counter += 1
            eid = "%s-%d" % (a.phase, st.counter) if rng.random() < 0.9 else None
            sent, ev = rand_event(rng, eid, None)
            f.write(json.dumps(sent) + "\n")
            rec = rec_from(a.first + k, ev, None, None, "m")
            rec["ev"] = sent
            st.add(rec)
    tap(True, "import %s: %d random events written for logseal import" % (a.phase, a.events))
    st.save()


def sync(st, cli, phase, lenient=False):
    """Read the server's own events back into the model (see the top), newest
    first.  lenient: a page that fails (a purged entry, before a reindex) is
    asked again with a smaller limit, down to 1, and the first entry that
    cannot be read ends the list: it must be purged, and so every older
    one."""
    aud = st.tokens["auditor"]["secret"]
    cursor, w, got, errs, limit = None, None, {}, [], 1000
    while True:
        p = [("service", "logseal"), ("order", "desc"), ("limit", str(limit))]
        if cursor:
            p.append(("cursor", cursor))
        code, r = cli.get_json("/v1/events?" + qs(p), aud)
        if code != 200 and lenient and code == 500 and st.purged:
            if limit > 1:
                limit //= 10
                continue
            break
        if code != 200:
            errs.append("service=logseal: status %s" % code)
            break
        if w is None:
            w = r["watermark"]
        for e in r["events"]:
            if e["index"] < w:
                got[e["index"]] = e["entry"]
        cursor = r.get("next_cursor")
        if not cursor:
            break
    if w is None:
        return errs
    for i, body in got.items():
        if not isinstance(body, dict) or body.get("service") != "logseal":
            errs.append("index %d: service=logseal returned %s" % (i, json.dumps(body)[:120]))
            continue
        old = st.recs.get(i)
        if old is not None and old["k"] == "m":
            errs.append("index %d: ours, returned for service=logseal" % i)
            continue
        if old is not None and old["ev"] != rec_from(i, body, 0, 0, "l")["ev"]:
            errs.append("index %d: server event changed: %s" % (i, body_diff(old["ev"], body)))
        rcv = parse_canon(body["received"]) if isinstance(body.get("received"), str) else 0
        st.add(rec_from(i, body, rcv, rcv, "l"))
    for i, r in st.recs.items():
        if r["k"] == "l" and i < w and i not in got and not st.is_purged(i):
            errs.append("server event %d (%s) is gone" % (i, r["action"]))
    st.w_sync = max(st.w_sync, w)
    return errs


def cmd_sync(a, st, cli):
    errs = sync(st, cli, a.phase)
    n = sum(1 for r in st.recs.values() if r["k"] == "l")
    tap(not errs, "sync %s: the server's own events read back (%d below watermark %d)"
        % (a.phase, n, st.w_sync), errs[:5])
    st.save()


def wait_index(cli, timeout=30):
    """Until /readyz says the index covers the log (no writer is running
    now), so that no answer is cut short by a busy machine."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            code, r = cli.get_json("/readyz", None)
        except (OSError, http.client.HTTPException):
            code, r = 0, None
        if isinstance(r, dict) and "index_watermark" in r and "tree_size" in r:
            if r["index_watermark"] >= r["tree_size"]:
                return
        elif code == 200:
            return
        time.sleep(0.1)


def cmd_check(a, st, cli):
    errs = sync(st, cli, a.phase, a.mode == "lenient")
    tap(not errs, "%s: the server's own events read back into the model" % a.phase, errs[:5])
    wait_index(cli)
    rng = make_rng(st, "check-" + a.phase)
    ck = Checker(st, cli, rng, a.mode)
    fails, t0, nonempty = [], time.time(), 0
    if a.sweep:
        # Every filter alone, and source_ip alone at every supported length.
        forced = [([k], False) for k in KINDS] + \
            [(["source_ip"], (4, n)) for n in V4_LENS] + [(["source_ip"], (6, n)) for n in V6_LENS]
        for kinds, fl in forced:
            err, shown, n = ck.random_query(kinds, fl)
            nonempty += n > 0
            if err:
                fails.append((shown, err))
        a.queries += len(forced)
    for k in range(a.queries - (len(forced) if a.sweep else 0)):
        if k and k % 40 == 0:
            e2 = sync(st, cli, a.phase, a.mode == "lenient")
            if e2:
                fails.append(("sync", "; ".join(e2[:3])))
        err, shown, n = ck.random_query()
        nonempty += n > 0
        if err:
            fails.append((shown, err))
    tap(not fails, "%s: %d random queries (%d with results, %d pages, %d results) "
        "give exactly the model's leaf indexes and bodies (%.1f s)"
        % (a.phase, a.queries, nonempty, ck.pages, ck.results, time.time() - t0),
        ["%s -> %s" % f for f in fails[:6]] + (["seed %s" % st.seed] if fails else []))
    note("filters used: " + ", ".join("%s %d" % kv for kv in sorted(ck.used.items())))
    fails = []
    t0 = time.time()
    for _ in range(a.stats):
        err, shown = ck.random_stats()
        if err:
            fails.append((shown, err))
    if a.stats:
        tap(not fails, "%s: %d random /v1/events/stats (group_by, buckets) match the model "
            "(%.1f s)" % (a.phase, a.stats, time.time() - t0),
            ["%s -> %s" % f for f in fails[:6]] + (["seed %s" % st.seed] if fails else []))
    if a.badparams:
        bad_params(st, cli, rng)
    st.save()


def bad_params(st, cli, rng):
    """Refusals that are part of the API's meaning (400, nothing answered)."""
    aud = st.tokens["auditor"]["secret"]
    cases = ["source_ip=10.0.0.0/12", "source_ip=2001:db8::/40", "source_ip=2001:db8::/96",
             "source_ip=10.0.0.0/33", "action=*", "action=a*b*", "limit=0", "limit=1001",
             "order=up", "outcome=fine", "from=yesterday", "actor=", "bogus=1",
             "actor=a&actor=b"]
    errs = []
    for c in cases:
        code, _ = cli.get_json("/v1/events?" + c, aud)
        if code != 400:
            errs.append("%s: %s" % (c, code))
    for c in ["group_by=actor", "group_by=outcome&limit=5", "bucket=1&from=2024-01-01T00:00:00Z"
              "&to=2024-02-01T00:00:00Z"]:
        code, _ = cli.get_json("/v1/events/stats?" + c, aud)
        if code != 400:
            errs.append("stats %s: %s" % (c, code))
    # A cursor is bound to its filters and order.
    code, r = cli.get_json("/v1/events?outcome=success&limit=1&order=asc", aud)
    cur = r.get("next_cursor") if isinstance(r, dict) else None
    if not cur:
        errs.append("no cursor for outcome=success&limit=1")
    else:
        for other in ("outcome=denied&limit=1&order=asc", "outcome=success&limit=1&order=desc"):
            code, _ = cli.get_json("/v1/events?%s&cursor=%s" % (other, urllib.parse.quote(cur)),
                                   aud)
            if code != 400:
                errs.append("cursor of outcome=success/asc with %s: %s" % (other, code))
    tap(not errs, "unsupported CIDR lengths, bad limits, orders, times, parameters and a "
        "cursor used with other filters or order are refused with 400", errs[:6])


# ---------------------------------------------------------- crash load

def cmd_load(a, st, cli_unused):
    """Send batches from a.threads writers until the server goes away."""
    writers = writer_tokens(st)
    lock = threading.Lock()
    out = open(a.ackfile, "a")
    stop_at = time.time() + a.seconds
    base = st.counter
    st.counter += 10**6  # ids of this load: phase-(base + thread*1e5 + k)

    def log(obj):
        with lock:
            out.write(json.dumps(obj, separators=(",", ":")) + "\n")
            out.flush()

    def run(t):
        rng = random.Random("%s/load-%s-%d" % (st.seed, a.phase, t))
        cli = Client(a.url)
        tok = writers[t % len(writers)]
        k = 0
        b = 0
        while time.time() < stop_at:
            size = rng.choice([1, 3, 10, 40, 100, rng.randrange(1, 200)])
            sent, bodies = [], []
            for _ in range(size):
                k += 1
                s, ev = rand_event(rng, "%s-%d" % (a.phase, base + t * 100000 + k), tok["service"])
                sent.append(s)
                bodies.append(expected_body(ev, tok))
            bid = "%d.%d" % (t, b)
            b += 1
            rlo = now_us()
            log({"t": "sent", "b": bid, "tok": writers.index(tok), "rlo": rlo,
                 "sent": sent, "bodies": bodies})
            try:
                code, r = post_batch(cli, rng, tok, sent)
            except (OSError, http.client.HTTPException):
                return
            rhi = now_us()
            if code == 200 and isinstance(r, dict):
                log({"t": "ack", "b": bid, "rhi": rhi, "idx": r.get("indexes"),
                     "dup": r.get("duplicates")})
            else:
                log({"t": "nack", "b": bid, "code": code})
                if code not in (429, 503):
                    return
                time.sleep(0.05)
            time.sleep(a.pause)
    ths = [threading.Thread(target=run, args=(t,)) for t in range(a.threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    out.close()
    st.save()


def read_back(st, cli, writer_id, rfrom):
    """Every event of writer_id received from rfrom on: {index: body}."""
    aud = st.tokens["auditor"]["secret"]
    out, cursor = {}, None
    while True:
        p = [("writer", writer_id), ("received_from", fmt_time(rfrom)), ("order", "asc"),
             ("limit", "1000")]
        if cursor:
            p.append(("cursor", cursor))
        code, r = cli.get_json("/v1/events?" + qs(p), aud)
        if code != 200:
            raise RuntimeError("read back: status %s" % code)
        for e in r["events"]:
            out[e["index"]] = e["entry"]
        cursor = r.get("next_cursor")
        if not cursor:
            return out


def cmd_crashcheck(a, st, cli):
    wait_index(cli)
    errs = sync(st, cli, a.phase)
    tap(not errs, "%s: the server's own events read back (recovery included)" % a.phase, errs[:5])
    sent, acks, nacks = {}, {}, set()
    for line in open(a.ackfile):
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if o["t"] == "sent":
            sent[o["b"]] = o
        elif o["t"] == "ack":
            acks[o["b"]] = o
        else:
            nacks.add(o["b"])
    if not sent:
        tap(False, "%s: the load sent something before the kill" % a.phase)
        return
    writers = writer_tokens(st)
    rfrom = min(o["rlo"] for o in sent.values())
    present = {}                   # event id -> [(index, body)]
    stray = []
    for tok in {o["tok"] for o in sent.values()}:
        for i, body in read_back(st, cli, writers[tok]["id"], rfrom).items():
            eid = body.get("id") if isinstance(body, dict) else None
            if i in st.recs:
                continue           # an event of the model (an earlier phase)
            present.setdefault(eid, []).append((i, body))
    n_ack = n_unack = n_unack_present = 0
    spot_pool = []
    e_ack, e_unack = [], []
    ids_sent = set()
    for bid, o in sent.items():
        ack = acks.get(bid)
        for k, (s, body) in enumerate(zip(o["sent"], o["bodies"])):
            eid = s["id"]
            ids_sent.add(eid)
            have = present.get(eid, [])
            if ack:
                n_ack += 1
                want_i = ack["idx"][k] if ack["idx"] and k < len(ack["idx"]) else None
                if BREAK == "ack_shift" and n_ack == 1 and want_i is not None:
                    want_i += 1
                if len(have) != 1 or have[0][0] != want_i:
                    e_ack.append("acknowledged %s (index %s): present at %s" %
                                 (eid, want_i, [h[0] for h in have]))
                    continue
                d = body_diff(body, have[0][1])
                ru = parse_canon(have[0][1]["received"])
                if d or not (o["rlo"] <= ru <= ack["rhi"]):
                    e_ack.append("acknowledged %s at %d: %s" % (eid, want_i, d or "received"))
                    continue
                if a.no_model:
                    spot_pool.append(rec_from(want_i, body, o["rlo"], ack["rhi"], "m"))
                else:
                    st.add(rec_from(want_i, body, o["rlo"], ack["rhi"], "m"))
            else:
                n_unack += 1
                if len(have) > 1:
                    e_unack.append("unacknowledged %s present %d times" % (eid, len(have)))
                elif have:
                    n_unack_present += 1
                    d = body_diff(body, have[0][1])
                    if d:
                        e_unack.append("unacknowledged %s at %d: %s" % (eid, have[0][0], d))
                    ru = parse_canon(have[0][1]["received"])
                    if not a.no_model:
                        st.add(rec_from(have[0][0], body, ru, ru, "m"))
    extra = [eid for eid in present if eid not in ids_sent]
    tap(not e_ack, "%s: all %d acknowledged events present exactly once, at their index, "
        "with their body" % (a.phase, n_ack), e_ack[:6])
    tap(not e_unack and not extra, "%s: %d unacknowledged events present at most once (%d are), "
        "nothing else of ours" % (a.phase, n_unack, n_unack_present),
        e_unack[:6] + ["not sent: %s" % x for x in extra[:3]])
    # Resend what was not acknowledged, as a client would: the keys make
    # it exactly once.
    e_re = []
    rng = make_rng(st, "resend-" + a.phase)
    resent = 0
    for bid, o in sorted(sent.items()):
        if bid in acks:
            continue
        tok = writers[o["tok"]]
        rlo = now_us()
        code, r = post_batch(cli, rng, tok, o["sent"])
        rhi = now_us()
        resent += 1
        if code != 200 or not isinstance(r, dict):
            e_re.append("resend %s: %s %s" % (bid, code, json.dumps(r)[:200]))
            continue
        dups = {d["position"]: d["index"] for d in r.get("duplicates") or []}
        for k, (s, body) in enumerate(zip(o["sent"], o["bodies"])):
            have = present.get(s["id"], [])
            i = r["indexes"][k]
            if have:
                if dups.get(k) != have[0][0] or i != have[0][0]:
                    e_re.append("resent %s (present at %d): index %s, duplicate %s" %
                                (s["id"], have[0][0], i, dups.get(k)))
            else:
                if k in dups or i in st.recs:
                    e_re.append("resent %s (absent): came back as index %s (dup %s)" %
                                (s["id"], i, dups.get(k)))
                    continue
                if not a.no_model:
                    st.add(rec_from(i, body, rlo, rhi, "m"))
    tap(not e_re, "%s: the %d unacknowledged batches resent: present events come back as "
        "duplicates of their index, absent ones are appended" % (a.phase, resent), e_re[:6])
    st.save()
    if a.queries:
        a.badparams = False
        cmd_check(a, st, cli)
    if a.spot:
        if not a.no_model:
            spot_pool = [st.recs[acks[b]["idx"][0]] for b in acks
                         if acks[b]["idx"] and acks[b]["idx"][0] in st.recs]
        spot_check(a, st, cli, spot_pool)


def spot_check(a, st, cli, recs):
    """Acknowledged events are searchable by their own fields."""
    rng = make_rng(st, "spot-" + a.phase)
    aud = st.tokens["auditor"]["secret"]
    errs = []
    sample = rng.sample(recs, min(a.spot, len(recs)))
    for r in sample:
        p = [("actor", r["actor"]), ("action", r["action"]), ("writer", r["writer"]),
             ("from", fmt_time(r["t"])), ("to", fmt_time(r["t"] + 1)), ("order", "asc"),
             ("limit", "1000")]
        code, res = cli.get_json("/v1/events?" + qs(p), aud)
        want = sorted(x["i"] for x in st.recs.values() if match(x, {
            "actor": r["actor"], "action": r["action"], "writer": r["writer"],
            "from": r["t"], "to": r["t"] + 1}) and not st.is_purged(x["i"]))
        got = [e["index"] for e in res.get("events", [])] if code == 200 else None
        if a.no_model:
            # Only this load is in the model: its event must be among them.
            if got is None or r["i"] not in got:
                errs.append("%s: index %d not among %s" % (describe(p), r["i"], got))
        elif got != want:
            errs.append("%s: model %s, server %s" % (describe(p), want, got))
    tap(not errs, "%s: %d acknowledged events found by their actor, action, writer and "
        "time" % (a.phase, len(sample)), errs[:5])


# ------------------------------------------------------------- retention

def cmd_retention(a, st, cli):
    wait_index(cli)
    aud = st.tokens["auditor"]["secret"]
    code, r = cli.get_json("/v1/events?" + qs([("service", "logseal"),
                                               ("action", "logseal.retention.purge"),
                                               ("limit", "1000")]), aud)
    errs = [] if code == 200 else ["action=logseal.retention.purge: status %s" % code]
    purges = sorted((e["entry"]["details"]["first"], e["entry"]["details"]["last"])
                    for e in (r.get("events", []) if code == 200 else []))
    st.purged = [list(p) for p in purges]
    errs += sync(st, cli, a.phase, a.mode == "lenient")
    tap(not errs and bool(purges), "%s: the pass purged %d ranges %s" %
        (a.phase, len(purges), purges[:4]), errs[:5])
    cont = bool(purges) and purges[0][0] == 0 and all(
        purges[k][1] + 1 == purges[k + 1][0] for k in range(len(purges) - 1))
    tap(cont, "%s: the purged ranges are a prefix of the log without gaps" % a.phase)
    held = [r["i"] for r in st.recs.values() if st.is_purged(r["i"]) and r["service"] == "billing"]
    tap(not held, "%s: no event of the long-lived service (billing) is purged" % a.phase,
        ["billing at %s" % held[:5]] if held else [])
    ours = sum(1 for r in st.recs.values() if r["k"] == "m" and st.is_purged(r["i"]))
    kept = sum(1 for r in st.recs.values() if r["k"] == "m" and not st.is_purged(r["i"]))
    tap(ours > 0 and kept > 0, "%s: %d of our events purged, %d retained" % (a.phase, ours, kept))
    st.save()
    cmd_check(a, st, cli)


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("--url", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--admin-token-file")
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--phase", default="p")
    ap.add_argument("--services", help="ingest: the services to use (comma-separated)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--stats", type=int, default=0)
    ap.add_argument("--badparams", action="store_true")
    ap.add_argument("--sweep", action="store_true",
                    help="check: first every filter alone and every CIDR length alone")
    ap.add_argument("--mode", default="normal", choices=["normal", "lenient", "strict"])
    ap.add_argument("--ackfile")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--pause", type=float, default=0.0)
    ap.add_argument("--spot", type=int, default=0)
    ap.add_argument("--out", help="importgen: the NDJSON file to write")
    ap.add_argument("--first", type=int, default=0, help="importgen: the first leaf index")
    ap.add_argument("--no-model", action="store_true",
                    help="crashcheck: check this load only, keep it out of the model")
    a = ap.parse_args()
    st = State(a.state)
    cli = Client(a.url)
    if a.cmd == "importgen" and st.seed is None:
        st.seed = int(os.environ.get("MODEL_SEED") or random.SystemRandom().randrange(10**9))
        note("seed %d (MODEL_SEED=%d replays it)" % (st.seed, st.seed))
    elif a.cmd != "setup" and st.seed is None:
        sys.exit("no state in %s: run setup first" % a.state)
    if a.cmd != "setup":
        note("seed %s, phase %s" % (st.seed, a.phase))
    {"setup": cmd_setup, "ingest": cmd_ingest, "sync": cmd_sync, "check": cmd_check,
     "importgen": cmd_importgen, "load": cmd_load, "crashcheck": cmd_crashcheck, "retention": cmd_retention}[a.cmd](a, st, cli)
    if a.cmd == "setup":
        st.save()
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
