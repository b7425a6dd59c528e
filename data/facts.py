"""What a synthetic scene says: the values of its parameters, the answer each question type
reads from its pixels, its caption, and the caption segment an answer rests on.

    python -c "from data.facts import caption, grounding; help(grounding)"

The generator (data.synth, data.plan) draws scenes and records from these facts; training asks
for grounded answers with `grounding`, evaluation and the app check what was heard with `heard`
and `grounding_kind`. No torch.
"""

from __future__ import annotations

from data import scene as scn
from data.score import extract_option

DOMAINS: dict[str, tuple] = {
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
LESION_KEY = {
    "lesion_histology_extended": "histology",
    "lesion_motion_direction": "lesion_motion",
    "lesion_screen_position": "quadrant",
    "lesion_site": "site",
    "lesion_size_range": "size",
}
YES_NO_KEY = {
    "blue_dye_presence": "dye",
    "flush_action": "flush",
    "endoscope_visibility": "scope_visible",
    "nbi_status": "nbi",
}


def answer_of(qtype: str, s: dict) -> str | None:
    """The short answer the pixels of scene `s` give to `qtype`, or None if it is not askable."""
    normal = s["view"] == "normal"
    yn = lambda b: "yes" if b else "no"  # noqa: E731
    if qtype in LESION_KEY:
        return s[LESION_KEY[qtype]] if normal and s["lesion"] else None
    if qtype in YES_NO_KEY:
        return yn(s[YES_NO_KEY[qtype]]) if normal else None
    if qtype == "lighting_mode":
        return ("NBI" if s["nbi"] else "WL") if normal else None
    if qtype == "fluid_occlusion_level":
        return {"normal": "absent", "fluid": "complete"}.get(s["view"])
    if qtype == "mucosa_visibility":
        return yn(normal)
    if qtype == "occlusion_check":
        return {"normal": "no", "occluded": "yes"}.get(s["view"])
    if qtype == "scope_outside":
        return yn(s["view"] == "outside")
    moving = s["motion"] != "still"
    if qtype == "scope_motion":
        return yn(moving) if normal else None
    if qtype == "scope_forward_motion":
        return yn(s["motion"] == "advancing") if normal and moving else None
    if qtype == "scope_backward_motion":
        return yn(s["motion"] == "withdrawing") if normal and moving else None
    if qtype == "scope_motion_type":
        return s["motion"] if normal and moving else None
    if qtype == "tool_catheter_check":
        return yn(s["tool"] == "catheter") if normal and s["tool"] != "none" else None
    if qtype == "tool_identification":
        return s["tool"] if normal and s["tool"] != "none" else None
    raise KeyError(f"unknown question type {qtype!r}")


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
    ]
    return ". ".join(parts) + "."


# question type -> the caption segment that grounds its answer ("" = the caption's first one,
# which for a blocked or outside view is the whole caption)
GROUNDING = {
    **dict.fromkeys(
        ("fluid_occlusion_level", "mucosa_visibility", "occlusion_check", "scope_outside"), ""
    ),
    **dict.fromkeys(
        ("scope_motion", "scope_forward_motion", "scope_backward_motion", "scope_motion_type"),
        "scope ",
    ),
    "lesion_site": "site ",
    "lesion_screen_position": "lesion ",
    "lesion_motion_direction": "motion ",
    "lesion_size_range": "size ",
    "lesion_histology_extended": ("adenoma", "hyperplastic"),
    "tool_identification": "tool ",
    "tool_catheter_check": "tool ",
    "nbi_status": "nbi ",
    "lighting_mode": "nbi ",
    "blue_dye_presence": "dye ",
    "flush_action": "flush ",
    "endoscope_visibility": "shaft ",
}


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
    return "histology" if seg in GROUNDING["lesion_histology_extended"] else seg.split(" ")[0]


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
