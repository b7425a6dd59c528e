"""Render docs/results.md from evaluation summaries (never typed by hand).

    python -m evaluation.report                   # checkpoints/demo -> docs/results.md
    python -m evaluation.report --checkpoint C --out docs/results.md [--readme README.md]

Reads the evaluation summaries of C/eval (the audio run on the test split), C/eval-stranger (the
headline: a voice and wordings training never met, split `stranger` of data.stranger) and every
other C/eval-*/ beside them (ablations, baselines, policies), plus C's recipe and Trainer state
for how the checkpoint was trained (file names: model.layout; JSON read by model.runfiles). With
--readme, the text between `<!-- results:start -->` and `<!-- results:end -->` in that file is
replaced by the short version.

One module of ~400 lines, mostly sentence templates: the long page (render) and the README block
(short) share the labels, the ordering and the target verdicts, and split apart they would import
each other's pieces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from data import clinic
from model.cli import boundary
from model.layout import (
    READOUT_FILE,
    READOUT_MEAN_FILE,
    RECIPE_FILE,
    SUMMARY_FILE,
    TRAINER_STATE,
    checkpoint_dir,
    write_text,
)
from model.runfiles import RunFileError, kept_step, read_json, recipe_stage, run_recipe

START, END = "<!-- results:start -->", "<!-- results:end -->"
TARGET_LIFT = 0.20  # the stranger's strict accuracy over the blind prior
TARGET_TEST = 0.75  # strict accuracy on the espeak held-out test split
STRANGER = "stranger"  # data.stranger's split: another synthesizer, hand-written wordings
SPLITS = {
    "test": "espeak test: held-out voices and catalog wordings",
    "eval": "eval split (train wordings, held-out voices)",
    STRANGER: "stranger: unheard synthesizer, hand-written wordings",
}
ABLATION_DROP = 0.20  # shuffled audio must cost at least this much strict accuracy


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def pts(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.1f}"


def load_runs(ckpt: Path) -> dict[str, dict]:
    """{name: summary} for eval/ and eval-*/ under the checkpoint; the audio run is 'eval'."""
    runs = {}
    for d in sorted(ckpt.glob("eval*")):
        f = d / SUMMARY_FILE
        if f.is_file():
            runs[d.name] = _read(f)
    if "eval" not in runs:
        raise SystemExit(
            f"{ckpt / 'eval' / SUMMARY_FILE}: missing; run python -m evaluation.evaluate"
        )
    return runs


def label(s: dict) -> str:
    if s.get("baseline"):
        text = f"baseline: {s['baseline']} ({s.get('baseline_detail', '')})"
    elif s.get("mode") == "text":
        text = "question as text (no audio)"
    else:
        text = {"shuffled": "audio shuffled across samples", "silent": "no speech (noise floor)"}
        text = text.get(s.get("ablation", "none"), "spoken question (audio)")
    if s.get("audio_tokens"):  # evaluated under another policy than the checkpoint's
        text += f", audio tokens `{s['audio_tokens']}`"
    split = s.get("split", "test")
    text += f", {SPLITS.get(split) or clinic.label(split) or split + ' split'}"
    return text


def order(s: dict) -> tuple:
    return (
        not str(s.get("split")).startswith(STRANGER),
        s.get("split") != STRANGER,
        clinic.rank(str(s.get("split"))),
        s.get("split") != "test",
        bool(s.get("baseline")),
        s.get("mode") != "audio",
        s.get("ablation") != "none",
        bool(s.get("audio_tokens")),
        s.get("audio_tokens") or "",
    )


def over_wordings(s: dict) -> str:
    """'; 95% over the N wordings lo to hi' for the lift, where the summary has it."""
    bw = s.get("by_wording")
    if not bw or not bw.get("lift"):
        return ""
    lo, hi = bw["lift"]
    return f"; 95% over the {bw['wordings']} spoken wordings {pts(lo)} to {pts(hi)}"


def heard_line(s: dict) -> str:
    """Of the wrong grounded answers, how many were about another question (misheard) rather
    than a misread scene; '' when the answers are not grounded."""
    h = s.get("heard")
    if not h:
        return ""
    return (
        f"Heard or seen? {pct(h['rate'])} of the {h['n']} grounded answers name a fact of the "
        "asked question's kind and answer in its form. "
        f"{h['misheard']} of the {h['wrong']} wrong ones ({pct(h['misheard_share'])}) name "
        'another question\'s fact or answer another question ("yes" after `tool catheter` to '
        '"Name the instrument"), so that question was misheard; the others read the asked '
        "kind of fact wrong, mostly a misread scene. A lower bound on mishearing: the three "
        "yes/no scope-motion questions, and in a clear view the yes/no view questions, rest on "
        "the same `scope` segment and take the same answers (per type: docs/results.md, column "
        "heard)."
    )


def oracle_line(main: dict, runs: dict[str, dict]) -> str:
    """The perfect-transcript baseline beside the heard run: are the types below their prior
    lost in hearing or in reading? '' without that baseline on the same split."""
    o = next(
        (s for s in runs.values()
         if s.get("baseline") == "oracle" and s.get("split") == main.get("split")),
        None,
    )  # fmt: skip
    if o is None:
        return ""
    below, heard = below_prior(o), below_prior(main)
    both = [t for t in below if t in heard]
    gain = o["strict"]["accuracy"] - main["strict"]["accuracy"]
    return (
        f"Read, not heard: the baseline oracle ({o.get('baseline_detail', '')}) scores "
        f"{pct(o['strict']['accuracy'])} strict "
        f"({pts(gain)} pts against hearing), {len(below)} types below their prior "
        f"({', '.join(below) or 'none'}) against {len(heard)} when heard; "
        + (f"both: {', '.join(both)}." if both else "none in both.")
    )


def stranger_run(runs: dict[str, dict]) -> dict | None:
    """The checkpoint's own audio run on the stranger split, if evaluated."""
    return next(
        (s for s in runs.values()
         if s.get("split") == STRANGER and not s.get("baseline") and s.get("mode") == "audio"
         and s.get("ablation", "none") == "none" and not s.get("audio_tokens")),
        None,
    )  # fmt: skip


