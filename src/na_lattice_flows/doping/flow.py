"""The doped-electrolyte study as one flow: for every system (pristine, each dopant fraction with its Na
vacancies, and the two controls, dopant only and vacancies only, at ``control_fraction``) the doped cell, NPT on
the coarse temperature grid, the fine grid and T_C, transport at the NPT mean cells, a summary; then the
study's tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from jobflow import Flow, Maker
from pymatgen.core import Structure

from na_lattice_flows.checks import check_range
from na_lattice_flows.doping.cells import check_doping, parse_dopant
from na_lattice_flows.doping.jobs import (
    doped_npt_point,
    doped_study_summary,
    doped_system_summary,
    doped_transition,
    doped_transport,
    make_doped_cell,
)
from na_lattice_flows.doping.presets import doping_settings
from na_lattice_flows.errors import InputError
from na_lattice_flows.models import TORCHSIM_FAMILIES, resolve_model
from na_lattice_flows.settings import SETTINGS, trajectory_folder

STUDY_SUMMARY_JOB_NAME = "doped study summary"


def system_name(fraction: float, vacancy_mode: str, dopant: str) -> str:
    """The system's name in tables: pristine, W0.1+vac (compensated) or W0.1 (no vacancies)."""
    if fraction == 0:
        return "pristine"
    return {
        "compensate": f"{dopant}{fraction:g}+vac",
        "none": f"{dopant}{fraction:g}",
        "only": f"vac{fraction:g}",
    }[vacancy_mode]


