"""Rating instruments as data: a YAML definition validated against a schema (``definition``), the scoring it
describes (``scoring``), licensed item wording a study imports (``wording``), and the stored, versioned
definitions that ratings keep (``storage``). The public names of all four are here."""
from coder.study.instruments.definition import (EventCoding, InstrumentDefinition, InstrumentError, Item, Marker,
                                                Scale, Scoring, Subscale, builtin, builtin_paths, load, parse, to_data)
from coder.study.instruments.scoring import (ABSENT, EVENTS, MARKERS, Scores, check_responses, events_of, keyed,
                                             marker_answers, mean_of, score)
from coder.study.instruments.storage import find, from_text, newest, store, stored, stored_as, versions
from coder.study.instruments.wording import import_wording

__all__ = ["EventCoding", "InstrumentDefinition", "InstrumentError", "Item", "Marker", "Scale", "Scoring", "Subscale",
           "builtin", "builtin_paths", "load", "parse", "to_data", "ABSENT", "EVENTS", "MARKERS", "Scores",
           "check_responses", "events_of", "keyed", "marker_answers", "mean_of", "score", "find", "from_text",
           "newest", "store", "stored", "stored_as", "versions", "import_wording"]
