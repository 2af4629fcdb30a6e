"""Worker groups as Slurm jobs: a real single-node Slurm (cluster/slurm/local_slurm.sh: slurm-wlm
22.05 + munge, no systemd, everything under a temporary directory), the real trellis-coordinator,
worker groups submitted with `sbatch cluster/slurm/worker_group.sbatch` (ranks started by
`srun --mpi=pmix`), the tiny backbone and the real `trellis` CLI. Then the coordinator's launcher
mode on the same Slurm: a second trellis-coordinator (`--launcher slurm`) that sbatches its own
worker groups while jobs wait, scancels them when idle, and sbatches a new one after pre-emption.

Skipped (with the reason) only when Slurm cannot start here: slurm-wlm/munge not installed
(cluster/setup.sh installs them) or not root. Every wait is bounded. The class stops Slurm and the
coordinator and checks, by PID, that no daemon, job step or project process it started remains.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid
from pathlib import Path

from test_cli import BIN, SOURCE, TINY_CONFIGS, run, skip_unless_set_up, synthetic_rows, write_jsonl
from test_coordinator_adapters import COORDINATOR, start_coordinator
from test_coordinator_jobs import WORKER, Api, Cluster, tiny_spec, wait_for

SLURM_DIR = Path(os.environ.get("TRELLIS_SLURM_DIR") or SOURCE / "cluster" / "slurm")
LOCAL_SLURM = SLURM_DIR / "local_slurm.sh"
GROUP_SCRIPT = SLURM_DIR / "worker_group.sbatch"
SLURM_BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "scancel", "squeue", "sinfo",
                  "scontrol")
DAEMONS = ("munged", "slurmctld", "slurmd")
SLURM_ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}


def proc_start_time(pid):
    """The start time (clock ticks since boot) of a live process, None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] == "Z" else int(fields[19])


