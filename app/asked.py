"""What a spoken question was understood as, and the verdict against a reference it asked.

    python -c "from app.asked import understood; print(understood('scope advancing', 'yes'))"

A clip carries up to four reference questions, but a clinician at the microphone asks whatever
they like: grading the answer against the clip's first reference graded questions nobody asked.
The model's grounded answer says which fact it rests on ("scope advancing: yes"); the question
types that fact and answer fit (data.facts: the caption segment's kind, the answer one of the
type's options, and the one the fact implies) are what the model understood; an answer at odds
with its own fact is read by kind and answer form alone, so a wrong answer is still graded. The
answer is graded against the clip's reference of such a type when the clip has one; otherwise
there is no reference to grade it against. The clip's own recording asks its record's
question, so it keeps that verdict. Some types rest on one fact and take the same answer
("scope advancing: yes" answers "is the scope moving?" and "is it advancing?" alike): all of
them are listed. No torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from data.catalog import CATALOG, TYPE_NAMES
from data.facts import DOMAINS, GROUNDING, answer_of, grounding_kind
from data.score import extract_option, is_correct_strict

EXAMPLE_PHRASING = 1  # the catalog's phrasing 0 is the benchmark's, often in jargon
# what a grounding's kind (data.facts.grounding_kind) is about, for answers no type fits
KIND_WORDS: dict[str, str] = {
    "scope": "the scope and the view",
    "fluid": "fluid in the view",
    "view": "a blocked view",
    "site": "the colon segment",
    "lesion": "where the lesion is on screen",
    "no": "whether there is a lesion",
    "motion": "how the lesion moves",
    "size": "the lesion's size",
    "histology": "the lesion's histology",
    "tool": "the instrument in view",
    "nbi": "the light mode",
    "dye": "blue dye",
    "flush": "water flushing",
    "shaft": "the endoscope shaft",
}


def plain(qtype: str) -> str:
    """A type in plain words ("Is the scope moving?"); an unknown one with its underscores gone."""
    known = CATALOG.get(qtype)
    return (known.plain if known else "") or qtype.replace("_", " ")


def example(qtype: str) -> str:
    return CATALOG[qtype].phrasings[EXAMPLE_PHRASING]


def what_can_be_asked() -> list[dict]:
    """The 20 question types for the page: plain words, an example, the possible answers."""
    return [
        {"question": plain(t), "for example": example(t), "answers": ", ".join(CATALOG[t].options)}
        for t in TYPE_NAMES
    ]


def _kinds(qtype: str) -> set[str]:
    """The grounding kinds a type's answer can rest on. The view types rest on the caption's
    first segment: the scope's motion in a clear view, else fluid, a blocked view, outside."""
    key = GROUNDING[qtype]
    if key == "":
        return {"scope", "fluid", "view"}
    if isinstance(key, tuple):
        return {"histology"}
    return {key.strip()}


_BASE = {  # a clear view with a lesion; a segment overrides the fact it states
    "view": "normal",
    "motion": "still",
    "lesion": True,
    "quadrant": "upper-left",
    "lesion_motion": "stable",
    "size": "<5",
    "site": "rectum",
    "histology": "adenoma",
    "tool": "none",
    "nbi": False,
    "dye": False,
    "flush": False,
    "scope_visible": False,
}
_YES_NO_SEGMENT = {"nbi": "nbi", "dye": "dye", "flush": "flush", "shaft": "scope_visible"}


