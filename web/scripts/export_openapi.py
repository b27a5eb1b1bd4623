"""Write the API's OpenAPI document to web/openapi.json (run from web/: `npm run openapi`).

Uses the project's virtualenv (../.venv) when it exists; no database or server is needed, the
settings below only satisfy validation.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent
ROOT = WEB.parent
PROGRAM = (
    "import json; from logsentinel.api.app import create_app; "
    "from logsentinel.api.settings import ApiSettings; "
    "print(json.dumps(create_app(ApiSettings(database_url='postgresql://x@localhost/x', "
    "jwt_secret='x' * 40)).openapi(), indent=1))"
)

if __name__ == "__main__":
    venv = ROOT / ".venv" / "bin" / "python"
    python = str(venv) if venv.exists() else sys.executable
    document = subprocess.run(
        [python, "-c", PROGRAM], cwd=ROOT, check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    ).stdout
    json.loads(document)  # refuse to write anything that is not JSON
    (WEB / "openapi.json").write_text(document)
    print(f"wrote {WEB / 'openapi.json'} ({len(document)} bytes)")
