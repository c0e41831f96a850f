"""Slow, explicit LRP oracles in matrix form (float64), independent of the rule implementations.

Every linear-family layer is materialised as a dense matrix ``A`` (``z = A x + b`` per sample) by
pushing unit vectors through ``layer.affine``; the rules are then evaluated entry by entry with
explicit Python loops, exactly as written in docs/rules.md.
"""

from __future__ import annotations

import numpy


def materialise(layer, in_shape, w=None):
    """``(A, b)`` with ``A`` of shape (J, n_in) and ``b`` of shape (J,) such that ``affine(x) = A x + b``."""
    w = layer.lrp_weight if w is None else w
    size = int(numpy.prod(in_shape))
    E = numpy.eye(size).reshape(size, *in_shape)
    A = layer.affine(E, w).reshape(size, -1).T.copy()
    bias = layer.lrp_bias
    b = numpy.zeros(A.shape[0])
    if bias is not None:
        b = layer.affine(numpy.zeros((1, *in_shape)), w, bias).reshape(-1)
    return A, b


def stab(d, eps, form="signed"):
    """Scalar stabiliser, written out."""
    if form == "signed":
        return d + eps if d >= 0 else d - eps
    if form == "unsigned":
        return d + eps
    return d + eps if d == 0 else d


def _div(r, d):
    return 0.0 if d == 0 else r / d


def _per_sample(fn, A, b, X, R, *args):
    N = X.shape[0]
    x2, r2 = X.reshape(N, -1), R.reshape(N, -1)
    return numpy.stack([fn(A, b, x2[n], r2[n], *args) for n in range(N)]).reshape(X.shape)


def _eps_one(A, b, x, r, eps, use_bias, form="signed"):
    J, n_in = A.shape
    out = numpy.zeros(n_in)
    for j in range(J):
        z = sum(A[j, i] * x[i] for i in range(n_in)) + (b[j] if use_bias else 0.0)
        d = stab(z, eps, form)
        for i in range(n_in):
            out[i] += _div(A[j, i] * x[i] * r[j], d)
    return out


def epsilon(A, b, X, R, eps, use_bias=True, form="signed"):
    """``R_i = sum_j A_ji x_i R_j / stab(z_j)``."""
    return _per_sample(_eps_one, A, b, X, R, eps, use_bias, form)


def _ab_one(A, b, x, r, alpha, beta, eps, bias_mode, form):
    J, n_in = A.shape
    out = numpy.zeros(n_in)
    for j in range(J):
        c = [A[j, i] * x[i] for i in range(n_in)]
        cp = [max(v, 0.0) for v in c]
        cn = [min(v, 0.0) for v in c]
        bp = {"split": max(b[j], 0.0), "full": b[j], "none": 0.0}[bias_mode]
        bn = {"split": min(b[j], 0.0), "full": b[j], "none": 0.0}[bias_mode]
        sp, sn = sum(cp), sum(cn)
        # an empty part (all contributions and its bias share 0) passes nothing
        fp = 0.0 if (sp == 0 and bp == 0) else _div(r[j], stab(sp + bp, eps, form))
        fn = 0.0 if (sn == 0 and bn == 0) else _div(r[j], stab(sn + bn, eps, form))
        for i in range(n_in):
            out[i] += alpha * cp[i] * fp - beta * cn[i] * fn
    return out


def alphabeta(A, b, X, R, alpha, beta, eps, bias_mode="split", form="signed"):
    """``R_i = α sum_j c+_ij R_j / stab(d+_j) - β sum_j c-_ij R_j / stab(d-_j)`` (product thresholding)."""
    return _per_sample(_ab_one, A, b, X, R, alpha, beta, eps, bias_mode, form)


def zplus_unsplit(A, b, X, R, eps, bias_mode="positive", form="signed"):
    """Captum form: ``c_ij = x_i A+_ji``, ``d_j = sum_i c_ij + b'_j``."""
    Ap = numpy.maximum(A, 0)
    bb = {"positive": numpy.maximum(b, 0), "full": b, "none": 0 * b}[bias_mode]
    return _per_sample(_eps_one, Ap, bb, X, R, eps, True, form)


