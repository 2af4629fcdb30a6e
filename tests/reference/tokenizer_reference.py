#!/usr/bin/env python3
"""HF BertTokenizerFast reference outputs for the C++ tokenizer parity test (tokenizer_test.cpp).

Writes into the output directory:
  tokenizer_reference.jsonl          one case per line: {"text", "text_pair" (null or str),
                                     "max_seq_len", "input_ids", "token_type_ids"}, from
                                     tokenizer_cases.txt (hard cases) and real dataset sentences
  tokenizer_unicode_reference.json   what each stage of HF's BertNormalizer and BertPreTokenizer
                                     does to every Unicode scalar value, for an exhaustive check

--emit-cpp-tables prints the character tables of trainer/text/bert_normalizer.cpp (HF's category
tables predate Unicode 9; see there), derived from HF's behaviour and this machine's utf8proc.

Standalone: tokenizer_reference.py --backbone-dir D --out O [--data-dir X ...]
"""
import argparse
import ctypes
import ctypes.util
import json
import sys
from pathlib import Path

CASES_FILE = Path(__file__).resolve().with_name("tokenizer_cases.txt")
SINGLE_MAX_LENS = (512, 7)  # every hard case untruncated and truncated
PAIR_MAX_LENS = (3, 4, 5, 8, 9, 16, 17, 32, 33, 128)  # odd and even budgets, both sides truncated
DATA_PAIRS = 400  # consecutive-sentence pairs per dataset directory, each at every PAIR_MAX_LENS

# Used only when no dataset is present, so that the reference still holds real-looking text.
FALLBACK_SENTENCES = [
    "The service here leaves a lot to be desired.",
    "After 20 minutes wait, I got a table.",
    "I came over from Verizon because cingulair has nicer cell phones.... the first thing I noticed was the really bad service.",
    "Utter crap.. Sound quality is TERRIBLE.",
    "Best headset ever!!!.",
    "just another fish-out-of-water story that barely stays afloat .",
    "the rock is destined to be the 21st century's new \" conan \" and that he's going to make a splash .",
    "no amount of arty theorizing -- the special effects are 'german-expressionist , ' according to the press notes .",
    "It's a wonderful, heart-warming film; I'd see it again (twice, even).",
    "Don't waste your money: the battery died after 3 days & support never answered.",
    "Prices are $12.99-$15.50 per plate, which is reasonable for NYC.",
    "E-mail me at someone@example.com or visit https://example.org/path?q=1&r=2#frag.",
    "The café's crème brûlée was naïve yet très délicieux.",
    "We waited 45min+ for a 'quick' lunch... never again!!!",
    "5/5 would recommend; 10/10 for the staff, 0/10 for parking.",
    "Unbelievably disappointing — the sequel lacks everything the original had.",
    "It works great with my iPhone 6s and Samsung Galaxy S7.",
    "Worst. Experience. Ever.",
    "I love this place :) the sushi is fresh and the miso soup is to die for.",
    "The plot twists are predictable, the dialogue stilted, and the ending rushed.",
]


def load_tokenizer(backbone_dir: Path):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab_file=str(backbone_dir / "vocab.txt"), do_lower_case=True)


def read_cases(path: Path = CASES_FILE) -> list:
    """One JSON string per line; blank lines and lines starting with '#' are skipped."""
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        value = json.loads(line)
        if not isinstance(value, str):
            raise ValueError(f"{path}:{n}: expected a JSON string")
        cases.append(value)
    return cases


def dataset_sentences(data_dir: Path) -> list:
    """The "text" fields of data_dir/*.jsonl and data_dir/*/*.jsonl, in file order."""
    texts = []
    for f in sorted(data_dir.glob("*.jsonl")) + sorted(data_dir.glob("*/*.jsonl")):
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    text = json.loads(line).get("text")
                    if isinstance(text, str):
                        texts.append(text)
    return texts


def reference_cases(tok, cases: list, sentence_groups: list) -> list:
    """(text, text_pair, max_seq_len) for each reference case, then HF's ids for them."""
    todo = []
    for i, text in enumerate(cases):
        for n in SINGLE_MAX_LENS:
            todo.append((text, None, n))
        # Each hard case paired with the next, at a budget that cycles through PAIR_MAX_LENS.
        todo.append((text, cases[(i + 1) % len(cases)], PAIR_MAX_LENS[i % len(PAIR_MAX_LENS)]))
    for sentences in sentence_groups:
        todo.extend((s, None, 512) for s in dict.fromkeys(sentences))
        for i in range(min(DATA_PAIRS, len(sentences) - 1)):
            todo.extend((sentences[i], sentences[i + 1], n) for n in PAIR_MAX_LENS)
    return encode_all(tok, todo)


