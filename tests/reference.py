"""A plain NumPy implementation of the online mixture's rules, for checking the Numba kernel.

It keeps the components of a pixel in a Python list, sorts them by w/sigma explicitly (a
stable sort) and performs the same float32 operations as the kernel, one pixel at a time.  It
shares nothing with bgsub but the meaning of the state array's fields, which it reads and writes
through ``to_components`` / ``from_components``.
"""

import math

import numpy as np

f32 = np.float32


def to_components(state, i, j):
    """[(u, var, mean array)] of the used components of pixel (i, j), in rank order."""
    comps = []
    for k in range(state.shape[0]):
        rec = state[k, i, j]
        if rec[0] <= 0:
            break
        comps.append([f32(rec[0]), f32(rec[1]), rec[2:].astype(np.float32).copy()])
    return comps


def from_components(state, i, j, comps):
    state[:, i, j, :] = 0
    for k, (u, var, mean) in enumerate(comps):
        state[k, i, j, 0] = u
        state[k, i, j, 1] = var
        state[k, i, j, 2:] = mean


def _sort(comps):
    # stable insertion sort by decreasing u/sigma with the kernel's comparison (u_a^2 var_b >
    # u_b^2 var_a); ties keep their order
    out = []
    for comp in comps:
        pos = len(out)
        while pos > 0 and comp[0] * comp[0] * out[pos - 1][1] > out[pos - 1][0] * out[pos - 1][0] * comp[1]:
            pos -= 1
        out.insert(pos, comp)
    return out


def _shadow(x, comps, p, tau):
    prefix = f32(0)
    for u, var, mean in comps:
        if prefix > p.bg_u:
            break
        num = den = f32(0)
        for c in range(len(x)):
            num = f32(num + f32(x[c] * mean[c]))
            den = f32(den + f32(mean[c] * mean[c]))
        if den > 0:
            a = f32(num / den)
            if tau <= a <= 1:
                dist = f32(0)
                for c in range(len(x)):
                    e = f32(f32(a * mean[c]) - x[c])
                    dist = f32(dist + f32(e * e))
                if dist < f32(f32(f32(p.thr2 * var) * a) * a):
                    return True
        prefix = f32(prefix + u)
    return False


def _renormalise(comps, u_total):
    total = f32(0)
    for comp in comps:
        total = f32(total + comp[0])
    norm = f32(u_total / total)
    for comp in comps:
        comp[0] = f32(comp[0] * norm)


def reference_apply(frame, state, known, p, rho_rule, var_init, var_min, var_max,
                    shadows=False, tau=f32(0.5)):
    """One frame; returns the mask and updates ``state`` in place (same contract as the kernel)."""
    h, w, n_ch = frame.shape
    n_comp = state.shape[0]
    mask = np.zeros((h, w), np.uint8)
    for i in range(h):
        for j in range(w):
            x = frame[i, j].astype(np.float32)
            comps = to_components(state, i, j)
            matched, prefix, d2m = -1, f32(0), f32(0)
            for k, (u, var, mean) in enumerate(comps):
                d2 = f32(0)
                for c in range(n_ch):
                    diff = f32(x[c] - mean[c])
                    d2 = f32(d2 + f32(diff * diff))
                if d2 < f32(p.thr2 * var):
                    matched, d2m = k, d2
                    break
                prefix = f32(prefix + u)
            background = matched >= 0 and prefix <= p.bg_u
            mask[i, j] = 0 if background else 255
            if not background and shadows and _shadow(x, comps, p, tau):
                mask[i, j] = 127
            if not p.learn:
                continue
            if known is not None and known[i, j]:
                for comp in comps:
                    comp[0] = f32(comp[0] * p.inv_decay)
                from_components(state, i, j, comps)
                continue
            if matched >= 0:
                u, var, mean = comps[matched]
                u1 = f32(u + p.inc)
                if rho_rule == 0:
                    rho = f32(p.inc / u1)
                else:
                    dens = math.exp(-0.5 * float(d2m) / float(var)) * math.pow(
                        2.0 * math.pi * float(var), -0.5 * n_ch)
                    rho = f32(min(float(p.alpha) * dens, 1.0))
                new_mean = np.array([f32(mean[c] + f32(rho * f32(x[c] - mean[c])))
                                     for c in range(n_ch)], np.float32)
                v1 = f32(var + f32(rho * f32(f32(d2m * f32(1.0 / n_ch)) - var)))
                v1 = min(max(v1, var_min), var_max)
                comps[matched] = [u1, f32(v1), new_mean]
            else:
                new = [p.u_new, f32(var_init), x.copy()]
                if len(comps) < n_comp:
                    comps.append(new)
                else:
                    comps[-1] = new
                _renormalise(comps, p.u_total)
            if p.prune > 0:
                # Zivkovic: every weight loses the prior; the exhausted are dropped
                comps = _sort(comps)
                comps = [[f32(u - p.prune), v, m] for u, v, m in comps if f32(u - p.prune) > 0]
                _renormalise(comps, p.u_total)
            from_components(state, i, j, _sort(comps))
    return mask


