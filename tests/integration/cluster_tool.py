# cluster_tool.py - the cluster tests' client and checker (tests/integration/
# t091x-cluster-*.sh, bench/cluster.sh); python3 standard library only.
#
#   load --urls U1,U2 --token T --client C --batches N --size K --out DIR
#        [--stop FILE] [--give-up S]
#       POSTs N batches of K events with ids "c<C>-b<b>-<i>" (the same
#       bytes for the same id every time), batch b to node b mod n first.
#       A refused or lost request is retried with the same body on the
#       next node until it is acknowledged (503: after Retry-After, capped
#       at 2 s; no connection: after 0.2 s), for at most S s (default 120).
#       Writes DIR/acked-C.txt ("id index" per acknowledged event, flushed
#       per batch), DIR/batches-C.jsonl (per acknowledged batch: b, indexes)
#       and DIR/summary-C.json: acknowledged, retried, answers by status,
#       connection errors, other errors (any status but 200 and 503),
#       outages (from the first failure to the next acknowledgement, s) and
#       spans ([start, end] Unix times of each).
#   replay --url U --token T --client C --batch B --size K
#       POSTs batch B of client C again (503 and lost connections retried
#       for up to 90 s); prints its indexes, space-separated.
#   check --journal FILE --acked DIR [--size N]
#       FILE: `journalcat DIR` of a node (one entry per line, leaf order).
#       Every acknowledged id is in it exactly once, at the index it was
#       acknowledged with; no load id twice; N: exactly N entries.
#   root --journal FILE --size N
#       The RFC 6962 root (base64) of the first N entries of FILE.
#   note FILE
#       "size root" of a checkpoint note.
import base64, hashlib, json, os, sys, time, urllib.error, urllib.request


def arg(name, default=None):
    a = sys.argv
    if name in a:
        return a[a.index(name) + 1]
    if default is None:
        sys.exit("missing " + name)
    return default


def event(cid, b, i):
    return ('{"id":"c%s-b%d-%d","time":"2024-05-06T07:08:09Z","service":"load",'
            '"actor":{"id":"client-%s","type":"user"},"action":"doc.read",'
            '"outcome":"success","source":{"ip":"192.0.2.7"},'
            '"resource":{"type":"doc","id":"%d"}}' % (cid, b, i, cid, b * 1000 + i))


def body(cid, b, k):
    return ("\n".join(event(cid, b, i) for i in range(k)) + "\n").encode()


