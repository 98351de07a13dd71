#!/usr/bin/env python3
"""gen_events.py - N logseal/v1 access events as NDJSON on stdout.

    bench/gen_events.py [N] [SEED]                  (defaults: 200000, 1)
    bench/gen_events.py N SEED --days D [--actors A] [--end UNIX_SECONDS]

Without --days: the engine shape, the Python twin of bench/bench_event.h
(import and the PostgreSQL load figures): about 350 bytes of compact JSON per
event, times 1.37 ms apart from a fixed instant, 5,000 actors, 9 actions,
8 services, addresses anywhere in 10.0.0.0/8.

With --days: the read shape (the query figures): the same ~350 bytes and
fields, but what an auditor searches through.  Times spread evenly over the
D days that end at --end (default: now), in increasing order; A actors
(default 50,000: a fifth of the events come from the first 1% of them, the
heavy users and service accounts, the rest from all of them alike); 32
actions and 24 services of uneven frequency; outcomes 90% success, 6% denied,
3% failure, 1% error; source addresses from the 12 /16 networks in NETS.

bench/genev.c is its C twin (20 times faster, for the read and storage
sections' millions of events): keep the constants of both alike.

Deterministic for a given N, seed, D, A and end, so runs can be compared.
Every value is drawn from safe characters, so %-formatting yields valid
compact JSON (the first event is parsed back as a check) at a tenth of
json.dumps' cost.
"""
import argparse
import base64
import bisect
import itertools
import json
import random
import sys
import time
from datetime import datetime, timezone

ACTIONS = ["db.query", "db.query", "db.query", "user.login", "user.logout", "profile.update",
           "file.read", "file.write", "secret.read", "role.grant", "api.call", "api.call"]
SERVICES = ["billing", "auth", "storage", "search", "payments", "hr", "crm", "reporting"]
RTYPES = ["table", "bucket", "user", "secret", "endpoint", "document"]
RNAMES = ["invoices", "customers", "payroll", "sessions", "orders", "audit", "keys", "reports"]
MIN_LEN, MAX_LEN = 330, 370

# The read shape.  Weights are relative frequencies.
R_ACTIONS = [("db.query", 30), ("api.call", 20), ("file.read", 8), ("user.login", 6),
             ("user.logout", 5), ("db.update", 4), ("file.write", 3), ("secret.read", 3),
             ("session.refresh", 3), ("api.list", 2), ("object.get", 2), ("object.put", 2),
             ("profile.update", 1), ("profile.read", 1), ("db.delete", 1), ("db.export", 1),
             ("file.delete", 1), ("file.share", 1), ("role.grant", 1), ("role.revoke", 1),
             ("user.create", 1), ("user.disable", 1), ("mfa.verify", 1), ("password.reset", 1),
             ("key.rotate", 1), ("key.read", 1), ("config.read", 1), ("config.update", 1),
             ("report.run", 1), ("payment.refund", 1), ("invoice.read", 1), ("admin.impersonate", 1)]
R_SERVICES = [(s, w) for s, w in zip(
    ["api-gateway", "billing", "auth", "storage", "search", "payments", "hr", "crm", "reporting",
     "inventory", "shipping", "analytics", "support", "wiki", "ci", "registry", "mail", "chat",
     "vault", "k8s", "erp", "marketing", "ledger", "backoffice"],
    [20, 10, 10, 8, 6, 6, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1])]
R_OUTCOMES = [("success", 90), ("denied", 6), ("failure", 3), ("error", 1)]
NETS = [("10.20", 25), ("10.21", 15), ("10.40", 10), ("172.16", 10), ("172.17", 8),
        ("192.168", 8), ("100.64", 6), ("10.99", 5), ("198.51", 4), ("203.0", 4),
        ("185.220", 3), ("45.83", 2)]

FMT = ('{"time":"%s.%06dZ","actor":{"id":"u%d","type":"user"},"action":"%s",'
       '"outcome":"%s","source":{"ip":"%s.%d.%d"},"service":"%s",'
       '"resource":{"type":"%s","id":"%s-%d"},"details":{"request_id":"%016x",'
       '"rows":%d,"latency_ms":%d,"pad":"%s"}}')


def outcome(r):
    return {0: "failure", 1: "denied", 2: "error"}.get(r % 20, "success")


class Weighted:
    """Draws from (value, weight) pairs with one random number."""
    def __init__(self, pairs):
        self.values = [v for v, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))

    def pick(self, u):
        return self.values[bisect.bisect_right(self.cum, u * self.cum[-1])]


def emit(out, rows):
    out.write("\n".join(rows) + "\n")


