"""What a synthetic scene says: the values of its parameters, the answer each question type
reads from its pixels, its caption, and the caption segment an answer rests on. What a type
reads and which segment grounds it are the type's record (data.types); this module applies them.

    python -c "from data.facts import caption, grounding; help(grounding)"

The generator (data.synth, data.plan) draws scenes and records from these facts; training asks
for grounded answers with `grounding`, evaluation and the app check what was heard with `heard`
and `grounding_kind`. No torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from data import scene as scn
from data.catalog import CATALOG, cues, get
from data.score import extract_option

# the renderer's own scene parameters and their values; a type's Cue adds one (DOMAINS)
SCENE: dict[str, tuple] = {
    "view": ("normal", "fluid", "occluded", "outside"),
    "motion": ("still", "advancing", "withdrawing"),
    "lesion": (True, False),
    "quadrant": tuple(scn.QUADRANT_CENTRE),
    "lesion_motion": tuple(scn.LESION_STEP),
    "size": tuple(scn.LESION_RADIUS),
    "site": ("ascending", "descending", "rectum", "sigma"),
    "histology": ("adenoma", "hyperplastic"),
    "tool": ("none", "forceps", "snare", "catheter"),
    "nbi": (True, False),
    "dye": (True, False),
    "flush": (True, False),
    "scope_visible": (True, False),
}


class _Domains(Mapping[str, tuple]):
    """Every scene parameter and its values: the renderer's, then the registered types' cues
    (a view of the catalog, so a type registered later is seen by every importer)."""

    def _now(self) -> dict[str, tuple]:
        return {**SCENE, **{c.key: c.values for c in cues()}}

    def __getitem__(self, key: str) -> tuple:
        return self._now()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())


DOMAINS = _Domains()


class _Grounding(Mapping[str, "str | tuple[str, ...]"]):
    """question type -> the caption segment that grounds its answer (its record's grounding:
    a prefix; "" the caption's first segment, which for a blocked or outside view is the whole
    caption; a tuple: one of those exact segments)."""

    def __getitem__(self, qtype: str) -> str | tuple[str, ...]:
        return CATALOG[qtype].grounding

    def __iter__(self) -> Iterator[str]:
        return iter(CATALOG)

    def __len__(self) -> int:
        return len(CATALOG)


GROUNDING = _Grounding()


def answer_of(qtype: str, s: dict) -> str | None:
    """The short answer the pixels of scene `s` give to `qtype`, or None if it is not askable."""
    return get(qtype).answer(s)


def caption(s: dict) -> str:
    """A compact caption of the scene, e.g. 'scope advancing. lesion upper left. motion up. ...'."""
    if s["view"] == "outside":
        return "scope outside the patient."
    if s["view"] == "fluid":
        return "fluid covers the view completely."
    if s["view"] == "occluded":
        return "view blocked close up."
    yn = lambda b: "yes" if b else "no"  # noqa: E731
    parts = [f"scope {s['motion']}", f"site {s['site']}"]
    if s["lesion"]:
        parts += [
            f"lesion {s['quadrant'].replace('-', ' ')}",
            f"motion {s['lesion_motion']}",
            f"size {s['size']}",
            s["histology"],
        ]
    else:
        parts.append("no lesion")
    parts += [
        f"tool {s['tool']}",
        f"nbi {yn(s['nbi'])}",
        f"dye {yn(s['dye'])}",
        f"flush {yn(s['flush'])}",
        f"shaft {yn(s['scope_visible'])}",
        *(c.segment(s[c.key]) for c in cues() if c.key in s),  # a new type's cue, last
    ]
    return ". ".join(parts) + "."


def grounding(qtype: str, caption_text: str) -> str:
    """The caption segment the answer to `qtype` rests on, e.g. 'lesion upper left'."""
    parts = [p for p in caption_text.rstrip(".").split(". ") if p]
    key = GROUNDING[qtype]
    if key == "":
        return parts[0]
    hits = [p for p in parts if (p in key if isinstance(key, tuple) else p.startswith(key))]
    if len(hits) != 1:
        raise ValueError(f"caption {caption_text!r} has no single segment for {qtype}")
    return hits[0]


def grounding_kind(segment: str) -> str:
    """What a caption segment is about: its first word ('scope advancing' -> 'scope'), or
    'histology' for the bare histology words. Two segments of one kind answer the same question
    (or neighbours that read the same fact, like the four scope-motion types)."""
    seg = segment.strip().lower()
    exact = {g for t in CATALOG.values() if isinstance(t.grounding, tuple) for g in t.grounding}
    if seg in exact:  # a bare value: the kind is the scene parameter it is a value of
        return next(k for k, values in DOMAINS.items() if seg in values)
    return seg.split(" ")[0]


def heard(rec: dict, said: str, answer: str | None = None) -> dict:
    """A grounded answer's caption segment, the one the asked question rests on, and whether
    the question was heard as asked: the two segments are of one kind and, given the answer,
    it is one the asked question allows. Types of one kind tell apart only by the answer:
    "yes" after `tool catheter` answers the catheter check, not "Name the instrument"."""
    if not said:
        return {}
    out = {"grounding": said}
    if rec.get("caption"):
        qtype = rec["question_type"]
        want = grounding(qtype, rec["caption"])
        ok = grounding_kind(said) == grounding_kind(want)
        if answer is not None:
            ok = ok and extract_option(qtype, answer) is not None
        out |= {"grounding_expected": want, "heard": ok}
    return out
