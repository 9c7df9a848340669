"""Polygon zones and polygon ROIs: parsing, rasterising and the touched-zone test against a
per-pixel point-in-polygon reference, zones per event against the written masks, the overlay's
labels, and the command line (--zone, --roi POLYGON, malformed polygons)."""

import csv
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bgsub.io.annotate import ZONE_ACTIVE, ZONE_COLOR, draw_label
from bgsub.cli import main
from bgsub.motion.detector import MotionResult
from bgsub.io.sinks import draw_overlay
from bgsub.motion.zones import (EventZones, ZoneError, ZoneMasks, parse_zone, parse_zones,
                                polygon_mask)

from .conftest import SAMPLES
from .test_cli_run import read_video

STREET = SAMPLES / "street.mp4"  # 320x240, one motion event, frames 29-119


def run(*args):
    return CliRunner().invoke(main, ["run", "--no-display", *map(str, args)])


def inside_reference(points, shape, sx=1.0, sy=1.0):
    """Pixel centres inside (or on) the polygon, by cv2.pointPolygonTest, pixel by pixel."""
    pts = np.round(np.asarray(points, np.float64) * (sx, sy)).astype(np.int32)
    h, w = shape
    return np.array([[cv2.pointPolygonTest(pts.reshape(-1, 1, 2), (float(x), float(y)), False)
                      >= 0 for x in range(w)] for y in range(h)])


def test_parse_zone_forms():
    z = parse_zone("door:10,20 30,20 30.4,40.6")
    assert z.name == "door" and z.points == ((10, 20), (30, 20), (30, 41))
    assert parse_zone("  a-1.b: 0,0  5,0 ;0,5 ").points == ((0, 0), (5, 0), (0, 5))
    assert parse_zone("0,0 9,0 9,9", need_name=False).name == "roi"
    assert parse_zone("r:0,0 9,0 9,9", need_name=False).name == "r"


@pytest.mark.parametrize("spec, words", [
    ("0,0 9,0 9,9", ["expected NAME:x1,y1"]),
    ("a:0,0 9,0", ["at least three"]),
    ("a:0,0 9,0 9", ["'9' is not a point"]),
    ("a:0,0 9;0 9,9 x,1", ["not a point"]),
    ("a:0,0 5,5 9,9", ["no area"]),
    ("a b:0,0 9,0 9,9", ["name 'a b'"]),
    ("a:", ["at least three"]),
])
def test_malformed_zones_are_refused_naming_the_problem(spec, words):
    with pytest.raises(ZoneError) as exc:
        parse_zone(spec)
    for w in words:
        assert w in str(exc.value)


def test_a_malformed_roi_polygon_names_the_form_without_a_name():
    for spec in ("1,2 3", "1,2 3,4", "b c:1,2 3,4 5,9"):
        with pytest.raises(ZoneError) as exc:
            parse_zone(spec, need_name=False, what="--roi")
        assert "(expected x1,y1 x2,y2 x3,y3 ...)" in str(exc.value), exc.value


def test_zone_names_must_differ():
    with pytest.raises(ZoneError, match="used twice"):
        parse_zones(["a:0,0 9,0 9,9", "a:1,1 8,1 8,8"])


@pytest.mark.parametrize("mask_shape", [(60, 80), (30, 40)])  # full size and half size
def test_rasterised_zones_match_a_point_in_polygon_reference(mask_shape):
    zones = parse_zones(["tri:5,5 70,10 30,55", "quad:40,2 79,2 79,30 50,40",
                         "off:100,100 120,100 120,120"])  # the last is outside the frame
    frame_shape = (60, 80)
    sy, sx = mask_shape[0] / frame_shape[0], mask_shape[1] / frame_shape[1]
    refs = {z.name: inside_reference(z.points, mask_shape, sx, sy) for z in zones}
    union = polygon_mask(zones, mask_shape, frame_shape)
    # fillPoly and pointPolygonTest may disagree on a pixel at the edge; nowhere else
    ref_union = refs["tri"] | refs["quad"] | refs["off"]
    u8 = ref_union.astype(np.uint8)
    k = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(u8, k) != cv2.erode(u8, k)
    assert not ((union != ref_union) & ~edge).any()
    assert (union == ref_union).sum() > 0.95 * union.size
    zm = ZoneMasks(zones, mask_shape, frame_shape)
    rng = np.random.default_rng(3)
    for _ in range(200):
        mask = np.zeros(mask_shape, np.uint8)
        y, x = rng.integers(0, mask_shape[0]), rng.integers(0, mask_shape[1])
        mask[y, x] = 255
        core = {n for n, r in refs.items() if r[y, x]}
        got = set(zm.touched(mask))
        # a pixel on a zone's edge may go either way; one clearly inside or outside may not
        interior = {n for n, r in refs.items()
                    if r[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].all()}
        assert interior <= got <= core | {n for n, r in refs.items()
                                          if r[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].any()}
    assert zm.touched(np.zeros(mask_shape, np.uint8)) == ()
    assert zm.touched(np.full(mask_shape, 255, np.uint8)) == ("tri", "quad")


def test_event_zones_by_hand():
    ez = EventZones()
    ez.update((), False, False, 0)
    ez.update(("a",), True, False, 0)  # confirms the event below
    ez.update(("b",), True, True, 0)  # the event opens here
    assert ez.now() == ["a", "b"]
    ez.update((), False, False, 0)
    ez.update(("c",), True, False, 0)
    ez.update((), False, False, 1)  # closes
    ez.update(("x",), True, False, 0)  # moving, but no event follows
    ez.update((), False, False, 0)
    ez.update(("d",), True, True, 0)
    ez.close()
    assert ez.done == [["a", "b", "c"], ["d"]]


