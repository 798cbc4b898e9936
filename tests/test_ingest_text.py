"""Plain-text article ingest: layouts, site profiles, ids, problems and schema validity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from toolkit.errors import ToolkitError
from toolkit.ingest.text import (
    PROBLEM_CODES,
    SiteProfile,
    TextIngestResult,
    available_profiles,
    ingest_text,
    load_profile,
    write_articles,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "text"
SHARED = REPO.parent / "shared"
SEED = SHARED / "seeds" / "000_080620f4fa6d8d76.txt"
BBC = SHARED / "realdata" / "news_text" / "bbc"

SEED_TITLE = "Ukraine DM: Haftar promises to send volunteers to support Russia"
SEED_CREDIT = "ABDULLAH DOMA/AFP via Getty Images"


@pytest.fixture(scope="module")
def article_validator() -> Draft202012Validator:
    schema_dir = REPO / "schema"
    article = json.loads((schema_dir / "article.schema.json").read_text(encoding="utf-8"))
    annotation = json.loads((schema_dir / "annotation.schema.json").read_text(encoding="utf-8"))
    registry = Registry().with_resource(annotation["$id"], Resource.from_contents(annotation))
    return Draft202012Validator(article, registry=registry)


def assert_valid(result: TextIngestResult, validator: Draft202012Validator) -> None:
    for article in result.articles:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(article)]
        assert not errors, (article["id"], errors)


def ingest_one(path: Path, **options) -> dict:
    result = ingest_text([path], **options)
    assert result.problems == []
    assert len(result.articles) == 1
    return result.articles[0]


# ---------------------------------------------------------------------------------------------
# The seed's layout


SEED_CASES = [
    pytest.param(
        SEED,
        "Libya\u2019s eastern military chief Khalifa Haftar in the eastern city of Benghazi "
        "on 16 November 2021",
        "Strategic meeting of Ukrainian, Russian leaders needed for permanent peace, says Turkiye",
        id="seed",
    ),
    pytest.param(
        FIXTURES / "seedlike_article.txt",
        "A military commander at a ceremony in an eastern city, shown here in a synthetic caption "
        "written for tests",
        "Synthetic related headline about talks between two leaders",
        id="synthetic",
    ),
]


@pytest.mark.parametrize(("path", "caption", "related"), SEED_CASES)
def test_seed_layout(path, caption, related, article_validator):
    if not path.exists():
        pytest.skip(f"{path} is not available")
    result = ingest_text([path])
    assert result.problems == []
    [article] = result.articles
    assert article["title"] == SEED_TITLE
    assert article["published_at"] == "2022-03-21T10:52:00+00:00"
    assert article["language"] == "en"
    assert article["source"] == {"tagline": "Creating new perspectives since 2009"}
    paragraphs = article["text"].split("\n\n")
    assert len(paragraphs) == 8
    assert all(p and p == p.strip() for p in paragraphs)
    assert "READ:" not in article["text"]
    assert "Creating new perspectives" not in article["text"]
    assert SEED_CREDIT not in article["text"] and "[" not in article["text"]
    assert article["media"] == [{"kind": "image", "caption": caption, "credit": SEED_CREDIT}]
    assert article["related"] == [{"title": related}]
    assert article["id"] == path.stem
    assert_valid(result, article_validator)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", "2022-03-21T10:52:00+00:00"),
        ("Europe/Kyiv", "2022-03-21T10:52:00+02:00"),
        ("America/New_York", "2022-03-21T10:52:00-04:00"),
    ],
)
def test_timezone_gives_the_offset(zone, expected):
    article = ingest_one(FIXTURES / "seedlike_article.txt", timezone=zone)
    assert article["published_at"] == expected


def test_unknown_timezone_and_bad_language_are_user_errors():
    with pytest.raises(ToolkitError, match="time zone"):
        ingest_text([FIXTURES / "seedlike_article.txt"], timezone="Mars/Olympus_Mons")
    with pytest.raises(ToolkitError, match="BCP 47"):
        ingest_text([FIXTURES / "seedlike_article.txt"], language="english language")


def test_source_name_and_language_are_recorded():
    article = ingest_one(FIXTURES / "seedlike_article.txt", source_name="Example Monitor", language="ar")
    assert article["source"] == {"name": "Example Monitor", "tagline": "Creating new perspectives since 2009"}
    assert article["language"] == "ar"


def test_uppercase_pm_and_dates_without_tagline_or_caption(article_validator):
    result = ingest_text([FIXTURES / "seedlike_edge_cases.txt"])
    [article] = result.articles
    assert article["published_at"] == "2023-04-02T19:05:00+00:00"
    assert "source" not in article
    assert "media" not in article
    assert_valid(result, article_validator)


# ---------------------------------------------------------------------------------------------
# Text details


def test_edge_cases_paragraphs_related_and_astral_characters():
    article = ingest_one(FIXTURES / "seedlike_edge_cases.txt")
    assert article["title"] == "Harbour ferry \U0001f6a2 resumes service to the \U0001d518pper islands"
    assert article["text"].split("\n\n") == [
        "The first crossing since the winter storms left at dawn, a spokesperson said.",
        "Passengers were greeted with tea and a sign reading \u201cwelcome back \U0001f600\u201d.\n"
        "Several of them had waited since January.",
        "The harbour master said the timetable would return to normal next week.",
        "A rare plant, \U0002000b on its label, was carried over for the island garden.",
    ]
    assert article["related"] == [
        {"title": "Storm damage closes northern quay"},
        {"title": "Island school reopens after repairs"},
        {"title": "Ferry operator orders two new boats"},
    ]


def write_variant(base: Path, folder: Path, transform) -> Path:
    folder.mkdir()
    target = folder / base.name
    target.write_bytes(transform(base.read_bytes()))
    return target


VARIANTS = {
    "bom": lambda b: b"\xef\xbb\xbf" + b,
    "crlf": lambda b: b.replace(b"\n", b"\r\n"),
    "cr": lambda b: b.replace(b"\n", b"\r"),
    "toggle-final-newline": lambda b: b.rstrip(b"\n") if b.endswith(b"\n") else b + b"\n",
    "bom-crlf-no-final-newline": lambda b: b"\xef\xbb\xbf" + b.rstrip(b"\n").replace(b"\n", b"\r\n"),
    "extra-blank-lines": lambda b: b.replace(b"\n\n", b"\n \n\t\n\n"),
}


@pytest.mark.parametrize("name", ["seedlike_article.txt", "seedlike_edge_cases.txt", "plain_article.txt"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_bom_crlf_and_final_newline_do_not_change_the_article(tmp_path, name, variant):
    base = FIXTURES / name
    expected = ingest_one(base)
    changed = write_variant(base, tmp_path / variant, VARIANTS[variant])
    assert changed.read_bytes() != base.read_bytes()
    assert ingest_one(changed) == expected


# ---------------------------------------------------------------------------------------------
# Ids


def test_same_file_gives_the_same_id(tmp_path):
    path = FIXTURES / "seedlike_article.txt"
    first, second = ingest_one(path), ingest_one(path)
    assert first["id"] == second["id"] == "seedlike_article"
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    assert ingest_one(copy)["id"] == first["id"]


def test_unsafe_file_name_gets_a_content_hash_id(tmp_path):
    base = FIXTURES / "seedlike_article.txt"
    one = tmp_path / "a" / "Ukraine news (copy).txt"
    two = tmp_path / "b" / "Ukraine news (copy).txt"
    one.parent.mkdir()
    two.parent.mkdir()
    one.write_bytes(base.read_bytes())
    two.write_bytes(b"\xef\xbb\xbf" + base.read_bytes().replace(b"\n", b"\r\n"))
    first, second = ingest_one(one), ingest_one(two)
    assert first["id"].startswith("text-") and len(first["id"]) == len("text-") + 16
    assert first["id"] == second["id"] == ingest_one(one)["id"]
    assert first["id"] != ingest_one(FIXTURES / "plain_article.txt")["id"]


def test_same_stem_in_two_folders_and_duplicate_text(tmp_path):
    for folder, source in [
        ("sport", "plain_article.txt"),
        ("tech", "seedlike_article.txt"),
        ("world", "plain_article.txt"),
    ]:
        (tmp_path / folder).mkdir()
        shutil.copy(FIXTURES / source, tmp_path / folder / "001.txt")
    result = ingest_text([tmp_path])
    ids = [a["id"] for a in result.articles]
    assert ids[0] == "001"
    assert ids[1].startswith("001-") and ids[1] != ids[0]
    assert len(ids) == 2
    [problem] = result.problems
    assert problem.code == "duplicate-article"
    assert problem.path == tmp_path / "world" / "001.txt"


def test_a_file_listed_twice_is_read_once():
    path = FIXTURES / "plain_article.txt"
    result = ingest_text([path, path])
    assert len(result.articles) == 1 and result.problems == []


# ---------------------------------------------------------------------------------------------
# Problems


def test_bad_files_are_reported_and_the_rest_written(tmp_path, article_validator):
    good = [FIXTURES / "seedlike_article.txt", FIXTURES / "plain_article.txt"]
    bad = {
        FIXTURES / "latin1_article.txt": "invalid-encoding",
        FIXTURES / "tagline_without_date.txt": "no-date",
        FIXTURES / "blank_only.txt": "no-title",
        tmp_path / "missing.txt": "unreadable",
    }
    result = ingest_text([good[0], *bad, good[1]])
    assert [a["id"] for a in result.articles] == [p.stem for p in good]
    assert {p.path: p.code for p in result.problems} == bad
    assert all(p.code in PROBLEM_CODES and p.message for p in result.problems)
    by_code = {p.code: p for p in result.problems}
    assert "0xE9" in by_code["invalid-encoding"].message and by_code["invalid-encoding"].line == 1
    assert by_code["no-date"].line == 5 and "Updated a while ago" in by_code["no-date"].message

    out = tmp_path / "out" / "articles.jsonl"
    assert write_articles(result, out) == 2
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    assert [json.loads(line) for line in lines[:-1]] == result.articles
    assert_valid(result, article_validator)


def test_no_blank_line_after_the_first_line_is_no_title(tmp_path):
    path = tmp_path / "headless.txt"
    path.write_text(
        "A first paragraph with no title above it.\nA second line right below it.\n", encoding="utf-8"
    )
    [problem] = ingest_text([path]).problems
    assert (problem.path, problem.code, problem.line) == (path, "no-title", 2)


def test_title_and_date_without_body_is_no_body(tmp_path):
    path = tmp_path / "empty_body.txt"
    path.write_text("A title\n\nMarch 21, 2022 at 10:52 am\n\nREAD: Only a link\n", encoding="utf-8")
    [problem] = ingest_text([path]).problems
    assert problem.code == "no-body"


def test_written_jsonl_keeps_astral_characters_as_utf8(tmp_path):
    result = ingest_text([FIXTURES / "seedlike_edge_cases.txt"])
    out = tmp_path / "articles.jsonl"
    write_articles(result, out)
    raw = out.read_bytes()
    assert "\U0001f6a2".encode() in raw and "\U0002000b".encode() in raw
    assert json.loads(raw.decode("utf-8")) == result.articles[0]


# ---------------------------------------------------------------------------------------------
# The simple layout


def test_simple_layout_fixture(article_validator):
    result = ingest_text([FIXTURES / "plain_article.txt"])
    [article] = result.articles
    assert article["title"] == "Town library extends its opening hours"
    assert "published_at" not in article
    assert article["text"] == (
        "The town library will open on Sundays from next month, the council said on Tuesday.\n"
        "The change follows a survey of readers.\n\n"
        "Staff said the extra hours would be covered by two new part-time posts."
    )
    assert_valid(result, article_validator)


@pytest.mark.skipif(not BBC.is_dir(), reason="shared/realdata/news_text is not available")
def test_realdata_news_text_reads_as_simple_layout(tmp_path, article_validator):
    result = ingest_text([BBC])
    titles = {a["id"]: a["title"] for a in result.articles}
    assert titles == {
        "business_001": "Ad sales boost Time Warner profit",
        "business_109": "Lufthansa flies back to profit",
        "politics_001": "Labour plans maternity pay rise",
    }
    for article in result.articles:
        assert "published_at" not in article
        assert article["title"] not in article["text"]
        assert "\n\n\n" not in article["text"]
    counts = {a["id"]: len(a["text"].split("\n\n")) for a in result.articles}
    assert counts == {"business_001": 5, "business_109": 2, "politics_001": 5}
    assert "\u00a3600m" in result.articles[0]["text"]
    [problem] = result.problems
    assert problem.code == "invalid-encoding"
    assert problem.path == BBC / "sport_199_LATIN1_not_utf8.txt"
    assert "0xA3" in problem.message and "257" in problem.message
    assert write_articles(result, tmp_path / "bbc.jsonl") == 3
    assert_valid(result, article_validator)


# ---------------------------------------------------------------------------------------------
# Site profiles


OTHER_SITE_PROFILE = r"""
name: valley-courier
source: {name: The Valley Courier, domain: valleycourier.example}
layouts: [dated]
header: [date, title]
taglines:
  - "THE VALLEY COURIER — independent news since 1998"
  - regex: '^Edition \d+$'
