#!/usr/bin/python3
"""witness.py - an independent C2SP tlog-witness for the test suite.

Written from the C2SP texts alone (signed-note, tlog-checkpoint,
tlog-cosignature, tlog-witness), with the Python standard library and
PyNaCl (Debian python3-nacl); it shares no code with logseal, so the two
implementations check each other.

    witness.py keygen --data DIR --name NAME     make DIR/key, print the vkey
    witness.py serve --data DIR --listen HOST:PORT --log ORIGIN=VKEY ...
    witness.py verify --checkpoint FILE --log-vkey VKEY --witness-vkey VKEY ...
        (exit 0 when the log signature and every listed witness's
        cosignature verify; prints one line per witness)

State: DIR/state.json {origin: {"size": N, "root": b64, "note": text}},
replaced atomically (temp file, fsync, rename, fsync dir) before a 200.
Refusals are appended to DIR/refusals.log ("<status> <origin> <reason>").
"""
import base64
import hashlib
import json
import os
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nacl.exceptions
import nacl.signing

DASH = "\u2014"
MAX_BODY = 1 << 17


class Refuse(Exception):
    def __init__(self, status, reason, body=b"", ctype="text/plain"):
        super().__init__(reason)
        self.status, self.reason, self.body, self.ctype = status, reason, body, ctype


# --- keys (signed-note "vkey": name+hex(id)+base64(type||key)) ----------------

def key_id(name, typ, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([typ]) + pub).digest()[:4]


def parse_vkey(s, want_type):
    name, hexid, b = s.strip().split("+", 2)
    raw = base64.b64decode(b, validate=True)
    if len(raw) != 33 or raw[0] != want_type:
        raise ValueError("vkey of another type")
    if key_id(name, want_type, raw[1:]) != bytes.fromhex(hexid):
        raise ValueError("vkey id mismatch")
    return name, bytes.fromhex(hexid), raw[1:]


# --- notes ---------------------------------------------------------------------

def split_note(data):
    """(text bytes, [(name, keyid, sigbytes, line)]) or ValueError."""
    s = data.decode("utf-8")
    i = s.rfind("\n\n")
    if i < 0 or not s.endswith("\n"):
        raise ValueError("not a signed note")
    text, sigs = s[: i + 1], s[i + 2:]
    lines = []
    for line in sigs.split("\n")[:-1]:
        if not line.startswith(DASH + " "):
            raise ValueError("bad signature line")
        name, _, b = line[2:].partition(" ")
        if not name or not b or " " in b:
            raise ValueError("bad signature line")
        raw = base64.b64decode(b, validate=True)
        if len(raw) < 5:
            raise ValueError("short signature")
        lines.append((name, raw[:4], raw[4:], line))
    if not lines:
        raise ValueError("no signatures")
    return text.encode(), lines


def parse_checkpoint(text):
    parts = text.decode().split("\n")
    if len(parts) < 4 or not parts[0]:
        raise ValueError("not a checkpoint")
    size = parts[1]
    if not size.isdigit() or (len(size) > 1 and size[0] == "0"):
        raise ValueError("bad size")
    root = base64.b64decode(parts[2], validate=True)
    if len(root) != 32:
        raise ValueError("bad root")
    return parts[0], int(size), root


def cosig_message(text, ts):
    return b"cosignature/v1\ntime %d\n" % ts + text


# --- RFC 6962 / RFC 9162 2.1.4.2 consistency verification -----------------------

def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def verify_consistency(n1, n2, r1, r2, proof):
    if n1 == n2:
        return not proof and r1 == r2
    if n1 == 0 or n1 > n2 or not proof:
        return False
    if n1 & (n1 - 1) == 0:          # a power of two: r1 is the first node
        proof = [r1] + proof
    fn, sn = n1 - 1, n2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            while fn != 0 and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == r1 and sr == r2 and sn == 0


# --- the witness ------------------------------------------------------------------

