"""Shared pytest hooks.

`pytest_terminal_summary` prints one plain line naming the optional backends whose tests did not run: a test that
needs an optional package is marked `skipif(..., reason="paper backend NOT RUN: <package> (<why>)")`, and a skip is
easy to miss among the dots; this line is not.
"""

NOT_RUN_MARK = "NOT RUN: "


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    not_run: dict[str, None] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = _skip_reason(report)
        if NOT_RUN_MARK in reason:
            not_run[reason.split(NOT_RUN_MARK, 1)[1].strip()] = None
    if not_run:
        terminalreporter.write_line(f"paper backends NOT RUN: {', '.join(not_run)}")


# ---------------------------------------------------------------------------------------------------------------------
# The transformers this suite runs on, and its deprecations as errors.
# `setup.cfg` turns FutureWarnings and this project's DeprecationWarnings into errors; transformers also announces
# some deprecations only through its logger (e.g. `video_hidden_states` from 5.24). Those fail the test too.

import logging  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402


DEPRECATION_MESSAGE = re.compile(r"deprecat|will be removed|no longer supported", re.IGNORECASE)


def pytest_report_header(config):
    import torch
    import transformers

    return f"transformers {transformers.__version__}, torch {torch.__version__}"


class DeprecationLogGuard(logging.Handler):
    """Collects the deprecation messages logged by transformers during a test."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        if DEPRECATION_MESSAGE.search(message):
            self.messages.append(f"{record.name}: {message}")


@pytest.fixture(autouse=True)
def transformers_deprecation_logs():
    """Fail any test during which transformers logs a deprecation (what this project calls is going away)."""
    from transformers.utils import logging as hf_logging

    guard = DeprecationLogGuard()
    library_logger = hf_logging.get_logger()
    level = library_logger.level
    # a test that silenced transformers (e.g. the CLI's `set_verbosity_error`) must not hide the next test's logs
    library_logger.setLevel(min(level or logging.WARNING, logging.WARNING))
    library_logger.addHandler(guard)
    try:
        yield guard
    finally:
        library_logger.removeHandler(guard)
        library_logger.setLevel(level)
    if guard.messages:
        pytest.fail("transformers logged a deprecation: " + " | ".join(guard.messages), pytrace=False)