def below_prior(s: dict) -> list[str]:
    return [t for t, d in s["per_type"].items() if d["strict"] < d["prior"]]


def lift_targets(s: dict, where: str) -> list[tuple[str, str, bool]]:
    """Lift over the blind prior, and no type below its prior, on one run."""
    prior, strict, per = s["prior"]["accuracy"], s["strict"]["accuracy"], s["per_type"]
    below = below_prior(s)
    return [
        (
            f"{where}: strict >= blind prior + {100 * TARGET_LIFT:.0f} pts",
            f"{pct(strict)} vs prior {pct(prior)} ({pts(strict - prior)} pts{over_wordings(s)})",
            strict - prior >= TARGET_LIFT,
        ),
        (
            f"{where}: no type below its prior",
            "none"
            if not below
            else ", ".join(f"{t} {pct(per[t]['strict'])} < {pct(per[t]['prior'])}" for t in below),
            not below,
        ),
    ]


def stranger_line(runs: dict[str, dict]) -> str:
    """The headline: how a voice and words training never met are answered; '' if not run."""
    s = stranger_run(runs)
    if s is None:
        return ""
    strict, prior = s["strict"]["accuracy"], s["prior"]["accuracy"]
    below = below_prior(s)
    return (
        f"**A stranger asks.** Questions in {(s.get('by_wording') or {}).get('wordings', 'new')} "
        "wordings written by hand (never generated, never trained on), spoken by a synthesizer "
        f"that never speaks in training, on the held-out test video ({s['n']} answers): "
        f"{pct(strict)} strict against a blind prior of {pct(prior)} "
        f"({pts(strict - prior)} pts{over_wordings(s)}); "
        + (f"{len(below)} types below their prior ({', '.join(below)})." if below
           else "no type below its prior.")
    )  # fmt: skip


