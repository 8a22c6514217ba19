import sys

from lutnas.cli.main import main

sys.exit(main())