@dataclass
class DopedPhaseStudyMaker(Maker):
    """E.g. ``DopedPhaseStudyMaker(model="7net-0", dopant="W", host_site="Sb", fractions=[0, 0.05, 0.1],
    preset="short").make(conventional_cell)``. ``overrides``: any field of DopingStudySettings (nested npt /
    transport fields as dicts). ``controls``: also the dopant-only and vacancies-only systems at
    ``control_fraction`` (default the largest fraction). ``harmonic_structure``: a (cubic) cell whose phonons
    the screening's phonon step computes with ``harmonic_amplitude_A`` displacements (the study: cubic Na3SbS4,
    0.02 A, imaginary at H), shown in the study's report."""

    name: str = "doped phase study"
    model: str = SETTINGS.doping_model
    dopant: str = "W"
    host_site: str = "Sb"
    fractions: list[float] = field(default_factory=lambda: [0.0, 0.025, 0.05, 0.075, 0.10])
    preset: str = "paper"
    overrides: dict = field(default_factory=dict)
    controls: bool = True
    control_fraction: float | None = None
    trajectory_dir: str | None = None
    harmonic_structure: Structure | None = (
        None  # the cubic cell of the harmonic check; None: no check
    )
    harmonic_amplitude_A: float = 0.02  # the study's displacements

    def __post_init__(self) -> None:
        spec = resolve_model(self.model)
        self.model = spec.name
        parse_dopant(f"{self.dopant}:{self.host_site}")
        if not self.fractions:
            raise InputError(
                "fractions: give at least one dopant fraction (0 is the pristine host)"
            )
        for fraction in (
            *self.fractions,
            *([self.control_fraction] if self.control_fraction is not None else []),
        ):
            check_range("fractions", fraction, at_least=0)
            if fraction > 1:
                raise InputError(
                    f"fractions = {fraction!r}: a fraction of the host sites cannot exceed 1"
                )
        self.fractions = sorted({float(f) for f in self.fractions})
        # also: a bad preset fails here
        if self.settings.fine_grid_engine == "torchsim" and spec.family not in TORCHSIM_FAMILIES:
            raise InputError(
                f"fine_grid_engine 'torchsim' has no wrapper for {self.model!r} ({spec.family}); use a "
                f"{' or '.join(TORCHSIM_FAMILIES)} model or the 'ase' engine"
            )
        self.trajectory_dir = str(trajectory_folder(self.trajectory_dir))

    @property
    def settings(self):
        """The study's settings: the preset with the overrides."""
        return doping_settings(self.preset, **self.overrides)

    def systems(self) -> list[tuple[str, float, str]]:
        """(name, fraction, vacancy mode) of every system of the study."""
        systems = [
            (system_name(f, "compensate", self.dopant), f, "compensate") for f in self.fractions
        ]
        control = (
            self.control_fraction if self.control_fraction is not None else max(self.fractions)
        )
        if self.controls and control > 0:
            systems += [
                (system_name(control, mode, self.dopant), control, mode)
                for mode in ("none", "only")
            ]
        return systems

    def study_id(self, structure: Structure) -> str:
        """A stable id of the study: the host's formula and a hash of the structure and the
        settings."""
        from na_lattice_flows.candidates.fingerprints import settings_fingerprint

        text = structure.to(fmt="poscar") + settings_fingerprint(self)
        return f"{structure.composition.reduced_formula}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"

    def make(self, structure: Structure) -> Flow:
        """The study's flow for the host ``structure``: cells, NPT grids, T_C, transport and the
        summary."""
        settings = self.settings
        if self.host_site not in structure.composition:
            raise InputError(
                f"host site {self.host_site}: not in {structure.composition.reduced_formula}"
            )
        for name, fraction, mode in self.systems():  # every cell's refusals before any job exists
            try:
                check_doping(
                    structure,
                    self.dopant,
                    self.host_site,
                    fraction,
                    settings.supercell,
                    settings.seed,
                    mode,
                )
            except InputError as error:
                raise InputError(f"{name}: {error}") from None
        study_id = self.study_id(structure)
        jobs, summaries = [], []
        for name, fraction, mode in self.systems():
            cell = make_doped_cell(structure, self.dopant, self.host_site, fraction, mode, settings)
            cell.name = f"doped cell {name}"
            coarse = {}
            for temperature in settings.npt_temperatures_K:
                point = doped_npt_point(
                    cell.output,
                    name,
                    temperature,
                    self.model,
                    settings,
                    self.trajectory_dir,
                    study_id,
                )
                point.name = f"npt {name} {temperature:g}K"
                coarse[temperature] = point
            on_grid = [coarse[t].output for t in settings.coarse_temperatures_K]
            transition = doped_transition(
                on_grid, name, self.model, settings, self.trajectory_dir, study_id
            )
            transition.name = f"transition {name}"
            transport = []
            for temperature in settings.transport_temperatures_K:
                run = doped_transport(
                    coarse[temperature].output,
                    name,
                    self.model,
                    settings,
                    self.trajectory_dir,
                    study_id,
                )
                run.name = f"transport {name} {temperature:g}K"
                transport.append(run)
            summary = doped_system_summary(
                name,
                cell.output,
                [p.output for p in coarse.values()],
                transition.output,
                [t.output for t in transport],
            )
            summary.name = f"doped system summary {name}"
            jobs += [cell, *coarse.values(), transition, *transport, summary]
            summaries.append(summary.output)
        harmonic = harmonic_cell = None
        if self.harmonic_structure is not None:
            from na_lattice_flows.phonons.jobs import MLPPhononMaker
            from na_lattice_flows.relax.jobs import MLPRelaxMaker

            # in its space group, as the screening relaxes
            relax = MLPRelaxMaker(model=self.model).make(self.harmonic_structure)
            relax.name = f"harmonic check relax {study_id}"
            phonons = MLPPhononMaker(model=self.model, amplitude_A=self.harmonic_amplitude_A).make(
                relax.output.structure, f"{study_id}-harmonic"
            )
            phonons.name = f"harmonic check {study_id}"
            jobs += [relax, phonons]
            harmonic, harmonic_cell = phonons.output, relax.output.structure
        study = doped_study_summary(
            study_id,
            structure.composition.reduced_formula,
            self.model,
            self.preset,
            summaries,
            harmonic,
            harmonic_cell,
        )
        study.name = STUDY_SUMMARY_JOB_NAME
        return Flow([*jobs, study], output=study.output, name=f"{self.name} {study_id}")
