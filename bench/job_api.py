#!/usr/bin/env python3
"""The coordinator's job API: submit throughput and dispatch latency, on loopback.

1. Submit: `trellis_bench_submit` (C++, keep-alive connections) sends POST /v1/jobs from
   --clients concurrent clients against a fresh trellis-coordinator (SQLite in WAL with
   synchronous=FULL: every 201 is durable), bounded by --requests and --seconds, --rounds times.
   Reports jobs/s and latency p50/p99 (medians over rounds). Goal: >= 1000 jobs/s, p99 < 50 ms.
2. Dispatch: a warm, idle 2-rank worker group (mpirun, all-MiniLM-L6-v2, 1 thread per rank) long-
   polls for work; --dispatch-jobs small real jobs (UCI sentiment subset) are submitted one at a
   time. Reports, per job, submit -> leased, submit -> first training step (the coordinator's
   event for the heartbeat the worker sends right after its first optimizer step; one clock, this
   machine's). Goal: submit -> first step < 200 ms.

Writes bench/results/job_api.json. The machine must be otherwise idle.
Usage: .venv/bin/python bench/job_api.py [--clients 32] [--requests 5000] [--rounds 3] [--dispatch-jobs 5]
"""
import argparse
import datetime
import http.client
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("TRELLIS_BUILD_DIR", ROOT / "build"))
COORDINATOR = BUILD / "coordinator/trellis-coordinator"
WORKER = BUILD / "worker/trellis-worker"
LOAD = BUILD / "bench/trellis_bench_submit"
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
USER, WORKER_TOKEN = "bench-user-token-0123456789", "bench-worker-token-0123456789"


