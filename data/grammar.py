"""A clinician's question language: hundreds of spoken wordings per question type (no torch).

    python -m data.grammar                      # wordings per type, and a few of each
    python -m data.grammar --type nbi_status    # every wording of one type

Twelve catalog phrasings per type teach a listener twelve sentences, not the words that name a
type. Here each type has sentence forms (templates) whose slots take the several words
clinicians use for the same thing in colonoscopy reports and guidelines: the instrument
(scope, endoscope, colonoscope), the finding (lesion, polyp, growth), chromoendoscopy (dye,
indigo carmine, methylene blue), irrigation (flushing, water jet), narrow band imaging (NBI),
the phases of the examination (insertion, withdrawal), colon segments, size brackets in
millimeters, screen quadrants and directions. The catalog stays the one definition of types
and options; its train phrasings are part of every pool.

Every wording asks only its own type: a type's forms use its own key words and never the words
that define a neighbour (a yes/no NBI question never says "white light" or "which", the
catheter check never names another tool, the yes/no scope-motion questions never name a
direction). Wordings have at most MAX_WORDS words (espeak at 135 wpm says them in under 4.5 s:
the demo encoder hears 5 s), and no wording is the catalog's held-out test phrasing of any type
or a near copy of its own type's (difflib over words, ratio >= NEAR), so the test split stays
unheard. Everything is a pure function of the code: same order, same draws, every run.
Most of its length is the tables (words and sentence forms of 20 types), read as data.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import re
import sys
from collections.abc import Iterable
from difflib import SequenceMatcher
from functools import cache

from data.catalog import CATALOG, PHRASINGS, TYPE_NAMES
from model.cli import boundary

TEST_PHRASING = 3  # the catalog phrasing held out for the test video, never in a pool
TRAIN_PHRASINGS = tuple(i for i in range(PHRASINGS) if i != TEST_PHRASING)
GRAMMAR_PHRASING = -1  # a record's `phrasing` when its wording is not a catalog phrasing
MAX_WORDS = 10
# Letters, the better predictor of spoken length: measured over all 11,369 wordings made before
# this bound (en-us+m1, 135 wpm), <= 45 letters lasted at most 4.1 s (the slowest train voice
# is up to 9% longer: 4.5 s); 56 letters lasted up to 4.8 s.
MAX_LETTERS = 45
NEAR = 0.7  # word-sequence similarity to the held-out wording at which a wording is dropped


def norm(text: str) -> str:
    """Lowercase, punctuation dropped (hyphens and apostrophes too), spaces collapsed."""
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower().replace("'", "")).split())


def letters(text: str) -> int:
    """Letters and digits of a wording: its spoken length, roughly."""
    return len(re.sub(r"[^a-z0-9]", "", text.lower()))


# Context phrases a clinician tags onto a question; "" asks without one.
CTX = (
    "",
    " here",
    " in these frames",
    " in this clip",
    " right now",
    " in this sequence",
    " at this point",
    " in this video",
    " at the moment",
)
CTX_PAST = ("", " here", " in these frames", " in this clip", " in this video")
CTX_SHORT = ("", " here", " in these frames", " in this clip", " right now", " in this video")

SCOPE = ("scope", "endoscope", "colonoscope")
SCOPE_CAM = (*SCOPE, "camera")
LESION = ("lesion", "polyp", "growth")
THE_LESION = ("the lesion", "the polyp", "this polyp", "this lesion", "the growth", "this growth")
TOOL = ("instrument", "tool", "device", "accessory")

# type -> (templates, slots). A template's {slot} takes every value of its slot; {ctx} one of
# the type's context phrases. The product of the slots gives the wordings.
IMPERATIVE = {"Tell", "Rate", "Grade", "Classify", "Estimate", "Identify", "Size"}

Forms = tuple[tuple[str, ...], dict[str, tuple[str, ...]]]

FORMS: dict[str, Forms] = {
    "blue_dye_presence": (
        (
            "Is there {dye} on {surface}{ctx}",
            "Has {dye} been {applied} {surface}",
            "Do you see {dye}{ctx}",
            "Can you see any {dye}{ctx}",
            "Is {dye} visible{ctx}",
            "Any {dye} on {surface}{ctx}",
            "Was {chromo} done{pctx}",
            "Has {surface} been stained with {dye}",
            "Does {surface} look {stained}{ctx}",
            "Are we doing {chromo}{ctx}",
            "Is {surface} {stained}{ctx}",
        ),
        {
            "dye": (
                "dye",
                "blue dye",
                "indigo carmine",
                "methylene blue",
                "contrast dye",
                "chromoendoscopy dye",
                "blue stain",
            ),
            "surface": ("the mucosa", "the colon wall", "the surface", "the lining"),
            "applied": ("applied to", "sprayed on"),
            "chromo": ("chromoendoscopy", "dye spraying", "dye staining"),
            "pctx": CTX_PAST,
            "stained": ("blue", "stained", "dyed", "stained blue", "stained with dye"),
            "ctx": CTX,
        },
    ),
    "endoscope_visibility": (
        (
            "Is the {scope} {part} visible{ctx}",
            "Can you see the {scope} {part}{ctx}",
            "Can you see the {part} of the {scope}{ctx}",
            "Does the {scope} {part} show{ctx}",
            "Is the {scope} itself visible{ctx}",
            "Is the {scope} itself in view{ctx}",
            "Do you see the {scope}'s own {part}{ctx}",
            "In retroflexion, is the {scope} {part} visible",
            "Is any part of the {scope} visible{ctx}",
            "Is the {part} of the {scope} in view{ctx}",
        ),
        {
            "scope": SCOPE,
            "part": ("shaft", "body", "insertion tube"),
            "ctx": CTX,
        },
    ),
    "fluid_occlusion_level": (
        (
            "How much of the view is {hidden} by {fluid}",
            "How much {fluid} is {covering} the view{ctx}",
            "How badly does {fluid} {obscure} the view{ctx}",
            "What is the {level} of {fluid} occlusion{ctx}",
            "How severe is the {fluid} occlusion{ctx}",
            "To what {extent} does {fluid} {obscure} the view",
            "Rate the {fluid} occlusion{ctx}",
            "Is the view fully {hidden} by {fluid} or clear",
            "Grade how much {fluid} {obscures} the view",
        ),
        {
            "fluid": (
                "fluid",
                "liquid",
                "fluid residue",
                "liquid stool",
                "bowel fluid",
                "murky fluid",
                "residual fluid",
            ),
            "hidden": ("covered", "hidden", "obscured", "blocked"),
            "covering": ("covering", "obscuring", "blocking", "hiding"),
            "obscure": ("obscure", "block", "cover", "hide"),
            "obscures": ("obscures", "blocks", "covers"),
            "level": ("level", "degree", "extent", "severity", "grade"),
            "extent": ("extent", "degree"),
            "ctx": CTX,
        },
    ),
    "flush_action": (
        (
            "Is the {who} {flushing}{ctx}",
            "Is {irrigation} {active}{ctx}",
            "Do you see {jet}{ctx}",
            "Is water being {sprayed}{ctx}",
            "Are we {flushing}{ctx}",
            "Any {any_jet}{ctx}",
            "Is there {jet}{ctx}",
        ),
        {
            "who": ("endoscopist", "doctor", "operator"),
            "flushing": (
                "flushing",
                "irrigating",
                "rinsing",
                "washing",
                "flushing water",
                "spraying water",
                "using the water jet",
                "washing the mucosa",
            ),
            "irrigation": ("irrigation", "flushing", "the water jet", "water irrigation"),
            "active": ("happening", "active", "in use", "running", "going on"),
            "jet": (
                "a water jet",
                "a jet of water",
                "irrigation",
                "flushing",
                "water spraying",
                "any rinsing",
            ),
            "sprayed": ("sprayed", "flushed", "squirted", "jetted"),
            "any_jet": ("flushing", "irrigation", "water jet", "rinsing", "water spraying"),
            "ctx": CTX,
        },
    ),
    "lesion_histology_extended": (
        (
            "Is {the_lesion} {adenomatous} or hyperplastic",
            "What is the {histology} of {the_lesion}{ctx}",
            "What {histology} does {the_lesion} have{ctx}",
            "Would you call {the_lesion} adenomatous or hyperplastic",
            "Does {the_lesion} look {adenomatous_look} or hyperplastic{ctx}",
            "Is {the_lesion} an adenoma or a hyperplastic polyp",
            "How would you classify {the_lesion} histologically",
            "Based on its surface, is {the_lesion} {adenomatous} or hyperplastic",
            "Classify the {histology} of {the_lesion}",
            "Which {histologic} {category} fits {the_lesion}",
            "Is {the_lesion} neoplastic or hyperplastic",
            "What is your optical diagnosis for {the_lesion}",
            "Adenoma or hyperplastic, what is {the_lesion}",
            "Pit pattern of {the_lesion}: adenoma or hyperplastic",
        ),
        {
            "the_lesion": THE_LESION,
            "adenomatous": ("adenomatous", "an adenoma"),
            "adenomatous_look": ("adenomatous", "like an adenoma"),
            "ctx": CTX_SHORT,
            "histology": (
                "histology",
                "likely histology",
                "predicted histology",
                "likely pathology",
                "tissue type",
                "histologic type",
            ),
            "histologic": ("histologic", "histological", "tissue"),
            "category": ("category", "type", "class"),
        },
    ),
    "lesion_motion_direction": (
        (
            "Which {direction} is {the_lesion} {moving}{mctx}",
            "In which direction does {the_lesion} {drift}{mctx}",
            "Where is {the_lesion} {moving} on the screen",
            "Does {the_lesion} {drift} up, down, left or right",
            "Is {the_lesion} stationary or {moving}{mctx}",
            "How does {the_lesion} {drift}{mctx}",
            "What is the {lesion}'s direction of {travel}{mctx}",
            "Tell me which way {the_lesion} {drifts}{mctx}",
        ),
        {
            "the_lesion": THE_LESION,
            "lesion": LESION,
            "direction": ("direction", "way"),
            "moving": ("moving", "drifting", "shifting", "travelling", "heading"),
            "drift": ("drift", "move", "shift", "travel"),
            "drifts": ("drifts", "moves", "shifts", "travels"),
            "travel": ("travel", "movement", "motion"),
            "mctx": (
                "",
                " across the frames",
                " over the clip",
                " on screen",
                " from frame to frame",
                " in this clip",
            ),
        },
    ),
    "lesion_screen_position": (
        (
            "Which {quadrant} of the {screen} {holds} {the_lesion}",
            "Where on the {screen} is {the_lesion}",
            "In which {screen} {quadrant} is {the_lesion}",
            "What {quadrant} of the {screen} is {the_lesion} in",
            "Where does {the_lesion} {sit} on the {screen}",
            "Where in the {screen} does {the_lesion} {sit}",
            "What is the {lesion}'s position on the {screen}",
            "Is {the_lesion} top or bottom, left or right",
            "Which {screen} {quadrant} contains {the_lesion}",
        ),
        {
            "the_lesion": THE_LESION,
            "lesion": LESION,
            "quadrant": ("quadrant", "corner"),
            "screen": ("screen", "image", "picture", "monitor", "frame"),
            "holds": ("holds", "contains", "shows"),
            "sit": ("sit", "appear", "lie"),
        },
    ),
    "lesion_site": (
        (
            "In which {segment} of the {colon} is {the_lesion}{sctx}",
            "Which {colon} {segment} is {the_lesion} in",
            "Where in the {colon} was {the_lesion} {seen}",
            "Is {the_lesion} rectal, sigmoid, ascending or descending",
            "Where in the {colon} is {the_lesion} {found}",
            "What is the anatomical {site} of {the_lesion}",
            "Is {the_lesion} in the rectum, sigmoid, ascending or descending",
            "Which part of the {colon} {holds} {the_lesion}",
            "Tell me the anatomical {site} of {the_lesion}",
            "Which colonic segment {holds} {the_lesion}",
            "In what {colon} {segment} was {the_lesion} found",
        ),
        {
            "the_lesion": THE_LESION,
            "segment": ("segment", "part", "section"),
            "colon": ("colon", "bowel"),  # not "large bowel": "large" asks a size
            "found": ("", "located", "found"),
            "site": ("site", "location", "segment"),
            "holds": ("holds", "contains", "has"),
            "seen": ("seen", "spotted", "found"),
            "sctx": ("", " here", " in this clip", " in this video"),
        },
    ),
    "lesion_size_range": (
        (
            "How {big} is {the_lesion}{mm}{ctx}",
            "What size is {the_lesion}{mm}{ctx}",
            "What does {the_lesion} measure{mm}",
            "Is {the_lesion} under five, five to nine, or bigger",
            "Estimate the size of {the_lesion}{mm}",
            "How many millimeters across is {the_lesion}",
            "How many millimeters does {the_lesion} measure",
            "What size {bracket} does {the_lesion} fall in",
            "Is {the_lesion} diminutive, small or large",
            "Roughly how {big} is {the_lesion}{ctx}",
            "Size {the_lesion} for me, in millimeters",
            "Which size {bracket} fits {the_lesion}",
        ),
        {
            "the_lesion": THE_LESION,
            "big": ("big", "large"),
            "mm": ("", " in millimeters", " in mm"),
            "bracket": ("bracket", "range", "category", "class", "group"),
            "ctx": CTX_SHORT,
        },
    ),
    "lighting_mode": (
        (
            "Which {light} {mode} is {on}{ctx}",
            "What {light} {mode} is the {scope} using",
            "Is this white light or {nbi}{ctx}",
            "White light or {nbi}{ctx}",
            "Are we in white light or {nbi}{ctx}",
            "Tell me the {light} {mode}{ctx}",
            "Which {light} is the {scope} using{ctx}",
            "What {light} {mode} are we using{ctx}",
        ),
        {
            "light": ("light", "lighting", "illumination", "imaging"),
            "mode": ("mode", "modality", "setting"),
            "on": ("on", "active", "in use", "selected"),
            "nbi": ("NBI", "narrow band imaging", "narrow band"),
            "scope": SCOPE,
            "ctx": CTX_SHORT,
        },
    ),
    "mucosa_visibility": (
        (
            "Is the {mucosa} {visible}{ctx}",
            "Can you see the {mucosa} clearly{ctx}",
            "Is there a clear view of the {mucosa}{ctx}",
            "Do you have a clean view of the {mucosa}{ctx}",
            "Can the {mucosa} be assessed{ctx}",
            "Is clean {mucosa} in view{ctx}",
            "Do we see clean {mucosa}{ctx}",
        ),
        {
            "mucosa": (
                "mucosa",
                "mucosal surface",
                "colon wall",
                "bowel wall",
                "lining",
                "colonic mucosa",
            ),
            "visible": (
                "clearly visible",
                "clearly seen",
                "in clear view",
                "well seen",
                "well visualized",
                "clean and visible",
            ),
            "ctx": CTX,
        },
    ),
    "nbi_status": (
        (
            "Is {nbi} {on}{ctx}",
            "Are we using {nbi}{ctx}",
            "Was {nbi} used{pctx}",
            "Has the {scope} been switched to {nbi}",
            "Is the {scope} using {nbi}{ctx}",
            "Are these frames {taken} in {nbi}",
            "Is this view in {nbi}",
            "Do these frames look like {nbi}",
            "Are we in {nbi}{ctx}",
        ),
        {
            "nbi": (
                "NBI",
                "narrow band imaging",
                "narrow band light",
                "NBI mode",
                "narrow band mode",
            ),
            "on": ("on", "active", "switched on", "turned on", "engaged", "in use", "enabled"),
            "scope": SCOPE,
            "taken": ("taken", "captured", "recorded", "shot"),
            "pctx": CTX_PAST,
            "ctx": CTX,
        },
    ),
    "occlusion_check": (
        (
            "Is the {lens} {blocked}{ctx}",
            "Is something {pressed} against the {tip}{ctx}",
            "Is anything {blocking} the {lens}{ctx}",
            "Is the view {blocked} close up{ctx}",
            "Does a close-up obstruction {hide} the view",
            "Is there an obstruction in front of the {tip}",
            "Is the {tip} up against the wall{ctx}",
            "Is this a red-out view{ctx}",
            "Is the {tip} touching the wall{ctx}",
        ),
        {
            "lens": ("lens", "camera", "view", "field of view"),
            "tip": ("lens", "camera", "scope tip"),
            "blocked": ("blocked", "obstructed", "covered", "occluded"),
            "pressed": ("pressed", "pushed", "stuck", "sitting"),
            "blocking": ("blocking", "covering", "obstructing"),
            "hide": ("hide", "block", "cover"),
            "ctx": CTX,
        },
    ),
    "scope_backward_motion": (
        (
            "Is the {scope} {withdrawing}{ctx}",
            "Are we {pulling_back}{ctx}",
            "Does the {scope} {pull_back}{ctx}",
            "Is the {scope} being {pulled_back}{ctx}",
            "Is this the withdrawal phase{ctx}",
            "Are we on the way back{ctx}",
            "Is the {scope} on its way out{ctx}",
        ),
        {
            "scope": SCOPE_CAM,
            "withdrawing": (
                "withdrawing",
                "pulling back",
                "retracting",
                "moving backward",
                "coming back",
                "backing out",
            ),
            "pulling_back": ("withdrawing", "pulling back", "backing out", "retracting"),
            "pull_back": ("pull back", "withdraw", "retract", "move backward", "back out"),
            "pulled_back": ("withdrawn", "pulled back", "retracted", "drawn back"),
            "ctx": CTX,
        },
    ),
    "scope_forward_motion": (
        (
            "Is the {scope} {advancing}{ctx}",
            "Are we {advancing_we}{ctx}",
            "Does the {scope} {advance}{ctx}",
            "Is the {scope} being {advanced}{ctx}",
            "Is this the insertion phase{ctx}",
            "Is the {scope} going deeper into the colon",
            "Are we heading toward the cecum{ctx}",
        ),
        {
            "scope": SCOPE_CAM,
            "advancing": (
                "advancing",
                "pushing forward",
                "moving forward",
                "going deeper",
                "pushing in",
                "moving ahead",
            ),
            "advancing_we": ("advancing", "pushing in", "going deeper", "moving forward"),
            "advance": ("advance", "push forward", "move forward", "go deeper", "push in"),
            "advanced": ("advanced", "pushed forward", "inserted", "pushed in"),
            "ctx": CTX,
        },
    ),
    "scope_motion": (
        (
            "Is the {scope} {moving}{ctx}",
            "Is there any {scope} {movement}{ctx}",
            "Does the {scope} move at all{ctx}",
            "Does the {scope} move{ctx}",
            "Any {scope} {movement}{ctx}",
            "Has the {scope} moved{pctx}",
            "Is the {scope} being moved{ctx}",
        ),
        {
            "scope": SCOPE_CAM,
            "moving": ("moving", "in motion", "moving at all"),
            "movement": ("movement", "motion"),
            "pctx": CTX_PAST,
            "ctx": CTX,
        },
    ),
    "scope_motion_type": (
        (
            "Is the {scope} {advancing} or {withdrawing}{ctx}",
            "{Advancing} or {withdrawing}{ctx}",
            "Are we going in or coming out{ctx}",
            "Is this insertion or withdrawal{ctx}",
            "Which direction is the {scope} {moving}{ctx}",
            "Which way is the {scope} {moving}{ctx}",
            "In or out, which way is the {scope} going",
            "What kind of {scope} movement is this",
        ),
        {
            "scope": SCOPE_CAM,
            "advancing": ("advancing", "going in", "pushing in", "moving forward"),
            "Advancing": ("Advancing", "Going in", "Pushing in", "Moving forward", "Inserting"),
            "withdrawing": ("withdrawing", "pulling back", "coming out", "moving backward"),
            "moving": ("moving", "going", "heading", "travelling"),
            "ctx": CTX_SHORT,
        },
    ),
    "scope_outside": (
        (
            "Is the {scope} {outside} the {patient}{ctx}",
            "Has the {scope} been {removed} the {patient}",
            "Has the {scope} left the {patient}{pctx}",
            "Is the {scope} already {outside} the {patient}",
            "Are these {frames} from outside the {patient}",
            "Are we outside the {patient}{ctx}",
            "Are we out of the {patient}{ctx}",
            "Is the {scope} no longer inside the {patient}",
            "Is this {footage} from outside the {patient}",
            "Was this {recorded} outside the {patient}",
            "Is the {scope} out in the room{ctx}",
            "Are we seeing the room outside the {patient}",
        ),
        {
            "scope": SCOPE_CAM,
            "outside": ("outside", "out of"),
            "patient": ("patient", "body"),
            "removed": ("removed from", "taken out of"),
            "pctx": CTX_PAST,
            "footage": ("footage", "view", "recording", "clip", "image"),
            "frames": ("frames", "images", "pictures"),
            "recorded": ("recorded", "filmed", "taken", "captured"),
            "ctx": CTX,
        },
    ),
    "tool_catheter_check": (
        (
            "Is the {tool} {shown} {a_catheter}",
            "Does the {tool} look like {a_catheter}{ctx}",
            "Is {a_catheter} {visible}{ctx}",
            "Do you see {a_catheter}{ctx}",
            "Can you see {a_catheter}{ctx}",
            "Is that {a_catheter}{ctx}",
            "Is there {a_catheter} through the channel{ctx}",
            "Could that {tool} be a catheter{ctx}",
            "Has {a_catheter} been passed{pctx}",
            "Are we using {a_catheter}{ctx}",
        ),
        {
            "tool": TOOL,
            "shown": ("", "here", "in view", "on screen", "we see"),
            "a_catheter": ("a catheter", "an injection catheter"),
            "pctx": CTX_PAST,
            "visible": ("visible", "in view", "in use", "being used", "present", "out"),
            "ctx": CTX,
        },
    ),
    "tool_identification": (
        (
            "Which {tool} is {visible}{ctx}",
            "What {tool} is {visible}{ctx}",
            "What {tool} is through the {channel}",
            "Identify the {tool}{ctx}",
            "Is that a snare, forceps or catheter",
            "Snare, forceps or catheter{ctx}",
            "What {tool} do you see{ctx}",
            "Tell me which {tool} is {visible}",
            "What kind of {tool} is {visible}",
        ),
        {
            "tool": TOOL,
            "visible": ("visible", "in view", "in use", "being used", "out"),
            "channel": ("channel", "working channel", "scope"),
            "ctx": CTX_SHORT,
        },
    ),
}


def _expand(template: str, slots: dict[str, tuple[str, ...]]) -> Iterable[str]:
    names = list(dict.fromkeys(re.findall(r"{(\w+)}", template)))
    for values in itertools.product(*(slots[n] for n in names)):
        text = template.format(**dict(zip(names, values, strict=True)))
        text = " ".join(text.split())
        if re.search(r"\b(\w+) \1\b", text.lower()):  # "pushing in in this clip"
            continue
        yield text[0].upper() + text[1:] + ("." if text.split()[0] in IMPERATIVE else "?")


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).split()


def _near(text: str, held: list[str]) -> bool:
    return SequenceMatcher(None, _words(text), held).ratio() >= NEAR


@cache
def _forms() -> dict[str, tuple[tuple[str, ...], ...]]:
    """type -> its wordings grouped by sentence form: the catalog's train phrasings first, then
    one group per template (wordings kept where first made; empty groups dropped)."""
    if set(FORMS) != set(TYPE_NAMES):
        raise AssertionError(
            f"grammar types differ from the catalog: {set(FORMS) ^ set(TYPE_NAMES)}"
        )
    held_out = {norm(CATALOG[t].phrasings[TEST_PHRASING]) for t in TYPE_NAMES}
    out = {}
    for name in TYPE_NAMES:
        held = _words(CATALOG[name].phrasings[TEST_PHRASING])
        templates, slots = FORMS[name]
        made = [tuple(CATALOG[name].phrasings[i] for i in TRAIN_PHRASINGS)]
        made += [
            tuple(w for w in _expand(t, slots) if letters(w) <= MAX_LETTERS) for t in templates
        ]
        seen, groups = set(), []
        for group in made:
            keep = []
            for w in group:
                n = norm(w)
                if n in seen or n in held_out or _near(w, held):
                    continue
                if group is not made[0] and len(n.split()) > MAX_WORDS:  # catalog: as written
                    continue
                seen.add(n)
                keep.append(w)
            if keep:
                groups.append(tuple(keep))
        out[name] = tuple(groups)
    return out


def forms(qtype: str) -> tuple[tuple[str, ...], ...]:
    """The wordings of `qtype` grouped by sentence form (the catalog's train phrasings first)."""
    f = _forms()
    if qtype not in f:
        raise KeyError(f"unknown question type {qtype!r}; known: {', '.join(TYPE_NAMES)}")
    return f[qtype]


def wordings(qtype: str) -> tuple[str, ...]:
    """Every wording of `qtype`, in a fixed order: the catalog's train phrasings first."""
    return tuple(w for group in forms(qtype) for w in group)


def draw(qtype: str, key: str, seed: int = 0) -> str:
    """One wording of `qtype` for a record key: a pure function of (qtype, key, seed). The
    sentence form is drawn first, evenly, then a wording of it, so forms with many slot values
    do not crowd out the short ones."""
    groups = forms(qtype)
    h = hashlib.sha256(f"{seed}|{qtype}|{key}".encode()).digest()
    group = groups[int.from_bytes(h[:8], "little") % len(groups)]
    return group[int.from_bytes(h[8:16], "little") % len(group)]


# What people say around a question. Each kind has train phrases and a held-out slice that no
# training question carries (the clinic-conditions test speaks those: data.conditions).
LEAD_INS = (
    "Right,",
    "So,",
    "Alright, next one.",
    "While we are here,",
    "Okay,",
    "Now,",
    "And",
    # sentences before the question, as long as the held-out ones
    "Right, let's have a look at this one.",
    "Alright, one more thing I want to know.",
    "So, before we go any further.",
    "Okay, I have a question about this clip.",
)
LEAD_INS_HELD = ("Okay team, quick question before we move on.", "Let me ask you something.")
FILLERS = ("um", "uh", "er")
FILLERS_HELD = ("hmm", "you know")
POLITE = ("Could you tell me", "Please tell me", "Can you tell me")
TWO_PART = ("Look at the frames.", "Have a look at this clip.", "Check the image.")
TAGS = ("right?", "yeah?")
NATURAL_KINDS = ("bare", "lead_in", "filler", "polite", "two_part", "tag", "false_start")
YES_NO_START = ("is", "are", "do", "does", "has", "have", "can", "was", "were", "any")


def _pick(options: tuple[str, ...], h: bytes, at: int) -> str:
    return options[int.from_bytes(h[at : at + 4], "little") % len(options)]


def say(question: str, kind: str, h: bytes = bytes(16), held: bool = False) -> str:
    """`question` as a person says it: with a lead-in, a filler, politeness, a two-part form, a
    tag or a false start (`kind`, one of NATURAL_KINDS; `h` picks the phrase). held: the
    held-out lead-ins and fillers, never used in training."""
    words = question.split()
    first = words[0].lower()
    body = first + (" " + " ".join(words[1:]) if len(words) > 1 else "")
    if kind == "bare":
        return question
    if kind == "lead_in":  # a lead-in that ends a sentence leaves the question capitalised
        lead = _pick(LEAD_INS_HELD if held else LEAD_INS, h, 0)
        return f"{lead} {question if lead.endswith('.') else body}"
    if kind == "filler":  # "Um, is the scope ..." or "Is the, uh, scope ..."
        fill = _pick(FILLERS_HELD if held else FILLERS, h, 0)
        cut = 1 + int.from_bytes(h[4:8], "little") % max(1, min(3, len(words) - 1))
        if h[8] % 2 or len(words) < 2:
            return f"{fill.capitalize()}, {body}"
        return f"{' '.join(words[:cut])}, {fill}, {' '.join(words[cut:])}"
    if kind == "polite" and words[0] in IMPERATIVE:  # "Grade the fluid, please."
        return f"{question.rstrip('?.')}, please."
    if kind == "polite":  # "Could you tell me, is the scope moving?"
        return f"{_pick(POLITE, h, 0)}, {body}"
    if kind == "two_part":
        return f"{_pick(TWO_PART, h, 0)} {question}"
    if kind == "tag" and first in YES_NO_START:  # only a yes/no question takes a tag
        return f"{question.rstrip('?.')}, {_pick(TAGS, h, 0)}"
    if kind == "false_start" and len(words) >= 3:  # "Is the, is the scope moving?"
        return f"{words[0]} {words[1].rstrip(',')}, {body}"
    return question


def natural(question: str, key: str, seed: int = 0) -> str:
    """A training question as people say it: bare half the time, else one natural kind drawn
    for the record key (a pure function of question, key and seed)."""
    h = hashlib.sha256(f"{seed}|natural|{key}".encode()).digest()
    if h[0] % 2 == 0:
        return question
    return say(question, NATURAL_KINDS[1 + h[1] % (len(NATURAL_KINDS) - 1)], h[2:18])


def phrasing_index(qtype: str, text: str) -> int:
    """The catalog phrasing `text` is (case and punctuation ignored), else GRAMMAR_PHRASING."""
    phrasings = [norm(p) for p in CATALOG[qtype].phrasings]
    n = norm(text)
    return phrasings.index(n) if n in phrasings else GRAMMAR_PHRASING


@boundary
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--type", choices=TYPE_NAMES, help="print every wording of one type")
    p.add_argument("--show", type=int, default=3, help="wordings shown per type (summary)")
    a = p.parse_args(argv)
    if a.type:
        print("\n".join(wordings(a.type)))
        return 0
    for name in TYPE_NAMES:
        pool = wordings(name)
        print(f"{name:27s} {len(pool):5d}  " + " | ".join(pool[len(pool) // 2 :][: a.show]))
    print(f"total {sum(len(wordings(t)) for t in TYPE_NAMES)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
