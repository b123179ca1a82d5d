"""Failure tests of the store service: real processes, real ``kill -9`` (docs/service.md)."""

from service_support import service_env_fixture  # noqa: F401  (fixture 'service_env')
