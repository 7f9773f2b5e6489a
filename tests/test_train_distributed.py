"""Distributed training and resuming (DESIGN §5), on CPU:

- two processes (`torchrun --nproc_per_node 2`, gloo) train a tiny Sherlock to the same weights on both ranks, and to
  the weights of ONE process with the same global batch: α > 0 and answers of different lengths, so that both the
  token normalisation of the language term and the weight of the GSB term across processes are checked
  (`SherlockTrainer`'s docstring); `accelerate launch` with `configs/accelerate/multi_gpu_ddp.yaml` does the same
  with LoRA;
- a LoRA run (the paper's setup) killed right after its step-2 checkpoint and resumed from it ends where the
  uninterrupted run ends (AdamW, warm-up + cosine schedule, gradient clipping, LoRA dropout, shuffled data crossing
  an epoch); the same for the whole model is an expected failure, a transformers bug (see the test);
- the accelerate configs in `configs/accelerate/` are read by accelerate's own loader and launcher into the settings
  the training processes get (DDP, FSDP wrapping `LlamaDecoderLayer` with `use_orig_params`, DeepSpeed ZeRO-2, bf16).

Every run is `tests/train_distributed_script.py`: in subprocesses (the distributed runs, and the killed run, which ends
itself with `os._exit`), or called here in-process with one thread, like the subprocesses (`OMP_NUM_THREADS=1`), so
that the one-process references cost no start-up.

The GSB loss is -log of the mean gate weights over the optimizer step's WHOLE batch (`SherlockTrainer`'s pre-pass sums
the gate weights over the micro-batches and the processes), so 2 processes x 2 accumulation steps x 1 sample are
compared with 1 process x 1 micro-batch of 4 samples: the weights, the logged loss, the logged `gsb_loss` (the GSB term
itself) and the gate-weight table of the `GSBCallback` (gathered from both ranks) are those of the one process. The
gradient-accumulation path (no gradient sync on the first micro-batch) is in it too; 1 x 4 accumulation = 1 x batch 4
in one process is `test_train_trainer.py`.
"""

import contextlib
import csv
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import train_distributed_script
from sherlock_tester import build_model


TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SCRIPT = TESTS / "train_distributed_script.py"
CONFIGS = REPO / "configs" / "accelerate"
TIMEOUT = 240  # seconds for one launch (about 12 s each on 2 loaded cores)
DEPRECATION = re.compile(r"deprecat|will be removed|no longer supported", re.IGNORECASE)  # as conftest.py

# 8 different samples, answers of 2 to 5 tokens; global batch 4 = 2 processes x 2 micro-batches of 1 = 1 process x 4;
# 3 SGD steps: the second epoch is reshuffled. No clipping: a wrong scale of either loss term shows in the weights.
DDP_RUN = ["--samples", "8", "--alpha", "0.4", "--batch-size", "1", "--max-steps", "3", "--optim", "sgd"]
DDP_RUN += ["--learning-rate", "0.05", "--scheduler", "constant", "--max-grad-norm", "0"]
# LoRA with dropout, 4 samples, 1 per step, 6 steps (1.5 epochs); killed after step 2, mid-epoch
RESUME_RUN = ["--samples", "4", "--alpha", "0.4", "--batch-size", "1", "--max-steps", "6", "--optim", "adamw_torch"]
RESUME_RUN += ["--learning-rate", "0.01", "--scheduler", "cosine", "--warmup-steps", "2", "--max-grad-norm", "1.0"]
RESUME_RUN += ["--lora", "--lora-dropout", "0.05"]


# --- running the script -----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child_env(home: Path) -> dict[str, str]:
    """This environment without any distributed or accelerate setting of its own; one thread per process (2 cores),
    the repository and tests/ importable, FutureWarnings as errors (as in the suite), a private HF home (no user's
    default accelerate config)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ACCELERATE_", "FSDP_", "TORCHELASTIC_", "PET_"))
        and name not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    }
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        HF_HOME=str(home),
        PYTHONWARNINGS="error::FutureWarning",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), str(TESTS), os.environ.get("PYTHONPATH")])),
    )
    return env


def _launch(command: list[str], cwd: Path, expected_returncode: int = 0) -> str:
    """Run `command` (its own process group, no stdin, a timeout); fail with the children's output unless it exits
    with `expected_returncode`. Returns the output."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=_child_env(cwd / "hf_home"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a timeout kills the launcher and every worker it started
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(command)} did not end within {TIMEOUT} s; its output:\n{output}", pytrace=False)
    if process.returncode != expected_returncode:
        pytest.fail(
            f"{' '.join(command)} exited with {process.returncode} (expected {expected_returncode}); its output:\n"
            f"{output}",
            pytrace=False,
        )
    assert not DEPRECATION.search(output), f"a deprecation in the children's output:\n{output}"
    return output


