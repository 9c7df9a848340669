"""Video sources: files, image folders, patterns, truncated files, and a live MJPEG stream over
HTTP on 127.0.0.1 that drops the connection and comes back."""

import http.server
import shutil
import threading
import time

import cv2
import numpy as np
import pytest

from bgsub.io.sources import (FileStream, ImageSequenceStream, LiveStream, SourceError,
                              numbered_images, open_video, timecode)

from .conftest import DATA, SAMPLES, needs_data, needs_videos, truncated_avi


def test_file_stream_indices_and_times():
    with open_video(SAMPLES / "street.mp4") as s:
        assert isinstance(s, FileStream) and s.fps == 25.0 and s.frame_count == 120
        frames = list(s)
    assert [f.index for f in frames] == list(range(120))
    assert frames[50].time == pytest.approx(2.0)
    assert frames[0].image.shape == (240, 320, 3)
    assert s.stopped_early is None


def test_folder_and_pattern_give_the_same_frames_in_numeric_order(tmp_path):
    src = SAMPLES / "street" / "input"
    # names whose string order differs from their numeric order
    for n in (1, 2, 10):
        shutil.copy(src / f"in{n:06d}.jpg", tmp_path / f"frame{n}.jpg")
    (tmp_path / "notes.txt").write_text("ignored")
    folder = [f.image for f in open_video(tmp_path)]
    pattern = [f.image for f in open_video(str(tmp_path / "frame%d.jpg"))]
    assert len(folder) == len(pattern) == 3
    for a, b, n in zip(folder, pattern, (1, 2, 10)):
        np.testing.assert_array_equal(a, cv2.imread(str(src / f"in{n:06d}.jpg")))
        np.testing.assert_array_equal(a, b)