date_formats: ["%d.%m.%Y | %H:%M"]
caption: '^Photo: (?P<caption>.+?) \(Credit: (?P<credit>[^)]+)\)$'
related: '^More on this:\s*(?P<title>.+)$'
"""


def test_custom_profile_reads_another_site_without_code(tmp_path, article_validator):
    profile_path = tmp_path / "valley.yaml"
    profile_path.write_text(OTHER_SITE_PROFILE, encoding="utf-8")
    path = FIXTURES / "othersite_article.txt"

    # The default profile does not know this site.
    [problem] = ingest_text([path]).problems
    assert problem.code == "no-title" and "[profile default]" in problem.message

    for profile in (profile_path, str(profile_path), load_profile(profile_path)):
        result = ingest_text([path], profile=profile, timezone="Europe/Berlin")
        assert result.problems == []
        [article] = result.articles
        assert article == {
            "id": "othersite_article",
            "title": "Valley council approves a new bridge over the river",
            "published_at": "2022-03-21T10:52:00+01:00",
            "language": "en",
            "source": {
                "name": "The Valley Courier",
                "domain": "valleycourier.example",
                "tagline": "THE VALLEY COURIER \u2014 independent news since 1998",
            },
            "text": "The council voted eight to three on Monday evening to replace the old bridge.\n\n"
            "Work is due to start in the autumn and to last two years.",
            "media": [
                {"kind": "image", "caption": "The old bridge in winter.", "credit": "Sam Lee / Courier"}
            ],
            "related": [{"title": "Bridge tender opens next month"}],
        }
        assert_valid(result, article_validator)


def test_builtin_profiles_ship_and_load():
    assert {"default", "generic"} <= set(available_profiles())
    default = load_profile("default")
    assert isinstance(default, SiteProfile) and default.name == "default"
    assert default.layouts == ("dated", "simple")
    generic = load_profile("generic")
    assert generic.taglines == ()
    assert ingest_one(FIXTURES / "plain_article.txt", profile="generic") == ingest_one(
        FIXTURES / "plain_article.txt"
    )
    article = ingest_one(FIXTURES / "seedlike_edge_cases.txt", profile="generic")
    assert article["published_at"] == "2023-04-02T19:05:00+00:00"


def test_profile_with_a_date_only_format(tmp_path):
    profile = SiteProfile.from_dict({"name": "dates", "date_formats": ["%d %B %Y"]})
    path = tmp_path / "dated.txt"
    path.write_text("A title\n\n2 april 2023\n\nThe body.\n", encoding="utf-8")
    assert ingest_one(path, profile=profile)["published_at"] == "2023-04-02"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\ndate_formats: ['%d']\ncolour: red\n", "unknown setting"),
        ("name: x\ndate_formats: ['%d']\ncaption: '(unclosed'\n", "not a valid regular expression"),
        ("name: x\ndate_formats: ['%d']\nrelated: '^READ: (?P<headline>.+)$'\n", "unknown named group"),
        ("name: x\ndate_formats: ['%d']\nrelated: '^READ: .+$'\n", "(?P<title>"),
        ("name: x\ndate_formats: ['%d %Q']\n", "%Q"),
        ("name: x\nlayouts: [dated]\n", "date_formats"),
        ("name: x\nheader: [title]\ndate_formats: ['%d']\n", "header"),
        ("name: x\ntaglines: [{exact: Foo}]\ndate_formats: ['%d']\n", "taglines[0]"),
        ("- just\n- a list\n", "mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_profiles_are_user_errors(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ToolkitError) as caught:
        load_profile(path)
    assert message in caught.value.message
    assert str(path) in caught.value.message


def test_unknown_profile_name_is_a_user_error():
    with pytest.raises(ToolkitError, match="built-in profiles are default, generic"):
        load_profile("no-such-site")
