"""The repository stands alone: no machine paths, no pointers outside it, no notes about how the work went."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "an absolute path of one machine": re.compile(r"(?<![\w.])/(?:work|root|home|Users|tmp/blind)/"),
    "a pointer outside the repository": re.compile(r"\.\./shared|legal-facts-zh"),
    "a note about when the work was done": re.compile(r"\b[Ss]ession[ -]\d|\b(?:this|last|previous) round\b"),
}


def _tracked_text_files() -> list[Path]:
    """Every file git tracks, except binary ones."""
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = []
    for name in out.splitlines():
        path = ROOT / name
        if path.is_file() and b"\0" not in path.read_bytes()[:4096]:
            files.append(path)
    return files


def test_tracked_files_hold_no_machine_paths_outside_pointers_or_process_notes() -> None:
    found = []
    me = Path(__file__).resolve()
    for path in _tracked_text_files():
        if path == me:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for what, pattern in FORBIDDEN.items():
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what} ({m.group(0)!r})")
    assert not found, "\n".join(found[:30])


def test_the_readme_and_the_contributing_guide_stay_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200
    assert len((ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8").splitlines()) <= 60
