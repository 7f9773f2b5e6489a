# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The browser demo (a Gradio app; `spaces_demo/app.py` is the Space that runs it).

    python -m sherlock.space                    # http://127.0.0.1:7860, the built-in demo model
    SHERLOCK_MODEL=org/sherlock python -m sherlock.space

Upload a video (or pick a bundled example), optionally ask another question or change the frame sampling, press
"Analyze": the events table (start, end, quadruple, score), a timeline of the events over the video, the mean gate
weight per expert (what the model looked at), the video with the events as subtitles, the raw answer and a JSON
download. Settings come from the environment (`SpaceSettings.from_env`): the model (`SHERLOCK_MODEL`: a Sherlock
folder or Hub id, default the built-in demo model), the largest upload and the longest video accepted, the number of
analyses run at once, the queue's size and how long files stay on disk. Needs the `space` extra
(`pip install "sherlock-mvae[space]"`).

Disk: a public Space runs for weeks. Gradio deletes the uploads and the files it serves once they are older than
`keep_files_s` (`gr.Blocks(delete_cache=...)`). The analyzer's answers (JSON and subtitles) are pruned when the next
answer is written: it lists its output folder on disk and removes the folders older than `keep_files_s`, then the
oldest until at most `max_answers` remain, under a lock (a thread lock and a file lock on the folder), so that
concurrent requests never race on them, even from the child processes ZeroGPU's `spaces.GPU` may run them in.
"""

import json
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


logger = logging.getLogger(__name__)

TABLE_HEADERS = ["start (s)", "end (s)", "subject", "event type", "object", "scene", "score"]
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@dataclass
class SpaceSettings:
    """What a public demo needs to be told (each read from its environment variable by `from_env`)."""

    model: str = "demo"  # SHERLOCK_MODEL
    max_upload_mb: float = 50.0  # SHERLOCK_SPACE_MAX_UPLOAD_MB
    max_duration_s: float = 120.0  # SHERLOCK_SPACE_MAX_DURATION_S
    concurrency_limit: int = 1  # SHERLOCK_SPACE_CONCURRENCY: analyses run at once
    max_queue_size: int = 16  # SHERLOCK_SPACE_MAX_QUEUE: requests waiting beyond those
    keep_files_s: float = 3600.0  # SHERLOCK_SPACE_KEEP_FILES_S: uploads and answers older than this are deleted
    max_answers: int = 64  # SHERLOCK_SPACE_MAX_ANSWERS: answer folders kept on disk (well above the concurrency)
    max_frames: int = 64  # the largest frame count a user may ask for
    examples: list[str] = field(default_factory=list)  # bundled example videos

    ENVIRONMENT = {
        "model": "SHERLOCK_MODEL",
        "max_upload_mb": "SHERLOCK_SPACE_MAX_UPLOAD_MB",
        "max_duration_s": "SHERLOCK_SPACE_MAX_DURATION_S",
        "concurrency_limit": "SHERLOCK_SPACE_CONCURRENCY",
        "max_queue_size": "SHERLOCK_SPACE_MAX_QUEUE",
        "keep_files_s": "SHERLOCK_SPACE_KEEP_FILES_S",
        "max_answers": "SHERLOCK_SPACE_MAX_ANSWERS",
    }

    @property
    def delete_cache(self) -> tuple[int, int]:
        """Gradio's `delete_cache` (frequency, age in seconds): every `frequency` seconds the uploads and the served
        files older than `keep_files_s` are deleted."""
        age = max(1, round(self.keep_files_s))
        return max(1, min(age, 600)), age

    @classmethod
    def from_env(cls, environ=None, examples_dir: str | Path | None = None) -> "SpaceSettings":
        """The settings with every variable of `ENVIRONMENT` that is set; a malformed number is a `ValueError`
        naming the variable. The examples are the `.mp4` files of `examples_dir` (default: the repository's
        `examples/`, when there is one)."""
        environ = os.environ if environ is None else environ
        examples_dir = Path(examples_dir) if examples_dir is not None else EXAMPLES_DIR
        values = {}
        for name, variable in cls.ENVIRONMENT.items():
            if environ.get(variable):
                kind = type(getattr(cls, name))
                try:
                    values[name] = kind(environ[variable])
                except ValueError:
                    raise ValueError(f"{variable}={environ[variable]!r} is not a valid {kind.__name__}") from None
        examples = sorted(str(path) for path in examples_dir.glob("*.mp4")) if examples_dir.is_dir() else []
        return cls(**values, examples=examples)


class SpaceInputError(ValueError):
    """An upload or a setting the demo refuses, with the message shown to the user."""


def events_table(result) -> list[list]:
    """The rows of the events table: start, end, the quadruple and the score (3 decimals)."""
    return [
        [event.start, event.end, event.subject, event.event_type, event.object, event.scene,
         None if event.score is None else round(event.score, 3)]
        for event in result.events
    ]  # fmt: skip


def timeline_figure(result):
    """A matplotlib figure: one bar per event over the video's duration, labelled with its event type, and a tick
    at each sampled frame time."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 1.0 + 0.35 * max(1, len(result.events))))
    axes = figure.subplots()
    for row, event in enumerate(result.events):
        axes.barh(row, event.end - event.start, left=event.start, height=0.6, color="tab:red", alpha=0.8)
        axes.text(
            event.start, row, f" {event.event_type} ({event.subject} -> {event.object})", va="center", fontsize=8
        )
    for t in result.timestamps:
        axes.axvline(t, color="grey", linewidth=0.5, linestyle=":")
    axes.set_xlim(0, max(result.duration, 1e-6))
    axes.set_ylim(-0.5, max(1, len(result.events)) - 0.5)
    axes.set_yticks([])
    axes.set_xlabel("seconds (dotted: sampled frames)")
    axes.set_title("Abnormal events" if result.events else "No abnormal event found", fontsize=10)
    figure.tight_layout()
    return figure


