"""A read-only command writes nothing to the embedded store (no file created or changed), reads what is there,
and sees what a writer commits while it is open (SQLite's WAL: readers and the writer do not wait for each
other)."""

from __future__ import annotations

from na_lattice_flows.execution.stores import get_campaign_store, open_session


def snapshot(folder):
    """The database files themselves (SQLite's -shm/-wal companions are its readers' shared index)."""
    return {
        path.name: (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.glob("*.sqlite")
    }


def test_a_reader_writes_nothing_and_sees_what_a_writer_commits(embedded_settings):
    with open_session(embedded_settings):
        pass
    before = snapshot(embedded_settings.workdir)
    with open_session(embedded_settings, read_only=True) as session:
        session.job_store.connect()
        assert list(session.job_store.query({})) == []
        reader = get_campaign_store(embedded_settings, read_only=True)
        reader.connect()
        assert list(reader.query({})) == []
        writer = get_campaign_store(embedded_settings)
        writer.connect()
        # while the reader is open
        writer.update({"campaign_id": "c1", "model": "chgnet"}, key="campaign_id")
        assert [doc["campaign_id"] for doc in reader.query({})] == ["c1"]
        writer.close()
        reader.close()
    after = snapshot(embedded_settings.workdir)
    # the read-only session left the LaunchPad as it was
    assert after["launchpad.sqlite"] == before["launchpad.sqlite"]
    wal = embedded_settings.workdir / "launchpad.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # and wrote nothing into its journal either
