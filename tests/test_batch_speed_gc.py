"""A batch block, and a pool chunk's pickled outcomes, pause the cyclic garbage collector and
always restore its state."""

from __future__ import annotations

import gc

import pytest

from twitchcds.batch._work import _block, _collector_paused, _run_pool_chunk, _unpickle_chunk
from twitchcds.knowledge.loader import builtin_knowledge_base
from twitchcds.pipeline import check_options


def _fail_paused() -> None:
    with _collector_paused():
        assert not gc.isenabled()
        raise RuntimeError


def test_restored_after_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        _fail_paused()
    assert gc.isenabled()


def test_left_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with _collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_block_restores_it() -> None:
    options = check_options(workup=False, explain=False, intervals=False)
    out = _block(['{"age": 30}', "not json"], builtin_knowledge_base(), True, "scores", options)
    assert [ok for ok, _ in out] == [True, False]
    assert gc.isenabled()


def test_a_pool_chunk_comes_back_as_the_block_made_it() -> None:
    options = check_options(workup=False, explain=False, intervals=False)
    items = ['{"age": 30}', "not json"]
    data = _run_pool_chunk(None, items, True, "scores", options)
    assert gc.isenabled()
    back = _unpickle_chunk(data)
    assert gc.isenabled()
    direct = _block(items, builtin_knowledge_base(), True, "scores", options)
    assert [ok for ok, _ in back] == [ok for ok, _ in direct] == [True, False]
    assert back[0][1] == direct[0][1]
    assert str(back[1][1][0]) == str(direct[1][1][0])