def mask_frames(path):
    return [f[..., 0] if f.ndim == 3 else f for f in read_video(path)]


def test_events_list_the_zones_their_moving_frames_touched(tmp_path):
    """events.json's zones against the written masks: the union, over the event's moving
    frames, of the zones with a foreground pixel."""
    out = tmp_path / "out"
    zones = ["left:0,0 150,0 150,239 0,239", "right:170,0 319,0 319,239 170,239",
             "sky:0,0 319,0 319,30 0,30", "road:0,150 319,150 319,200 0,200"]
    res = run(STREET, "-o", out, *sum((["--zone", z] for z in zones), []), "--overlay")
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "events.json").read_text())
    events = [e for e in doc["events"] if e["kind"] == "motion"]
    assert events
    masks = mask_frames(out / "mask.mkv")
    with open(out / "frames.csv") as fh:
        moving = [r["moving"] == "1" for r in csv.DictReader(fh)]
    parsed = parse_zones(zones)
    inside = {z.name: polygon_mask([z], masks[0].shape) for z in parsed}
    for e in events:
        want = set()
        for i in range(e["start_frame"], e["end_frame"] + 1):
            if moving[i]:
                want |= {n for n, m in inside.items() if (masks[i][m] > 127).any()}
        assert e["zones"] == sorted(want)
    assert set(events[0]["zones"]) >= {"left", "right"}
    with open(out / "events.csv") as fh:
        row = next(r for r in csv.DictReader(fh) if r["kind"] == "motion")
    assert row["zones"].split() == events[0]["zones"]
    assert doc["parameters"]["zones"][0] == {"name": "left",
                                             "points": [[0, 0], [150, 0], [150, 239], [0, 239]]}
    # the overlay and the report's heat-map draw the zones
    frame = read_video(out / "overlay.mp4")[60]
    near = lambda c: (np.abs(frame.astype(int) - c).sum(axis=2) < 60).sum()  # noqa: E731
    assert near(ZONE_ACTIVE) + near(ZONE_COLOR) > 300
    heat = cv2.imread(str(out / "heatmap.png"))
    assert (np.abs(heat.astype(int) - ZONE_COLOR).sum(axis=2) < 30).sum() > 300
    assert f"zones: {', '.join(events[0]['zones'])}" in (out / "report.html").read_text()


def test_roi_polygon_is_the_same_as_the_mask_image_of_that_polygon(tmp_path):
    poly = "0,0 200,0 200,239 0,239"
    img = (polygon_mask([parse_zone(poly, need_name=False)], (240, 320)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "roi.png"), img)
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(STREET, "-o", a, "--roi", poly, "--no-report", "--max-frames", 60).exit_code == 0
    assert run(STREET, "-o", b, "--roi", tmp_path / "roi.png", "--no-report",
               "--max-frames", 60).exit_code == 0
    assert (a / "frames.csv").read_text() == (b / "frames.csv").read_text()
    full = tmp_path / "full"
    assert run(STREET, "-o", full, "--no-report", "--max-frames", 60).exit_code == 0
    assert (a / "frames.csv").read_text() != (full / "frames.csv").read_text()
    # two polygons: their union
    c = tmp_path / "c"
    assert run(STREET, "-o", c, "--roi", "0,0 100,0 100,239 0,239", "--roi",
               "100,0 200,0 200,239 100,239", "--no-report", "--max-frames", 60).exit_code == 0
    ma, mc = mask_frames(a / "mask.mkv"), mask_frames(c / "mask.mkv")
    assert all(np.array_equal(x, y) for x, y in zip(ma, mc))


@pytest.mark.parametrize("args, words", [
    (["--zone", "door:1,2 3,4"], ["--zone", "at least three"]),
    (["--zone", "1,2 3,4 5,9"], ["--zone", "NAME:x1,y1"]),
    (["--roi", "1,2 3,4 x,y"], ["--roi", "not a point"]),
    (["--roi", "1,2 3,4"], ["--roi", "at least three"]),
    (["--roi", "0 0 100 0 100 100"], ["--roi", "'0' is not a point"]),  # DVR-Scan's -a form
    (["--roi", "door:1 2 3 4"], ["--roi", "not a point"]),
])
def test_malformed_polygons_exit_2_in_one_line(tmp_path, args, words):
    res = run(STREET, "-o", tmp_path / "out", *args)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    for w in words:
        assert w in res.stderr
    if args[0] == "--roi":  # the form --roi takes: a polygon without a name
        assert "expected x1,y1 x2,y2" in res.stderr and "NAME:" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_status_line_is_drawn_once_on_a_dark_box():
    """OpenCV 5's thick outline pass was wider than the text: two copies side by side.  Now
    every changed pixel lies in one box as wide as the text."""
    img = np.full((120, 400, 3), 200, np.uint8)
    r = MotionResult(0, 0.0, np.zeros((120, 400), np.uint8), [], 0.0123, True, False)
    out = draw_overlay(img, r, "00:00:01.000  ")
    text = "00:00:01.000  1.23% MOTION"
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    changed = np.nonzero((out != 200).any(axis=2))
    x0, x1 = changed[1].min(), changed[1].max()
    assert x1 - x0 + 1 == tw + 7  # the box: text width plus padding, not two copies
    box = out[changed[0].min():changed[0].max() + 1, x0:x1 + 1]
    white = (box > 230).all(axis=2)
    dark = (box < 40).all(axis=2)
    assert white.sum() > 100 and white.sum() + dark.sum() >= 0.8 * box.shape[0] * box.shape[1]


def test_label_stays_inside_the_picture():
    img = np.zeros((40, 60, 3), np.uint8)
    draw_label(img, "zone name", (55, 35), background=(10, 20, 30))
    assert (img[..., 0] == 10).any() and img[:, -1].any()
