"""Orchestration overhead and labelling core saturation of a finished campaign, read from its nodes.

For the workflow with the given pk (an ``ActiveLearningWorkChain``, or any work chain, e.g. one
``DftLabellingWorkChain``) prints:

* its wall time (creation to its last output) against the time in which any code ran (the union of
  its calculation jobs' runs: pw.x, pacemaker, lmp, the surrogate); with stages that follow each other
  and runs inside a stage that overlap, that union is the summed code time along the critical path.
  Orchestration overhead = wall / code time (1.0: a code ran at every moment);
* the longest stretches with no code running and which processes were alive then;
* the time spent in in-daemon calculation functions (counted as overhead);
* per pw.x labelling batch: core saturation = pw.x CPU seconds / (cores x batch wall seconds), cores
  = ``max_concurrent`` x MPI processes per run, the batch running from the labelling work chain's
  creation to the end of its last pw.x run.

A code run ends when AiiDA retrieved its files and lasted the time the code reports itself (pw.x,
LAMMPS in whole seconds, the pacemaker driver's steps, the surrogate's total); a code that reports
none counts from its upload to the retrieval of its files (an upper bound). Reads only; starts nothing.

Usage: ``python benchmarks/campaign_overhead.py PK [--profile NAME] [--gaps 5] [--json FILE]``
(``AIIDA_PATH`` as for the profile the campaign ran in).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('pk', type=int, help='pk of the finished campaign (or any work chain)')
    parser.add_argument('--profile', default=None, help='AiiDA profile (default: the default profile)')
    parser.add_argument('--gaps', type=int, default=5, help='how many of the longest code-free stretches to list')
    parser.add_argument('--json', default=None, help='also write the numbers to this JSON file')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from aiida import load_profile, orm

    from aiida_mlip_autopipe.benchmark.overhead import format_report, overhead_report

    load_profile(args.profile, allow_switch=True)
    node = orm.load_node(args.pk)
    if not isinstance(node, orm.WorkflowNode):
        print(f'{node.__class__.__name__}<{args.pk}> is not a workflow; give the pk of a campaign', file=sys.stderr)
        return 2
    if not node.is_terminated:
        print(f'{node.process_label}<{args.pk}> has not finished: the numbers cover what has ended so far')
    report = overhead_report(node, top_gaps=args.gaps)
    print(format_report(report))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(dataclasses.asdict(report), handle, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
