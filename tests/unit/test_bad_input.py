"""Every bad input of the issue's table: exit code 2 and a message naming it, before Ray starts.

``ray.init`` is replaced by a function that fails the test, so each case also proves that the
error comes before any Ray work.
"""

import ast
import importlib.util
import json
import pickle
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import ray
import torch

from raysearch.analysis.results_folder import write_fingerprint
from raysearch.cli import main
from raysearch.cli.main import build_parser, compare_settings
from raysearch.tune.preflight import check_ray_address, check_resumable

LAUNCH = Path(__file__).resolve().parents[2] / "launchers" / "launch.py"


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    def fail(*args, **kwargs):
        pytest.fail("ray.init was called: the error came after Ray work started")

    monkeypatch.setattr(ray, "init", fail)
    for name in ("RAY_ADDRESS", "RAY_RUNTIME_ENV_HOOK"):  # unset, and restored after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["compare", "--dataset", "imagenet"], "unknown dataset 'imagenet'; registered datasets: fashion-mnist-mini"),
        (["trial", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["compare", "--searchers", "s2e,nope"], "unknown or unavailable searcher(s) ['nope']; registered: s2e"),
        (["compare", "--noise", "symmetric:1.5"], "noise rate must be in [0, 1), got 1.5 in 'symmetric:1.5'"),
        (["compare", "--noise", "foo:0.2"], "bad noise spec 'foo:0.2'; expected 'none' or KIND:RATE"),
        (["trial", "--schedule", '{"family": "coteaching", "tau": 1.5, "t_k": 10, "c": 1}'],
         "parameter 'tau' must be a number in [0.0, 1.0], got 1.5"),
        (["trial", "--schedule", "nope"], "--schedule 'nope' is neither a family"),
        (["compare", "--dataset", "cifar10", "--data-root", "/nonexistent"],
         "dataset 'cifar10' not found; looked in /nonexistent/cifar-10-batches-py"),
        (["trial", "--dataset", "fashion-mnist", "--data-root", "/nonexistent"],
         "dataset 'fashion-mnist' not found; looked in /nonexistent,"),
        (["compare", "--address", "127.0.0.1:1"], "cannot reach the Ray cluster at '127.0.0.1:1'"),
        (["trial", "--address", "127.0.0.1:1"], "cannot reach the Ray cluster at '127.0.0.1:1'"),
        (["reweight", "--address", "127.0.0.1:1"], "cannot reach the Ray cluster at '127.0.0.1:1'"),
        (["compare", "--noise", ""], "bad noise spec ''; expected 'none' or KIND:RATE"),
        (["reweight", "--noise", ""], "bad noise spec ''; expected 'none' or KIND:RATE"),
        (["compare", "--max-batches-per-epoch", "0"],
         "max_batches_per_epoch must be an integer >= 1 (or unset: every batch), got 0"),
        (["reweight", "--max-batches-per-epoch", "0"], "max_batches_per_epoch must be an integer >= 1"),
        (["trial", "--schedule", '{"family": "coteaching", "tau": true, "t_k": 10, "c": 1}'],
         "parameter 'tau' must be a number, got True"),
        (["trial", "--schedule", "/nonexistent/schedule.json"],
         "--schedule file not found: /nonexistent/schedule.json"),
        (["compare", "--cpus-per-trial", "0"], "cpus_per_trial must be > 0, got 0.0"),
        (["trial", "--cpus", "0"], "--cpus must be >= 1, got 0"),
        (["reweight", "--cpus-per-trial", "0"], "--cpus-per-trial must be >= 1, got 0"),
    ],
)  # fmt: skip
def test_bad_trial_and_compare_input_exits_2_naming_it(argv, expected, tmp_path, capsys):
    error = _error(capsys, [*argv, "--out", str(tmp_path / "out")])
    assert error.startswith("raysearch: error: ") and expected in error
    assert not (tmp_path / "out").exists()  # nothing written for a run that cannot start


def test_unknown_nas_method_names_the_known_ones(tmp_path, capsys):
    error = _error(capsys, ["nas", "search", "--method", "nope", "--out", str(tmp_path)])
    assert "unknown NAS method 'nope'; known: [" in error and "'darts'" in error


def _launch():
    spec = importlib.util.spec_from_file_location("launch", LAUNCH)
    assert spec is not None and spec.loader is not None
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    return launch


def test_unknown_preset_lists_the_presets(capsys):
    assert _launch().main(["--preset", "nope"]) == 2
    error = capsys.readouterr().err
    assert "unknown preset 'nope'; presets in" in error and "smoke" in error


