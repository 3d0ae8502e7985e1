"""PNG comparing the equation-of-state curves of the potential and of its labeller."""

from __future__ import annotations

from pathlib import Path


def plot_eos_comparison(report: dict, path) -> Path:
    """Write a PNG with one panel per validation cell: energy per atom (relative to each side's lowest point,
    meV/atom) against volume per atom, labeller as points, potential as a line. Return the path.

    ``report`` is the ``ValidationWorkChain`` output Dict as a dict (its ``eos_curves``).
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    curves = report.get('eos_curves') or {}
    if not curves:
        raise ValueError('the report has no EOS curves')
    figure, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.4), squeeze=False)
    for axis, (name, sides) in zip(axes[0], sorted(curves.items())):
        for side, style in (('labeller', {'marker': 'o', 'linestyle': 'none'}), ('potential', {'marker': 'x'})):
            if side not in sides:
                continue
            volumes = sides[side]['volume_per_atom']
            energies = sides[side]['energy_per_atom']
            lowest = min(energies)
            axis.plot(volumes, [1000 * (energy - lowest) for energy in energies], label=side, **style)
        entry = (report.get('cells') or {}).get(name, {})
        errors = entry.get('error', {})
        title = name
        if 'lattice_a' in errors:
            title += f'  a {errors["lattice_a"]:+.2%}'
        if 'bulk_modulus' in errors:
            title += f'  B {errors["bulk_modulus"]:+.1%}'
        axis.set_title(title, fontsize=9)
        axis.set_xlabel('volume per atom (A$^3$)')
        axis.set_ylabel('E - E$_{min}$ (meV/atom)')
        axis.legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_phonon_comparison(report: dict, path) -> Path:
    """Write a PNG with one row per cell with phonons: the band structure along the high-symmetry path
    (labeller as points, potential as lines, THz) and the density of states beside it (both as lines).
    Return the path.

    ``report`` is the ``ValidationWorkChain`` output Dict as a dict (its ``phonon_bands``). Both sides
    are drawn at the same reduced q-points, against the labeller's path length.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    bands = report.get('phonon_bands') or {}
    if not bands:
        raise ValueError('the report has no phonon bands')
    figure, axes = plt.subplots(
        len(bands), 2, figsize=(8, 3.2 * len(bands)), squeeze=False, gridspec_kw={'width_ratios': (3, 1)}
    )
    for (band_axis, dos_axis), (name, cell) in zip(axes, sorted(bands.items())):
        distances = np.asarray(cell['labeller']['distances'])
        ends = np.cumsum(cell['segments']) - 1
        ticks = [distances[0], *distances[ends]]
        for side, style in (
            ('labeller', {'marker': 'o', 'markersize': 2, 'linestyle': 'none', 'color': 'C0'}),
            ('potential', {'linewidth': 1, 'color': 'C1'}),
        ):
            frequencies = np.asarray(cell[side]['frequencies'])
            for index, band in enumerate(frequencies.T):
                band_axis.plot(distances, band, label=side if index == 0 else None, **style)
            dos = cell[side]['dos']
            dos_axis.plot(dos['dos'], dos['frequency_points'], color=style['color'], linewidth=1, label=side)
        for tick in ticks:
            band_axis.axvline(tick, color='0.8', linewidth=0.5)
        band_axis.axhline(0, color='0.8', linewidth=0.5)
        band_axis.set_xticks(ticks, cell['labels'])
        band_axis.set_xlim(ticks[0], ticks[-1])
        band_axis.set_ylabel('frequency (THz)')
        band_axis.set_title(f'{name}  RMSE {cell["rmse"]:.3f} THz  max error {cell["max_error"]:+.3f} THz', fontsize=9)
        band_axis.legend(fontsize=8, loc='lower right')
        dos_axis.set_ylim(band_axis.get_ylim())
        dos_axis.set_yticklabels([])
        dos_axis.set_xlabel('DOS (states/THz)')
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
