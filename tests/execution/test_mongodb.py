"""The MongoDB configuration. No server can run on these machines: construction is checked everywhere, and the
end-to-end run goes against a server named by NA_FLOWS_TEST_MONGODB_URI (marked ``mongodb``: `pytest -m mongodb`)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from maggma.stores import MongoURIStore
from maggma.stores.gridfs import GridFSURIStore

from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import get_campaign_store, get_job_store


def test_mongodb_settings_build_mongo_and_gridfs_stores(tmp_path):
    uri = "mongodb://user:pw@db1.example.org:27017,db2.example.org:27017/screening?replicaSet=rs0&tls=true"
    settings = resolve_settings(workdir=tmp_path, mongodb_uri=uri)
    store = get_job_store(settings)  # constructing connects to nothing
    assert isinstance(store.docs_store, MongoURIStore)
    assert (store.docs_store.database, store.docs_store.collection_name) == ("screening", "outputs")
    data = store.additional_stores["data"]
    assert isinstance(data, GridFSURIStore)
    assert (data.database, data.collection_name, data.uri) == ("screening", "outputs_data", uri)
    assert get_campaign_store(settings).key == "campaign_id"


@pytest.mark.mongodb
def test_screening_flow_on_a_real_mongodb(tmp_path, monkeypatch):
    uri = os.environ.get("NA_FLOWS_TEST_MONGODB_URI")
    if not uri:
        pytest.skip(
            "set NA_FLOWS_TEST_MONGODB_URI to a MongoDB server (a throwaway database is created in it)"
        )
    from na_lattice_flows.analysis.report import build_report
    from na_lattice_flows.candidates.demo_set import demo_candidates
    from na_lattice_flows.candidates.loaders import LoadResult
    from na_lattice_flows.candidates.screen import screen_candidates
    from na_lattice_flows.execution.launching import recover_lost_runs, run_ready_jobs
    from na_lattice_flows.execution.results import failures_table, query_results, results_table
    from na_lattice_flows.execution.stores import open_session
    from na_lattice_flows.execution.submission import submit_candidates

    monkeypatch.setenv("NA_FLOWS_DATABASE", f"na_flows_test_{uuid.uuid4().hex[:8]}")
    settings = resolve_settings(workdir=tmp_path, mongodb_uri=uri)
    report = screen_candidates(
        LoadResult(candidates=[c for c in demo_candidates() if c.candidate_id == "demo-Na3OCl"])
    )
    with open_session(settings) as session:
        try:
            submit_candidates(session, report, ["mongodb test"])
            assert run_ready_jobs(session, progress=False) == 2
            row = results_table(session).iloc[0]
            assert (row.candidate_id, row.state) == ("demo-Na3OCl", "COMPLETED")
            assert list(query_results(session, state="completed").candidate_id) == ["demo-Na3OCl"]
            assert failures_table(session).empty and recover_lost_runs(session) == []
            # the report's queries ($exists, $in, $ne) on MongoDB
            built = build_report(session, tmp_path / "report")
            assert built.path.is_file() and any(
                reason.startswith("dispersions:") for reason in built.cannot_compute
            )
            # idempotent on MongoDB too
            again = submit_candidates(session, report, ["mongodb test again"])
            assert again.submitted == {} and "COMPLETED" in again.rejections[0].reason
        finally:
            session.launchpad.connection.drop_database(settings.database)


def test_worker_templates_load_as_jobflow_and_fireworks_configs(tmp_path, monkeypatch):
    import shutil

    import yaml
    from jobflow.settings import JobflowSettings

    templates = Path(__file__).resolve().parents[2] / "launchpad"
    shutil.copy(templates / "jobflow.yaml.template", tmp_path / "jobflow.yaml")
    store = JobflowSettings(CONFIG_FILE=str(tmp_path / "jobflow.yaml")).JOB_STORE
    assert isinstance(store.docs_store, MongoURIStore)
    assert isinstance(store.additional_stores["data"], GridFSURIStore)
    launchpad = yaml.safe_load((templates / "my_launchpad.yaml.template").read_text())
    assert launchpad["uri_mode"] is True and launchpad["host"].startswith("mongodb://")
    ours = yaml.safe_load((templates / "na_flows.yaml.template").read_text())
    shutil.copy(templates / "na_flows.yaml.template", tmp_path / "na_flows.yaml")
    monkeypatch.delenv("NA_FLOWS_MONGODB_URI", raising=False)
    monkeypatch.setenv("NA_FLOWS_CONFIG", str(tmp_path / "na_flows.yaml"))
    assert resolve_settings(workdir=tmp_path).mongodb_uri == ours["mongodb_uri"]


def test_worker_files_for_a_uri_with_authentication_tls_and_a_replica_set(tmp_path):
    import yaml
    from jobflow.settings import JobflowSettings

    from na_lattice_flows.execution.worker_files import write_worker_files

    uri = "mongodb://screener:s3cret@db1.example.org:27017,db2.example.org:27017/screening?replicaSet=rs0&tls=true&authSource=admin"
    settings = resolve_settings(workdir=tmp_path, mongodb_uri=uri)
    assert "s3cret" not in settings.describe() and "screening" in settings.describe()
    launchpad_file, jobflow_file = write_worker_files(settings, tmp_path / "worker")
    assert launchpad_file.stat().st_mode & 0o077 == 0  # the password stays with its owner
    assert yaml.safe_load(launchpad_file.read_text()) == {
        "host": uri,
        "uri_mode": True,
        "name": "screening",
    }
    store = JobflowSettings(
        CONFIG_FILE=str(jobflow_file)
    ).JOB_STORE  # what rlaunch's jobs will write to
    assert isinstance(store.docs_store, MongoURIStore) and store.docs_store.uri == uri
    assert store.additional_stores["data"].database == "screening"


def test_uri_must_be_a_mongodb_uri(tmp_path):
    from na_lattice_flows.execution.store_config import StoreConfigError

    with pytest.raises(StoreConfigError, match="must start with mongodb:// or mongodb\\+srv://"):
        resolve_settings(workdir=tmp_path, mongodb_uri="http://db.example.org")
    assert (
        resolve_settings(
            workdir=tmp_path, mongodb_uri="mongodb+srv://u:p@cluster.example.org/"
        ).database
        == "na_lattice_flows"
    )
