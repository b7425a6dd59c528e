"""A question type is one record: everything the project knows about it, in one place.

    python -c "from data.catalog import get; print(get('lesion_site').needs)"

A QuestionType says what it asks (its options and their long answers, its phrasings, the
sentence forms of its question language), which scene values give each option (`needs`: the
plan builds clips from it, data.facts reads answers off it), and which caption segment
grounds its answer. A type that reads something the renderer does not draw yet brings its
Cue: the scene parameter's values, how often each is drawn, its caption segment and how it
is painted. The modules of this package hold the types by family; data.catalog registers
them. The stranger's hand-written wordings (data.stranger) stay apart: they are held out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

YES_NO = "yes_no"
CHOICE = "choice"

Forms = tuple[tuple[str, ...], dict[str, tuple[str, ...]]]  # sentence templates, slot words
Needs = Mapping[str, set]  # scene key -> the values it may take
CLEAR: Needs = {"view": {"normal"}}  # a clear view inside the patient
ON_LESION: Needs = {**CLEAR, "lesion": {True}}  # a clear view of a lesion


@dataclass(frozen=True)
class Cue:
    """A scene parameter the built-in renderer does not know, brought by the type that asks
    about it. Drawn in a clear view only, after every built-in parameter."""

    key: str  # the scene dict's key
    values: tuple  # its domain, in a fixed order
    segment: Callable[[Any], str]  # value -> its caption segment, e.g. "blood yes"
    paint: Callable[..., list]  # (frames (float HxWx3 in [0, 1]), value, rng, size) -> frames
    weights: dict = field(default_factory=dict)  # value -> draw weight (absent: 1)
    off: Any = None  # its value where the view is blocked or outside


# identity equality: records are hashable, so pools built from them can be cached by record
@dataclass(frozen=True, eq=False)
class QuestionType:
    name: str
    kind: str  # YES_NO or CHOICE
    options: tuple[str, ...]  # canonical short answers, in a fixed order
    phrasings: tuple[str, ...]  # spoken question wordings; [0] is the benchmark's
    answers: dict[str, str]  # option -> long answer
    # option -> the scene values that give it (disjoint per option); or a function of the
    # options that makes it (`each`)
    needs: dict[str, Needs]
    grounding: str | tuple[str, ...]  # caption segment prefix; "" the first; a tuple: exact ones
    forms: Forms  # the question language's sentence forms (data.grammar)
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # other spellings
    cue: Cue | None = None
    plain: str = ""  # the type in a clinician's words, as the app lists it; "" for its name

    def __post_init__(self) -> None:
        if callable(self.needs):
            object.__setattr__(self, "needs", self.needs(self.options))
        for what in ("answers", "needs"):
            if set(getattr(self, what)) != set(self.options):
                raise ValueError(f"{self.name}: {what} must cover the options {self.options}")

    @property
    def is_yes_no(self) -> bool:
        return self.kind == YES_NO

    def requirement(self, option: str) -> dict[str, set]:
        """The scene values `option` needs (a fresh copy); unconstrained keys are absent."""
        return {k: set(v) for k, v in self.needs[option].items()}

    def answer(self, scene: Mapping) -> str | None:
        """The option whose needs `scene` meets, or None where the type is not askable."""
        hits = [
            o for o, need in self.needs.items() if all(scene.get(k) in v for k, v in need.items())
        ]
        if len(hits) > 1:
            raise ValueError(f"{self.name}: options {hits} all fit the scene: needs overlap")
        return hits[0] if hits else None


def yes_no(name: str, phrasings: tuple[str, ...], yes: str, no: str, **rest) -> QuestionType:
    return QuestionType(name, YES_NO, ("no", "yes"), phrasings, {"yes": yes, "no": no}, **rest)


def flag(key: str) -> dict[str, Needs]:
    """A yes/no type that reads one boolean scene value in a clear view."""
    return {"no": {**CLEAR, key: {False}}, "yes": {**CLEAR, key: {True}}}


def each(key: str, where: Needs) -> Callable[[tuple], dict[str, Needs]]:
    """A type whose option is the value of `key` itself, asked `where` (a clear view, a lesion)."""
    return lambda options: {o: {**where, key: {o}} for o in options}
