"""Analysing the audio files of a folder in this machine's processes (`manage.py analyze`).

Every file gets the job the API would give it (the same content-hash digest and options, so
results are shared both ways): a file analysed already is answered from its stored result,
the others are claimed and analysed in a process pool. These jobs do not go through RQ: they
are `running` with a heartbeat while the pool works, so that readers do not take them for
lost, and they fail when the run dies.
"""

import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TextIO

from django.conf import settings
from tqdm import tqdm

from analysis import jobs
from analysis.serializers import result_budget_option
from analysis.sources import sha256_of_file

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".opus"}


@dataclass
class FileAnalysis:
    """What became of one file: its result (None when it failed), its status ("cached",
    "analysed" or "failed: <why>"), its audio's sha-256 and the id of the done job that holds
    its result and waveform (None when another client's job is still to store them)."""

    result: dict | None
    status: str
    audio_sha256: str
    job_id: str | None = None


class _PendingFile(NamedTuple):
    """A file the pool analyses: the id of the job this run holds for it ("" when another
    client holds the job: the result is that client's to store), and its audio's sha-256."""

    held_job_id: str
    audio_sha256: str


def audio_files(folder: Path) -> list[Path]:
    """The audio files below `folder` (by suffix), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def batch_options(*, auto_cues: bool, beats_per_cue: int) -> dict:
    """The analysis options of a batch: the API's defaults, with the result's budget as
    AnalysisSubmitSerializer gives it (so that both give the same digest)."""
    return {"auto_cues": auto_cues, "beats_per_cue": beats_per_cue, "intervals": None,
            "max_cue_samples": 2048, "bpm_range": [70.0, 180.0], **result_budget_option()}


def batch_analyse(files: list[Path], *, options: dict, processes: int, progress: TextIO) -> dict[Path, FileAnalysis]:
    """Analyses `files` in `processes` processes, with a progress bar written to `progress`;
    every file's outcome, by path. A file whose job another client holds (queued or running)
    is analysed here too, but its result is that client's job to store."""
    outcomes: dict[Path, FileAnalysis] = {}
    pending: dict[Path, _PendingFile] = {}
    for path in files:
        audio_sha = sha256_of_file(path)
        digest = jobs.digest_of(audio_sha256=audio_sha, options=options)
        job_id, new = jobs.claim(digest=digest, source={"path": str(path)}, options=options)
        record = jobs.job_record(job_id)
        if not new and record["status"] == "done":
            outcomes[path] = FileAnalysis(result=record["result"], status="cached", audio_sha256=audio_sha,
                                          job_id=job_id)
        else:
            held_job_id = job_id if new and jobs.mark_running(job_id) else ""
            pending[path] = _PendingFile(held_job_id=held_job_id, audio_sha256=audio_sha)

    beating = {file.held_job_id for file in pending.values() if file.held_job_id}
    stop_beating = threading.Event()
    try:
        _run_pool(pending, outcomes, total=len(files), options=options, processes=processes, progress=progress,
                  beating=beating, stop_beating=stop_beating)
    finally:
        stop_beating.set()
    return outcomes


def _run_pool(pending: dict[Path, _PendingFile], outcomes: dict[Path, FileAnalysis], *, total: int,
              options: dict, processes: int, progress: TextIO, beating: set, stop_beating: threading.Event) -> None:
    with ProcessPoolExecutor(max_workers=processes) as pool, \
            tqdm(total=total, initial=len(outcomes), unit="file", desc="analysing", file=progress) as bar:
        futures = {pool.submit(_analyse_file, str(path), options, settings.QL_MAX_AUDIO_SECONDS,
                               int(settings.QL_MAX_RESULT_MB * 2**20)): path
                   for path in pending}
        # started after the pool has forked its processes (a thread must not be forked)
        threading.Thread(target=_heartbeat, args=(beating, stop_beating), daemon=True).start()
        for future in as_completed(futures):
            path = futures[future]
            job_id, audio_sha = pending[path]
            try:
                result, waveform = future.result()
            except Exception as exc:
                error = _error_text(exc)
                if job_id:
                    beating.discard(job_id)
                    jobs.finish(job_id, error=error, expected=("running",))
                outcomes[path] = FileAnalysis(result=None, status=f"failed: {error}", audio_sha256=audio_sha)
            else:
                stored = False
                if job_id:
                    beating.discard(job_id)
                    stored = jobs.finish(job_id, result=result, expected=("running",), waveform=waveform)
                outcomes[path] = FileAnalysis(result=result, status="analysed", audio_sha256=audio_sha,
                                              job_id=job_id if stored else None)
            bar.update(1)


def _analyse_file(path: str, options: dict, max_seconds: int, max_result_bytes: int) -> tuple[dict, bytes | None]:
    """Runs in a pool process: plain decode + analyse, no Redis; (the job's result, its
    waveform), as an analysis job makes them. A result over ``max_result_bytes`` as stored
    JSON is ResultTooLarge (QL_MAX_RESULT_MB), as in the API."""
    from analysis import audio

    decoded = audio.decode_native(path, max_seconds=max_seconds)
    result = audio.job_result(decoded, **options)
    audio.result_json(result, max_bytes=max_result_bytes)
    return result, decoded.waveform


def _heartbeat(job_ids: set, stop: threading.Event) -> None:
    while not stop.wait(settings.QL_ANALYSIS_HEARTBEAT):
        for job_id in list(job_ids):
            try:
                jobs.beat(job_id)
            except Exception:
                pass  # Redis away for a moment: the next beat


def _error_text(exc: BaseException) -> str:
    from analysis.audio import AudioError

    if isinstance(exc, (AudioError, ValueError)):
        return str(exc)
    return f"{type(exc).__name__}: cannot analyse"
