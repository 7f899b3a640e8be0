"""How a run looks: the live view, log lines, the summary."""

from .sinks import LiveView, LogLines, NoProgress, choose_sink
from .views import summary

__all__ = ["LiveView", "LogLines", "NoProgress", "choose_sink", "summary"]
