"""The whole command, bgsub against DVR-Scan, on the same files, side by side.

    python scripts/bench_e2e.py [--repeats 3] [--dvr-scan PATH] [--ffmpeg PATH] [--rss]
                                [--no-long] [--threads-both] [--docs]
    python scripts/bench.py --e2e ...      (the same)

What a user runs, timed from process start to exit (wall clock), median of ``--repeats`` runs
that alternate the tools:

* ``dvr-scan -i V -so -q``: DVR-Scan's scan only (gray MOG2, no output video);
* ``bgsub run V --gray --mask-format none -q``: the same job for bgsub;
* ``bgsub run V -q``: bgsub's defaults (colour model, lossless mask.mkv and the report written);
* on the long input, also ``bgsub run V --accurate --gray --mask-format none -q``;
* with ``--threads-both``, the gray job with the model on 2 Numba threads (the default on two
  cores is 1: the thread plan measured both ways).

Inputs: the shared ``bridge_traffic_640x360.mp4`` (H.264, 917 frames), a 1920x1080 rendition
of it, and (unless ``--no-long``) the 640x360 video looped 11 times (10,078 frames), where the
start of each process counts for little: the steady-state speed.  The renditions are made once
into ``--work`` with ffmpeg (libx264) when an ffmpeg binary is found (``--ffmpeg``, ``PATH`` or
the ``imageio-ffmpeg`` package), else with OpenCV's mp4v.  DVR-Scan is looked for as
``--dvr-scan``, on ``PATH``, or in ``../dvr-venv`` (``pip install dvr-scan``); without it the
bgsub rows are measured alone and the script says so.  The JIT cache is warm for bgsub (one
untimed run first), as it is after a first run, and its modules are compiled to bytecode
first, as ``pip install`` leaves them (see :func:`compile_bytecode`).

Then, per input, the gray job's stage profile from its ``--json`` summary: the model's Numba
threads, each stage's CPU ms a frame (its thread's CPU time), the whole process's CPU (every
thread's) and half of it (the floor on two cores), the loop's
wall ms a frame, and the process's start-up and exit (its wall time less the run's own); and
each stage alone in one process (decoding with the gray conversion, the model with and without
its vote).  ``--rss`` also reports bgsub's peak resident memory at 1,000 and 10,000 frames
(the 640x360 video looped), to show that memory stays flat on long inputs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("BGSUB_DATA", ROOT.parent / "shared" / "data"))
VIDEO = DATA / "videos" / "bridge_traffic_640x360.mp4"


def find_dvr_scan(given):
    for cand in (given, shutil.which("dvr-scan"), ROOT.parent / "dvr-venv" / "bin" / "dvr-scan"):
        if cand and Path(cand).exists():
            return str(cand)
    return None


def find_ffmpeg(given):
    if given:
        return given
    if shutil.which("ffmpeg"):
        return shutil.which("ffmpeg")
    for py in (sys.executable, ROOT.parent / "dvr-venv" / "bin" / "python"):
        r = subprocess.run([str(py), "-c", "import imageio_ffmpeg as f; print(f.get_ffmpeg_exe())"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    return None


def compile_bytecode():
    """bgsub's modules compiled to bytecode once, as ``pip install`` does, so that no timed run
    compiles them from source: an editable install in an environment that sets
    ``PYTHONDONTWRITEBYTECODE`` (this machine's does) would, in every process: about 30 ms of
    a 5-frame run (``compile`` in a profile of one).  Returns the package folder."""
    import compileall

    import bgsub

    folder = Path(bgsub.__file__).resolve().parent
    compileall.compile_dir(str(folder), quiet=1)
    return folder


def frame_count(path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    return n


def rendition(src, work, size, ffmpeg, loops=1):
    """``src`` resized to ``size`` (and looped ``loops`` times), made once."""
    w, h = size
    tag = f"{w}x{h}" + (f"_x{loops}" if loops > 1 else "")
    if ffmpeg:
        out = work / f"bridge_{tag}.mp4"
        if not out.exists():
            subprocess.run([ffmpeg, "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i",
                            str(src), "-vf", f"scale={w}:{h}", "-c:v", "libx264", "-preset",
                            "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(out)],
                           check=True)
        return out, "H.264"
    import cv2

    out = work / f"bridge_{tag}_mp4v.mp4"
    if not out.exists():
        writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
        for _ in range(loops):
            cap = cv2.VideoCapture(str(src))
            while True:
                ok, f = cap.read()
                if not ok:
                    break
                writer.write(cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA))
        writer.release()
    return out, "MPEG-4 part 2"


def timed(cmd):
    """(wall seconds, stdout) of one command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(map(str, cmd))} failed:\n{err.decode()[-2000:]}")
    return wall, out.decode()


