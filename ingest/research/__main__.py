import sys

from ingest.research.cli import main

sys.exit(main())
