#!/usr/bin/env python3
"""Launcher-mode dispatch on Slurm: submit -> first training step with a cold versus a warm group.

A private single-node Slurm (cluster/slurm/local_slurm.sh, in a temporary directory; stopped at the
end, always) and trellis-coordinator in launcher mode (`--launcher slurm`, cluster/slurm/
worker_group.sbatch, 2 ranks x 1 thread, at most one group, idle timeout --idle-timeout) serving
all-MiniLM-L6-v2 from configs/. The job: 64 lines of data/uci-sentiment/train.jsonl (uploaded
once), 1 epoch, batch 16, max_seq_len 64 (4 steps).

1. Cold (--cold-rounds times): no group runs; one job is submitted, so the coordinator must
   sbatch a group (launcher poll, sbatch, Slurm scheduling, srun + PMIx, loading the backbone,
   registering, leasing). Between rounds the bench scancels the group and waits until the
   coordinator has seen it end (squeue) and /metrics shows no launched group.
2. Warm (--warm-jobs times, after the first cold round): the group the cold round started is
   idle, long-polling for work; jobs are submitted one at a time.
For each job: submit -> leased and submit -> first training step (the coordinator's `progress`
event with step >= 1, from GET /v1/jobs/{id}/events; one clock, this machine's), and submit ->
succeeded. Prints medians; writes bench/results/slurm_dispatch.json. Runs as root (the local
Slurm's SlurmUser is root); needs slurm-wlm + munge (cluster/setup.sh). The machine must be
otherwise idle.
Usage: .venv/bin/python bench/slurm_dispatch.py [--cold-rounds 3] [--warm-jobs 5] [--launcher-poll 2]
"""
import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from job_api import COORDINATOR, ROOT, USER, WORKER, WORKER_TOKEN, call, parse_time, start_coordinator, stop  # noqa: E402

LOCAL_SLURM = ROOT / "cluster/slurm/local_slurm.sh"
GROUP_SCRIPT = ROOT / "cluster/slurm/worker_group.sbatch"
SLURM_ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}
TERMINAL = ("succeeded", "failed", "cancelled")


def wait_for(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout} s waiting for {what}")


