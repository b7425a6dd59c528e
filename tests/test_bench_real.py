"""The real-scale GPU benchmark's parts that run without a GPU (evaluation/bench_real.py).

The measurements themselves need CUDA; here: the refusal without it, the arguments, the
arithmetic, the report rendered from a result dict made up for the test, the committed report
against its JSON, and a rehearsal of every measurement on a narrow stand-in on the CPU.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from evaluation import bench_real as br
from evaluation import bench_real_report as rep

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks-gpu.md"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_refuses_without_cuda_in_one_line():
    r = subprocess.run(
        [sys.executable, "-m", "evaluation.bench", "--real-shapes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "CUDA" in lines[0], r.stderr


@pytest.mark.parametrize(
    "argv",
    [["--runs", "0"], ["--answer-tokens", "0"], ["--speech-seconds", "31"], ["--depth", "half"]],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        br.parse(argv)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.fixture(scope="module")
def plan() -> dict:
    """The --plan result (arithmetic only), as the committed report was made."""
    torch.set_num_threads(1)
    res = br.result(br.parse(["--plan"]), ["--plan"])
    return res | {"device": None, "targets": rep.targets(None)}


def test_arithmetic(plan):
    ar = plan["arithmetic"]
    tk = ar["tokens"]
    assert tk["per_frame"] == {"112": 16, "384": 169}
    assert tk["audio"] == {"full": 1500, "trim": 150, "trim+pool:2": 75, "trim+pool:4": 38}
    # the prompts differ by their audio placeholders alone
    assert tk["prompt"]["full"] - tk["prompt"]["trim"] == 1500 - 150
    # <|im_start|>, "user\n" (3 stand-in BPE tokens), 8 x (<|vision_start|>, 169, <|vision_end|>)
    assert tk["prefix"] == 1 + 3 + 8 * (1 + 169 + 1)
    assert ar["kv_bytes_per_token"] == 2 * 28 * 4 * 128 * 2
    assert round(ar["params"]["qwen"] / 1e9, 2) == 8.29
    assert 16 < ar["weights_bf16_gb"] < 17 and 7 < ar["weights_nf4_gb"] < 8


def made_up(plan: dict) -> dict:
    """A result dict MADE UP for this test (not a measurement): every section filled."""

    def s(p50: float) -> dict:
        return {"n": 10, "p50_ms": p50, "p95_ms": p50 * 1.2, "mean_ms": p50 * 1.05}

    res = copy.deepcopy(plan) | {"device": "Made-Up GPU 24GB"}
    res["measured"] = {
        "weights_nf4_gb": 7.7,
        "weights_bf16_gb": 16.7,
        "qlora_step": {"tokens": 1541, "peak_gb": 18.5, "step_ms": s(900.0)},
        "bf16_serving_peak_gb": 17.9,
        "bf16": {"answer": s(140.0), "ttft": s(60.0)},
        "nf4": {"answer": s(260.0), "ttft": s(110.0)},
        "cascade": {"asr": s(90.0), "answer": s(230.0), "ttft": s(150.0)},
        "batched": {
            "batch": 8,
            "graft": s(400.0) | {"samples_per_s": 20.0},
            "cascade": s(700.0) | {"samples_per_s": 11.4},
        },
        "policies": {
            p: {"audio_tokens": 1, "answer": s(100.0), "ttft": s(50.0)} for p in br.POLICIES
        },
        "prefix_cache": {
            "ttft_cached": s(10.0),
            "ttft_recomputed": s(60.0),
            "answer_cached": s(90.0),
            "answer_recomputed": s(140.0),
            "cache_hit": True,
        },
    }
    res["figures"] = rep.summarise(res)
    res["targets"] = rep.targets(res["figures"])
    return res


def test_report_from_a_made_up_result(plan):
    res = made_up(plan)
    f = res["figures"]
    assert f["ttft_graft_vs_cascade"] == pytest.approx(60 / 150)
    assert f["prefix_cache_ttft_speedup"] == pytest.approx(6.0)
    t = res["targets"]
    assert t["graft_bf16_p50_ms"]["met"] and t["qlora_step_peak_gb"]["met"]
    res["measured"]["bf16"]["answer"]["p50_ms"] = 151.0
    assert not rep.targets(rep.summarise(res))["graft_bf16_p50_ms"]["met"]
    md = rep.render(made_up(plan))
    assert rep.NOT_MEASURED not in md
    assert "**Made-Up GPU 24GB**" in md
    assert "| graft, bf16: answer p50 / p95 | 140.0 ms / 168.0 ms | 8 new tokens |" in md
    assert "| throughput, batch 8: graft / cascade | 20.0 / 11.4 questions/s | |" in md
    assert "| time to first token, graft / Whisper-turbo cascade | <= 0.7 x | 0.4 x | yes |" in md


def test_a_run_cut_short_reports_what_it_measured(plan):
    res = made_up(plan)
    m = res["measured"]
    m["sections"] = list(rep.SECTIONS[:4])  # stopped after the prefix cache
    for later in ("cascade", "policies", "batched"):
        del m[later]
    res["figures"] = rep.summarise(res)
    res["targets"] = rep.targets(res["figures"])
    t = res["targets"]
    assert t["ttft_graft_vs_cascade"]["measured"] is None  # needs the cascade
    assert t["prefix_cache_ttft_speedup"]["met"] and t["graft_bf16_p50_ms"]["met"]
    md = rep.render(res)
    assert "**partial run**: the run stopped before cascade, policies, batched" in md
    assert "| graft, bf16: answer p50 / p95 | 140.0 ms / 168.0 ms | 8 new tokens |" in md
    assert f"| throughput, batch 8: graft / cascade | {rep.NOT_REACHED} | |" in md
    assert rep.NOT_MEASURED not in md.split("## Measured")[1]
    full = rep.render(made_up(plan))
    assert "partial run" not in full and rep.NOT_REACHED not in full


def test_plan_report_marks_every_gpu_figure(plan, tmp_path):
    md = rep.render(plan)
    measured = md.split("## Measured")[1].split("## Targets")[0]
    rows = [r for r in measured.splitlines() if r.startswith("| ") and "---" not in r][1:]
    assert len(rows) == 19
    assert all(r.split(" | ")[1] == rep.NOT_MEASURED for r in rows), rows
    assert " ms" not in measured and "questions/s" not in measured
    assert "(computed, not measured)" in md
    assert br.main(["--plan", "--out", str(tmp_path / "b.md")]) == 0
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["device"] is None and "measured" not in saved
    assert (tmp_path / "b.md").read_text() == rep.render(saved)


def test_committed_report_renders_from_its_json():
    res = json.loads(DOC.with_suffix(".json").read_text())
    assert DOC.read_text() == rep.render(res)


# A narrow model with the stand-ins' layout (real vocabularies, 30 s window, 128 mels):
# every measurement runs end to end on the CPU in seconds (times only; no memory there).
NARROW = {
    "qwen": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "vision_config": {"embed_dim": 32, "num_heads": 2, "hidden_size": 64},
    },
    "whisper": {
        "d_model": 64,
        "encoder_attention_heads": 4,
        "decoder_attention_heads": 4,
        "encoder_ffn_dim": 128,
        "decoder_ffn_dim": 128,
    },
}


REHEARSAL = "--runs 1 --batch 2 --answer-tokens 2 --transcript-tokens 3 --side 56 --train-steps 1"


@pytest.fixture(scope="module")
def narrow(tmp_path_factory) -> tuple[Path, Path]:
    from model.standin import CUT, write_standins

    return write_standins(tmp_path_factory.mktemp("standin"), CUT, over=NARROW)


@pytest.mark.slow
def test_every_measurement_rehearsed_on_a_narrow_model_on_the_cpu(narrow):
    torch.set_num_threads(1)
    qwen, whisper = narrow
    a = br.parse(REHEARSAL.split())
    done: list[str] = []
    saved: list[list[str]] = []
    m = br.RealBench(qwen, whisper, a, "cpu", done.append).run(
        lambda r: saved.append(list(r["sections"]))
    )
    # saved after every section, in the report's order (targets first)
    assert saved == [list(rep.SECTIONS[: i + 1]) for i in range(len(rep.SECTIONS))]
    assert done == ["built NF4", *rep.SECTIONS[:2], "built bf16", *rep.SECTIONS[2:]]
    assert m["errors"] == {}
    assert m["weights_nf4_gb"] is None and m["qlora_step"]["peak_gb"] is None  # CPU: no memory
    assert m["qlora_step"]["trainable_params"] > 0
    assert {k: v["audio_tokens"] for k, v in m["policies"].items()} == {
        "full": 1500,
        "trim": 150,
        "trim+pool:2": 75,
        "trim+pool:4": 38,
    }
    assert m["prefix_cache"]["cache_hit"]
    assert m["cascade"]["asr_steps"] == 3  # the transcript budget, exactly
    for sec in (m["nf4"], m["bf16"], m["cascade"], *m["policies"].values()):
        assert sec["answer"]["p50_ms"] > 0 and sec["ttft"]["p50_ms"] > 0
    assert m["batched"]["graft"]["samples_per_s"] > 0
    res = br.result(a, REHEARSAL.split()) | {"device": "cpu (rehearsal)", "measured": m}
    res["figures"] = rep.summarise(res)
    res["targets"] = rep.targets(res["figures"])
    md = rep.render(res)
    assert f"{m['bf16']['answer']['p50_ms']:.1f} ms" in md


@pytest.mark.slow
def test_a_failed_section_is_recorded_and_the_rest_still_measured(narrow, monkeypatch):
    """NF4 failing (bitsandbytes without its CUDA kernels, say) costs only the NF4 figures."""
    torch.set_num_threads(1)
    build = br.RealBench.build

    def no_nf4(self, quantize: bool):
        if quantize:
            raise RuntimeError("no NF4 kernels here\nsecond line")
        return build(self, quantize)

    monkeypatch.setattr(br.RealBench, "build", no_nf4)
    a = br.parse(REHEARSAL.split())
    saved: list[int] = []
    m = br.RealBench(*narrow, a, "cpu").run(lambda r: saved.append(len(r["errors"])))
    assert saved == [1, 2, 2, 2, 2, 2, 2]  # saved after every section, failed or not
    assert m["errors"] == {
        "NF4 serving": "RuntimeError: no NF4 kernels here\nsecond line",
        "QLoRA step": "not run: an earlier section failed (nf4)",
    }
    assert m["sections"] == list(rep.SECTIONS[2:])
    assert "nf4" not in m and "qlora_step" not in m and m["batched"]["graft"]["samples_per_s"] > 0
    res = br.result(a, REHEARSAL.split()) | {"device": "cpu (rehearsal)", "measured": m}
    res["figures"] = rep.summarise(res)
    res["targets"] = rep.targets(res["figures"])
    md = rep.render(res)
    assert "- **NF4 serving failed**: RuntimeError: no NF4 kernels here\n" in md
    assert "- **QLoRA step failed**: not run: an earlier section failed (nf4)" in md
    assert "partial run" not in md  # every section ran or failed: none was left
    assert f"| graft, NF4: answer p50 / p95 | {rep.NOT_REACHED} |" in md
    assert res["targets"]["qlora_step_peak_gb"]["met"] is None
