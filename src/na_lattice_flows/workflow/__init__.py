"""The screening flow: the per-structure Flow Maker that chains the stages, its summary job and document,
and the names of the jobs the store queries look for."""
