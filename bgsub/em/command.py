"""What ``bgsub em`` does: read data, fit or select a mixture, describe it, plot it, sample it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

PALETTE = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
           (213, 94, 0), (204, 121, 167), (120, 120, 120), (0, 0, 0), (150, 75, 200)]


class DataError(ValueError):
    """Data that cannot be fitted; the message names the problem."""


def read_data(path: Path) -> np.ndarray:
    """A 2-D float array from a .npy file or a CSV (comma, semicolon, tab or space separated;
    a header line is skipped when it is not numeric)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            X = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc})") from None
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
            raise DataError(f"{path}: expected a 2-D numeric array, got {X.dtype} {X.shape}")
        return X.astype(np.float64)
    text = path.read_text(errors="replace")
    if not text.strip():
        raise DataError(f"{path}: empty file")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t ")
        delim = dialect.delimiter
    except csv.Error:
        delim = ","
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim, skipinitialspace=True)
            if any(c.strip() for c in r)]
    header = None
    try:
        [float(c) for c in rows[0] if c.strip()]
    except ValueError:
        header, rows = rows[0], rows[1:]
    data = []
    for n, row in enumerate(rows, start=2 if header else 1):
        cells = [c for c in row if c.strip()]
        try:
            data.append([float(c) for c in cells])
        except ValueError:
            raise DataError(f"{path}: line {n}: not a number in {row!r}") from None
    if not data:
        raise DataError(f"{path}: no data rows")
    widths = {len(r) for r in data}
    if len(widths) > 1:
        raise DataError(f"{path}: rows have different numbers of columns ({sorted(widths)})")
    return np.array(data, np.float64)


def describe(model) -> dict:
    return {"n_components": model.n_components, "covariance_type": model.covariance_type,
            "converged": bool(model.converged_), "n_iter": int(model.n_iter_),
            "lower_bound": float(model.lower_bound_), "weights": model.weights_.tolist(),
            "means": model.means_.tolist(), "covariances": np.asarray(model.covariances_).tolist()}


def _cov2(model, k):
    """The covariance of component k on the first two dimensions (a flat one for 1-D data)."""
    c = model.covariances_
    if model.means_.shape[1] == 1:
        v = {"full": lambda: c[k][0, 0], "tied": lambda: c[0, 0], "diag": lambda: c[k][0],
             "spherical": lambda: c[k]}[model.covariance_type]()
        return np.diag([v, 0.0])
    if model.covariance_type == "full":
        return c[k][:2, :2]
    if model.covariance_type == "tied":
        return c[:2, :2]
    if model.covariance_type == "diag":
        return np.diag(c[k][:2])
    return np.eye(2) * c[k]


