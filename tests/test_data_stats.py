"""Dataset statistics and the generated distribution page (data/stats.py)."""

from __future__ import annotations

import json

import pytest

from data.schema import DataError, write_jsonl
from data.split import split_records
from data.stats import main, resolve_inputs, split_name, stats, to_markdown
from tests.test_data_split import fixture_records


def test_real_counts(real_dir, tmp_path, capsys):
    files = [real_dir / f"{s}_multivideo.jsonl" for s in ("test", "train", "eval")]
    md, js = tmp_path / "dist.md", tmp_path / "dist.json"
    assert main([*map(str, files), "--out-md", str(md), "--out-json", str(js)]) == 0
    s = json.loads(js.read_text())
    sp = s["splits"]
    assert list(sp) == ["train", "eval", "test"]
    assert (sp["train"]["n"], sp["eval"]["n"], sp["test"]["n"]) == (2302, 398, 1000)
    assert s["types"]["n"] == 20
    assert (len(s["types"]["yes_no"]), len(s["types"]["choice"])) == (11, 9)
    assert sp["train"]["answer_mix"] == {"yes": 592, "no": 816, "choice": 894}
    assert len(sp["test"]["single_class_types"]) == 7 and sp["test"]["single_class_rows"] == 350
    assert sp["test"]["videos"] == {"002-004": 1000}
    assert set(sp["train"]["videos"]) == {"002-001", "002-002", "002-003"}
    assert sum(sum(a.values()) for a in sp["train"]["answers"].values()) == 2302
    lk = s["leakage"]["train-eval"]
    assert (lk["overlapping"], lk["identical"]) == (307, 18)
    assert s["leakage"]["train-test"]["overlapping"] == 0
    text = md.read_text()
    assert "| train | 2302 |" in text and "592 (25.7%)" in text and "| train-eval | 398 |" in text
    assert capsys.readouterr().out == text


def test_dataset_folder_and_explicit_files(tmp_path):
    recs = fixture_records()
    splits = split_records(recs, ["v4"], seed=0)
    for name, rs in splits.items():
        write_jsonl(tmp_path / "splits" / f"{name}.jsonl", rs)
    assert list(resolve_inputs([tmp_path])) == ["train", "eval", "test"]
    s = stats(splits)
    assert s["total"] == len(recs)
    assert s["leakage"]["train-eval"]["overlapping"] == 0
    assert sum(c["n"] for c in s["splits"].values()) == len(recs)
    md = to_markdown(s)
    assert md.startswith("# Data distribution") and "## Temporal leakage" in md
    # a folder without splits falls back to samples.jsonl
    write_jsonl(tmp_path / "raw" / "samples.jsonl", recs)
    assert list(resolve_inputs([tmp_path / "raw"])) == ["samples"]
    assert split_name(tmp_path / "train_multivideo.jsonl") == "train"
    assert split_name(tmp_path / "extra.jsonl") == "extra"


def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(DataError, match="no such file"):
        resolve_inputs([tmp_path / "absent"])
    with pytest.raises(DataError, match="no splits"):
        resolve_inputs([tmp_path])
    a = write_jsonl(tmp_path / "a" / "train.jsonl", fixture_records(per_video=5))
    b = write_jsonl(tmp_path / "b" / "train_x.jsonl", fixture_records(per_video=5))
    with pytest.raises(DataError, match="two inputs for split 'train'"):
        resolve_inputs([a, b])
    a.write_text(a.read_text() + "nonsense\n")
    assert main([str(a)]) == 2
    assert f"{a}:21" in capsys.readouterr().err
    assert main([str(a), "--skip-bad"]) == 0
    captured = capsys.readouterr()
    assert f"{a}:21" in captured.err and "| train | 20 |" in captured.out
