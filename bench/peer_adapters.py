#!/usr/bin/env python3
"""Python peer for Trellis's training-throughput benchmark: HF transformers + AdapterHub.

Trains the same model as Trellis's `houlsby` method, the way a Python user would: BertModel
(pooler-free) from the backbone directory, AdapterHub's `double_seq_bn` (Houlsby) adapters with
bottleneck 64, every LayerNorm unfrozen, and a plain torch head (Dropout + Linear on the final
[CLS] hidden state). `--method full` trains everything, `--method head` only the head.

Same data path as Trellis: BertTokenizerFast over the backbone's vocab.txt, truncation to
--max-seq-len, length-bucketed batches (seeded shuffle, chunks of 50 batches sorted by length,
batch order shuffled) padded to the batch's longest sequence. AdamW (lr 1e-3, weight decay 0.01
except biases and LayerNorms), linear LR warm-up over 10% of the steps then linear decay,
grad-norm clipping at 1.0, dropout 0.1 (model in training mode).

Runs --warmup-steps untimed steps, then times --steps steps; writes a JSON report:
  {"impl": "python-adapters", "samples_per_s", "steps", "step_ms_median", "threads",
   "trained_params", "torch_version", "adapters_version", ...}
--warmup-steps are benchmark warm-up steps (not timed), unrelated to the LR warm-up.

Usage:
  .venv/bin/python bench/peer_adapters.py --data data/uci-sentiment/train.jsonl \
      --backbone-dir assets/backbones/all-MiniLM-L6-v2 --threads 2 --steps 50 --warmup-steps 5 \
      --json-out bench/results/peer.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

BUCKET_CHUNK_BATCHES = 50
LR_WARMUP_RATIO = 0.1


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="AdapterHub training-throughput peer for Trellis.")
    ap.add_argument("--data", required=True, type=Path, help="JSONL with text and label")
    ap.add_argument("--backbone-dir", required=True, type=Path,
                    help="directory with config.json, vocab.txt, model.safetensors")
    ap.add_argument("--method", choices=("houlsby", "full", "head"), default="houlsby")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-seq-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--steps", type=int, default=50, help="timed steps")
    ap.add_argument("--warmup-steps", type=int, default=5, help="untimed steps before timing")
    ap.add_argument("--bottleneck", type=int, default=64)
    ap.add_argument("--non-linearity", default="gelu", help="adapter nonlinearity (Trellis: gelu)")
    ap.add_argument("--init-std", type=float, default=1e-3, help="adapter projection init std")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--text-field", default="text")
    ap.add_argument("--label-field", default="label")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(argv)
    for name in ("batch_size", "max_seq_len", "threads", "steps", "bottleneck"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} must be > 0")
    if args.warmup_steps < 0:
        ap.error("--warmup-steps must be >= 0")
    return args


def read_jsonl(path: Path, text_field: str, label_field: str):
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            if text_field not in rec or label_field not in rec:
                sys.exit(f"{path}:{lineno}: missing '{text_field}' or '{label_field}'")
            texts.append(rec[text_field])
            labels.append(rec[label_field])
    if not texts:
        sys.exit(f"{path}: no examples")
    names = sorted(set(labels))
    if all(isinstance(x, int) for x in names):
        index = {lab: lab for lab in names}  # integer labels are class ids already
        num_labels = max(names) + 1
    else:
        index = {lab: i for i, lab in enumerate(names)}
        num_labels = len(names)
    return texts, [index[lab] for lab in labels], num_labels


def bucketed_batches(lengths, batch_size: int, rng: random.Random):
    """One epoch: shuffle, chunks of 50 batches sorted by length, cut, shuffle batch order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * BUCKET_CHUNK_BATCHES
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def batch_stream(lengths, batch_size, seed):
    rng = random.Random(seed)
    while True:
        yield from bucketed_batches(lengths, batch_size, rng)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch  # after argument parsing, so --help stays fast

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    import adapters
    import transformers
    from adapters import DoubleSeqBnConfig
    from transformers import BertConfig, BertModel, BertTokenizerFast
    transformers.logging.set_verbosity_error()

    # --- data ---------------------------------------------------------------------------------
    texts, labels, num_labels = read_jsonl(args.data, args.text_field, args.label_field)
    vocab = args.backbone_dir / "vocab.txt"
    tok_cfg_path = args.backbone_dir / "tokenizer_config.json"
    lower = True
    if tok_cfg_path.is_file():
        lower = bool(json.loads(tok_cfg_path.read_text()).get("do_lower_case", True))
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=lower)
    ids = tokenizer(texts, truncation=True, max_length=args.max_seq_len,
                    add_special_tokens=True)["input_ids"]
    lengths = [len(x) for x in ids]
    pad_id = tokenizer.pad_token_id

    def collate(idx):
        width = max(lengths[i] for i in idx)
        input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            input_ids[row, :lengths[i]] = torch.tensor(ids[i], dtype=torch.long)
            mask[row, :lengths[i]] = 1
        return input_ids, mask, torch.tensor([labels[i] for i in idx], dtype=torch.long)

    # --- model ----------------------------------------------------------------------------------
    config = BertConfig.from_pretrained(str(args.backbone_dir))
    config.hidden_dropout_prob = args.dropout
    model = BertModel.from_pretrained(str(args.backbone_dir), config=config, add_pooling_layer=False)
    hidden = config.hidden_size
    if hidden % args.bottleneck:
        sys.exit(f"hidden size {hidden} is not a multiple of the bottleneck {args.bottleneck}")
    adapter_config = None
    if args.method == "houlsby":
        adapters.init(model)
        adapter_config = DoubleSeqBnConfig(reduction_factor=hidden // args.bottleneck,
                                           non_linearity=args.non_linearity, init_weights="houlsby")
        model.add_adapter("task", config=adapter_config, set_active=True)
        model.train_adapter("task")  # freezes everything but the adapters
        with torch.no_grad():  # Trellis's init: truncated normal(0, init_std) within 2 std, biases 0
            for name, p in model.named_parameters():
                if ".adapters.task." in name:
                    if name.endswith(".weight"):
                        torch.nn.init.trunc_normal_(p, 0.0, args.init_std,
                                                    -2 * args.init_std, 2 * args.init_std)
                    else:
                        p.zero_()
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                for p in module.parameters():
                    p.requires_grad_(True)
    elif args.method == "head":
        for p in model.parameters():
            p.requires_grad_(False)
    else:  # full
        for p in model.parameters():
            p.requires_grad_(True)

    head = torch.nn.Sequential(torch.nn.Dropout(args.dropout), torch.nn.Linear(hidden, num_labels))
    torch.nn.init.normal_(head[1].weight, std=0.02)
    torch.nn.init.zeros_(head[1].bias)
    model.train()
    head.train()

    named = [(f"encoder.{n}", p) for n, p in model.named_parameters() if p.requires_grad]
    named += [(f"head.{n}", p) for n, p in head.named_parameters()]
    trained_params = sum(p.numel() for _, p in named)
    no_decay = lambda n: n.endswith(".bias") or "LayerNorm" in n or "layer_norm" in n.lower()
    groups = [
        {"params": [p for n, p in named if not no_decay(n)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    total = args.warmup_steps + args.steps
    lr_warmup = int(round(LR_WARMUP_RATIO * total))
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, lr_warmup, total)
    params = [p for _, p in named]

    # --- steps ----------------------------------------------------------------------------------
    loss_fn = torch.nn.CrossEntropyLoss()
    stream = batch_stream(lengths, args.batch_size, args.seed)
    times, samples, tokens, last_loss = [], 0, 0, float("nan")
    for step in range(total):
        t0 = time.perf_counter()
        input_ids, mask, y = collate(next(stream))
        out = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        logits = head(out[:, 0])
        loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        last_loss = loss.item()  # synchronises, like reading the loss each step
        dt = time.perf_counter() - t0
        if step >= args.warmup_steps:
            times.append(dt)
            samples += y.numel()
            tokens += int(mask.sum())

    elapsed = sum(times)
    report = {
        "impl": "python-adapters",
        "method": args.method,
        "samples_per_s": samples / elapsed,
        "tokens_per_s": tokens / elapsed,
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "step_ms_median": statistics.median(times) * 1e3,
        "step_ms_mean": elapsed / len(times) * 1e3,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "max_seq_len": args.max_seq_len,
        "samples": samples,
        "mean_tokens_per_sample": tokens / samples,
        "trained_params": trained_params,
        "num_labels": num_labels,
        "final_loss": last_loss,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "adapter_config": adapter_config.to_dict() if adapter_config is not None else None,
        "data": str(args.data),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "adapters_version": adapters.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
    }
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json_out.with_name(f".{args.json_out.name}.tmp-{os.getpid()}")
        tmp.write_text(text + "\n")
        os.replace(tmp, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
