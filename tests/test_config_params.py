"""stanet_lib.config.check_parameters: unknown or mistyped notebook parameters are errors."""

import pytest

from stanet_lib.config import ParameterError, check_parameters

ANN = {"PROFILE": str, "SEED": int, "LR": float, "SMOKE": bool}


def _ns(**values):
    return {"__annotations__": dict(ANN), "PROFILE": "demo", "SEED": 0, "LR": 0.1, "SMOKE": False, **values}


def test_declared_parameters_and_imports_pass():
    ns = _ns(PROFILE="smoke", SEED=3, LR=1, np=pytest, check_parameters=check_parameters, _i1="x")
    assert check_parameters(ns, hidden={}) == list(ANN)


def test_an_unknown_parameter_is_an_error_naming_the_close_one():
    with pytest.raises(ParameterError, match=r"unknown parameter 'profile' \(did you mean PROFILE\?\).*PROFILE, SEED"):
        check_parameters(_ns(profile="smoke"), hidden={})
    with pytest.raises(ParameterError, match="unknown parameter 'EPOCHS'"):
        check_parameters(_ns(EPOCHS=3), hidden={})


def test_names_the_kernel_defined_are_not_parameters():
    assert check_parameters(_ns(In=[""], Out={}), hidden={"In": [], "Out": {}}) == list(ANN)


def test_a_mistyped_value_is_an_error():
    for bad, what in (({"SEED": "3"}, "SEED must be int, got str"), ({"SEED": True}, "SEED must be int, got bool"),
                      ({"SMOKE": 1}, "SMOKE must be bool"), ({"LR": "x"}, "LR must be float")):
        with pytest.raises(ParameterError, match=what):
            check_parameters(_ns(**bad), hidden={})


def test_checked_once_per_kernel():
    ns = _ns()
    check_parameters(ns, hidden={})
    ns["rows"] = [1, 2]  # a later cell's variable, then the first cell is run again
    assert check_parameters(ns, hidden={}) == list(ANN)
    with pytest.raises(ParameterError):
        check_parameters(_ns(rows=[1, 2]), hidden={})

