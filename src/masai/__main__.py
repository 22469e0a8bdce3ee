import sys

from masai.cli import main

sys.exit(main())
