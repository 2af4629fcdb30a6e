#!/usr/bin/env python3
"""Accuracy versus trained parameters (the paper's trade-off) on real data and the real backbone.

For each dataset (UCI sentiment sentences, Pang & Lee sentence polarity) and method (houlsby m=64,
full, head): `trellis train` on the train split with validation-based checkpoint selection, then
`trellis eval` on the held-out test split. Prints a table and writes bench/results/accuracy.json.
Usage: .venv/bin/python bench/accuracy.py [--threads 2] [--epochs 3] [--datasets ...] [--methods ...]
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Learning rates as in Houlsby et al. (adapters 1e-4..1e-3; full fine-tuning a few 1e-5).
LEARNING_RATES = {"houlsby": 1e-3, "full": 5e-5, "head": 3e-3}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trellis", default=str(ROOT / "build/cli/trellis"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--datasets", nargs="+", default=["uci-sentiment", "pang-lee-polarity"])
    ap.add_argument("--methods", nargs="+", default=["houlsby", "full", "head"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[42], help="one run per seed; the summary averages")
    ap.add_argument("--out", default=str(ROOT / "bench/results/accuracy.json"))
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="trellis-bench-") as tmp:
        for ds in args.datasets:
            data = ROOT / "data" / ds
            for method, seed in [(m, s) for m in args.methods for s in args.seeds]:
                spec = {"task": f"{ds}-{method}", "method": method,
                        "data": {"train": str(data / "train.jsonl"), "validation": str(data / "validation.jsonl")},
                        "train": {"epochs": args.epochs, "batch_size": 32, "learning_rate": LEARNING_RATES[method],
                                  "seed": seed}}
                spec_path = Path(tmp) / f"{ds}-{method}-{seed}.json"
                spec_path.write_text(json.dumps(spec))
                out = Path(tmp) / f"{ds}-{method}-{seed}"
                t0 = time.monotonic()
                p = subprocess.run([args.trellis, "--threads", str(args.threads), "-q", "train", str(spec_path),
                                    "--out", str(out)], capture_output=True, text=True)
                wall = time.monotonic() - t0
                if p.returncode != 0:
                    print(p.stderr, file=sys.stderr)
                    return 1
                summary = json.loads(p.stdout)
                test = json.loads(subprocess.run(
                    [args.trellis, "--threads", str(args.threads), "eval", "--adapter", str(out), "--data",
                     str(data / "test.jsonl")], capture_output=True, text=True, check=True).stdout)
                row = {"dataset": ds, "method": method, "seed": seed, "learning_rate": LEARNING_RATES[method],
                       "epochs": args.epochs, "test": test, "validation": summary["metrics"],
                       "trained_params": summary["params"]["trained"],
                       "backbone_params": summary["params"]["backbone"],
                       "trained_share": summary["params"]["trained"] / summary["params"]["backbone"],
                       "wall_s": wall, "train_s": summary["train_seconds"],
                       "samples_per_s": summary["samples_per_s"]}
                results.append(row)
                print(f"{ds:18s} {method:8s} seed {seed:3d} test acc {test['accuracy']:.4f}  f1 {test['macro_f1']:.4f}  "
                      f"params {row['trained_params']:>9d} ({100 * row['trained_share']:.2f}%)  "
                      f"{row['samples_per_s']:.1f} samples/s  wall {wall:.0f}s", flush=True)
    summary = []
    for ds in args.datasets:
        for method in args.methods:
            accs = [r["test"]["accuracy"] for r in results if r["dataset"] == ds and r["method"] == method]
            mean = statistics.mean(accs)
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            summary.append({"dataset": ds, "method": method, "test_accuracy_mean": mean, "test_accuracy_sd": sd,
                            "runs": len(accs)})
            print(f"summary {ds:18s} {method:8s} test acc {mean:.4f} +- {sd:.4f} over {len(accs)} seed(s)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"threads": args.threads, "summary": summary, "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
