"""The learned layer: a multi-label linear classifier over character n-grams of the normalised SMS.

Trained with scikit-learn (one logistic regression per category, liblinear, fixed seed: deterministic) on the
labelled SMS under tests/data (the `tune` split of sms_corpus.jsonl, sms_probes.jsonl, sms_train.jsonl, the
independent writers' files sms_voices*.jsonl and the spent blind sets, all listed in TRAIN_FILES; never the held-out
split, the judged blind set or a blind set frozen for a later round). Training takes about ten seconds, so it happens
on first use and the weights are cached on disk keyed by a hash of the data (`ASSESS_MODEL_DIR`, default
`.cache/assess/`).
Inference does not call scikit-learn: it looks the n-grams up in the vocabulary and takes one dot product
per category with numpy (tens of microseconds per SMS). Without the training data (an installed package
without tests/), the layer is off and the rules work alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import os
import re
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from bot.assess.datasets import DATA_DIR, SPENT_SMS_SETS
from bot.assess.model import CATEGORIES
from bot.assess.normalize import normalise

ROOT = Path(__file__).resolve().parent.parent.parent
TRAIN_FILES = (
    "sms_corpus.jsonl",
    "sms_probes.jsonl",
    "sms_train.jsonl",
    "sms_voices.jsonl",
    "sms_voices2.jsonl",
    "sms_voices3.jsonl",
    "sms_voices4.jsonl",
    "sms_voices5.jsonl",
    "sms_voices6.jsonl",
    "sms_voices7.jsonl",
    "sms_voices8.jsonl",
    "sms_voices9.jsonl",
    *(path.name for path in SPENT_SMS_SETS),
)
NGRAMS = (1, 2, 3)
MIN_DF = 2
C = 10.0
SEED = 0
VERSION = "5"  # bump when the features or the training change (invalidates cached weights)
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]*")
_SPACE = re.compile(r"\s+")
_lock = threading.Lock()
_cache: dict[str, Classifier | None] = {}


def ngrams(text: str, sizes: tuple[int, ...] = NGRAMS) -> list[str]:
    """Return the character n-grams (1–3 by default) of an already normalised text (lower-cased, spaces collapsed)."""
    s = _SPACE.sub(" ", text.lower())
    out: list[str] = []
    grams: list[str] = list(s)  # the n-grams of length n, built from those of length n - 1 (string joins run in C)
    for n in range(1, max(sizes, default=0) + 1):
        if n > 1:
            grams = list(map(operator.add, grams, s[n - 1 :]))
        if n in sizes:
            out.extend(grams)
    return out


@dataclass
class Classifier:
    """Weights of the trained model: vocabulary, idf, one weight column and one bias per category, then the head.

    The last column is the "abusive or not" head (any category vs a lawful SMS), used by the engine's fallback.
    """

    vocab: dict[str, int]
    idf: np.ndarray  # (V,)
    coef: np.ndarray  # (V, K + 1): one column per category, then the head
    bias: np.ndarray  # (K + 1,)
    n_train: int = 0
    sizes: tuple[int, ...] = NGRAMS

    def scores(self, text: str) -> np.ndarray:
        """Return one probability per category (order of CATEGORIES), then the head's, for a normalised text."""
        # count the strings, then look each distinct n-gram up once (-1: not in the vocabulary); all loops run in C
        counts = Counter(ngrams(text, self.sizes))
        found = np.fromiter(map(self.vocab.get, counts, repeat(-1)), dtype=np.int64, count=len(counts))
        known = found >= 0
        if not known.any():
            return 1.0 / (1.0 + np.exp(-self.bias))
        ids = found[known]
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))[known]
        w = (1.0 + np.log(tf)) * self.idf[ids]
        w /= math.sqrt(float((w * w).sum())) or 1.0
        # numpy's own sum-of-products loop rather than a matrix product: no BLAS call, so no helper threads (one
        # core), and no (n, K + 1) temporary
        z = np.einsum("i,ij->j", w, self.coef[ids]) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def best_sentence(self, text: str, k: int) -> tuple[int, int]:
        """Return the [start, end) of the sentence of a normalised text that scores highest for category k."""
        best, span = -1.0, (0, len(text))
        sentences = [m for m in _SENTENCE.finditer(text) if m.group().strip()]
        if len(sentences) == 1:  # one sentence: it is the best one, no need to score it
            span = sentences[0].span()
        else:
            for m in sentences:
                p = float(self.scores(m.group())[k])
                if p > best:
                    best, span = p, (m.start(), m.end())
        start, end = span
        while end > start and text[end - 1] in "。！？!?；;\n ":
            end -= 1
        while start < end and text[start] in " \n":
            start += 1
        return start, end


