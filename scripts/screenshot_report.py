"""Write a run's report and a PNG of its first screen, as the README shows it.

Usage: .venv/bin/python scripts/screenshot_report.py RUN_DIR OUT.png [HEIGHT]
"""

import sys
from pathlib import Path

from sia_core.report import html as report_html
from sia_core.report import run_view
from sia_core.testing.browser import open_page

run, out = Path(sys.argv[1]), Path(sys.argv[2])
height = int(sys.argv[3]) if len(sys.argv) > 3 else 1100
page = report_html.write(run_view.load(run), run / "report.html")
shot = open_page(page.resolve().as_uri(), height=height)
if shot.errors:
    sys.exit(f"the page logged errors: {shot.errors}")
out.write_bytes(shot.screenshot or b"")
print(f"wrote {out} ({out.stat().st_size} bytes) from {page}")
