"""Integration tests start a real local Ray (2 CPUs) once per module and shut it down."""

import pytest
import ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()
