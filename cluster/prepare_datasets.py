#!/usr/bin/env python3
"""Turns extracted registry packages into Trellis datasets (JSONL splits + meta.json).

Called by cluster/prepare_datasets.sh, which fetches and extracts the packages; standard library
only. Usage:
  prepare_datasets.py uci-sentiment --src EXTRACTED_NPM_PACKAGE_DIR --out data/uci-sentiment
      --source "npm sentiment@5.0.2"
  prepare_datasets.py pang-lee-polarity --src EXTRACTED_DEB_ROOT --out data/pang-lee-polarity
      --source "debian python3-pattern 2.6+git20180818-4"

Each dataset becomes <out>/{train,validation,test}.jsonl, one {"text": str, "label": int} per
line, and <out>/meta.json (source, counts per split and label, seed). The split is deterministic:
texts are stripped, empties dropped, exact duplicates dropped (first kept), the rest sorted,
then per label (in label order) shuffled with one random.Random(SEED) and cut 80/10/10;
each split is then shuffled with the same generator. Files are written to temp names and renamed.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path

SEED = 13
FRACTIONS = (("train", 0.8), ("validation", 0.1), ("test", 0.1))
FORMAT_VERSION = 1


class DataError(Exception):
    pass


def read_uci_sentiment(src: Path) -> tuple[list[tuple[str, int, str]], dict]:
    """npm sentiment: test/fixtures/{imdb,yelp,amazon}.json, lists of {text, class in {0,1}}."""
    items, dropped_empty = [], 0
    for domain in ("imdb", "yelp", "amazon"):
        path = src / "test" / "fixtures" / f"{domain}.json"
        if not path.is_file():
            raise DataError(f"missing {path}")
        for rec in json.loads(path.read_text(encoding="utf-8")):
            text = (rec.get("text") or "").strip()
            cls = rec.get("class")
            if not text:
                dropped_empty += 1
                continue
            if cls not in (0, 1) or isinstance(cls, bool):
                raise DataError(f"{path}: unexpected class {cls!r} for text {text[:60]!r}")
            items.append((text, int(cls), domain))
    return items, {"dropped_empty": dropped_empty,
                   "files": ["test/fixtures/imdb.json", "test/fixtures/yelp.json",
                             "test/fixtures/amazon.json"],
                   "label_source": "field 'class' (0 negative, 1 positive)"}


PANG_LEE_REL = "usr/share/doc/python3-pattern/test/corpora/polarity-en-pang&lee2.csv"


def read_pang_lee(src: Path) -> tuple[list[tuple[str, int, str]], dict]:
    """python3-pattern: UTF-8 (with BOM) CSV, fully quoted, "label","sentence"; label 1 / -1."""
    path = src / PANG_LEE_REL
    if not path.is_file():
        found = list(src.rglob("polarity-en-pang&lee2.csv*"))
        if not found:
            raise DataError(f"polarity-en-pang&lee2.csv not found under {src}")
        path = found[0]
    raw = path.read_bytes()
    if path.suffix == ".gz":
        import gzip
        raw = gzip.decompress(raw)
    items, dropped_empty = [], 0
    for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")):
        if not row:
            continue
        if len(row) != 2:
            raise DataError(f"{path}: expected 2 columns, got {len(row)}: {row[:3]!r}")
        label = {"1": 1, "-1": 0}.get(row[0].strip())
        if label is None:
            raise DataError(f"{path}: unexpected label {row[0]!r}")
        text = row[1].strip()
        if not text:
            dropped_empty += 1
            continue
        items.append((text, label, "pang-lee"))
    return items, {"dropped_empty": dropped_empty, "files": [PANG_LEE_REL],
                   "label_source": "column 0 (-1 negative -> 0, 1 positive -> 1)"}


READERS = {
    "uci-sentiment": (read_uci_sentiment, {0: "negative", 1: "positive"},
                      "UCI Sentiment Labelled Sentences (Kotzias et al. 2015): IMDb, Yelp, Amazon"),
    "pang-lee-polarity": (read_pang_lee, {0: "negative", 1: "positive"},
                          "sentence polarity v1.0 subset (Pang & Lee 2005), movie-review sentences"),
}


def dedup(items):
    seen, out, conflicts = {}, [], 0
    for text, label, domain in items:
        if text in seen:
            conflicts += seen[text] != label
            continue
        seen[text] = label
        out.append((text, label, domain))
    return out, len(items) - len(out), conflicts


def split(items, seed: int):
    rng = random.Random(seed)
    splits = {name: [] for name, _ in FRACTIONS}
    for label in sorted({lab for _, lab, _ in items}):
        group = sorted(it for it in items if it[1] == label)
        rng.shuffle(group)
        n = len(group)
        n_train = round(n * FRACTIONS[0][1])
        n_val = round(n * FRACTIONS[1][1])
        splits["train"] += group[:n_train]
        splits["validation"] += group[n_train:n_train + n_val]
        splits["test"] += group[n_train + n_val:]
    for name, _ in FRACTIONS:
        rng.shuffle(splits[name])
    return splits


def write_atomic(path: Path, data: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description="Prepare one Trellis dataset from an extracted package.")
    ap.add_argument("name", choices=sorted(READERS))
    ap.add_argument("--src", required=True, type=Path, help="extracted package root")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--source", required=True, help="registry and package version, for meta.json")
    ap.add_argument("--source-sha256", default=None, help="sha256 of the package archive")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()

    reader, label_names, description = READERS[args.name]
    try:
        items, info = reader(args.src)
    except (DataError, OSError, ValueError) as e:
        print(f"prepare_datasets: {args.name}: error: {e}", file=sys.stderr)
        return 1
    n_raw = len(items)
    items, n_dups, n_conflicts = dedup(items)
    splits = split(items, args.seed)

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": args.name,
        "description": description,
        "source": args.source,
        "source_sha256": args.source_sha256,
        "source_files": info["files"],
        "label_source": info["label_source"],
        "task": "classification",
        "num_labels": len(label_names),
        "label_names": {str(k): v for k, v in label_names.items()},
        "fields": {"text": "string", "label": "int"},
        "split_seed": args.seed,
        "split_fractions": dict(FRACTIONS),
        "split_method": "strip, drop empty, drop exact duplicate texts (first kept), sort, "
                        "per label shuffle with random.Random(seed) and cut 80/10/10, "
                        "shuffle each split",
        "format_version": FORMAT_VERSION,
        "dropped_empty": info["dropped_empty"],
        "dropped_duplicates": n_dups,
        "duplicates_with_other_label": n_conflicts,
        "examples_kept": len(items),
        "examples_read": n_raw,
        "splits": {},
    }
    for name, rows in splits.items():
        body = "".join(json.dumps({"text": t, "label": lab}, ensure_ascii=False) + "\n"
                       for t, lab, _ in rows)
        write_atomic(args.out / f"{name}.jsonl", body)
        meta["splits"][name] = {
            "examples": len(rows),
            "per_label": {str(k): v for k, v in sorted(Counter(lab for _, lab, _ in rows).items())},
            "per_domain": dict(sorted(Counter(d for _, _, d in rows).items())),
            "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        }
    write_atomic(args.out / "meta.json", json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    counts = ", ".join(f"{k} {v['examples']} {v['per_label']}" for k, v in meta["splits"].items())
    print(f"[prepare_datasets] {args.name}: {counts}; dropped {n_dups} duplicates "
          f"({n_conflicts} with another label), {info['dropped_empty']} empty", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
