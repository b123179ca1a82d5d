from jupyter_mltrack.testing import tracking_store  # noqa: F401  (fixture)
