"""Rating instruments as data: a YAML definition validated against a schema, the scoring it describes, licensed
wording, and the stored, versioned definitions.

A definition names its items (with short construct descriptions written for
coder, never licensed item wording unless a study imports its own), the
rating scale with anchors, subscales, how items combine into subscale and
total scores (mean or sum; how many missing items are allowed, and whether
sums are prorated), and for event-coding instruments the markers that raters
note with a salience rating. ``load`` reports every mistake with the exact
field, for example ``items[3].subscale: unknown subscale 'tsk' (defined: task,
bond, goal)``.


The modules: ``definition`` (the schema, loading, the built-in definitions), ``scoring`` (checking and
scoring responses), ``wording`` (licensed item text) and ``storage`` (definitions in the study database).
"""
from coder.study.instruments.definition import (InstrumentDefinition, InstrumentError, Item, Marker, Scale, Scoring,
                                                Subscale, builtin, builtin_paths, load, parse, to_data)
from coder.study.instruments.scoring import MARKERS, Scores, check_responses, keyed, mean_of, score
from coder.study.instruments.storage import find, newest, store, stored
from coder.study.instruments.wording import import_wording

__all__ = ["InstrumentDefinition", "InstrumentError", "Item", "Marker", "Scale", "Scoring", "Subscale", "builtin",
           "builtin_paths", "load", "parse", "to_data", "MARKERS", "Scores", "check_responses", "keyed", "mean_of",
           "score", "find", "newest", "store", "stored", "import_wording"]