def write_frames(folder, names):
    """One 4x3 PNG per name, every pixel = its position in ``names`` (to check the order)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((3, 4, 3), i, np.uint8))
    return folder


def read_values(source):
    with open_video(source) as s:
        return [int(f.image[0, 0, 0]) for f in s]


NUMBERS = (0, 2, 9, 10, 11, 100)  # string order 0, 10, 100, 11, 2, 9 when not zero-padded


@pytest.mark.parametrize("fmt", ["in{:06d}.png", "PeopleAndFoliage_{:06d}.png", "{:06d}.png",
                                 "frame_{}.png", "{}.PNG", "cam2_shot.{:04d}.png"])
def test_folder_of_numbered_frames_is_read_in_numeric_order(tmp_path, fmt):
    # written in reverse so neither creation nor name order gives the right answer by luck
    names = [fmt.format(n) for n in NUMBERS]
    write_frames(tmp_path, names[::-1])
    (tmp_path / "notes.txt").write_text("not an image")
    s = open_video(tmp_path)
    assert isinstance(s, ImageSequenceStream) and s.frame_count == len(NUMBERS)
    assert [p.name for p in s.files] == names
    assert read_values(tmp_path) == list(range(len(NUMBERS)))[::-1]
    series = numbered_images(tmp_path)
    assert series.numbers == list(NUMBERS) and series.span() == "0..100"
    assert series.prefix == fmt[:fmt.index("{")]


def test_images_without_a_number_are_left_out_and_said_so(tmp_path):
    write_frames(tmp_path, ["f_3.png", "f_1.png", "background.png", "f_2.png", ".f_0.png"])
    s = ImageSequenceStream(tmp_path)
    assert [p.name for p in s.files] == ["f_1.png", "f_2.png", "f_3.png"]  # hidden one skipped
    assert len(s.notes) == 1 and "background.png" in s.notes[0]


def test_folder_without_any_numbered_image_is_read_in_name_order(tmp_path):
    write_frames(tmp_path, ["b.png", "a.png", "c.png"])
    s = ImageSequenceStream(tmp_path)
    assert [p.name for p in s.files] == ["a.png", "b.png", "c.png"]
    assert "name order" in s.notes[0]


def test_two_numbered_series_in_one_folder_are_refused_naming_both(tmp_path):
    write_frames(tmp_path, [f"left_{n:04d}.png" for n in range(5)]
                 + [f"right_{n:04d}.png" for n in range(1, 4)])
    with pytest.raises(SourceError) as err:
        open_video(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert "5 frames named left_0000.png..left_0004.png" in msg
    assert "3 frames named right_0001.png..right_0003.png" in msg
    # the pattern it suggests reads the larger series
    suggested = msg.rsplit("such as ", 1)[1]
    assert suggested == str(tmp_path / "left_%04d.png")
    assert read_values(suggested) == [0, 1, 2, 3, 4]
    assert read_values(str(tmp_path / "right_%d.png")) == [5, 6, 7]


def test_same_suffix_in_another_case_or_another_suffix_is_another_series(tmp_path):
    write_frames(tmp_path, ["a1.png", "a2.PNG"])  # one series: suffixes compare case-blind
    assert numbered_images(tmp_path).numbers == [1, 2]
    write_frames(tmp_path, ["a3.jpg"])
    with pytest.raises(SourceError, match="2 series"):
        numbered_images(tmp_path)


def test_two_files_with_the_same_number_are_an_error(tmp_path):
    write_frames(tmp_path, ["f1.png", "f01.png"])
    with pytest.raises(SourceError, match="f01.png and f1.png both have frame number 1"):
        open_video(tmp_path)


def test_pattern_whose_prefix_ends_in_a_digit(tmp_path):
    write_frames(tmp_path, ["v1001.png", "v1000.png", "v2000.png"])
    assert read_values(str(tmp_path / "v1%03d.png")) == [1, 0]


@needs_data
def test_real_folder_with_its_own_prefix_reads_every_frame_in_order():
    folder = DATA / "sequences" / "PeopleAndFoliage" / "input"
    series = numbered_images(folder)
    assert series.prefix == "PeopleAndFoliage_" and series.numbers == list(range(341))
    with open_video(folder) as s:
        assert s.frame_count == 341
        assert s.files[0].name == "PeopleAndFoliage_000000.png"
        assert s.files[-1].name == "PeopleAndFoliage_000340.png"
        first = s.read().image
    np.testing.assert_array_equal(first, cv2.imread(str(s.files[0])))


def test_truncated_video_reads_what_decodes_and_says_where_it_stopped(tmp_path):
    s = open_video(truncated_avi(tmp_path))
    frames = list(s)
    assert 20 < len(frames) < 120
    if s.frame_count is not None and s.frame_count > len(frames) + 5:
        assert "stopped at frame" in s.stopped_early


def _written(path, data):
    if data is None:
        path.mkdir()
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.mp4", "no such file"),
    (lambda p: _written(p / "empty.mp4", b""), "empty file"),
    (lambda p: _written(p / "text.mp4", b"not a video"), "not a video"),
    (lambda p: _written(p / "d", None), "no images"),
    (lambda p: str(p / "nofolder" / "in%06d.jpg"), "does not exist"),
    (lambda p: "9", "camera 9"),
])
def test_bad_sources_raise_source_error(tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        open_video(make(tmp_path))


def test_timecode():
    assert timecode(0) == "00:00:00.000"
    assert timecode(3723.4567) == "01:02:03.457"


@needs_videos
@pytest.mark.parametrize("name", ["pedestrians_480x360.avi", "highway_cam_320x240.avi",
                                  "bridge_traffic_640x360.mp4"])
def test_real_videos_decode_completely(name):
    cap = cv2.VideoCapture(str(DATA / "videos" / name))
    expected = 0
    while cap.read()[0]:
        expected += 1
    with open_video(DATA / "videos" / name) as s:
        n = sum(1 for _ in s)
    # every frame OpenCV decodes; container frame counts are estimates (748 of "750" here)
    assert n == expected > 700 and s.stopped_early is None
    # times start at zero even where the container's presentation times do not (AVI)
    with open_video(DATA / "videos" / name) as s:
        first = [next(iter(s)) for _ in range(3)]
    assert first[0].time == 0.0
    assert first[2].time == pytest.approx(2 / s.fps, rel=0.01)


@needs_videos
def test_one_decoding_thread_gives_the_same_frames_and_times():
    """A run decodes on one thread (its stages keep the cores busy): every frame and time is
    the one FFmpeg's own threading gives."""
    path = DATA / "videos" / "bridge_traffic_640x360.mp4"
    with open_video(path) as auto, open_video(path, decode_threads=1) as one:
        assert one.cap.get(cv2.CAP_PROP_N_THREADS) == 1
        n = 0
        for a, b in zip(auto, one, strict=True):
            assert a.index == b.index and a.time == b.time
            assert np.array_equal(a.image, b.image)
            n += 1
    assert n > 900


