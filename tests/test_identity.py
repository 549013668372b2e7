"""Identity normalization and hashing: worked examples, bad input, SQL vs reference."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trackstack_wh as tw
from trackstack_wh.identity import Key, hashed, normalize
from trackstack_wh.identity.rules import HASHED_KEYS, KEY_SOURCE, WHITESPACE
from trackstack_wh.identity.sql import SOURCES, build_identity

# (key, raw input, phone region, expected SHA-256) from the platform reference's worked
# examples: Meta, Google, LinkedIn, TikTok, Snapchat, Reddit, Microsoft and X.
WORKED_EXAMPLES = [
    (Key.EMAIL, "    aBc@gmail.com   ", "US", "48ddb93f0b30c475423fe177832912c5bcdce3cc72872f8051627967ef278e08"),
    (Key.ZIP, "1234", "US", "03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4"),
    (Key.PHONE_DIGITS, "510 555 0011", None, "cf9b0227ee02d8f8f9dbb6060fa2941bb667efc71f6ee2e6ee17b40121a5f4a6"),
    (Key.GENDER, "m", "US", "62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a"),
    (Key.PHONE_DIGITS, "12345678901", "US", "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4"),
    (Key.PHONE_DIGITS, "+1 (650) 555-1212", "US", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
    (Key.ZIP, " 94025-1234 ", "US", "b9a9cf3cd3723a2e91b7c23ecf68456e872b6e5d86e5cab7f3d45a7302da32c7"),
    (Key.CITY, "Menlo Park", "US", "0007a3d64c01e23d5075203c5977c14e4f7e01a3fc570686fcc50b5e1dd42685"),
    (Key.STATE, "California", "US", "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126"),
    (Key.COUNTRY, "US", "US", "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"),
    (Key.FIRST_NAME, "John", "US", "96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a"),
    (Key.LAST_NAME, "Doe ", "US", "799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f"),
    (Key.EMAIL_GOOGLE, " alex@example.com", "US", "6db61e6dcbcf2390e4a46af426f26a133a3bee45021422fc7ae86e9136f14110"),
    (Key.PHONE_E164, "+1-202-555-0146", "US", "ec7e6b85f24fa6b796f1017236463f1b7160fbdc5e663e39ab363b6d6fe30b9f"),
    (Key.PHONE_E164, "+1 800 5550102", "US", "c5383c2eeada28210d27f011bc127d4f9562cf38ff0c9bba33dd45ae79b9fe7c"),
    (Key.EMAIL_GOOGLE, "jane.doe@gmail.com", "US", "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"),
    (Key.EMAIL_GOOGLE, "alex.2@example.com", "US", "97a24240e3c76dfc0abdb63a3d73468ff8d94b81fd3dc084cc32994ba4fad7fe"),
    (Key.EMAIL, "abc@gmail.com", "US", "48ddb93f0b30c475423fe177832912c5bcdce3cc72872f8051627967ef278e08"),
    (Key.EMAIL, "jane.doe@example.com", "US", "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"),
    (Key.EMAIL, "bugsbunny@warnerbros.com", "US", "67e28cdcc3e845d3a4da05ca9fe5ddb7320a83b4cc2167f0555a3b04f63511e3"),
    (Key.PHONE_E164, "12345678901234", "US", "00a63bd0437d6ca0fa7b95c00ab2e7c020faa71440e5246750d6b517689e6777"),
    (Key.EMAIL, "abc@xyz.com", "US", "ee278943de84e5d6243578ee1a1057bcce0e50daad9755f45dfa64b60b13bc5d"),
    (Key.PHONE_E164, "+12345432", "US", "49a15e38bdc2572d362a924c2ddd100baed0fe29db44270d3700fcef03b18c39"),
    (Key.EMAIL, "Person@Example.com", "US", "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"),
    (Key.PHONE_DIGITS, "+44 844 412 4653", "US", "dc008fda46e2e64002cf2f82a4906236282d431c4f75e5b60bfe79fc48546383"),
    (Key.PHONE_DIGITS, "+91 2111111 ", "US", "bc77d64d7045fe44795ed926df37231a0cfb6ec6b74588c512790e9f143cc492"),
    (Key.EMAIL, "test@email.com", "US", "73062d872926c2a556f17b36f50e328ddf9bff9d403939bd14b6c3b7f5a33fc2"),
    (Key.EMAIL_REDDIT, "Al.ice$+Apple@Example.Com", "US", "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"),
    (Key.EMAIL_REDDIT, "alice@example.com", "US", "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"),
    (Key.EMAIL_REDDIT, "testone@gmail.com", "US", "ac144532d9e4efeab19475d9253a879173ea12a3d2238d1cb8a332a7b3a105f2"),
    (Key.EXTERNAL_ID, "testuserId1", "US", "7b023241a3132b792a5a33915a5afb3133cbb1e13d72879689bf6504de3b036d"),
    (Key.CLIENT_IP, "54.100.200.255", "US", "e80bd55a3834b7c2a34ade23c7ecb54d2a49838227080f50716151e765a619db"),
    (Key.EMAIL, "USER@example.COM", "US", "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"),
    (Key.PHONE_DIGITS, "+1 (415) 555-0000", "US", "ae9ef94e7ba18b14fdbc72ff855f6f3d6a46a053d1ca021265c604bfeb9d573a"),
    (Key.EMAIL, "abc@ax.com", "US", "4c3c8a8cba2f3bb1e9e617301f85d1f68e816a01c7b716f482f2ab9adb8181fb"),
    (Key.PHONE_E164, "+919927455678", "US", "b308962b96b40cce7981493a372db9478edae79f83c2d8ca6cd15a39566f8c56"),
]  # fmt: skip

PREHASHED = "48DDB93F0B30C475423FE177832912C5BCDCE3CC72872F8051627967EF278E08"


def _sql_identity(
    wh: tw.Warehouse,
    rows: list[dict[str, str | None]],
    region: str | None,
    keys: frozenset[Key] | None = None,
) -> pl.DataFrame:
    """Run the set-based path over ``rows`` (dicts of identity source columns)."""
    frame = pl.DataFrame(
        [
            {"event_id": f"e{i}", "event_seq": i, **{s: r.get(s) for s in SOURCES}}
            for i, r in enumerate(rows)
        ],
        schema={"event_id": pl.String, "event_seq": pl.Int64, **dict.fromkeys(SOURCES, pl.String)},
    )
    wh.conn.register("identity_input", frame)
    try:
        build_identity(wh.conn, region, source="identity_input", target="identity_probe", keys=keys)
    finally:
        wh.conn.unregister("identity_input")
    return wh.sql("select * from identity_probe order by event_id")


@pytest.mark.parametrize(("key", "raw", "region", "expected"), WORKED_EXAMPLES)
def test_worked_examples_reproduce_in_reference_and_sql(
    wh: tw.Warehouse, key: Key, raw: str, region: str | None, expected: str
) -> None:
    assert hashed(key, raw, phone_region=region) == (expected, None)
    [row] = _sql_identity(wh, [{KEY_SOURCE[key]: raw}], region).to_dicts()
    assert row[f"{key}_sha256"] == expected
    assert row["identity_issues"] == []


def test_prehashed_values_pass_through_every_key_unchanged(wh: tw.Warehouse) -> None:
    row = _sql_identity(wh, [dict.fromkeys(SOURCES, f"  {PREHASHED} ")], "US").row(0, named=True)
    for key in HASHED_KEYS:
        assert hashed(key, PREHASHED) == (PREHASHED.lower(), None)
        assert row[f"{key}_sha256"] == PREHASHED.lower(), key
    assert row["identity_issues"] == []


@pytest.mark.parametrize(
    ("key", "raw", "outcome"),
    [
        (Key.EMAIL, None, (None, None)),
        (Key.EMAIL, "", (None, None)),
        (Key.EMAIL, " \t\u00a0", (None, None)),
        (Key.EMAIL, "bob@", (None, "invalid_email")),
        (Key.EMAIL, "bob@example", (None, "invalid_email")),
        (Key.EMAIL, "a" * 300 + "@example.com", (None, "too_long:email")),
        (Key.EMAIL, "Zoë@Exämple.COM", ("zoë@exämple.com", None)),
        (Key.EMAIL_GOOGLE, "J.Doe+ads@GoogleMail.com", ("jdoe@googlemail.com", None)),
        (Key.EMAIL_GOOGLE, "+ads@gmail.com", (None, "invalid_email")),
        (Key.PHONE_E164, "+0000000000", (None, "invalid_phone")),
        (Key.PHONE_E164, "555", (None, "invalid_phone")),
        (Key.PHONE_E164, "(111) 111-1111", (None, "placeholder_phone")),
        (Key.PHONE_E164, "650-253-0000 ext. 123", ("+16502530000", None)),
        (Key.PHONE_E164, "1-800-FLOWERS", (None, "invalid_phone")),
        (Key.PHONE_E164, "0044 20 7946 0958", ("+442079460958", None)),
        (Key.PHONE_E164, "true", (None, "invalid_phone")),
        (Key.PHONE_DIGITS, "6505551212", ("16505551212", None)),
        (Key.FIRST_NAME, "  İlkay ", ("ilkay", None)),
        (Key.FIRST_NAME_COMPACT, "Mary Ann", ("maryann", None)),
        (Key.STATE, "New   York", ("ny", None)),
        (Key.STATE, "Bavaria", ("bavaria", None)),
        (Key.COUNTRY, "United Kingdom", ("gb", None)),
        (Key.COUNTRY, "Narnia", (None, "invalid_country")),
        (Key.GENDER, "Female", ("f", None)),
        (Key.GENDER, "x", (None, "invalid_gender")),
        (Key.DATE_OF_BIRTH, "1990-07-04T00:00:00Z", ("19900704", None)),
        (Key.DATE_OF_BIRTH, "19900230", (None, "invalid_date_of_birth")),
        (Key.DATE_OF_BIRTH, "04/07/1990", (None, "invalid_date_of_birth")),
        (Key.EXTERNAL_ID, " User_42 ", ("User_42", None)),
        (Key.EXTERNAL_ID_LOWER, " User_42 ", ("user_42", None)),
        (Key.CITY, "St. Louis 2", ("stlouis", None)),
        (Key.CITY, "123", (None, "invalid_city")),
    ],
)
def test_bad_and_odd_input_has_a_defined_outcome(
    key: Key, raw: str | None, outcome: tuple[str | None, str | None]
) -> None:
    assert normalize(key, raw, phone_region="US") == outcome


identity_text = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(exclude_categories=("Cs", "Cn")), max_size=30),
    st.builds(
        lambda user, dom, pad: f"{pad}{user}@{dom}.com{pad}",
        st.text(alphabet="aB.+_-1é ", min_size=0, max_size=10),
        st.sampled_from(["gmail", "GoogleMail", "example", "exämple"]),
        st.sampled_from(["", " ", "\t", "\u00a0"]),
    ),
    st.builds(
        lambda cc, digits, sep: f"{cc}{sep.join(digits)}",
        st.sampled_from(["", "+", "+1 ", "00", "+44", "(", "+0"]),
        st.lists(st.text(alphabet="0123456789", min_size=1, max_size=4), max_size=5),
        st.sampled_from(["", " ", "-", ".", ") "]),
    ),
    st.sampled_from(["California", " new  york", "UNITED STATES", "DE", PREHASHED, "1990-01-31"]),
    st.sampled_from(["Male", "f", "94025-1234", "İSTANBUL", "ΟΔΥΣΣΕΥΣ", "Straße", "x" * 300]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.fixed_dictionaries({s: identity_text for s in SOURCES}), min_size=1, max_size=8))
def test_set_based_sql_agrees_with_the_reference(
    wh: tw.Warehouse, rows: list[dict[str, str | None]]
) -> None:
    result = _sql_identity(wh, rows, "US").to_dicts()
    for raw, row in zip(rows, result, strict=True):
        issues = set()
        for key in HASHED_KEYS:
            value, reason = hashed(key, raw[KEY_SOURCE[key]], phone_region="US")
            assert row[f"{key}_sha256"] == value, (key, raw[KEY_SOURCE[key]])
            if reason:
                issues.add(reason)
        assert set(row["identity_issues"]) == issues, raw


def test_whitespace_set_is_what_both_paths_trim() -> None:
    assert normalize(Key.EMAIL, WHITESPACE + "a@b.co" + WHITESPACE) == ("a@b.co", None)


def test_country_names_are_phonenumbers_english_region_names() -> None:
    from phonenumbers.geodata.locale import LOCALE_DATA

    from trackstack_wh.identity.countries import COUNTRY_NAMES, ISO_COUNTRY_CODES

    english = {}
    for code, names in LOCALE_DATA.items():
        name = names.get("en") or names.get("aa")
        if name and name.startswith("*"):
            name = names.get(name[1:])
        if name and len(code) == 2:
            english[name.lower()] = code.lower()
    assert english == COUNTRY_NAMES
    assert {c.lower() for c in LOCALE_DATA if len(c) == 2} == ISO_COUNTRY_CODES
    assert COUNTRY_NAMES["germany"] == "de" and "us" in ISO_COUNTRY_CODES


def test_a_subset_of_keys_gives_the_same_values_for_those_keys(wh: tw.Warehouse) -> None:
    rows = [
        {"email": " Jane.Doe@Gmail.com", "phone": "+1 (415) 555-0000", "city": "San Francisco"},
        {"email": PREHASHED, "phone": "12", "state": "California", "country": "Germany"},
        {"external_id": "U-1", "zip": "94103-1234", "first_name": " Zoë "},
    ]
    full = _sql_identity(wh, rows, "US")
    keys = frozenset({Key.EMAIL, Key.PHONE_DIGITS, Key.STATE, Key.COUNTRY})
    subset = _sql_identity(wh, rows, "US", keys)
    assert set(subset.columns) == {
        "event_id", "event_seq", "email_sha256", "phone_digits_sha256", "state_sha256",
        "country_sha256",
        "state", "country", "identity_issues", "rules_version",
    }  # fmt: skip
    shared = [c for c in subset.columns if c != "identity_issues"]
    assert subset.select(shared).equals(full.select(shared))
    assert subset["identity_issues"].to_list() == [[], ["invalid_phone"], []]
