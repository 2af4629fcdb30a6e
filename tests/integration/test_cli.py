"""End-to-end tests of the trellis CLI: train / eval / predict, artifacts, and every bad input.

Runs the real binary ($TRELLIS_BIN) on the tiny random HF-format backbone that the
reference_data fixture writes to $TRELLIS_TESTDATA_DIR, and on the real backbone where set up.
"""
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
import unittest
from pathlib import Path

BIN = os.environ.get("TRELLIS_BIN", "")
TESTDATA = Path(os.environ.get("TRELLIS_TESTDATA_DIR", "/nonexistent"))
SOURCE = Path(os.environ.get("TRELLIS_SOURCE_DIR") or Path(__file__).resolve().parents[2])
TINY_CONFIGS = TESTDATA / "configs"
WORDS = ("the a an is was good bad great awful movie film book food service not very really love hate like "
         "boring fun slow fast happy sad ok fine terrible excellent nice poor and but or it this that").split()


def run(args, config_dir=TINY_CONFIGS, stdin=None, check=False):
    cmd = [BIN, "--config-dir", str(config_dir), "--threads", "1", "-q"] + [str(a) for a in args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p


POSITIVE = "good great love like fun fast happy excellent nice fine".split()
NEGATIVE = "bad awful hate boring slow sad terrible poor not ok".split()
NEUTRAL = [w for w in WORDS if w not in POSITIVE and w not in NEGATIVE]


def synthetic_rows(n, seed, pair=False, regression=False):
    """A bag-of-words sentiment task: 'pos' sentences draw most sentiment words from POSITIVE,
    'neg' ones from NEGATIVE (regression: the target is the share of positive words)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        share = [0.1, 0.5, 0.9][i % 3] if regression else (0.95 if i % 2 == 0 else 0.05)
        words = []
        for _ in range(rng.randint(4, 10)):
            if rng.random() < 0.3:
                words.append(rng.choice(NEUTRAL))
            else:
                words.append(rng.choice(POSITIVE if rng.random() < share else NEGATIVE))
        row = {"text": " ".join(words)}
        if pair:
            row["text_b"] = " ".join(rng.choice(NEUTRAL) for _ in range(3))
        row["label"] = share if regression else ("pos" if i % 2 == 0 else "neg")
        rows.append(row)
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def skip_unless_set_up(**binaries):
    """Skips (visibly) a test class whose binaries ({env name: path}) or tiny backbone are missing."""
    for env, path in binaries.items():
        if not path or not Path(path).exists():
            raise unittest.SkipTest(f"{env} is not set (run through ctest)")
    if not (TINY_CONFIGS / "backbones" / "tiny-bert.json").exists():
        raise unittest.SkipTest(f"{TINY_CONFIGS} is missing (the reference_data_setup test makes it)")


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_set_up(TRELLIS_BIN=BIN)

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="trellis-cli-"))
        # Also when a subclass's setUp skips the test (tearDown does not run then).
        self.addCleanup(shutil.rmtree, self.tmp, True)
        write_jsonl(self.tmp / "train.jsonl", synthetic_rows(300, 1))
        write_jsonl(self.tmp / "dev.jsonl", synthetic_rows(60, 2))
        write_jsonl(self.tmp / "test.jsonl", synthetic_rows(100, 3))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spec(self, **overrides):
        s = {"task": "synthetic", "backbone": "tiny-bert", "method": "houlsby",
             "adapter": {"bottleneck": 16},
             "data": {"train": "train.jsonl", "validation": "dev.jsonl", "max_seq_len": 32},
             "train": {"epochs": 8, "batch_size": 16, "learning_rate": 0.01, "seed": 7}}
        for key, value in overrides.items():
            section, _, field = key.partition("__")
            if field:
                s.setdefault(section, {})[field] = value
            elif value is None:
                s.pop(section, None)
            else:
                s[section] = value
        return s

    def write_spec(self, spec, name="job.json"):
        p = self.tmp / name
        p.write_text(json.dumps(spec))
        return p

    def train(self, spec, out="artifact", check=True):
        return run(["train", self.write_spec(spec), "--out", self.tmp / out], check=check)

    def assert_fails(self, proc, *needles, out="artifact"):
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        for n in needles:
            self.assertIn(n, proc.stderr)
        self.assertFalse((self.tmp / out).exists(), "no artifact may be written on error")
        leftovers = [p.name for p in self.tmp.iterdir() if p.name.startswith(".")]
        self.assertEqual(leftovers, [], "no staging directory may be left behind")

    # ---- the happy path -------------------------------------------------------------------
    def test_train_eval_predict(self):
        p = self.train(self.spec())
        summary = json.loads(p.stdout)
        art = self.tmp / "artifact"
        self.assertEqual(sorted(x.name for x in art.iterdir()), ["adapter.safetensors", "manifest.json"])
        m = json.loads((art / "manifest.json").read_text())
        self.assertEqual(m["task"], "synthetic")
        self.assertEqual(m["backbone"]["sha256"], sha256(TESTDATA / "tiny-bert" / "model.safetensors"))
        self.assertEqual(m["files"]["adapter.safetensors"]["sha256"], sha256(art / "adapter.safetensors"))
        self.assertEqual(m["data"]["train_sha256"], sha256(self.tmp / "train.jsonl"))
        self.assertEqual(m["data"]["validation_sha256"], sha256(self.tmp / "dev.jsonl"))
        self.assertEqual(m["labels"], ["neg", "pos"])
        self.assertEqual(m["method"], "houlsby")
        self.assertEqual(m["adapter"]["bottleneck"], 16)
        d, layers, m_ = 32, 2, 16
        expected = 2 * layers * (2 * m_ * d + d + m_) + 2 * d * (1 + 2 * layers) + (2 * d + 2)
        self.assertEqual(m["params"]["trained"], expected)
        self.assertEqual(summary["params"]["trained"], expected)
        self.assertGreater(m["params"]["backbone"], 20000)
        self.assertGreaterEqual(m["metrics"]["accuracy"], 0.9)
        # Eval prints exactly the classification metrics.
        e = json.loads(run(["eval", "--adapter", art, "--data", self.tmp / "test.jsonl"], check=True).stdout)
        self.assertEqual(sorted(e), ["accuracy", "macro_f1", "mcc"])
        self.assertGreaterEqual(e["accuracy"], 0.9)
        # Predict: plain lines on stdin and JSONL from a file give the same answers.
        texts = ["this movie was good fun and great", "the food was slow and boring and bad", "a great nice book i love"]
        lines = run(["predict", "--adapter", art], stdin="\n".join(texts) + "\n", check=True).stdout.splitlines()
        self.assertEqual(len(lines), 3)
        preds = [json.loads(l) for l in lines]
        self.assertEqual([p["label"] for p in preds], ["pos", "neg", "pos"])
        for p in preds:
            self.assertAlmostEqual(sum(p["scores"].values()), 1.0, places=5)
        write_jsonl(self.tmp / "in.jsonl", [{"text": t} for t in texts])
        again = run(["predict", "--adapter", art, "--data", self.tmp / "in.jsonl"], check=True).stdout.splitlines()
        self.assertEqual([json.loads(l)["label"] for l in again], [p["label"] for p in preds])

    def test_same_seed_gives_bit_identical_adapter(self):
        self.train(self.spec(), "a")
        self.train(self.spec(), "b")
        self.train(self.spec(train__seed=8), "c")
        a = (self.tmp / "a" / "adapter.safetensors").read_bytes()
        self.assertEqual(a, (self.tmp / "b" / "adapter.safetensors").read_bytes())
        self.assertNotEqual(a, (self.tmp / "c" / "adapter.safetensors").read_bytes())

    def test_refuses_to_overwrite_an_artifact(self):
        self.train(self.spec())
        before = sha256(self.tmp / "artifact" / "manifest.json")
        p = self.train(self.spec(), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("already exists", p.stderr)
        self.assertEqual(before, sha256(self.tmp / "artifact" / "manifest.json"))

    def test_out_path_forms_and_usage_errors(self):
        # A trailing slash and missing parents are fine; the artifact lands at the normalised path.
        p = run(["train", self.write_spec(self.spec()), "--out", f"{self.tmp}/nested/art/"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue((self.tmp / "nested" / "art" / "manifest.json").exists())
        self.assertEqual([x.name for x in (self.tmp / "nested").iterdir()], ["art"])
        # Usage errors exit 2, and say what is wrong.
        p = run(["predict"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("--adapter", p.stderr)
        p = run(["predict", "--adapter", self.tmp / "nested" / "art", "--format", "xml"])
        self.assertEqual(p.returncode, 2)
        p = run(["predict", "--adapter", self.tmp / "nested" / "art", "--format", "jsonl"], stdin='{"text": "a"}\n\n')
        self.assertEqual(p.returncode, 1)
        self.assertIn("<stdin>:2", p.stderr)

    def test_csv_tsv_pairs_holdout_and_integer_labels(self):
        import csv
        rows = synthetic_rows(300, 4, pair=True)
        with open(self.tmp / "train.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["sentence", "other", "y"])
            for r in rows:
                w.writerow([r["text"], r["text_b"], 1 if r["label"] == "pos" else 0])
        spec = self.spec(data={"train": "train.csv", "text_field": "sentence", "text_pair_field": "other",
                               "label_field": "y", "validation_fraction": 0.2, "max_seq_len": 32})
        self.train(spec)
        m = json.loads((self.tmp / "artifact" / "manifest.json").read_text())
        self.assertEqual(m["labels"], ["0", "1"])
        self.assertIsNone(m["data"]["validation_sha256"])
        with open(self.tmp / "test.tsv", "w") as f:
            f.write("sentence\tother\ty\n")
            for r in synthetic_rows(50, 5, pair=True):
                f.write(f"{r['text']}\t{r['text_b']}\t{1 if r['label'] == 'pos' else 0}\n")
        e = json.loads(run(["eval", "--adapter", self.tmp / "artifact", "--data", self.tmp / "test.tsv"],
                           check=True).stdout)
        self.assertGreaterEqual(e["accuracy"], 0.8)
        out = run(["predict", "--adapter", self.tmp / "artifact"],
                  stdin=json.dumps({"sentence": "a good nice film", "other": "it was"}) + "\n", check=True).stdout
        self.assertIn(json.loads(out)["label"], (0, 1))
        p = run(["predict", "--adapter", self.tmp / "artifact"], stdin="plain text line\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("text pairs", p.stderr)

    def test_regression(self):
        write_jsonl(self.tmp / "train.jsonl", synthetic_rows(300, 1, regression=True))
        write_jsonl(self.tmp / "dev.jsonl", synthetic_rows(60, 2, regression=True))
        self.train(self.spec(data={"train": "train.jsonl", "validation": "dev.jsonl", "task_type": "regression",
                                   "max_seq_len": 32}, train__epochs=15))
        m = json.loads((self.tmp / "artifact" / "manifest.json").read_text())
        self.assertEqual(sorted(m["metrics"]), ["mse", "pearson", "spearman"])
        self.assertGreater(m["metrics"]["pearson"], 0.8)
        out = json.loads(run(["predict", "--adapter", self.tmp / "artifact"], stdin="good great love\n",
                             check=True).stdout)
        self.assertIsInstance(out["label"], float)

    # ---- artifacts are verified -------------------------------------------------------------
    def test_tampered_or_foreign_artifact_is_refused(self):
        self.train(self.spec())
        art = self.tmp / "artifact"
        data = bytearray((art / "adapter.safetensors").read_bytes())
        data[-1] ^= 0x01
        (art / "adapter.safetensors").write_bytes(bytes(data))
        p = run(["predict", "--adapter", art], stdin="good\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("sha256", p.stderr)
        # A backbone with the same name but other weights: every command refuses the artifact.
        self.train(self.spec(), "artifact2")
        other = self.tmp / "other-configs"
        shutil.copytree(TINY_CONFIGS, other)
        shutil.copytree(TESTDATA / "tiny-bert", self.tmp / "tiny-bert")
        desc = json.loads((other / "backbones" / "tiny-bert.json").read_text())
        desc["dir"] = str(self.tmp / "tiny-bert")
        (other / "backbones" / "tiny-bert.json").write_text(json.dumps(desc))
        st = bytearray((self.tmp / "tiny-bert" / "model.safetensors").read_bytes())
        st[-5] ^= 0x10
        (self.tmp / "tiny-bert" / "model.safetensors").write_bytes(bytes(st))
        for args in (["predict", "--adapter", self.tmp / "artifact2"],
                     ["eval", "--adapter", self.tmp / "artifact2", "--data", self.tmp / "test.jsonl"]):
            p = run(args, config_dir=other, stdin="good\n")
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("sha256", p.stderr)

    # ---- bad input: one clear error, exit != 0, nothing written ---------------------------------
    def test_bad_data_files(self):
        cases = [
            (lambda: None, self.spec(data__train="missing.jsonl"), ["missing.jsonl"]),
            (lambda: (self.tmp / "train.jsonl").write_text('{"text": "a", "label": "pos"}\n{"text": "b", "label"\n'),
             self.spec(), ["train.jsonl:2"]),
            (lambda: write_jsonl(self.tmp / "train.jsonl", [{"txt": "a", "label": "pos"}]), self.spec(),
             ["train.jsonl:1", "text"]),
            (lambda: write_jsonl(self.tmp / "train.jsonl", [{"text": "a", "label": "pos"}, {"text": "b"}]),
             self.spec(), ["train.jsonl:2", "label"]),
            (lambda: (self.tmp / "train.jsonl").write_text(""), self.spec(), ["train.jsonl"]),
            (lambda: write_jsonl(self.tmp / "dev.jsonl", [{"text": "a", "label": "maybe"}]), self.spec(),
             ["dev.jsonl:1", "maybe"]),
            (lambda: (self.tmp / "train.csv").write_text('text,label\n"unterminated,pos\n'),
             self.spec(data__train="train.csv"), ["train.csv"]),
        ]
        for i, (prepare, spec, needles) in enumerate(cases):
            with self.subTest(case=i, needles=needles):
                self.setUp()
                prepare()
                self.assert_fails(self.train(spec, check=False), *needles)

    def test_bad_hyperparameters(self):
        cases = [
            (self.spec(adapter={"bottleneck": 0}), "adapter.bottleneck"),
            (self.spec(train__learning_rate=0), "train.learning_rate"),
            (self.spec(train__batch_size=0), "train.batch_size"),
            (self.spec(method="lora"), "method"),
            (self.spec(adapter={"nonlinearity": "sigmoidish"}), "adapter.nonlinearity"),
            (self.spec(backbone="no-such-backbone"), "no-such-backbone"),
            (self.spec(train__epochs_typo=3), "epochs_typo"),
            (self.spec(data__max_seq_len=100000), "max_seq_len"),
        ]
        for spec, needle in cases:
            with self.subTest(needle=needle):
                self.assert_fails(self.train(spec, check=False), needle)
        (self.tmp / "broken.json").write_text('{"task": "x",')
        self.assert_fails(run(["train", self.tmp / "broken.json", "--out", self.tmp / "artifact"]), "broken.json")

    def broken_backbone(self, mutate):
        """A copy of the tiny backbone whose files `mutate` damages; returns its config dir."""
        root = self.tmp / "bad-backbone"
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(TESTDATA / "tiny-bert", root / "tiny-bert")
        (root / "backbones").mkdir(parents=True)
        (root / "backbones" / "tiny-bert.json").write_text(json.dumps({"name": "tiny-bert", "dir": "../tiny-bert"}))
        mutate(root / "tiny-bert")
        return root

    def test_corrupt_backbones(self):
        def header_of(path):
            b = path.read_bytes()
            n = struct.unpack("<Q", b[:8])[0]
            return b, n, json.loads(b[8:8 + n])

        def rewrite(path, fn):
            b, n, h = header_of(path)
            fn(h)
            hb = json.dumps(h).encode()
            path.write_bytes(struct.pack("<Q", len(hb)) + hb + b[8 + n:])

        def drop_tensor(path, name):
            from safetensors.torch import load_file, save_file
            tensors = load_file(str(path))
            del tensors[name]
            save_file(tensors, str(path))

        def first_tensor(h):
            return sorted(k for k in h if k != "__metadata__")[0]

        st = "model.safetensors"
        cases = {
            "truncated": (lambda d: (d / st).write_bytes((d / st).read_bytes()[:1000]), st),
            "header past end": (lambda d: (d / st).write_bytes(struct.pack("<Q", 10 ** 9) + b"{}"), st),
            "bad json": (lambda d: (d / st).write_bytes(struct.pack("<Q", 5) + b"{oops"), st),
            "offsets out of range": (lambda d: rewrite(d / st, lambda h: h[first_tensor(h)].update(
                data_offsets=[0, 10 ** 12])), st),
            "dtype mismatch": (lambda d: rewrite(d / st, lambda h: h["embeddings.LayerNorm.bias"].update(
                dtype="I32")), "embeddings.LayerNorm.bias"),
            "shape mismatch": (lambda d: rewrite(d / st, lambda h: h["embeddings.LayerNorm.bias"].update(
                shape=[8, 4])), "embeddings.LayerNorm.bias"),
            "missing tensor": (lambda d: drop_tensor(d / st, "encoder.layer.1.output.dense.weight"),
                               "encoder.layer.1.output.dense.weight"),
            "vocab mismatch": (lambda d: (d / "vocab.txt").write_text((d / "vocab.txt").read_text() + "extra\n"),
                               "vocab"),
            "missing config": (lambda d: (d / "config.json").unlink(), "config.json"),
        }
        for name, (mutate, needle) in cases.items():
            with self.subTest(case=name):
                cfg = self.broken_backbone(mutate)
                p = run(["train", self.write_spec(self.spec()), "--out", self.tmp / "artifact"], config_dir=cfg)
                self.assert_fails(p, needle)


@unittest.skipUnless((SOURCE / "assets/backbones/all-MiniLM-L6-v2/model.safetensors").exists()
                     and (SOURCE / "data/uci-sentiment/train.jsonl").exists(),
                     "the real backbone or the UCI data is not set up (run cluster/setup.sh)")
class RealBackboneTest(unittest.TestCase):
    """A short real run: all-MiniLM-L6-v2 + UCI sentiment sentences, 1 epoch on 640 examples."""

    def test_short_real_run(self):
        tmp = Path(tempfile.mkdtemp(prefix="trellis-real-"))
        try:
            src = SOURCE / "data/uci-sentiment"
            (tmp / "train.jsonl").write_text("".join((src / "train.jsonl").read_text().splitlines(True)[:640]))
            spec = {"task": "uci-sentiment-smoke", "data": {"train": "train.jsonl",
                                                           "validation": str(src / "validation.jsonl")},
                    "train": {"epochs": 1, "batch_size": 32}}
            (tmp / "job.json").write_text(json.dumps(spec))
            run(["train", tmp / "job.json", "--out", tmp / "art"], config_dir=SOURCE / "configs", check=True)
            m = json.loads((tmp / "art" / "manifest.json").read_text())
            self.assertEqual(m["backbone"]["name"], "all-MiniLM-L6-v2")
            self.assertGreater(m["metrics"]["accuracy"], 0.6)
            e = json.loads(run(["eval", "--adapter", tmp / "art", "--data", src / "test.jsonl"],
                               config_dir=SOURCE / "configs", check=True).stdout)
            self.assertGreater(e["accuracy"], 0.6)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