# ---------------------------------------------------------------------------- live MJPEG
class MjpegServer:
    """multipart/x-mixed-replace JPEG stream on 127.0.0.1: each connection gets
    ``per_connection`` frames, then the connection drops; the server then refuses connections
    for ``down_seconds`` before it serves again; after ``connections`` connections it stops."""

    def __init__(self, per_connection=25, connections=2, down_seconds=1.0, fps=50):
        from bgsub.evaluate.synthetic import SyntheticScene

        scene = SyntheticScene(width=160, height=120, n_frames=40, seed=9, foliage=False)
        self.jpegs = [cv2.imencode(".jpg", img)[1].tobytes() for img, _ in scene]
        self.per_connection, self.connections = per_connection, connections
        self.down_seconds, self.period = down_seconds, 1.0 / fps
        self.served = 0
        self.down_until = 0.0
        self.sent = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if time.monotonic() < outer.down_until or outer.served >= outer.connections:
                    self.close_connection = True
                    self.send_error(503)
                    return
                outer.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for k in range(outer.per_connection):
                        jpg = outer.jpegs[outer.sent % len(outer.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         + f"Content-Length: {len(jpg)}\r\n\r\n".encode()
                                         + jpg + b"\r\n")
                        outer.sent += 1
                        time.sleep(outer.period)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                outer.down_until = time.monotonic() + outer.down_seconds
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_live_mjpeg_stream_reconnects_after_a_drop_and_ends_after_the_timeout():
    with MjpegServer(per_connection=25, connections=2, down_seconds=1.0) as server:
        t0 = time.monotonic()
        stream = open_video(server.url, reconnect_timeout=3.0)
        assert isinstance(stream, LiveStream) and stream.live
        frames = []
        while True:
            f = stream.read()
            if f is None:
                break
            frames.append(f)
            time.sleep(0.005)  # a consumer slower than nothing, faster than the stream
        stream.close()
        elapsed = time.monotonic() - t0
    assert server.served == 2  # it came back for the second connection
    assert stream.reconnects >= 1
    # frames from both connections arrived (a few may be dropped by the bounded queue)
    assert len(frames) + stream.dropped >= 40
    assert [f.index for f in frames] == list(range(len(frames)))
    assert all(b.time >= a.time for a, b in zip(frames, frames[1:]))
    assert frames[-1].image.shape == (120, 160, 3)
    assert "no frame for 3 s" in stream.stopped_early
    assert elapsed < 20


def test_live_queue_drops_the_oldest_frames_when_the_consumer_is_slow():
    with MjpegServer(per_connection=40, connections=1, fps=100) as server:
        stream = LiveStream(server.url, reconnect_timeout=1.0, queue_size=2)
        time.sleep(1.0)  # consume nothing while the 40 frames arrive
        frames = list(stream)
        stream.close()
    assert len(frames) <= 3  # at most the queue (and the end marker's room)
    assert stream.dropped >= 30
    # what is left is the newest: latency stays bounded
    assert frames[0].index == 0 and stream.dropped + len(frames) >= 38
