"""Dialogs: YAML state machines (pytransitions) per segment, their schema, engine and registry."""

from pathlib import Path

from dialogs.compose import read_dialog, segment_path, shipped_segments
from dialogs.engine import Dialog, DialogError
from dialogs.registry import Registry
from dialogs.schema import DialogSpec
from dialogs.turn import Notification, TimerRequest, Turn
from dialogs.yamlsource import YamlInvalid, YamlProblem, load_file

SEGMENTS_DIR = Path(__file__).parent / "segments"


def load_segment_dialog(segment: str) -> DialogSpec:
    """The shipped dialog of a segment (e.g. 'live_seller'), its sub-dialogs included."""
    return read_dialog(segment_path(segment))[0]


__all__ = [
    "SEGMENTS_DIR",
    "Dialog",
    "DialogError",
    "DialogSpec",
    "Notification",
    "Registry",
    "TimerRequest",
    "Turn",
    "YamlInvalid",
    "YamlProblem",
    "load_file",
    "load_segment_dialog",
    "read_dialog",
    "segment_path",
    "shipped_segments",
]
