"""The production gunicorn settings (../gunicorn.conf.py), with the access log off.

PayDock and the baseline are both served with this file, so they differ only in the app.
"""

import runpy
from pathlib import Path

_production = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
globals().update({name: value for name, value in _production.items() if not name.startswith("_")})

# Writing a line per request would load the shared CPU the same for both apps: leave it out.
accesslog = None