def reference_neighbours(frame, state, mask, p):
    """The neighbourhood rule after the update: a 255 pixel whose value matches (d2 < thr2n
    var) a background component (the first B by weight, as in the classification) of one of
    its 8 neighbours becomes 0."""
    if not p.thr2n > 0:
        return mask
    h, w, n_ch = frame.shape
    out = mask.copy()
    for i in range(h):
        for j in range(w):
            if mask[i, j] != 255:
                continue
            x = frame[i, j].astype(np.float32)
            hit = False
            for ii in range(max(i - 1, 0), min(i + 2, h)):
                for jj in range(max(j - 1, 0), min(j + 2, w)):
                    if (ii, jj) == (i, j):
                        continue
                    prefix = f32(0)
                    for u, var, mean in to_components(state, ii, jj):
                        if prefix > p.bg_u:
                            break
                        d2 = f32(0)
                        for c in range(n_ch):
                            diff = f32(x[c] - mean[c])
                            d2 = f32(d2 + f32(diff * diff))
                        if d2 < f32(p.thr2n * var):
                            hit = True
                        prefix = f32(prefix + u)
            if hit:
                out[i, j] = 0
    return out


def reference_runs(mask, since, last, now):
    """The ghost rule's count: each 255 pixel's run of foreground frames starts at ``now`` when
    it was not foreground at ``now - 1`` (``last``); ``last`` becomes ``now``."""
    h, w = mask.shape
    for i in range(h):
        for j in range(w):
            if mask[i, j] == 255:
                if last[i, j] != now - 1:
                    since[i, j] = now
                last[i, j] = now


def _d2(a, b):
    d2 = f32(0)
    for c in range(len(a)):
        diff = f32(f32(a[c]) - f32(b[c]))
        d2 = f32(d2 + f32(diff * diff))
    return d2


def _blobs(cand):
    """8-connected blobs of the True pixels of ``cand``: a list of lists of (i, j)."""
    h, w = cand.shape
    seen = np.zeros_like(cand, bool)
    blobs = []
    for i in range(h):
        for j in range(w):
            if not cand[i, j] or seen[i, j]:
                continue
            blob, todo = [], [(i, j)]
            seen[i, j] = True
            while todo:
                a, b = todo.pop()
                blob.append((a, b))
                for aa in range(max(a - 1, 0), min(a + 2, h)):
                    for bb in range(max(b - 1, 0), min(b + 2, w)):
                        if cand[aa, bb] and not seen[aa, bb]:
                            seen[aa, bb] = True
                            todo.append((aa, bb))
            blobs.append(blob)
    return blobs


def _value_component(x, comps, thr2):
    """The rank (>= 1) of the first component that ``x`` matches, or None."""
    return next((k for k in range(1, len(comps)) if _d2(x, comps[k][2]) < f32(thr2 * comps[k][1])),
                None)


def reference_ghosts(frame, state, mask, since, now, ghost, thr2, thr2e, u_min, frac, stable,
                     min_px, known=None, model_mask=None):
    """The ghost rule after the update and the neighbourhood rule.  Candidates: 255 pixels
    foreground for ``ghost`` frames or more (now - since >= ghost), not known foreground.  A
    pixel's evidence: a neighbour that is 0 in ``mask`` whose rank-0 component its value is
    close to (d2 < thr2e var) and its own rank-0 mean does not match (d2 < thr2 var); its
    border: a neighbour 0 in ``mask``; stable: its value matches a component at rank >= 1 of
    weight >= ``u_min``.  A blob (8-connected candidates) of ``min_px`` pixels or more with
    border pixels, at least ``frac`` of them with evidence, and at least ``stable`` of its
    pixels stable is a ghost: each of its pixels whose value
    matches a component at rank >= 1 exchanges that component's weight with rank 0's, the
    components are sorted again, and the pixel becomes 0.  Everything is decided on the
    state and mask as they were before the rule.

    ``model_mask`` (default ``mask``): the mask of the model's own pass, before the
    neighbourhood rule, whose 255 pixels the runs count.  Candidates and background neighbours
    (0) are taken from it: a pixel the neighbourhood rule cleared is still a candidate of its
    blob, and not a background neighbour (its model is the foreground's)."""
    h, w, n_ch = frame.shape
    out = mask.copy()
    mask = mask if model_mask is None else model_mask
    cand = (mask == 255) & (now - since >= ghost)
    if known is not None:
        cand &= ~np.asarray(known, bool)
    ghosts = []
    for blob in _blobs(cand):
        n_border = n_evidence = n_stable = 0
        for i, j in blob:
            x = frame[i, j].astype(np.float32)
            own = state[0, i, j, 2:]
            border = evidence = False
            for ii in range(max(i - 1, 0), min(i + 2, h)):
                for jj in range(max(j - 1, 0), min(j + 2, w)):
                    if (ii, jj) == (i, j) or mask[ii, jj] != 0:
                        continue
                    border = True
                    if not state[0, ii, jj, 0] > 0:
                        continue
                    var = state[0, ii, jj, 1]
                    mean = state[0, ii, jj, 2:]
                    if _d2(x, mean) < f32(thr2e * var) and not _d2(own, mean) < f32(thr2 * var):
                        evidence = True
            k = _value_component(x, to_components(state, i, j), thr2)
            n_border += border
            n_evidence += evidence
            n_stable += k is not None and state[k, i, j, 0] >= u_min
        if (len(blob) >= min_px and n_border > 0 and n_evidence >= frac * n_border
                and n_stable >= stable * len(blob)):
            ghosts.append(blob)
    for blob in ghosts:
        for i, j in blob:
            x = frame[i, j].astype(np.float32)
            comps = to_components(state, i, j)
            k = _value_component(x, comps, thr2)
            if k is None:
                continue
            comps[0][0], comps[k][0] = comps[k][0], comps[0][0]
            from_components(state, i, j, _sort(comps))
            out[i, j] = 0
    return out


