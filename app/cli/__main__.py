"""`python -m app.cli`, as the `connscope` command."""

import sys

from app.cli import main

sys.exit(main())
