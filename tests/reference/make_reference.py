#!/usr/bin/env python3
"""Reference outputs from Hugging Face transformers for the C++ parity tests, plus a tiny random
BERT backbone (HF format) for fast end-to-end tests.

Writes into --out:
  tokenizer_reference.jsonl        HF BertTokenizerFast ids on hard cases and real sentences
  encoder_reference.safetensors    HF BertModel last hidden states on a padded batch (real backbone)
  tiny-bert/                       config.json, vocab.txt, model.safetensors of a random tiny BERT
  configs/backbones/tiny-bert.json descriptor of it (the real descriptors live in configs/)
Each part is skipped with a printed reason when its input (backbone files, datasets) is missing.
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))


def encoder_reference(backbone_dir: Path, out: Path) -> None:
    from transformers import BertModel, BertTokenizerFast

    tok = BertTokenizerFast(vocab_file=str(backbone_dir / "vocab.txt"), do_lower_case=True)
    model = BertModel.from_pretrained(str(backbone_dir), add_pooling_layer=False, attn_implementation="eager")
    model.eval()
    texts = [
        "A short one.",
        "The movie was absolutely wonderful, and the acting superb; I'd watch it again!",
        "Crème brûlée à Paris — naïve café owners say 日本語 is hard.",
        "no",
        "This sentence is quite a bit longer than the others so that the batch has real padding in it, "
        "which is exactly what the parity test needs to exercise the attention mask.",
    ]
    pairs = [("Is this a question?", "Yes, and this is the answer to it.")]
    # Single texts and one pair, padded together.
    encs = [tok(t) for t in texts] + [tok(a, b) for a, b in pairs]
    max_len = max(len(e["input_ids"]) for e in encs)
    ids = torch.zeros(len(encs), max_len, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(encs):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"])
        types[i, :n] = torch.tensor(e["token_type_ids"])
        mask[i, :n] = 1
    with torch.no_grad():
        hidden = model(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
    save_file({"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
               "last_hidden_state": hidden.contiguous()}, str(out / "encoder_reference.safetensors"))
    print(f"encoder reference: {len(encs)} sequences, padded to {max_len}")


def tiny_backbone(out: Path) -> None:
    """A random 2-layer BERT with a small vocab, in HF format, and its descriptor."""
    from transformers import BertConfig, BertModel

    d = out / "tiny-bert"
    d.mkdir(parents=True, exist_ok=True)
    words = ("the a an is was good bad great awful movie film book food service not very really "
             "love hate like boring fun slow fast happy sad ok fine terrible excellent nice poor "
             "and but or it this that i you we they he she").split()
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
    vocab += [c for c in letters if c not in vocab] + ["##" + c for c in letters]
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n")
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, type_vocab_size=2)
    torch.manual_seed(1234)
    model = BertModel(cfg, add_pooling_layer=False)
    # Variance-preserving init (std 1/sqrt(fan_in)) instead of BERT's 0.02: a random encoder whose
    # outputs still depend on every token, as a pretrained one's do, so small tasks learn fast.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embeddings" not in name:
                p.normal_(0.0, p.shape[1] ** -0.5)
            elif p.dim() == 2:
                p.normal_(0.0, 1.0)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    save_file(tensors, str(d / "model.safetensors"))
    cfg.to_json_file(str(d / "config.json"))
    desc_dir = out / "configs" / "backbones"
    desc_dir.mkdir(parents=True, exist_ok=True)
    (desc_dir / "tiny-bert.json").write_text(json.dumps(
        {"name": "tiny-bert", "dir": "../../tiny-bert", "lowercase": True, "weights_sha256": None}, indent=2) + "\n")
    print(f"tiny backbone: {d} ({sum(t.numel() for t in tensors.values())} parameters)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    backbone_dir = args.source_dir / "assets" / "backbones" / "all-MiniLM-L6-v2"
    tiny_backbone(args.out)
    if not (backbone_dir / "model.safetensors").exists():
        print(f"SKIP real-backbone references: {backbone_dir} is missing (run cluster/setup.sh)")
        return 0
    encoder_reference(backbone_dir, args.out)
    try:
        from tokenizer_reference import write_tokenizer_reference
    except ImportError as e:
        print(f"SKIP tokenizer reference: {e}")
        return 0
    data_dirs = [args.source_dir / "data" / n for n in ("uci-sentiment", "pang-lee-polarity")]
    write_tokenizer_reference(backbone_dir, args.out, data_dirs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
