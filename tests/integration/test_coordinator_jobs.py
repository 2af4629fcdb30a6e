"""The job API end to end on loopback: the real trellis-coordinator (SQLite state), real `mpirun`
worker groups in coordinator mode, and the real `trellis` CLI.

Tiny backbone for the scheduling tests (submit/follow/predict, cancel, worker death with resume
from a checkpoint, coordinator kill -9 with 50 jobs, bad input over the socket); the real
all-MiniLM-L6-v2 backbone and real data for one submit-follow-predict run. Every wait is bounded;
every process started here is ended here, by PID (worker groups by their own process group).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import uuid
from pathlib import Path

from test_cli import BIN, SOURCE, TINY_CONFIGS, run, skip_unless_set_up, synthetic_rows, write_jsonl
from test_coordinator_adapters import COORDINATOR, TOKENS, start_coordinator, stop_coordinator
from test_worker import MPI_ENV, WORKER
TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_for(predicate, timeout, what, interval=0.1, diagnose=None):
    """Polls until `predicate` is truthy; on a timeout the error carries `diagnose()` if given."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f"\n{diagnose()}" if diagnose else ""))


class Api:
    """A few bounded HTTP calls to the coordinator (user token unless told)."""

    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, role="user", headers=None, raw=False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            h = {"Authorization": f"Bearer {TOKENS[role]}", **(headers or {})}
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                h["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            if raw:
                return r.status, data
            return r.status, (json.loads(data) if data else None)
        finally:
            conn.close()

    def upload(self, path):
        status, body = self.call("POST", "/v1/files", Path(path).read_bytes())
        assert status in (200, 201), body
        return "file:" + body["id"]

    def job(self, job_id):
        status, body = self.call("GET", f"/v1/jobs/{job_id}")
        assert status == 200, body
        return body

    def events(self, job_id):
        status, body = self.call("GET", f"/v1/jobs/{job_id}/events")
        assert status == 200, body
        return body["events"]


class Cluster:
    """A coordinator and its worker groups in one temporary directory."""

    def __init__(self, tmp, config_dir=TINY_CONFIGS, lease_ttl=30, heartbeat=1.0):
        self.tmp = Path(tmp)
        self.config_dir = config_dir
        self.registry = self.tmp / "registry"
        self.state = self.tmp / "state"
        self.checkpoints = self.tmp / "checkpoints"
        self.auth = self.tmp / "auth.json"
        self.auth.write_text(json.dumps({"tokens": [{"token": t, "role": r} for r, t in TOKENS.items()]}))
        for role, token in TOKENS.items():
            (self.tmp / f"{role}.token").write_text(token + "\n")
        self.lease_ttl, self.heartbeat = lease_ttl, heartbeat
        self.coordinator, self.port, self.groups, self.logs = None, None, [], []
        self.log = open(self.tmp / "coordinator.log", "a")

    def start_coordinator(self, port=0, *extra):
        self.coordinator, self.port = start_coordinator(
            self.registry, self.auth, "--create-registry", "--config-dir", self.config_dir,
            "--lease-ttl", self.lease_ttl, "--heartbeat", self.heartbeat, *extra, state_dir=self.state,
            listen=f"127.0.0.1:{port}", stderr=self.log)
        self.api = Api(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def kill_coordinator(self):
        self.coordinator.kill()  # SIGKILL
        self.coordinator.wait(30)

    def start_group(self, ranks=2, *extra):
        log = open(self.tmp / f"group-{len(self.groups)}.log", "w")
        self.logs.append(log)
        cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", "none", WORKER,
               "--coordinator", self.url, "--token-file", str(self.tmp / "worker.token"),
               "--registry", str(self.registry), "--checkpoint-dir", str(self.checkpoints),
               "--config-dir", str(self.config_dir), "--threads", "1", "--lease-wait", "5", "-q", *map(str, extra)]
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=MPI_ENV, start_new_session=True)
        self.groups.append(p)
        return p

    def kill_group(self, p, sig=signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)  # mpirun and its ranks share the session started for it
        except ProcessLookupError:
            pass
        p.wait(60)

    def diagnose(self):
        """What a failed wait shows: job states, and the tails of the coordinator's and groups' logs."""
        lines = []
        try:
            jobs = self.api.call("GET", "/v1/jobs?limit=1000")[1]["jobs"]
            lines.append("jobs: " + ", ".join(f"{j['task']}={j['state']}/{j['attempts']}" for j in jobs))
        except Exception as e:  # the coordinator may be the problem
            lines.append(f"jobs: unavailable ({e})")
        for log in [self.tmp / "coordinator.log", *sorted(self.tmp.glob("group-*.log"))]:
            text = log.read_text(errors="replace") if log.exists() else "(missing)"
            lines.append(f"---- tail of {log.name} ----\n" + "\n".join(text.splitlines()[-25:]))
        return "\n".join(lines)

    def group_log(self, i=-1):
        return (self.tmp / f"group-{len(self.groups) + i if i < 0 else i}.log").read_text()

    def stop(self):
        for p in self.groups:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    self.kill_group(p)
        if self.coordinator and self.coordinator.poll() is None:
            stop_coordinator(self.coordinator)
        for f in [self.log, *self.logs]:
            f.close()

    def cli(self, *args, check=False, timeout=300):
        env = dict(os.environ, TRELLIS_SERVER=self.url, TRELLIS_TOKEN_FILE=str(self.tmp / "user.token"),
                   TRELLIS_CONFIG=str(self.tmp / "no-client-config.json"))
        p = subprocess.run([BIN, "--config-dir", str(self.config_dir), *map(str, args)], capture_output=True,
                           text=True, env=env, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"trellis {args} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        return p


def tiny_spec(task, train, validation=None, epochs=1, batch=8, seed=1):
    data = {"train": str(train), "max_seq_len": 32}
    if validation:
        data["validation"] = str(validation)
    return {"task": task, "backbone": "tiny-bert", "data": data,
            "train": {"epochs": epochs, "batch_size": batch, "learning_rate": 0.003, "seed": seed}}


class CoordinatorJobsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_set_up(TRELLIS_BIN=BIN, TRELLIS_COORDINATOR_BIN=COORDINATOR, TRELLIS_WORKER_BIN=WORKER)
        if not shutil.which("mpirun"):
            raise unittest.SkipTest("mpirun is not installed (cluster/setup.sh installs OpenMPI)")
        cls.data = Path(tempfile.mkdtemp(prefix="trellis-jobs-data-"))
        write_jsonl(cls.data / "train.jsonl", synthetic_rows(160, 1))
        write_jsonl(cls.data / "dev.jsonl", synthetic_rows(32, 2))
        write_jsonl(cls.data / "small.jsonl", synthetic_rows(24, 3))
        write_jsonl(cls.data / "test.jsonl", synthetic_rows(20, 4))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.data, ignore_errors=True)

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="trellis-jobs-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.cluster = Cluster(self.tmp)
        self.addCleanup(self.cluster.stop)

    def write_spec(self, spec, name="job.json"):
        path = self.tmp / name
        path.write_text(json.dumps(spec))
        return path

    def submit_api(self, spec, **envelope):
        spec = dict(spec, data=dict(spec["data"]))
        for field in ("train", "validation"):
            if field in spec["data"]:
                spec["data"][field] = self.cluster.api.upload(spec["data"][field])
        body = {"spec": spec, **envelope} if envelope else spec
        status, job = self.cluster.api.call("POST", "/v1/jobs", body, headers={"Idempotency-Key": uuid.uuid4().hex})
        self.assertEqual(status, 201, job)
        return job["id"]

    def wait_state(self, job_id, states, timeout=120):
        return wait_for(lambda: (j := self.cluster.api.job(job_id))["state"] in states and j, timeout,
                        f"job {job_id} to reach {states}", diagnose=self.cluster.diagnose)

    def test_submit_follow_predict_with_the_cli(self):
        c = self.cluster
        c.start_coordinator()
        c.start_group(2)
        spec = self.write_spec(tiny_spec("sent", self.data / "train.jsonl", self.data / "dev.jsonl", epochs=2))
        p = c.cli("submit", spec, "--follow", check=True)
        artifact = p.stdout.strip().splitlines()[-1]
        self.assertEqual(artifact, "sent@1", p.stdout + p.stderr)
        jobs = json.loads(c.cli("jobs", "--json", check=True).stdout)["jobs"]
        self.assertEqual(len(jobs), 1)
        job = jobs[0]
        self.assertEqual((job["state"], job["artifact"], job["attempts"]), ("succeeded", "sent@1", 0))
        self.assertEqual(job["progress"]["step"], job["progress"]["total_steps"])
        self.assertGreater(job["progress"]["total_steps"], 0)
        status = json.loads(c.cli("status", job["id"], "--json", check=True).stdout)
        self.assertEqual(status["id"], job["id"])
        kinds = [e["kind"] for e in c.api.events(job["id"])]
        self.assertIn("metrics", kinds)
        self.assertEqual([e["payload"]["to"] for e in c.api.events(job["id"]) if e["kind"] == "state"],
                         ["queued", "leased", "running", "succeeded"])
        # The artifact predicts, from the registry, with its lineage.
        manifest = json.loads((c.registry / "sent" / "1" / "manifest.json").read_text())
        self.assertEqual(manifest.get("job_id"), job["id"])
        out = run(["--registry", c.registry, "predict", "--adapter", "sent@1", "--data", self.data / "test.jsonl"],
                  check=True).stdout
        self.assertEqual(len([l for l in out.splitlines() if l.strip()]), 20)
        # No token in any log or output.
        c.log.flush()
        texts = [(self.tmp / "coordinator.log").read_text(), c.group_log(0), p.stdout, p.stderr]
        for token in TOKENS.values():
            self.assertFalse(any(token in t for t in texts), "a token appears in a log")

    def test_cancel_queued_and_running(self):
        c = self.cluster
        c.start_coordinator()
        spec = self.write_spec(tiny_spec("slow", self.data / "train.jsonl", epochs=200, batch=4))
        queued = c.cli("submit", spec, check=True).stdout.strip().split()[-1]
        p = c.cli("cancel", queued, check=True)
        self.assertEqual(c.api.job(queued)["state"], "cancelled")
        self.assertEqual(c.cli("cancel", queued).returncode, 1)  # already finished: 409
        running = c.cli("submit", spec, check=True).stdout.strip().split()[-1]
        c.start_group(2)
        wait_for(lambda: c.api.job(running)["progress"]["step"] >= 3, 120, "the job to train a few steps")
        c.cli("cancel", running, check=True)
        job = self.wait_state(running, TERMINAL, timeout=60)
        self.assertEqual(job["state"], "cancelled")
        self.assertIsNone(job["artifact"])
        self.assertFalse((c.registry / "slow").exists() and any((c.registry / "slow").iterdir()))
        follow = c.cli("events", running, "--follow")
        self.assertEqual(follow.returncode, 4, follow.stdout + follow.stderr)  # the followed job was cancelled

    def test_worker_death_requeues_and_a_new_group_resumes_from_the_checkpoint(self):
        c = self.cluster
        c.lease_ttl, c.heartbeat = 3, 0.5
        c.start_coordinator()
        first = c.start_group(2, "--checkpoint-every", 5)
        job_id = self.submit_api(tiny_spec("resume", self.data / "train.jsonl", epochs=60, batch=4))
        wait_for(lambda: c.api.job(job_id)["progress"]["step"] >= 15, 180, "step 15", interval=0.02)
        c.kill_group(first)
        job = self.wait_state(job_id, {"queued"}, timeout=30)  # the lease expired
        self.assertEqual(job["attempts"], 1)
        self.assertEqual(job["error"]["code"], "lease_expired")
        c.start_group(2, "--checkpoint-every", 5)
        job = self.wait_state(job_id, TERMINAL, timeout=240)
        self.assertEqual(job["state"], "succeeded", job)
        # The killed group's staging directory was swept by the next group; the next group's own
        # was removed after publishing.
        self.assertEqual(list(Path(tempfile.gettempdir()).glob(f"trellis-worker-*-{job_id}")), [])
        resumed = [e["payload"]["metrics"]["resumed_from_step"] for e in c.api.events(job_id)
                   if e["kind"] == "metrics" and "resumed_from_step" in e["payload"]["metrics"]]
        self.assertEqual(len(resumed), 1, c.api.events(job_id))
        self.assertGreaterEqual(resumed[0], 5)
        self.assertLess(resumed[0], job["progress"]["total_steps"])
        self.assertEqual(resumed[0] % 5, 0)  # a checkpoint step

    def test_coordinator_kill_9_loses_no_job(self):
        c = self.cluster
        c.lease_ttl = 20
        c.start_coordinator()
        small = self.cluster.api.upload(self.data / "small.jsonl")
        ids = []
        for i in range(50):
            spec = tiny_spec(f"t{i:02d}", small, seed=i)
            status, job = c.api.call("POST", "/v1/jobs", spec, headers={"Idempotency-Key": f"restart-{i}"})
            self.assertEqual(status, 201, job)
            ids.append(job["id"])
        # The group starts once every job is queued; the kill comes while one is in flight (a 3-step
        # job takes some 20 ms, so one listing per poll, not one request per job).
        c.start_group(2)
        in_flight = lambda: any(j["state"] in ("leased", "running")
                                for j in c.api.call("GET", "/v1/jobs?limit=1000")[1]["jobs"])
        wait_for(in_flight, 120, "a job in flight", interval=0.02, diagnose=c.diagnose)
        port = c.port
        c.kill_coordinator()
        time.sleep(0.5)
        c.start_coordinator(port)
        _, listed = c.api.call("GET", "/v1/jobs?limit=1000")
        self.assertEqual(sorted(j["id"] for j in listed["jobs"]), sorted(ids))
        # Resubmitting with the same keys creates nothing new.
        status, again = c.api.call("POST", "/v1/jobs", tiny_spec("t07", small, seed=7),
                                   headers={"Idempotency-Key": "restart-7"})
        self.assertEqual((status, again["id"]), (200, ids[7]))
        wait_for(lambda: all(j["state"] in TERMINAL for j in c.api.call("GET", "/v1/jobs?limit=1000")[1]["jobs"]),
                 600, "every job to finish", interval=1, diagnose=c.diagnose)
        jobs = c.api.call("GET", "/v1/jobs?limit=1000")[1]["jobs"]
        self.assertEqual(len(jobs), 50)
        self.assertEqual({j["state"] for j in jobs}, {"succeeded"}, [j for j in jobs if j["state"] != "succeeded"])
        # One artifact per job: no job was published twice.
        for j in jobs:
            self.assertEqual(j["artifact"], f"{j['task']}@1")

    def test_unused_uploads_are_removed_but_live_jobs_keep_theirs(self):
        c = self.cluster
        # Retention about 8.6 s (room for a slow upload-to-submit gap), a sweep every second; no
        # group, so the job stays queued.
        c.start_coordinator(0, "--file-retention-days", "0.0001", "--file-sweep-interval", "1")
        job_id = self.submit_api(tiny_spec("kept-data", self.data / "small.jsonl"))
        train_id = c.api.job(job_id)["spec"]["data"]["train"].split(":")[1].split(".")[0]
        spare_id = c.api.upload(self.data / "test.jsonl").split(":")[1]
        file_status = lambda i: c.api.call("GET", f"/v1/files/{i}", role="worker", raw=True)[0]
        wait_for(lambda: file_status(spare_id) == 404, 40, "the unused upload to be removed")
        self.assertEqual(file_status(train_id), 200)  # the queued job's data stays, however old
        wait_for(lambda: "file retention: removed 1 file(s)" in (self.tmp / "coordinator.log").read_text(), 10,
                 "the sweep's log line")
        status, body = c.api.call("DELETE", f"/v1/files/{train_id}", role="admin")
        self.assertEqual(status, 409, body)
        self.assertIn(job_id, body["error"]["message"])
        self.assertEqual(c.api.call("POST", f"/v1/jobs/{job_id}/cancel")[0], 200)
        wait_for(lambda: file_status(train_id) == 404, 40, "the cancelled job's data to be removed")
        # Retention is at least a second; 0 turns it off.
        p = subprocess.run([COORDINATOR, "--registry", c.registry, "--auth-config", c.auth, "--state-dir", c.state,
                            "--file-retention-days", "0.00001"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--file-retention-days", p.stderr)

    def test_a_lease_poll_whose_worker_vanished_leases_nothing(self):
        c = self.cluster
        c.start_coordinator()
        probe = self.submit_api(tiny_spec("probe", self.data / "small.jsonl"))
        sha = c.api.job(probe)["backbone_sha256"]
        self.assertEqual(c.api.call("POST", f"/v1/jobs/{probe}/cancel")[0], 200)
        status, group = c.api.call("POST", "/v1/groups", {"backbone_name": "tiny-bert", "backbone_sha256": sha,
                                                          "world_size": 1, "devices": ["cpu"], "host": "gone"},
                                   role="worker")
        self.assertEqual(status, 201, group)
        lease_path = f"/v1/groups/{group['group_id']}/lease"
        # A worker long-polls, then dies (its socket closes) before any job arrives.
        s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
        s.sendall((f"POST {lease_path}?wait=30 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKENS['worker']}\r\n"
                   "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}").encode())
        time.sleep(0.5)
        s.close()
        time.sleep(0.2)
        job_id = self.submit_api(tiny_spec("after-vanish", self.data / "small.jsonl"))
        time.sleep(1.0)
        job = c.api.job(job_id)
        self.assertEqual((job["state"], job["attempts"]), ("queued", 0), job)  # not leased to the dead poll
        status, lease = c.api.call("POST", f"{lease_path}?wait=5", {}, role="worker")
        self.assertEqual((status, lease["job"]["id"]), (200, job_id))

    def test_bad_input_over_the_socket(self):
        c = self.cluster
        c.start_coordinator()
        status, body = c.api.call("POST", "/v1/jobs", b'{"task": "x", "data": ')
        self.assertEqual(status, 400)
        self.assertIn("line 1, column", body["error"]["message"])
        status, body = c.api.call("POST", "/v1/jobs", tiny_spec("x", "/etc/passwd"))
        self.assertEqual(status, 400)
        self.assertIn("data.train", body["error"]["message"])
        status, body = c.api.call("POST", "/v1/jobs", tiny_spec("x", "file:" + "0" * 64))
        self.assertEqual(status, 400)
        self.assertIn("unknown file id", body["error"]["message"])
        status, body = c.api.call("POST", "/v1/jobs",
                                  dict(tiny_spec("x", c.api.upload(self.data / "small.jsonl")), backbone="gpt-9"))
        self.assertEqual(status, 400)
        self.assertIn("tiny-bert", body["error"]["message"])  # lists the served backbones
        self.assertEqual(c.api.call("GET", "/v1/jobs/j-" + "0" * 32)[0], 404)
        self.assertEqual(c.api.call("GET", "/v1/jobs", role="worker")[0], 403)
        status, _ = c.api.call("GET", "/v1/jobs/" + "%2e%2e%2f" * 3 + "etc/passwd", raw=True)
        self.assertIn(status, (400, 404))
        # A client that sends half a request and stalls does not stop anyone else.
        s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
        s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        self.assertEqual(c.api.call("GET", "/v1/jobs")[0], 200)
        s.close()
        self.assertEqual(c.api.call("GET", "/v1/jobs")[1]["jobs"], [])  # nothing was stored


class RealBackboneJobTest(unittest.TestCase):
    """Submit a small real job on all-MiniLM-L6-v2 (real data), follow it, predict with it."""

    def setUp(self):
        skip_unless_set_up(TRELLIS_BIN=BIN, TRELLIS_COORDINATOR_BIN=COORDINATOR, TRELLIS_WORKER_BIN=WORKER)
        self.configs = SOURCE / "configs"
        data = SOURCE / "data" / "uci-sentiment"
        if not (SOURCE / "assets" / "backbones" / "all-MiniLM-L6-v2" / "model.safetensors").exists() or \
                not (data / "train.jsonl").exists():
            self.skipTest("the real backbone or data is missing (cluster/setup.sh downloads them)")
        if not shutil.which("mpirun"):
            self.skipTest("mpirun is not installed (cluster/setup.sh installs OpenMPI)")
        self.tmp = Path(tempfile.mkdtemp(prefix="trellis-real-job-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        lines = (data / "train.jsonl").read_text().splitlines(keepends=True)
        (self.tmp / "train.jsonl").write_text("".join(lines[:96]))
        (self.tmp / "dev.jsonl").write_text("".join((data / "validation.jsonl").read_text().splitlines(keepends=True)[:32]))
        self.cluster = Cluster(self.tmp, config_dir=self.configs)
        self.addCleanup(self.cluster.stop)

    def test_real_job_end_to_end(self):
        c = self.cluster
        c.start_coordinator()
        c.start_group(2)
        spec = {"task": "uci-sentiment", "backbone": "all-MiniLM-L6-v2",
                "data": {"train": "train.jsonl", "validation": "dev.jsonl", "max_seq_len": 64},
                "train": {"epochs": 1, "batch_size": 16, "learning_rate": 0.001, "seed": 3}}
        (self.tmp / "job.json").write_text(json.dumps(spec))
        p = c.cli("submit", self.tmp / "job.json", "--follow", check=True, timeout=600)
        self.assertEqual(p.stdout.strip().splitlines()[-1], "uci-sentiment@1", p.stderr)
        out = subprocess.run([BIN, "--config-dir", str(self.configs), "--registry", str(c.registry), "predict",
                              "--adapter", "uci-sentiment@1", "--data", str(self.tmp / "dev.jsonl")],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len([l for l in out.stdout.splitlines() if l.strip()]), 32)


if __name__ == "__main__":
    unittest.main()
