"""Tests cluster/check_layout.py on fake trees built in a temporary directory."""

import io
import os
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stdout
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("TRELLIS_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SCRIPT = SOURCE_DIR / "cluster" / "check_layout.py"
sys.path.insert(0, str(SCRIPT.parent))
import check_layout  # noqa: E402


class FakeTree:
    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="trellis-layout-")
        self.root = Path(self._dir.name)

    def write(self, rel, *lines):
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")

    def check(self, **kwargs):
        return check_layout.check(self.root, **kwargs)

    def run(self, *args):
        return subprocess.run([sys.executable, str(SCRIPT), "--root", str(self.root), *args],
                              capture_output=True, text=True)

    def close(self):
        self._dir.cleanup()


class CheckLayoutTest(unittest.TestCase):
    def setUp(self):
        self.tree = FakeTree()
        t = self.tree
        t.write("common/error.h", "#pragma once", "#include <string>")
        t.write("common/error.cpp", '#include "common/error.h"')
        t.write("trainer/text/tokenizer.h", '#include "common/error.h"')
        t.write("trainer/spec/job_spec.h", '#include "trainer/text/tokenizer.h"')
        t.write("trainer/model/encoder.h", "#include <torch/torch.h>", '#include "trainer/spec/job_spec.h"')
        t.write("coordinator/store/job.h", '#include "trainer/spec/job_spec.h"', '#include "common/error.h"')
        t.write("coordinator/api/change_feed.h", '#include "coordinator/http/router.h"')
        t.write("coordinator/api/routes.h", '#include "coordinator/jobs/service.h"')
        t.write("coordinator/http/router.h", '#include "common/error.h"')
        t.write("coordinator/jobs/service.h", '#include "coordinator/store/job.h"',
                '#include "coordinator/api/change_feed.h"')
        t.write("coordinator/main.cpp", '#include "coordinator/api/routes.h"')
        t.write("tests/unit/anything_test.cpp", '#include "coordinator/main.cpp"', "#include <torch/torch.h>")
        t.write("build/generated.cpp", '#include "tests/unit/anything_test.cpp"')  # build dirs are skipped
        t.write("worker/local.cpp", '#include "version.h"')  # not in the tree: not checked

    def tearDown(self):
        self.tree.close()

    def test_allowed_tree_passes(self):
        self.assertEqual(self.tree.check(), [])
        result = self.tree.run()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")

    def test_forbidden_edge_names_file_line_and_edge(self):
        self.tree.write("coordinator/store/sqlite.cpp", "// the store", '#include "coordinator/api/routes.h"')
        problems = self.tree.check()
        self.assertIn('coordinator/store/sqlite.cpp:2: forbidden include "coordinator/api/routes.h" '
                      "(coordinator/store -> coordinator/api); coordinator/store may include common, protocol, "
                      "trainer/spec", problems)
        # store -> api -> jobs -> store: the cycle is reported too
        self.assertTrue(any(p.startswith("cycle between units: coordinator/api -> coordinator/jobs -> "
                                         "coordinator/store -> coordinator/api") for p in problems), problems)
        result = self.tree.run()
        self.assertEqual(result.returncode, 1)
        self.assertIn("coordinator/store/sqlite.cpp:2: forbidden include", result.stdout)

    def test_torch_free_part_of_trainer_never_includes_the_torch_part(self):
        self.tree.write("trainer/artifact/manifest.cpp", '#include "trainer/model/encoder.h"')
        self.tree.write("trainer/artifact/artifact.cpp", '#include "trainer/model/encoder.h"')  # allowed
        problems = self.tree.check()
        self.assertEqual(len(problems), 1, problems)
        self.assertTrue(problems[0].startswith('trainer/artifact/manifest.cpp:1: forbidden include '
                                               '"trainer/model/encoder.h" (trainer/artifact/manifest -> '
                                               "trainer/model)"), problems)

    def test_torch_header_in_torch_free_folder(self):
        self.tree.write("trainer/data/batches.cpp", '#include "common/error.h"', "", "#include <ATen/ATen.h>")
        self.tree.write("coordinator/http/server.cpp", "#include <c10/util/Exception.h>")
        self.tree.write("registry/publish.cpp", '#include "torch/script.h"')
        problems = self.tree.check()
        self.assertIn("trainer/data/batches.cpp:3: LibTorch header <ATen/ATen.h> in torch-free trainer/data", problems)
        self.assertIn("coordinator/http/server.cpp:1: LibTorch header <c10/util/Exception.h> in torch-free "
                      "coordinator/http", problems)
        self.assertIn('registry/publish.cpp:1: LibTorch header "torch/script.h" in torch-free registry', problems)
        self.assertEqual(len(problems), 3, problems)

    def test_cycle_between_allowed_units(self):
        # Both edges are allowed by the table (the LibTorch part of the trainer); the cycle is not.
        self.tree.write("trainer/train/trainer.h", '#include "trainer/model/encoder.h"')
        self.tree.write("trainer/model/encoder.cpp", "", '#include "../train/trainer.h"')  # relative include
        problems = self.tree.check()
        self.assertEqual(problems, ["cycle between units: trainer/model -> trainer/train -> trainer/model "
                                    "(trainer/model -> trainer/train: trainer/model/encoder.cpp:2; "
                                    "trainer/train -> trainer/model: trainer/train/trainer.h:1)"])

    def test_cycle_between_folders(self):
        self.tree.write("registry/layout.h", '#include "protocol/client.h"')
        self.tree.write("protocol/client.h", '#include "registry/layout.h"')
        problems = self.tree.check()
        self.assertIn("cycle between folders: protocol -> registry -> protocol (protocol -> registry: "
                      "protocol/client.h:1; registry -> protocol: registry/layout.h:1)", problems)
        self.assertEqual(sum(p.startswith("cycle between") for p in problems), 2, problems)  # folders and units
        self.assertEqual(sum("forbidden include" in p for p in problems), 2, problems)

    def test_jobs_may_use_only_the_change_feed_of_api(self):
        self.tree.write("coordinator/jobs/other.cpp", '#include "coordinator/api/routes.h"')
        problems = self.tree.check()
        self.assertTrue(any(p.startswith('coordinator/jobs/other.cpp:1: forbidden include "coordinator/api/routes.h"'
                                         " (coordinator/jobs -> coordinator/api)") for p in problems), problems)
        self.assertTrue(any(p.startswith("cycle between units: coordinator/api -> coordinator/jobs -> "
                                         "coordinator/api") for p in problems), problems)

    def test_long_lines(self):
        self.tree.write("common/files.cpp", "x" * 120, "// " + "y" * 118)
        self.tree.write("tests/reference/ok.cpp", "z" * 300)
        self.assertEqual(self.tree.check(), ["common/files.cpp:2: line of 121 characters (limit 120)"])
        self.assertEqual(self.tree.check(max_line_length=0), [])
        self.assertEqual(self.tree.run("--no-line-length").returncode, 0)
        result = self.tree.run("--max-line-length", "200")
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_real_table_is_consistent(self):
        # Every unit named as a dependency is a unit of the table.
        units = set(check_layout.ALLOWED)
        for unit, deps in check_layout.ALLOWED.items():
            if deps != check_layout.ANY:
                self.assertLessEqual(set(deps), units, unit)
        self.assertLessEqual(check_layout.TORCH_FREE, units)
        self.assertEqual(check_layout.unit_of("trainer/artifact/manifest.h"), "trainer/artifact/manifest")
        self.assertEqual(check_layout.unit_of("trainer/artifact/artifact.h"), "trainer/artifact")
        self.assertEqual(check_layout.unit_of("coordinator/main.cpp"), "coordinator")
        self.assertEqual(check_layout.unit_of("tests/unit/worker/x_test.cpp"), "tests")
        self.assertIsNone(check_layout.unit_of("elsewhere/x.cpp"))


if __name__ == "__main__":
    unittest.main()