def _train_here(output: Path, run: list[str]) -> None:
    """The script in this process, on one thread like the subprocesses (the same summation order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_distributed_script.main(["--output", str(output), *run])
    finally:
        torch.set_num_threads(threads)


def _weights(output: Path, rank: int = 0) -> dict[str, torch.Tensor]:
    return load_file(str(output / f"weights-rank{rank}.safetensors"))


def _initial(output: Path, rank: int = 0) -> dict[str, torch.Tensor]:
    return load_file(str(output / f"initial-rank{rank}.safetensors"))


def _record(output: Path, rank: int = 0) -> dict:
    return json.loads((output / f"run-rank{rank}.json").read_text())


def _assert_same_weights(actual: dict, expected: dict, atol: float = 1e-6) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(actual[name], value, rtol=0, atol=atol, msg=lambda m, name=name: f"{name}: {m}")


def _max_difference(a: dict, b: dict, part: str = "") -> float:
    """The largest difference between two state dicts, over the entries whose name contains `part`."""
    names = [name for name in a if part in name]
    assert names and a.keys() == b.keys()
    return max(float((a[name] - b[name]).abs().max()) for name in names)


# --- two processes train like one ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The one-process references, 1 process x 1 micro-batch of 4 samples (the global batch of the two-process runs,
    at once): `one_process(lora)` trains the whole model, or LoRA (without dropout) + the fully trained modules."""
    root = tmp_path_factory.mktemp("one_process")

    @functools.cache
    def reference(lora: bool) -> Path:
        output = root / ("lora" if lora else "full")
        # the last `--batch-size` wins: 1 micro-batch of 4 samples per step
        _train_here(output, [*DDP_RUN, "--accumulation", "1", "--batch-size", "4", *(["--lora"] if lora else [])])
        return output

    return reference


def _check_two_processes_match_one(output: Path, reference: Path) -> None:
    ranks = [_weights(output, 0), _weights(output, 1)]
    records = [_record(output, 0), _record(output, 1)]
    expected, expected_record = _weights(reference), _record(reference)
    assert [record["world_size"] for record in records] == [2, 2] and expected_record["world_size"] == 1
    assert [record["global_step"] for record in records] == [3, 3] and expected_record["global_step"] == 3

    # the same global batch at every step: the union of the ranks' micro-batches is the one process's step
    def steps(record, micro_batches_per_step):
        flat = [sample for batch in record["micro_batches"] for sample in batch]
        return [sorted(flat[i : i + micro_batches_per_step]) for i in range(0, len(flat), micro_batches_per_step)]

    per_rank = [steps(record, 2) for record in records]  # 2 micro-batches of 1 sample per step
    together = [sorted(a + b) for a, b in zip(*per_rank)]
    assert together == steps(expected_record, 4)
    assert sorted(together[0] + together[1]) == list(range(8))  # one epoch of 8 samples, then reshuffled
    assert together[2] not in (together[0], together[1])

    # one model on both ranks, and the one process's model
    for name, value in ranks[0].items():
        assert torch.equal(ranks[1][name], value), f"{name} differs between the ranks"
    _assert_same_weights(ranks[0], expected)
    # ... which did train (each term of the loss moves the gate) and left the frozen background tower alone
    initial = _initial(output)
    assert all(torch.equal(initial[name], value) for name, value in _initial(output, 1).items())
    assert _max_difference(expected, initial, "expert_gate") > 1e-2
    tower = [name for name in initial if ".background.tower." in name]
    assert tower and all(torch.equal(ranks[0][name], initial[name]) for name in tower)
    # the logged loss is the global batch's (the mean over the processes of their scaled losses), and so is the GSB
    # term: -log of the mean gate weights over the 4 samples of the step, not a mean of per-micro-batch GSBs
    for ddp_log, log in zip(records[0]["logs"], expected_record["logs"], strict=True):
        assert ddp_log["loss"] == pytest.approx(log["loss"], rel=1e-5)
        assert ddp_log["gsb_loss"] == pytest.approx(log["gsb_loss"], rel=1e-5)
    # the gate-weight table (Figure 6) of the main process covers both ranks' samples: 3 steps x 4 samples
    table, expected_table = (_gate_table(path) for path in (output, reference))
    assert table["(all videos)"][0] == 12 and [row[0] for row in table.values()] == [
        row[0] for row in expected_table.values()
    ]
    for name, row in expected_table.items():
        assert table[name][1] == pytest.approx(row[1], abs=2e-4), name


