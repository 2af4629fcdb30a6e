"""Worker groups as real MPI jobs: `mpirun -np N trellis-worker` on the tiny HF-format backbone.

Equivalence of 2 ranks and 1 rank, bit-exact resume from a checkpoint, jobs back to back on one
backbone load, uneven data, and the group's end when a rank dies, throws or hangs.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from test_cli import TINY_CONFIGS, sha256, skip_unless_set_up, synthetic_rows, write_jsonl

WORKER = os.environ.get("TRELLIS_WORKER_BIN", "")
MPIRUN = shutil.which("mpirun")
# OpenMPI refuses root without these; more ranks than cores need --oversubscribe.
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")


def mpirun_cmd(ranks, args, quiet=True):
    return ([MPIRUN, "-np", str(ranks), "--oversubscribe", "--bind-to", "none", WORKER,
             "--config-dir", str(TINY_CONFIGS), "--threads", "1"] + (["-q"] if quiet else []) + [str(a) for a in args])


def run_worker(ranks, args, timeout=300):
    p = subprocess.run(mpirun_cmd(ranks, args), capture_output=True, text=True, timeout=timeout, env=MPI_ENV)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return p, lines


def rank_pids(mpirun_pid):
    """The rank processes mpirun started, by world rank (from their environment)."""
    out = {}
    for child in subprocess.run(["pgrep", "-P", str(mpirun_pid)], capture_output=True, text=True).stdout.split():
        try:
            env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for kv in env:
            if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                out[int(kv.split(b"=", 1)[1])] = int(child)
    return out


class WorkerGroupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_set_up(TRELLIS_WORKER_BIN=WORKER)
        if not MPIRUN:
            raise unittest.SkipTest("mpirun is not installed (cluster/setup.sh installs openmpi-bin)")

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="trellis-worker-"))
        write_jsonl(self.tmp / "train.jsonl", synthetic_rows(300, 1))
        write_jsonl(self.tmp / "dev.jsonl", synthetic_rows(60, 2))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spec(self, name="job", train="train.jsonl", **train_overrides):
        train_spec = {"epochs": 2, "batch_size": 16, "learning_rate": 0.003, "dropout": 0.0, "seed": 7}
        train_spec.update(train_overrides)
        spec = {"task": name, "backbone": "tiny-bert",
                "data": {"train": train, "validation": "dev.jsonl", "max_seq_len": 32}, "train": train_spec}
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(spec))
        return path

    def assert_succeeded(self, p, lines, n=1):
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        self.assertEqual([l["state"] for l in lines], ["succeeded"] * n, lines)

    def test_two_ranks_equal_one_rank(self):
        job = self.spec()  # 300 examples, batch 16: 19 steps per epoch, the last batch 12
        p1, l1 = run_worker(1, ["--job", job, "--out", self.tmp / "one"])
        p2, l2 = run_worker(2, ["--job", job, "--out", self.tmp / "two"])
        self.assert_succeeded(p1, l1)
        self.assert_succeeded(p2, l2)
        self.assertGreaterEqual(l2[0]["steps"], 20)
        self.assertEqual(l2[0]["world_size"], 2)
        # Rank 1's tensors were compared with rank 0's (sha256 of their bytes) before the write.
        self.assertTrue(l2[0]["replicas_verified"])
        a, b = load_file(self.tmp / "one" / "adapter.safetensors"), load_file(self.tmp / "two" / "adapter.safetensors")
        self.assertEqual(sorted(a), sorted(b))
        diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
        self.assertLessEqual(diff, 1e-5)
        # One allreduce per step: the gradients (4 bytes per trained parameter) and 4 floats of metadata.
        self.assertEqual(l2[0]["gradient_bytes_per_step"], 4 * l2[0]["params_trained"])
        self.assertEqual(l2[0]["metadata_bytes_per_step"], 16)

    def test_resume_is_bit_exact(self):
        job = self.spec(dropout=0.1)  # dropout on: the per-step reseeding is what makes this exact
        full_p, full = run_worker(2, ["--job", job, "--out", self.tmp / "full"])
        self.assert_succeeded(full_p, full)
        ckpt = self.tmp / "ckpt"
        args = ["--job", job, "--out", self.tmp / "resumed", "--checkpoint-dir", ckpt, "--checkpoint-every", "5"]
        p, lines = run_worker(2, args + ["--stop-at-step", "13"])
        self.assertEqual(p.returncode, 3, p.stderr[-3000:])
        self.assertEqual(lines[0]["state"], "interrupted")
        self.assertEqual(lines[0]["steps"], 13)
        self.assertFalse((self.tmp / "resumed").exists(), "no artifact for an interrupted job")
        self.assertTrue((ckpt / "job.checkpoint.safetensors").exists())
        p, lines = run_worker(2, args)
        self.assert_succeeded(p, lines)
        self.assertEqual(lines[0]["resumed_from_step"], 13)
        self.assertEqual(sha256(self.tmp / "resumed" / "adapter.safetensors"),
                         sha256(self.tmp / "full" / "adapter.safetensors"))
        self.assertFalse((ckpt / "job.checkpoint.safetensors").exists(), "the checkpoint is removed after the write")
        # A checkpoint of another job is refused, not silently used.
        p, lines = run_worker(2, ["--job", job, "--out", self.tmp / "again", "--checkpoint-dir", ckpt,
                                  "--stop-at-step", "3"])
        self.assertEqual(p.returncode, 3, p.stderr[-3000:])
        other = self.spec(learning_rate=0.002)
        p, lines = run_worker(2, ["--job", other, "--out", self.tmp / "other", "--checkpoint-dir", ckpt])
        self.assertEqual(p.returncode, 1)
        self.assertIn("belongs to another job", p.stdout + p.stderr)
        self.assertFalse((self.tmp / "other").exists())

    def test_jobs_back_to_back_on_one_backbone_load(self):
        jobs = self.tmp / "jobs"
        jobs.mkdir()
        for name, seed in (("alpha", 1), ("beta", 2)):
            shutil.copy(self.spec(name, train="../train.jsonl", seed=seed), jobs / f"{name}.json")
            spec = json.loads((jobs / f"{name}.json").read_text())
            spec["data"]["validation"] = "../dev.jsonl"
            (jobs / f"{name}.json").write_text(json.dumps(spec))
        (jobs / "broken.json").write_text('{"task": "x", "data": {}}')
        p, lines = run_worker(2, ["--jobs-dir", jobs, "--out", self.tmp / "out"])
        self.assertEqual(p.returncode, 1, "a broken spec fails its job and the exit code says so")
        states = {l["job"]: l for l in lines}
        self.assertEqual(states["alpha"]["state"], "succeeded")
        self.assertEqual(states["beta"]["state"], "succeeded")
        self.assertEqual(states["broken"]["state"], "failed")
        self.assertIn("data.train", states["broken"]["error"])
        # The worker counts its backbone loads: one per process, reported with every job.
        self.assertEqual([l["backbone_loads"] for l in lines], [1, 1, 1])
        self.assertEqual(p.stderr.count("loaded in"), 0)  # -q: nothing on stderr but errors
        # A rerun skips what is done and does not load the backbone again for nothing.
        (jobs / "broken.json").unlink()
        p, lines = run_worker(2, ["--jobs-dir", jobs, "--out", self.tmp / "out"])
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        self.assertEqual([l["state"] for l in lines], ["skipped", "skipped"])

    def test_uneven_data_and_empty_shards_finish(self):
        # 33 examples, batch 8: the last global batch has 1 example, so rank 1's shard is empty;
        # 9 validation examples make one evaluation batch, so rank 1 evaluates nothing.
        write_jsonl(self.tmp / "small.jsonl", synthetic_rows(33, 5))
        write_jsonl(self.tmp / "dev.jsonl", synthetic_rows(9, 6))
        job = self.spec(train="small.jsonl", batch_size=8, epochs=3)
        for ranks in (2, 3):
            p, lines = run_worker(ranks, ["--job", job, "--out", self.tmp / f"out{ranks}", "--collective-timeout", "60"],
                                  timeout=120)
            self.assert_succeeded(p, lines)
            self.assertEqual(lines[0]["steps"], 15)

    def long_job(self):
        write_jsonl(self.tmp / "big.jsonl", synthetic_rows(3000, 9))
        return self.spec(train="big.jsonl", epochs=50, batch_size=8)

    def start_and_wait_for_training(self, args):
        # Not quiet: progress lines on stderr tell that training runs.
        proc = subprocess.Popen(mpirun_cmd(2, args, quiet=False), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=MPI_ENV)
        deadline = time.time() + 60
        for line in proc.stderr:
            if "step " in line or time.time() > deadline:
                break
        return proc

    def wait_for_group_end(self, proc, seconds):
        start = time.time()
        try:
            out, err = proc.communicate(timeout=seconds)  # drains the pipes while waiting
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.fail(f"the group did not end within {seconds} s")
        return time.time() - start, out, err

    def test_killed_rank_ends_the_group(self):
        out = self.tmp / "out"
        proc = self.start_and_wait_for_training(["--job", self.long_job(), "--out", out, "--log-every", "1"])
        pids = rank_pids(proc.pid)
        self.assertIn(1, pids, "rank 1 not found among mpirun's children")
        os.kill(pids[1], signal.SIGKILL)
        elapsed, _, _ = self.wait_for_group_end(proc, 30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertLess(elapsed, 30)
        self.assertFalse(out.exists(), "no artifact from a group that lost a rank")

    def test_failing_rank_ends_the_group_and_names_itself(self):
        out = self.tmp / "out"
        p, _ = run_worker(2, ["--job", self.long_job(), "--out", out, "--inject-fault", "1:5"], timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("error on rank 1 of 2: injected fault at step 5", p.stderr)
        self.assertFalse(out.exists())

    def test_stuck_rank_times_out(self):
        out = self.tmp / "out"
        proc = self.start_and_wait_for_training(["--job", self.long_job(), "--out", out, "--log-every", "1",
                                                 "--collective-timeout", "3"])
        pids = rank_pids(proc.pid)
        os.kill(pids[1], signal.SIGSTOP)  # alive but never joins the next allreduce
        try:
            elapsed, _, err = self.wait_for_group_end(proc, 30)
        finally:
            try:
                os.kill(pids[1], signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("error on rank 0 of 2: MPI allreduce timed out", err)
        self.assertFalse(out.exists())

    def test_sigterm_checkpoints_and_stops(self):
        ckpt = self.tmp / "ckpt"
        out = self.tmp / "out"
        proc = self.start_and_wait_for_training(["--job", self.long_job(), "--out", out, "--log-every", "1",
                                                 "--checkpoint-dir", ckpt])
        pids = rank_pids(proc.pid)
        os.kill(pids[1], signal.SIGTERM)  # any rank's request stops the whole group at one step
        elapsed, stdout, err = self.wait_for_group_end(proc, 60)
        self.assertEqual(proc.returncode, 3, err[-3000:])
        line = json.loads([l for l in stdout.splitlines() if l.startswith("{")][0])
        self.assertEqual(line["state"], "interrupted")
        self.assertTrue((ckpt / "job.checkpoint.safetensors").exists())
        self.assertFalse(out.exists())

    def test_bad_usage(self):
        p = subprocess.run(mpirun_cmd(2, ["--out", self.tmp / "x"]), capture_output=True, text=True, env=MPI_ENV,
                           timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--job or --jobs-dir", p.stderr + p.stdout)
        p, _ = run_worker(1, ["--job", self.spec(), "--out", self.tmp / "x", "--device", "cuda"])
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, "built without CUDA|CUDA|NCCL")
        p, _ = run_worker(1, ["--jobs-dir", self.tmp / "missing", "--out", self.tmp / "x"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot list the jobs directory", p.stderr)


if __name__ == "__main__":
    unittest.main()