def peak_rss_mb(cmd):
    """Peak resident memory of a command (its own process), in MB."""
    # stderr not piped: nobody reads it here, and a full pipe would block the child forever
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if status != 0:
        raise SystemExit(f"bench: {' '.join(map(str, cmd))} failed")
    return ru.ru_maxrss / 1024.0


def bgsub_cmd(video, out, *extra):
    return [sys.executable, "-m", "bgsub.cli", "run", str(video), "-o", str(out), "--no-display",
            *extra]


GRAY = ("--gray", "--mask-format", "none")


def configs(long):
    """The commands timed for one input: (label, extra bgsub options)."""
    cfg = [("gray, no masks", (*GRAY, "-q")), ("defaults", ("-q",))]
    if long:
        cfg.append(("--accurate gray, no masks", ("--accurate", *GRAY, "-q")))
    return cfg


def measure(videos, dvr, repeats, work, threads_both=False):
    """Whole commands, alternating; then the gray run's stage profile (``--json``)."""
    rows = []
    for label, video, codec, long in videos:
        n = frame_count(video)
        cmds = {name: bgsub_cmd(video, work / f"o{i}", *extra)
                for i, (name, extra) in enumerate(configs(long))}
        if threads_both:
            cmds["gray, no masks, model on 2 threads"] = bgsub_cmd(
                video, work / "o9", *GRAY, "-q", "--model-threads", "2")
        if dvr:
            cmds = {"DVR-Scan": [dvr, "-i", str(video), "-so", "-q"], **cmds}
        # the JIT cache warm: compiled here, not in the background while timing
        subprocess.run(cmds["defaults"], capture_output=True,
                       env=dict(os.environ, BGSUB_JIT="sync"))
        times = {k: [] for k in cmds}
        for _ in range(repeats):
            for k, cmd in cmds.items():
                times[k].append(timed(cmd)[0])
        fps = {k: n / statistics.median(v) for k, v in times.items()}
        wall, out = timed(bgsub_cmd(video, work / "o8", *GRAY, "--json"))
        summary = json.loads(out)["inputs"][0]
        profile = dict(summary["stage_ms"], start_exit=wall - summary["seconds"])
        rows.append((label, codec, n, fps, profile))
    return rows


def floors(video, frames=400):
    """What each stage costs alone, in one process (ms a frame, CPU of one thread): decoding
    with the gray conversion, and the model (one Numba thread) with and without its vote."""
    import cv2
    import numba

    import bgsub

    cv2.setNumThreads(1)
    numba.set_num_threads(1)
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    grays = []
    c0 = time.thread_time()
    while len(grays) < frames:
        ok, f = cap.read()
        if not ok:
            break
        grays.append(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY))
    decode = 1000 * (time.thread_time() - c0) / len(grays)
    cap.release()
    out = {"decode + gray": decode}
    for name, kw in (("model", {}), ("model without the vote", {"smoothing": 1})):
        m = bgsub.MixtureSubtractor(**kw)
        warm = len(grays) // 4
        for g in grays[:warm]:
            m.apply(g)
        c0 = time.thread_time()
        for g in grays[warm:]:
            m.apply(g)
        out[name] = 1000 * (time.thread_time() - c0) / (len(grays) - warm)
    return out


