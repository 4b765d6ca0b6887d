"""Protocol knowledge and conformance checks for OpenAI Realtime API (GA) clients.

Subpackages: `conformance.protocol` (the sans-I/O core), `conformance.schemas` (the GA
schema bundle and live-worded validation), `conformance.checks`, `conformance.verdicts`,
`conformance.reports`, `conformance.runner`. This module imports nothing on purpose:
the pytest plugin (`conformance.pytest_plugin`) is loaded by every pytest run of a user
who installed the package, and must stay cheap to import.
"""

__version__ = "0.1.0.dev0"
