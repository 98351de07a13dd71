#!/usr/bin/env python3
"""gen_events.py - N logseal/v1 access events as NDJSON on stdout.

    bench/gen_events.py [N] [SEED]      (defaults: 200000, 1)

The Python twin of bench/bench_event.h: about 350 bytes of compact JSON per
event, with actor, action, outcome, source address, service, resource and
padding varying, times increasing from a fixed instant.  The same file is fed
to `logseal import` and to the PostgreSQL baseline, so both load identical
data.  Deterministic for a given seed, so runs can be compared.
"""
import base64
import json
import random
import sys
from datetime import datetime, timedelta, timezone

ACTIONS = ["db.query", "db.query", "db.query", "user.login", "user.logout", "profile.update",
           "file.read", "file.write", "secret.read", "role.grant", "api.call", "api.call"]
SERVICES = ["billing", "auth", "storage", "search", "payments", "hr", "crm", "reporting"]
RTYPES = ["table", "bucket", "user", "secret", "endpoint", "document"]
RNAMES = ["invoices", "customers", "payroll", "sessions", "orders", "audit", "keys", "reports"]
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
MIN_LEN, MAX_LEN = 330, 370


def outcome(r):
    return {0: "failure", 1: "denied", 2: "error"}.get(r % 20, "success")


# Every value is generated from safe characters, so %-formatting yields valid
# compact JSON (checked once per run below) at a tenth of json.dumps' cost.
FMT = ('{"time":"%s.%06dZ","actor":{"id":"u%d","type":"user"},"action":"%s",'
       '"outcome":"%s","source":{"ip":"10.%d.%d.%d"},"service":"%s",'
       '"resource":{"type":"%s","id":"%s-%d"},"details":{"request_id":"%016x",'
       '"rows":%d,"latency_ms":%d,"pad":"%s"}}')


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if n < 0:
        sys.exit("gen_events.py: N must be >= 0")
    rnd = random.Random(seed)
    base = int(datetime(2025, 1, 6, 8, 0, 0, tzinfo=timezone.utc).timestamp() * 1000000)
    pad_src = base64.b32encode(rnd.randbytes(3000)).decode().lower()
    out = sys.stdout
    buf = []
    sec_cache = (None, None)
    for i in range(n):
        us = base + i * 1370 + rnd.randrange(1000)
        sec = us // 1000000
        if sec_cache[0] != sec:
            stamp = datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            sec_cache = (sec, stamp)
        r = rnd.getrandbits(64)
        fields = [sec_cache[1], us % 1000000, r % 5000, ACTIONS[(r >> 16) % len(ACTIONS)],
                  outcome(r >> 24), (r >> 32) & 255, (r >> 40) & 255, 1 + (r >> 48) % 254,
                  SERVICES[rnd.randrange(len(SERVICES))], RTYPES[rnd.randrange(len(RTYPES))],
                  RNAMES[rnd.randrange(len(RNAMES))], rnd.randrange(100000),
                  rnd.getrandbits(64), rnd.randrange(10000), rnd.randrange(2000), ""]
        bare = len(FMT % tuple(fields))
        k = max(0, rnd.randint(MIN_LEN, MAX_LEN) - bare)
        off = rnd.randrange(len(pad_src) - k)
        fields[-1] = pad_src[off:off + k]
        buf.append(FMT % tuple(fields))
        if i == 0:
            json.loads(buf[0])
        if len(buf) >= 10000:
            out.write("\n".join(buf) + "\n")
            buf = []
    if buf:
        out.write("\n".join(buf) + "\n")


if __name__ == "__main__":
    main()
