"""A run of ``bgsub run``, stage by stage: sources (decoding), the run (model, post-processing,
events, display), stages (threads joined by bounded queues) and sinks (the output files).

* :mod:`.sources` -- ``open_video``: files, cameras, URLs, image folders and patterns;
* :mod:`.stages` -- ``Producer`` and ``Consumer``: a thread in front, a thread behind;
* :mod:`.run` -- ``RunOptions`` and ``run_input``: one input from source to outputs;
* :mod:`.sinks` -- masks, overlay, frames.csv, clips, reports, all written atomically;
* :mod:`.display` -- the windows and their keys.
"""
