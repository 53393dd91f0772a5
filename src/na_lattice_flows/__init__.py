"""na_lattice_flows: screening Na-containing crystals for superionic conduction through their lattice dynamics."""

__version__ = "0.1.0"