def start_coordinator(tmp, *extra):
    auth = tmp / "auth.json"
    auth.write_text(json.dumps({"tokens": [{"token": USER, "role": "user"}, {"token": WORKER_TOKEN, "role": "worker"}]}))
    p = subprocess.Popen([COORDINATOR, "--listen", "127.0.0.1:0", "--registry", tmp / "registry", "--create-registry",
                          "--state-dir", tmp / "state", "--auth-config", auth, *map(str, extra)],
                         stdout=subprocess.PIPE, stderr=open(tmp / "coordinator.log", "w"), text=True)
    if not select.select([p.stdout], [], [], 30)[0]:
        p.kill()
        raise SystemExit("trellis-coordinator did not start")
    return p, json.loads(p.stdout.readline())["port"]


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def call(port, method, path, body=None, token=USER, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = {"Authorization": f"Bearer {token}", **(headers or {})}
    if isinstance(body, dict):
        body, h["Content-Type"] = json.dumps(body), "application/json"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, (json.loads(data) if data else None)


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def submit_throughput(args):
    rounds = []
    for r in range(args.rounds):
        tmp = Path(tempfile.mkdtemp(prefix="trellis-bench-submit-"))
        try:
            p, port = start_coordinator(tmp)
            status, f = call(port, "POST", "/v1/files", b'{"text": "good", "label": "pos"}\n')
            (tmp / "job.json").write_text(json.dumps({"task": "bench", "data": {"train": f"file:{f['id']}.jsonl"}}))
            (tmp / "token").write_text(USER)
            out = subprocess.run([LOAD, "--port", str(port), "--token-file", tmp / "token", "--body", tmp / "job.json",
                                  "--clients", str(args.clients), "--requests", str(args.requests),
                                  "--seconds", str(args.seconds)], capture_output=True, text=True, timeout=300)
            stop(p)
            if out.returncode != 0:
                raise SystemExit(f"trellis_bench_submit failed: {out.stdout}{out.stderr}")
            result = json.loads(out.stdout)
            rounds.append(result)
            print(f"submit round {r + 1}: {result['jobs_per_s']:.0f} jobs/s, p50 {result['p50_ms']:.1f} ms, "
                  f"p99 {result['p99_ms']:.1f} ms ({result['requests']} requests, {result['errors']} errors)", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"clients": args.clients, "rounds": rounds,
            "jobs_per_s_median": statistics.median(r["jobs_per_s"] for r in rounds),
            "p50_ms_median": statistics.median(r["p50_ms"] for r in rounds),
            "p99_ms_median": statistics.median(r["p99_ms"] for r in rounds)}


def dispatch_latency(args):
    tmp = Path(tempfile.mkdtemp(prefix="trellis-bench-dispatch-"))
    group = None
    try:
        p, port = start_coordinator(tmp, "--heartbeat", 5)
        (tmp / "worker.token").write_text(WORKER_TOKEN)
        group = subprocess.Popen(["mpirun", "-np", "2", "--bind-to", "none", WORKER, "--coordinator",
                                  f"http://127.0.0.1:{port}", "--token-file", tmp / "worker.token", "--registry",
                                  tmp / "registry", "--checkpoint-dir", tmp / "ckpt", "--threads", "1", "-q",
                                  "--lease-wait", "30"], stdout=open(tmp / "worker.out", "w"),
                                 stderr=open(tmp / "worker.log", "w"), env=MPI_ENV, start_new_session=True)
        data = ROOT / "data/uci-sentiment"
        lines = (data / "train.jsonl").read_text().splitlines(keepends=True)[:64]
        status, f = call(port, "POST", "/v1/files", "".join(lines).encode())
        spec = {"task": "dispatch", "backbone": "all-MiniLM-L6-v2",
                "data": {"train": f"file:{f['id']}.jsonl", "max_seq_len": 64},
                "train": {"epochs": 1, "batch_size": 16, "seed": 1}}
        samples = []
        for i in range(args.dispatch_jobs + 1):  # job 0 warms the group (first data download, caches)
            time.sleep(1.0)  # the group is idle, waiting in its lease long-poll
            t0 = time.time()
            status, job = call(port, "POST", "/v1/jobs", dict(spec, train=dict(spec["train"], seed=i)))
            assert status == 201, job
            deadline = time.time() + 300
            while call(port, "GET", f"/v1/jobs/{job['id']}")[1]["state"] not in ("succeeded", "failed", "cancelled"):
                if time.time() > deadline or group.poll() is not None:
                    raise SystemExit(f"job {job['id']} did not finish; see {tmp}/worker.log")
                time.sleep(0.05)
            events = call(port, "GET", f"/v1/jobs/{job['id']}/events")[1]["events"]
            leased = next(parse_time(e["time"]) for e in events if e["kind"] == "state" and e["payload"]["to"] == "leased")
            first = next(parse_time(e["time"]) for e in events if e["kind"] == "progress" and e["payload"]["step"] >= 1)
            sample = {"submit_to_leased_ms": (leased - t0) * 1000, "submit_to_first_step_ms": (first - t0) * 1000}
            # The worker's own split (one JSON line per job): data preparation and the first step's compute.
            for line in (tmp / "worker.out").read_text().splitlines():
                w = json.loads(line) if line.startswith("{") else {}
                if w.get("job") == job["id"] and "first_step_seconds" in w:
                    sample["prepare_ms"] = w["prepare_seconds"] * 1000
                    sample["first_step_compute_ms"] = w["first_step_seconds"] * 1000
                    sample["overhead_ms"] = sample["submit_to_first_step_ms"] - sample["first_step_compute_ms"]
            if i > 0:
                samples.append(sample)
                print(f"dispatch job {i}: submit -> leased {sample['submit_to_leased_ms']:.0f} ms, "
                      f"-> first step {sample['submit_to_first_step_ms']:.0f} ms (of which the first step's compute "
                      f"{sample.get('first_step_compute_ms', float('nan')):.0f} ms)", flush=True)
        stop(p)
        med = lambda key: statistics.median(s[key] for s in samples if key in s) if any(key in s for s in samples) else None
        return {"jobs": samples, "submit_to_leased_ms_median": med("submit_to_leased_ms"),
                "submit_to_first_step_ms_median": med("submit_to_first_step_ms"),
                "first_step_compute_ms_median": med("first_step_compute_ms"), "overhead_ms_median": med("overhead_ms")}
    finally:
        if group and group.poll() is None:
            os.killpg(group.pid, signal.SIGTERM)
            try:
                group.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(group.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dispatch-jobs", type=int, default=5)
    args = ap.parse_args()
    for binary in (COORDINATOR, WORKER, LOAD):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run cluster/build.sh")
    result = {"submit": submit_throughput(args), "dispatch": dispatch_latency(args),
              "cores": os.cpu_count(), "time": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    out = ROOT / "bench/results/job_api.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    s, d = result["submit"], result["dispatch"]
    print(f"\nsubmit: {s['jobs_per_s_median']:.0f} jobs/s (goal >= 1000), p50 {s['p50_ms_median']:.1f} ms, "
          f"p99 {s['p99_ms_median']:.1f} ms (goal < 50) with {s['clients']} clients; medians of {len(s['rounds'])}")
    print(f"dispatch: submit -> leased {d['submit_to_leased_ms_median']:.0f} ms, submit -> first training step "
          f"{d['submit_to_first_step_ms_median']:.0f} ms (goal < 200), of which the first step's own compute "
          f"{d['first_step_compute_ms_median'] or float('nan'):.0f} ms (overhead {d['overhead_ms_median'] or float('nan'):.0f} ms);"
          f" medians of {len(d['jobs'])} jobs")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