def targets(main: dict, runs: dict[str, dict]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the demo's acceptance targets: the stranger first."""
    strict = main["strict"]["accuracy"]
    stranger = stranger_run(runs)
    out = lift_targets(stranger, "stranger") if stranger else []
    out += clinic.targets(runs)
    bw = main.get("by_wording") or {}
    spread = (
        f" (95% over the {bw['wordings']} wordings {pct(bw['strict'][0])} to "
        f"{pct(bw['strict'][1])})"
        if bw.get("strict")
        else ""
    )
    out.append(
        (
            f"espeak held-out test: strict >= {100 * TARGET_TEST:.0f}%",
            f"{pct(strict)}{spread}",
            strict >= TARGET_TEST,
        )
    )
    shuf = next(
        (s for s in runs.values()
         if s.get("ablation") == "shuffled" and s.get("split") == main.get("split")),
        None,
    )  # fmt: skip
    if shuf is not None:
        drop = strict - shuf["strict"]["accuracy"]
        out.append(
            (
                f"shuffled audio drops strict accuracy by >= {100 * ABLATION_DROP:.0f} pts",
                f"{pct(strict)} -> {pct(shuf['strict']['accuracy'])} ({pts(-drop)} pts)",
                drop >= ABLATION_DROP,
            )
        )
    policies = {
        s["audio_tokens"]: s
        for s in runs.values()
        if s.get("audio_tokens") and s.get("split") == main.get("split")
        and s.get("mode") == "audio" and s.get("ablation", "none") == "none"
    }  # fmt: skip
    if "trim" in policies and "full" in policies:  # the same checkpoint under both policies
        trim, full = (policies[k]["strict"]["accuracy"] for k in ("trim", "full"))
        out.append(
            (
                "no accuracy loss under `trim` against `full` audio tokens",
                f"{pct(trim)} vs {pct(full)} ({pts(trim - full)} pts)",
                trim >= full,
            )
        )
    return out


def training_lines(ckpt: Path) -> list[str]:
    lines = []
    recipe = ckpt / RECIPE_FILE
    state = ckpt / TRAINER_STATE
    if recipe.is_file():
        r = _read(recipe)
        rc, command = run_recipe(r)  # an old run's flat keys converted
        m, t = rc.get("model", {}), rc.get("trainer", {})
        warm, caps = recipe_stage(rc, "vision_warmup"), recipe_stage(rc, "captions")
        if command.get("overfit"):  # a feasibility run skips the early stages
            warm, caps = {**warm, "steps": 0}, {**caps, "steps": 0}
        cap = r.get("caption") or {}
        ran = f" ({cap['step']} ran)" if cap.get("step") is not None else ""
        mins = caps.get("minutes")
        wall = f" or {mins} min" if mins else ""  # 0: no wall cap on the stage
        lines.append(
            f"- last training run {r.get('minutes', '?')} min wall on the CPU: recipe "
            f"`{command.get('name') or '-'}`, vision warm-up {warm.get('steps')} steps"
            f"{' (tower frozen after it)' if m.get('freeze_vision') else ''}, "
            f"caption stage up to {caps.get('steps')} steps{wall}{ran}, then questions "
            f"(batch {t.get('per_device_train_batch_size')}, lr {t.get('learning_rate')}, target "
            f"`{recipe_stage(rc, 'questions').get('target')}`, audio tokens "
            f"`{m.get('audio_tokens') or 'trim'}`)"
        )
        if r.get("finished"):
            when = ", ".join(f"{k} {v}" for k, v in r["finished"].items())
            lines.append(f"- stage checkpoints finished at: {when}; the question stage ran after")
        warm = r.get("vision_warmup")  # what the warm-up measured
        ear = m.get("whisper")
        if ear:
            lines.append(f"- ear: pretrained Whisper `{ear}`, frozen (its outputs cached)")
        if warm and warm.get("held_out"):
            ho = ", ".join(f"{k} {pct(v)}" for k, v in warm["held_out"].items())
            lines.append(f"- vision warm-up read-out on held-out clips: {ho}")
    if state.is_file():
        st = _read(state)
        evals = [h for h in st.get("log_history", []) if "eval_loss" in h]  # each one logged
        best, kept = st.get("best_metric"), kept_step(st)
        at = "-" if kept is None else checkpoint_dir("", kept).name
        lines.append(
            f"- question stage: {st.get('global_step')} steps, {len(evals)} evaluations, best eval "
            f"loss {best:.4f} at {at}"
            if best is not None
            else f"- question stage: {st.get('global_step')} steps"
        )
    readouts = {
        READOUT_FILE: "- vision read-out of the final tower (frozen; fresh heads, {steps} steps "
        "on train clips) on {split} clips: ",
        READOUT_MEAN_FILE: "- the same with heads that average a frame's tokens (a label held "
        "by which token, as a position is, reads at chance this way): ",
    }
    for name, lead in readouts.items():
        path = ckpt / "eval" / name
        if path.is_file():
            ro = _read(path)
            held = ", ".join(f"{k} {pct(v)}" for k, v in ro["held_out"].items())
            lines.append(lead.format(steps=ro.get("steps"), split=ro.get("split")) + held)
    return lines


def _read(path: Path) -> dict:
    """A JSON object the checkpoint holds; a file that holds none stops the report, named."""
    try:
        return read_json(path)
    except RunFileError as e:
        raise SystemExit(str(e)) from None


def render(ckpt: Path, runs: dict[str, dict]) -> str:
    main = runs["eval"]
    cmd = f"python -m evaluation.report --checkpoint {ckpt}"
    lines = [
        "# Results",
        "",
        f"<!-- generated by `{cmd}` from {ckpt}/eval*/{SUMMARY_FILE}: do not edit -->",
        "",
        f"Checkpoint `{ckpt}` on `{main.get('data')}`, split `{main.get('split')}` "
        f"({main['n']} questions: held-out video, held-out voices, held-out phrasing), evaluated "
        f"{main.get('created', '?')}. Strict = the answer names exactly the right option; lenient "
        "= the short answer appears in the text (the published metric); prior = each type's most "
        "frequent train answer, answered blind. 95% Wilson intervals in brackets. Records that "
        "share a spoken wording are heard right or wrong together, so the last column resamples "
        "wordings instead (bootstrap; the test split has one wording per type): it is the "
        "interval to read when comparing two checkpoints.",
        "",
        "| condition | n | strict | lenient | prior | strict lift | invalid | strict, 95% over "
        "wordings |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in sorted(runs.values(), key=order):
        lo, hi = s["strict"]["ci"]
        bw = s.get("by_wording")
        spread = f"[{pct(bw['strict'][0])}, {pct(bw['strict'][1])}]" if bw else "-"
        lines.append(
            f"| {label(s)} | {s['n']} | {pct(s['strict']['accuracy'])} [{pct(lo)}, {pct(hi)}] | "
            f"{pct(s['lenient']['accuracy'])} | {pct(s['prior']['accuracy'])} | "
            f"{pts(s['lift']['strict'])} | {pct(s['strict']['invalid_rate'])} | {spread} |"
        )
    if h := heard_line(main):
        lines += ["", h]
    if o := oracle_line(main, runs):
        lines += ["", o]
    if rows := clinic.table(runs):
        lines += ["", "## In a clinic's conditions", "", clinic.headline(runs), "", *rows]
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, got, ok in targets(main, runs):
        lines.append(f"| {name} | {got} | {'yes' if ok else '**no**'} |")
    others = {k: s for k, s in runs.items() if k != "eval" and s.get("split") == main.get("split")}
    heard = main.get("heard") is not None
    head = ["type", "n", "strict", "prior", "lift", "lenient", *(["heard"] if heard else [])]
    head += [label(s) for s in others.values()]
    lines += ["", "## Per question type", "", "| " + " | ".join(head) + " |",
              "|" + "---|" * len(head)]  # fmt: skip
    for t, d in main["per_type"].items():
        row = [f"`{t}`", str(d["n"]), pct(d["strict"]), pct(d["prior"]), pts(d["lift"]),
               pct(d["lenient"]), *([pct(d["heard"])] if heard else [])]  # fmt: skip
        row += [pct(s["per_type"].get(t, {}).get("strict")) for s in others.values()]
        lines.append("| " + " | ".join(row) + " |")
    train = training_lines(ckpt)
    if train:
        lines += ["", "## How the checkpoint was trained", "", *train]
    return "\n".join(lines) + "\n"


def short(ckpt: Path, runs: dict[str, dict]) -> str:
    """The README version: the headline numbers and the targets."""
    main = runs["eval"]
    lines = [
        f"Demo checkpoint `{ckpt}` on the held-out test video ({main['n']} spoken questions; "
        "generated from the evaluation JSON by `python -m evaluation.report`, details in "
        "[docs/results.md](docs/results.md)):",
        "",
        "| condition | strict | lenient | prior |",
        "|---|---|---|---|",
    ]
    if head := stranger_line(runs):
        lines[1:1] = ["", head]
    if rows := clinic.table(runs):  # the headline: the worst way the stranger was heard
        lines[1:1] = ["", clinic.headline(runs), "", *rows]
    for s in sorted(runs.values(), key=order):
        lines.append(
            f"| {label(s)} | {pct(s['strict']['accuracy'])} | {pct(s['lenient']['accuracy'])} | "
            f"{pct(s['prior']['accuracy'])} |"
        )
    met = targets(main, runs)
    if h := heard_line(main):
        lines += ["", h]
    if o := oracle_line(main, runs):
        lines += ["", o]
    lines += ["", "Targets: " + "; ".join(f"{n}: {g} ({'met' if ok else 'missed'})"
                                          for n, g, ok in met)]  # fmt: skip
    return "\n".join(lines) + "\n"


def splice(readme: Path, block: str) -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: no {START} ... {END} markers to replace")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    write_text(readme, f"{head}{START}\n{block}{END}{tail}")


@boundary
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m evaluation.report", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("checkpoints/demo"),
        help="checkpoint whose eval*/ folders are reported",
    )
    ap.add_argument(
        "--out", type=Path, default=Path("docs/results.md"), help="the results page to write"
    )
    ap.add_argument("--readme", type=Path, help="also replace the marked results block here")
    args = ap.parse_args(argv)
    runs = load_runs(args.checkpoint)
    write_text(args.out, render(args.checkpoint, runs))
    if args.readme:
        splice(args.readme, short(args.checkpoint, runs))
    print(f"{args.out}: {len(runs)} evaluation(s) of {args.checkpoint}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
