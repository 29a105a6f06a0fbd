"""Choose the learned layer's threshold and features by leave-one-file-out cross-validation on the tune data.

Usage: .venv/bin/python scripts/cv_sms_model.py

Each training file (sms_corpus tune split, sms_probes, sms_train, sms_voices, sms_voices2, sms_voices3) is scored by a
classifier trained on the others, so every figure is for wording the model never saw; the rules' findings are
computed once and the model adds a category the rules missed when its probability reaches the threshold (as the
engine does, never false_legal_threat or impersonation on a court notice that may be real). Printed per setting:
pooled category micro P/R/F1 of rules+model, the mean F1 over the held-out files, and how many lawful or
genuine-court SMS the model turns non-low. Then, for the shipped features, one threshold per category is chosen
by coordinate ascent on the same held-out predictions (mean per-file F1, never more lawful SMS turned non-low than
the best single threshold) and printed for comparison: the engine keeps one threshold, because per-category ones
fitted the files they were chosen on and lost recall on a writer the model had not seen. Blind sets are never read.
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
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
_PROCEDURE = sorted(CATEGORIES.index(c) for c in engine._COURT_PROCEDURE)


def score(
    thresholds: list[float],
    probs: dict[str, np.ndarray],
    rules: dict[str, tuple[np.ndarray, np.ndarray]],
    gold: dict[str, np.ndarray],
    lawful: dict[str, np.ndarray],
) -> tuple[float, float, int]:
    """Return (pooled F1, mean per-file F1, lawful SMS turned non-low) of rules+model with per-category thresholds."""
    tp = fp = fn = lawful_up = 0
    f1s = []
    for n, p in probs.items():
        rp, verify = rules[n]
        add = p >= np.array(thresholds)[None, :]
        add[np.ix_(verify, _PROCEDURE)] = False
        pred = rp | add
        g = gold[n]
        a, b, d = int((pred & g).sum()), int((pred & ~g).sum()), int((~pred & g).sum())
        tp, fp, fn = tp + a, fp + b, fn + d
        f1s.append(2 * a / (2 * a + b + d) if a + b + d else 1.0)
        lawful_up += int((lawful[n] & ~rp.any(axis=1) & pred.any(axis=1)).sum())
    return (2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0), float(np.mean(f1s)), lawful_up


def per_category(start: float, probs: dict, rules: dict, gold: dict, lawful: dict) -> list[float]:
    """Choose one threshold per category by coordinate ascent from a single threshold (two passes)."""
    th = [start] * len(CATEGORIES)
    limit = score(th, probs, rules, gold, lawful)[2]
    for _ in range(2):
        for k in range(len(CATEGORIES)):
            best = (-1.0, th[k])
            for t in THRESHOLDS:
                cand = th[:k] + [t] + th[k + 1 :]
                _, mean_f1, up = score(cand, probs, rules, gold, lawful)
                if up <= limit and mean_f1 > best[0]:
                    best = (mean_f1, t)
            th[k] = best[1]
    return th


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
    shipped: dict[str, np.ndarray] = {}
    best_shipped = (-1.0, 0.6)
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
            if (sizes, c) == (learned.NGRAMS, learned.C) and np.mean(f1s) > best_shipped[0]:
                best_shipped = (float(np.mean(f1s)), t)
        if (sizes, c) == (learned.NGRAMS, learned.C):
            shipped = probs
    rp_only = [rules[n][0] for n in files]
    tp = sum(int((rp & gold[n]).sum()) for rp, n in zip(rp_only, files, strict=True))
    fp = sum(int((rp & ~gold[n]).sum()) for rp, n in zip(rp_only, files, strict=True))
    fn = sum(int((~rp & gold[n]).sum()) for rp, n in zip(rp_only, files, strict=True))
    print(f"rules alone: P={tp / (tp + fp):.3f} R={tp / (tp + fn):.3f} F1={2 * tp / (2 * tp + fp + fn):.3f}")
    print(f"best mean F1 over held-out files: {best[0]:.3f} with {best[1]}")
    if shipped:
        th = per_category(best_shipped[1], shipped, rules, gold, lawful)
        f1, mean_f1, up = score(th, shipped, rules, gold, lawful)
        chosen = ", ".join(f"{c} {t:.2f}" for c, t in zip(CATEGORIES, th, strict=True))
        print(f"per-category thresholds (shipped features): {chosen}")
        print(f"  pooled F1 {f1:.3f}, mean per-file F1 {mean_f1:.3f}, lawful turned non-low {up}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
