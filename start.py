"""AiiDAlab start-page entry of the app (called by the AiiDAlab home app)."""

import ipywidgets as ipw

TEMPLATE = """
<table>
<tr>
  <td valign="top"><ul>
    <li><a href="{appbase}/mlip_autopipe.ipynb" target="_blank">Set up, launch and watch an ACE campaign</a></li>
  </ul></td>
</tr>
</table>
"""


def get_start_widget(appbase, jupbase, notebase):
    """Return the widget the AiiDAlab home page shows for this app."""
    return ipw.HTML(TEMPLATE.format(appbase=appbase, jupbase=jupbase, notebase=notebase))