def table(rows, have_dvr):
    names = list(dict.fromkeys(k for row in rows for k in row[3] if k != "DVR-Scan"))
    head = "| input | frames | " + ("DVR-Scan fps | " if have_dvr else "")
    head += " | ".join(f"bgsub {k} fps" + (" (ratio)" if have_dvr else "") for k in names)
    lines = [head + " |", "|---|---|" + "---|" * (len(names) + have_dvr)]
    for label, codec, n, fps, _ in rows:
        cells = [f"{label} ({codec})", str(n)]
        if have_dvr:
            cells.append(f"{fps['DVR-Scan']:.0f}")
        for k in names:
            if k not in fps:
                cells.append("")
                continue
            ratio = f" ({fps[k] / fps['DVR-Scan']:.2f}x)" if have_dvr else ""
            cells.append(f"{fps[k]:.0f}{ratio}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_table(rows):
    """The README's speed table: each bgsub job's speed against DVR-Scan's (jobs down, inputs
    across), from :func:`table`'s rows."""
    names = list(dict.fromkeys(k for row in rows for k in row[3] if k != "DVR-Scan"))
    lines = ["| `bgsub run V ...` against `dvr-scan -i V -so -q` | "
             + " | ".join(f"{label}, {n} frames" for label, _, n, _, _ in rows) + " |",
             "|---|" + "---|" * len(rows)]
    jobs = {"gray, no masks": "`--gray --mask-format none -q` (the same job)",
            "defaults": "`-q` (the defaults: also the mask video and the report)",
            "--accurate gray, no masks": "`--accurate --gray --mask-format none -q`"}
    for k in names:
        cells = [f"{fps[k] / fps['DVR-Scan']:.2f}x" if k in fps else ""
                 for _, _, _, fps, _ in rows]
        lines.append(f"| {jobs.get(k, k)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def profile_table(rows):
    """The gray run's stages: CPU ms a frame of each stage's thread, the whole process's (every
    thread's, Numba's workers included) and half of it (what two cores could do at best), the
    loop's wall time a frame, and the process's start and exit (its wall time less the run's)."""
    lines = ["| input | model threads | read | model | detect (post, vote, events) | write | "
             "CPU, all threads | / 2 cores | loop wall | start + exit s |",
             "|---|" + "---|" * 9]
    for label, codec, n, _, p in rows:
        c = p["cpu"]
        # every thread's CPU (the model's second Numba thread, where it has one, included)
        total = c.get("process", c["read"] + c["model"] + c["detect"] + c["write"])
        lines.append(f"| {label} | {p.get('model_threads')} | {c['read']:.2f} | "
                     f"{c['model']:.2f} | {c['detect']:.2f} | {c['write']:.2f} | {total:.2f} | "
                     f"{total / 2:.2f} | {p['wall']:.2f} | {p['start_exit']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dvr-scan")
    ap.add_argument("--ffmpeg")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bgsub-bench")
    ap.add_argument("--rss", action="store_true", help="peak RSS at 1,000 and 10,000 frames")
    ap.add_argument("--sizes", default="640x360,1920x1080")
    ap.add_argument("--long", action=argparse.BooleanOptionalAction, default=True,
                    help="also the 640x360 video looped 11 times, with --accurate too "
                         "(steady-state speed; --no-long skips it: about 3 minutes)")
    ap.add_argument("--threads-both", action="store_true",
                    help="also the gray run with the model on 2 Numba threads")
    ap.add_argument("--docs", action="store_true", help="write the tables into docs/benchmarks.md")
    args = ap.parse_args(argv)
    if not VIDEO.exists():
        raise SystemExit(f"bench: {VIDEO} not found (set BGSUB_DATA)")
    args.work.mkdir(parents=True, exist_ok=True)
    dvr = find_dvr_scan(args.dvr_scan)
    if not dvr:
        print("DVR-Scan not found (pip install dvr-scan into ../dvr-venv, or --dvr-scan PATH): "
              "measuring bgsub alone", file=sys.stderr)
    ffmpeg = find_ffmpeg(args.ffmpeg)
    compile_bytecode()
    videos = []
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        if (w, h) == (640, 360):
            videos.append(("640x360", VIDEO, "H.264", False))
        else:
            path, codec = rendition(VIDEO, args.work, (w, h), ffmpeg)
            videos.append((f"{w}x{h}", path, codec, False))
    if args.long:
        path, codec = rendition(VIDEO, args.work, (640, 360), ffmpeg, loops=11)
        videos.append(("640x360 looped 11x", path, codec, True))
    rows = measure(videos, dvr, args.repeats, args.work, args.threads_both)
    print(f"Whole commands, wall time from start to exit, median of {args.repeats} alternating "
          f"runs, warm JIT cache; {os.cpu_count()} cores.\n")
    text = table(rows, bool(dvr))
    text += ("\n\nThe gray run's stages, ms a frame: CPU time of each stage's thread (the "
             "model's: the thread that calls it, all of it on one Numba thread), and of the "
             "whole process while it ran:\n\n" + profile_table(rows))
    fl = floors(VIDEO)
    text += ("\n\nEach alone at 640x360, CPU ms a frame of one thread: "
             + ", ".join(f"{k} {v:.2f}" for k, v in fl.items()) + ".")
    print(text)
    if args.rss:
        long_video, _ = rendition(VIDEO, args.work, (640, 360), ffmpeg, loops=11)
        print("\n| frames | bgsub defaults peak RSS MB |\n|---|---|")
        text += "\n\n| frames | bgsub defaults peak RSS MB |\n|---|---|"
        for n in (1000, 10000):
            mb = peak_rss_mb(bgsub_cmd(long_video, args.work / "rss", "-q", "--max-frames",
                                       str(n)))
            print(f"| {n} | {mb:.0f} |")
            text += f"\n| {n} | {mb:.0f} |"
    if args.docs:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from docblock import write_block

        write_block("benchmarks.md", "e2e", f"Median of {args.repeats} alternating runs, warm "
                    f"JIT cache.\n\n{text}")
        if dvr:
            write_block("README.md", "speed", f"Speed, the whole command from start to exit "
                        f"(median of {args.repeats} alternating runs, warm JIT cache; "
                        f"[benchmarks](docs/benchmarks.md#the-whole-command-against-dvr-scan)):"
                        f"\n\n{ratio_table(rows)}")


if __name__ == "__main__":
    main()
