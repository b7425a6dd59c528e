"""The hearing probe: the type warm-up scored on train wordings it never heard."""

from __future__ import annotations

import json

import pytest

from data.schema import load_jsonl
from data.words import words_of
from training import probe

pytestmark = pytest.mark.slow


def watch_warm_ups(monkeypatch) -> list[list[dict]]:
    """What each warm-up the probe runs trains on, in order (spelling, then the type warm-ups)."""
    seen: list[list[dict]] = []

    def spy(fit):
        def wrapped(model, proc, data, train, held_out, steps, **kw):
            seen.append(list(train))
            return fit(model, proc, data, train, held_out, steps, **kw)

        return wrapped

    monkeypatch.setattr(probe, "fit_spelling", spy(probe.fit_spelling))
    monkeypatch.setattr(probe, "fit_audio", spy(probe.fit_audio))
    return seen


def test_probe_scores_wordings_left_out_of_every_warm_up(spoken, tiny_checkpoint, tmp_path,
                                                         monkeypatch):  # fmt: skip
    recs = [*load_jsonl(spoken / "splits" / "train.jsonl"),
            *load_jsonl(spoken / "splits" / "eval.jsonl")]  # fmt: skip
    p = recs[0]["phrasing"]
    unheard = [r for r in recs if r["phrasing"] == p]
    seen = watch_warm_ups(monkeypatch)  # what each warm-up trained on
    out = tmp_path / "probe.json"
    rc = probe.main(["--init", str(tiny_checkpoint), "--data", str(spoken), "--leave_out", str(p),
                     "--seeds", "0,1", "--masks", "0,1", "--spell_steps", "2", "--steps", "2",
                     "--spell_weight", "0.5", "--framings", "0,1", "--out", str(out)])  # fmt: skip
    assert rc == 0
    assert len(seen) == 1 + 8  # spelling once, then a type warm-up per (framings, masks, seed)
    assert all(r.get("phrasing") != p for train in seen for r in train)
    # the framings the type warm-ups hear are built from the kept wordings' words only
    kept = {w for r in recs if r["phrasing"] != p for w in words_of(r["question"])}
    assert not any(r["id"].startswith("f_") for train in seen[1:5] for r in train)
    framed = [r for r in seen[5] if r["id"].startswith("f_")]
    assert framed and all(train[-len(framed) :] == framed for train in seen[5:])
    assert all(set(r["question"].split()) <= kept for r in framed)
    assert (spoken / "words" / f"framings-lo{p}.jsonl").is_file()
    res = json.loads(out.read_text())
    assert res["unheard_records"] == len(unheard) and res["spell_weight"] == 0.5
    assert [(r["framings"], r["masks"], r["seed"]) for r in res["runs"]] == [
        (f, m, s) for f in (0, 1) for m in (0, 1) for s in (0, 1)
    ]
    assert [r["heard_records"] for r in res["runs"]] == [len(t) for t in seen[1:]]
    types = {r["question_type"] for r in unheard}
    for r in res["runs"]:
        assert set(r["by_type"]) == types and 0 <= r["unheard_type_acc"] <= 1
    for f in (0, 1):
        for m in (0, 1):
            accs = [
                r["unheard_type_acc"] for r in res["runs"] if (r["framings"], r["masks"]) == (f, m)
            ]
            assert res["means"][f"framings {f} masks {m}"] == pytest.approx(sum(accs) / 2)


def test_probe_refuses_a_wording_no_record_has_and_a_folder_with_no_checkpoint(
    spoken, tiny_checkpoint, tmp_path, capsys
):
    rc = probe.main(["--init", str(tiny_checkpoint), "--data", str(spoken), "--leave_out", "99"])
    assert rc == 2 and "phrasing(s) [99]" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        probe.main(["--init", str(tmp_path), "--data", str(spoken)])
    assert e.value.code == 2 and "no graft_config.json" in capsys.readouterr().err


def test_probe_augments_only_the_kept_train_recordings(spoken, tiny_checkpoint, tmp_path,
                                                       monkeypatch):  # fmt: skip
    train = load_jsonl(spoken / "splits" / "train.jsonl")
    p = train[0]["phrasing"]
    kept = [r for r in train if r["phrasing"] != p]
    seen = watch_warm_ups(monkeypatch)
    out = tmp_path / "probe.json"
    assert probe.main(["--init", str(tiny_checkpoint), "--data", str(spoken), "--leave_out",
                       str(p), "--spell_steps", "2", "--steps", "2", "--augment", "2",
                       "--out", str(out)]) == 0  # fmt: skip
    for recs in seen:  # spelling, then the type warm-up: both hear the new hearings
        copies = [r for r in recs if "#aug" in r["audio"]]
        assert sorted(r["audio"] for r in copies) == sorted(
            f"{r['audio']}#aug{k}" for k in (1, 2) for r in kept
        )
    assert json.loads(out.read_text())["augment"] == 2
