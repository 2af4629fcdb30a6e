#!/usr/bin/env python3
"""Worker groups on the real backbone: data parallelism and job start latency.

1. Scaling: 1 rank x T threads versus T ranks x 1 thread (`mpirun`, real trellis-worker), the
   same job (houlsby, all-MiniLM-L6-v2, uci-sentiment subset, batch 32, dropout 0.1), alternated
   --rounds times. Reports training samples/s (median), the allreduce's share of training time,
   and bytes per step next to 4 x trained parameters.
2. Start latency: one worker process trains --latency-jobs small jobs back to back. Cold: process
   start to the first optimizer step of job 1 (MPI start, backbone load, data, first step).
   Warm: a job reaching the resident group to its first optimizer step (jobs 2..N), split into
   data loading (read, validate, tokenise), the first step's own compute, and the rest (task
   set-up, broadcasts, optimizer; goal: rest < 100 ms).

Writes bench/results/worker_scaling.json. The machine must be otherwise idle.
Usage: .venv/bin/python bench/worker_scaling.py [--threads 2] [--examples 960] [--rounds 3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "build/worker/trellis-worker"
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def write_subset(src, dst, n):
    lines = Path(src).read_text().splitlines(keepends=True)[:n]
    Path(dst).write_text("".join(lines))


def spec(tmp, name, seed, epochs=1):
    s = {"task": name, "backbone": "all-MiniLM-L6-v2", "method": "houlsby",
         "data": {"train": str(tmp / "train.jsonl"), "validation": str(tmp / "dev.jsonl"), "max_seq_len": 128},
         "train": {"epochs": epochs, "batch_size": 32, "learning_rate": 1e-3, "seed": seed, "dropout": 0.1}}
    return s


def run(ranks, threads, args, bind):
    cmd = ["mpirun", "-np", str(ranks), "--bind-to", bind, str(WORKER), "--threads", str(threads), "-q",
           "--config-dir", str(ROOT / "configs")] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(ENV, OMP_NUM_THREADS=str(threads)))
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2, help="cores to use: 1 x T versus T x 1")
    ap.add_argument("--examples", type=int, default=960, help="training examples (batch 32: examples/32 steps)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-jobs", type=int, default=4)
    ap.add_argument("--data", default=str(ROOT / "data/uci-sentiment"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/worker_scaling.json"))
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    T = args.threads
    configs = {f"1x{T}": (1, T, "none"), f"{T}x1": (T, 1, "core")}
    runs = {k: [] for k in configs}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_subset(Path(args.data) / "train.jsonl", tmp / "train.jsonl", args.examples)
        write_subset(Path(args.data) / "validation.jsonl", tmp / "dev.jsonl", 64)
        (tmp / "job.json").write_text(json.dumps(spec(tmp, "scaling", 42)))
        for r in range(args.rounds):
            order = list(configs) if r % 2 == 0 else list(configs)[::-1]
            for name in order:
                ranks, threads, bind = configs[name]
                out = tmp / f"out-{name}-{r}"
                line = run(ranks, threads, ["--job", tmp / "job.json", "--out", out], bind)[0]
                shutil.rmtree(out, ignore_errors=True)
                line["allreduce_share"] = line["allreduce_seconds"] / line["train_seconds"]
                runs[name].append(line)
                print(f"round {r + 1} {name}: {line['samples_per_s']:.1f} samples/s, allreduce "
                      f"{100 * line['allreduce_share']:.1f}% of training time, "
                      f"{line['gradient_bytes_per_step'] + line['metadata_bytes_per_step']} bytes/step", flush=True)
        med = {k: statistics.median(x["samples_per_s"] for x in v) for k, v in runs.items()}
        dp = runs[f"{T}x1"][0]
        bytes_ok = dp["gradient_bytes_per_step"] == 4 * dp["params_trained"]
        print(f"median samples/s: 1x{T} {med[f'1x{T}']:.1f}, {T}x1 {med[f'{T}x1']:.1f}, "
              f"ratio {T}x1/1x{T} {med[f'{T}x1'] / med[f'1x{T}']:.2f}")
        print(f"allreduce share ({T}x1, median): {100 * statistics.median(x['allreduce_share'] for x in runs[f'{T}x1']):.1f}%")
        print(f"bytes per step ({T}x1): gradients {dp['gradient_bytes_per_step']} = 4 x {dp['params_trained']} trained "
              f"parameters: {bytes_ok}; plus {dp['metadata_bytes_per_step']} bytes of step metadata")

        jobs = tmp / "jobs"
        jobs.mkdir()
        for i in range(args.latency_jobs):
            (jobs / f"job{i}.json").write_text(json.dumps(spec(tmp, f"latency{i}", i)))
        lat = run(1, T, ["--jobs-dir", jobs, "--out", tmp / "latency"], "none")
        cold = lat[0]["job_started_after_process_s"] + lat[0]["seconds_to_first_step"]
        warm = [x["seconds_to_first_step"] for x in lat[1:]]
        warm_data = [x["prepare_seconds"] for x in lat[1:]]
        warm_step = [x["first_step_seconds"] for x in lat[1:]]
        warm_rest = [a - b - c for a, b, c in zip(warm, warm_data, warm_step)]
        print(f"cold start to first step: {1000 * cold:.0f} ms (process start, backbone load, data, first step)")
        print(f"warm start to first step (median of {len(warm)}): {1000 * statistics.median(warm):.0f} ms = data "
              f"{1000 * statistics.median(warm_data):.0f} ms + first step {1000 * statistics.median(warm_step):.0f} ms"
              f" + rest {1000 * statistics.median(warm_rest):.0f} ms (goal: rest < 100 ms)")
    print(f"load average after: {os.getloadavg()}")
    result = {"threads": T, "examples": args.examples, "median_samples_per_s": med,
              "ratio_dp_over_threads": med[f"{T}x1"] / med[f"1x{T}"],
              "allreduce_share_median": statistics.median(x["allreduce_share"] for x in runs[f"{T}x1"]),
              "gradient_bytes_per_step": dp["gradient_bytes_per_step"], "params_trained": dp["params_trained"],
              "bytes_equal_4x_params": bytes_ok, "metadata_bytes_per_step": dp["metadata_bytes_per_step"],
              "cold_start_to_first_step_s": cold, "warm_start_to_first_step_s": warm,
              "warm_data_loading_s": warm_data, "warm_first_step_s": warm_step, "warm_rest_s": warm_rest, "runs": runs, "latency_runs": lat}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
