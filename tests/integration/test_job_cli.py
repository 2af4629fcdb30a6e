"""The job commands of the trellis CLI (submit, jobs, status, events, cancel) against a fake
coordinator that speaks coordinator/api/PROTOCOL.md: a small http.server on loopback, in this file,
with scripted job outcomes. Checks uploads (ids are the sha256 of the bytes), the idempotency key
and the retry after a dropped reply, --follow's exit codes, what each command prints, server
errors, the server/token configuration, and that the token is sent as a bearer token but never
printed. Needs only the trellis binary ($TRELLIS_BIN), no backbone.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from test_cli import BIN, synthetic_rows, write_jsonl

TOKEN = "job-cli-secret-token-0123456789abcdef"
TERMINAL = ("succeeded", "failed", "cancelled")


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def script_for(task):
    """The events of a job by its task name: 'bad...' fails, 'stop...' is cancelled while running,
    'wait...' stays queued, anything else succeeds."""
    if task.startswith("wait"):
        return [("state", {"to": "queued"})], None
    events = [("state", {"to": "queued"}), ("state", {"from": "queued", "to": "leased"}),
              ("state", {"from": "leased", "to": "running"}),
              ("progress", {"step": 10, "total_steps": 40}),
              ("metrics", {"step": 10, "epoch": 1, "loss": 0.9123, "learning_rate": 0.001, "samples_per_s": 123.4}),
              ("progress", {"step": 20, "total_steps": 40}),
              ("metrics", {"eval": {"step": 20, "metric": "accuracy", "value": 0.75}}),
              ("metrics", {"step": 20, "epoch": 2, "loss": 0.4567, "learning_rate": 0.0005, "samples_per_s": 130.0})]
    if task.startswith("bad"):
        events += [("error", {"code": "train_failed", "message": "loss became NaN at step 21", "retryable": False}),
                   ("state", {"from": "running", "to": "failed"})]
        return events, {"code": "train_failed", "message": "loss became NaN at step 21"}
    if task.startswith("stop"):
        return events + [("state", {"from": "running", "to": "cancelled"})], None
    return events + [("progress", {"step": 40, "total_steps": 40}),
                     ("state", {"from": "running", "to": "succeeded"})], None


class FakeCoordinator:
    """Just enough of the job API, with every request recorded."""

    def __init__(self):
        self.lock = threading.Lock()
        self.files = {}        # id -> bytes
        self.file_names = {}   # id -> X-Trellis-File-Name
        self.jobs = {}         # id -> job object
        self.order = []        # job ids in submission order
        self.events = {}       # id -> [event]
        self.visible = {}      # id -> how many events have been revealed
        self.keys = {}         # idempotency key -> (body, job id)
        self.requests = []     # (method, path, headers, body)
        self.drop_next_job_reply = False
        self.page_size = 2
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # --- the job model -------------------------------------------------------------------------
    def add_job(self, spec, priority=0, max_attempts=3):
        job_id = "j-" + uuid.uuid4().hex
        script, error = script_for(spec.get("task", ""))
        self.events[job_id] = [{"seq": i + 1, "time": f"2026-11-29T12:00:{i:02d}.000Z", "kind": k, "payload": p}
                               for i, (k, p) in enumerate(script)]
        self.visible[job_id] = 1
        self.jobs[job_id] = {
            "id": job_id, "task": spec.get("task"), "spec": spec, "backbone": spec.get("backbone", "tiny-bert"),
            "backbone_sha256": "0" * 64, "state": "queued", "attempts": 0, "max_attempts": max_attempts, "preemptions": 0,
            "priority": priority, "queue_position": 0, "cancel_requested": False,
            "progress": {"step": 0, "total_steps": 0, "eta_seconds": None}, "metrics": {}, "error": None,
            "artifact": None, "created_at": "2026-11-29T12:00:00.000Z", "updated_at": "2026-11-29T12:00:00.000Z",
            "started_at": None, "finished_at": None, "_error": error}
        self.order.append(job_id)
        return job_id

    def refresh(self, job_id):
        """The job as its visible events say."""
        job = self.jobs[job_id]
        for e in self.events[job_id][: self.visible[job_id]]:
            p = e["payload"]
            if e["kind"] == "state":
                job["state"] = p["to"]
            elif e["kind"] == "progress":
                job["progress"] = {"step": p["step"], "total_steps": p["total_steps"], "eta_seconds": 12.0}
            elif e["kind"] == "metrics":
                job["metrics"] = p
        if job["state"] != "queued":
            job["queue_position"] = None
            job["attempts"] = 1 + job["preemptions"]
            job["started_at"] = "2026-11-29T12:00:01.000Z"
        if job["state"] in TERMINAL:
            job["finished_at"] = "2026-11-29T12:00:30.000Z"
            job["progress"]["eta_seconds"] = None
        if job["state"] == "succeeded":
            job["artifact"] = f"{job['task']}@3"
        if job["state"] == "failed":
            job["error"] = job["_error"]
        return {k: v for k, v in job.items() if not k.startswith("_")}

    # --- HTTP ----------------------------------------------------------------------------------
    def reply(self, h, status, obj=None, close=False):
        body = b"" if obj is None else json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        if close:
            h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)

    def error(self, h, status, code, message):
        self.reply(h, status, {"error": {"code": code, "message": message}})

    def handle(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        url = urlparse(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.lock:
            self.requests.append((method, h.path, dict(h.headers.items()), body))
            if h.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.error(h, 401, "unauthorized", "missing or unknown token")
            parts = [p for p in url.path.split("/") if p]
            if method == "POST" and url.path == "/v1/files":
                file_id = sha256_bytes(body)
                status = 200 if file_id in self.files else 201
                self.files[file_id] = body
                self.file_names[file_id] = h.headers.get("X-Trellis-File-Name")
                return self.reply(h, status, {"id": file_id, "bytes": len(body)})
            if method == "POST" and url.path == "/v1/jobs":
                return self.submit(h, body)
            if method == "GET" and url.path == "/v1/jobs":
                ids = self.order
                if "after" in query:
                    ids = ids[ids.index(query["after"]) + 1:] if query["after"] in ids else []
                jobs = [self.refresh(i) for i in ids]
                jobs = [j for j in jobs if query.get("state") in (None, j["state"]) and query.get("task") in (None, j["task"])]
                limit = min(int(query.get("limit", 100)), self.page_size)
                page = jobs[:limit]
                return self.reply(h, 200, {"jobs": page, "next": page[-1]["id"] if len(jobs) > limit else None})
            if len(parts) >= 3 and parts[:2] == ["v1", "jobs"]:
                job_id = parts[2]
                if job_id not in self.jobs:
                    return self.error(h, 404, "not_found", f"no job {job_id}")
                if method == "GET" and len(parts) == 3:
                    return self.reply(h, 200, self.refresh(job_id))
                if method == "GET" and parts[3:] == ["events"]:
                    after = int(query.get("after", 0))
                    if "wait" in query:  # following: reveal a few more events per poll
                        self.visible[job_id] = min(len(self.events[job_id]), self.visible[job_id] + 3)
                    else:
                        self.visible[job_id] = len(self.events[job_id]) if self.jobs[job_id]["task"].startswith("done") \
                            else self.visible[job_id]
                    events = [e for e in self.events[job_id][: self.visible[job_id]] if e["seq"] > after]
                    job = self.refresh(job_id)
                    return self.reply(h, 200, {"events": events, "last_seq": self.visible[job_id], "state": job["state"]})
                if method == "POST" and parts[3:] == ["cancel"]:
                    job = self.refresh(job_id)
                    if job["state"] in TERMINAL:
                        return self.error(h, 409, "conflict", f"job {job_id} is already {job['state']}")
                    if job["state"] == "queued":
                        n = len(self.events[job_id])
                        self.events[job_id].append({"seq": n + 1, "time": "2026-11-29T12:01:00.000Z", "kind": "state",
                                                    "payload": {"from": "queued", "to": "cancelled"}})
                        self.visible[job_id] = n + 1
                    else:
                        self.jobs[job_id]["cancel_requested"] = True
                    return self.reply(h, 200, self.refresh(job_id))
            return self.error(h, 404, "not_found", f"no route {method} {url.path}")

    def submit(self, h, body):
        try:
            request = json.loads(body)
        except ValueError:
            return self.error(h, 400, "invalid", "the body is not JSON")
        envelope = "spec" in request
        spec = request["spec"] if envelope else request
        for field in ("train", "validation"):
            value = spec.get("data", {}).get(field)
            if value is None and field == "validation":
                continue
            if not (isinstance(value, str) and value.startswith("file:") and value[5:69] in self.files
                    and value[69:] in ("", ".jsonl", ".csv", ".tsv")):
                return self.error(h, 400, "invalid", f"field 'data.{field}' must be a file id (file:<sha256>), not {value!r}")
        if spec.get("train", {}).get("batch_size", 1) <= 0:
            return self.error(h, 400, "invalid", "field 'train.batch_size' must be > 0")
        key = h.headers.get("Idempotency-Key")
        if key in self.keys:
            first_body, job_id = self.keys[key]
            if first_body != body:
                return self.error(h, 409, "conflict", "the idempotency key was used for another request")
            return self.reply(h, 200, self.refresh(job_id))
        job_id = self.add_job(spec, request.get("priority", 0) if envelope else 0,
                              request.get("max_attempts", 3) if envelope else 3)
        if key:
            self.keys[key] = (body, job_id)
        if self.drop_next_job_reply:  # the job exists, but the client never hears of it
            self.drop_next_job_reply = False
            h.close_connection = True
            return
        return self.reply(h, 201, self.refresh(job_id))


class JobCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BIN or not Path(BIN).exists():
            raise unittest.SkipTest("TRELLIS_BIN is not set (run through ctest)")

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="trellis-job-cli-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.fake = FakeCoordinator()
        self.addCleanup(self.fake.close)
        (self.tmp / "token").write_text(TOKEN + "\n")
        (self.tmp / "home").mkdir()
        (self.tmp / "specs").mkdir()
        (self.tmp / "cwd").mkdir()
        write_jsonl(self.tmp / "specs" / "train.jsonl", synthetic_rows(50, 1))
        write_jsonl(self.tmp / "cwd" / "dev.jsonl", synthetic_rows(20, 2))

    def env(self, server=True, token=True, **extra):
        env = {k: v for k, v in os.environ.items()
               if k not in ("TRELLIS_SERVER", "TRELLIS_TOKEN_FILE", "TRELLIS_CONFIG", "XDG_CONFIG_HOME")}
        env["HOME"] = str(self.tmp / "home")
        if server:
            env["TRELLIS_SERVER"] = self.fake.url
        if token:
            env["TRELLIS_TOKEN_FILE"] = str(self.tmp / "token")
        env.update(extra)
        return env

    def cli(self, *args, env=None, cwd=None):
        p = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, text=True, timeout=120,
                           env=env or self.env(), cwd=cwd or self.tmp / "cwd")
        self.assertNotIn(TOKEN, p.stdout)
        self.assertNotIn(TOKEN, p.stderr)
        return p

    def write_spec(self, task="sent", name="job.json", **data):
        spec = {"task": task, "backbone": "tiny-bert",
                "data": {"train": "train.jsonl", "max_seq_len": 32, **data},
                "train": {"epochs": 1, "batch_size": 8, "learning_rate": 0.01}}
        path = self.tmp / "specs" / name
        path.write_text(json.dumps(spec))
        return path

    def job_posts(self):
        return [r for r in self.fake.requests if r[0] == "POST" and r[1] == "/v1/jobs"]

    def check_bearer(self):
        for method, path, headers, _ in self.fake.requests:
            self.assertEqual(headers.get("Authorization"), f"Bearer {TOKEN}", f"{method} {path}")

    def test_submit_uploads_data_and_follows_to_success(self):
        spec = self.write_spec()
        p = self.cli("submit", spec, "--validation", "dev.jsonl", "--follow")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 2, p.stdout)
        job_id, artifact = lines
        self.assertRegex(job_id, r"^j-[0-9a-f]{32}$")
        self.assertEqual(artifact, "sent@3")
        # Both files uploaded, named, stored under their sha256, and referenced as file:<id>.
        train_bytes = (self.tmp / "specs" / "train.jsonl").read_bytes()
        dev_bytes = (self.tmp / "cwd" / "dev.jsonl").read_bytes()
        self.assertEqual(set(self.fake.files), {sha256_bytes(train_bytes), sha256_bytes(dev_bytes)})
        for file_id, data in self.fake.files.items():
            self.assertEqual(sha256_bytes(data), file_id)
        self.assertEqual(self.fake.file_names[sha256_bytes(train_bytes)], "train.jsonl")
        self.assertEqual(self.fake.file_names[sha256_bytes(dev_bytes)], "dev.jsonl")
        job = self.fake.jobs[job_id]
        # The reference keeps the format (the workers' readers go by extension).
        self.assertEqual(job["spec"]["data"]["train"], "file:" + sha256_bytes(train_bytes) + ".jsonl")
        self.assertEqual(job["spec"]["data"]["validation"], "file:" + sha256_bytes(dev_bytes) + ".jsonl")
        self.assertEqual(job["spec"]["data"]["max_seq_len"], 32)
        # A bare spec (no envelope) and an idempotency key even though none was given.
        posts = self.job_posts()
        self.assertEqual(len(posts), 1)
        self.assertNotIn("spec", json.loads(posts[0][3]))
        self.assertTrue(posts[0][2].get("Idempotency-Key"))
        # Long polls with increasing `after`; plain lines (stderr is not a terminal) per metrics event.
        polls = [r[1] for r in self.fake.requests if "/events" in r[1]]
        self.assertGreater(len(polls), 2)
        self.assertTrue(all("wait=20" in q or "wait=0" in q for q in polls), polls)
        afters = [int(re.search(r"after=(\d+)", q).group(1)) for q in polls]
        self.assertEqual(afters, sorted(afters))
        self.assertIn("loss 0.9123", p.stderr)
        self.assertIn("eval step 20 accuracy 0.7500", p.stderr)
        self.assertIn("running -> succeeded", p.stderr)
        self.assertNotIn("\r", p.stderr)
        self.check_bearer()

    def test_follow_exit_codes_for_failed_and_cancelled(self):
        p = self.cli("submit", self.write_spec(task="bad-task"), "--follow")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("loss became NaN at step 21", p.stderr)
        self.assertIn("failed", p.stderr)
        self.assertEqual(len(p.stdout.splitlines()), 1)  # the id only: no artifact
        p = self.cli("submit", self.write_spec(task="stop-task"), "--follow")
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("cancelled", p.stderr)
        # --json --follow: the finished job as JSON.
        p = self.cli("-q", "submit", self.write_spec(task="json-task"), "--follow", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        job = json.loads(p.stdout)
        self.assertEqual((job["state"], job["artifact"]), ("succeeded", "json-task@3"))
        self.assertEqual(p.stderr, "")

    def test_envelope_idempotency_key_and_file_ids(self):
        # An already uploaded file is referenced, not uploaded again.
        data = (self.tmp / "specs" / "train.jsonl").read_bytes()
        self.fake.files[sha256_bytes(data)] = data
        spec = self.write_spec(train="file:" + sha256_bytes(data))
        args = ["submit", spec, "--priority", "5", "--max-attempts", "2", "--idempotency-key", "key-123", "--json"]
        p = self.cli(*args)
        self.assertEqual(p.returncode, 0, p.stderr)
        job = json.loads(p.stdout)
        self.assertEqual((job["priority"], job["max_attempts"]), (5, 2))
        self.assertFalse([r for r in self.fake.requests if r[1] == "/v1/files"])
        post = self.job_posts()[0]
        self.assertEqual(post[2]["Idempotency-Key"], "key-123")
        body = json.loads(post[3])
        self.assertEqual(set(body), {"spec", "priority", "max_attempts"})
        self.assertEqual(body["spec"]["data"]["train"], "file:" + sha256_bytes(data))
        # The same key and request: the same job; another request with that key: 409.
        p2 = self.cli(*args)
        self.assertEqual(p2.returncode, 0, p2.stderr)
        self.assertEqual(json.loads(p2.stdout)["id"], job["id"])
        self.assertEqual(len(self.fake.jobs), 1)
        p3 = self.cli("submit", spec, "--priority", "6", "--idempotency-key", "key-123")
        self.assertEqual(p3.returncode, 1)
        self.assertIn("POST /v1/jobs: 409: the idempotency key was used for another request", p3.stderr)
        # Only --priority: the envelope holds only what was given.
        self.cli("submit", spec, "--priority", "1")
        self.assertEqual(set(json.loads(self.job_posts()[-1][3])), {"spec", "priority"})

    def test_dropped_reply_is_retried_with_the_same_key(self):
        self.fake.drop_next_job_reply = True
        p = self.cli("submit", self.write_spec())
        self.assertEqual(p.returncode, 0, p.stderr)
        posts = self.job_posts()
        self.assertEqual(len(posts), 2)
        self.assertEqual(posts[0][2]["Idempotency-Key"], posts[1][2]["Idempotency-Key"])
        self.assertEqual(len(self.fake.jobs), 1)
        self.assertEqual(p.stdout.strip(), self.fake.order[0])

    def test_server_errors_and_bad_input(self):
        spec = self.write_spec()
        doc = json.loads(spec.read_text())
        doc["train"]["batch_size"] = 0
        spec.write_text(json.dumps(doc))
        p = self.cli("submit", spec)
        self.assertEqual(p.returncode, 1)
        self.assertIn("trellis: error: POST /v1/jobs: 400: field 'train.batch_size' must be > 0", p.stderr)
        # A data file that does not exist: nothing is sent.
        n = len(self.fake.requests)
        p = self.cli("submit", self.write_spec(validation="missing.jsonl"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("missing.jsonl", p.stderr)
        self.assertFalse([r for r in self.fake.requests[n:] if r[1] == "/v1/jobs"])
        # Unknown job: the server's 404; a malformed id: usage.
        p = self.cli("status", "j-" + "0" * 32)
        self.assertEqual(p.returncode, 1)
        self.assertIn("404", p.stderr)
        self.assertIn("no job j-" + "0" * 32, p.stderr)
        p = self.cli("status", "../files")
        self.assertEqual(p.returncode, 2)
        p = self.cli("submit")
        self.assertEqual(p.returncode, 2)
        # A wrong token: 401, and neither token appears anywhere.
        (self.tmp / "bad.token").write_text("bad-token-0123456789")
        p = self.cli("jobs", "--token-file", self.tmp / "bad.token")
        self.assertEqual(p.returncode, 1)
        self.assertIn("401", p.stderr)
        self.assertNotIn("bad-token", p.stderr + p.stdout)
        # Nothing listens: a network error, exit 1.
        p = self.cli("jobs", "--server", "http://127.0.0.1:1")
        self.assertEqual(p.returncode, 1)
        self.assertIn("127.0.0.1:1", p.stderr)

    def test_server_and_token_configuration(self):
        # No server anywhere: a clear error.
        p = self.cli("jobs", env=self.env(server=False))
        self.assertEqual(p.returncode, 1)
        self.assertIn("no coordinator", p.stderr)
        self.assertIn("--server", p.stderr)
        self.assertIn("TRELLIS_SERVER", p.stderr)
        # The default config file (~/.config/trellis/client.json), token_file relative to it.
        config_dir = self.tmp / "home" / ".config" / "trellis"
        config_dir.mkdir(parents=True)
        shutil.copy(self.tmp / "token", config_dir / "my.token")
        (config_dir / "client.json").write_text(json.dumps({"server": self.fake.url, "token_file": "my.token"}))
        p = self.cli("jobs", env=self.env(server=False, token=False))
        self.assertEqual(p.returncode, 0, p.stderr)
        # $TRELLIS_CONFIG wins over the default file; the environment wins over both; flags win over all.
        (self.tmp / "other.json").write_text(json.dumps({"server": "http://127.0.0.1:1"}))
        p = self.cli("jobs", env=self.env(server=False, TRELLIS_CONFIG=str(self.tmp / "other.json")))
        self.assertEqual(p.returncode, 1)
        self.assertIn("127.0.0.1:1", p.stderr)
        p = self.cli("jobs", env=self.env(TRELLIS_CONFIG=str(self.tmp / "other.json")))
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("jobs", "--server", self.fake.url, env=self.env(TRELLIS_SERVER="http://127.0.0.1:1"))
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("jobs", env=self.env(server=False, TRELLIS_CONFIG=str(self.tmp / "nope.json")))
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope.json", p.stderr)
        self.check_bearer()

    def test_jobs_status_events_cancel(self):
        ids = [self.fake.add_job({"task": t, "backbone": "tiny-bert"}) for t in ("done-a", "done-b", "wait-c", "bad-d", "wait-e")]
        self.fake.visible[ids[3]] = len(self.fake.events[ids[3]])  # bad-d has failed
        # jobs: every page followed (the fake serves 2 per page), in order.
        p = self.cli("jobs")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = p.stdout.splitlines()
        self.assertTrue(rows[0].startswith("ID"), rows)
        self.assertEqual([r.split()[0] for r in rows[1:]], ids)
        self.assertIn("loss became NaN at step 21", rows[4])
        self.assertIn("failed", rows[4])
        p = self.cli("jobs", "--limit", "3", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        listed = json.loads(p.stdout)
        self.assertEqual([j["id"] for j in listed["jobs"]], ids[:3])
        self.assertEqual(listed["next"], ids[2])
        p = self.cli("jobs", "--state", "queued", "--task", "wait-c")
        self.assertEqual([r.split()[0] for r in p.stdout.splitlines()[1:]], [ids[2]])
        self.assertTrue(any("state=queued" in r[1] and "task=wait-c" in r[1] for r in self.fake.requests))
        p = self.cli("jobs", "--state", "bogus")
        self.assertEqual(p.returncode, 2)
        # events: all of a finished job, one line each; --json; --after.
        p = self.cli("events", ids[0])
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), len(self.fake.events[ids[0]]))
        self.assertTrue(lines[0].startswith("#1 "), lines[0])
        self.assertIn("queued -> leased", lines[1])
        self.assertIn("20/40 (50%)", p.stdout)
        self.assertIn("running -> succeeded", lines[-1])
        p = self.cli("events", ids[0], "--json", "--after", "5")
        self.assertEqual([json.loads(l)["seq"] for l in p.stdout.splitlines()],
                         [e["seq"] for e in self.fake.events[ids[0]] if e["seq"] > 5])
        # status: a finished job and a queued one.
        p = self.cli("status", ids[0])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"state\s+succeeded")
        self.assertRegex(p.stdout, r"artifact\s+done-a@3")
        self.assertRegex(p.stdout, r"progress\s+40/40 \(100%\)")
        self.assertIn("loss 0.4567", p.stdout)
        self.fake.jobs[ids[0]]["preemptions"] = 2  # hand-backs do not count against max_attempts
        p = self.cli("status", ids[0])
        self.assertRegex(p.stdout, r"attempts\s+1 of 3 \+2 pre-empted, priority 0")
        p = self.cli("jobs", "--task", "done-a")
        self.assertIn(" 1/3 +2 pre-empted ", p.stdout)
        p = self.cli("status", ids[3])
        self.assertRegex(p.stdout, r"error\s+train_failed: loss became NaN at step 21")
        p = self.cli("status", ids[2], "--json")
        self.assertEqual(json.loads(p.stdout)["state"], "queued")
        p = self.cli("status", ids[2])
        self.assertIn("queue position 0", p.stdout)
        # events -f on a running job: until the end, exit code by outcome.
        running = self.fake.add_job({"task": "follow-me"})
        p = self.cli("events", "-f", running)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("running -> succeeded", p.stdout.splitlines()[-1])
        self.assertEqual(len(p.stdout.splitlines()), len(self.fake.events[running]))
        p = self.cli("events", "--follow", self.fake.add_job({"task": "bad-follow"}))
        self.assertEqual(p.returncode, 3)
        # cancel: a queued job at once; a finished one is a 409 with the server's message.
        p = self.cli("cancel", ids[4])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), f"{ids[4]}: cancelled")
        p = self.cli("cancel", ids[4])
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"POST /v1/jobs/{ids[4]}/cancel: 409: job {ids[4]} is already cancelled", p.stderr)
        self.fake.visible[running] = 3  # back to running
        p = self.cli("cancel", running, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(json.loads(p.stdout)["cancel_requested"])
        self.check_bearer()

    def test_help_documents_exit_codes(self):
        p = self.cli("submit", "--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("Exit codes", p.stdout)
        self.assertIn("3 the followed job failed", p.stdout)


if __name__ == "__main__":
    unittest.main()
