"""``seqlab generate RUN_DIR --prompt "ROMEO:"``: sample text from a trained language model.

    seqlab generate runs/char-shakespeare-20261125-201500 --prompt "ROMEO:" --length 500 \\
        --temperature 0.8 --top-k 40 --seed 1

Text is printed as it is produced (each token flushed). Same seed, same text.
"""

from __future__ import annotations

import argparse
import sys

NAME = "generate"
HELP = "sample text from a trained language model run (temperature, top-k, top-p, seeded)"
DESCRIPTION = """\
Load the language model saved in RUN_DIR (written by `seqlab run` with a language-model
recipe), warm its state on --prompt, and sample --length tokens one at a time, printing
each as it is produced. --temperature 0 is greedy decoding; --top-k / --top-p restrict
sampling to the most likely tokens; --seed makes the text reproducible.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `seqlab run` (language model)")
    parser.add_argument("--prompt", default=None,
                        help="text to start from (default: a newline for character models, the first word otherwise)")
    parser.add_argument("--length", type=int, default=500, help="tokens to generate (default 500)")
    parser.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 = greedy (default 1.0)")
    parser.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling: smallest set with probability >= p")
    parser.add_argument("--seed", type=int, default=None, help="random seed: same seed, same text")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default best)")
    parser.add_argument("--allow-unk", action="store_true", help="map prompt tokens missing from the vocabulary to <unk>")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")


def run(args: argparse.Namespace) -> int:
    from seqlab.models.generation import detect_level, encode_prompt, generate
    from seqlab.tasks import load_run, read_run_config, task_for

    config, _ = read_run_config(args.run_dir)
    task_for(config).check_generate(args.run_dir, config)
    loaded = load_run(args.run_dir, checkpoint=args.checkpoint, device=args.device)
    level = detect_level(loaded.vocab, loaded.info.get("level"))
    prompt = args.prompt
    if prompt is None:
        if level == "char":
            prompt = "\n" if "\n" in loaded.vocab else loaded.vocab.tokens[-1]
        else:  # a sentence boundary when the corpus marks them (PTB's <eos>)
            prompt = "<eos>" if "<eos>" in loaded.vocab else loaded.vocab.tokens[-1]
    lowercase = loaded.config.data.lowercase
    encode_prompt(prompt, loaded.vocab, level=level, lowercase=lowercase, allow_unk=args.allow_unk)  # fail before printing
    out = sys.stdout
    out.write(prompt)
    out.flush()

    def emit(piece: str) -> None:
        out.write(piece)
        out.flush()

    generate(
        loaded.model, loaded.vocab, prompt, args.length, level=level, lowercase=lowercase,
        allow_unk=args.allow_unk, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        seed=args.seed, on_text=emit,
    )  # fmt: skip
    out.write("\n")
    out.flush()
    return 0
