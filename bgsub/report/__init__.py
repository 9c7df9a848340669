"""Pictures people read at a glance: a report per run (:mod:`.run_report`), an evaluation
report (:mod:`.eval_report`) and a live view of a run in a browser (:mod:`.live`).

Everything is drawn with OpenCV and written as plain HTML that opens from file:// with no
network: no plotting library and nothing outside the report's folder."""

from bgsub.report.run_report import Recording, RunRecorder, write_index, write_run_report

__all__ = ["Recording", "RunRecorder", "write_index", "write_run_report"]
