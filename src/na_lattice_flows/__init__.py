"""Screening Na solid electrolytes through lattice dynamics and machine-learned force fields, as jobflow flows
dispatched by FireWorks. Layout and import rules: README, "Layout". Importing the package changes nothing
outside it: the jobflow shortcut (``execution.jobflow_speed``) is switched on where campaigns are submitted."""

__version__ = "0.8.0"