def _window_counts(fg, size):
    r = size // 2
    padded = np.pad(fg, r, mode="edge")
    h, w = fg.shape
    sums = np.zeros((h, w), np.int64)
    for dy in range(size):
        for dx in range(size):
            sums += padded[dy:dy + h, dx:dx + w]
    return sums


def reference_speckle(fg, size):
    """bool (H, W): the pixels of ``fg`` (bool) that lie in a size x size window whose
    pixels are all in ``fg``, windows clipped at the borders; one pixel at a time."""
    r = size // 2
    h, w = fg.shape

    def clipped(a, i, j):
        return a[max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1]

    solid = np.array([[clipped(fg, i, j).all() for j in range(w)] for i in range(h)], bool)
    near = np.array([[clipped(solid, i, j).any() for j in range(w)] for i in range(h)], bool)
    return fg & near.reshape(h, w)


def reference_vote(mask, size, vote, solid=1, speckle=1):
    """255 where at least ``vote`` of the size x size window (edges replicated) is 255, or
    where all of the solid x solid window is; with ``speckle`` > 1 both count only the 255
    that lies in a speckle x speckle block of 255 (:func:`reference_speckle`)."""
    if size <= 1:
        return mask
    fg = (mask == 255).astype(np.int64)
    need = max(1, math.ceil(vote * size * size - 1e-9))
    voters = reference_speckle(fg == 1, speckle).astype(np.int64) if speckle > 1 else fg
    keep = _window_counts(voters, size) >= need
    if solid > 1:
        keep |= _window_counts(voters, solid) == solid * solid
    return np.where(keep, 255, np.where(mask == 127, 127, 0)).astype(np.uint8)


def reference_texture(gray, means, bits, r_min, rq):
    """The texture cue's pixels (bool (H, W)): gray, the frame's uint8 (H, W); means, each
    pixel's background (its first component's mean, float32 (H, W, C)).  One pixel at a time:
    the background's gray value c (each mean rounded, then 29 B + 150 G + 77 R weighed in
    1/256ths), the bound t = max(r_min, c * rq / 256), the 8 neighbours at distance 2 (edges
    replicated) tested against [c - t, c + t] in the frame and in the background, the
    pixels where the two differ in >= ``bits`` of them; then opened 3x3 (edges clipped)."""
    h, w = gray.shape
    c_in = means.shape[2]

    def rounded(v):
        return int(f32(min(max(float(v), 0.0), 255.0)) + f32(0.5))

    bg = [[0] * w for _ in range(h)]
    for i in range(h):
        for j in range(w):
            ch = [rounded(means[i, j, k]) for k in range(c_in)]
            bg[i][j] = ch[0] if c_in == 1 else (29 * ch[0] + 150 * ch[1] + 77 * ch[2] + 128) >> 8
    hits = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            c = bg[i][j]
            t = max(r_min, (c * rq) >> 8)
            lo, hi = max(c - t, 0), min(c + t, 255)
            n = 0
            for dy in (-2, 0, 2):
                for dx in (-2, 0, 2):
                    if dy == 0 and dx == 0:
                        continue
                    ii, jj = min(max(i + dy, 0), h - 1), min(max(j + dx, 0), w - 1)
                    outside_f = not lo <= int(gray[ii, jj]) <= hi
                    outside_b = not lo <= bg[ii][jj] <= hi
                    n += outside_f != outside_b
            hits[i, j] = n >= bits
    eroded = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            eroded[i, j] = hits[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].all()
    opened = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            opened[i, j] = eroded[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].any()
    return opened
