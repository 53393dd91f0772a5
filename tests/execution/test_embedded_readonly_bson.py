"""A read-only command on a store whose JobStore was never written (a fresh workdir) neither writes montydb's
default configuration nor fixes the process's BSON setting to it: a writable store opened afterwards in the
same process (a notebook, a script) still works, and the read-only store still reads what exists."""

from __future__ import annotations

from na_lattice_flows.execution.embedded import STORAGE_CONFIG_FILE
from na_lattice_flows.execution.stores import get_campaign_store, open_session


def test_read_only_on_an_unwritten_jobstore_leaves_later_stores_working(embedded_settings):
    with open_session(embedded_settings):
        pass
    with open_session(embedded_settings, read_only=True) as session:
        session.job_store.connect()
        assert list(session.job_store.query({})) == []
    assert not (embedded_settings.jobstore_dir / STORAGE_CONFIG_FILE).exists()  # nothing written by the read
    campaigns = get_campaign_store(embedded_settings)
    campaigns.connect()  # a writable MontyStore: montydb's BSON setting must still be free
    campaigns.update({"campaign_id": "c1", "model": "chgnet"}, key="campaign_id")
    campaigns.close()
    with open_session(embedded_settings, read_only=True):
        reader = get_campaign_store(embedded_settings, read_only=True)
        reader.connect()
        assert [doc["campaign_id"] for doc in reader.query({})] == ["c1"]
