"""The adapter registry through the CLI and the worker: publish, list, alias, resolve references
in predict/eval, many adapters on one backbone load, tampering refused.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from test_cli import BIN, TINY_CONFIGS, run, skip_unless_set_up, synthetic_rows, write_jsonl

WORKER = os.environ.get("TRELLIS_WORKER_BIN", "")
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")


class RegistryCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_set_up(TRELLIS_BIN=BIN)
        cls.tmp = Path(tempfile.mkdtemp(prefix="trellis-registry-cli-"))
        write_jsonl(cls.tmp / "train.jsonl", synthetic_rows(200, 1))
        write_jsonl(cls.tmp / "dev.jsonl", synthetic_rows(40, 2))
        write_jsonl(cls.tmp / "test.jsonl", synthetic_rows(30, 3))
        cls.artifacts = {}
        for task, seed in (("sent", 1), ("sent2", 2)):
            spec = {"task": task, "backbone": "tiny-bert",
                    "data": {"train": "train.jsonl", "validation": "dev.jsonl", "max_seq_len": 32},
                    "train": {"epochs": 2, "batch_size": 16, "learning_rate": 0.003, "seed": seed}}
            (cls.tmp / f"{task}.json").write_text(json.dumps(spec))
            out = cls.tmp / f"art-{task}"
            run(["train", cls.tmp / f"{task}.json", "--out", out], check=True)
            cls.artifacts[task] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="trellis-registry-", dir=self.tmp))

    def reg(self, args, check=False, stdin=None):
        return run(["--registry", self.root] + list(args), stdin=stdin, check=check)

    def publish(self, task, *extra):
        p = self.reg(["publish", self.artifacts[task], "--create-registry", *extra], check=True)
        return json.loads(p.stdout)

    def predict(self, *adapters, registry=True):
        args = ["predict", "--data", self.tmp / "test.jsonl"]
        for a in adapters:
            args += ["--adapter", a]
        p = self.reg(args) if registry else run(args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return [json.loads(l) for l in p.stdout.splitlines()]

    def test_publish_list_alias_and_references(self):
        self.assertEqual(self.publish("sent")["ref"], "sent@1")
        self.assertEqual(self.publish("sent", "--alias", "prod")["ref"], "sent@2")
        self.assertEqual(self.publish("sent2")["version"], 1)
        tasks = json.loads(self.reg(["adapters", "--json"], check=True).stdout)
        self.assertEqual([(t["task"], t["latest"]) for t in tasks], [("sent", 2), ("sent2", 1)])
        self.assertIn("accuracy", tasks[0]["metrics"])
        versions = json.loads(self.reg(["adapters", "sent", "--json"], check=True).stdout)
        self.assertEqual([v["version"] for v in versions["versions"]], [1, 2])
        self.assertEqual(versions["aliases"], {"prod": 2})
        self.assertIn("sent@2", self.reg(["adapters", "sent"], check=True).stdout)
        # Every reference form predicts exactly what the artifact directory predicts.
        direct = self.predict(self.artifacts["sent"], registry=False)
        for ref in ("sent@1", "sent@2", "sent@latest", "sent@prod", "sent"):
            self.assertEqual(self.predict(ref), direct, ref)
        p = self.reg(["eval", "--adapter", "sent@prod", "--data", self.tmp / "test.jsonl"], check=True)
        self.assertIn("accuracy", json.loads(p.stdout))
        # Aliases move atomically and only to versions that exist.
        self.reg(["alias", "sent", "prod", "1"], check=True)
        self.assertEqual(json.loads(self.reg(["adapters", "sent", "--json"]).stdout)["aliases"], {"prod": 1})
        p = self.reg(["alias", "sent", "prod", "7"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("7", p.stderr)
        p = self.reg(["alias", "sent", "latest", "1"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("latest", p.stderr)

    def test_unknown_references_list_what_exists(self):
        self.publish("sent")
        for ref, needle in (("sent@9", "1"), ("nope@1", "sent"), ("sent@staging", "sent")):
            p = self.reg(["predict", "--adapter", ref], stdin="good\n")
            self.assertEqual(p.returncode, 1, ref)
            self.assertIn(needle, p.stderr, ref)
        p = self.reg(["predict", "--adapter", "../etc@1"], stdin="good\n")
        self.assertEqual(p.returncode, 1)
        p = run(["predict", "--adapter", "sent@1"], stdin="good\n")  # no registry given
        self.assertEqual(p.returncode, 1)
        self.assertIn("--registry", p.stderr)
        p = run(["--registry", self.tmp / "missing", "adapters"])
        self.assertEqual(p.returncode, 1)

    def test_many_adapters_on_one_backbone_equal_single_predicts(self):
        self.publish("sent")
        self.publish("sent2")
        both = self.predict("sent@1", "sent2@latest")
        one, two = self.predict("sent@1"), self.predict("sent2@latest")
        self.assertEqual(len(both), 30)
        self.assertEqual([b["sent@1"] for b in both], one)
        self.assertEqual([b["sent2@latest"] for b in both], two)
        self.assertNotEqual(one, two)

    def test_foreign_backbone_is_refused(self):
        self.publish("sent")
        foreign = self.tmp / "foreign"
        shutil.copytree(self.artifacts["sent2"], foreign)
        m = json.loads((foreign / "manifest.json").read_text())
        m["backbone"]["sha256"] = "0" * 64
        (foreign / "manifest.json").write_text(json.dumps(m))
        p = self.reg(["predict", "--adapter", "sent@1", "--adapter", foreign], stdin="good\n")
        self.assertEqual(p.returncode, 1)
        self.assertIn("one predict serves one backbone", p.stderr)
        p = self.reg(["predict", "--adapter", foreign], stdin="good\n")
        self.assertEqual(p.returncode, 1)
        self.assertIn("sha256", p.stderr)

    def test_tampered_version_is_refused_when_loaded(self):
        v = self.publish("sent")
        tensors = Path(v["dir"]) / "adapter.safetensors"
        data = bytearray(tensors.read_bytes())
        data[-1] ^= 0xFF
        os.chmod(tensors, 0o644)
        tensors.write_bytes(bytes(data))
        p = self.reg(["predict", "--adapter", "sent@1"], stdin="good\n")
        self.assertEqual(p.returncode, 1)
        self.assertIn("sha256", p.stderr)

    def test_worker_publishes_with_lineage(self):
        if not WORKER or not shutil.which("mpirun"):
            self.skipTest("trellis-worker or mpirun missing")
        self.publish("sent")  # creates the registry; the worker needs an existing one
        cmd = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", WORKER, "--config-dir", TINY_CONFIGS,
               "--threads", "1", "-q", "--job", self.tmp / "sent.json", "--registry", self.root]
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=MPI_ENV, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        line = json.loads(p.stdout.splitlines()[-1])
        self.assertEqual(line["version"], "sent@2")
        versions = json.loads(self.reg(["adapters", "sent", "--json"], check=True).stdout)["versions"]
        self.assertEqual(versions[1]["job_id"], "sent")
        self.assertEqual(self.predict("sent@2"), self.predict("sent@latest"))
        p = subprocess.run([str(c) for c in cmd[:-1]] + [str(self.tmp / "no-registry")], capture_output=True,
                           text=True, env=MPI_ENV, timeout=120)
        self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main()
