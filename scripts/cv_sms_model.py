"""Choose the learned layer's threshold and features by leave-one-file-out cross-validation on the tune data.

Usage: .venv/bin/python scripts/cv_sms_model.py

Each training file (sms_corpus tune split, sms_probes, sms_train, sms_voices, sms_voices2) is scored by a
classifier trained on the others, so every figure is for wording the model never saw; the rules' findings are
computed once and the model adds a category the rules missed when its probability reaches the threshold (as the
engine does, never false_legal_threat or impersonation on a court notice that may be real). Printed per setting:
pooled category micro P/R/F1 of rules+model, the mean F1 over the held-out files, and how many lawful or
genuine-court SMS the model turns non-low. Blind sets are never read.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.assess import engine, learned  # noqa: E402
from bot.assess.evaluate import using_classifier  # noqa: E402
from bot.assess.model import CATEGORIES  # noqa: E402
from bot.assess.normalize import normalise  # noqa: E402

FEATURES = (((1, 2, 3), 4.0), ((1, 2, 3), 1.0), ((1, 2, 3), 10.0), ((1, 2, 3, 4), 4.0), ((2, 3), 4.0))
THRESHOLDS = (0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
_PROCEDURE = [CATEGORIES.index("false_legal_threat"), CATEGORIES.index("impersonation")]


def rule_view(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Return the rules' categories (N×K booleans) and the "may be a real court notice" flag per SMS."""
    pred = np.zeros((len(rows), len(CATEGORIES)), dtype=bool)
    verify = np.zeros(len(rows), dtype=bool)
    with using_classifier(None):
        for i, r in enumerate(rows):
            a = engine.assess(r["text"], locale=r.get("lang") or "auto")
            verify[i] = a.verify
            for c in a.categories:
                pred[i, CATEGORIES.index(c)] = True
    return pred, verify


def main() -> int:
    """Print the cross-validated table and the best setting."""
    files = [n for n in learned.TRAIN_FILES if (learned.DATA_DIR / n).exists()]
    data = {n: learned.read_rows(learned.DATA_DIR / n) for n in files}
    gold = {n: np.array([[c in r["categories"] for c in CATEGORIES] for r in rows]) for n, rows in data.items()}
    lawful = {n: np.array([r["risk"] == "low" for r in rows]) for n, rows in data.items()}
    rules = {n: rule_view(rows) for n, rows in data.items()}
    texts = {n: [normalise(r["text"]).text[: engine.MODEL_CHARS] for r in rows] for n, rows in data.items()}
    print(f"files: {', '.join(f'{n} ({len(data[n])})' for n in files)}")
    print(f"{'features':18s} {'thr':>5s} {'P':>6s} {'R':>6s} {'F1':>6s} {'meanF1':>7s} {'lawful+':>8s}")
    best: tuple[float, str] = (-1.0, "")
    for sizes, c in FEATURES:
        probs: dict[str, np.ndarray] = {}
        for n in files:
            train = [r for m in files if m != n for r in data[m]]
            clf = learned.train_rows(train, sizes=sizes, c=c)
            probs[n] = np.array([clf.scores(t) for t in texts[n]])
        for t in THRESHOLDS:
            tp = fp = fn = lawful_up = 0
            f1s = []
            for n in files:
                rp, verify = rules[n]
                add = probs[n] >= t
                add[np.ix_(verify, _PROCEDURE)] = False
                pred = rp | add
                g = gold[n]
                a, b, d = int((pred & g).sum()), int((pred & ~g).sum()), int((~pred & g).sum())
                tp, fp, fn = tp + a, fp + b, fn + d
                f1s.append(2 * a / (2 * a + b + d) if a + b + d else 1.0)
                lawful_up += int((lawful[n] & ~rp.any(axis=1) & pred.any(axis=1)).sum())
            p, r = tp / (tp + fp), tp / (tp + fn)
            f1 = 2 * p * r / (p + r)
            name = f"{''.join(map(str, sizes))}-grams C={c:g}"
            print(f"{name:18s} {t:5.2f} {p:6.3f} {r:6.3f} {f1:6.3f} {np.mean(f1s):7.3f} {lawful_up:8d}")
            if np.mean(f1s) > best[0]:
                best = (float(np.mean(f1s)), f"{name} threshold {t:.2f}")
    rp_only = [rules[n][0] for n in files]
    tp = sum(int((rp & gold[n]).sum()) for rp, n in zip(rp_only, files, strict=True))
    fp = sum(int((rp & ~gold[n]).sum()) for rp, n in zip(rp_only, files, strict=True))
    fn = sum(int((~rp & gold[n]).sum()) for rp, n in zip(rp_only, files, strict=True))
    print(f"rules alone: P={tp / (tp + fp):.3f} R={tp / (tp + fn):.3f} F1={2 * tp / (2 * tp + fp + fn):.3f}")
    print(f"best mean F1 over held-out files: {best[0]:.3f} with {best[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
