"""Per-category recall and precision of the SMS assessment on a labelled tune file: rules alone and rules+model.

Usage: .venv/bin/python scripts/eval_sms.py tests/data/sms_voices.jsonl [--errors] [--as-shipped]

The model column is honest by default: the classifier is retrained without the evaluated file (leave that
file out), so a file the shipped model learned from is scored as if its writer were new. `--as-shipped` uses the
shipped classifier instead (trained on every tune file). The judged blind set is refused (it is for the bench
only), and so is a blind set frozen for a later round; the earlier blind sets have been reported and are now tuning
material and training data for the learned layer: see bot/assess/datasets.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.assess import learned  # noqa: E402
from bot.assess.evaluate import SPENT_SMS_SETS, Scores, evaluate, load_jsonl, using_classifier  # noqa: E402
from bot.assess.model import CATEGORIES  # noqa: E402


def refuse_blind(path: Path) -> None:
    """Stop when asked to score a blind set that is still blind (only the spent ones are allowed)."""
    resolved = path.resolve()
    named_blind = "blind" in str(path).lower() or "blind" in str(resolved).lower()
    if named_blind and resolved not in {p.resolve() for p in SPENT_SMS_SETS}:
        spent = ", ".join(p.name for p in SPENT_SMS_SETS)
        sys.exit(f"{path.name}: blind sets are not evaluated here (only the spent ones: {spent})")


def leave_out(path: Path) -> learned.Classifier:
    """Train the classifier on every training file except `path` (same features as shipped)."""
    rows: list[dict] = []
    for name in learned.TRAIN_FILES:
        p = learned.DATA_DIR / name
        if p.exists() and p.resolve() != path.resolve():
            rows.extend(learned.read_rows(p))
    return learned.train_rows(rows)


def _fmt(x: float | None) -> str:
    """Format a ratio (or a dash when undefined)."""
    return "  -  " if x is None else f"{x:.3f}"


def table(columns: dict[str, Scores]) -> str:
    """Render per-category recall/precision and the summary figures side by side."""
    names = list(columns)
    head = f"{'category':24s} {'gold':>4s} " + " ".join(f"{n + ' R':>14s} {n + ' P':>14s}" for n in names)
    lines = [head, "-" * len(head)]
    first = columns[names[0]]
    for c in CATEGORIES:
        cells = " ".join(f"{_fmt(s.recall(c)):>14s} {_fmt(s.precision(c)):>14s}" for s in columns.values())
        lines.append(f"{c:24s} {first.per_cat_gold[c]:4d} {cells}")
    for label, get in (
        ("micro P", lambda s: s.micro_p),
        ("micro R", lambda s: s.micro_r),
        ("micro F1", lambda s: s.micro_f1),
        ("lawful/malicious acc", lambda s: s.binary_accuracy),
    ):
        lines.append(f"{label:29s} " + " ".join(f"{get(s):>14.3f} {'':>14s}" for s in columns.values()))
    for label, get2 in (
        ("lawful rated not low", lambda s: len(s.lawful_rated_not_low)),
        ("lawful rated high", lambda s: len(s.lawful_rated_high)),
        ("high rated low", lambda s: len(s.high_rated_low)),
        ("court called false", lambda s: len(s.court_called_false)),
        ("court not verified", lambda s: len(s.court_not_verified)),
    ):
        lines.append(f"{label:29s} " + " ".join(f"{get2(s):>14d} {'':>14s}" for s in columns.values()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table for each file given."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--errors", action="store_true", help="list the SMS whose categories differ (ids only)")
    ap.add_argument("--as-shipped", action="store_true", help="use the shipped classifier for the model column")
    args = ap.parse_args(argv)
    for path in args.files:
        refuse_blind(path)
        rows = [r for r in load_jsonl(path) if r.get("split", "tune") == "tune"]
        with using_classifier(None):
            rules = evaluate(rows)
        clf = learned.get_classifier() if args.as_shipped else leave_out(path)
        with using_classifier(clf):
            both = evaluate(rows)
        label = "shipped" if args.as_shipped else "lofo"
        print(f"== {path.name}: {len(rows)} SMS (model column: {label})")
        print(table({"rules": rules, "+model": both}))
        if args.errors:
            for name, s in (("rules", rules), ("+model", both)):
                print(f"-- {name}: {len(s.wrong)} SMS with other categories (id, missed, extra)")
                for rid, missed, extra in s.wrong:
                    print(f"   {rid} -{','.join(missed)} +{','.join(extra)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
