"""Every table module, imported so `SQLModel.metadata` knows the whole schema (migrations, drift test).

A feature that adds tables in a module of its own adds one import line here.
"""

import storage.duplicate_models
import storage.models
import storage.schedule_models  # noqa: F401
