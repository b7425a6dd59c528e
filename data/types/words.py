"""Words clinicians use for the same thing, shared by the sentence forms of several types.

Each type's own words sit in its forms (data/types/<family>.py); these recur across families:
the context a question is tagged with, the instrument, the finding, the accessory.
"""

from __future__ import annotations

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