def implied_scene(segment: str) -> dict | None:
    """The scene facts a caption segment states (on top of _BASE), or None if not a segment."""
    seg = " ".join(segment.lower().split())
    words = seg.split(" ")
    s = dict(_BASE)
    if seg == "scope outside the patient":
        s["view"] = "outside"
    elif words[0] == "fluid":
        s["view"] = "fluid"
    elif words[0] == "view":
        s["view"] = "occluded"
    elif seg == "no lesion":
        s["lesion"] = False
    elif seg in DOMAINS["histology"]:
        s["histology"] = seg
    elif len(words) >= 2:
        head, value = words[0], " ".join(words[1:])
        key = {
            "scope": "motion",
            "site": "site",
            "lesion": "quadrant",
            "motion": "lesion_motion",
            "size": "size",
            "tool": "tool",
        }.get(head) or _YES_NO_SEGMENT.get(head)
        if key is None:
            return None
        if head in _YES_NO_SEGMENT:
            if value not in ("yes", "no"):
                return None
            s[key] = value == "yes"
        else:
            s[key] = value.replace(" ", "-") if head == "lesion" else value
            if s[key] not in DOMAINS[key]:
                return None
    else:
        return None
    return s


@dataclass(frozen=True)
class Understood:
    """The question types an answer fits, best evidence first (none: no type fits)."""

    types: tuple[str, ...]
    kind: str = ""  # the grounding's kind; "" for an answer without grounding
    fits: tuple[str, ...] = ()  # every type of that kind whose options the answer names

    def words(self) -> str:
        """For the card: "Is the scope moving?" / "… or …" / "a question about …"."""
        if self.types:
            return " or ".join(f"“{plain(t)}”" for t in self.types[:3]) + (
                f" (or {len(self.types) - 3} more)" if len(self.types) > 3 else ""
            )
        if self.kind:
            about = KIND_WORDS.get(self.kind, self.kind)
            return f"a question about {about}, none of the 20 it answers"
        return "not clear: the answer fits none of the 20 questions"


def understood(grounding: str, answer: str) -> Understood:
    """The types a grounded answer fits: the grounding's kind, an option of the type, and (when
    the grounding states a fact) the answer that fact gives. Without a grounding, the types
    whose options the answer names."""
    kind = grounding_kind(grounding) if grounding.strip() else ""
    scene = implied_scene(grounding) if kind else None
    fits = []
    for t in TYPE_NAMES:
        if kind and kind not in _kinds(t):
            continue
        opt = extract_option(t, answer)
        if opt is not None:
            fits.append((t, opt))
    consistent = [
        t
        for t, opt in fits
        if scene is not None and (answer_of(t, scene) or "").lower() == opt.lower()
    ]
    every = tuple(t for t, _ in fits)
    return Understood(tuple(consistent) or every, kind, every)


@dataclass(frozen=True)
class Verdict:
    """What the card shows: what was understood, and each reference it is graded against."""

    understood: Understood
    graded: list[dict] = field(default_factory=list)  # {qtype, question, gold, correct}
    own: bool = False  # graded against the clip's own recorded question

    @property
    def correct(self) -> bool | None:
        """True / False when every reference agrees; None with no reference or a split verdict."""
        marks = {g["correct"] for g in self.graded}
        return marks.pop() if len(marks) == 1 else None


def _grade(rec: dict, answer: str) -> dict:
    return {
        "qtype": rec["question_type"],
        "question": rec["question"],
        "gold": rec["short_answer"],
        "correct": is_correct_strict(rec["question_type"], rec["short_answer"], answer),
    }


def judge(clip: Sequence[dict], grounding: str, answer: str, asked: dict | None = None) -> Verdict:
    """The verdict of an answer on a clip (its reference records). `asked`: the record whose
    recording was the question (the clip's own recording), graded whatever was understood."""
    u = understood(grounding, answer)
    if asked is not None:
        return Verdict(u, [_grade(asked, answer)], own=True)
    by_type = {r["question_type"]: r for r in clip}
    refs = [t for t in u.types if t in by_type]
    if not refs:  # an answer at odds with its own fact still answers a question of its kind
        refs = [t for t in u.fits if t in by_type]
        u = Understood(tuple(refs) or u.types, u.kind, u.fits)
    return Verdict(u, [_grade(by_type[t], answer) for t in refs])
