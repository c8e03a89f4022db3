"""The loader: windows from the stream, shuffling, epochs, mixing, ranks, resume, errors."""

from __future__ import annotations

import numpy as np
import pytest

from phi1.errors import Phi1Error
from phi1.model.tokens import PackedDataset
from phi1.train.loader import TokenLoader

T = 16


def stream(n: int, offset: int = 0) -> np.ndarray:
    return (np.arange(n) + offset).astype(np.uint16)


def loader(paths, **kw) -> TokenLoader:
    args = dict(block_size=T, global_batch=4, micro_batch=2, seed=7)
    return TokenLoader([str(p) for p in paths], **{**args, **kw})


def first_tokens(batches) -> list[int]:
    return [int(x[0]) for xs, _ in batches for x in xs]


def test_windows_are_the_stream_sliced_across_shards(tmp_path, make_dataset):
    tokens = stream(1000)
    path = make_dataset(tmp_path / "d", tokens, [100, 7, 393, 500])
    ds = PackedDataset(path)
    assert ds.tokens == 1000
    assert np.array_equal(ds.read(95, 20), tokens[95:115].astype(np.int64))
    ld = loader([path])
    for _ in range(5):
        for x, y in ld.next_batches():
            assert x.shape == y.shape == (2, T)
            for row_x, row_y in zip(x.tolist(), y.tolist(), strict=True):
                assert row_x[0] % T == 0
                assert row_x == list(range(row_x[0], row_x[0] + T))
                assert row_y == [v + 1 for v in row_x]


def test_epochs_visit_every_training_window_once_and_never_validation(tmp_path, make_dataset):
    path = make_dataset(tmp_path / "d", stream(T * 40 + 1))
    ld = loader([path], val_fraction=0.1, global_batch=4)
    n_train = len(ld.sources[0].train)
    val = {w * T for w in ld.sources[0].val.tolist()}
    assert n_train + len(val) == 40 and len(val) == 4
    epoch1 = [s for _ in range(n_train // 4) for s in first_tokens(ld.next_batches())]
    epoch2 = [s for _ in range(n_train // 4) for s in first_tokens(ld.next_batches())]
    assert sorted(epoch1) == sorted(epoch2)
    assert len(set(epoch1)) == n_train and not set(epoch1) & val
    assert epoch1 != epoch2  # a fresh order each epoch
    assert ld.epochs() == {"d": 2.0}


def test_same_seed_same_order_other_seed_other_order(tmp_path, make_dataset):
    path = make_dataset(tmp_path / "d", stream(T * 64 + 1))
    runs = [first_tokens(loader([path], seed=s).next_batches()) for s in (1, 1, 2)]
    assert runs[0] == runs[1] != runs[2]


def test_resume_from_state_continues_exactly(tmp_path, make_dataset):
    a = make_dataset(tmp_path / "a", stream(T * 30 + 1))
    b = make_dataset(tmp_path / "b", stream(T * 11 + 1, offset=20000))
    full = loader([a, b], weights=[2, 1])
    seq = [first_tokens(full.next_batches()) for _ in range(25)]  # crosses epochs of both
    part = loader([a, b], weights=[2, 1])
    for _ in range(9):
        part.next_batches()
    state = part.state_dict()
    resumed = loader([a, b], weights=[2, 1])
    resumed.load_state_dict(state)
    assert [first_tokens(resumed.next_batches()) for _ in range(16)] == seq[9:]


def test_ranks_split_each_step_like_accumulation(tmp_path, make_dataset):
    path = make_dataset(tmp_path / "d", stream(T * 50 + 1))
    one = loader([path], global_batch=8, micro_batch=2)
    ranks = [loader([path], global_batch=8, micro_batch=2, rank=r, world_size=2) for r in range(2)]
    for _ in range(6):
        whole = first_tokens(one.next_batches())
        assert len(whole) == 8
        assert whole == first_tokens(ranks[0].next_batches()) + first_tokens(
            ranks[1].next_batches()
        )


def test_mixing_follows_the_weights_in_every_prefix(tmp_path, make_dataset):
    a = make_dataset(tmp_path / "code", stream(T * 20 + 1))
    b = make_dataset(tmp_path / "books", stream(T * 20 + 1, offset=30000))
    ld = loader([a, b], weights=[3, 1], global_batch=4, micro_batch=4)
    from_a = 0
    for step in range(1, 51):
        from_a += sum(v < 30000 for v in first_tokens(ld.next_batches()))
        assert abs(from_a - 0.75 * 4 * step) <= 1
    assert ld.counts == [150, 50]
    assert ld.epochs() == {"code": 150 / 20, "books": 50 / 20}


def test_default_weights_follow_dataset_sizes(tmp_path, make_dataset):
    a = make_dataset(tmp_path / "a", stream(T * 30 + 1))
    b = make_dataset(tmp_path / "b", stream(T * 10 + 1))
    assert loader([a, b]).weights == [0.75, 0.25]


def test_validation_batches_cover_the_held_out_windows_evenly(tmp_path, make_dataset):
    path = make_dataset(tmp_path / "d", stream(T * 100 + 1))
    held = [w * T for w in loader([path], val_fraction=0.05).sources[0].val.tolist()]
    assert len(held) == 5
    ranks = [loader([path], val_fraction=0.05, rank=r, world_size=2) for r in range(2)]
    got = [ld.val_batches(0, 5) for ld in ranks]
    assert len(got[0]) == len(got[1])  # the same number of forward calls on every rank
    seen = [int(x[i, 0]) for batches in got for x, _, n in batches for i in range(n)]
    assert sorted(seen) == held


def test_dataset_shorter_than_one_sequence_is_an_error(tmp_path, make_dataset):
    path = make_dataset(tmp_path / "d", stream(T))
    with pytest.raises(Phi1Error, match="fewer than one sequence"):
        loader([path])


def test_truncated_shard_is_an_error(tmp_path, make_dataset):
    path = make_dataset(tmp_path / "d", stream(500), [200, 300])
    shard = path / "shard-00001.bin"
    shard.write_bytes(shard.read_bytes()[:-3])
    with pytest.raises(Phi1Error, match="shard-00001.bin: truncated"):
        PackedDataset(path)


def test_missing_index_and_bad_batch_split_are_errors(tmp_path, make_dataset):
    with pytest.raises(Phi1Error, match="no index.json"):
        PackedDataset(tmp_path)
    path = make_dataset(tmp_path / "d", stream(500))
    with pytest.raises(Phi1Error, match="must split evenly"):
        loader([path], global_batch=6, micro_batch=4)
    with pytest.raises(Phi1Error, match="2 values for 1"):
        loader([path], weights=[1, 2])


def test_changed_data_refuses_to_resume(tmp_path, make_dataset):
    a = make_dataset(tmp_path / "a", stream(500))
    state = loader([a]).state_dict()
    b = make_dataset(tmp_path / "b", stream(500, offset=1))
    with pytest.raises(Phi1Error, match="datasets changed"):
        loader([b]).load_state_dict(state)
