"""The Hub probe of `sherlock.loading` (`resolve_model` / `resolve_dataset` of a Hub id): huggingface_hub's retry
warnings of the probe thread stay silent, also after the probe timed out and the command moved on while the thread
still retries; the other threads' records pass."""

import logging
import threading

import huggingface_hub
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

import sherlock.loading
from sherlock.loading import ModelNotFoundError, resolve_model


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def hub_records():
    """The messages that reach huggingface_hub's logger (with its level at WARNING, as without `quiet_libraries`)."""
    hub = logging.getLogger("huggingface_hub")
    level, handler = hub.level, Collect()
    hub.setLevel(logging.WARNING)
    hub.addHandler(handler)
    yield handler.messages
    hub.removeHandler(handler)
    hub.setLevel(level)


def test_a_probe_that_retries_after_its_timeout_prints_nothing_later(monkeypatch, hub_records):
    release, probes = threading.Event(), []

    def slow_model_info(repo_id, timeout=None):
        probes.append(threading.current_thread())
        release.wait(30)  # still retrying when the command gave up on it
        logging.getLogger("huggingface_hub.utils._http").warning("Retrying in 1s [Retry 1/5]")
        raise OSError("connection timed out")

    def not_cached(*args, **kwargs):
        raise LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "model_info", slow_model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", not_cached)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(sherlock.loading, "HUB_TIMEOUT", 0.1)
    loggers = [logging.getLogger("huggingface_hub"), logging.getLogger("huggingface_hub.utils._http")]
    filters = [list(logger.filters) for logger in loggers]
    with pytest.raises(ModelNotFoundError, match=r"the Hub cannot be reached \(TimeoutError"):
        resolve_model("org/slow")
    logging.getLogger("huggingface_hub.utils._http").warning("from the command's own thread")
    release.set()
    probes[0].join(30)
    assert not probes[0].is_alive()
    assert hub_records == ["from the command's own thread"]  # not the probe's late retry warning
    assert [logger.filters for logger in loggers] == filters  # the probe's filter went with its thread