@pytest.mark.parametrize(
    "argv",
    [
        ["nas", "search", "--dataset", "cifar10", "--data-root", "/nonexistent"],
        ["nas", "evaluate", "--genotype", "DARTS_V2", "--dataset", "cifar10",
         "--data-root", "/nonexistent"],
        ["nas", "compare", "--methods", "darts", "--dataset", "cifar10",
         "--data-root", "/nonexistent"],
    ],
)  # fmt: skip
def test_nas_commands_check_the_data_root_before_ray(argv, tmp_path, capsys):
    error = _error(capsys, [*argv, "--out", str(tmp_path / "out")])
    assert "dataset 'cifar10' not found; looked in /nonexistent/cifar-10-batches-py" in error


@pytest.mark.parametrize("command", ["search", "evaluate", "compare"])
@pytest.mark.parametrize("how", ["RAY_ADDRESS", "--address"])
def test_nas_commands_fail_fast_on_an_unreachable_ray_address(command, how, monkeypatch, tmp_path, capsys):  # fmt: skip
    extra = ["--genotype", "DARTS_V2"] if command == "evaluate" else []
    if how == "RAY_ADDRESS":
        monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    else:
        extra += ["--address", "127.0.0.1:1"]
    error = _error(capsys, ["nas", command, *extra, "--out", str(tmp_path / "out")])
    assert "cannot reach the Ray cluster at '127.0.0.1:1'" in error
    assert not (tmp_path / "out").exists()


COMMANDS = [["compare"], ["trial"], ["reweight"], ["nas", "search"],
            ["nas", "evaluate", "--genotype", "DARTS_V2"], ["nas", "compare"]]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("under", [False, True], ids=["file", "under-a-file"])
def test_an_out_that_is_a_file_or_under_one_is_named(command, under, tmp_path, capsys):
    file = tmp_path / "results"
    file.write_text("not a folder")
    out = file / "sub" if under else file
    error = _error(capsys, [*command, "--out", str(out)])
    where = f"is under the file {file}" if under else "is a file"
    assert f"raysearch: error: --out {out} {where}; give a folder" in error
    assert file.read_text() == "not a folder"


def test_launch_with_an_unreachable_address_fails_fast(tmp_path, capsys):
    argv = ["--smoke-test", "--address", "127.0.0.1:1", "--out", str(tmp_path / "out")]
    assert _launch().main(argv) == 2
    assert "cannot reach the Ray cluster at '127.0.0.1:1'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ray_address_check_reads_ray_address_and_rejects_malformed(monkeypatch):
    check_ray_address("auto")  # left to Ray
    with socket.create_server(("127.0.0.1", 0)) as server:  # a reachable address passes
        check_ray_address(f"127.0.0.1:{server.getsockname()[1]}")
    with pytest.raises(ValueError, match="'nohostport' is not HOST:PORT"):
        check_ray_address("nohostport")
    monkeypatch.setenv("RAY_ADDRESS", "ray://127.0.0.1:1")
    with pytest.raises(ConnectionError, match="ray://127.0.0.1:1"):
        check_ray_address(None)


def _trial_state(status: str, checkpoint: Path) -> list[str]:
    """One ``trial_data`` entry of Tune's experiment state, written by Tune's own code (its
    checkpoint manager goes in as a cloudpickle blob)."""
    from ray.train._internal.checkpoint_manager import _CheckpointManager
    from ray.train._internal.session import _TrainingResult
    from ray.tune import Checkpoint, CheckpointConfig
    from ray.tune.experiment.trial import _TrainingRunMetadata

    metadata = _TrainingRunMetadata()  # as a Tune run fills it (ray.tune's classes)
    metadata.checkpoint_manager = _CheckpointManager(CheckpointConfig(num_to_keep=2))
    for folder in sorted(checkpoint.parent.glob("checkpoint_*")):  # the latest one last
        result = _TrainingResult(checkpoint=Checkpoint(str(folder)), metrics={"epoch": 1})
        metadata.checkpoint_manager.register_checkpoint(result)
    return [json.dumps({"status": status}), metadata.get_json_state()]


RESUME_ARGS = ["compare", "--searchers", "s2e", "--seeds", "1", "--resume", "--out"]


