"""The KServe payload-logger CloudEvent, as the monitors import it.

The format itself (parse, encode, :class:`BadEvent`, :class:`LoggedEvent`) has one home,
:mod:`leadscore_core.wire`; this module only re-exports it under the names the consumers have always used.
"""

from __future__ import annotations

from leadscore_core.wire import BadEvent, LoggedEvent, logger_event, parse_event, reply_event

__all__ = ["BadEvent", "LoggedEvent", "logger_event", "parse_event", "reply_event"]
