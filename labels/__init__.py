"""Labels from activity in event time: clicks, autoplay rules, timeouts."""

from labels.labeller import HOUR_MS, Labeller, Outcome, Reject
from labels.offline import LogLabeller, label_log, run_labels_cli
from labels.rules import DEFAULT_RULE, Rule
from labels.state import MemberLabelState
from labels.watchtime import DAY_MS, WatchStats

__all__ = [
    "DAY_MS",
    "DEFAULT_RULE",
    "HOUR_MS",
    "Labeller",
    "LogLabeller",
    "MemberLabelState",
    "Outcome",
    "Reject",
    "Rule",
    "WatchStats",
    "label_log",
    "run_labels_cli",
]
