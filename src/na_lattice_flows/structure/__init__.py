"""Structure utilities every stage uses: the paper supercell (>= N atoms, near-equal lengths) and the
structural descriptors. Pure functions."""
