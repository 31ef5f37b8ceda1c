"""The one progress bar of the package: tqdm on stderr, rate-limited off a terminal.

On a terminal the bar redraws as tqdm does. When stderr is not a terminal (a log file, a pipe,
CI) the bar prints at most one line every :data:`LOG_INTERVAL` seconds (and its last state), so a
redirected run of thousands of steps writes a few lines, not one per step.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

LOG_INTERVAL = 30.0  # seconds between lines when stderr is not a terminal


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, *, enable: bool = True, **kwargs) -> tqdm:
    """A tqdm bar over ``iterable`` (or ``total=``), shown when ``enable``; ``kwargs`` go to
    tqdm. Off a terminal: ``mininterval`` = :data:`LOG_INTERVAL`, no dynamic width."""
    stream = kwargs.get("file") or sys.stderr
    if not _is_terminal(stream):
        kwargs["mininterval"] = max(kwargs.get("mininterval", 0.1), LOG_INTERVAL)
        kwargs["maxinterval"] = max(kwargs.get("maxinterval", 10.0), LOG_INTERVAL)
        kwargs.setdefault("ncols", 100)
        kwargs.pop("dynamic_ncols", None)
    return tqdm(iterable, disable=not enable, **kwargs)


def write(message: str, file=None) -> None:
    """Print ``message`` (on stdout, or ``file``) without breaking a bar that is shown."""
    tqdm.write(message, file=file)