def plot(model, X, path: Path, size=800) -> None:
    """Points coloured by component and each component's 1 and 2 sigma ellipses, on the first
    two dimensions, drawn with OpenCV."""
    import cv2

    labels = model.predict(X)
    xy = X[:, :2] if X.shape[1] >= 2 else np.hstack([X, np.zeros((len(X), 1))])
    lo, hi = xy.min(0), xy.max(0)
    pad = 0.08 * np.maximum(hi - lo, 1e-9)
    lo, hi = lo - pad, hi + pad
    scale = (size - 1) / np.maximum(hi - lo, 1e-12)

    def to_px(p):
        q = (np.asarray(p) - lo) * scale
        return np.stack([q[..., 0], size - 1 - q[..., 1]], -1)

    img = np.full((size, size, 3), 255, np.uint8)
    pts = to_px(xy).astype(np.int32)
    if len(pts) > 50_000:
        keep = np.random.default_rng(0).choice(len(pts), 50_000, replace=False)
        pts, labels = pts[keep], labels[keep]
    for (x, y), k in zip(pts, labels):
        cv2.circle(img, (int(x), int(y)), 2, PALETTE[k % len(PALETTE)][::-1], -1, cv2.LINE_AA)
    t = np.linspace(0, 2 * np.pi, 120)
    circle = np.stack([np.cos(t), np.sin(t)], 1)
    for k in range(model.n_components):
        vals, vecs = np.linalg.eigh(_cov2(model, k))
        mean = model.means_[k][:2] if model.means_.shape[1] >= 2 else np.r_[model.means_[k], 0]
        for s, thick in ((1, 2), (2, 1)):
            ring = mean + s * (circle * np.sqrt(np.maximum(vals, 0))) @ vecs.T
            cv2.polylines(img, [to_px(ring).astype(np.int32)], True, (0, 0, 0), thick,
                          cv2.LINE_AA)
        c = to_px(mean).astype(int)
        cv2.drawMarker(img, (int(c[0]), int(c[1])), (0, 0, 0), cv2.MARKER_CROSS, 14, 2)
        cv2.putText(img, f"{k}  w={model.weights_[k]:.2f}", (int(c[0]) + 8, int(c[1]) - 8),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    from bgsub.io.sinks import write_image_atomic

    write_image_atomic(Path(path), img)


def write_samples(model, n: int, path: Path) -> None:
    from bgsub.io.sinks import write_atomic

    S, labels = model.sample(n)
    d = S.shape[1]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([f"x{i}" for i in range(d)] + ["component"])
    for row, k in zip(S, labels):
        w.writerow([f"{v:.10g}" for v in row] + [int(k)])
    write_atomic(Path(path), buf.getvalue())


def align_labels(reference, labels, k):
    """A relabelling of ``labels`` (values 0..k-1) that agrees best with ``reference``, so
    that the same group gets the same colour in two pictures: returns ``perm`` with
    ``perm[label]`` the new label (exhaustive for k <= 7, greedy beyond)."""
    from itertools import permutations

    r = np.asarray(reference)
    kr = int(max(r.max(initial=0) + 1, k))
    table = np.zeros((k, kr), np.int64)
    np.add.at(table, (np.asarray(labels), r), 1)
    if k <= 7 and kr <= 7:
        best = max(permutations(range(kr), k), key=lambda p: table[np.arange(k), list(p)].sum())
        return np.array(best)
    perm = -np.ones(k, int)
    used = set()
    for i, j in sorted(np.ndindex(*table.shape), key=lambda ij: -table[ij]):
        if perm[i] < 0 and j not in used:
            perm[i] = j
            used.add(j)
    free = iter(sorted(set(range(max(k, kr))) - used))
    return np.array([p if p >= 0 else next(free) for p in perm])


def plot_compare(kmeans, mixture, X, path: Path, labels_true=None, title="", size=640) -> dict:
    """K-means (hard assignment) and the Gaussian mixture (soft assignment) side by side, on the
    first two dimensions: decision regions tinted, points coloured by assignment (the
    mixture's blended by responsibility), the mixture's 1 and 2 sigma ellipses, and the
    adjusted Rand index of each against ``labels_true`` when given.  Returns the indices."""
    import cv2

    from bgsub.em.mixture import adjusted_rand_score
    from bgsub.report import _draw
    from bgsub.io.sinks import write_image_atomic

    k = kmeans.n_clusters
    km_labels = kmeans.predict(X)
    resp = mixture.predict_proba(X)
    gm_labels = resp.argmax(1)
    ari = {}
    if labels_true is not None:
        ari = {"kmeans": adjusted_rand_score(labels_true, km_labels),
               "mixture": adjusted_rand_score(labels_true, gm_labels)}
        km_perm = align_labels(labels_true, km_labels, k)
        gm_perm = align_labels(labels_true, gm_labels, mixture.n_components)
    else:
        km_perm = np.arange(k)
        gm_perm = align_labels(km_labels, gm_labels, mixture.n_components)
    colours = np.array([PALETTE[i % len(PALETTE)][::-1] for i in range(
        max(k, mixture.n_components, int(gm_perm.max()) + 1, int(km_perm.max()) + 1))], float)

    xy = X[:, :2] if X.shape[1] >= 2 else np.hstack([X, np.zeros((len(X), 1))])
    lo, hi = xy.min(0), xy.max(0)
    pad = 0.06 * np.maximum(hi - lo, 1e-9)
    lo, hi = lo - pad, hi + pad
    margin_l, margin_b, margin_t = 62, 58, 78
    W, H = size + margin_l + 16, size + margin_b + margin_t
    grid_n = 160
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], grid_n), np.linspace(hi[1], lo[1], grid_n))
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    if X.shape[1] > 2:  # other dimensions held at their mean
        grid = np.hstack([grid, np.tile(X[:, 2:].mean(0), (len(grid), 1))])
    elif X.shape[1] == 1:
        grid = grid[:, :1]
    keep = np.arange(len(X))
    if len(keep) > 20_000:
        keep = np.random.default_rng(0).choice(len(X), 20_000, replace=False)

    def panel(name, region_labels, point_colours, draw_model):
        img = np.full((H, W, 3), 255, np.uint8)
        ax = _draw.Axes(img, (margin_l, margin_t, margin_l + size, margin_t + size),
                        (lo[0], hi[0]), (lo[1], hi[1]))
        regions = colours[region_labels.reshape(grid_n, grid_n)]
        regions = cv2.resize((255 - 0.16 * (255 - regions)).astype(np.uint8), (size, size),
                             interpolation=cv2.INTER_NEAREST)
        img[ax.y0:ax.y1, ax.x0:ax.x1] = regions
        ax.frame("x0", "x1" if X.shape[1] > 1 else "")
        px, py = ax.px(xy[keep, 0], xy[keep, 1])
        for x, y, c in zip(px, py, point_colours[keep]):
            cv2.circle(img, (int(x), int(y)), 3, tuple(int(v) for v in c), -1, cv2.LINE_AA)
        draw_model(ax)
        cv2.rectangle(img, (ax.x0, ax.y0), (ax.x1, ax.y1), _draw.INK, 1)
        _draw.text(img, name[0], (margin_l, 26), 0.7, thickness=2)
        _draw.text(img, name[1], (margin_l, 52), 0.55)
        return img

    def km_model(ax):
        for c in kmeans.cluster_centers_:
            x, y = ax.px(c[0], c[1] if len(c) > 1 else 0)
            cv2.drawMarker(ax.img, (int(x), int(y)), (0, 0, 0), cv2.MARKER_TILTED_CROSS, 18, 3)

    def gm_model(ax):
        t = np.linspace(0, 2 * np.pi, 120)
        circle = np.stack([np.cos(t), np.sin(t)], 1)
        for j in range(mixture.n_components):
            vals, vecs = np.linalg.eigh(_cov2(mixture, j))
            mean = mixture.means_[j][:2] if mixture.means_.shape[1] >= 2 else np.r_[
                mixture.means_[j], 0]
            for s, thick in ((1, 2), (2, 1)):
                ring = mean + s * (circle * np.sqrt(np.maximum(vals, 0))) @ vecs.T
                rx, ry = ax.px(ring[:, 0], ring[:, 1])
                cv2.polylines(ax.img, [np.stack([rx, ry], 1).astype(np.int32)], True,
                              (0, 0, 0), thick, cv2.LINE_AA)
            x, y = ax.px(mean[0], mean[1])
            cv2.drawMarker(ax.img, (int(x), int(y)), (0, 0, 0), cv2.MARKER_CROSS, 14, 2)

    def ari_text(key):
        return (f"adjusted Rand index vs true labels: {ari[key]:.2f}" if ari
                else "no true labels: no adjusted Rand index")

    left = panel(("K-means: hard assignment", f"{ari_text('kmeans')}  (inertia "
                  f"{kmeans.inertia_:.4g})"),
                 km_perm[kmeans.predict(grid)], colours[km_perm[km_labels]], km_model)
    # soft: each point's colour is the responsibility-weighted mix of the components' colours
    soft_colours = resp @ colours[gm_perm]
    right = panel((f"Gaussian mixture ({mixture.covariance_type}): soft assignment",
                   f"{ari_text('mixture')}  (colours mixed by responsibility)"),
                  gm_perm[mixture.predict(grid)], soft_colours, gm_model)
    out = np.hstack([left, np.full((H, 20, 3), 255, np.uint8), right])
    if title:
        head = np.full((44, out.shape[1], 3), 255, np.uint8)
        _draw.text(head, title, (margin_l, 32), 0.75, thickness=2)
        out = np.vstack([head, out])
    write_image_atomic(Path(path), out)
    return ari
