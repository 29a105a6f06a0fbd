"""Training data is normalised like user input, and unchanged data never retrains."""

from __future__ import annotations

from bot.train import PROJECT, fingerprint, normalise_examples, train


def test_traditional_training_examples_are_converted_like_user_text() -> None:
    block = "- 我該怎麼投訴？\n- 被[招商銀行](platform)催收　了\n"
    assert normalise_examples(block) == "- 我该怎么投诉?\n- 被[招商银行](platform)催收 了\n"


def test_unchanged_data_does_not_retrain(capsys) -> None:
    model = train()  # trained by `make setup` or the parser fixture already
    before = model.stat().st_mtime
    capsys.readouterr()
    assert train() == model
    assert "up to date" in capsys.readouterr().out
    assert model.stat().st_mtime == before


def test_the_fingerprint_changes_when_the_data_changes(tmp_path) -> None:
    config = tmp_path / "config.yml"
    config.write_text((PROJECT / "config.yml").read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert fingerprint(config) != fingerprint(PROJECT / "config.yml")
