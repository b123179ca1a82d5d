import pytest

from jupyter_mltrack import errors
from jupyter_mltrack.errors import (
    AlreadyExists,
    InvalidFilter,
    InvalidParameter,
    MltrackError,
    NotFound,
    RunNotFound,
    StoreLocked,
)


def test_json_shape_is_pinned():
    err = RunNotFound("No run with id 'x'.", run_id="x")
    assert err.to_dict() == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": "No run with id 'x'.",
        "error_class": "RunNotFound",
        "details": {"run_id": "x"},
    }
    assert err.http_status == 404


@pytest.mark.parametrize(
    "cls, status",
    [
        (InvalidFilter, 400),
        (AlreadyExists, 400),
        (NotFound, 404),
        (StoreLocked, 503),
        (MltrackError, 500),
    ],
)
def test_round_trip_rebuilds_same_class(cls, status):
    rebuilt = MltrackError.from_dict(cls("boom", position=3).to_dict())
    assert type(rebuilt) is cls
    assert rebuilt.message == "boom"
    assert rebuilt.details == {"position": 3}
    assert rebuilt.http_status == status


def test_unknown_class_falls_back_to_code():
    rebuilt = MltrackError.from_dict(
        {"error_code": "INVALID_PARAMETER_VALUE", "message": "m", "error_class": "SomethingNew"}
    )
    assert type(rebuilt) is InvalidParameter


def test_every_error_is_exported():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), MltrackError)
