"""Tests of lrp_toolbox.render: images, colour maps, spec strings, normalisation, files, figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from PIL import Image

import lrp_toolbox.render as render
from lrp_toolbox.render import (
    CUSTOM_COLORMAPS,
    digit_to_rgb,
    enlarge_image,
    get_colormap,
    hm_to_rgb,
    normalize,
    overlay,
    parse_colormap_spec,
    plot_grid,
    register_colormaps,
    save_image,
    to_uint8,
    vec2im,
)

REPO = Path(__file__).resolve().parents[1]
CUSTOM = sorted(CUSTOM_COLORMAPS)
RNG = np.random.default_rng(20240611)

# Relevance maps that broke the original maps: |min| >> max, all-zero, all-negative, tiny, huge.
ADVERSARIAL = {
    "min_dominates": np.array([[-100.0, -3.0], [0.01, 0.002]]),
    "all_zero": np.zeros((3, 4)),
    "all_negative": -np.abs(RNG.normal(size=(5, 5))) - 0.1,
    "all_positive": np.abs(RNG.normal(size=(5, 5))) + 0.1,
    "one_pixel": np.pad(np.array([[2.5]]), 3),
    "tiny": np.array([[1e-300, -5e-324], [0.0, 3e-310]]),
    "huge": np.array([[1e300, -1.7e308], [5e307, 0.0]]),
    "mixed": RNG.normal(size=(7, 6)),
}

# t = R / max|R| at hand-picked points: t in (-1, -0.5, -0.25, 0) and (0.25, 0.5, 1, 0.3).
T_GRID = np.array([[-1.0, -0.5, -0.25, 0.0], [0.25, 0.5, 1.0, 0.3]])
# Expected colours at T_GRID, worked out by hand from the formulas in docs/render.md.
EXPECTED_AT_T = {
    "gray-red": [
        [(0.0, 0.0, 1.0), (0.4, 0.4, 0.9), (0.6, 0.6, 0.85), (0.8, 0.8, 0.8)],
        [(0.85, 0.6, 0.6), (0.9, 0.4, 0.4), (1.0, 0.0, 0.0), (0.86, 0.56, 0.56)],
    ],
    "black-green": [
        [(0, 0, 1), (0, 0, 0.5), (0, 0, 0.25), (0, 0, 0)],
        [(0, 0.25, 0), (0, 0.5, 0), (0, 1, 0), (0, 0.3, 0)],
    ],
    "black-firered": [
        [(1, 1, 1), (0, 1, 1), (0, 0, 1), (0, 0, 0)],
        [(1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0.2, 0)],
    ],
    "blue-black-yellow": [
        [(0, 0, 1), (0, 0, 0.5), (0, 0, 0.25), (0, 0, 0)],
        [(0.25, 0.25, 0), (0.5, 0.5, 0), (1, 1, 0), (0.3, 0.3, 0)],
    ],
}


def loop_enlarge(img: np.ndarray, s: int) -> np.ndarray:
    """Oracle: explicit per-pixel loop, each pixel copied into an s x s block."""
    out = np.zeros((img.shape[0] * s, img.shape[1] * s, *img.shape[2:]), dtype=img.dtype)
    for i in range(img.shape[0]):
        for j in range(img.shape[1]):
            for a in range(s):
                for b in range(s):
                    out[i * s + a, j * s + b] = img[i, j]
    return out


# --- vec2im / enlarge_image ----------------------------------------------------------------------


def test_vec2im_square_and_explicit_shape():
    v = np.arange(12.0)
    np.testing.assert_array_equal(vec2im(np.arange(9)), np.arange(9).reshape(3, 3))
    np.testing.assert_array_equal(vec2im(v, (3, 4)), v.reshape(3, 4))
    with pytest.raises(ValueError, match="perfect square"):
        vec2im(v)
    with pytest.raises(ValueError, match="cannot reshape"):
        vec2im(v, (5, 5))


@pytest.mark.parametrize("s", [1, 2, 3, 5])
@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3), (3, 3, 1)])
def test_enlarge_image_equals_loop_oracle(shape, s):
    img = RNG.normal(size=shape)
    out = enlarge_image(img, s)
    assert out.shape == (shape[0] * s, shape[1] * s, *shape[2:])
    np.testing.assert_array_equal(out, loop_enlarge(img, s))
    np.testing.assert_array_equal(enlarge_image(img, np.int64(s)), out)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "3", None])
def test_enlarge_image_bad_scaling_raises(bad):
    with pytest.raises(ValueError, match="scaling"):
        enlarge_image(np.zeros((2, 2)), bad)


def test_enlarge_image_bad_rank_raises():
    with pytest.raises(ValueError, match="shape"):
        enlarge_image(np.zeros(4), 2)


# --- normalize -----------------------------------------------------------------------------------


def test_normalize_modes_by_hand():
    R = np.array([[-4.0, 2.0], [1.0, 0.0]])
    before = R.copy()
    np.testing.assert_array_equal(normalize(R), [[-1.0, 0.5], [0.25, 0.0]])
    np.testing.assert_array_equal(normalize(R, "absolute"), [[1.0, 0.5], [0.25, 0.0]])
    np.testing.assert_array_equal(normalize(R, "minmax"), [[0.0, 1.0], [5 / 6, 4 / 6]])
    out = normalize(R, "none")
    np.testing.assert_array_equal(out, R)
    assert out is not R
    np.testing.assert_array_equal(R, before)


@pytest.mark.parametrize("mode", ["symmetric", "absolute", "minmax", "none"])
def test_normalize_zero_and_constant_maps_give_zeros(mode):
    for R in (np.zeros((3, 3)), np.full((2, 2), 0.0)):
        out = normalize(R, mode)
        assert not np.isnan(out).any()
        np.testing.assert_array_equal(out, 0.0)
    assert not np.isnan(normalize(np.full((2, 2), 7.0), mode)).any()
    np.testing.assert_array_equal(normalize(np.full((2, 2), 7.0), "minmax"), 0.0)


def test_normalize_per_sample_equals_axis_and_is_independent():
    R = RNG.normal(size=(3, 4, 5)) * np.array([1e-3, 1.0, 1e3])[:, None, None]
    R[2] = 0.0
    per = normalize(R, per_sample=True)
    np.testing.assert_array_equal(per, normalize(R, axis=(1, 2)))
    np.testing.assert_allclose(np.abs(per[:2]).max(axis=(1, 2)), 1.0)
    np.testing.assert_array_equal(per[2], 0.0)
    np.testing.assert_array_equal(per[0], normalize(R[0]))
    # one global scale (sample 1 holds the largest |R|): sample 0 shrinks by max|R[1]|
    np.testing.assert_array_equal(normalize(R)[0], R[0] / np.abs(R[1]).max())


def test_normalize_errors():
    with pytest.raises(ValueError, match="unknown normalisation mode"):
        normalize(np.ones(3), "max")
    with pytest.raises(ValueError, match="NaN or Inf"):
        normalize(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="not both"):
        normalize(np.ones((2, 2)), axis=1, per_sample=True)


# --- custom colour maps ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED_AT_T))
def test_custom_map_colours_by_hand(name):
    out = hm_to_rgb(T_GRID * 3.7, scaling=1, cmap=name)
    np.testing.assert_allclose(out, np.array(EXPECTED_AT_T[name], dtype=float), atol=1e-12)


def test_gray_red2_by_hand_and_negative_is_background():
    # R = [0, 1, 0.3, -1] over a large zero background, so 10*std(t) > 1 never saturates.
    R = np.zeros((1, 4))
    R[0, :] = [0.0, 1.0, 0.3, -1.0]
    out = hm_to_rgb(R, scaling=1, cmap="gray-red2")[0]
    # x = 0: (0.9, 0.9, 0.9); x = 1: r = 0.9 - 0.5 = 0.4, g = b = 0.9 - 0.5 - 0.4 = 0;
    # x = 0.3: r = 0.9, g = b = 0.9 - 0.5 = 0.4; negative -> x = 0.
    np.testing.assert_allclose(out, [[0.9] * 3, [0.4, 0.0, 0.0], [0.9, 0.4, 0.4], [0.9] * 3], atol=1e-12)


def test_gray_red2_is_scale_invariant_and_saturates_outliers():
    R = np.full((100, 100), 1.0)
    R[0, 0] = 1000.0
    out = hm_to_rgb(R, scaling=1, cmap="gray-red2")
    # t = R/1000: std(t) ~ 0.00999, theta ~ 0.0999; the spike saturates to x = 1, the rest to
    # x = 0.001/theta ~ 0.01: g = 0.9 - 0.5 * x / 0.3 (without saturation x = 0.001 -> 0.89833).
    t = R / 1000.0
    x = 0.001 / (10 * t.std())
    np.testing.assert_allclose(out[0, 0], [0.4, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(out[5, 5], [0.9, 0.9 - 0.5 * x / 0.3, 0.9 - 0.5 * x / 0.3], atol=1e-12)
    # the original's threshold 10*var(R) depends on the scale of R; ours does not
    np.testing.assert_allclose(hm_to_rgb(R * 1e-6, scaling=1, cmap="gray-red2"), out, atol=1e-12)


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
@pytest.mark.parametrize("name", CUSTOM)
def test_custom_maps_stay_in_unit_range_and_do_not_mutate(name, case):
    R = ADVERSARIAL[case]
    before = R.copy()
    out = hm_to_rgb(R, scaling=2, cmap=name)
    assert out.shape == (R.shape[0] * 2, R.shape[1] * 2, 3)
    assert out.dtype == np.float64
    assert not np.isnan(out).any()
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    np.testing.assert_array_equal(R, before)


def test_min_dominated_map_does_not_overflow_where_original_did():
    # Original black-green / blue-black-yellow: B = -R/max(R) = 100/0.01 = 1e4 -> uint8 wrap.
    R = ADVERSARIAL["min_dominates"]
    for name in ("black-green", "blue-black-yellow"):
        out = hm_to_rgb(R, scaling=1, cmap=name)
        np.testing.assert_allclose(out[0, 0], [0.0, 0.0, 1.0])  # -100 is the extreme: full blue
        np.testing.assert_allclose(out[0, 1, 2], 0.03)  # -3 / 100


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    R=arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 6)),
        elements=st.floats(-1e308, 1e308, allow_nan=False, allow_infinity=False),
    ),
    name=st.sampled_from(CUSTOM),
)
def test_custom_maps_unit_range_property(R, name):
    before = R.copy()
    out = hm_to_rgb(R, scaling=1, cmap=name)
    assert np.isfinite(out).all()
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    np.testing.assert_array_equal(R, before)


def test_nan_relevance_raises():
    with pytest.raises(ValueError, match="NaN or Inf"):
        hm_to_rgb(np.array([[0.0, np.nan]]), cmap="gray-red")
    with pytest.raises(ValueError, match="NaN or Inf"):
        hm_to_rgb(np.array([[0.0, np.inf]]), cmap="jet")


# --- spec strings ---------------------------------------------------------------------------------


def test_spec_coldnhot_positions_and_colours():
    pos, col = parse_colormap_spec("0ff,00f,80:000,f00,ff0,fff")
    # 00f halfway between 0 and 0x80 -> 64; f00, ff0 at thirds of 128..255 -> 170, 212.
    np.testing.assert_array_equal(pos * 255, [0, 64, 128, 170, 212, 255])
    np.testing.assert_array_equal(col, [[0, 1, 1], [0, 0, 1], [0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]])


def test_spec_colour_forms_and_index_forms():
    pos, col = parse_colormap_spec(" 8:ABCDEF , 3C ,f: 7 ")
    # index '8' doubles to 0x88; 'f' to 0xff; a first index > 0 extends the first colour to 0.
    np.testing.assert_array_equal(pos * 255, [0, 0x88, (0x88 + 0xFF) // 2, 0xFF])
    np.testing.assert_array_equal(col[0], [0xAB / 255, 0xCD / 255, 0xEF / 255])
    np.testing.assert_array_equal(col[1], col[0])
    np.testing.assert_array_equal(col[2], [0x3C / 255] * 3)
    np.testing.assert_array_equal(col[3], [0x77 / 255] * 3)


def test_spec_last_index_below_ff_extends_and_steps_are_allowed():
    pos, col = parse_colormap_spec("000,40:f00,40:00f,c0:0f0")
    np.testing.assert_array_equal(pos * 255, [0, 0x40, 0x40, 0xC0, 0xFF])
    np.testing.assert_array_equal(col[-1], col[-2])
    cmap = get_colormap("000,40:f00,40:00f,c0:0f0")
    np.testing.assert_allclose(cmap(1.0)[:3], [0, 1, 0])


@pytest.mark.parametrize("spec", ["0ff,00f,80:000,f00,ff0,fff", "f00,00f", "000,40:f00,c0:f00,fff", "1,2,3"])
def test_spec_colormap_lut_matches_linear_interpolation(spec):
    pos, col = parse_colormap_spec(spec)
    cmap = get_colormap(spec)
    u = np.arange(256) / 255
    expected = np.stack([np.interp(u, pos, col[:, c]) for c in range(3)], axis=-1)
    np.testing.assert_allclose(cmap(u)[:, :3], expected, atol=1e-12)


BAD_SPECS = [
    ("fff", "at least two colours"),
    ("ff0,xyz", "'xyz'"),
    ("0ff,,000", "''"),
    ("80:000,40:fff", "'40:fff'"),
    ("100:000,fff", "'100'"),
    ("fffff,000", "'fffff'"),
    ("1:2:3,000", "'1:2:3'"),
    ("g00,000", "'g00'"),
    ("0f f,000", "'0f f'"),
    ("000,fff,", "''"),
    (":000,fff", "''"),
]


@pytest.mark.parametrize(("spec", "token"), BAD_SPECS)
def test_bad_specs_name_the_bad_token(spec, token):
    with pytest.raises(ValueError, match=re.escape(token)):
        parse_colormap_spec(spec)


def test_get_colormap_unknown_name_is_clear_and_nothing_is_evaluated():
    with pytest.raises(ValueError, match=r"unknown colour map 'jett'.*bad token 'jett'"):
        get_colormap("jett")
    with pytest.raises(ValueError, match="unknown colour map"):
        hm_to_rgb(np.ones((2, 2)), cmap="jet; __import__('os')")
    with pytest.raises(TypeError):
        get_colormap(3)
    sources = "".join(p.read_text() for p in Path(render.__file__).parent.glob("*.py"))
    assert "eval(" not in sources
    assert "exec(" not in sources


def test_get_colormap_kinds():
    assert get_colormap("jet") == matplotlib.colormaps["jet"]
    viridis = matplotlib.colormaps["viridis"]
    assert get_colormap(viridis) is viridis
    gr = get_colormap("lrp.gray-red")
    assert isinstance(gr, ListedColormap)
    assert gr == get_colormap("gray-red")
    np.testing.assert_allclose(gr(0.0)[:3], [0, 0, 1])
    np.testing.assert_allclose(gr(1.0)[:3], [1, 0, 0])
    coldnhot = get_colormap("zennit.coldnhot")
    assert coldnhot == get_colormap("0ff,00f,80:000,f00,ff0,fff")
    # zennit's bwr is not matplotlib's bwr: the prefix keeps them apart
    assert get_colormap("zennit.bwr") != get_colormap("bwr")


# --- hm_to_rgb / digit_to_rgb / overlay -----------------------------------------------------------


def test_hm_to_rgb_matplotlib_map_formula():
    R = RNG.normal(size=(6, 5))
    out = hm_to_rgb(R, scaling=3, cmap="jet")
    expected = matplotlib.colormaps["jet"]((R / np.abs(R).max() + 1) / 2)[..., :3]
    np.testing.assert_array_equal(out, loop_enlarge(expected, 3))
    # normalize=False: R is already in [-1, 1] (clipped)
    np.testing.assert_array_equal(
        hm_to_rgb(R, scaling=1, cmap="jet", normalize=False),
        matplotlib.colormaps["jet"]((np.clip(R, -1, 1) + 1) / 2)[..., :3],
    )
    np.testing.assert_array_equal(
        hm_to_rgb(R, scaling=1, cmap="hot", normalize="absolute"),
        matplotlib.colormaps["hot"](np.abs(R) / np.abs(R).max())[..., :3],
    )


def test_hm_to_rgb_accepts_vectors_and_channel_axis():
    R = RNG.normal(size=(4, 4))
    ref = hm_to_rgb(R, scaling=2)
    np.testing.assert_array_equal(hm_to_rgb(R.ravel(), scaling=2), ref)
    np.testing.assert_array_equal(hm_to_rgb(R[..., None], scaling=2), ref)
    np.testing.assert_array_equal(hm_to_rgb(R.ravel(), scaling=2, shape=(4, 4)), ref)
    with pytest.raises(ValueError, match="sum the channels"):
        hm_to_rgb(np.zeros((4, 4, 3)))


def test_hm_to_rgb_canny_outline_sets_edges_black():
    from skimage.feature import canny

    X = np.zeros((12, 12))
    X[3:9, 4:10] = 1.0
    R = RNG.uniform(0.2, 1.0, size=(12, 12))
    plain = hm_to_rgb(R, scaling=3, cmap="gray-red")
    outlined = hm_to_rgb(R, X=X, scaling=3, cmap="gray-red")
    edges = canny(loop_enlarge(X, 3), sigma=2)
    assert edges.sum() > 20
    assert (plain[edges] > 0).all(axis=-1).all()  # gray-red never renders black for R > 0
    np.testing.assert_array_equal(outlined[edges], 0.0)
    np.testing.assert_array_equal(outlined[~edges], plain[~edges])


def test_hm_to_rgb_shape_mismatch_is_value_error():
    with pytest.raises(ValueError, match=r"X has shape \(5, 5\) but R has shape \(4, 4\)"):
        hm_to_rgb(np.ones((4, 4)), X=np.ones((5, 5)))


def test_digit_to_rgb_binary_map_and_shape():
    X = np.array([[0.0, 1.0], [0.5, 2.0]])
    out = digit_to_rgb(X, scaling=2)
    assert out.shape == (4, 4, 3)
    np.testing.assert_allclose(out[0, 0], [1, 1, 1])  # binary: 0 -> white
    np.testing.assert_allclose(out[0, 2], [0, 0, 0])  # 1 -> black
    np.testing.assert_array_equal(out[2, 2], out[0, 2])  # 2.0 is clipped to 1
    np.testing.assert_array_equal(digit_to_rgb(X.ravel(), scaling=2), out)


def test_overlay_blend_formula():
    X = RNG.uniform(size=(5, 4))
    heat = RNG.uniform(size=(5, 4, 3))
    out = overlay(heat, X, alpha=0.3)
    np.testing.assert_allclose(out, 0.3 * heat + 0.7 * X[..., None])
    np.testing.assert_allclose(overlay(heat, X, alpha=0.0), np.repeat(X[..., None], 3, axis=-1))
    rgb_x = np.stack([X, np.zeros_like(X), np.ones_like(X)], axis=-1)
    luma = 0.299 * X + 0.114
    np.testing.assert_allclose(overlay(heat, rgb_x, alpha=0.5), 0.5 * heat + 0.5 * luma[..., None])
    R = RNG.normal(size=(5, 4))
    np.testing.assert_allclose(
        overlay(R, X, alpha=1.0, cmap="gray-red", scaling=2), hm_to_rgb(R, scaling=2, cmap="gray-red")
    )
    with pytest.raises(ValueError, match="alpha"):
        overlay(heat, X, alpha=1.5)
    with pytest.raises(ValueError, match="must match"):
        overlay(heat, X[:4])


# --- to_uint8 / save_image --------------------------------------------------------------------------


def test_to_uint8_clips_before_cast_and_truncates():
    out = to_uint8(np.array([-0.5, 0.0, 0.2, 100.7 / 255, 1.0, 1.13, 7.0]))
    # original: (1.13 * 255).astype(uint8) wraps to 32; 0.2 * 255 = 50.99999... must give 51
    np.testing.assert_array_equal(out, [0, 0, 51, 100, 255, 255, 255])
    assert out.dtype == np.uint8
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(np.array([np.nan]))


def test_save_image_row_with_gap_and_readback(tmp_path):
    a = RNG.uniform(size=(6, 4, 3))
    b = RNG.uniform(-0.5, 1.5, size=(6, 5, 3))
    path = tmp_path / "row.png"
    img = save_image([a, b], path, gap=3)
    assert img.dtype == np.uint8
    assert img.shape == (6, 4 + 3 + 5, 3)
    np.testing.assert_array_equal(img[:, 4:7], 0)
    np.testing.assert_array_equal(img[:, :4], to_uint8(a))
    np.testing.assert_array_equal(img[:, 7:], to_uint8(np.clip(b, 0, 1)))
    with Image.open(path) as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["row.png"]


def test_save_image_grid_pads_rows(tmp_path):
    a, b, c = np.ones((2, 3, 3)), np.ones((2, 2, 3)), np.full((4, 3), 0.5)
    img = save_image([[a, b], [c]], tmp_path / "grid.png", gap=1)
    assert img.shape == (2 + 1 + 4, 3 + 1 + 2, 3)
    np.testing.assert_array_equal(img[2], 0)  # row gap
    np.testing.assert_array_equal(img[3:, :3], 127)  # grey image, trunc(0.5 * 255)
    np.testing.assert_array_equal(img[3:, 3:], 0)  # padding of the shorter row
    np.testing.assert_array_equal(img[:2, :3], 255)
    # a batch array is one row
    np.testing.assert_array_equal(save_image(np.stack([a, a]), tmp_path / "b.png", gap=1).shape, (2, 7, 3))


def test_save_image_errors(tmp_path):
    with pytest.raises(ValueError, match="share one height"):
        save_image([np.zeros((2, 2, 3)), np.zeros((3, 2, 3))], tmp_path / "x.png")
    with pytest.raises(ValueError, match="gap"):
        save_image([np.zeros((2, 2, 3))], tmp_path / "x.png", gap=-1)
    with pytest.raises(ValueError, match="image format"):
        save_image([np.zeros((2, 2, 3))], tmp_path / "x.unknownext")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        save_image([np.zeros((2, 2, 4))], tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_save_image_failed_write_leaves_existing_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    save_image([np.zeros((3, 3, 3))], path)
    original_bytes = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial")  # half a file is already on disk ...
        raise OSError("disk full")  # ... when the write fails

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image([np.ones((5, 5, 3))], path)
    assert path.read_bytes() == original_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]  # temp file removed


# --- register_colormaps / plot_grid / import ------------------------------------------------------


def test_register_colormaps_is_idempotent_and_usable():
    names = register_colormaps()
    assert register_colormaps() == names
    assert "lrp.gray-red" in names
    assert "lrp.zennit.coldnhot" in names
    for key in CUSTOM:
        cmap = matplotlib.colormaps["lrp." + key]
        t = np.linspace(-1, 1, 256)
        np.testing.assert_allclose(cmap(np.linspace(0, 1, 256))[:, :3], CUSTOM_COLORMAPS[key].colour(t))
    fig = Figure()
    im = fig.subplots().imshow(np.array([[-1.0, 1.0]]), cmap="lrp.gray-red", vmin=-1, vmax=1)
    np.testing.assert_allclose(im.to_rgba(np.array([-1.0, 1.0]))[:, :3], [[0, 0, 1], [1, 0, 0]])


def test_register_colormaps_refuses_a_conflicting_map(monkeypatch):
    from matplotlib.cm import ColormapRegistry

    registry = ColormapRegistry({})
    registry.register(ListedColormap([[0, 0, 0], [1, 1, 1]]), name="lrp.gray-red")
    monkeypatch.setattr(matplotlib, "colormaps", registry)
    with pytest.raises(ValueError, match=r"'lrp\.gray-red' is already registered"):
        register_colormaps()


def test_plot_grid_layout_and_save(tmp_path):
    X = RNG.uniform(size=(3, 8, 8, 1))
    maps = {"epsilon": RNG.normal(size=(3, 8, 8)), "alpha2": RNG.normal(size=(3, 8, 8, 1))}
    path = tmp_path / "grid.png"
    fig = plot_grid(X, maps, cmap="black-firered", row_labels=["a", "b", "c"], path=path)
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert len(axes) == 3 * 3
    assert [ax.get_title() for ax in axes[:3]] == ["input", "epsilon", "alpha2"]
    np.testing.assert_array_equal(
        axes[4].images[0].get_array(), hm_to_rgb(maps["epsilon"][1], scaling=1, cmap="black-firered")
    )
    with Image.open(path) as im:
        assert im.size == (3 * 200, 3 * 200)  # 2-inch panels at 100 dpi
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]


def test_plot_grid_errors():
    X = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="empty"):
        plot_grid(X, {})
    with pytest.raises(ValueError, match="expected"):
        plot_grid(X, {"eps": np.zeros((3, 4, 4))})
    with pytest.raises(ValueError, match="row labels"):
        plot_grid(X, {"eps": np.zeros((2, 4, 4))}, row_labels=["a"])


def test_import_is_light_and_root_shim_works():
    code = (
        "import sys, lrp_toolbox.render as r; "
        "assert 'matplotlib' not in sys.modules and 'skimage' not in sys.modules; "
        "import render; assert render.__all__ == r.__all__; assert render.hm_to_rgb is r.hm_to_rgb"
    )
    env = {**os.environ, "MPLBACKEND": "", "DISPLAY": ""}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, env=env, timeout=60)


class _FakeCupyArray:
    """Stands in for a CuPy array: lrp_toolbox.backend.to_numpy recognises it by module and calls get()."""

    __module__ = "cupy._core.core"

    def __init__(self, a: np.ndarray):
        self._a = a
        self.shape = a.shape

    def get(self) -> np.ndarray:
        return self._a.copy()


def test_device_arrays_are_moved_to_host_first():
    R, X = RNG.normal(size=(6, 6)), RNG.uniform(size=(6, 6))
    np.testing.assert_array_equal(
        hm_to_rgb(_FakeCupyArray(R), X=_FakeCupyArray(X), cmap="gray-red"), hm_to_rgb(R, X=X, cmap="gray-red")
    )
    np.testing.assert_array_equal(
        normalize(_FakeCupyArray(R), per_sample=True), normalize(R, per_sample=True)
    )
    np.testing.assert_array_equal(enlarge_image(_FakeCupyArray(X), 2), enlarge_image(X, 2))
    np.testing.assert_array_equal(digit_to_rgb(_FakeCupyArray(X)), digit_to_rgb(X))
    np.testing.assert_array_equal(to_uint8(_FakeCupyArray(X)), to_uint8(X))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_overlay_and_outlines_refuse_non_finite_images(bad):
    """overlay once returned NaN pixels for a NaN image or RGB heatmap."""
    image = np.full((3, 3), 0.5)
    image[1, 2] = bad
    with pytest.raises(ValueError, match="image that contains NaN or Inf"):
        render.overlay(np.ones((3, 3)), image)
    with pytest.raises(ValueError, match="RGB heatmap that contains NaN or Inf"):
        render.overlay(np.full((3, 3, 3), bad), np.full((3, 3), 0.5))
    with pytest.raises(ValueError, match="outline an image that contains NaN or Inf"):
        render.hm_to_rgb(np.ones((3, 3)), X=image)


def test_minmax_normalisation_of_a_range_beyond_float64():
    got = render.normalize(np.array([1e308, -1e308, 0.0, 5e307]), "minmax")
    np.testing.assert_array_equal(got, [1.0, 0.0, 0.5, 0.75])
    rgb = render.hm_to_rgb(np.array([[1e308, -1e308]]), normalize="minmax", scaling=1)
    assert np.isfinite(rgb).all() and not np.array_equal(rgb[0, 0], rgb[0, 1])
