import time
from typing import ClassVar

from tocsin.core.scheduler import Scheduler
from tocsin.core.settings import load_settings


class CountingJob:
    id: ClassVar[str] = "test.count"

    def __init__(self, fail_first: bool = False, every: float | None = 0.05) -> None:
        self.runs = 0
        self.fail_first = fail_first
        self.every = every

    def interval(self, settings):
        return self.every

    def run(self, settings):
        self.runs += 1
        if self.fail_first and self.runs == 1:
            raise RuntimeError("boom")
        return f"run {self.runs}"


def test_due_jobs_run_and_a_failure_does_not_stop_the_next_run(tmp_path):
    scheduler = Scheduler(load_settings(home=tmp_path))
    job = CountingJob(fail_first=True)
    scheduler.add(job, first_delay=0)
    assert scheduler.run_due() == ["test.count"]
    state = scheduler.states["test.count"]
    assert state.failures == 1 and state.last_error == "RuntimeError: boom"
    assert scheduler.run_due() == []  # not due again yet
    time.sleep(0.06)
    assert scheduler.run_due() == ["test.count"]
    assert state.last_error is None and state.last_summary == "run 2"


def test_disabled_job_is_not_scheduled_and_thread_runs_jobs(tmp_path):
    scheduler = Scheduler(load_settings(home=tmp_path))
    scheduler.add(CountingJob(every=None))
    assert scheduler.states == {}
    job = CountingJob(every=0.02)
    scheduler.add(job, first_delay=0)
    scheduler.start()
    deadline = time.monotonic() + 5
    while job.runs < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop()
    assert job.runs >= 3


def test_lake_jobs_are_registered_and_run(tmp_path):
    from tocsin.core.plugins import default_registry

    jobs = default_registry().load_all("tocsin.jobs")
    assert set(jobs) >= {"lake.compact", "lake.retention"}
    settings = load_settings(home=tmp_path, retention_days={"*": 30})
    assert jobs["lake.compact"]().run(settings) == "0 files merged into 0"
    assert jobs["lake.retention"]().interval(settings) == settings.retention_interval_seconds
    assert jobs["lake.retention"]().run(settings) == "0 ingest days removed"
    assert jobs["lake.retention"]().interval(load_settings(home=tmp_path)) is None