@pytest.fixture
def interrupted(tmp_path):
    """A ``raysearch compare`` folder as a killed driver leaves it: trial_a was running (its
    state records checkpoint 2), trial_b had finished."""
    experiment = tmp_path / "tune" / "s2e-seed0"
    for trial in ("trial_a", "trial_b"):
        for epoch in (1, 2):
            folder = experiment / trial / f"checkpoint_00000{epoch}"
            folder.mkdir(parents=True)
            torch.save({"epoch": epoch}, folder / "coteaching.pt")
        (experiment / trial / "params.json").write_text(json.dumps({"epochs": 3}))
        (experiment / trial / "result.json").write_text(json.dumps({"epoch": 1, "val_acc": 0.3}))
    state = {"trial_data": [_trial_state("RUNNING", experiment / "trial_a" / "checkpoint_000002"),
                            _trial_state("TERMINATED", experiment / "trial_b" / "checkpoint_000002")]}  # fmt: skip
    (experiment / "tuner.pkl").write_bytes(pickle.dumps({"_tune_config": None}))
    (experiment / "experiment_state-2026.json").write_text(json.dumps(state))
    (experiment / "searcher-state-2026.pkl").write_text(json.dumps({"version": 1}))
    settings = compare_settings(build_parser().parse_args([*RESUME_ARGS, str(tmp_path)]))
    write_fingerprint(tmp_path, "compare", settings.fingerprint())
    return tmp_path


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_resume_check_reads_only_what_tune_restores(interrupted):
    experiment = interrupted / "tune" / "s2e-seed0"
    check_resumable(interrupted)
    _truncate(experiment / "trial_a" / "checkpoint_000001" / "coteaching.pt")
    _truncate(experiment / "trial_b" / "checkpoint_000002" / "coteaching.pt")
    (experiment / "trial_a" / "checkpoint_000003").mkdir()  # half-written by the killed run
    (experiment / "trial_a" / "checkpoint_000003" / "coteaching.pt").write_bytes(b"PK\x03")
    check_resumable(interrupted)  # older, finished-trial and unrecorded checkpoints are not read
    (experiment / "tuner.pkl").write_bytes(b"garbage")
    (experiment / "DONE").write_text("{}")
    check_resumable(interrupted)  # a finished experiment is skipped, never restored


def test_a_recorded_checkpoint_folder_that_is_gone_is_named(interrupted):
    folder = interrupted / "tune" / "s2e-seed0" / "trial_a" / "checkpoint_000002"
    (folder / "coteaching.pt").unlink()
    folder.rmdir()
    with pytest.raises(ValueError, match=f"missing checkpoint folder {folder}, recorded in"):
        check_resumable(interrupted)


@pytest.mark.parametrize(
    "corrupt",
    ["trial_a/checkpoint_000002/coteaching.pt", "tuner.pkl", "experiment_state-2026.json"],
)
def test_corrupted_checkpoint_on_resume_names_the_file_and_deletes_nothing(
    corrupt, interrupted, capsys
):
    path = interrupted / "tune" / "s2e-seed0" / corrupt
    _truncate(path)
    before = _snapshot(interrupted)
    error = _error(capsys, [*RESUME_ARGS, str(interrupted)])
    assert f"corrupted checkpoint file {path} (" in error
    assert f"nothing in {interrupted} was changed or deleted" in error
    assert _snapshot(interrupted) == before


def test_raysearch_debug_shows_the_traceback_instead(monkeypatch):
    monkeypatch.setenv("RAYSEARCH_DEBUG", "1")
    with pytest.raises(KeyError, match="unknown dataset 'imagenet'"):
        main(["trial", "--dataset", "imagenet"])


