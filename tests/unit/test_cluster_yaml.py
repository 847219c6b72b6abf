"""launchers/cluster.yaml passes Ray's own cluster-config validation (schema + checks)."""

import copy
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "launchers" / "cluster.yaml"


def _config() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_validates_with_rays_schema():
    prepared = prepare_config(copy.deepcopy(_config()))
    validate_config(prepared)
    assert prepared["head_node_type"] == "head"
    assert set(prepared["available_node_types"]) == {"head", "gpu_worker"}


def test_setup_installs_pinned_torch_and_the_checkout():
    config = _config()
    setup = "\n".join(config["setup_commands"])
    assert "torch==2.14.1" in setup and "torchvision==0.29.1" in setup
    assert 'pip install -q -e "$HOME/raysearch-checkout[bo]"' in setup
    assert (
        config["file_mounts"]["~/raysearch-checkout"] == "." and "~/data" in config["file_mounts"]
    )


def test_the_validator_rejects_an_unknown_field():
    config = copy.deepcopy(_config())
    config["available_node_types"]["gpu_worker"]["gpus"] = 1  # not a node-type field
    with pytest.raises(Exception, match="gpus"):
        validate_config(prepare_config(config))


def test_the_commented_on_premise_alternative_validates():
    """The `local` provider block in the comments, with the legacy single-type layout it needs."""
    config = copy.deepcopy(_config())
    config["provider"] = {"type": "local", "head_ip": "10.0.0.10", "worker_ips": ["10.0.0.11"]}
    config["auth"] = {"ssh_user": "ubuntu", "ssh_private_key": "~/.ssh/id_rsa"}
    for key in ("available_node_types", "head_node_type", "max_workers"):
        config.pop(key)
    prepared = prepare_config(config)
    validate_config(prepared)
    assert prepared["provider"]["worker_ips"] == ["10.0.0.11"]


def test_the_loopback_on_premise_config_validates():
    config = yaml.safe_load((CLUSTER_YAML.parent / "cluster-local.yaml").read_text())
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    assert prepared["provider"] == {"type": "local", "head_ip": "127.0.0.1", "worker_ips": []}
    assert "ray stop" not in "\n".join(config["head_start_ray_commands"])  # shared machine


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-local.yaml"])
def test_nodes_keep_token_auth_and_no_port_listens_on_every_interface(name):
    """Every `ray start` runs with RAY_AUTH_MODE=token and the token reaches the nodes; no
    0.0.0.0 anywhere (the dashboard stays on loopback, reached by SSH port forwarding)."""
    text = (CLUSTER_YAML.parent / name).read_text()
    config = yaml.safe_load(text)
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    for command in (c for c in starts if "ray start" in c):
        assert "RAY_AUTH_MODE=token " in command and "disabled" not in command
    assert "0.0.0.0" not in yaml.safe_dump(config)  # comments aside
    setup = "\n".join(config["setup_commands"])
    assert "~/.ray/auth_token" in setup or "~/.ray/auth_token" in config["file_mounts"]
