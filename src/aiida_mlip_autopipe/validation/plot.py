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