def _gamma_classic_one(A, b, x, r, g, eps, bias_mode, form):
    Ag = A + g * numpy.maximum(A, 0)
    bg = {"modified": b + g * numpy.maximum(b, 0), "raw": b, "none": 0 * b}[bias_mode]
    return _eps_one(Ag, bg, x, r, eps, True, form)


def gamma_classic(A, b, X, R, g, eps, bias_mode="modified", form="signed"):
    return _per_sample(_gamma_classic_one, A, b, X, R, g, eps, bias_mode, form)


def _gamma_gen_one(A, b, x, r, g, eps, bias_mode, form):
    J, n_in = A.shape
    out = numpy.zeros(n_in)
    for j in range(J):
        z = sum(A[j, i] * x[i] for i in range(n_in)) + b[j]
        if z == 0:
            continue
        c = numpy.zeros(n_in)
        for i in range(n_in):
            a = A[j, i]
            up, dn = a + g * max(a, 0.0), a + g * min(a, 0.0)
            if z > 0:
                c[i] = max(x[i], 0.0) * up + min(x[i], 0.0) * dn
            else:
                c[i] = max(x[i], 0.0) * dn + min(x[i], 0.0) * up
        if bias_mode == "modified":
            bj = b[j] + g * (max(b[j], 0.0) if z > 0 else min(b[j], 0.0))
        else:
            bj = {"raw": b[j], "none": 0.0}[bias_mode]
        d = stab(c.sum() + bj, eps, form)
        out += c * _div(r[j], d)
    return out


def gamma_generalized(A, b, X, R, g, eps, bias_mode="modified", form="signed"):
    return _per_sample(_gamma_gen_one, A, b, X, R, g, eps, bias_mode, form)


def zbox(A, X, R, low, high, eps, form="signed"):
    """``d_j = sum_i (A_ji x_i - A+_ji l_i - A-_ji h_i)``; bounds are flat arrays of size n_in."""
    N = X.shape[0]
    x2, r2 = X.reshape(N, -1), R.reshape(N, -1)
    J, n_in = A.shape
    out = numpy.zeros_like(x2)
    for n in range(N):
        for j in range(J):
            c = [
                A[j, i] * x2[n, i] - max(A[j, i], 0) * low[i] - min(A[j, i], 0) * high[i] for i in range(n_in)
            ]
            d = stab(sum(c), eps, form)
            for i in range(n_in):
                out[n, i] += _div(c[i] * r2[n, j], d)
    return out.reshape(X.shape)


def input_free(M, R, bias=None):
    """``R_i = sum_j M_ji R_j / (sum_i' M_i'j + bias_j)`` (flat: M = connectivity; w²: M = A²)."""
    N = R.shape[0]
    r2 = R.reshape(N, -1)
    J, n_in = M.shape
    out = numpy.zeros((N, n_in))
    for j in range(J):
        d = M[j].sum() + (0.0 if bias is None else bias[j])
        for i in range(n_in):
            out[:, i] += M[j, i] * (r2[:, j] / d if d != 0 else 0.0)
    return out


def maxpool_wta(x, R, pool, stride, ties="split"):
    """Explicit loops over samples, windows and channels (NHWC)."""
    N = x.shape[0]
    _, Ho, Wo, C = R.shape
    out = numpy.zeros_like(x)
    for n in range(N):
        for p in range(Ho):
            for q in range(Wo):
                for c in range(C):
                    win = x[
                        n, p * stride[0] : p * stride[0] + pool[0], q * stride[1] : q * stride[1] + pool[1], c
                    ]
                    m = win.max()
                    idx = [(a, b) for a in range(pool[0]) for b in range(pool[1]) if win[a, b] == m]
                    if ties == "first":
                        idx = idx[:1]
                    for a, b in idx:
                        out[n, p * stride[0] + a, q * stride[1] + b, c] += R[n, p, q, c] / len(idx)
    return out


def maxpool_flat(x, R, pool, stride):
    _, Ho, Wo, _ = R.shape
    out = numpy.zeros_like(x)
    k = pool[0] * pool[1]
    for p in range(Ho):
        for q in range(Wo):
            for a in range(pool[0]):
                for b in range(pool[1]):
                    out[:, p * stride[0] + a, q * stride[1] + b, :] += R[:, p, q, :] / k
    return out
