"""The one logging setup every leadscore process uses: JSON lines with a UTC timestamp and a level.

Servers that configure logging themselves (MLServer, uvicorn, kserve) get the same dictConfig: the
libraries' own loggers write through the one JSON handler, so a log shipper parses every line the same way.
"""

from __future__ import annotations

import json
import logging
import logging.config
import threading
import time
from datetime import UTC, datetime
from typing import Any

LIBRARY_LOGGERS = ("mlserver", "uvicorn", "uvicorn.error", "uvicorn.access", "kserve", "kserve.trace", "httpx")
"""Loggers that libraries give handlers of their own; the config routes them to the JSON handler instead."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (ISO 8601 UTC), ``level``, ``logger``, ``message`` (+ ``exc``)."""

    def __init__(self, component: str = "") -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        doc: dict[str, Any] = {"ts": ts, "level": record.levelname, "logger": record.name}
        if self.component:
            doc["component"] = self.component
        doc["message"] = record.getMessage()
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def logging_config(component: str = "", level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document: the root and the library loggers write JSON lines to stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    libs = {name: {"handlers": ["json"], "propagate": False} for name in LIBRARY_LOGGERS}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "leadscore_core.logs.JsonFormatter", "component": component}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": level.upper()},
        "loggers": libs,
    }


def setup_logging(component: str = "", level: str = "INFO") -> dict[str, Any]:
    """Configure the process's logging (call once, from ``main``); returns the config for libraries to reuse."""
    config = logging_config(component, level)
    logging.config.dictConfig(config)
    return config


class RateLimitedLog:
    """At most one line per ``interval`` seconds per key; the next line says how many were suppressed."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` at WARNING unless ``key`` was logged less than ``interval`` ago."""
        return self.log(logging.WARNING, key, msg, *args)

    def log(self, level: int, key: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``msg % args`` at ``level`` unless ``key`` was logged less than ``interval`` ago."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            self._last[key] = now
            dropped = self._suppressed.pop(key, 0)
        suffix = f" ({dropped} similar lines suppressed in the last {self.interval:.0f}s)" if dropped else ""
        self.logger.log(level, msg + suffix, *args, exc_info=exc_info)
        return True
