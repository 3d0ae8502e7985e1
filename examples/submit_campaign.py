"""Submit an active-learning campaign described by a campaign file.

    verdi run examples/submit_campaign.py examples/campaign_cuau.yaml               # to the daemon
    verdi run examples/submit_campaign.py examples/campaign_cuau.yaml --foreground  # here, waiting
    verdi run examples/submit_campaign.py examples/campaign_cuau.yaml --foreground --export out  # and export

Every field of the file is checked (and the codes, pseudopotentials and labeller) before anything
is submitted; a wrong field is named with what is allowed. With ``--foreground`` the command exits
with status 1 unless the campaign finished with exit status 0 (converged and validated).
"""

from __future__ import annotations

import argparse
import sys

from aiida_mlip_autopipe.campaign.launch import launch_campaign


def main(argv):
    parser = argparse.ArgumentParser(description='Submit an active-learning campaign.')
    parser.add_argument('campaign_file')
    parser.add_argument('--foreground', action='store_true', help='run here instead of in the daemon')
    parser.add_argument(
        '--export', metavar='FOLDER', help='with --foreground: write the shipped potential there (mlip-autopipe export)'
    )
    args = parser.parse_args(argv)
    if args.export and not args.foreground:
        parser.error('--export needs --foreground (a submitted campaign is exported with `mlip-autopipe export`)')
    try:
        node = launch_campaign(args.campaign_file, foreground=args.foreground)
    except (ValueError, RuntimeError) as exception:
        sys.exit(f'error: {exception}')
    if args.foreground:
        from aiida_mlip_autopipe.campaign.status import describe_campaign

        print(describe_campaign(node, f'campaign_{node.pk}_learning_curve.png'))
        if args.export:
            from aiida_mlip_autopipe.campaign.export import ExportError, export_node

            try:
                written = export_node(node, args.export, force=True)
            except ExportError as exception:
                sys.exit(f'error: no export: {exception}')
            print(f'exported to {args.export}: {", ".join(sorted(written))} (see README.txt there)')
    else:
        print(f'ActiveLearningWorkChain<{node.pk}> submitted')
    print(f'status: mlip-autopipe status {node.pk}    report: verdi process report {node.pk}')
    if args.foreground and not node.is_finished_ok:
        # a shell (`make demo`, CI) sees that the campaign did not end converged and validated
        sys.exit(f'campaign not successful: exit status {node.exit_status}: {node.exit_message}')


if __name__ == '__main__':
    main(sys.argv[1:])