def _vtt_time(seconds: float) -> str:
    milliseconds = round(max(seconds, 0.0) * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def subtitles_vtt(result) -> str:
    """WebVTT subtitles: each event as a cue over its span."""
    cues = ["WEBVTT", ""]
    for event in result.events:
        cues += [
            f"{_vtt_time(event.start)} --> {_vtt_time(event.end)}",
            f"{event.event_type}: {event.subject} -> {event.object} ({event.scene})",
            "",
        ]
    return "\n".join(cues)


def _probe(processor, video: str, settings: SpaceSettings):
    """The clip's metadata (no decoding); a bad file or a too long video raise `SpaceInputError`."""
    from processing import VideoDecodeError

    size_mb = os.path.getsize(video) / 2**20
    if size_mb > settings.max_upload_mb:
        raise SpaceInputError(
            f"The video is {size_mb:.1f} MB; this demo accepts at most {settings.max_upload_mb:g} MB."
        )
    try:
        clip = processor.load_video(video, decode=False, max_frames=None)  # the frame limit is checked after this
    except VideoDecodeError as error:
        raise SpaceInputError(f"This file cannot be analysed: {error.reason}.") from None
    if clip.duration > settings.max_duration_s:
        raise SpaceInputError(
            f"The video lasts {clip.duration:.1f} s; this demo accepts at most {settings.max_duration_s:g} s."
        )
    return clip


class SpaceAnalyzer:
    """Loads the model once (on first use, thread-safe) and analyses uploads with it."""

    def __init__(self, settings: SpaceSettings, outputs: str | Path | None = None):
        """`outputs`: the folder of the answer folders (default: a fresh temporary folder, removed with the
        analyzer). Analyzers sharing one folder (other processes of the same Space) prune it together."""
        self.settings = settings
        self._lock = threading.Lock()
        self._loaded = None
        if outputs is None:
            self._outputs = Path(tempfile.mkdtemp(prefix="sherlock-space-"))
            weakref.finalize(self, shutil.rmtree, str(self._outputs), True)
        else:
            self._outputs = Path(outputs)
            self._outputs.mkdir(parents=True, exist_ok=True)
        self._answers_lock = threading.Lock()

    def load(self):
        with self._lock:
            if self._loaded is None:
                import torch

                from processing.extractors_sherlock import is_precomputed

                from .loading import load_sherlock, resolve_model

                # on ZeroGPU hardware the `spaces` package makes CUDA visible here and attaches a GPU to each call
                device = "cuda" if torch.cuda.is_available() else "cpu"
                model, processor = load_sherlock(resolve_model(self.settings.model), device=device)
                if not is_precomputed(processor.extractors):
                    _ = processor.extractor_set  # built once here: the per-request copies below share it
                self._loaded = model, processor
            return self._loaded

    @contextmanager
    def _outputs_locked(self):
        """The thread lock, and an exclusive file lock on the output folder where the platform has one (another
        process, e.g. a ZeroGPU worker, may write answers into the same folder)."""
        with self._answers_lock:
            try:
                import fcntl
            except ImportError:  # Windows: one process serves the demo there
                yield
                return
            descriptor = os.open(self._outputs, os.O_RDONLY)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                yield
            finally:
                os.close(descriptor)  # releases the file lock

    def _prune_answers(self, now: float) -> None:
        """Remove the answer folders older than `keep_files_s`, then the oldest until one more fits under
        `max_answers`: what is on disk counts, not what this process remembers (a request may have run in
        another process). Called under `_outputs_locked`."""
        answers = []
        for entry in os.scandir(self._outputs):
            try:
                if entry.is_dir(follow_symlinks=False):
                    answers.append((entry.stat(follow_symlinks=False).st_mtime, entry.name))
            except FileNotFoundError:
                continue
        answers.sort()
        keep = max(1, self.settings.max_answers) - 1
        for index, (mtime, name) in enumerate(answers):
            if len(answers) - index > keep or now - mtime > self.settings.keep_files_s:
                shutil.rmtree(self._outputs / name, ignore_errors=True)

    def _save_answer(self, files: dict[str, str]) -> dict[str, str]:
        """Write `files` ({name: text}) into a fresh answer folder; returns {name: path}. At most `max_answers`
        folders are kept, none older than `keep_files_s`: the oldest are removed first. All of it happens under one
        lock, so that concurrent requests never remove a folder twice nor one that is being written."""
        with self._outputs_locked():
            self._prune_answers(time.time())
            folder = Path(tempfile.mkdtemp(dir=self._outputs))
            for name, text in files.items():
                (folder / name).write_text(text, encoding="utf-8")
        return {name: str(folder / name) for name in files}

    def analyze(
        self, video: str | None, question: str = "", num_frames: int | None = None, fps: float = 0.0, progress=None
    ):
        """`(result, json path, subtitles path)` of one upload: `num_frames` frames sampled uniformly, or frames at
        `fps` per second when it is above 0 (at most `max_frames`); `SpaceInputError` for what the user must
        change."""
        import copy

        from processing import VideoDecodeError

        from .analyze import analyze_video

        if not video:
            raise SpaceInputError("Upload a video or pick an example first.")
        report = progress or (lambda fraction, desc: None)
        report(0.0, "loading the model")
        model, processor = self.load()
        if fps and fps > 0:
            if fps > 30:
                raise SpaceInputError("Frames per second must be at most 30.")
            processor = copy.copy(processor)  # this request only: concurrent requests share the loaded one
            processor.num_frames, processor.fps = None, float(fps)
        elif num_frames:
            if not 1 <= int(num_frames) <= self.settings.max_frames:
                raise SpaceInputError(f"Frames must be between 1 and {self.settings.max_frames}.")
            processor = copy.copy(processor)
            processor.num_frames, processor.fps = int(num_frames), None
        clip = _probe(processor, video, self.settings)
        if len(clip.timestamps) > self.settings.max_frames:
            raise SpaceInputError(
                f"The sampling gives {len(clip.timestamps)} frames for this video; this demo samples at most "
                f"{self.settings.max_frames}: lower the frames per second."
            )
        fractions = {"decoding and extracting": 0.1, "generating": 0.6, "parsing": 0.95}
        try:
            result = analyze_video(
                model,
                processor,
                video,
                question=question.strip() or None,
                progress=lambda phase: report(fractions[phase], phase),
            )
        except VideoDecodeError as error:
            raise SpaceInputError(f"This file cannot be analysed: {error.reason}.") from None
        paths = self._save_answer(
            {
                "events.json": json.dumps(result.to_dict(Path(video).name), indent=2) + "\n",
                "events.vtt": subtitles_vtt(result),
            }
        )
        return result, paths["events.json"], paths["events.vtt"]


def build_demo(settings: SpaceSettings | None = None, gpu=None):
    """The Gradio app (not launched). `gpu`: a decorator for the function that runs the model (the Space passes
    `spaces.GPU` when the `spaces` package is present, for ZeroGPU hardware)."""
    import gradio as gr

    settings = settings or SpaceSettings.from_env()
    analyzer = SpaceAnalyzer(settings)

    def run(video, question, num_frames, fps, progress=gr.Progress()):  # noqa: B008  (how Gradio injects progress)
        try:
            result, json_path, vtt_path = analyzer.analyze(
                video, question or "", num_frames, fps or 0.0, lambda fraction, desc: progress(fraction, desc=desc)
            )
        except SpaceInputError as error:
            raise gr.Error(str(error), print_exception=False) from None
        gates = result.gate_weights or {}
        summary = (
            f"{len(result.events)} abnormal event(s) in {result.duration:.1f} s"
            if result.events
            else (f"No abnormal event found in {result.duration:.1f} s")
        )
        return (
            summary,
            events_table(result),
            timeline_figure(result),
            gates,
            gr.Video(value=video, subtitles=vtt_path),  # Gradio 6: subtitles are a property, not a tuple
            result.answer,
            json_path,
        )

    if gpu is not None:
        run = gpu(run)
    with gr.Blocks(
        title="Sherlock: video abnormal event extraction and localization", delete_cache=settings.delete_cache
    ) as demo:
        gr.Markdown(
            "# Sherlock\nEvery abnormal event of a video as (subject, event type, object, scene) with its start and "
            f"end in seconds. Model: `{settings.model}`"
            + (
                " (the built-in tiny demo model, trained on synthetic videos only: try the example; on real footage"
                " its answers mean nothing)."
                if settings.model == "demo"
                else "."
            )
            + f" Videos up to {settings.max_upload_mb:g} MB and {settings.max_duration_s:g} s."
        )
        with gr.Row():
            with gr.Column():
                # a file input, not a video player: a broken upload then gets exactly one message (ours), not also
                # the player's own "not playable" notice
                video = gr.File(label="Video", file_types=list(VIDEO_SUFFIXES), type="filepath", elem_id="video-input")
                question = gr.Textbox(label="Question (optional: the paper's instruction by default)", lines=2)
                frames = gr.Slider(1, settings.max_frames, value=8, step=1, label="Frames sampled (uniformly)")
                fps = gr.Number(
                    value=0,
                    minimum=0,
                    maximum=30,
                    label=f"Or frames per second (0: use the count; at most {settings.max_frames} frames)",
                )
                button = gr.Button("Analyze", variant="primary", elem_id="analyze")
                if settings.examples:
                    gr.Examples(settings.examples, inputs=[video], label="Examples")
            with gr.Column():
                summary = gr.Markdown(elem_id="summary")
                table = gr.Dataframe(headers=TABLE_HEADERS, label="Events", elem_id="events", interactive=False)
                timeline = gr.Plot(label="Timeline", elem_id="timeline")
                gates = gr.Label(label="Gate weight per expert (what the model looked at)", elem_id="gates")
        with gr.Row():
            playback = gr.Video(label="Video with the events as subtitles", elem_id="playback", interactive=False)
            with gr.Column():
                answer = gr.Textbox(label="Raw answer", elem_id="answer", interactive=False)
                download = gr.File(label="JSON", elem_id="download")
        button.click(
            run,
            inputs=[video, question, frames, fps],
            outputs=[summary, table, timeline, gates, playback, answer, download],
            concurrency_limit=settings.concurrency_limit,
        )
    demo.queue(default_concurrency_limit=settings.concurrency_limit, max_size=settings.max_queue_size)
    return demo


def launch(settings: SpaceSettings | None = None, gpu=None, **launch_kwargs):
    """Build and launch the app with the upload limit of `settings` (`launch_kwargs`: Gradio's, e.g. `server_port`)."""
    settings = settings or SpaceSettings.from_env()
    demo = build_demo(settings, gpu=gpu)
    return demo.launch(max_file_size=f"{settings.max_upload_mb:g}mb", **launch_kwargs)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sherlock.space", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    launch(server_name=args.host, server_port=args.port)
    return 0


__all__ = [
    "SpaceAnalyzer",
    "SpaceInputError",
    "SpaceSettings",
    "build_demo",
    "events_table",
    "launch",
    "subtitles_vtt",
    "timeline_figure",
]


if __name__ == "__main__":
    raise SystemExit(main())
