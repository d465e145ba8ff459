import sys

from ingest.errors import run
from ingest.research.cli import main

sys.exit(run(main))
