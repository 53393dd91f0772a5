"""The doped-electrolyte study (aliovalent doping with charge-compensating Na vacancies, e.g. W on Sb in
Na3SbS4): doped cells by special quasi-random structures, the NPT phase transition, anisotropic and correlated
diffusion and the tetrahedra's dihedral angles. Physics in ``cells``, ``phases``, ``dihedrals``, ``analysis``;
the jobs, the study's Maker and its presets in ``jobs``, ``flow`` and ``presets``."""
