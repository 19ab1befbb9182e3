"""Local development and `make demo`: debug on, SQLite and the filesystem broker unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)
