"""Execution and stores: the embedded or MongoDB stores, submission to FireWorks, launching and recovery,
and the queries that read results back. The only layer that talks to FireWorks and maggma."""
