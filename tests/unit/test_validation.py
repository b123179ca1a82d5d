import math

import numpy as np
import pytest

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.tracking.validation import (
    validate_key,
    validate_metric_value,
    validate_param_value,
    validate_step,
    validate_tag_value,
)


@pytest.mark.parametrize("key", ["loss", "train/loss", "a.b-c d:e_1", "x" * 250])
def test_valid_keys(key):
    assert validate_key(key, "metric") == key


@pytest.mark.parametrize(
    "key, fragment",
    [
        ("", "empty"),
        ("x" * 251, "limit is 250"),
        ("a$b", "'$'"),
        ("../x", "'..'"),
        ("/abs", "'/'"),
        (3, "must be a string"),
        ("a/./b", "'.'"),
    ],
)
def test_invalid_keys_say_why(key, fragment):
    with pytest.raises(InvalidParameter, match=None) as info:
        validate_key(key, "param")
    assert fragment in str(info.value)


def test_values_over_limit_are_errors_not_truncated():
    assert validate_param_value("p", "x" * 6000) == "x" * 6000
    with pytest.raises(InvalidParameter, match="6001 characters; the limit is 6000"):
        validate_param_value("p", "x" * 6001)
    assert len(validate_tag_value("t", "y" * 8000)) == 8000
    with pytest.raises(InvalidParameter, match="limit is 8000"):
        validate_tag_value("t", "y" * 8001)


def test_metric_values():
    assert validate_metric_value("m", 1) == 1.0
    assert validate_metric_value("m", np.float32(0.5)) == 0.5
    assert validate_metric_value("m", np.array(2.0)) == 2.0
    assert math.isnan(validate_metric_value("m", float("nan")))
    assert validate_metric_value("m", float("inf")) == math.inf
    for bad in ("1.0", None, [1.0], object()):
        with pytest.raises(InvalidParameter, match="non-numeric"):
            validate_metric_value("m", bad)


def test_steps():
    assert validate_step(None) == 0
    assert validate_step(np.int64(7)) == 7
    with pytest.raises(InvalidParameter):
        validate_step(1.5)