def launcher_metrics(port):
    """{name or name{labels}: value} of the trellis_launcher_* lines of GET /metrics."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/metrics", headers={"Authorization": f"Bearer {USER}"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    assert r.status == 200, text
    return {k: float(v) for k, v in re.findall(r"^(trellis_launcher_\S+) (\S+)$", text, re.M)}


def launched_groups(port):
    m = launcher_metrics(port)
    return m['trellis_launcher_groups{state="pending"}'] + m['trellis_launcher_groups{state="running"}']


def active_groups(env):
    out = subprocess.run(["squeue", "-h", "-o", "%i|%j|%T"], capture_output=True, text=True, env=env,
                         timeout=30).stdout
    return [i for i, name, st in (l.split("|") for l in out.splitlines() if l.strip())
            if name.startswith("trellis-") and st in SLURM_ACTIVE]


def run_job(port, spec, seed, tmp):
    """Submits one job, waits for it to end; returns its timings (ms from the submit)."""
    t0 = time.time()
    status, job = call(port, "POST", "/v1/jobs", dict(spec, train=dict(spec["train"], seed=seed)))
    assert status == 201, job
    deadline = time.time() + 600
    while (state := call(port, "GET", f"/v1/jobs/{job['id']}")[1]["state"]) not in TERMINAL:
        if time.time() > deadline:
            raise SystemExit(f"job {job['id']} did not finish in 600 s; see {tmp}")
        time.sleep(0.05)
    if state != "succeeded":
        raise SystemExit(f"job {job['id']} ended {state}; see {tmp}")
    events = call(port, "GET", f"/v1/jobs/{job['id']}/events")[1]["events"]
    leased = next(parse_time(e["time"]) for e in events if e["kind"] == "state" and e["payload"]["to"] == "leased")
    first = next(parse_time(e["time"]) for e in events if e["kind"] == "progress" and e["payload"]["step"] >= 1)
    done = next(parse_time(e["time"]) for e in events if e["kind"] == "state" and e["payload"]["to"] == "succeeded")
    return {"job": job["id"], "submit_to_leased_ms": (leased - t0) * 1000,
            "submit_to_first_step_ms": (first - t0) * 1000, "submit_to_succeeded_ms": (done - t0) * 1000}


def summary(samples):
    return {"jobs": samples, **{f"{k}_median": statistics.median(s[k] for s in samples)
                                for k in ("submit_to_leased_ms", "submit_to_first_step_ms", "submit_to_succeeded_ms")}}


def bench(args, tmp):
    started = subprocess.run(["bash", str(LOCAL_SLURM), "start", str(tmp / "slurm")], capture_output=True, text=True,
                             timeout=180)
    if started.returncode != 0:
        raise SystemExit(f"local_slurm.sh start exited {started.returncode}:\n{started.stderr}")
    slurm_conf = dict(re.findall(r"^export (\w+)=(.*)$", started.stdout, re.M))["SLURM_CONF"]
    env = dict(os.environ, SLURM_CONF=slurm_conf)
    (tmp / "worker.token").write_text(WORKER_TOKEN)
    group_env = {"SLURM_CONF": slurm_conf, "TRELLIS_TOKEN_FILE": tmp / "worker.token",
                 "TRELLIS_REGISTRY": tmp / "registry", "TRELLIS_CHECKPOINT_DIR": tmp / "ckpt",
                 "TRELLIS_CONFIG_DIR": ROOT / "configs", "TRELLIS_WORKER_BIN": WORKER, "TRELLIS_THREADS_PER_RANK": 1,
                 "OMP_NUM_THREADS": 1, "TRELLIS_WORKER_ARGS": "-q"}
    p, port = start_coordinator(
        tmp, "--config-dir", ROOT / "configs", "--heartbeat", 5, "--launcher", "slurm", "--sbatch-script", GROUP_SCRIPT,
        "--launcher-max-groups", 1, "--launcher-idle-timeout", args.idle_timeout, "--launcher-poll", args.launcher_poll,
        "--sbatch-arg=--ntasks=2", f"--sbatch-arg=--output={tmp}/group-%j.log",
        *[f"--launcher-env={k}={v}" for k, v in group_env.items()])
    try:
        lines = (ROOT / "data/uci-sentiment/train.jsonl").read_text().splitlines(keepends=True)[:64]
        status, f = call(port, "POST", "/v1/files", "".join(lines).encode())
        assert status in (200, 201), f
        spec = {"task": "slurm-dispatch", "backbone": "all-MiniLM-L6-v2",
                "data": {"train": f"file:{f['id']}.jsonl", "max_seq_len": 64},
                "train": {"epochs": 1, "batch_size": 16, "seed": 1}}
        cold, warm, seed = [], [], 0
        for r in range(args.cold_rounds):
            if r > 0:  # end the idle group; wait until the coordinator has seen it end
                for job_id in active_groups(env):
                    subprocess.run(["scancel", job_id], env=env, timeout=30, check=True)
                wait_for(lambda: not active_groups(env) and launched_groups(port) == 0, 120,
                         "the group to end and the coordinator to see it")
                time.sleep(1.0)
            assert not active_groups(env) and launched_groups(port) == 0, "a group is running before a cold round"
            seed += 1
            s = run_job(port, spec, seed, tmp)
            cold.append(s)
            print(f"cold round {r + 1}: submit -> leased {s['submit_to_leased_ms']:.0f} ms, -> first step "
                  f"{s['submit_to_first_step_ms']:.0f} ms, -> succeeded {s['submit_to_succeeded_ms']:.0f} ms", flush=True)
            if r == 0:
                for i in range(args.warm_jobs):
                    time.sleep(1.0)  # the group is idle, waiting in its lease long-poll
                    assert len(active_groups(env)) == 1, "the warm group is gone"
                    seed += 1
                    s = run_job(port, spec, seed, tmp)
                    warm.append(s)
                    print(f"warm job {i + 1}: submit -> leased {s['submit_to_leased_ms']:.0f} ms, -> first step "
                          f"{s['submit_to_first_step_ms']:.0f} ms, -> succeeded {s['submit_to_succeeded_ms']:.0f} ms",
                          flush=True)
        submissions = launcher_metrics(port)["trellis_launcher_submissions_total"]
        if submissions != args.cold_rounds:
            raise SystemExit(f"the coordinator sbatched {submissions:.0f} groups for {args.cold_rounds} cold rounds")
        return {"cold": summary(cold), "warm": summary(warm) if warm else None, "sbatch_submissions": submissions}
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold-rounds", type=int, default=3)
    ap.add_argument("--warm-jobs", type=int, default=5)
    ap.add_argument("--launcher-poll", type=float, default=2.0, help="the coordinator's --launcher-poll (its default: 2)")
    ap.add_argument("--idle-timeout", type=float, default=600.0, help="the coordinator's --launcher-idle-timeout")
    args = ap.parse_args()
    if args.cold_rounds < 1 or args.warm_jobs < 0:
        ap.error("--cold-rounds must be >= 1 and --warm-jobs >= 0")
    for binary in (COORDINATOR, WORKER):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run cluster/build.sh")
    if os.geteuid() != 0:
        raise SystemExit("the local Slurm runs as root (SlurmUser=root): run this as root")
    if not (ROOT / "assets/backbones/all-MiniLM-L6-v2/model.safetensors").exists():
        raise SystemExit("the real backbone is missing (cluster/prepare_backbone.py)")
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="trellis-bench-slurm-"))
    tmp.chmod(0o755)
    try:
        result = bench(args, tmp)
    finally:
        stopped = subprocess.run(["bash", str(LOCAL_SLURM), "stop", str(tmp / "slurm")], capture_output=True,
                                 text=True, timeout=300)
        if stopped.returncode != 0:
            print(f"local_slurm.sh stop exited {stopped.returncode}: {stopped.stderr}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    result.update(ranks=2, threads_per_rank=1, launcher_poll_s=args.launcher_poll, backbone="all-MiniLM-L6-v2",
                  job={"lines": 64, "epochs": 1, "batch_size": 16, "max_seq_len": 64}, cores=os.cpu_count(),
                  load_average_before=load_before, time=datetime.datetime.now(datetime.timezone.utc).isoformat())
    out = ROOT / "bench/results/slurm_dispatch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    c, w = result["cold"], result["warm"]
    print(f"\ncold (sbatch a new group): submit -> leased {c['submit_to_leased_ms_median']:.0f} ms, submit -> first "
          f"training step {c['submit_to_first_step_ms_median']:.0f} ms; medians of {len(c['jobs'])} rounds")
    if w:
        print(f"warm (idle group): submit -> leased {w['submit_to_leased_ms_median']:.0f} ms, submit -> first "
              f"training step {w['submit_to_first_step_ms_median']:.0f} ms; medians of {len(w['jobs'])} jobs")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
