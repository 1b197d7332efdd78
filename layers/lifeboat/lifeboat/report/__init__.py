"""The readiness report (``lifeboat report``): for each protected resource its newest points,
RPO against the rule's target, last drill and alarms; for each AZ what its failure would cost;
what is not protected; a red/amber/green summary. :func:`gather` reads the fleet through the
ports, :func:`build_report` is pure, :func:`render_html` draws one self-contained page."""

from lifeboat.report.build import build_report
from lifeboat.report.gather import gather
from lifeboat.report.html import render_html
from lifeboat.report.models import FleetInputs, Report

__all__ = ["FleetInputs", "Report", "build_report", "gather", "render_html"]
