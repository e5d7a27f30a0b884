import sys

from body_organ_analysis.cli import main

sys.exit(main())