def write_events(out, rows, rnd, pad_src):
    """Each row of fields padded to MIN_LEN..MAX_LEN and formatted with FMT,
    the first parsed back as a check, written in blocks of 10,000 lines.
    rows is a generator: its draws from rnd and pad's alternate, row by row."""
    buf = []
    for i, fields in enumerate(rows):
        pad(fields, rnd, pad_src)
        buf.append(FMT % tuple(fields))
        if i == 0:
            json.loads(buf[0])
        if len(buf) >= 10000:
            emit(out, buf)
            buf = []
    if buf:
        emit(out, buf)


def engine_shape(n, rnd, out):
    base = int(datetime(2025, 1, 6, 8, 0, 0, tzinfo=timezone.utc).timestamp() * 1000000)
    pad_src = base64.b32encode(rnd.randbytes(3000)).decode().lower()
    write_events(out, engine_rows(n, rnd, base), rnd, pad_src)


def engine_rows(n, rnd, base):
    sec_cache = (None, None)
    for i in range(n):
        us = base + i * 1370 + rnd.randrange(1000)
        sec = us // 1000000
        if sec_cache[0] != sec:
            stamp = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            sec_cache = (sec, stamp)
        r = rnd.getrandbits(64)
        yield [sec_cache[1], us % 1000000, r % 5000, ACTIONS[(r >> 16) % len(ACTIONS)],
               outcome(r >> 24), "10.%d" % ((r >> 32) & 255), (r >> 40) & 255,
               1 + (r >> 48) % 254,
               SERVICES[rnd.randrange(len(SERVICES))], RTYPES[rnd.randrange(len(RTYPES))],
               RNAMES[rnd.randrange(len(RNAMES))], rnd.randrange(100000),
               rnd.getrandbits(64), rnd.randrange(10000), rnd.randrange(2000), ""]


def pad(fields, rnd, pad_src):
    fields[-1] = ""
    bare = len(FMT % tuple(fields))
    k = max(0, rnd.randint(MIN_LEN, MAX_LEN) - bare)
    off = rnd.randrange(len(pad_src) - k)
    fields[-1] = pad_src[off:off + k]


def read_shape(n, rnd, out, days, actors, end):
    pad_src = base64.b32encode(rnd.randbytes(3000)).decode().lower()
    write_events(out, read_rows(n, rnd, days, actors, end), rnd, pad_src)


def read_rows(n, rnd, days, actors, end):
    span_us = days * 86400 * 1000000
    start = end * 1000000 - span_us
    step = span_us / max(n, 1)
    heavy = max(1, actors // 100)
    acts, svcs = Weighted(R_ACTIONS), Weighted(R_SERVICES)
    outs, nets = Weighted(R_OUTCOMES), Weighted(NETS)
    sec_cache = (None, None)
    rand = rnd.random
    for i in range(n):
        # One event per step, placed at random inside it: increasing times.
        us = start + int((i + rand()) * step)
        sec = us // 1000000
        if sec_cache[0] != sec:
            stamp = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            sec_cache = (sec, stamp)
        r = rnd.getrandbits(64)
        actor = (r % heavy) if rand() < 0.2 else (r >> 20) % actors
        yield [sec_cache[1], us % 1000000, actor, acts.pick(rand()), outs.pick(rand()),
               nets.pick(rand()), (r >> 40) & 255, 1 + (r >> 48) % 254,
               svcs.pick(rand()), RTYPES[rnd.randrange(len(RTYPES))],
               RNAMES[rnd.randrange(len(RNAMES))], rnd.randrange(100000),
               rnd.getrandbits(64), rnd.randrange(10000), rnd.randrange(2000), ""]


def main():
    ap = argparse.ArgumentParser(description="N logseal/v1 events as NDJSON on stdout")
    ap.add_argument("n", nargs="?", type=int, default=200000)
    ap.add_argument("seed", nargs="?", type=int, default=1)
    ap.add_argument("--days", type=int, help="the read shape: times over this many days")
    ap.add_argument("--actors", type=int, default=50000, help="actors in the read shape")
    ap.add_argument("--end", type=int, help="read shape: the last instant (Unix s; default now)")
    a = ap.parse_args()
    if a.n < 0:
        sys.exit("gen_events.py: N must be >= 0")
    if a.days is not None and (a.days < 1 or a.days > 3650):
        sys.exit("gen_events.py: --days must be 1..3650")
    if a.actors < 1:
        sys.exit("gen_events.py: --actors must be >= 1")
    rnd = random.Random(a.seed)
    if a.days is None:
        engine_shape(a.n, rnd, sys.stdout)
    else:
        end = a.end if a.end is not None else int(time.time())
        read_shape(a.n, rnd, sys.stdout, a.days, a.actors, end)


if __name__ == "__main__":
    main()
