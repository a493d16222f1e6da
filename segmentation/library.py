"""The segment library: one line per saved segment with what a marketer checks first.

Size and its date come from the last successful job run of the segment, the
sparkline from every successful run (oldest first), what-if runs left out, the schedule from the
active schedules that include it (by id, or "all segments"), the job status
from the newest job that evaluated it. Pure: the service hands in what it read.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pydantic import BaseModel

from segmentation.definitions import Definition
from segmentation.jobs import SegmentJob
from segmentation.schedules import Schedule

SPARK_POINTS = 20  # runs shown in a sparkline, the newest


class LibraryEntry(BaseModel):
    id: str
    name: str
    description: str
    tags: list[str]
    version: int
    updated_at: dt.datetime
    size: int | None  # members after the last successful run; None: never run
    size_as_of: dt.datetime | None  # the as-of time of that run
    sizes: list[int]  # sizes of the last SPARK_POINTS runs, oldest first
    schedules: list[str]  # names of the active schedules that run it
    last_job_status: str | None
    last_job_at: dt.datetime | None


def build_library(
    definitions: list[Definition],
    history: pd.DataFrame,
    schedules: list[Schedule],
    jobs: list[SegmentJob],
) -> list[LibraryEntry]:
    """``history`` is ``svc.jobs.history()`` (segment_id, as_of, qualified, job_status ...)."""
    if not history.empty:
        # what-if runs (as of the future, or before the latest run) changed no membership
        real = ~history["what_if"].fillna(False).astype(bool) if "what_if" in history else True
        runs = history[(history["job_status"] == "SUCCEEDED") & real]
    else:
        runs = history
    newest_job: dict[str, SegmentJob] = {}
    for job in sorted(jobs, key=lambda j: j.created_at):
        for seg in job.segments:
            newest_job[seg.segment_id] = job
    entries = []
    for d in sorted(definitions, key=lambda d: d.name.lower()):
        mine = runs[runs["segment_id"] == d.id] if len(runs) else runs
        # the size now is the run recorded last; the sparkline reads in as-of order
        last = mine.sort_values("evaluated_at").iloc[-1] if len(mine) else None
        mine = mine.sort_values("as_of") if len(mine) else mine
        job = newest_job.get(d.id)
        entries.append(
            LibraryEntry(
                id=d.id,
                name=d.name,
                description=d.description,
                tags=list(d.tags),
                version=d.version,
                updated_at=d.updated_at,
                size=None if last is None else int(last["qualified"]),
                size_as_of=None if last is None else pd.Timestamp(last["as_of"]).to_pydatetime(),
                sizes=[int(q) for q in mine["qualified"].tolist()[-SPARK_POINTS:]]
                if len(mine)
                else [],
                schedules=[
                    s.name
                    for s in schedules
                    if s.active and (s.segments == ["*"] or d.id in s.segments)
                ],
                last_job_status=None if job is None else job.status,
                last_job_at=None if job is None else job.created_at,
            )
        )
    return entries
