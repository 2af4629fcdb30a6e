#pragma once
// The dataset layer in one include: examples read from JSONL/CSV/TSV (examples.h), the label set
// of a classification task (label_set.h) and the seeded holdout split (holdout.h). Torch-free.
#include "trainer/data/examples.h"
#include "trainer/data/holdout.h"
#include "trainer/data/label_set.h"
#include "trainer/data/table_reader.h"
