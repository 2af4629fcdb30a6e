"""trellis-coordinator's adapter endpoints on loopback, and `trellis fetch` against it.

Starts the real server ($TRELLIS_COORDINATOR_BIN) on 127.0.0.1 port 0 over a registry holding
artifacts trained with `trellis train` on the tiny backbone and published with `trellis publish`.
Every request is bounded (timeouts); the server is stopped with SIGTERM and must exit 0.
"""
import hashlib
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from test_cli import BIN, TINY_CONFIGS, run, skip_unless_set_up, synthetic_rows, write_jsonl

COORDINATOR = os.environ.get("TRELLIS_COORDINATOR_BIN", "")
TOKENS = {"user": "user-token-0123456789abcdef", "worker": "worker-token-0123456789abcdef",
          "admin": "admin-token-0123456789abcdef"}
TIMEOUT = 30


def start_coordinator(root, auth, *extra, state_dir=None, listen="127.0.0.1:0", stderr=subprocess.PIPE):
    """Starts trellis-coordinator; returns (process, port). The job state goes to `state_dir`
    (default: a `state` directory next to the registry root)."""
    state_dir = state_dir or Path(root).parent / "state"
    p = subprocess.Popen([COORDINATOR, "--listen", listen, "--registry", str(root), "--auth-config", str(auth),
                          "--state-dir", str(state_dir), *map(str, extra)],
                         stdout=subprocess.PIPE, stderr=stderr, text=True)
    ready, _, _ = select.select([p.stdout], [], [], TIMEOUT)
    if not ready:
        p.kill()
        raise AssertionError("trellis-coordinator did not start")
    line = p.stdout.readline()
    if not line:
        p.wait(TIMEOUT)
        raise AssertionError(f"trellis-coordinator exited {p.returncode}: {p.stderr.read() if p.stderr else ''}")
    return p, json.loads(line)["port"]


def stop_coordinator(p):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


class CoordinatorAdaptersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_set_up(TRELLIS_BIN=BIN, TRELLIS_COORDINATOR_BIN=COORDINATOR)
        cls.tmp = Path(tempfile.mkdtemp(prefix="trellis-coordinator-"))
        write_jsonl(cls.tmp / "train.jsonl", synthetic_rows(200, 1))
        write_jsonl(cls.tmp / "dev.jsonl", synthetic_rows(40, 2))
        write_jsonl(cls.tmp / "test.jsonl", synthetic_rows(30, 3))
        spec = {"task": "sent", "backbone": "tiny-bert",
                "data": {"train": "train.jsonl", "validation": "dev.jsonl", "max_seq_len": 32},
                "train": {"epochs": 2, "batch_size": 16, "learning_rate": 0.003, "seed": 1}}
        (cls.tmp / "sent.json").write_text(json.dumps(spec))
        cls.artifact = cls.tmp / "art-sent"
        run(["train", cls.tmp / "sent.json", "--out", cls.artifact], check=True)
        cls.root = cls.tmp / "registry"
        cls.publish("--create-registry", "--alias", "prod")  # sent@1
        cls.publish()                                        # sent@2
        cls.auth = cls.tmp / "auth.json"
        cls.auth.write_text(json.dumps({"tokens": [{"token": t, "role": r} for r, t in TOKENS.items()]}))
        for role, token in TOKENS.items():
            (cls.tmp / f"{role}.token").write_text(token + "\n")
        (cls.tmp / "secret.txt").write_text("SECRET-OUTSIDE-THE-ROOT\n")
        cls.server, cls.port = start_coordinator(cls.root, cls.auth, "--max-body-bytes", 1024)

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "server"):
            rc = stop_coordinator(cls.server)
            stderr = cls.server.stderr.read()
            cls.server.stdout.close()
            cls.server.stderr.close()
            for token in TOKENS.values():
                assert token not in stderr, "a token appeared in the server's log"
            assert rc == 0, f"trellis-coordinator exited {rc} on SIGTERM:\n{stderr}"
        if hasattr(cls, "tmp"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def publish(cls, *extra):
        p = run(["--registry", cls.root, "publish", cls.artifact, *extra], check=True)
        return json.loads(p.stdout)

    def request(self, method, path, role="user", body=None, headers=None, token=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        elif role:
            h["Authorization"] = f"Bearer {TOKENS[role]}"
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def json_request(self, method, path, role="user", body=None, expect=200):
        status, _, data = self.request(method, path, role, None if body is None else json.dumps(body))
        self.assertEqual(status, expect, data)
        return json.loads(data)

    def fetch(self, *args, cache="cache", token="user"):
        env = dict(os.environ, TRELLIS_SERVER=f"http://127.0.0.1:{self.port}",
                   TRELLIS_TOKEN_FILE=str(self.tmp / f"{token}.token"), TRELLIS_CACHE_DIR=str(self.tmp / cache))
        cmd = [BIN, "--config-dir", str(TINY_CONFIGS), "-q", "fetch", *map(str, args)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)

    def predict(self, adapter, registry=False):
        args = (["--registry", self.root] if registry else []) + ["predict", "--adapter", adapter,
                                                                   "--data", self.tmp / "test.jsonl"]
        p = run(args, check=True)
        return [json.loads(l) for l in p.stdout.splitlines()]

    def test_health_and_auth(self):
        status, _, body = self.request("GET", "/healthz", role=None)
        self.assertEqual((status, json.loads(body)), (200, {"status": "ok"}))
        for token in (None, "wrong-token-0123456789abcdef"):
            status, headers, body = self.request("GET", "/v1/adapters", role=None, token=token)
            self.assertEqual(status, 401)
            self.assertEqual(json.loads(body)["error"]["code"], "unauthorized")
        status, _, _ = self.request("PUT", "/v1/adapters/sent/aliases/prod", "worker", json.dumps({"version": 1}))
        self.assertEqual(status, 403)
        status, _, _ = self.request("DELETE", "/v1/adapters/sent/2", "user")
        self.assertEqual(status, 403)

    def test_listing_and_manifests(self):
        tasks = self.json_request("GET", "/v1/adapters")["tasks"]
        self.assertEqual(tasks[0]["task"], "sent")
        self.assertIn("accuracy", tasks[0]["metrics"])
        info = self.json_request("GET", "/v1/adapters/sent", "worker")
        self.assertEqual(info["versions"][0]["version"], 1)
        self.assertEqual(info["aliases"]["prod"], 1)
        m = self.json_request("GET", "/v1/adapters/sent/prod")
        self.assertEqual((m["task"], m["version"]), ("sent", 1))
        self.assertEqual(m["files"]["adapter.safetensors"]["sha256"], hashlib.sha256((self.root / "sent/1/adapter.safetensors").read_bytes()).hexdigest())
        err = self.json_request("GET", "/v1/adapters/nope", expect=404)["error"]
        self.assertIn("sent", err["message"])
        self.assertIn("prod", self.json_request("GET", "/v1/adapters/sent/canary", expect=404)["error"]["message"])
        self.json_request("GET", "/v1/adapters/Sent!", expect=400)
        self.json_request("GET", "/v1/adapters/sent/0", expect=400)

    def test_files_are_the_bytes_on_disk(self):
        disk = (self.root / "sent/1/adapter.safetensors").read_bytes()
        sha = hashlib.sha256(disk).hexdigest()
        path = "/v1/adapters/sent/1/files/adapter.safetensors"
        status, headers, body = self.request("GET", path)
        self.assertEqual(status, 200)
        self.assertEqual(body, disk)
        self.assertEqual(headers["ETag"], f'"{sha}"')
        status, headers, body = self.request("GET", "/v1/adapters/sent/prod/files/manifest.json")
        self.assertEqual(body, (self.root / "sent/1/manifest.json").read_bytes())
        self.assertEqual(headers["ETag"], f'"{hashlib.sha256(body).hexdigest()}"')
        n = len(disk)
        for rng, want, content_range in (("bytes=0-9", disk[:10], f"bytes 0-9/{n}"),
                                         ("bytes=100-", disk[100:], f"bytes 100-{n - 1}/{n}"),
                                         ("bytes=-7", disk[-7:], f"bytes {n - 7}-{n - 1}/{n}")):
            status, headers, body = self.request("GET", path, headers={"Range": rng})
            self.assertEqual((status, body, headers["Content-Range"]), (206, want, content_range), rng)
        status, headers, _ = self.request("GET", path, headers={"Range": f"bytes={n}-"})
        self.assertEqual((status, headers["Content-Range"]), (416, f"bytes */{n}"))
        status, _, body = self.request("GET", path, headers={"If-None-Match": f'"{sha}"'})
        self.assertEqual((status, body), (304, b""))
        status, headers, body = self.request("HEAD", path)
        self.assertEqual((status, body, headers["Content-Length"], headers["ETag"]), (200, b"", str(n), f'"{sha}"'))
        status, _, _ = self.request("GET", "/v1/adapters/sent/1/files/tombstone.json")
        self.assertEqual(status, 404)

    def test_path_traversal_never_leaves_the_root(self):
        for path in ("/v1/adapters/../../secret.txt", "/v1/adapters/%2e%2e/1/files/adapter.safetensors",
                     "/v1/adapters/sent/%2e%2e/files/manifest.json",
                     "/v1/adapters/sent/1/files/..%2f..%2f..%2fsecret.txt",
                     "/v1/adapters/sent/1/files/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
                     "/v1/adapters/sent/1/files/..", "/v1/adapters/sent/1/files//etc/passwd",
                     "/v1/adapters/sent/1/files/%2Fetc%2Fpasswd", f"/v1/adapters/sent/1/files/{self.tmp}/secret.txt",
                     "/v1/adapters/..%2f..%2fsecret.txt/1", "/v1/adapters/sent/1/files/manifest.json%00",
                     "//etc/passwd", "/../../../../etc/passwd"):
            status, _, body = self.request("GET", path)
            self.assertIn(status, (400, 404), path)
            self.assertNotIn(b"SECRET", body, path)
            self.assertNotIn(b"root:", body, path)
        # An absolute-form or non-path request target.
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            s.sendall(b"GET /etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertIn(b" 404 ", s.recv(4096))

    def test_alias_and_delete(self):
        v = self.publish()["version"]
        path = f"/v1/adapters/sent/aliases/staging"
        self.assertEqual(self.json_request("PUT", path, body={"version": v})["version"], v)
        self.json_request("PUT", path, body={"version": 999}, expect=409)
        self.json_request("PUT", "/v1/adapters/sent/aliases/latest", body={"version": 1}, expect=400)
        status, _, body = self.request("PUT", path, body=b'{"version": ')
        self.assertEqual(status, 400)
        self.assertIn("request body", json.loads(body)["error"]["message"])
        err = self.json_request("DELETE", f"/v1/adapters/sent/{v}", "admin", expect=409)["error"]
        self.assertIn("staging", err["message"])
        self.json_request("PUT", path, "admin", body={"version": 1})
        self.assertTrue(self.json_request("DELETE", f"/v1/adapters/sent/{v}?reason=test", "admin")["deleted"])
        self.json_request("GET", f"/v1/adapters/sent/{v}", expect=404)
        self.json_request("PUT", path, body={"version": v}, expect=409)

    def test_limits_and_bad_requests(self):
        status, _, _ = self.request("PUT", "/v1/adapters/sent/aliases/x", body=b"x" * 4096)
        self.assertEqual(status, 413)
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
            self.assertIn(b" 431 ", s.recv(4096))
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            self.assertIn(b" 400 ", s.recv(4096))
        status, _, _ = self.request("POST", "/v1/adapters")
        self.assertEqual(status, 405)
        self.assertEqual(self.request("GET", "/healthz", role=None)[0], 200)  # still serving

    def test_fetch_then_predict_equals_the_registry(self):
        p = self.fetch("sent@prod", "-o", self.tmp / "fetched-a")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual((out["ref"], out["cached"]), ("sent@1", False))
        for name in ("adapter.safetensors", "manifest.json"):
            self.assertEqual((self.tmp / "fetched-a" / name).read_bytes(), (self.root / "sent/1" / name).read_bytes())
        self.assertEqual(self.predict(self.tmp / "fetched-a"), self.predict("sent@1", registry=True))
        # The same tensors again: from the cache, no download; an existing identical DIR is fine.
        p = self.fetch("sent@1", "-o", self.tmp / "fetched-b")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(json.loads(p.stdout)["cached"])
        self.assertEqual(self.fetch("sent@1", "-o", self.tmp / "fetched-a").returncode, 0)
        (self.tmp / "other").mkdir()
        p = self.fetch("sent@1", "-o", self.tmp / "other")
        self.assertEqual(p.returncode, 1)
        self.assertIn("not overwritten", p.stderr)
        # Default DIR: ./<task>-<version>; a token from the environment's file.
        cwd = self.tmp / "cwd"
        cwd.mkdir()
        env = dict(os.environ, TRELLIS_SERVER=f"http://127.0.0.1:{self.port}",
                   TRELLIS_TOKEN_FILE=str(self.tmp / "worker.token"), TRELLIS_CACHE_DIR=str(self.tmp / "cache2"))
        p = subprocess.run([BIN, "fetch", "sent@2"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue((cwd / "sent-2" / "adapter.safetensors").exists())
        # Errors: unknown version (lists what exists), bad token, no server.
        p = self.fetch("sent@77", "-o", self.tmp / "x")
        self.assertEqual(p.returncode, 1)
        self.assertIn("404", p.stderr)
        (self.tmp / "bad.token").write_text("bad-token-0123456789abcdef")
        p = self.fetch("sent@1", "-o", self.tmp / "x", token="bad")
        self.assertEqual(p.returncode, 1)
        self.assertIn("401", p.stderr)
        self.assertNotIn("bad-token", p.stderr)
        self.assertFalse((self.tmp / "x").exists())

    def test_tampered_or_truncated_file_is_refused_by_fetch(self):
        for how in ("flip", "truncate"):
            v = self.publish()
            tensors = Path(v["dir"]) / "adapter.safetensors"
            data = tensors.read_bytes()
            os.chmod(tensors, 0o644)
            tensors.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]) if how == "flip" else data[: len(data) // 2])
            cache = f"cache-{how}"
            out = self.tmp / f"tampered-{how}"
            p = self.fetch(v["ref"], "-o", out, cache=cache)
            self.assertEqual(p.returncode, 1, how)
            self.assertIn("refused", p.stderr)
            self.assertIn("sha256", p.stderr)
            self.assertFalse(out.exists())
            left = [f for f in (self.tmp / cache).rglob("*") if f.is_file()]
            self.assertEqual(left, [], how)

    def test_sigterm_stops_with_exit_0(self):
        p, port = start_coordinator(self.root, self.auth)
        idle = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)  # an idle keep-alive client
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            conn.request("GET", "/healthz")
            self.assertEqual(conn.getresponse().status, 200)
            conn.close()
            start = time.monotonic()
            self.assertEqual(stop_coordinator(p), 0)
            self.assertLess(time.monotonic() - start, 15)
        finally:
            idle.close()
            if p.poll() is None:
                p.kill()
                p.wait()
        p.stdout.close()
        p.stderr.close()


if __name__ == "__main__":
    unittest.main()