def post(url, token, data, timeout=30):
    rq = urllib.request.Request(url + "/v1/events", data=data, method="POST", headers={
        "Authorization": "Bearer " + token, "Content-Type": "application/x-ndjson"})
    try:
        with urllib.request.urlopen(rq, timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def load():
    urls = arg("--urls").split(",")
    token, cid = arg("--token"), arg("--client")
    n, k, out = int(arg("--batches")), int(arg("--size")), arg("--out")
    stop, give_up = arg("--stop", ""), float(arg("--give-up", "120"))
    os.makedirs(out, exist_ok=True)
    acked = open(os.path.join(out, "acked-%s.txt" % cid), "a")
    batches = open(os.path.join(out, "batches-%s.jsonl" % cid), "a")
    s = {"client": cid, "acknowledged": 0, "batches": 0, "retried": 0, "status": {},
         "connection_errors": 0, "other_errors": [], "outages": [], "spans": [], "gave_up": 0}
    fail_since = None
    for b in range(n):
        if stop and os.path.exists(stop):
            break
        data = body(cid, b, k)
        t0, attempt = time.time(), 0
        while True:
            url = urls[(b + attempt) % len(urls)]
            try:
                st, rb, hd = post(url, token, data)
            except Exception as e:  # refused, reset, timed out: maybe applied
                st, rb, hd = None, str(e).encode(), {}
            if st is not None:
                s["status"][str(st)] = s["status"].get(str(st), 0) + 1
            if st == 200:
                idx = json.loads(rb)["indexes"]
                for i in range(k):
                    acked.write("c%s-b%d-%d %d\n" % (cid, b, i, idx[i]))
                acked.flush()
                batches.write(json.dumps({"b": b, "indexes": idx, "url": url, "t": time.time()}) + "\n")
                batches.flush()
                s["acknowledged"] += k
                s["batches"] += 1
                if fail_since is not None:
                    s["outages"].append(round(time.time() - fail_since, 3))
                    s["spans"].append([fail_since, time.time()])
                    fail_since = None
                break
            if fail_since is None:
                fail_since = time.time()
            s["retried"] += 1
            if st is None:
                s["connection_errors"] += 1
                pause = 0.2
            elif st == 503:
                s.setdefault("busy_sample", rb[:300].decode("utf-8", "replace"))
                try:
                    pause = min(float(hd.get("Retry-After", "1")), 2.0)
                except ValueError:
                    pause = 1.0
            else:
                s["other_errors"].append("%s %s: %s" % (st, url, rb[:200].decode("utf-8", "replace")))
                pause = 0.5
            attempt += 1
            if time.time() - t0 > give_up:
                s["gave_up"] += 1
                break
            time.sleep(pause)
        if s["gave_up"]:
            break
    json.dump(s, open(os.path.join(out, "summary-%s.json" % cid), "w"))


def replay():
    # a client that retries: 503 and lost connections for up to 90 s
    data = body(arg("--client"), int(arg("--batch")), int(arg("--size")))
    t0 = time.time()
    while True:
        try:
            st, rb, hd = post(arg("--url"), arg("--token"), data)
        except Exception as e:
            st, rb, hd = None, str(e).encode(), {}
        if st == 200 or (st not in (None, 503)) or time.time() - t0 > 90:
            break
        time.sleep(min(float(hd.get("Retry-After", "1") or 1), 2.0) if st else 0.5)
    if st != 200:
        sys.exit("replay: %s %s" % (st, rb[:300]))
    print(" ".join(str(i) for i in json.loads(rb)["indexes"]))


def ids_of(path):
    out = []
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            try:
                out.append(json.loads(line).get("id"))
            except Exception:
                out.append(None)
    return out


def check():
    ids = ids_of(arg("--journal"))
    d, bad = arg("--acked"), []
    where = {}
    for i, x in enumerate(ids):
        if x and x.startswith("c") and "-b" in x:
            if x in where:
                bad.append("%s twice: at %d and %d" % (x, where[x], i))
            where[x] = i
    n = 0
    for fn in sorted(os.listdir(d)):
        if not fn.startswith("acked-"):
            continue
        for line in open(os.path.join(d, fn)):
            x, idx = line.split()
            n += 1
            if x not in where:
                bad.append("acknowledged %s (index %s) is missing" % (x, idx))
            elif where[x] != int(idx):
                bad.append("acknowledged %s at index %s is at %d" % (x, idx, where[x]))
    size = arg("--size", "")
    if size and int(size) != len(ids):
        bad.append("the journal holds %d entries, the tree %s" % (len(ids), size))
    print("%d acknowledged, %d entries, %d load ids, %d problems" % (n, len(ids), len(where), len(bad)))
    for x in bad[:20]:
        print("  " + x)
    sys.exit(1 if bad or n == 0 else 0)


def H(b):
    return hashlib.sha256(b).digest()


def mth(leaves):
    # RFC 6962 Merkle tree hash, bottom up (an odd node moves up unpaired)
    if not leaves:
        return H(b"")
    level = leaves
    while len(level) > 1:
        nxt = [H(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def root():
    n = int(arg("--size"))
    leaves = []
    with open(arg("--journal"), "rb") as f:
        for line in f:
            if len(leaves) == n:
                break
            leaves.append(H(b"\x00" + line.rstrip(b"\n")))
    if len(leaves) < n:
        sys.exit("only %d entries" % len(leaves))
    print(base64.b64encode(mth(leaves)).decode())


def note():
    lines = open(sys.argv[2]).read().split("\n")
    print(lines[1], lines[2])


{"load": load, "replay": replay, "check": check, "root": root, "note": note}[sys.argv[1]]()