def all_processes():
    """{pid: (ppid, start time)} of every live process."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            out[int(d.name)] = (int(fields[1]), int(fields[19]))
    return out


class LauncherCluster(Cluster):
    """A Cluster whose coordinator runs in launcher mode: it sbatches worker_group.sbatch itself
    (2 ranks x 1 thread, at most one group, scancelled after `idle_timeout` s without a lease). The
    group's settings reach sbatch through --launcher-env (SLURM_CONF too: the coordinator runs
    sbatch/squeue/scancel with its own environment plus those pairs)."""

    def __init__(self, tmp, slurm_conf, idle_timeout=8, checkpoint_every=5, pass_config_dir=True, **kw):
        super().__init__(tmp, **kw)
        self.slurm_conf, self.idle_timeout, self.checkpoint_every = slurm_conf, idle_timeout, checkpoint_every
        # False: the groups get only what worker_group.sbatch calls required (no TRELLIS_CONFIG_DIR).
        self.pass_config_dir = pass_config_dir

    def start_coordinator(self, port=0):
        env = {"SLURM_CONF": self.slurm_conf, "TRELLIS_TOKEN_FILE": self.tmp / "worker.token",
               "TRELLIS_REGISTRY": self.registry, "TRELLIS_CHECKPOINT_DIR": self.checkpoints,
               "TRELLIS_WORKER_BIN": WORKER, "TRELLIS_THREADS_PER_RANK": 1,
               "TRELLIS_CHECKPOINT_EVERY": self.checkpoint_every, "TRELLIS_LEASE_WAIT": 2, "OMP_NUM_THREADS": 1}
        if self.pass_config_dir:
            env["TRELLIS_CONFIG_DIR"] = self.config_dir
        launcher = ["--launcher", "slurm", "--sbatch-script", GROUP_SCRIPT, "--launcher-max-groups", 1,
                    "--launcher-idle-timeout", self.idle_timeout, "--launcher-poll", 1,
                    # sbatch runs in the coordinator's working directory: keep the logs here.
                    "--sbatch-arg=--ntasks=2", f"--sbatch-arg=--output={self.tmp}/launched-%j.log",
                    *[f"--launcher-env={k}={v}" for k, v in env.items()]]
        self.coordinator, self.port = start_coordinator(
            self.registry, self.auth, "--create-registry", "--config-dir", self.config_dir,
            "--lease-ttl", self.lease_ttl, "--heartbeat", self.heartbeat, *launcher, state_dir=self.state,
            listen=f"127.0.0.1:{port}", stderr=self.log)
        self.api = Api(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def metrics(self):
        """{name or name{labels}: value} of the trellis_launcher_* lines of /metrics."""
        status, text = self.api.call("GET", "/metrics", raw=True)
        assert status == 200, text
        return {k: float(v) for k, v in re.findall(r"^(trellis_launcher_\S+) (\S+)$", text.decode(), re.M)}

    def launched_groups(self):
        m = self.metrics()
        return m['trellis_launcher_groups{state="pending"}'] + m['trellis_launcher_groups{state="running"}']


def read_proc(pid, name):
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


class SlurmWorkerGroupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_set_up(TRELLIS_BIN=BIN, TRELLIS_COORDINATOR_BIN=COORDINATOR, TRELLIS_WORKER_BIN=WORKER)
        missing = [b for b in SLURM_BINARIES if not shutil.which(b)]
        if missing:
            raise unittest.SkipTest(f"Slurm cannot start here: {', '.join(missing)} not installed "
                                    "(cluster/setup.sh installs slurm-wlm and munge)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("Slurm cannot start here: the local Slurm runs as root (SlurmUser=root)")
        cls.tmp = Path(tempfile.mkdtemp(prefix="trellis-slurm-"))
        cls.tmp.chmod(0o755)
        cls.slurm_dir = cls.tmp / "slurm"
        cls.tracked = {}  # pid -> start time: every process this class started or saw for its Slurm
        cls.cluster = None
        cls.launcher = None  # the launcher-mode coordinator (test_3, test_4)
        started = cls._local_slurm("start", timeout=120)
        if started.returncode == 3:  # the script's "not installed"
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise unittest.SkipTest(f"Slurm cannot start here: {started.stderr.strip()}")
        try:
            if started.returncode != 0:
                raise AssertionError(f"local_slurm.sh start exited {started.returncode}:\n{started.stderr}")
            exports = dict(re.findall(r"^export (\w+)=(.*)$", started.stdout, re.M))
            assert exports.get("SLURM_CONF") == str(cls.slurm_dir / "slurm.conf"), started.stdout
            cls.env = dict(os.environ, **exports)
            cls.conf = exports["SLURM_CONF"]
            again = cls._local_slurm("env")
            assert again.stdout == started.stdout, (again.stdout, started.stdout)
            cls.daemon_pids = {}
            for name in DAEMONS:
                pid = int((cls.slurm_dir / "run" / f"{name}.pid").read_text())
                assert read_proc(pid, "comm").strip() == name.encode(), (name, pid)
                cls.daemon_pids[name] = pid
                cls.tracked[pid] = proc_start_time(pid)

            data = cls.tmp / "data"
            data.mkdir()
            write_jsonl(data / "train.jsonl", synthetic_rows(160, 1))
            write_jsonl(data / "dev.jsonl", synthetic_rows(32, 2))
            write_jsonl(data / "test.jsonl", synthetic_rows(20, 4))
            cls.data = data
            # A long lease: a job that comes back at once came back through the worker's
            # "preempted", not through an expired lease.
            (cls.tmp / "cluster").mkdir()
            cls.cluster = Cluster(cls.tmp / "cluster", lease_ttl=120, heartbeat=0.5)
            cls.cluster.start_coordinator()
            cls.tracked[cls.cluster.coordinator.pid] = proc_start_time(cls.cluster.coordinator.pid)
        except BaseException:
            cls._stop_everything()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            leftovers = cls._stop_everything()
            assert not leftovers, f"processes left behind: {leftovers}"
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers -------------------------------------------------------------------------------

    @classmethod
    def _local_slurm(cls, command, timeout=120):
        return subprocess.run(["bash", str(LOCAL_SLURM), command, str(cls.slurm_dir)], capture_output=True,
                              text=True, timeout=timeout)

    @classmethod
    def _ours(cls):
        """Live processes that belong to this test's Slurm or project processes: Slurm's daemons
        and their descendants, anything carrying our SLURM_CONF, anything naming our directory."""
        procs = all_processes()
        children = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        found = {}
        stack = [p for p in getattr(cls, "daemon_pids", {}).values()
                 if p in procs and procs[p][1] == cls.tracked.get(p)]  # not a reused PID
        while stack:
            pid = stack.pop()
            if pid in found:
                continue
            found[pid] = procs[pid][1]
            stack.extend(children.get(pid, []))
        conf = f"SLURM_CONF={getattr(cls, 'conf', '//none//')}".encode()
        for pid, (_, start) in procs.items():
            if pid == os.getpid() or pid in found:
                continue
            if str(cls.tmp).encode() in read_proc(pid, "cmdline") or conf in read_proc(pid, "environ").split(b"\0"):
                found[pid] = start
        return found

    @classmethod
    def _stop_everything(cls):
        """Stops Slurm (local_slurm.sh stop) and the coordinator; returns what still runs of what
        was tracked or is ours (pid -> command line)."""
        cls.tracked.update(cls._ours())
        errors = []
        if cls.launcher is not None:  # first: it must not sbatch while Slurm stops
            cls.launcher.stop()
        stop = cls._local_slurm("stop", timeout=180)
        if stop.returncode != 0:
            errors.append(f"local_slurm.sh stop exited {stop.returncode}: {stop.stderr}")
        if cls.cluster is not None:
            cls.cluster.stop()
        deadline = time.monotonic() + 30
        while True:
            left = {pid: read_proc(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace")
                    for pid, start in {**cls.tracked, **cls._ours()}.items()
                    if start is not None and proc_start_time(pid) == start}
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if errors:
            left["errors"] = errors
        return left

    def slurm(self, *args, check=True, timeout=60):
        p = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{args} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
        return p

    def sbatch_group(self, name, ntasks=2):
        c = self.cluster
        env = dict(self.env, TRELLIS_COORDINATOR_URL=c.url, TRELLIS_TOKEN_FILE=str(c.tmp / "worker.token"),
                   TRELLIS_REGISTRY=str(c.registry), TRELLIS_CHECKPOINT_DIR=str(c.checkpoints),
                   TRELLIS_CONFIG_DIR=str(TINY_CONFIGS), TRELLIS_WORKER_BIN=WORKER, TRELLIS_THREADS_PER_RANK="1",
                   TRELLIS_LEASE_WAIT="2", TRELLIS_CHECKPOINT_EVERY="5", OMP_NUM_THREADS="1")
        log = c.tmp / f"{name}.log"
        p = subprocess.run(["sbatch", "--parsable", "-n", str(ntasks), "-J", name, "-o", str(log), str(GROUP_SCRIPT)],
                           capture_output=True, text=True, env=env, timeout=60, cwd=c.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        job = p.stdout.strip().split(";")[0]
        self.assertRegex(job, r"^\d+$")
        self.addCleanup(self.slurm, "scancel", job, check=False)  # a no-op once it ended
        return job, log

    def slurm_job(self, job):
        """(JobState, ExitCode) from scontrol (finished jobs stay listed for MinJobAge)."""
        out = self.slurm("scontrol", "show", "job", "-o", job).stdout
        state = re.search(r"\bJobState=(\S+)", out).group(1)
        exit_code = re.search(r"\bExitCode=(\S+)", out).group(1)
        return state, exit_code

    def wait_slurm_end(self, job, timeout=90):
        return wait_for(lambda: (s := self.slurm_job(job))[0] not in SLURM_ACTIVE and s, timeout,
                        f"Slurm job {job} to end", interval=0.25)

    def wait_state(self, job_id, states, timeout=120, logs=()):
        try:
            return wait_for(lambda: (j := self.cluster.api.job(job_id))["state"] in states and j, timeout,
                            f"job {job_id} to reach {states}", interval=0.05)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnose(job_id, logs)}") from None

    def diagnose(self, job_id, logs=(), cluster=None):
        """What a failed wait shows: the job, squeue, and the tails of the given logs."""
        c = cluster or self.cluster
        lines = [f"job: {json.dumps(c.api.job(job_id))}",
                 "squeue:\n" + self.slurm("squeue", "-o", "%i %j %T %r", check=False).stdout]
        for log in [*logs, c.tmp / "coordinator.log"]:
            text = Path(log).read_text(errors="replace") if Path(log).exists() else "(missing)"
            lines.append(f"---- tail of {log} ----\n" + "\n".join(text.splitlines()[-30:]))
        return "\n".join(lines)

    def submit_api(self, spec, **envelope):
        return self.submit_api_to(self.cluster, spec, **envelope)

    def submit_api_to(self, cluster, spec, **envelope):
        spec = dict(spec, data=dict(spec["data"]))
        for field in ("train", "validation"):
            if field in spec["data"]:
                spec["data"][field] = cluster.api.upload(spec["data"][field])
        status, job = cluster.api.call("POST", "/v1/jobs", {"spec": spec, **envelope},
                                       headers={"Idempotency-Key": uuid.uuid4().hex})
        self.assertEqual(status, 201, job)
        return job["id"]

    def our_workers(self):
        return [pid for pid in self._ours() if read_proc(pid, "comm").strip() == b"trellis-worker"]

    # ---- tests (run in name order; the last one stops everything) -----------------------------

    def test_1_group_trains_a_job_and_scancel_ends_it(self):
        c = self.cluster
        group, log = self.sbatch_group("trellis-group-a")
        spec = c.tmp / "sent.json"
        spec.write_text(json.dumps(tiny_spec("slurm-sent", self.data / "train.jsonl", self.data / "dev.jsonl",
                                             epochs=2)))
        p = c.cli("submit", spec, "--follow", check=True, timeout=180)
        self.assertEqual(p.stdout.strip().splitlines()[-1], "slurm-sent@1", p.stdout + p.stderr)
        jobs = [j for j in c.api.call("GET", "/v1/jobs?task=slurm-sent")[1]["jobs"]]
        self.assertEqual([(j["state"], j["artifact"]) for j in jobs], [("succeeded", "slurm-sent@1")])
        self.assertIn(jobs[0]["id"], log.read_text())  # the Slurm group trained it
        self.assertIn("2 rank(s)", log.read_text())
        manifest = json.loads((c.registry / "slurm-sent" / "1" / "manifest.json").read_text())
        self.assertEqual(manifest.get("job_id"), jobs[0]["id"])
        out = run(["--registry", c.registry, "predict", "--adapter", "slurm-sent@1", "--data",
                   self.data / "test.jsonl"], check=True).stdout
        self.assertEqual(len([l for l in out.splitlines() if l.strip()]), 20)
        self.assertEqual(self.slurm_job(group)[0], "RUNNING")  # the group waits for the next job
        self.slurm("scancel", group)
        state, _ = self.wait_slurm_end(group, timeout=60)
        self.assertIn(state, {"CANCELLED", "COMPLETED"})
        wait_for(lambda: not self.our_workers(), 30, "the group's ranks to exit")

    def test_2_preemption_hands_the_job_back_and_the_next_group_resumes(self):
        c = self.cluster
        # One allowed failure: the two hand-backs below must not use it up.
        job_id = self.submit_api(tiny_spec("slurm-preempt", self.data / "train.jsonl", epochs=30, batch=4),
                                 max_attempts=1)
        first, first_log = self.sbatch_group("trellis-group-b1")
        wait_for(lambda: c.api.job(job_id)["progress"]["step"] >= 20, 120, "step 20", interval=0.05)
        # The signal pre-emption (and `scancel --signal=TERM`) sends: SIGTERM to the job's steps.
        self.slurm("scancel", "--signal=TERM", first)
        t0 = time.monotonic()
        job = self.wait_state(job_id, {"queued"}, timeout=30)
        self.assertLess(time.monotonic() - t0, 30)  # handed back, not the 120 s lease TTL
        self.assertEqual(job["error"]["code"], "preempted", job)
        self.assertEqual((job["attempts"], job["preemptions"]), (1, 1), job)
        stopped_at = int(re.search(r"stopped at step (\d+)", job["error"]["message"]).group(1))
        self.assertGreaterEqual(stopped_at, 20)
        self.assertEqual(self.wait_slurm_end(first, timeout=60), ("COMPLETED", "0:0"), first_log.read_text())
        self.assertIn('"state":"interrupted"', first_log.read_text())

        # The second group resumes it; this one is stopped through its batch script (what
        # --signal=B:TERM@60 does before the time limit): the script passes TERM to the ranks.
        second, second_log = self.sbatch_group("trellis-group-b2")
        wait_for(lambda: (j := c.api.job(job_id))["state"] == "running" and j["progress"]["step"] >= stopped_at + 20,
                 120, "the second group to train 20 more steps", interval=0.05)
        self.slurm("scancel", "--batch", "--signal=TERM", second)
        job = self.wait_state(job_id, {"queued"}, timeout=30)
        self.assertEqual((job["error"]["code"], job["attempts"], job["preemptions"]), ("preempted", 2, 2), job)
        second_stop = int(re.search(r"stopped at step (\d+)", job["error"]["message"]).group(1))
        self.assertEqual(self.wait_slurm_end(second, timeout=60), ("COMPLETED", "0:0"), second_log.read_text())
        self.assertIn("passing it to the ranks", second_log.read_text())

        third, third_log = self.sbatch_group("trellis-group-b3")
        job = self.wait_state(job_id, {"succeeded", "failed", "cancelled"}, timeout=180, logs=[third_log])
        self.assertEqual(job["state"], "succeeded", job)
        self.assertEqual((job["artifact"], job["attempts"], job["preemptions"]), ("slurm-preempt@1", 2, 2))
        resumed = [e["payload"]["metrics"]["resumed_from_step"] for e in c.api.events(job_id)
                   if e["kind"] == "metrics" and "resumed_from_step" in e["payload"].get("metrics", {})]
        self.assertEqual(len(resumed), 2, c.api.events(job_id))
        # Each group resumed from the checkpoint the one before wrote when it stopped.
        self.assertGreaterEqual(resumed[0], 20)
        self.assertLessEqual(resumed[0], stopped_at)
        self.assertGreaterEqual(resumed[1], resumed[0] + 20)
        self.assertLessEqual(resumed[1], second_stop)
        self.assertLess(resumed[1], job["progress"]["total_steps"])
        self.assertTrue((c.registry / "slurm-preempt" / "1" / "manifest.json").exists())
        # An idle group stopped with TERM exits 0 within the lease wait: COMPLETED.
        self.slurm("scancel", "--signal=TERM", third)
        self.assertEqual(self.wait_slurm_end(third, timeout=60), ("COMPLETED", "0:0"), third_log.read_text())
        wait_for(lambda: not self.our_workers(), 30, "the groups' ranks to exit")

    # ---- launcher mode: the coordinator sbatches and scancels the groups itself ---------------

    def launcher_cluster(self):
        cls = type(self)
        if cls.launcher is None:
            (cls.tmp / "launcher").mkdir()
            cls.launcher = LauncherCluster(cls.tmp / "launcher", self.conf, idle_timeout=8, checkpoint_every=5,
                                           lease_ttl=120, heartbeat=0.5)
            cls.launcher.start_coordinator()
            cls.tracked[cls.launcher.coordinator.pid] = proc_start_time(cls.launcher.coordinator.pid)
        return cls.launcher

    def active_groups(self):
        """{Slurm job id: state} of the trellis-* jobs squeue lists as pending or running."""
        out = self.slurm("squeue", "-h", "-o", "%i|%j|%T").stdout
        return {i: st for i, name, st in (l.split("|") for l in out.splitlines() if l.strip())
                if name.startswith("trellis-") and st in SLURM_ACTIVE}

    def test_3_launcher_sbatches_a_group_trains_and_scales_down(self):
        c = self.launcher_cluster()
        self.assertEqual(c.metrics()["trellis_launcher_submissions_total"], 0)
        self.assertEqual(self.active_groups(), {})
        spec = c.tmp / "launched.json"
        spec.write_text(json.dumps(tiny_spec("slurm-launched", self.data / "train.jsonl", self.data / "dev.jsonl",
                                             epochs=2)))
        # No group runs: the coordinator must sbatch one for the queued job.
        p = c.cli("submit", spec, "--follow", check=True, timeout=180)
        self.assertEqual(p.stdout.strip().splitlines()[-1], "slurm-launched@1", p.stdout + p.stderr)
        succeeded = time.monotonic()
        self.assertEqual(c.metrics()["trellis_launcher_submissions_total"], 1)
        groups = self.active_groups()
        self.assertEqual(len(groups), 1, groups)  # idle now, scancelled after the 8 s idle timeout
        group = next(iter(groups))
        self.assertEqual(groups[group], "RUNNING")
        self.assertIn("JobName=trellis-tiny-bert", self.slurm("scontrol", "show", "job", "-o", group).stdout)
        job = c.api.call("GET", "/v1/jobs?task=slurm-launched")[1]["jobs"][0]
        self.assertEqual((job["state"], job["attempts"]), ("succeeded", 0))
        log = (c.tmp / f"launched-{group}.log").read_text()
        self.assertIn(job["id"], log)  # the launched group trained it
        self.assertIn("2 rank(s)", log)

        # The artifact over HTTP, then predict from the fetched directory.
        env = dict(os.environ, TRELLIS_SERVER=c.url, TRELLIS_TOKEN_FILE=str(c.tmp / "user.token"),
                   TRELLIS_CACHE_DIR=str(c.tmp / "fetch-cache"))
        fetched = subprocess.run([BIN, "--config-dir", str(TINY_CONFIGS), "-q", "fetch", "slurm-launched@1", "-o",
                                  str(c.tmp / "fetched")], capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(fetched.returncode, 0, fetched.stderr)
        self.assertEqual(json.loads(fetched.stdout)["version"], 1)
        out = run(["predict", "--adapter", c.tmp / "fetched", "--data", self.data / "test.jsonl"], check=True).stdout
        self.assertEqual(len([l for l in out.splitlines() if l.strip()]), 20)

        # Idle scale-down: scancelled by the coordinator once idle for 8 s.
        wait_for(lambda: group not in self.active_groups(), 8 + 20 + 5, f"the idle group {group} to be cancelled",
                 interval=0.25)
        self.assertLess(time.monotonic() - succeeded, 8 + 20 + 5)
        self.assertIn(self.slurm_job(group)[0], {"CANCELLED", "COMPLETED"})
        wait_for(lambda: c.launched_groups() == 0, 10, "/metrics to show no launched group")
        self.assertEqual(c.metrics()["trellis_launcher_submissions_total"], 1)  # nothing sbatched since
        self.assertRegex((c.tmp / "coordinator.log").read_text(), rf"scancel {group} \(tiny-bert\)")
        wait_for(lambda: not self.our_workers(), 30, "the group's ranks to exit")

    def test_4_launcher_preemption_requeues_and_a_new_group_resumes(self):
        c = self.launcher_cluster()
        wait_for(lambda: c.launched_groups() == 0, 40, "no launched group")  # whatever test_3 left
        before = c.metrics()["trellis_launcher_submissions_total"]
        job_id = self.submit_api_to(c, tiny_spec("slurm-launch-preempt", self.data / "train.jsonl", epochs=10,
                                                 batch=4), max_attempts=1)
        wait_for(lambda: c.api.job(job_id)["progress"]["step"] >= 15, 120, "step 15", interval=0.05)
        self.assertEqual(c.metrics()["trellis_launcher_submissions_total"], before + 1)
        groups = self.active_groups()
        self.assertEqual(len(groups), 1, groups)
        first = next(iter(groups))
        self.slurm("scancel", "--signal=TERM", first)
        t0 = time.monotonic()
        job = wait_for(lambda: (j := c.api.job(job_id))["state"] == "queued" and j, 30, "the job to be handed back",
                       interval=0.05)
        self.assertLess(time.monotonic() - t0, 30)  # handed back, not the 120 s lease TTL
        self.assertEqual((job["error"]["code"], job["attempts"], job["preemptions"]), ("preempted", 1, 1), job)
        stopped_at = int(re.search(r"stopped at step (\d+)", job["error"]["message"]).group(1))
        self.assertGreaterEqual(stopped_at, 15)
        self.assertEqual(self.wait_slurm_end(first, timeout=60), ("COMPLETED", "0:0"),
                         (c.tmp / f"launched-{first}.log").read_text())
        # The coordinator sbatches the next group by itself; it resumes from the checkpoint.
        try:
            job = wait_for(lambda: (j := c.api.job(job_id))["state"] in {"succeeded", "failed", "cancelled"} and j,
                           180, "the job to finish", interval=0.1)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnose(job_id, sorted(c.tmp.glob('launched-*.log')), c)}") from None
        self.assertEqual((job["state"], job["artifact"], job["attempts"]), ("succeeded", "slurm-launch-preempt@1", 1),
                         job)
        self.assertEqual(c.metrics()["trellis_launcher_submissions_total"], before + 2)
        resumed = [e["payload"]["metrics"]["resumed_from_step"] for e in c.api.events(job_id)
                   if e["kind"] == "metrics" and "resumed_from_step" in e["payload"].get("metrics", {})]
        self.assertEqual(len(resumed), 1, c.api.events(job_id))
        self.assertGreaterEqual(resumed[0], 5)  # at least one checkpoint interval
        self.assertLessEqual(resumed[0], stopped_at)
        self.assertLess(resumed[0], job["progress"]["total_steps"])
        second = [i for i in self.active_groups() if i != first]
        self.assertEqual(len(second), 1, self.active_groups())
        self.assertIn(job_id, (c.tmp / f"launched-{second[0]}.log").read_text())
        self.assertTrue((c.registry / "slurm-launch-preempt" / "1" / "manifest.json").exists())

    def test_5_launched_group_without_config_dir_serves_the_default_backbone(self):
        """The settings worker_group.sbatch calls required, and no TRELLIS_CONFIG_DIR: the group
        must find the worker's default config dir (configs/, the real all-MiniLM-L6-v2), not die
        with "unknown backbone"."""
        real = SOURCE / "assets" / "backbones" / "all-MiniLM-L6-v2" / "model.safetensors"
        data = SOURCE / "data" / "uci-sentiment"
        if not real.exists() or not (data / "train.jsonl").exists():
            self.skipTest("the real backbone or data is missing (cluster/setup.sh downloads them)")
        cls = type(self)
        tmp = cls.tmp / "launcher-default-config"
        tmp.mkdir()
        c = LauncherCluster(tmp, self.conf, idle_timeout=4, checkpoint_every=0, pass_config_dir=False,
                            config_dir=SOURCE / "configs", lease_ttl=120, heartbeat=0.5)
        c.start_coordinator()
        cls.tracked[c.coordinator.pid] = proc_start_time(c.coordinator.pid)
        self.addCleanup(c.stop)
        lines = (data / "train.jsonl").read_text().splitlines(keepends=True)
        (tmp / "train.jsonl").write_text("".join(lines[:48]))
        spec = {"task": "slurm-default-config", "backbone": "all-MiniLM-L6-v2",
                "data": {"train": "train.jsonl", "validation_fraction": 0.25, "max_seq_len": 32},
                "train": {"epochs": 1, "batch_size": 16, "seed": 5}}
        (tmp / "job.json").write_text(json.dumps(spec))
        p = c.cli("submit", tmp / "job.json", "--follow", timeout=600)
        logs = "".join(f.read_text() for f in tmp.glob("launched-*.log"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + logs)
        self.assertEqual(p.stdout.strip().splitlines()[-1], "slurm-default-config@1", p.stdout + p.stderr)
        self.assertNotIn("unknown backbone", logs)
        wait_for(lambda: c.launched_groups() == 0, 4 + 40, "the idle group to be cancelled")
        wait_for(lambda: not self.our_workers(), 30, "the group's ranks to exit")

    def test_9_stop_leaves_no_process_behind(self):
        cls = type(self)
        before = cls._ours()
        for name, pid in cls.daemon_pids.items():
            self.assertIn(pid, before, f"{name} (PID {pid}) is not running")
        leftovers = cls._stop_everything()
        self.assertEqual(leftovers, {})
        for name, pid in cls.daemon_pids.items():
            self.assertNotEqual(proc_start_time(pid), cls.tracked[pid], f"{name} (PID {pid}) still runs")
        status = self._local_slurm("status")
        self.assertEqual(status.returncode, 1, status.stdout)
        self.assertEqual(self._local_slurm("stop").returncode, 0)  # idempotent


if __name__ == "__main__":
    unittest.main()