def _gate_table(output: Path) -> dict[str, tuple[int, list[float]]]:
    """`{event type: (videos, weights)}` of the `GSBCallback`'s gate_weights.csv of a run."""
    with (output / "checkpoints" / "gate_weights.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    experts = ("action", "object_relation", "background", "global")
    return {row["event_type"]: (int(row["videos"]), [float(row[name]) for name in experts]) for row in rows}


@pytest.mark.slow
def test_two_processes_with_torchrun_train_like_one_process(tmp_path, one_process):
    """`torchrun --nproc_per_node 2` (gloo on CPU), 2 processes x 2 accumulation steps x 1 sample, α = 0.4, the whole
    model trained (but the frozen background tower)."""
    output = tmp_path / "torchrun"
    _launch(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2"]
        + ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
        + [str(SCRIPT), "--output", str(output), *DDP_RUN, "--accumulation", "2"],
        cwd=tmp_path,
    )
    _check_two_processes_match_one(output, one_process(lora=False))


@pytest.mark.slow
def test_accelerate_launch_with_the_ddp_config_trains_lora_like_one_process(tmp_path, one_process):
    """`accelerate launch --config_file configs/accelerate/multi_gpu_ddp.yaml` unchanged but for the number of
    processes, a free port and no bf16 (on CPU the trainer would autocast): on a machine without GPUs the processes
    run on the CPU with gloo (the trainer's `use_cpu`). With LoRA, as in the paper: DDP over the adapters and the
    fully trained experts, gate and projector beside frozen weights."""
    output = tmp_path / "accelerate"
    _launch(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "multi_gpu_ddp.yaml")]
        + ["--num_processes", "2", "--main_process_port", str(_free_port()), "--mixed_precision", "no"]
        + [str(SCRIPT), "--output", str(output), *DDP_RUN, "--accumulation", "2", "--lora"],
        cwd=tmp_path,
    )
    _check_two_processes_match_one(output, one_process(lora=True))


# --- a killed run resumes ------------------------------------------------------------------------------------------------