class _CreatesFile:
    """Unpickling this opens (creates) ``path``: a stand-in for a crafted file running code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def test_the_crafted_payload_does_run_code_when_unpickled(tmp_path):
    """The payload of the tests below is live: a plain unpickling creates the file."""
    target = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_CreatesFile(target))).close()
    assert target.exists()


def _crafted_manager(target: Path) -> list[str]:
    metadata = {"checkpoint_manager": {"_type": "CLOUDPICKLE_FALLBACK",
                                       "value": pickle.dumps(_CreatesFile(target)).hex()}}  # fmt: skip
    return [json.dumps({"status": "RUNNING"}), json.dumps(metadata)]


@pytest.mark.parametrize("crafted", ["checkpoint", "manager", "tuner.pkl", "searcher-state"])
def test_resume_check_never_runs_a_crafted_file(crafted, interrupted, capsys):
    experiment = interrupted / "tune" / "s2e-seed0"
    target = interrupted.parent / "pwned"
    payload = pickle.dumps(_CreatesFile(target))
    if crafted == "checkpoint":
        torch.save({"model": _CreatesFile(target)}, experiment / "trial_a" / "checkpoint_000002" / "coteaching.pt")  # fmt: skip
    elif crafted == "manager":
        state = {"trial_data": [_crafted_manager(target)]}
        (experiment / "experiment_state-2026.json").write_text(json.dumps(state))
    elif crafted == "tuner.pkl":
        (experiment / "tuner.pkl").write_bytes(payload)
    else:
        (experiment / "searcher-state-2026.pkl").write_bytes(payload)
    if crafted in ("checkpoint", "manager"):  # refused: Tune or the trainable would run it
        expected = "corrupted checkpoint file" if crafted == "checkpoint" else "io.open"
        with pytest.raises(ValueError, match=expected):
            check_resumable(interrupted)
    else:  # only the structure is read; Tune reads its own pickles (README: trusted folders)
        check_resumable(interrupted)
    assert not target.exists()


def test_a_crafted_checkpoint_is_refused_on_trial_restore(tmp_path):
    from raysearch.tune.trainable import CoteachingTrainable

    target = tmp_path / "pwned"
    torch.save({"model": _CreatesFile(target)}, tmp_path / "coteaching.pt")
    trainable = CoteachingTrainable.__new__(CoteachingTrainable)
    trainable.run = SimpleNamespace(device=torch.device("cpu"))
    with pytest.raises(RuntimeError, match="cannot read checkpoint .*coteaching.pt"):
        trainable.load_checkpoint(str(tmp_path))
    assert not target.exists()


def test_every_torch_load_in_the_package_is_weights_only():
    """A source check: no ``torch.load`` in raysearch/ may unpickle arbitrary globals."""
    root = Path(__file__).resolve().parents[2] / "raysearch"
    calls = []
    for source in root.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
                calls.append((source.name, keywords.get("weights_only")))
    assert calls and all(flag == "True" for _, flag in calls), calls


def test_one_epoch_comparison_warns_that_schedules_cannot_differ(monkeypatch, tmp_path, capsys):
    from search_spaces.schedules import default_config, get_family

    for name in ("s2e", "coteaching", "single"):  # the claim the warning makes
        assert get_family(name).schedule(default_config(name, noise_rate=0.5), 1)(0) == 1.0

    def stop(*args, **kwargs):
        raise ValueError("stopped before Ray")

    monkeypatch.setattr("raysearch.tune.compare.run_compare", stop)
    for epochs, warned in (("1", True), ("2", False)):
        error = _error(capsys, ["compare", "--epochs", epochs, "--out", str(tmp_path / "out")])
        assert ("warning: --epochs 1: a schedule R(t) is read at t = 0 only" in error) is warned


def _stage(root: Path, session: str, name: str, content: bytes) -> Path:
    """Write ``content`` as Tune's staging copy of ``s2e-seed0``'s file ``name`` under the Ray
    temp folder ``root`` (``<root>/session_*/artifacts/<session>/<experiment>/driver_artifacts``)."""
    folder = root / "session_x" / "artifacts" / session / "s2e-seed0" / "driver_artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def test_a_snapshot_cut_short_while_tune_copied_it_is_restored_from_rays_staging_copy(
    interrupted, tmp_path_factory, monkeypatch, capsys
):
    """Tune copies its snapshots from the driver's staging folder into the results folder, not
    atomically: a SIGKILL mid-copy left an empty ``searcher-state-*.pkl`` (chaos test)."""
    ray_temp = tmp_path_factory.mktemp("raytmp")
    monkeypatch.setenv("RAY_TMPDIR", str(ray_temp))
    experiment = interrupted / "tune" / "s2e-seed0"
    name = "searcher-state-2026-12-01_19-04-57.pkl"
    whole = json.dumps({"version": 1, "optimizer": {"iteration": 2}}).encode()
    (experiment / "searcher-state-2026.pkl").unlink()  # ours is the newest session's
    (experiment / name).write_bytes(whole[:7])
    with pytest.raises(ValueError, match=f"corrupted checkpoint file {experiment / name}"):
        check_resumable(interrupted)  # no staging copy on this machine: refused, untouched
    assert (experiment / name).read_bytes() == whole[:7]
    _stage(ray_temp / "ray", "2026-12-01_19-04-57", name, b"{}" + whole)  # not what was cut
    with pytest.raises(ValueError, match="corrupted checkpoint file"):
        check_resumable(interrupted)
    _stage(ray_temp / "ray", "2026-12-01_19-04-57", name, whole)
    check_resumable(interrupted)
    assert (experiment / name).read_bytes() == whole
    assert "restored from Ray's staging copy" in capsys.readouterr().out


def test_a_cut_file_is_restored_from_the_ray_temp_dir_the_run_recorded(
    interrupted, tmp_path_factory, monkeypatch, capsys
):
    """A cluster started with ``ray start --temp-dir X`` stages under X, not /tmp/ray: the run
    records X (once, however often it starts) and ``--resume`` looks there too."""
    from raysearch.tune import preflight

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path_factory.mktemp("default-raytmp")))
    cluster_temp = tmp_path_factory.mktemp("cluster-temp")
    node = SimpleNamespace(get_temp_dir_path=lambda: str(cluster_temp))
    monkeypatch.setattr(preflight.ray._private.worker, "_global_node", node)
    (interrupted / preflight.RAY_TEMP_DIRS_FILE).write_text("not json")  # a hint, never fatal
    assert preflight.recorded_ray_temp_dirs(interrupted) == []
    for _ in range(2):
        preflight.record_ray_temp_dir(interrupted)
    assert preflight.recorded_ray_temp_dirs(interrupted) == [str(cluster_temp.resolve())]
    monkeypatch.setattr(preflight.ray._private.worker, "_global_node", None)  # a ray:// client
    preflight.record_ray_temp_dir(interrupted)
    assert preflight.recorded_ray_temp_dirs(interrupted) == [str(cluster_temp.resolve())]

    experiment = interrupted / "tune" / "s2e-seed0"
    whole = (experiment / "tuner.pkl").read_bytes()
    (experiment / "experiment_state-2026.json").rename(
        experiment / "experiment_state-2026-12-01_19-04-57.json"
    )
    (experiment / "tuner.pkl").write_bytes(whole[: len(whole) // 2])
    copy = _stage(cluster_temp, "2026-12-01_19-04-57", "tuner.pkl", whole)
    check_resumable(interrupted)
    assert (experiment / "tuner.pkl").read_bytes() == whole
    assert f"staging copy {copy}" in capsys.readouterr().out


def test_a_tuner_pkl_cut_short_is_restored_from_the_staging_copy_of_its_snapshots_session(
    interrupted, tmp_path_factory, monkeypatch, capsys
):
    """A resumed run uploads ``tuner.pkl`` from staging with every snapshot: a SIGKILL mid-copy
    left it empty (chaos test). Its copy is found under the session of the experiment's own
    snapshot files; another session's copy is never used."""
    ray_temp = tmp_path_factory.mktemp("raytmp")
    monkeypatch.setenv("RAY_TMPDIR", str(ray_temp))
    experiment = interrupted / "tune" / "s2e-seed0"
    whole = (experiment / "tuner.pkl").read_bytes()
    (experiment / "experiment_state-2026.json").rename(
        experiment / "experiment_state-2026-12-01_19-04-57.json"
    )
    (experiment / "tuner.pkl").write_bytes(b"")
    _stage(ray_temp / "ray", "2026-11-30_08-00-00", "tuner.pkl", whole)  # another experiment's
    with pytest.raises(ValueError, match=f"corrupted checkpoint file {experiment / 'tuner.pkl'}"):
        check_resumable(interrupted)
    assert (experiment / "tuner.pkl").read_bytes() == b""
    _stage(ray_temp / "ray", "2026-12-01_19-04-57", "tuner.pkl", whole)
    check_resumable(interrupted)
    assert (experiment / "tuner.pkl").read_bytes() == whole
    assert "restored from Ray's staging copy" in capsys.readouterr().out
    # a resumed run (session 19-06-10) stages under the first session's folder, 19-04-57
    (experiment / "experiment_state-2026-12-01_19-04-57.json").rename(
        experiment / "experiment_state-2026-12-01_19-06-10.json"
    )
    (experiment / "experiment_state-2026-12-01_19-04-57.json").write_text("{}")
    name = "searcher-state-2026-12-01_19-06-10.pkl"
    state = json.dumps({"version": 1, "optimizer": {"iteration": 3}}).encode()
    (experiment / "searcher-state-2026.pkl").unlink()
    (experiment / name).write_bytes(b"")
    _stage(ray_temp / "ray", "2026-12-01_19-04-57", name, state)
    check_resumable(interrupted)
    assert (experiment / name).read_bytes() == state
