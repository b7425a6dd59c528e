"""The 20 SurgViVQA question types: kind, answer options, phrasings and long-answer templates.

The options of each type come from the real annotations (question_types.json of the public
benchmark) plus documented extras where the real data shows only one class (see EXTRA_SOURCES).
Phrasing 0 of every type is the benchmark's own wording; the others are ours, so a model can be
tested on a phrasing it never heard in training (data.plan keeps phrasing 3 for the test video).
Every type has the same number of phrasings: varied sentence forms over the words a clinician
uses (dye, scope, lens, quadrant, millimeters...), so a listener learns the words, not one form.
A table of 20 entries, read as data: hence its length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

YES_NO = "yes_no"
CHOICE = "choice"


@dataclass(frozen=True)
class QuestionType:
    name: str
    kind: str  # YES_NO or CHOICE
    options: tuple[str, ...]  # canonical short answers, in a fixed order
    phrasings: tuple[str, ...]  # spoken question wordings; [0] is the benchmark's
    answers: dict[str, str] = field(default_factory=dict)  # option -> long answer template
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # option -> other spellings

    @property
    def is_yes_no(self) -> bool:
        return self.kind == YES_NO


def _yn(name: str, phrasings: tuple[str, ...], yes: str, no: str) -> QuestionType:
    return QuestionType(name, YES_NO, ("no", "yes"), phrasings, {"yes": yes, "no": no})


TYPES: tuple[QuestionType, ...] = (
    _yn(
        "blue_dye_presence",
        (
            "Is contrast dye visible on the mucosal surface?",
            "Has blue dye been applied to the mucosa?",
            "Do you see any blue staining on the colon wall?",
            "Is there chromoendoscopy dye in view?",
            "Has the mucosa been stained with dye?",
            "Can you see dye on the colon wall?",
            "Is any blue contrast staining present?",
            "Was chromoendoscopy used on this surface?",
            "Does the mucosa look blue from dye spraying?",
            "Tell me if there is dye on the tissue.",
            "Is the surface stained blue?",
            "Any dye visible in these frames?",
        ),
        "Yes, blue dye is visible on the mucosa.",
        "No, no dye is visible on the mucosa.",
    ),
    _yn(
        "endoscope_visibility",
        (
            "Is the endoscope body visible?",
            "Can you see the shaft of the endoscope?",
            "Does the endoscope itself appear in the frames?",
            "Is the scope body in view?",
            "Can you see the endoscope body in this clip?",
            "Is part of the scope visible in the image?",
            "Does the shaft of the scope show up on screen?",
            "Tell me if the endoscope body shows on screen.",
            "Is the scope itself visible here?",
            "Do the frames show the body of the endoscope?",
            "Is the endoscope shaft in the picture?",
            "Any part of the scope body visible?",
        ),
        "Yes, the endoscope body is visible in the frames.",
        "No, the endoscope body is not visible.",
    ),
    QuestionType(
        "fluid_occlusion_level",
        CHOICE,
        ("absent", "complete"),
        (
            "How severe is the fluid-based occlusion?",
            "How much of the view is covered by fluid?",
            "Is fluid blocking the view completely or not at all?",
            "What is the level of fluid occlusion?",
            "How much fluid is covering the view?",
            "Is the view blocked by fluid, and how badly?",
            "How complete is the occlusion by fluid?",
            "Rate the fluid occlusion in these frames.",
            "Does fluid obscure the view completely?",
            "What level of fluid blocks the camera?",
            "Is the field of view absent of fluid or fully covered?",
            "How much of the image is hidden by fluid?",
        ),
        {
            "absent": "Fluid occlusion is absent and clean mucosa stays visible.",
            "complete": "Fluid occlusion completely obscures the view.",
        },
        {"absent": ("none", "no occlusion"), "complete": ("completely", "full", "fully")},
    ),
    _yn(
        "flush_action",
        (
            "Is the endoscopist flushing the scene in these frames?",
            "Is water being sprayed to clean the view?",
            "Do you see a water jet in this clip?",
            "Is the area being irrigated right now?",
            "Is water being flushed in these frames?",
            "Is the endoscopist irrigating the mucosa?",
            "Do you see flushing in this clip?",
            "Is there a water jet cleaning the view?",
            "Is irrigation happening in these frames?",
            "Tell me if the scene is being flushed.",
            "Is the scope spraying water right now?",
            "Any flushing of the scene here?",
        ),
        "Yes, the endoscopist is flushing the scene.",
        "No, there is no flushing observed.",
    ),
    QuestionType(
        "lesion_histology_extended",
        CHOICE,
        ("adenoma", "hyperplastic"),
        (
            "Which histologic category matches the lesion?",
            "What is the likely histology of this polyp?",
            "Does the lesion look adenomatous or hyperplastic?",
            "Which tissue type best describes the lesion?",
            "What histology does this lesion have?",
            "Is the polyp an adenoma or hyperplastic?",
            "Which histological type is this lesion?",
            "Tell me the histology of the lesion.",
            "What kind of tissue is the polyp made of?",
            "Is this lesion adenomatous?",
            "Classify the histology of this polyp.",
            "Which histologic class fits the polyp best?",
        ),
        {
            "adenoma": "Histology corresponds to adenoma.",
            "hyperplastic": "Histology corresponds to hyperplastic.",
        },
        {"adenoma": ("adenomatous",), "hyperplastic": ("hyperplasia",)},
    ),
    QuestionType(
        "lesion_motion_direction",
        CHOICE,
        ("down", "left", "right", "stable", "up"),
        (
            "In which direction does the lesion drift over the frames?",
            "Where is the lesion moving on the screen?",
            "Which way does the polyp move across the clip?",
            "How does the lesion shift from the first to the last frame?",
            "Which direction is the lesion moving?",
            "Does the lesion move up, down, left or right?",
            "How is the polyp drifting across the screen?",
            "Tell me the direction of the lesion's movement.",
            "Where does the lesion go from frame to frame?",
            "Is the lesion moving or staying stable on screen?",
            "In what direction does the polyp shift?",
            "What is the motion direction of the lesion?",
        ),
        {
            "down": "The lesion shifts downward across the frames.",
            "left": "The lesion drifts toward the left side of the screen.",
            "right": "The lesion drifts toward the right side of the screen.",
            "stable": "The lesion stays stable without noticeable movement.",
            "up": "The lesion shifts upward across the frames.",
        },
        {
            "down": ("downward", "downwards"),
            "up": ("upward", "upwards"),
            "stable": ("still", "static", "stationary"),
            "left": ("leftward",),
            "right": ("rightward",),
        },
    ),
    QuestionType(
        "lesion_screen_position",
        CHOICE,
        ("lower-left", "lower-right", "upper-left", "upper-right"),
        (
            "In what screen quadrant does the lesion appear?",
            "Where on the screen is the lesion?",
            "Which corner of the image holds the polyp?",
            "In which part of the frame is the lesion located?",
            "Which quadrant of the screen shows the lesion?",
            "Where in the image is the lesion?",
            "Is the lesion in the upper or lower part of the image?",
            "Tell me which corner of the frame the lesion is in.",
            "In which screen corner is the polyp located?",
            "Where on the image does the polyp sit?",
            "Which quadrant of the frame holds the lesion?",
            "Is the lesion on the left or right of the screen?",
        ),
        {
            "lower-left": "The lesion appears in the lower-left quadrant of the screen.",
            "lower-right": "The lesion appears in the lower-right quadrant of the screen.",
            "upper-left": "The lesion appears in the upper-left quadrant of the screen.",
            "upper-right": "The lesion appears in the upper-right quadrant of the screen.",
        },
        {
            "lower-left": ("lower left", "bottom left", "bottom-left"),
            "lower-right": ("lower right", "bottom right", "bottom-right"),
            "upper-left": ("upper left", "top left", "top-left"),
            "upper-right": ("upper right", "top right", "top-right"),
        },
    ),
    QuestionType(
        "lesion_site",
        CHOICE,
        ("ascending", "descending", "rectum", "sigma"),
        (
            "At which anatomical site is the lesion located?",
            "In which segment of the colon is the lesion?",
            "Where in the bowel was this lesion found?",
            "Which colon segment does this clip show the lesion in?",
            "Which part of the colon is the lesion in?",
            "What anatomical site does the lesion sit in?",
            "Where in the colon is this polyp?",
            "Tell me the colon segment of the lesion.",
            "Is the lesion in the rectum, sigma, ascending or descending colon?",
            "Which bowel segment holds this polyp?",
            "What is the anatomical location of the lesion in the colon?",
            "In which part of the bowel is the lesion located?",
        ),
        {
            "ascending": "The lesion is located in the ascending.",
            "descending": "The lesion is located in the descending.",
            "rectum": "The lesion is located in the rectum.",
            "sigma": "The lesion is located in the sigma.",
        },
        {"sigma": ("sigmoid",), "rectum": ("rectal",)},
    ),
    QuestionType(
        "lesion_size_range",
        CHOICE,
        ("<5", "5-9", ">9"),
        (
            "Into which millimeter bracket does the lesion size fall?",
            "How large is the lesion?",
            "What size range fits this polyp?",
            "Is the lesion small, medium or large in millimeters?",
            "What size is the lesion in millimeters?",
            "How big is the polyp?",
            "Which size range does the lesion fall in?",
            "Tell me the size of the lesion.",
            "Is the polyp under five millimeters, five to nine, or larger?",
            "How many millimeters does the lesion measure?",
            "What is the size bracket of this lesion?",
            "Is this polyp small or large?",
        ),
        {
            "<5": "The lesion is <5 mm.",
            "5-9": "The lesion is 5-9 mm.",
            ">9": "The lesion is >9 mm.",
        },
        {
            "<5": ("less than 5", "under 5", "smaller than 5", "below 5"),
            "5-9": ("5 to 9", "between 5 and 9"),
            ">9": ("more than 9", "over 9", "larger than 9", "above 9", "at least 10"),
        },
    ),
    QuestionType(
        "lighting_mode",
        CHOICE,
        ("NBI", "WL"),
        (
            "What lighting modality illuminates this sequence?",
            "Which light mode is the scope using?",
            "Is this white light or narrow band imaging?",
            "What kind of illumination is on in these frames?",
            "What kind of light is the scope using?",
            "Which illumination mode is active in this clip?",
            "Is the lighting white light or NBI?",
            "Tell me the lighting mode of these frames.",
            "What illumination does this sequence use?",
            "Which light source is active?",
            "What type of lighting is used here?",
            "Which lighting modality is on in this clip?",
        ),
        {"NBI": "NBI light is on in this sequence.", "WL": "WL light is on in this sequence."},
        {"NBI": ("narrow band", "narrow-band"), "WL": ("white light", "white-light")},
    ),
    _yn(
        "mucosa_visibility",
        (
            "Can you clearly observe clean mucosa in these frames?",
            "Is the colon wall clearly visible?",
            "Do the frames show clean mucosa?",
            "Is the mucosal surface in clear view?",
            "Is clean mucosa visible in this clip?",
            "Can you see the mucosa clearly?",
            "Is the colon wall in clear view here?",
            "Tell me if the mucosa is clearly visible.",
            "Do these frames show a clear view of the mucosa?",
            "Is the mucosa clean and visible?",
            "Can the colon wall be seen clearly in these frames?",
            "Is there clear mucosa on screen?",
        ),
        "Yes, clean mucosa is visible across frames.",
        "No, clean mucosa is not consistently visible.",
    ),
    _yn(
        "nbi_status",
        (
            "Are these frames captured using NBI mode?",
            "Is narrow band imaging switched on?",
            "Is the scope in NBI mode here?",
            "Was this clip recorded with narrow band light?",
            "Is NBI on in these frames?",
            "Was narrow band imaging used in this clip?",
            "Is the scope using narrow band light?",
            "Tell me if NBI mode is active.",
            "Is this sequence in NBI?",
            "Has narrow band imaging been switched on here?",
            "Are the frames taken with NBI light?",
            "Is NBI mode on right now?",
        ),
        "Yes, NBI light is on in these frames.",
        "No, WL light is on instead.",
    ),
    _yn(
        "occlusion_check",
        (
            "Does a close-up obstruction block the field of view?",
            "Is the view blocked by something very close to the lens?",
            "Is the camera obstructed in these frames?",
            "Is something covering the lens?",
            "Is the view obstructed by something close to the lens?",
            "Is anything blocking the camera?",
            "Does an obstruction cover the field of view?",
            "Tell me if the lens is blocked.",
            "Is the camera covered by something close up?",
            "Is the field of view blocked in these frames?",
            "Is there an obstruction right in front of the lens?",
            "Is the lens obstructed here?",
        ),
        "Yes, a close-up obstruction blocks the view.",
        "No, clean mucosa stays visible without obstruction.",
    ),
    _yn(
        "scope_backward_motion",
        (
            "When motion occurs, does the scope pull backward?",
            "Is the scope being pulled back?",
            "Is the endoscope withdrawing in this clip?",
            "Does the camera move backward here?",
            "Is the scope pulling back in these frames?",
            "Is the endoscope moving backward?",
            "Tell me if the scope is withdrawing.",
            "Does the scope pull backward in this clip?",
            "Is the camera being withdrawn?",
            "Is the endoscope being pulled out?",
            "Is the scope moving back out of the colon?",
            "Does the endoscope withdraw here?",
        ),
        "Yes, the scope is withdrawing.",
        "No, the scope is advancing.",
    ),
    _yn(
        "scope_forward_motion",
        (
            "When motion occurs, is the scope pushing forward?",
            "Is the scope advancing into the colon?",
            "Does the endoscope move forward in this clip?",
            "Is the camera pushing ahead here?",
            "Is the scope pushing forward in these frames?",
            "Is the endoscope moving forward?",
            "Tell me if the scope is advancing.",
            "Does the scope advance in this clip?",
            "Is the camera being pushed in?",
            "Is the endoscope going deeper into the colon?",
            "Is the scope moving ahead here?",
            "Does the endoscope push forward here?",
        ),
        "Yes, the scope is advancing.",
        "No, the scope is withdrawing.",
    ),
    _yn(
        "scope_motion",
        (
            "Is the scope actively moving throughout this clip?",
            "Is the endoscope moving in these frames?",
            "Does the camera move during this sequence?",
            "Is the scope in motion here?",
            "Is the scope moving in this clip?",
            "Does the endoscope move at all here?",
            "Tell me if the scope is moving.",
            "Is the camera moving across these frames?",
            "Is the scope still or moving?",
            "Is there any scope movement in these frames?",
            "Does the scope move throughout the sequence?",
            "Is the endoscope moving during this clip?",
        ),
        "Yes, the scope is moving across the frames.",
        "No, the scope is not moving in these frames.",
    ),
    QuestionType(
        "scope_motion_type",
        CHOICE,
        ("advancing", "withdrawing"),
        (
            "Is the scope primarily advancing or withdrawing in this sequence?",
            "Which way is the scope moving, in or out?",
            "Is the endoscope going forward or pulling back?",
            "What kind of scope movement is this?",
            "Is the scope advancing or withdrawing?",
            "Tell me whether the scope moves in or out.",
            "What is the scope doing, advancing or withdrawing?",
            "Which kind of movement does the endoscope make?",
            "Is the camera going in or coming out?",
            "What type of motion does the scope show?",
            "Is the endoscope advancing or pulling back in this clip?",
            "Which movement best describes the scope here?",
        ),
        {
            "advancing": "The scope is primarily advancing.",
            "withdrawing": "The scope is primarily withdrawing.",
        },
        {
            "advancing": ("advance", "forward", "pushing in"),
            "withdrawing": ("withdraw", "withdrawal", "backward", "pulling back"),
        },
    ),
    _yn(
        "scope_outside",
        (
            "Is the scope positioned outside the patient here?",
            "Is the endoscope out of the body?",
            "Are these frames taken outside the patient?",
            "Has the scope left the patient?",
            "Is the scope outside the patient?",
            "Is the endoscope outside the body here?",
            "Tell me if the scope is out of the patient.",
            "Are these frames from outside the body?",
            "Has the endoscope been taken out of the patient?",
            "Is the camera outside the patient in this clip?",
            "Is the scope out of the body in these frames?",
            "Was this recorded outside the patient?",
        ),
        "Yes, the scope is outside the patient.",
        "No, the scope stays within the patient.",
    ),
    _yn(
        "tool_catheter_check",
        (
            "Is the instrument on screen a catheter?",
            "Is a catheter being used here?",
            "Is the visible tool a catheter?",
            "Do you see a catheter in these frames?",
            "Is the tool a catheter?",
            "Is a catheter visible on screen?",
            "Tell me if the instrument is a catheter.",
            "Is the device in view a catheter?",
            "Is there a catheter in this clip?",
            "Does the instrument look like a catheter?",
            "Is a catheter among the instruments here?",
            "Is the instrument here a catheter?",
        ),
        "Yes, the visible tool is a catheter.",
        "No, the visible tool is not a catheter.",
    ),
    QuestionType(
        "tool_identification",
        CHOICE,
        ("catheter", "forceps", "snare"),
        (
            "Which instrument is present in this clip?",
            "What tool can you see in the frames?",
            "Which device has been inserted through the scope?",
            "Name the instrument on screen.",
            "What instrument is being used?",
            "Which tool is being used in this clip?",
            "Tell me which instrument you see.",
            "Is the tool a snare, forceps or a catheter?",
            "What device is visible in these frames?",
            "Identify the tool in the frames.",
            "Which instrument can you see here?",
            "What tool is in view?",
        ),
        {
            "catheter": "Catheter is visible on screen.",
            "forceps": "Forceps are visible on screen.",
            "snare": "Snare is visible on screen.",
        },
        {"forceps": ("forcep", "biopsy forceps"), "snare": ("loop", "polypectomy snare")},
    ),
)

CATALOG: dict[str, QuestionType] = {t.name: t for t in TYPES}
TYPE_NAMES: tuple[str, ...] = tuple(CATALOG)
PHRASINGS: int = len(TYPES[0].phrasings)  # per type, the same for every type
assert all(len(t.phrasings) == PHRASINGS for t in TYPES), "every type needs as many phrasings"
YES_NO_TYPES: tuple[str, ...] = tuple(t.name for t in TYPES if t.kind == YES_NO)
CHOICE_TYPES: tuple[str, ...] = tuple(t.name for t in TYPES if t.kind == CHOICE)

# Options the real annotations never use as labels, and where they come from.
EXTRA_SOURCES: dict[str, str] = {
    "blue_dye_presence/yes": "yes/no question; only 'no' appears as a label in the real splits",
    "lesion_size_range/5-9": "the real question text lists '(<5 mm, 5-9 mm, >9 mm)'",
    "lesion_size_range/>9": "the real question text lists '(<5 mm, 5-9 mm, >9 mm)'",
    "lighting_mode/WL": "white light is the alternative: nbi_status answers 'No, WL light is on'",
}


def get(name: str) -> QuestionType:
    """The question type called `name`, or a KeyError naming the known ones."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown question type {name!r}; known: {', '.join(TYPE_NAMES)}") from None
