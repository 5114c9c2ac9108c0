import pytest

from genae.requirements import parse_version, satisfies, unmet_requirement


@pytest.mark.parametrize("version, specifiers, expected", [
    ("0.1.0", "", True),
    ("0.1.0", ">=0.1", True),
    ("0.1.0", ">0.1", False),
    ("0.1.0", "==0.1", True),            # 0.1 == 0.1.0
    ("0.1.0", "!=0.1.0", False),
    ("0.1.0", "<0.1.1", True),
    ("0.1.0", "<=0.0.9", False),
    ("0.1.0", ">=0.1, <1", True),
    ("1.0", ">=0.1,<1", False),
    ("0.1.5", "==0.1.*", True),
    ("0.2.0", "==0.1.*", False),
    ("0.2.0", "!=0.1.*", True),
    ("1.4.2", "~=1.4", True),            # >= 1.4, == 1.*
    ("2.0", "~=1.4", False),
    ("1.4.9", "~=1.4.2", True),          # >= 1.4.2, == 1.4.*
    ("1.5.0", "~=1.4.2", False),
    ("1.4.1", "~=1.4.2", False),
    ("10.0", ">9.99", True),             # numeric, not string, comparison
])
def test_satisfies(version, specifiers, expected):
    assert satisfies(version, specifiers) is expected


def test_bad_versions_and_specifiers_are_one_line_errors():
    with pytest.raises(ValueError, match=r"version: expected dotted numbers such as '1.2.0', got '1.0rc1'"):
        parse_version("1.0rc1")
    with pytest.raises(ValueError, match=r"specifier: expected an operator .* got '=>1'"):
        satisfies("1.0", "=>1")
    with pytest.raises(ValueError, match="'~=' needs at least two version parts"):
        satisfies("1.0", "~=1")


def test_unmet_requirement_reads_requires_dist_lines():
    requires = ["torch>=2.1", "Genae[timm] (>=0.3,<1) ; python_version >= '3.10'", "genae>=9 ; extra == 'next'"]
    assert unmet_requirement(requires, "genae", "0.2.0") == ">=0.3,<1"
    assert unmet_requirement(requires, "genae", "0.3.1") is None
    assert unmet_requirement(["genae_x>=9", "genae"], "genae", "0.1") is None   # another package; no version
    assert unmet_requirement(["genae>=1.0rc1"], "genae", "0.1") is None          # pre-releases are not judged
    assert unmet_requirement(None, "genae", "0.1") is None
