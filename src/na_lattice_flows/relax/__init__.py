"""Stage 2, relaxation: the MLP relaxation Maker (atomate2's force-field relax with this package's model
registry), reading any relax step's output, and the MLP elastic moduli."""