def read_rows(path: Path) -> list[dict]:
    """Read the tune rows of one labelled file (held-out rows excluded)."""
    rows: list[dict] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            if r.get("split", "tune") == "tune":
                rows.append(r)
    return rows


def _rows(data_dir: Path) -> list[dict]:
    """Read the training rows of every training file present (held-out rows excluded)."""
    rows: list[dict] = []
    for name in TRAIN_FILES:
        path = data_dir / name
        if path.exists():
            rows.extend(read_rows(path))
    return rows


def data_hash(data_dir: Path = DATA_DIR) -> str | None:
    """Hash the training files and the feature version (None when there is no training data)."""
    h = hashlib.sha256(VERSION.encode())
    found = False
    for name in TRAIN_FILES:
        path = data_dir / name
        if path.exists():
            found = True
            h.update(name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16] if found else None


def train(data_dir: Path = DATA_DIR) -> Classifier:
    """Train the classifier on the tune rows under `data_dir` (deterministic)."""
    return train_rows(_rows(data_dir))


def train_rows(rows: list[dict], sizes: tuple[int, ...] = NGRAMS, c: float = C, min_df: int = MIN_DF) -> Classifier:
    """Train the classifier on labelled rows with the given features (deterministic; used for cross-validation)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [normalise(r["text"]).text for r in rows]
    vec = TfidfVectorizer(analyzer=lambda t: ngrams(t, sizes), min_df=min_df, sublinear_tf=True, dtype=np.float64)
    x = vec.fit_transform(texts)
    coef = np.zeros((x.shape[1], len(CATEGORIES) + 1))
    bias = np.zeros(len(CATEGORIES) + 1)
    targets = [[cat in r["categories"] for r in rows] for cat in CATEGORIES]
    targets.append([r["risk"] != "low" for r in rows])  # the head: abusive or not
    for k, target in enumerate(targets):
        y = np.array(target, dtype=int)
        if y.min() == y.max():
            bias[k] = -10.0 if y.max() == 0 else 10.0
            continue
        clf = LogisticRegression(C=c, solver="liblinear", random_state=SEED, max_iter=1000)
        clf.fit(x, y)
        coef[:, k] = clf.coef_[0]
        bias[k] = clf.intercept_[0]
    vocab = {str(g): int(i) for g, i in vec.vocabulary_.items()}
    return Classifier(vocab, np.asarray(vec.idf_, dtype=np.float64), coef, bias, len(rows), tuple(sizes))


def cache_dir() -> Path:
    """Where trained weights (and the pre-filter's database) are kept between processes."""
    return Path(os.environ.get("ASSESS_MODEL_DIR") or ROOT / ".cache" / "assess")


def _save(clf: Classifier, path: Path) -> None:
    """Write the weights atomically (a half-written file is never read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    words = sorted(clf.vocab, key=clf.vocab.__getitem__)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
        np.savez_compressed(
            fh,
            words=np.array(words),
            idf=clf.idf,
            coef=clf.coef,
            bias=clf.bias,
            n_train=np.array([clf.n_train]),
            sizes=np.array(clf.sizes),
        )
    os.replace(fh.name, path)


def _load(path: Path) -> Classifier:
    """Read weights written by `_save`."""
    with np.load(path, allow_pickle=False) as z:
        words = [str(w) for w in z["words"]]
        return Classifier(
            {w: i for i, w in enumerate(words)},
            z["idf"],
            z["coef"],
            z["bias"],
            int(z["n_train"][0]),
            tuple(int(n) for n in z["sizes"]),
        )


def get_classifier(data_dir: Path = DATA_DIR) -> Classifier | None:
    """Return the classifier (cached weights if the data is unchanged, else trained now); None without data."""
    key = str(data_dir)
    if key in _cache:
        return _cache[key]
    with _lock:
        if key in _cache:
            return _cache[key]
        clf: Classifier | None = None
        digest = data_hash(data_dir)
        if digest is not None:
            path = cache_dir() / f"sms-{digest}.npz"
            try:
                clf = _load(path)
            except (OSError, ValueError, KeyError):
                clf = train(data_dir)
                try:
                    _save(clf, path)
                except OSError:  # read-only checkout: keep the weights in memory only
                    pass
        _cache[key] = clf
        return clf