def encode_all(tok, todo: list) -> list:
    """Batched calls, one per (max_seq_len, has pair). Batches go straight to the Rust tokenizer,
    where an empty text_pair is still a pair ([CLS] a [SEP] [SEP]); transformers' single-text call
    would instead drop an empty pair (`if text_pair`), a Python-side quirk we do not copy."""
    groups = {}
    for k, (_, pair, n) in enumerate(todo):
        groups.setdefault((n, pair is not None), []).append(k)
    out = [None] * len(todo)
    for (n, has_pair), ks in groups.items():
        texts = [todo[k][0] for k in ks]
        pairs = [todo[k][1] for k in ks] if has_pair else None
        enc = tok(texts, pairs, truncation=True, max_length=n)
        for j, k in enumerate(ks):
            out[k] = {"text": todo[k][0], "text_pair": todo[k][1], "max_seq_len": n,
                      "input_ids": enc["input_ids"][j], "token_type_ids": enc["token_type_ids"][j]}
    return out


# ---- per-code-point behaviour of each HF stage ----

def _scalar_values() -> list:
    return [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def _stage(**flag):
    from tokenizers import normalizers

    flags = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    flags.update(flag)
    return normalizers.BertNormalizer(**flags)


def _per_char(normalizer, chars: list) -> dict:
    """normalizer applied to each char alone, batched: U+0001 separates them (it is untouched by
    and never produced by the non-clean stages, and as a starter it stops NFD reordering)."""
    sep = "\x01"
    chars = [c for c in chars if c != sep]
    outs = normalizer.normalize_str(sep.join(chars)).split(sep)
    assert len(outs) == len(chars)
    result = dict(zip(chars, outs))
    result[sep] = normalizer.normalize_str(sep)
    return result


def _ranges(codes) -> list:
    out = []
    for c in sorted(codes):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def unicode_behaviour() -> dict:
    """What HF's normalizer stages and pre-tokenizer do to every scalar value, on its own."""
    import tokenizers
    from tokenizers import pre_tokenizers

    chars = _scalar_values()
    # clean_text maps a char to nothing, ' ' or itself; 'x' after each char keeps them apart.
    out = _stage(clean_text=True).normalize_str("".join(c + "x" for c in chars if c != "x"))
    removed, spaces, j = [], [], 0
    for c in chars:
        if c == "x":
            continue
        if out[j] == "x":
            removed.append(ord(c))
        elif out[j] == " " and c != " ":
            spaces.append(ord(c))
            j += 1
        else:
            assert out[j] == c, hex(ord(c))
            j += 1
        assert out[j] == "x"
        j += 1
    chinese = [ord(c) for c, o in _per_char(_stage(handle_chinese_chars=True), chars).items() if o != c]
    strip = {ord(c): [ord(x) for x in o] for c, o in _per_char(_stage(strip_accents=True), chars).items() if o != c}
    lower = {ord(c): [ord(x) for x in o] for c, o in _per_char(_stage(lowercase=True), chars).items() if o != c}
    nfd = {ord(c): [ord(x) for x in o] for c, o in _per_char(_nfd_normalizer(), chars).items() if o != c}
    # Pre-tokenizer: with U+0001 (neither whitespace nor punctuation) between all chars, a
    # punctuation char comes out as a token of its own and a whitespace char not at all.
    sep = "\x01"
    tokens = [t for t, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(sep.join(c for c in chars if c != sep))]
    punct = sorted(ord(t) for t in tokens if len(t) == 1 and t != sep)
    present = {ord(ch) for t in tokens for ch in t}
    whitespace = sorted(ord(c) for c in chars if c != sep and ord(c) not in present)
    return {
        "tokenizers_version": tokenizers.__version__,
        "clean_removed": _ranges(removed), "clean_to_space": _ranges(spaces),
        "chinese_padded": _ranges(chinese),
        "strip_accents": sorted([c, m] for c, m in strip.items()),
        "lowercase": sorted([c, m] for c, m in lower.items()),
        "nfd": sorted([c, m] for c, m in nfd.items()),
        "punctuation": _ranges(punct), "whitespace": _ranges(whitespace),
    }


def _nfd_normalizer():
    from tokenizers import normalizers

    return normalizers.NFD()


def write_unicode_reference(out_dir: Path) -> dict:
    behaviour = unicode_behaviour()
    (out_dir / "tokenizer_unicode_reference.json").write_text(json.dumps(behaviour, separators=(",", ":")) + "\n")
    return behaviour


def write_tokenizer_reference(backbone_dir: Path, out_dir: Path, data_dirs: list) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = load_tokenizer(Path(backbone_dir))
    groups = [g for g in (dataset_sentences(Path(d)) for d in data_dirs) if g]
    if not groups:
        print(f"tokenizer reference: no dataset sentences under {[str(d) for d in data_dirs]}; using built-in ones")
        groups = [FALLBACK_SENTENCES]
    cases = reference_cases(tok, read_cases(), groups)
    with (out_dir / "tokenizer_reference.jsonl").open("w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=True) + "\n")
    write_unicode_reference(out_dir)
    print(f"tokenizer reference: {len(cases)} cases ({sum(len(g) for g in groups)} dataset sentences)"
          f" and the per-code-point table in {out_dir}")


# ---- C++ tables for trainer/text/bert_normalizer.cpp ----

def _utf8proc():
    lib = ctypes.CDLL(ctypes.util.find_library("utf8proc") or "libutf8proc.so.2")
    lib.utf8proc_tolower.restype = ctypes.c_int32
    lib.utf8proc_tolower.argtypes = [ctypes.c_int32]
    lib.utf8proc_NFD.restype = ctypes.c_void_p
    lib.utf8proc_NFD.argtypes = [ctypes.c_char_p]
    lib.utf8proc_unicode_version.restype = ctypes.c_char_p
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]

    def nfd(c: str) -> str:
        p = lib.utf8proc_NFD(c.encode("utf-8"))
        s = ctypes.string_at(p).decode("utf-8")
        libc.free(p)
        return s

    return lib, nfd


def emit_cpp_tables() -> None:
    b = unicode_behaviour()
    lib, utf8proc_nfd = _utf8proc()

    def expand(ranges):
        return {c for a, z in ranges for c in range(a, z + 1)}

    # Removed by clean_text apart from U+0000 and U+FFFD, which HF names explicitly.
    control = sorted(expand(b["clean_removed"]) - {0, 0xFFFD})
    # Nonspacing marks: whatever strip_accents deletes entirely.
    mn = [c for c, m in b["strip_accents"] if not m]
    # Lowercase where HF (Rust std, newer Unicode) differs from utf8proc_tolower; U+0130 is in code.
    lower = {c: m for c, m in b["lowercase"]}
    overrides = []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF or c == 0x130:
            continue
        want = lower.get(c, [c])
        assert len(want) == 1, hex(c)
        if lib.utf8proc_tolower(c) != want[0]:
            overrides.append((c, want[0]))
    # Code points utf8proc decomposes but HF's older NFD tables do not.
    nfd = {c: m for c, m in b["nfd"]}
    no_decompose = []
    for c in range(0xC0, 0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        want = "".join(map(chr, nfd.get(c, [c])))
        got = utf8proc_nfd(chr(c))
        if got != want:
            if want != chr(c):
                raise SystemExit(f"U+{c:04X}: HF NFD {want!r} vs utf8proc {got!r} is not a plain exclusion")
            no_decompose.append(c)

    def table(name, ranges, comment):
        print(f"// {comment}")
        print(f"constexpr Range {name}[] = {{")
        items = [f"{{0x{a:X}, 0x{z:X}}}," for a, z in ranges]
        for i in range(0, len(items), 5):
            print("    " + " ".join(items[i:i + 5]))
        print("};")

    print(f"// Generated by tests/reference/tokenizer_reference.py --emit-cpp-tables from tokenizers "
          f"{b['tokenizers_version']}\n// and utf8proc (Unicode {lib.utf8proc_unicode_version().decode()}).")
    table("kControl", _ranges(control), "Cc, Cf, Co as HF sees them (without \\t \\n \\r).")
    table("kPunctuation", b["punctuation"], "ASCII punctuation and P* as HF sees them.")
    table("kNonspacingMark", _ranges(mn), "Mn as HF sees them.")
    table("kNoDecompose", _ranges(no_decompose), "utf8proc decomposes these, HF's NFD does not.")
    print("// Lowercase mappings where HF (Rust std) differs from utf8proc_tolower.")
    print("constexpr LowerOverride kLowerOverrides[] = {")
    items = [f"{{0x{a:X}, 0x{z:X}}}," for a, z in overrides]
    for i in range(0, len(items), 5):
        print("    " + " ".join(items[i:i + 5]))
    print("};")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone-dir", type=Path, help="directory holding vocab.txt")
    ap.add_argument("--out", type=Path, help="output directory")
    ap.add_argument("--data-dir", type=Path, nargs="*", default=[], help="dataset directories (*.jsonl, */*.jsonl)")
    ap.add_argument("--emit-cpp-tables", action="store_true", help="print bert_normalizer.cpp's tables and exit")
    args = ap.parse_args()
    if args.emit_cpp_tables:
        emit_cpp_tables()
        return 0
    if args.backbone_dir is None or args.out is None:
        ap.error("--backbone-dir and --out are required")
    if not (args.backbone_dir / "vocab.txt").is_file():
        print(f"error: {args.backbone_dir / 'vocab.txt'} does not exist", file=sys.stderr)
        return 1
    write_tokenizer_reference(args.backbone_dir, args.out, args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