class Witness:
    def __init__(self, data, logs):
        self.data = data
        with open(os.path.join(data, "key")) as f:
            self.name, seed = f.read().split()
        self.sk = nacl.signing.SigningKey(base64.b64decode(seed))
        self.pub = bytes(self.sk.verify_key)
        self.kid = key_id(self.name, 4, self.pub)
        self.logs = logs            # origin -> [(name, id, pub)]
        self.lock = threading.Lock()
        path = os.path.join(data, "state.json")
        self.state = json.load(open(path)) if os.path.exists(path) else {}

    def save(self):
        path = os.path.join(self.data, "state.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
        fd = os.open(self.data, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    def add_checkpoint(self, body):
        try:
            head, sep, note = body.partition(b"\n\n")
            if not sep:
                raise ValueError("no blank line")
            lines = head.split(b"\n")
            if not lines[0].startswith(b"old "):
                raise ValueError("no old line")
            old_s = lines[0][4:].decode()
            if not old_s.isdigit() or (len(old_s) > 1 and old_s[0] == "0"):
                raise ValueError("bad old size")
            old = int(old_s)
            proof = [base64.b64decode(x, validate=True) for x in lines[1:]]
            if len(proof) > 63 or any(len(p) != 32 for p in proof):
                raise ValueError("bad proof")
            text, sigs = split_note(note)
            origin, size, root = parse_checkpoint(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise Refuse(400, "malformed: %s" % e)
        keys = self.logs.get(origin)
        if keys is None:
            raise Refuse(404, "unknown log")
        good = 0
        for name, kid, sig, _ in sigs:
            for kname, kkid, kpub in keys:
                if name == kname and kid == kkid:
                    try:
                        nacl.signing.VerifyKey(kpub).verify(text, sig)
                    except (nacl.exceptions.BadSignatureError, ValueError):
                        raise Refuse(403, "bad log signature")
                    good += 1
        if not good:
            raise Refuse(403, "not signed by the log's key")
        if old > size:
            raise Refuse(400, "old > size")
        st = self.state.get(origin)
        cur = st["size"] if st else 0
        if old != cur:
            raise Refuse(409, "old %d != %d" % (old, cur), b"%d\n" % cur, "text/x.tlog.size")
        if size == 0 and root != hashlib.sha256(b"").digest():
            raise Refuse(422, "size 0 with a non-empty root")
        if old == 0:
            if proof:
                raise Refuse(422, "proof from 0")
        else:
            oldroot = base64.b64decode(st["root"])
            if not verify_consistency(old, size, oldroot, root, proof):
                raise Refuse(422, "not consistent (fork?)")
        ts = int(time.time())
        sig = self.sk.sign(cosig_message(text, ts)).signature
        line = "%s %s %s\n" % (DASH, self.name,
                               base64.b64encode(self.kid + struct.pack(">Q", ts) + sig).decode())
        logsigs = "".join(l + "\n" for n, k, s, l in sigs
                          if any(n == kn and k == kk for kn, kk, _ in keys))
        self.state[origin] = {"size": size, "root": base64.b64encode(root).decode(),
                              "note": text.decode() + "\n" + logsigs + line}
        self.save()
        return line.encode()

    def refusal(self, status, origin, reason):
        with open(os.path.join(self.data, "refusals.log"), "a") as f:
            f.write("%d %s %s\n" % (status, origin or "-", reason))


def make_handler(w):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status, body, ctype="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            if self.path != "/add-checkpoint" or n > MAX_BODY:
                return self.reply(404 if n <= MAX_BODY else 413, b"no\n")
            body = self.rfile.read(n)
            with w.lock:
                try:
                    out = w.add_checkpoint(body)
                except Refuse as r:
                    w.refusal(r.status, None, r.reason)
                    return self.reply(r.status, r.body or (r.reason + "\n").encode(), r.ctype)
            self.reply(200, out)

        def do_GET(self):
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[1] == "checkpoint":
                with w.lock:
                    for origin, st in w.state.items():
                        if hashlib.sha256(origin.encode()).hexdigest() == parts[0]:
                            return self.reply(200, st["note"].encode())
            if self.path == "/healthz":
                return self.reply(200, b"ok\n")
            self.reply(404, b"not found\n")

        def log_message(self, *a):
            pass
    return H


def args_of(argv):
    out, i = {}, 0
    while i < len(argv):
        k = argv[i].lstrip("-")
        out.setdefault(k, []).append(argv[i + 1])
        i += 2
    return out


def main():
    cmd, a = sys.argv[1], args_of(sys.argv[2:])
    if cmd == "keygen":
        d, name = a["data"][0], a["name"][0]
        os.makedirs(d, exist_ok=True)
        sk = nacl.signing.SigningKey.generate()
        with open(os.path.join(d, "key"), "w") as f:
            f.write("%s %s\n" % (name, base64.b64encode(bytes(sk)).decode()))
        pub = bytes(sk.verify_key)
        print("%s+%s+%s" % (name, key_id(name, 4, pub).hex(),
                            base64.b64encode(b"\x04" + pub).decode()))
    elif cmd == "serve":
        logs = {}
        for spec in a.get("log", []):
            for i in range(len(spec)):
                if spec[i] == "=":
                    try:
                        k = parse_vkey(spec[i + 1:], 1)
                    except ValueError:
                        continue
                    logs.setdefault(spec[:i], []).append(k)
                    break
        w = Witness(a["data"][0], logs)
        host, port = a["listen"][0].rsplit(":", 1)
        srv = ThreadingHTTPServer((host, int(port)), make_handler(w))
        print("listening on %s:%d" % (host, srv.server_address[1]), flush=True)
        srv.serve_forever()
    elif cmd == "verify":
        data = open(a["checkpoint"][0], "rb").read()
        text, sigs = split_note(data)
        lname, lid, lpub = parse_vkey(a["log-vkey"][0], 1)
        ok = [s for s in sigs if s[0] == lname and s[1] == lid]
        if not ok:
            print("no log signature")
            return 1
        for s in ok:
            nacl.signing.VerifyKey(lpub).verify(text, s[2])
        rc = 0
        for vk in a.get("witness-vkey", []):
            wname, wid, wpub = parse_vkey(vk, 4)
            mine = [s for s in sigs if s[0] == wname and s[1] == wid]
            if not mine:
                print("%s: no cosignature" % wname)
                rc = 1
                continue
            for s in mine:
                ts = struct.unpack(">Q", s[2][:8])[0]
                try:
                    nacl.signing.VerifyKey(wpub).verify(cosig_message(text, ts), s[2][8:])
                    print("%s: cosigned at %d" % (wname, ts))
                except nacl.exceptions.BadSignatureError:
                    print("%s: BAD cosignature" % wname)
                    rc = 1
        return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
