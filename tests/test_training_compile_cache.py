"""The compile cache every node shares: where it is, that inductor uses it, and that a user's choice wins."""
import os

import pytest
from torch._inductor.runtime import cache_dir_utils

from core import Trainer
from scaling_laws.training.compile_cache import (COMPILE_CACHE_ENV, INDUCTOR_ENV, compile_cache_dir,
                                                 use_shared_compile_cache)
from scaling_laws.training.distributed import DistContext
from test_core import tiny_config


@pytest.fixture
def no_inductor_dir():
    """Neither variable set; both as they were afterwards (the code under test sets inductor's itself)."""
    saved = {name: os.environ.pop(name, None) for name in (INDUCTOR_ENV, COMPILE_CACHE_ENV)}
    yield
    for name, value in saved.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


def test_the_default_is_inductor_in_the_data_cache_folder(no_inductor_dir, data_cache):
    assert compile_cache_dir() == data_cache / "inductor"


def test_the_folder_is_inductors_and_tritons_once_chosen(no_inductor_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(COMPILE_CACHE_ENV, str(tmp_path / "shared"))
    assert use_shared_compile_cache() == str(tmp_path / "shared")
    assert cache_dir_utils.cache_dir() == str(tmp_path / "shared")
    assert cache_dir_utils.triton_cache_dir(0).startswith(str(tmp_path / "shared"))


def test_node_keeps_inductors_node_local_default(no_inductor_dir, monkeypatch):
    monkeypatch.setenv(COMPILE_CACHE_ENV, "node")
    assert compile_cache_dir() is None
    assert "node-local" in use_shared_compile_cache()
    assert cache_dir_utils.cache_dir() == cache_dir_utils.default_cache_dir()


def test_a_folder_that_cannot_be_made_leaves_the_node_local_default_and_says_so(no_inductor_dir, tmp_path,
                                                                               monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(COMPILE_CACHE_ENV, str(tmp_path / "a_file" / "inductor"))
    message = use_shared_compile_cache()
    assert "node-local" in message and "a_file" in message and COMPILE_CACHE_ENV in message
    assert INDUCTOR_ENV not in os.environ


def test_a_users_torchinductor_cache_dir_wins(no_inductor_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(INDUCTOR_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv(COMPILE_CACHE_ENV, str(tmp_path / "shared"))
    assert use_shared_compile_cache() == str(tmp_path / "mine")
    assert not (tmp_path / "shared").exists()


@pytest.mark.parametrize("compile_mode, shared", [("on", True), ("off", False)])
def test_a_compiled_trainer_points_inductor_at_the_shared_folder(no_inductor_dir, tiny_fields, data_cache,
                                                                 compile_mode, shared):
    Trainer(tiny_config(tiny_fields, compile=compile_mode), DistContext())  # compiles lazily: nothing built yet
    assert (os.environ.get(INDUCTOR_ENV) == str(data_cache / "inductor")) is shared