def _kill_and_resume(root: Path, run: list[str], kill: bool = True) -> Path:
    """`run` with a checkpoint every step, killed (os._exit, in a subprocess) once the step-2 checkpoint is written
    (`kill`; else stopped there, in this process: the same checkpoint), then resumed here from the latest checkpoint
    with every trainable parameter perturbed first: only the checkpoint can bring them back (a resume that started
    afresh, or missed a module, cannot end right)."""
    killed = root / "killed"
    if kill:
        command = [sys.executable, str(SCRIPT), "--output", str(killed), *run, "--save-steps", "1"]
        command += ["--kill-after-step", "2"]
        _launch(command, cwd=root, expected_returncode=train_distributed_script.KILLED_EXIT_CODE)
        assert not (killed / "weights-rank0.safetensors").exists()
    else:
        _train_here(killed, [*run, "--save-steps", "1", "--stop-after-step", "2"])
    checkpoints = sorted(path.name for path in (killed / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-1", "checkpoint-2"]
    _train_here(killed, [*run, "--save-steps", "1", "--resume", "latest", "--perturb-trainable"])
    assert (killed / "checkpoints" / "checkpoint-6").is_dir()
    return killed


@pytest.fixture(scope="module")
def lora_resume(tmp_path_factory):
    """The uninterrupted LoRA run (dropout 0.05: the restored random state matters too) and the killed + resumed one."""
    root = tmp_path_factory.mktemp("resume")
    _train_here(root / "uninterrupted", RESUME_RUN)
    _kill_and_resume(root, RESUME_RUN)
    return root


def _check_resumed_like_uninterrupted(uninterrupted: Path, resumed: Path) -> None:
    record, full = _record(resumed), _record(uninterrupted)
    assert (record["start_step"], record["global_step"]) == (2, 6) and full["global_step"] == 6
    # the resumed run skipped the 2 samples already trained on, then went on in the same order (into epoch 2)
    assert record["micro_batches"] == full["micro_batches"][2:]
    assert sorted(sample for batch in full["micro_batches"][:4] for sample in batch) == [0, 1, 2, 3]
    # its steps 3-6 are the uninterrupted run's: the same losses, and in the end the same weights
    logs = {log["step"]: log["loss"] for log in record["logs"]}
    for log in full["logs"]:
        assert logs[log["step"]] == pytest.approx(log["loss"], rel=1e-6)
    weights = _weights(resumed)
    _assert_same_weights(weights, _weights(uninterrupted))
    assert _max_difference(weights, _initial(uninterrupted), "expert_gate") > 1e-3


@pytest.mark.slow
def test_a_killed_lora_run_resumed_from_its_checkpoint_ends_like_the_uninterrupted_run(lora_resume):
    """LoRA (dropout 0.05) + the fully trained modules, AdamW, warm-up and cosine schedule, clipping, shuffled data."""
    _check_resumed_like_uninterrupted(lora_resume / "uninterrupted", lora_resume / "killed")


@pytest.mark.slow
@pytest.mark.parametrize(
    "lost, difference",
    [("optimizer.pt", 1e-3), ("rng_state.pth", 1e-4)],
    ids=["optimizer-and-schedule", "random-state"],
)
def test_the_resume_check_sees_a_lost_part_of_the_checkpoint(lora_resume, tmp_path, lost, difference):
    """The controls of the test above: resumed from the same step-2 checkpoint without its optimizer file (the trainer
    then starts a fresh AdamW and learning-rate schedule: it loads the scheduler only with the optimizer) or without
    its random state (other dropout masks), the run ends visibly elsewhere."""
    checkpoint = tmp_path / "checkpoints" / "checkpoint-2"
    shutil.copytree(lora_resume / "killed" / "checkpoints" / "checkpoint-2", checkpoint)
    (checkpoint / lost).unlink()
    _train_here(tmp_path, [*RESUME_RUN, "--resume", str(checkpoint)])
    assert _record(tmp_path)["start_step"] == 2
    assert _max_difference(_weights(tmp_path), _weights(lora_resume / "uninterrupted")) > difference


@pytest.mark.slow
def test_a_killed_full_model_run_resumes_like_the_uninterrupted_run(tmp_path):
    """Training the whole model (no LoRA): the same interruption (a stop at the step-2 checkpoint: a kill would leave the
    same checkpoint) and resume. Guards `SherlockTrainer._load_from_checkpoint` (transformers#43701: `Trainer` reloads
    a full checkpoint without the key conversions, so Sherlock's weights would silently not come back)."""
    run = [arg for arg in RESUME_RUN if arg not in ("--lora", "--lora-dropout", "0.05")]
    _train_here(tmp_path / "uninterrupted", run)
    _check_resumed_like_uninterrupted(tmp_path / "uninterrupted", _kill_and_resume(tmp_path, run, kill=False))


# --- the accelerate configs --------------------------------------------------------------------------------------------

CONFIG_FILES = {
    "single_gpu.yaml": ("NO", 1),
    "multi_gpu_ddp.yaml": ("MULTI_GPU", 8),
    "fsdp.yaml": ("FSDP", 8),
    "deepspeed_zero2.yaml": ("DEEPSPEED", 8),
}


def test_the_accelerate_configs_are_the_ones_documented():
    assert sorted(path.name for path in CONFIGS.glob("*.yaml")) == sorted(CONFIG_FILES)
    readme = (CONFIGS / "README.md").read_text()
    for name in CONFIG_FILES:
        assert f"configs/accelerate/{name}" in readme
    assert "torchrun --nproc_per_node" in readme and "-m sherlock.cli train" in readme


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_accelerate_reads_each_config(name):
    """accelerate's own loader (`accelerate launch --config_file` uses it); every key of the nested sections is an
    option of `accelerate launch` (a misspelt one would be dropped silently)."""
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.commands.launch import launch_command_parser
    from accelerate.utils import DistributedType

    config = load_config_from_file(str(CONFIGS / name))
    assert isinstance(config, ClusterConfig)
    distributed_type, processes = CONFIG_FILES[name]
    assert config.distributed_type == DistributedType[distributed_type]
    assert (config.mixed_precision, config.num_processes, config.num_machines) == ("bf16", processes, 1)
    assert config.use_cpu is False
    options = {action.dest for action in launch_command_parser()._actions}
    for section in (config.fsdp_config, config.deepspeed_config):
        unknown = [key for key in section if key not in options]
        assert not unknown, f"{name}: not `accelerate launch` options: {unknown}"
    if name == "fsdp.yaml":
        fsdp = config.fsdp_config
        assert fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
        assert fsdp["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"
        assert fsdp["fsdp_use_orig_params"] is True and fsdp["fsdp_version"] == 1
        assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    if name == "deepspeed_zero2.yaml":
        deepspeed = config.deepspeed_config
        assert deepspeed["zero_stage"] == 2
        assert "gradient_accumulation_steps" not in deepspeed and "gradient_clipping" not in deepspeed


@contextlib.contextmanager
def _environment(variables: dict[str, str]):
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _launch_environment(name: str) -> dict[str, str]:
    """What `accelerate launch --config_file configs/accelerate/<name>` gives the training processes (computed by
    accelerate's launcher, nothing started): the ACCELERATE_* / FSDP_* variables the trainer's Accelerator reads.
    `_validate_launch_command` is accelerate's own step of `accelerate launch` (private: if a release renames it,
    follow it here)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import prepare_deepspeed_cmd_env, prepare_multi_gpu_env, prepare_simple_launcher_cmd_env

    args = launch_command_parser().parse_args(["--config_file", str(CONFIGS / name), "-m", "sherlock.cli", "train"])
    args, defaults, _ = _validate_launch_command(args)
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
    elif args.multi_gpu or args.use_fsdp:
        env = prepare_multi_gpu_env(args)
    else:
        _, env = prepare_simple_launcher_cmd_env(args)
    return {key: value for key, value in env.items() if key.startswith(("ACCELERATE_", "FSDP_"))}


def test_the_launcher_turns_the_configs_into_the_training_settings():
    """bf16 everywhere; DDP without FSDP or DeepSpeed; FSDP with its wrap class and use_orig_params; ZeRO stage 2 with
    the accumulation and clipping left to the trainer ("auto" in the DeepSpeed config accelerate builds; building it
    does not need DeepSpeed installed)."""
    environments = {name: _launch_environment(name) for name in CONFIG_FILES}
    assert all(env["ACCELERATE_MIXED_PRECISION"] == "bf16" for env in environments.values())
    for name in ("single_gpu.yaml", "multi_gpu_ddp.yaml"):
        assert "ACCELERATE_USE_FSDP" not in environments[name] and "ACCELERATE_USE_DEEPSPEED" not in environments[name]
    fsdp = environments["fsdp.yaml"]
    assert fsdp["ACCELERATE_USE_FSDP"] == "true" and fsdp["FSDP_VERSION"] == "1"
    assert fsdp["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
    assert fsdp["FSDP_TRANSFORMER_CLS_TO_WRAP"] == "LlamaDecoderLayer"
    assert fsdp["FSDP_USE_ORIG_PARAMS"] == "true" and fsdp["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD"
    deepspeed = environments["deepspeed_zero2.yaml"]
    assert deepspeed["ACCELERATE_USE_DEEPSPEED"] == "true" and deepspeed["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "2"
    from accelerate.utils import DeepSpeedPlugin

    with _environment(deepspeed):
        settings = DeepSpeedPlugin().deepspeed_config
    assert settings["zero_optimization"]["stage"] == 2
    assert settings["gradient_accumulation_steps"] == "auto" and settings["gradient_clipping"] == "auto"


def test_fsdp_wraps_the_decoder_layers_whose_parameters_need_use_orig_params():
    """The FSDP units of fsdp.yaml's transformer-based wrap on Sherlock with LoRA: one per `LlamaDecoderLayer` (the
    class is in the model) and the root. Each mixes frozen and trainable parameters (LoRA beside the frozen
    projections; the frozen background and video towers beside the trained experts, gate and projector), which
    FSDP 1 accepts only with `use_orig_params`."""
    from accelerate.commands.config.config_args import load_config_from_file

    from sherlock.training.lora import add_lora

    fsdp = load_config_from_file(str(CONFIGS / "fsdp.yaml")).fsdp_config
    model = add_lora(build_model())
    wrap = fsdp["fsdp_transformer_layer_cls_to_wrap"].split(",")
    units = [name for name, module in model.named_modules() if type(module).__name__ in wrap]
    assert units, f"no {wrap} module in the model: FSDP would find nothing to wrap"
    assert len(units) == model.config.text_config.num_hidden_layers
    in_layers = {f"{unit}.{name}" for unit in units for name, _ in model.get_submodule(unit).named_parameters()}
    root = [(name, param) for name, param in model.named_parameters() if name not in in_layers]
    for unit in units:
        flags = {param.requires_grad for param in model.get_submodule(unit).parameters()}
        assert flags == {True, False}, f"{unit}: {flags}"
    assert {param.requires_grad for _, param in root} == {True, False}
    assert any(".background.tower." in name and not param.requires_grad for name, param in root)
    assert fsdp["fsdp_use_orig_params"] is True
