"""Stage 5, DFT: GPAW (local) and VASP (HPC, through custodian) relaxations, statics and AIMD, and the
AIMD validation of the MLP screen (``validation``)."""
