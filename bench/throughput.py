#!/usr/bin/env python3
"""Training throughput, Trellis (C++) versus the Python peer (HF transformers + AdapterHub), side by
side on the same machine, backbone, data, batch size, sequence lengths and thread count.

Alternates the two (--rounds times each) and reports medians and the ratio; writes
bench/results/throughput.json. Check that the machine is otherwise idle (load average printed).
Usage: .venv/bin/python bench/throughput.py [--threads 2] [--steps 40] [--rounds 3] [--method houlsby]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup-steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--method", default="houlsby")
    ap.add_argument("--data", default=str(ROOT / "data/uci-sentiment/train.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/throughput.json"))
    args = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    common = ["--data", args.data, "--threads", str(args.threads), "--steps", str(args.steps),
              "--warmup-steps", str(args.warmup_steps), "--batch-size", "32", "--max-seq-len", "128",
              "--method", args.method]
    runs = {"trellis-cpp": [], "python-adapters": []}
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            cpp = [str(ROOT / "build/bench/trellis_bench_throughput"), "--backbone",
                   str(ROOT / "configs/backbones/all-MiniLM-L6-v2.json"), *common, "--json-out", f"{tmp}/cpp.json"]
            peer = [str(ROOT / ".venv/bin/python"), str(ROOT / "bench/peer_adapters.py"), "--backbone-dir",
                    str(ROOT / "assets/backbones/all-MiniLM-L6-v2"), *common, "--json-out", f"{tmp}/peer.json"]
            for name, cmd in (("trellis-cpp", cpp), ("python-adapters", peer)) if r % 2 == 0 else \
                    (("python-adapters", peer), ("trellis-cpp", cpp)):
                subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                res = json.loads(Path(cmd[cmd.index("--json-out") + 1]).read_text())
                runs[name].append(res)
                print(f"round {r + 1} {name:16s} {res['samples_per_s']:.1f} samples/s "
                      f"(median step {res['step_ms_median']:.0f} ms)", flush=True)
    med = {k: statistics.median(x["samples_per_s"] for x in v) for k, v in runs.items()}
    ratio = med["trellis-cpp"] / med["python-adapters"]
    print(f"median samples/s: trellis {med['trellis-cpp']:.1f}, python peer {med['python-adapters']:.1f}, "
          f"ratio {ratio:.2f}x (goal >= 1.5x)")
    print(f"load average after: {os.getloadavg()}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"method": args.method, "threads": args.threads, "steps": args.steps,
                                          "median_samples_per_s": med, "ratio": ratio, "runs": runs},
                                         indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
