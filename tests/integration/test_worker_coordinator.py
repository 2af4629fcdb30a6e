"""trellis-worker --coordinator against a fake coordinator (the worker protocol of
coordinator/api/PROTOCOL.md, served by http.server on loopback): `mpirun -np 2 trellis-worker
--coordinator ...` leases jobs, heartbeats with training metrics, publishes and completes, reports
cancelled after a "cancel" heartbeat reply, posts nothing after a lost lease (409), fails bad data
with retryable false and goes on, registers again after a 404 on lease, and exits 0 on SIGTERM
while idle.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from test_cli import skip_unless_set_up, synthetic_rows, write_jsonl
from test_worker import MPI_ENV, MPIRUN, WORKER, mpirun_cmd, rank_pids

TOKEN = "worker-secret"


class FakeCoordinator:
    """The worker protocol in memory. `jobs` are queued in order; each job may say how its
    heartbeats are answered ("continue", "cancel", or 409)."""

    def __init__(self):
        self.lock = threading.Condition()
        self.files = {}
        self.jobs = {}
        self.queue = []
        self.groups = set()
        self.calls = []  # (method, path, body) in arrival order
        self.forget_groups_once = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=None, raw=None):
                data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
                self.send_response(status)
                if status != 204:
                    self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
                    self.send_header("Content-Length", str(len(data)))
                else:
                    self.send_header("Content-Length", "0")
                self.end_headers()
                if status != 204:
                    self.wfile.write(data)

            def authorised(self):
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.reply(401, {"error": {"code": "unauthorized", "message": "bad token"}})
                    return False
                return True

            def do_GET(self):
                if not self.authorised():
                    return
                parts = urlparse(self.path).path.strip("/").split("/")
                with fake.lock:
                    fake.calls.append(("GET", self.path, None))
                if parts[:2] == ["v1", "files"] and len(parts) == 3:
                    data = fake.files.get(parts[2])
                    if data is None:
                        return self.reply(404, {"error": {"code": "not_found", "message": "no such file"}})
                    return self.reply(200, raw=data)
                self.reply(404, {"error": {"code": "not_found", "message": self.path}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if not self.authorised():
                    return
                body = json.loads(raw) if raw else None
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                with fake.lock:
                    fake.calls.append(("POST", url.path, body))
                    fake.lock.notify_all()
                if parts == ["v1", "groups"]:
                    gid = body.get("group_id") or "g-" + uuid.uuid4().hex[:12]
                    with fake.lock:
                        fake.groups.add(gid)
                    return self.reply(201, {"group_id": gid, "lease_ttl_ms": 6000, "heartbeat_ms": 300})
                if len(parts) == 4 and parts[:2] == ["v1", "groups"] and parts[3] == "lease":
                    wait = float(parse_qs(url.query).get("wait", ["0"])[0])
                    deadline = time.time() + wait
                    with fake.lock:
                        if fake.forget_groups_once:
                            fake.forget_groups_once = False
                            fake.groups.clear()
                        if parts[2] not in fake.groups:
                            return self.reply(404, {"error": {"code": "not_found", "message": "unknown group"}})
                        while not fake.queue and time.time() < deadline:
                            fake.lock.wait(0.05)
                        if not fake.queue:
                            return self.reply(204)
                        job = fake.jobs[fake.queue.pop(0)]
                        job["object"]["state"] = "leased"
                        # As the real store: `attempts` counts the attempts that ended without success.
                        job["object"]["attempts"] = job.setdefault("leases", 0)
                        job["leases"] += 1
                        job["lease_id"] = "l-" + uuid.uuid4().hex[:12]
                        return self.reply(200, {"lease_id": job["lease_id"], "lease_ttl_ms": 6000, "job": job["object"]})
                if len(parts) == 4 and parts[:2] == ["v1", "jobs"]:
                    with fake.lock:
                        job = fake.jobs.get(parts[2])
                        if job is None:
                            return self.reply(404, {"error": {"code": "not_found", "message": "no such job"}})
                        if body.get("lease_id") != job["lease_id"] or job["object"]["state"] in ("succeeded", "failed", "cancelled"):
                            return self.reply(409, {"error": {"code": "conflict", "message": "lease gone"}})
                        if parts[3] == "heartbeat":
                            job["beats"].append(body)
                            job["object"]["state"] = "running"
                            if job["heartbeat"] == 409:
                                return self.reply(409, {"error": {"code": "conflict", "message": "lease gone"}})
                            return self.reply(200, {"action": job["heartbeat"]})
                        state = {"complete": "succeeded", "fail": "failed", "cancelled": "cancelled"}.get(parts[3])
                        if state is None:
                            return self.reply(404, {"error": {"code": "not_found", "message": self.path}})
                        job["object"]["state"] = state
                        job["terminal"] = (parts[3], body)
                        fake.lock.notify_all()
                        return self.reply(200, job["object"])
                self.reply(404, {"error": {"code": "not_found", "message": self.path}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_file(self, data):
        sha = hashlib.sha256(data).hexdigest()
        self.files[sha] = data
        return sha

    def add_job(self, spec, heartbeat="continue"):
        jid = "j-" + uuid.uuid4().hex
        obj = {"id": jid, "task": spec["task"], "spec": spec, "backbone": spec["backbone"], "state": "queued",
               "attempts": 0, "max_attempts": 3, "cancel_requested": heartbeat == "cancel"}
        with self.lock:
            self.jobs[jid] = {"object": obj, "heartbeat": heartbeat, "beats": [], "terminal": None, "lease_id": None}
            self.queue.append(jid)
            self.lock.notify_all()
        return jid

    def wait_terminal(self, jid, seconds, proc=None):
        deadline = time.time() + seconds
        with self.lock:
            while self.jobs[jid]["terminal"] is None and time.time() < deadline:
                if proc is not None and proc.poll() is not None:
                    break
                self.lock.wait(0.2)
            return self.jobs[jid]["terminal"]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class WorkerCoordinatorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_set_up(TRELLIS_WORKER_BIN=WORKER)
        if not MPIRUN:
            raise unittest.SkipTest("mpirun is not installed (cluster/setup.sh installs openmpi-bin)")

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="trellis-worker-coord-"))
        self.fake = FakeCoordinator()
        (self.tmp / "token").write_text(TOKEN + "\n")
        self.registry = self.tmp / "registry"
        self.registry.mkdir()
        (self.registry / ".trellis-registry").touch()  # an existing registry root (the worker needs one)
        self.ckpt = self.tmp / "ckpt"
        write_jsonl(self.tmp / "train.jsonl", synthetic_rows(300, 1))
        write_jsonl(self.tmp / "dev.jsonl", synthetic_rows(60, 2))
        self.train_id = self.fake.add_file((self.tmp / "train.jsonl").read_bytes())
        self.dev_id = self.fake.add_file((self.tmp / "dev.jsonl").read_bytes())

    def tearDown(self):
        self.fake.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spec(self, task, train=None, validation=None, **overrides):
        train_spec = {"epochs": 2, "batch_size": 16, "learning_rate": 0.003, "dropout": 0.0, "seed": 7}
        train_spec.update(overrides)
        return {"task": task, "backbone": "tiny-bert",
                "data": {"train": train or f"file:{self.train_id}", "validation": validation or f"file:{self.dev_id}",
                         "max_seq_len": 32},
                "train": train_spec}

    def start_worker(self, extra=()):
        args = ["--coordinator", self.fake.url, "--token-file", self.tmp / "token", "--registry", self.registry,
                "--checkpoint-dir", self.ckpt, "--backbone", "tiny-bert", "--lease-wait", "1", *extra]
        return subprocess.Popen(mpirun_cmd(2, args, quiet=False), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=MPI_ENV)

    def stop_worker(self, proc, seconds=30):
        """SIGTERM to every rank (as Slurm does); the worker must end with 0."""
        deadline = time.time() + 10
        pids = {}
        while len(pids) < 2 and time.time() < deadline:
            pids = rank_pids(proc.pid)
            time.sleep(0.1)
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            out, err = proc.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail(f"the worker did not stop within {seconds} s after SIGTERM:\n{err[-3000:]}")
        return out, err

    def test_jobs_back_to_back_with_cancel_lost_lease_and_bad_data(self):
        fake = self.fake
        fake.forget_groups_once = True  # the first lease gets 404: the worker registers again
        missing = "0" * 64
        bad_sha = fake.add_job(self.spec("badsha", train=f"file:{missing}"))
        not_jsonl = fake.add_file(b"this is not json\n")
        bad_content = fake.add_job(self.spec("badcontent", train=f"file:{not_jsonl}"))
        lost = fake.add_job(self.spec("lost", epochs=30), heartbeat=409)
        cancel = fake.add_job(self.spec("cancelme", epochs=30), heartbeat="cancel")
        good = fake.add_job(self.spec("good"))
        proc = self.start_worker()
        try:
            terminal = fake.wait_terminal(good, 240, proc)
        finally:
            out, err = self.stop_worker(proc)
        self.assertIsNotNone(terminal, err[-4000:])
        self.assertEqual(proc.returncode, 0, err[-4000:])

        # Registration: backbone, world size, devices, host; then again under the same id.
        groups = [b for m, p, b in fake.calls if p == "/v1/groups"]
        self.assertGreaterEqual(len(groups), 2, groups)
        self.assertEqual(groups[0]["backbone_name"], "tiny-bert")
        self.assertRegex(groups[0]["backbone_sha256"], "^[0-9a-f]{64}$")
        self.assertEqual(groups[0]["world_size"], 2)
        self.assertEqual(groups[0]["devices"], ["cpu", "cpu"])
        self.assertTrue(groups[0]["host"])
        self.assertNotIn("group_id", groups[0])
        self.assertTrue(groups[1]["group_id"].startswith("g-"))

        # Bad data: a file the coordinator does not have, and one that is not JSONL.
        for jid in (bad_sha, bad_content):
            kind, body = fake.jobs[jid]["terminal"]
            self.assertEqual(kind, "fail", body)
            self.assertFalse(body["retryable"], body)
            self.assertEqual(body["lease_id"], fake.jobs[jid]["lease_id"])
            self.assertTrue(body["error"]["code"] and body["error"]["message"], body)

        # Lost lease (409 on heartbeat): the worker stops the job and posts nothing.
        self.assertIsNone(fake.jobs[lost]["terminal"])
        self.assertGreaterEqual(len(fake.jobs[lost]["beats"]), 1)
        # Cancel: a `cancelled` call, no artifact.
        kind, body = fake.jobs[cancel]["terminal"]
        self.assertEqual(kind, "cancelled", body)
        self.assertFalse((self.registry / "cancelme").exists())
        self.assertFalse((self.registry / "lost").exists())
        self.assertFalse((self.ckpt / f"{cancel}.ckpt").exists())

        # The good job: heartbeats with increasing steps and training metrics, an eval, then complete.
        beats = fake.jobs[good]["beats"]
        steps = [b["step"] for b in beats]
        self.assertEqual(steps, sorted(steps), steps)
        self.assertGreater(steps[-1], 0)
        training = [b["metrics"] for b in beats if "loss" in b["metrics"]]
        self.assertGreaterEqual(len(training), 2, beats)
        for m in training:
            self.assertEqual(set(m), {"step", "epoch", "loss", "learning_rate", "samples_per_s"})
        self.assertTrue(all(b["total_steps"] == 38 for b in beats if b["step"] > 0), beats)
        self.assertTrue(any("eval" in b["metrics"] for b in beats), beats)
        kind, body = terminal
        self.assertEqual(kind, "complete", body)
        self.assertEqual(body["artifact"], "good@1")
        manifest = json.loads((self.registry / "good" / "1" / "manifest.json").read_text())
        self.assertEqual(manifest["job_id"], good)
        self.assertEqual(manifest.get("attempt"), 1)
        self.assertTrue((self.registry / "good" / "1" / "adapter.safetensors").exists())
        self.assertFalse((self.ckpt / f"{good}.ckpt").exists(), "the checkpoint is removed after the write")
        # Data files were fetched into the default cache, verified.
        self.assertTrue((self.ckpt / "data-cache" / self.train_id).exists())
        self.assertFalse((self.ckpt / "data-cache" / missing).exists())

        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        states = {l["job"]: l["state"] for l in lines}
        self.assertEqual(states.get(good), "succeeded", lines)
        self.assertEqual(states.get(cancel), "cancelled", lines)
        self.assertEqual(states.get(bad_sha), "failed", lines)

    def test_sigterm_while_idle_exits_0(self):
        # An idle group also trims its data cache and checkpoints: 30-day-old ones go, a fresh one stays.
        cache = self.ckpt / "data-cache"
        cache.mkdir(parents=True, exist_ok=True)
        stale, fresh = cache / ("5" * 64), cache / ("6" * 64)
        stale.write_text("old rows\n")
        fresh.write_text("new rows\n")
        old_checkpoint = self.ckpt / ("j-" + "7" * 32 + ".ckpt")  # a failed job's, say
        old_checkpoint.write_text("state")
        month_ago = time.time() - 30 * 86400
        for f in (stale, old_checkpoint):
            os.utime(f, (month_ago, month_ago))
        proc = self.start_worker()
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            with self.fake.lock:
                if any(p.endswith("/lease") for _, p, _ in self.fake.calls):
                    break
            time.sleep(0.2)
        out, err = self.stop_worker(proc, seconds=20)
        self.assertEqual(proc.returncode, 0, err[-3000:])
        self.assertTrue(any(p.endswith("/lease") for _, p, _ in self.fake.calls), err[-3000:])
        self.assertFalse(stale.exists(), err[-3000:])
        self.assertTrue(fresh.exists())
        self.assertIn("data cache: removed 1 file(s) (9 bytes) unused for 604800 s", err)
        self.assertFalse(old_checkpoint.exists())
        self.assertIn("removed 1 checkpoint(s) not written for 604800 s", err)

    def test_preempted_job_fails_retryable_and_keeps_its_checkpoint(self):
        write_jsonl(self.tmp / "big.jsonl", synthetic_rows(3000, 9))
        big = self.fake.add_file((self.tmp / "big.jsonl").read_bytes())
        jid = self.fake.add_job(self.spec("long", train=f"file:{big}", epochs=50, batch_size=8))
        proc = self.start_worker(["--checkpoint-every", "5"])
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            with self.fake.lock:
                if any(b["step"] >= 3 for b in self.fake.jobs[jid]["beats"]):
                    break
            time.sleep(0.1)
        out, err = self.stop_worker(proc, seconds=60)
        self.assertEqual(proc.returncode, 0, err[-3000:])
        kind, body = self.fake.jobs[jid]["terminal"]
        self.assertEqual(kind, "fail", body)
        self.assertEqual(body["error"]["code"], "preempted")
        self.assertTrue(body["retryable"])
        self.assertTrue((self.ckpt / f"{jid}.ckpt").exists())
        # Leased again (by a new group), the job resumes from that checkpoint and says so first.
        with self.fake.lock:
            job = self.fake.jobs[jid]
            job["object"]["state"] = "queued"
            job["terminal"] = None
            job["beats"] = []
            job["heartbeat"] = "cancel"  # enough to see the resume; no need to train 50 epochs
            self.fake.queue.append(jid)
        proc = self.start_worker()
        try:
            terminal = self.fake.wait_terminal(jid, 120, proc)
        finally:
            out, err = self.stop_worker(proc)
        self.assertIsNotNone(terminal, err[-3000:])
        self.assertEqual(terminal[0], "cancelled")
        resumed = [b["metrics"]["resumed_from_step"] for b in self.fake.jobs[jid]["beats"]
                   if "resumed_from_step" in b["metrics"]]
        self.assertEqual(len(resumed), 1, self.fake.jobs[jid]["beats"])
        self.assertGreaterEqual(resumed[0], 3)
        self.assertEqual(proc.returncode, 0, err[-3000:])


if __name__ == "__main__":
    unittest.main()
