"""MinHash libraries on the texts of a generated corpus: which one duplicate detection uses, and why.

    python benchmarks/minhash.py [--articles 20000] [--workdir DIR]

Times signatures of 128 permutations over the 5-word shingles of each text (`toolkit.hygiene.text`)
with `datasketch.MinHash.bulk` (pip install datasketch; skipped when absent) and
`rensa.RMinHash.digest_matrix_from_token_sets`, then the toolkit's own path
(`toolkit.hygiene.fingerprints`: shingles hashed as arrays, one rensa call per batch of 600), and
how far each estimate is from the true Jaccard similarity on pairs of near copies.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import corpus  # noqa: E402

from toolkit.hygiene.fingerprints import fingerprints  # noqa: E402
from toolkit.hygiene.minhash import NUM_PERM, signatures, similarities  # noqa: E402
from toolkit.hygiene.text import normalized, shingles  # noqa: E402


def near_copy(text: str, rng: random.Random) -> str:
    sentences = text.split(". ")
    sentences[rng.randrange(len(sentences))] = "An editor rewrote this sentence for the updated version"
    return ". ".join(sentences)


def timed(label: str, work) -> object:
    started = time.perf_counter()
    result = work()
    print(f"{label:48s} {time.perf_counter() - started:7.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "news-toolkit-bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    root = corpus(args.workdir, args.articles)
    texts = [orjson.loads(line)["text"] for line in open(root / "articles.jsonl", "rb")]
    sets = timed(f"shingling {len(texts):,} texts (strings, reference)",
                 lambda: [shingles(normalized(t)) for t in texts])
    try:
        from datasketch import MinHash
    except ImportError:
        print("datasketch not installed: skipped")
    else:
        timed("datasketch MinHash.bulk", lambda: MinHash.bulk([[s.encode() for s in x] for x in sets],
                                                               num_perm=NUM_PERM))
    timed("rensa RMinHash.digest_matrix_from_token_sets", lambda: signatures(sets))
    timed("toolkit fingerprints (arrays + rensa), batches of 600",
          lambda: [fingerprints(texts[i:i + 600]) for i in range(0, len(texts), 600)])
    rng = random.Random(0)
    pairs = [(t, near_copy(t, rng)) for t in texts[:500]]
    true = np.array([len(set(a) & set(b)) / len(set(a) | set(b))
                     for a, b in ((shingles(normalized(x)), shingles(normalized(y))) for x, y in pairs)])
    _, sigs = fingerprints([t for pair in pairs for t in pair])
    error = np.abs(similarities(sigs[0::2], sigs[1::2]) - true)
    print(f"near copies: true Jaccard {true.mean():.3f} on average; estimate off by {error.mean():.3f} "
          f"(worst {error.max():.3f})")


if __name__ == "__main__":
    main()
