"""Sherlock's Hugging Face Space: the Gradio demo of `sherlock.space`, with ZeroGPU when the `spaces` package is
present (it is on Hugging Face Spaces). Settings from the environment: `SHERLOCK_MODEL` (a Sherlock folder or Hub id;
default the built-in demo model), `SHERLOCK_SPACE_MAX_UPLOAD_MB`, `SHERLOCK_SPACE_MAX_DURATION_S`,
`SHERLOCK_SPACE_CONCURRENCY`, `SHERLOCK_SPACE_MAX_QUEUE`, `SHERLOCK_SPACE_KEEP_FILES_S`, `SHERLOCK_SPACE_MAX_ANSWERS`.
Sherlock itself comes from the wheel that `sherlock push space` pushes with the Space (see README.md)."""

import os
from pathlib import Path

from sherlock.space import SpaceSettings, launch


try:  # ZeroGPU hardware on Hugging Face Spaces
    import spaces

    gpu = spaces.GPU
except ImportError:
    gpu = None

if __name__ == "__main__":
    launch(
        SpaceSettings.from_env(examples_dir=Path(__file__).parent / "examples"),
        gpu=gpu,
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
