"""Store selection and the embedded default: persistence across processes, the data store, sessions side by side."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from fireworks import Firework, ScriptTask, Workflow
from jobflow import job, run_locally
from jobflow.settings import JobflowSettings

from na_lattice_flows.execution.store_config import StoreConfigError, resolve_settings
from na_lattice_flows.execution.stores import get_job_store, open_session


def test_embedded_is_the_default(embedded_settings, tmp_path):
    assert embedded_settings.mode == "embedded"
    assert embedded_settings.workdir == (tmp_path / "work").resolve()


def test_uri_from_environment_and_from_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv(
        "NA_FLOWS_MONGODB_URI",
        "mongodb+srv://user:secret@cluster0.example.net/screening?tls=true&replicaSet=rs0",
    )
    settings = resolve_settings(workdir=tmp_path)
    assert (settings.mode, settings.database) == ("mongodb", "screening")
    assert "secret" not in settings.describe()

    monkeypatch.delenv("NA_FLOWS_MONGODB_URI")
    config = tmp_path / "na_flows.yaml"
    config.write_text("mongodb_uri: mongodb://db.example.org:27017\ndatabase: campaign7\n")
    monkeypatch.setenv("NA_FLOWS_CONFIG", str(config))
    settings = resolve_settings(workdir=tmp_path)
    assert (settings.mode, settings.mongodb_uri, settings.database) == (
        "mongodb",
        "mongodb://db.example.org:27017",
        "campaign7",
    )


def test_bad_uri_and_bad_config_are_named(tmp_path, monkeypatch):
    with pytest.raises(StoreConfigError, match="must start with mongodb://"):
        resolve_settings(workdir=tmp_path, mongodb_uri="http://localhost:27017")
    config = tmp_path / "broken.yaml"
    config.write_text("mongodb_uri: [unclosed\n")
    monkeypatch.delenv("NA_FLOWS_MONGODB_URI", raising=False)
    monkeypatch.setenv("NA_FLOWS_CONFIG", str(config))
    with pytest.raises(StoreConfigError, match="broken.yaml: not valid YAML"):
        resolve_settings(workdir=tmp_path)


@job(data="force_constants")
def make_big_output(n: int):
    return {"label": "fc", "force_constants": np.arange(n, dtype=float).reshape(-1, 3)}


def test_large_arrays_go_to_the_data_store_and_persist(embedded_settings):
    store = get_job_store(embedded_settings)
    big = make_big_output(3 * 20000)
    run_locally(big, store=store, create_folders=False)

    reopened = get_job_store(embedded_settings)  # a new connection to the files on disk
    reopened.connect()
    raw = reopened.docs_store.query_one({"uuid": big.uuid})
    assert raw["output"]["label"] == "fc"
    assert "blob_uuid" in raw["output"]["force_constants"]  # a reference, not the array
    assert reopened.additional_stores["data"].count() == 1
    loaded = reopened.get_output(big.uuid, load=True)
    np.testing.assert_array_equal(
        np.array(loaded["force_constants"]), np.arange(60000.0).reshape(-1, 3)
    )


def test_launchpad_persists_for_another_process(embedded_settings):
    with open_session(embedded_settings) as session:
        session.launchpad.add_wf(
            Workflow([Firework(ScriptTask.from_str("echo hi"), name="probe")], name="persisted")
        )
    code = (
        "from na_lattice_flows.execution.store_config import resolve_settings\nfrom na_lattice_flows.execution.stores import open_session\n"
        f"with open_session(resolve_settings(workdir={str(embedded_settings.workdir)!r})) as s:\n"
        "    print(s.launchpad.workflows.find_one({})['name'], s.launchpad.fireworks.count_documents({}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["persisted", "1"]
    assert (
        embedded_settings.launchpad_db.is_file() and not embedded_settings.launchpad_file.exists()
    )


def test_two_sessions_at_once_each_see_what_the_other_wrote(embedded_settings):
    with open_session(embedded_settings) as first, open_session(embedded_settings) as second:
        first.launchpad.add_wf(
            Workflow([Firework(ScriptTask.from_str("echo 1"), name="from first")])
        )
        second.launchpad.add_wf(
            Workflow([Firework(ScriptTask.from_str("echo 2"), name="from second")])
        )
        names = {fw["name"] for fw in first.launchpad.fireworks.find({}, {"name": 1})}
        assert names == {"from first", "from second"}
        assert sorted(second.launchpad.get_fw_ids()) == [1, 2]  # one id sequence for both


def test_worker_configs_point_at_the_same_store(embedded_settings):
    with open_session(embedded_settings):
        pass
    # loaded the way a plain `rlaunch` worker loads it: jobflow settings from JOBFLOW_CONFIG_FILE
    store = JobflowSettings(CONFIG_FILE=str(embedded_settings.workdir / "jobflow.yaml")).JOB_STORE
    assert store.docs_store.path == str(embedded_settings.jobstore_db)
    assert store.additional_stores["data"].collection_name == "outputs_data"
    env = (embedded_settings.workdir / "env.sh").read_text()
    assert (
        f"NA_FLOWS_WORKDIR={embedded_settings.workdir}" in env
        and "fireworks_commands rlaunch" in env
    )


def test_a_closed_session_never_overwrites_a_later_one(embedded_settings):
    """Two sessions one after the other in one process (submit, then run): at exit, the first must not write
    its older snapshot over what the second saved."""
    code = (
        "from fireworks import Firework, ScriptTask, Workflow\n"
        "from na_lattice_flows.execution.store_config import resolve_settings\nfrom na_lattice_flows.execution.stores import open_session\n"
        f"settings = resolve_settings(workdir={str(embedded_settings.workdir)!r})\n"
        "with open_session(settings) as s:\n"
        "    s.launchpad.add_wf(Workflow([Firework(ScriptTask.from_str('echo'), name='first')]))\n"
        "with open_session(settings) as s:\n"
        "    s.launchpad.add_wf(Workflow([Firework(ScriptTask.from_str('echo'), name='second')]))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    with open_session(embedded_settings) as session:
        names = sorted(fw["name"] for fw in session.launchpad.fireworks.find({}, {"name": 1}))
    assert names == ["first", "second"]
