"""Seeded generator of synthetic annotated news corpora, for benchmarks and validator tests.

    python benchmarks/generate.py OUT_DIR --articles N --seed S [--compress none|gz|zst] [--broken F]

Writes OUT_DIR/dataset.yaml, articles.jsonl[.gz|.zst] and annotations.jsonl[.gz|.zst] with the
same layer layout as examples/sample-news (entities, persuasion, genre, attribution). Articles are
built from sentence templates and name pools that include diacritics, Arabic script and the odd
character outside the Basic Multilingual Plane, so offset bugs surface as span mismatches. Offsets
are counted while the text is assembled, never searched for, so they are exact by construction.

Records are written as they are made (memory does not grow with N) and the output is
byte-identical for the same arguments. With --broken F about a fraction F of the records are
damaged in varied ways; OUT_DIR/expected-problems.jsonl then lists each injected fault (file,
line, record id, problem code). Only stdlib, orjson and PyYAML are needed (zstandard for .zst).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import orjson
import yaml

# --------------------------------------------------------------------------------------------------
# Vocabulary. Everything here is invented for the generator; place names are real only as places.

FIRST_NAMES = (
    "Maria", "James", "Aisha", "Chen", "Zoë", "Łukasz", "José", "Søren", "Anaïs", "Gülşen", "Björn",
    "Dagný", "Ngozi", "Rahul", "Ewa", "François", "Mateus", "Olga", "Siobhán", "Kwame", "Yuki",
    "Amara", "Tomás", "Ana", "Noah", "Fatima", "Omar", "Leila", "Jürgen", "Hélène", "Ivan", "Priya",
    "Agnieszka", "João", "Iñaki", "Renée", "Chloé", "Mehmet", "Oğuz", "Thandiwe", "Kristiina",
)
LAST_NAMES = (
    "Müller", "Kowalczyk", "Silva", "Nielsen", "Okafor", "Dubois", "Çelik", "Dvořák", "Nguyễn",
    "García", "Haddad", "Andersson", "Takahashi", "Ó Briain", "Smith", "Patel", "Novák", "Rossi",
    "Sørensen", "Mensah", "Wójcik", "Ibáñez", "Ferreira", "Kaya", "Lindqvist", "Ahmed", "Brennan",
    "Schäfer", "Fernández", "O’Neill", "Gonçalves", "Mäkelä", "Þorsteinsson", "Petrović", "Achterberg",
)
# Full names used now and then instead of first + last: other scripts, and one astral CJK
# character (𠮷, a variant used in the surname Yoshida) inside an annotated span.
SPECIAL_PERSONS = (
    "عبد الله الحربي", "فاطمة الزهراء المنصوري", "ليلى حداد", "يوسف بن سالم", "王芳", "佐藤 花子",
    "𠮷田 美咲", "Nguyễn Thị Lan", "Zoë Müller-Łęcka", "Saoirse Ní Bhriain",
)
ORG_HEADS = (
    "Northbridge", "Kessler & Adler", "Vale do Serro", "Banco Cerrado", "Sahil", "Meridian", "Zipcab",
    "Lumina", "Cortexa", "Helios", "Fjordline", "Åsgard", "Nordlicht", "Tejo", "Baltica", "Ostrava",
    "Kilimanjaro", "Andes", "Corvus", "Mistral", "Sirocco", "Zephyr", "Łaba", "Ébène", "Médina",
)
ORG_TAILS = (
    "Group", "Holdings", "Energy", "Bank", "Institute", "Foundation", "Logistics", "Telecom",
    "University", "Water Company", "Research", "Alliance", "Trust", "Capital", "Motors", "Health",
)
GPES = (
    "Łódź", "São Paulo", "Kraków", "Zürich", "Reykjavík", "Montréal", "Bogotá", "Düsseldorf", "Malmö",
    "Gdańsk", "İzmir", "Brasília", "Köln", "Nairobi", "Lagos", "Lisbon", "Hanoi", "Cairo", "Muscat",
    "Oslo", "Ljubljana", "Chișinău", "Tromsø", "Curaçao", "Québec", "Medellín", "Aarhus",
    "Thessaloniki", "Marseille", "Valparaíso", "Brazil", "Poland", "Iceland", "Oman", "Portugal",
    "Kenya", "Norway", "Vietnam", "Colombia", "Türkiye", "القاهرة",
)
# "prefix|name": only the part after "|" is the entity span ("the Danube" annotates "Danube").
LOCS = (
    "the |Danube", "the |Alps", "the |Atacama Desert", "the |North Sea", "the |Río de la Plata",
    "|Lake Titicaca", "the |Mekong Delta", "the |Baltic coast", "the |Sahel", "|Piotrkowska Street",
    "the |Øresund Bridge", "the |Vistula", "the |Reykjanes peninsula", "the |Côte d’Azur",
    "the |Serra do Mar", "the |Rhône valley",
)
EVENTS = (
    "the |Continental Cup", "the |Nordic Climate Summit", "the |Lisbon Book Fair",
    "the |Global Ports Forum", "the |Winter Games", "the |Andean Trade Conference",
    "the |Nile Screen Festival", "the |Baltic Tech Week", "the |Festival de Málaga",
)
TOPICS = (
    "the new budget", "the rail link", "the pension reform", "the merger", "the water tariff",
    "the data-sharing deal", "the congestion charge", "the housing plan", "the port expansion",
    "the school-meals scheme", "the wind-farm tender", "the tax overhaul", "the hospital closures",
    "the fishing quota", "the metro extension", "the minimum-wage rise",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
CURRENCIES = ("€", "$", "£", "R$", "kr ")

# Persuasion phrases. Noun phrases fit "called it “…”"; clauses fit "warned that …".
PERSUASION_NP = (
    ("Loaded_Language", ("a reckless gamble", "a shameful betrayal", "an outrageous power grab",
                         "a cynical stunt", "a devastating blow", "a slap in the face", "a cruel joke",
                         "a betrayal of working families")),
    ("Exaggeration", ("the worst decision in living memory", "the biggest scandal of the decade",
                      "a disaster of historic proportions", "a catastrophe for the entire country",
                      "the greatest crisis in our history")),
    ("Name_Calling", ("a clown show", "the work of career bureaucrats",
                      "a fantasy dreamt up by armchair experts", "the pet project of so-called reformers",
                      "spin from people with no shame")),
)
PERSUASION_CLAUSE = (
    ("Doubt", ("nobody has explained where the money will come from", "the figures simply do not add up",
               "it is far from clear who will actually benefit",
               "the official numbers may be badly out of date",
               "the consultation was never meant to change anything")),
    ("Appeal_to_Fear", ("families will pay the price if nothing changes",
                        "the hospitals could run out of beds by winter",
                        "a whole generation of jobs is at risk", "the next flood could be far worse",
                        "our children will inherit the bill")),
    ("Exaggeration", ("every single household will be worse off",
                      "nothing like this has ever happened before",
                      "the whole system is on the verge of collapse")),
)
# (a, b, c, label of a+b, label of b+c): two persuasion spans that share "b" and overlap partially.
PERSUASION_OVERLAP = (
    ("a reckless, ", "ruinous gamble", " that will bankrupt every family in the region",
     "Loaded_Language", "Exaggeration"),
    ("a cynical, ", "shameless stunt", " that insults every voter in the country",
     "Loaded_Language", "Exaggeration"),
    ("the ", "spin doctors’ fantasy", " that will leave hospitals without a single nurse",
     "Name_Calling", "Appeal_to_Fear"),
    ("an arrogant, ", "reckless power grab", " that threatens the whole democratic order",
     "Loaded_Language", "Exaggeration"),
)
EMOJI_LEADS = ("📈 ", "📉 ", "⚽ ", "🌍 ", "🔬 ", "🗳️ ", "👩‍🔬 ", "🇪🇺 ", "🌧️ ", "🎬 ")

# Sentence templates. Slots: P O G L E entities (annotated at the article's rate); SPK/SPKO a
# speaking person/org and QNS/QCS what they said (always annotated, linked by said_by);
# QUOTER/QUOTED two persons linked by quotes; QN/QC persuasion by the author; ^ capitalises;
# T topic, N N2 PCT MONEY DAY MONTH YEAR plain fillers.
GENERIC = (
    "{P}, a spokesperson for {O}, said the talks in {G} had been “constructive but slow.”",
    "Officials in {G} declined to comment on {T} on {DAY}.",
    "The announcement came a day after {O} published figures showing a {PCT} rise in costs since {YEAR}.",
    "Critics say {T} was rushed through without proper consultation — a charge {O} denies.",
    "“{^QCS},” said {SPK}, who has followed the issue for more than a decade.",
    "{SPK} of {O} was blunter, calling {T} “{QNS}.”",
    "According to {O}, about {N},000 people could be affected by {T}.",
    "In {G}, where {T} has been debated for months, the mood was cautious.",
    "{P} told reporters in {G} that a final decision would come “within weeks.”",
    "The plan still needs approval from {O}, which meets again in {MONTH}.",
    "{QUOTER} repeated a line from a speech by {QUOTED} — “we will not be rushed” — and said it applied"
    " to everyone.",
    "Supporters point to {G}, where a similar scheme cut waiting times by {PCT}.",
    "Not everyone agrees: {SPK}, who advises {O}, warned that {QCS}.",
    "Residents near {L} said they had heard nothing about {T} until last {DAY}.",
    "{P} wrote on 𝕏 that the decision was “long overdue.”",
    "Delegates are due to discuss {T} at {E} later this year.",
    "In a statement, {SPKO} said {QCS}.",
    "{P}, who chairs the committee, said the timetable was “tight but realistic.”",
    "The figures were first reported by {O} on {DAY} evening.",
)
# Context sentences without entities: real articles are not wall-to-wall names.
FILLER = (
    "Details of the agreement have not been made public.",
    "The decision is expected to be reviewed early next year.",
    "It is not the first time the issue has come up.",
    "A similar proposal was shelved {N2} years ago after a legal challenge.",
    "Officials stressed that no final decision had been taken.",
    "The measure would take effect in {MONTH} if approved.",
    "Costs have risen by roughly {PCT} over the past year, according to official estimates.",
    "Several questions remain unanswered, including who will pay for {T}.",
    "The debate has divided neighbours, families and, at times, the governing party itself.",
    "Some residents welcomed the news; others said they would wait and see.",
    "The timetable has already slipped twice.",
    "Independent experts said the figures were plausible but incomplete.",
    "Negotiators met for more than {N2} hours on {DAY} without a breakthrough.",
    "More than {N},000 people have signed a petition on the subject.",
    "The full report runs to {N} pages and was published on {DAY}.",
    "Both sides say they want a deal — but not at any price.",
    "For now, little is likely to change on the ground.",
    "Under the current rules, {T} can be delayed for up to {N2} months.",
    "That would be the biggest change of its kind since {YEAR}.",
    "Local newspapers have covered the story for weeks.",
)
SECTIONS: dict[str, tuple[str, ...]] = {
    "Business": (
        "Shares in {O} rose {PCT} on {DAY} after the company raised its full-year forecast.",
        "{O} said revenue reached {MONEY} in the second quarter, ahead of analysts’ expectations.",
        "The deal values {O} at roughly {MONEY}, including debt.",
        "Analysts at {O} described the results as “solid, if unspectacular.”",
        "{P}, the chief executive of {O}, said the company would open a new plant near {G} next year.",
        "Trading volumes in {G} were about a third above their monthly average.",
        "Exporters in {G} have struggled since {MONTH}, when shipping costs through {L} doubled.",
    ),
    "Politics": (
        "Lawmakers in {G} voted {N2} to {N2} to send the bill back to committee.",
        "The coalition in {G} has been under strain since {MONTH}, when {O} withdrew its support.",
        "Polls suggest the race between {O} and {O} is within the margin of error.",
        "{P} is expected to announce a cabinet reshuffle before the summer recess.",
        "{P}, who leads the opposition in {G}, said {T} would be “the first thing we reverse.”",
        "Turnout in {G} fell to {PCT} at the last election, the lowest since {YEAR}.",
    ),
    "World": (
        "Around {N},000 people were evacuated from towns along {L} after days of heavy rain.",
        "Aid groups including {O} said supplies were reaching {G} only slowly.",
        "The foreign minister of {G}, {P}, is due to visit {G} next week.",
        "Ceasefire talks hosted in {G} broke up without agreement late on {DAY}.",
        "{P}, who coordinates relief work for {O}, said roads near {L} remained impassable.",
    ),
    "Science": (
        "Researchers at {O} found that temperatures around {L} had risen faster than the global average.",
        "The study, led by {P}, analysed {N2} years of satellite data.",
        "Water levels in {L} fell to their lowest point since records began in {YEAR}.",
        "{P} of {O} said the findings were “a warning, not a verdict.”",
        "The results will be presented at {E} in {G} in {MONTH}.",
    ),
    "Sport": (
        "A late goal from {P} gave {O} a 2–1 win over {O} on {DAY}.",
        "{O} will face the winner of {DAY}’s tie in the semi-finals of {E}.",
        "{P} was substituted at half-time with what appeared to be a hamstring injury.",
        "The crowd of {N2},000 in {G} was the largest of the season.",
        "{P}, the coach of {O}, said the squad had “earned the right to dream.”",
    ),
    "Culture": (
        "The film, directed by {P}, won the top prize at {E} in {G}.",
        "{P}’s debut novel has been translated into {N2} languages.",
        "The exhibition at {O} runs until {MONTH} and features works by {P}.",
        "Tickets for the opening night in {G} sold out within {N2} minutes.",
    ),
    "Technology": (
        "{O} said it had fixed the flaw, which exposed data belonging to about {N},000 users.",
        "Regulators in {G} fined {O} {MONEY} for breaching data-protection rules.",
        "{P}, a security researcher, first reported the vulnerability to {O} in {MONTH}.",
        "The app, launched in {G} in {YEAR}, now claims {N2} million monthly users.",
    ),
}
SECTION_TAGS = {
    "Business": ("markets", "companies", "trade", "earnings"),
    "Politics": ("elections", "parliament", "government", "policy"),
    "World": ("floods", "diplomacy", "aid", "migration"),
    "Science": ("climate", "research", "water", "energy"),
    "Sport": ("football", "match report", "transfers"),
    "Culture": ("film", "books", "festivals", "art"),
    "Technology": ("privacy", "cybersecurity", "apps", "regulation"),
}
TITLES = {
    "Business": ("{O} shares jump after upbeat forecast", "{O} agrees {MONEY} takeover of {O}",
                 "Exporters in {G} brace for weaker demand"),
    "Politics": ("Coalition in {G} wobbles as {O} walks out", "{P} faces confidence vote over {T}"),
    "World": ("Floods force thousands from homes along {L}", "Talks in {G} end without a deal"),
    "Science": ("Study links warming around {L} to shifting rainfall",
                "{O} researchers map a decade of drought"),
    "Sport": ("Late winner sends {O} into {E} semi-finals", "{P} doubtful for {O} after injury"),
    "Culture": ("{P}’s debut wins top prize at {E}", "Sold-out crowds greet new show in {G}"),
    "Technology": ("{O} fined over data leak affecting thousands",
                   "Flaw in {O} app exposed users’ locations"),
}
OPINION = (
    "This is, quite simply, {QN}.",
    "Let us be honest about what {T} really is: {QN}.",
    "Ministers insist all is well, but {QC}.",
    "Anyone who has waited for a bus in {G} knows that {QC}.",
    "I have read the plan twice, and {QC}.",
    "Call it what it is — {QN}.",
)
OPINION_TITLES = ("Why {T} is a mistake", "{^T} will cost us more than we think", "Stop pretending {T} works")
SATIRE = (
    "In a move hailed by residents as {QN}, {O} voted to make Mondays optional.",
    "{SPK}, who chairs the parish council, said the measure would end {QNS}.",
    "Local baker {P} called the vote “an attack on bread itself.”",
)
SATIRE_TITLES = ("Council votes to make Mondays optional “on a trial basis”",
                 "{O} to replace meetings with a group nap")
PUBLICATIONS = (
    ("The Vistula Courier", "vistula-courier.example"), ("Southern Ledger", "southern-ledger.example"),
    ("Gulf Dispatch", "gulf-dispatch.example"), ("Continental Review", "continental-review.example"),
    ("Meridian Wire", "meridian-wire.example"), ("North Atlantic Times", "north-atlantic-times.example"),
    ("Nile Arts Review", "nile-arts-review.example"), ("Rhine Valley News", "rhine-valley-news.example"),
)
TZ_OFFSETS = ("+00:00", "+01:00", "+02:00", "-03:00", "-05:00", "+05:30", "+04:00", "+09:00", "Z")
GENRES = ("reporting", "opinion", "analysis", "satire")
GENRE_WEIGHTS = (0.6, 0.2, 0.16, 0.04)
ENTITY_LABELS = ("PERSON", "ORG", "GPE", "LOC", "EVENT")
BASE_DAY = _dt.date(2019, 1, 1)
# Precomputed "YYYY-MM-DD" strings: formatting a date per record would dominate the run time.
DATES = tuple((BASE_DAY + _dt.timedelta(days=i)).isoformat() for i in range(365 * 7))

# --------------------------------------------------------------------------------------------------
# Templates are parsed once into tuples of (is_slot, text) so generation is a tight loop.

Template = tuple[tuple[bool, str], ...]


def _parse(template: str) -> Template:
    """Split "{SLOT} literal {SLOT}" into ((True, "SLOT"), (False, " literal "), ...)."""
    parts: list[tuple[bool, str]] = []
    rest = template
    while rest:
        i = rest.find("{")
        if i < 0:
            parts.append((False, rest))
            break
        if i:
            parts.append((False, rest[:i]))
        j = rest.index("}", i)
        parts.append((True, rest[i + 1 : j]))
        rest = rest[j + 1 :]
    return tuple(parts)


GENERIC_T = tuple(_parse(t) for t in GENERIC)
FILLER_T = tuple(_parse(t) for t in FILLER)
SECTION_T = {k: tuple(_parse(t) for t in v) for k, v in SECTIONS.items()}
TITLE_T = {k: tuple(_parse(t) for t in v) for k, v in TITLES.items()}
OPINION_T = tuple(_parse(t) for t in OPINION)
OPINION_TITLE_T = tuple(_parse(t) for t in OPINION_TITLES)
SATIRE_T = tuple(_parse(t) for t in SATIRE)
SATIRE_TITLE_T = tuple(_parse(t) for t in SATIRE_TITLES)
SECTION_NAMES = tuple(SECTIONS)
ORGS = tuple(f"{h} {t}" for h in ORG_HEADS for t in ORG_TAILS)
LOCS_SPLIT = tuple(tuple(x.split("|")) for x in LOCS)
EVENTS_SPLIT = tuple(tuple(x.split("|")) for x in EVENTS)
NP_FLAT = tuple((label, p) for label, ps in PERSUASION_NP for p in ps)
CLAUSE_FLAT = tuple((label, p) for label, ps in PERSUASION_CLAUSE for p in ps)

# A span: (layer, label, start, end, text). Relations: (label, head span index, tail span index).
Span = tuple[str, str, int, int, str]
T = TypeVar("T")
Picker = Callable[[Sequence[Any]], Any]


class _Field:
    """Accumulates one text field, counting code points as it goes so span offsets are exact."""

    __slots__ = ("parts", "pos", "spans")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[Span] = []

    def lit(self, s: str) -> None:
        self.parts.append(s)
        self.pos += len(s)  # len() of a str is its code-point count: the toolkit's offset unit

    def mark(self, layer: str, label: str, s: str) -> int:
        """Append `s` as an annotated span and return the span's index."""
        self.spans.append((layer, label, self.pos, self.pos + len(s), s))
        self.lit(s)
        return len(self.spans) - 1

    def text(self) -> str:
        return "".join(self.parts)


class _Writer:
    """Buffered line writer for plain, gzip or zstd output; counts lines for expected-problems."""

    def __init__(self, path: Path, compress: str) -> None:
        self.raw: BinaryIO = open(path, "wb")
        self.stream: BinaryIO
        if compress == "gz":
            # filename="" and mtime=0 keep the gzip header free of names and clocks (determinism).
            self.stream = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, compresslevel=6, mtime=0)  # type: ignore[assignment]
        elif compress == "zst":
            import zstandard

            self.stream = zstandard.ZstdCompressor(level=3).stream_writer(self.raw, closefd=False)  # type: ignore[assignment]
        else:
            self.stream = self.raw
        self.buf: list[bytes] = []
        self.size = 0
        self.lines = 0

    def write(self, line: bytes) -> int:
        """Write one record line (without newline); return its 1-based line number."""
        self.buf.append(line)
        self.size += len(line) + 1
        self.lines += 1
        if self.size > 1 << 20:
            self.flush()
        return self.lines

    def flush(self) -> None:
        if self.buf:
            self.buf.append(b"")  # so the join ends with a newline too
            self.stream.write(b"\n".join(self.buf))
            self.buf.clear()
            self.size = 0

    def close(self) -> None:
        self.flush()
        if self.stream is not self.raw:
            self.stream.close()
        self.raw.close()


class _Generator:
    """Makes one article at a time from a seeded RNG."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rnd: Callable[[], float] = self.rng.random

    def pick(self, seq: Sequence[T]) -> T:
        # Faster than rng.choice, and just as deterministic.
        return seq[int(self.rnd() * len(seq))]

    def entity(self, f: _Field, label: str, name: str, p_ent: float) -> None:
        # Annotators miss or skip some mentions; p_ent makes that vary between articles.
        if self.rnd() < p_ent:
            f.mark("entities", label, name)
        else:
            f.lit(name)

    def person(self) -> str:
        if self.rnd() < 0.05:
            return self.pick(SPECIAL_PERSONS)
        return f"{self.pick(FIRST_NAMES)} {self.pick(LAST_NAMES)}"

    def fill(self, f: _Field, tpl: Template, p_ent: float, rels: list[tuple[str, int, int]]) -> None:
        """Render one template into `f`, annotating entities with probability `p_ent`."""
        rnd, pick = self.rnd, self.pick
        speaker = said = quoter = quoted = -1
        for is_slot, s in tpl:
            if not is_slot:
                f.lit(s)
                continue
            cap = s.startswith("^")
            if cap:
                s = s[1:]
            if s == "P":
                self.entity(f, "PERSON", self.person(), p_ent)
            elif s == "O":
                self.entity(f, "ORG", pick(ORGS), p_ent)
            elif s == "G":
                self.entity(f, "GPE", pick(GPES), p_ent)
            elif s in ("L", "E"):
                prefix, name = pick(LOCS_SPLIT if s == "L" else EVENTS_SPLIT)
                if cap and prefix:
                    prefix = prefix[0].upper() + prefix[1:]
                f.lit(prefix)
                self.entity(f, "LOC" if s == "L" else "EVENT", name, p_ent)
            elif s == "SPK":
                speaker = f.mark("entities", "PERSON", self.person())
            elif s == "SPKO":
                speaker = f.mark("entities", "ORG", pick(ORGS))
            elif s == "QUOTER":
                quoter = f.mark("entities", "PERSON", self.person())
            elif s == "QUOTED":
                quoted = f.mark("entities", "PERSON", self.person())
            elif s in ("QN", "QNS"):
                if s == "QN" and rnd() < 0.25:
                    self.overlapping(f)
                else:
                    label, phrase = pick(NP_FLAT)
                    idx = f.mark("persuasion", label, phrase)
                    if s == "QNS":
                        said = idx
            elif s in ("QC", "QCS"):
                label, phrase = pick(CLAUSE_FLAT)
                if cap:
                    phrase = phrase[0].upper() + phrase[1:]
                idx = f.mark("persuasion", label, phrase)
                if s == "QCS":
                    said = idx
            elif s == "T":
                topic = pick(TOPICS)
                f.lit(topic[0].upper() + topic[1:] if cap else topic)
            elif s == "N":
                f.lit(str(2 + int(rnd() * 900)))
            elif s == "N2":
                f.lit(str(2 + int(rnd() * 38)))
            elif s == "PCT":
                f.lit(f"{int(rnd() * 30)}.{int(rnd() * 10)}%")
            elif s == "MONEY":
                f.lit(f"{pick(CURRENCIES)}{1 + int(rnd() * 900)}.{int(rnd() * 10)} million")
            elif s == "DAY":
                f.lit(pick(WEEKDAYS))
            elif s == "MONTH":
                f.lit(pick(MONTHS))
            elif s == "YEAR":
                f.lit(str(2005 + int(rnd() * 18)))
            else:  # a typo in a template should fail loudly, not produce odd text
                raise ValueError(f"unknown template slot {s!r}")
        if speaker >= 0 and said >= 0:
            rels.append(("said_by", said, speaker))
        if quoter >= 0 and quoted >= 0:
            rels.append(("quotes", quoter, quoted))

    def overlapping(self, f: _Field) -> None:
        """Two persuasion spans sharing their middle part (the layer allows overlap)."""
        a, b, c, label_ab, label_bc = self.pick(PERSUASION_OVERLAP)
        start = f.pos
        f.lit(a + b + c)
        ab_end = start + len(a) + len(b)
        f.spans.append(("persuasion", label_ab, start, ab_end, a + b))
        f.spans.append(("persuasion", label_bc, start + len(a), f.pos, b + c))

    def article(self, article_id: str) -> tuple[dict, list[dict]]:
        """One article dict (maybe with an embedded genre) and its annotations for the separate file."""
        rnd, pick = self.rnd, self.pick
        genre = GENRES[0]
        x = rnd()
        for g, w in zip(GENRES, GENRE_WEIGHTS, strict=True):
            if x < w:
                genre = g
                break
            x -= w
        section = pick(SECTION_NAMES)
        p_ent = 0.45 + rnd() * 0.3  # annotation density differs between articles, as in real projects
        rels: list[tuple[str, int, int]] = []  # relations only come from the body

        title = _Field()
        title_t = pick(OPINION_TITLE_T if genre == "opinion" else SATIRE_TITLE_T if genre == "satire"
                       else TITLE_T[section])
        self.fill(title, title_t, 0.5, [])

        body = _Field()
        if rnd() < 0.08:
            body.lit(pick(EMOJI_LEADS))  # astral characters before every span of the article
        sec_t = SECTION_T[section]
        extra_t = OPINION_T if genre == "opinion" else SATIRE_T if genre == "satire" else None
        used: list[Template] = []  # templates already used, so an article does not repeat itself
        n_par = 4 + int(rnd() * 3)
        for p in range(n_par):
            if p:
                body.lit("\n\n")
            n_sent = 3 + int(rnd() * 2)
            for s in range(n_sent):
                if s:
                    body.lit(" ")
                for _ in range(4):  # a few retries are enough; an occasional repeat is harmless
                    x = rnd()
                    if p == 0 and s == 0:
                        tpl = pick(sec_t)
                    elif extra_t is not None and x < 0.25:
                        tpl = pick(extra_t)
                    elif x < 0.6:
                        tpl = pick(FILLER_T)
                    elif x < 0.8:
                        tpl = pick(sec_t)
                    else:
                        tpl = pick(GENERIC_T)
                    if tpl not in used:
                        break
                used.append(tpl)
                self.fill(body, tpl, p_ent, rels)
        text = body.text()

        day_i = int(rnd() * (len(DATES) - 60))
        hh, mm = int(rnd() * 24), int(rnd() * 60)
        tz = pick(TZ_OFFSETS)
        pub, domain = pick(PUBLICATIONS)
        art: dict = {
            "id": article_id,
            "title": title.text(),
            "text": text,
            "language": "en",
            "published_at": f"{DATES[day_i]}T{hh:02d}:{mm:02d}:00{tz}",
            "url": f"https://www.{domain}/{section.lower()}/{DATES[day_i].replace('-', '/')}/{article_id}",
            "source": {"name": pub, "domain": domain},
            "authors": [self.person() for _ in range(1 + (rnd() < 0.3))],
            "tags": [pick(SECTION_TAGS[section]), genre],
            "section": {"opinion": "Opinion", "satire": "Satire"}.get(genre, section),
        }
        if rnd() < 0.4:
            art["media"] = [{"kind": "image", "caption": f"A scene from {pick(GPES)} on {pick(WEEKDAYS)}.",
                             "credit": f"Photo: {self.person()} / {pub}"}]
        if rnd() < 0.25:
            art["related"] = [{"title": f"Explainer: {pick(TOPICS)}",
                               "url": f"https://www.{domain}/explainers/{int(rnd() * 10_000)}"}]

        # Annotation metadata: made a few days after publication, mostly by a model for entities.
        created_day = DATES[day_i + 1 + int(rnd() * 59)]
        counter = 0
        anns: list[dict] = []

        def new(layer: str, label: str) -> dict:
            nonlocal counter
            counter += 1
            return {"id": f"{article_id}-a{counter:02d}", "article_id": article_id, "layer": layer,
                    "label": label}

        def stamp(rec: dict, layer: str) -> None:
            if layer == "entities" and rnd() < 0.6:
                rec["annotator"] = "model:xlm-r-ner"
                rec["confidence"] = round(0.5 + rnd() * 0.5, 3)
            else:
                rec["annotator"] = f"ann-{1 + int(rnd() * 4)}"
            rec["created_at"] = f"{created_day}T{hh:02d}:{(counter * 7) % 60:02d}:{counter % 60:02d}Z"

        g = new("genre", genre)
        stamp(g, "genre")
        if rnd() < 0.1:  # some corpora embed annotations in the article record
            del g["article_id"]
            art["annotations"] = [g]
        else:
            anns.append(g)
        body_ids: list[str] = []  # span ids of the body, by span index, for the relations
        for fname, fld in (("title", title), ("text", body)):
            for layer, label, start, end, s in fld.spans:
                rec = new(layer, label)
                rec["start"] = start
                rec["end"] = end
                if fname == "title":
                    rec["field"] = "title"
                rec["text"] = s
                stamp(rec, layer)
                anns.append(rec)
                if fname == "text":
                    body_ids.append(rec["id"])
        # Relations come after the spans they refer to, as the validator reads in order.
        for label, head, tail in rels:
            rec = new("attribution", label)
            rec["head"] = body_ids[head]
            rec["tail"] = body_ids[tail]
            stamp(rec, "attribution")
            anns.append(rec)
        return art, anns


# --------------------------------------------------------------------------------------------------
# Fault injection for --broken. Uses its own RNG so the valid records are the same for any F.

ARTICLE_FAULTS = ("invalid-json", "schema", "schema", "schema", "duplicate-id", "invalid-encoding")
SPAN_FAULTS = ("invalid-json", "schema", "span-text-mismatch", "span-text-mismatch", "span-out-of-bounds",
               "unknown-label", "unknown-layer", "unknown-article", "duplicate-id", "span-overlap",
               "missing-span", "invalid-encoding")
OTHER_FAULTS = ("invalid-json", "schema", "unknown-label", "unknown-layer", "unknown-article", "duplicate-id")
RELATION_FAULTS = ("unknown-reference", "unknown-reference", "unknown-label", "schema", "invalid-json")


def _bad_json(line: bytes, rnd: Callable[[], float]) -> bytes:
    """Damage a JSON line so it no longer parses (or is not an object), keeping it valid UTF-8."""
    x = rnd()
    if x < 0.4:
        cut = line.find(b'","', len(line) // 3)  # cut at an ASCII boundary, never inside a character
        return line[: cut if cut > 0 else len(line) // 2]
    if x < 0.7:
        return line[:-1] + b",}"  # trailing comma
    if x < 0.85:
        return b"[" + line + b"]"  # JSON, but not an object
    return line.replace(b'"', b"'", 4)  # Python-style quotes


def _bad_encoding(line: bytes) -> bytes:
    """Insert a byte that can never occur in UTF-8 into a string value (the text, when there is one)."""
    for key in (b'"text":"', b'"title":"', b'"label":"'):
        i = line.find(key)
        if i >= 0:
            i += len(key)
            return line[:i] + b"\xff" + line[i:]
    return line + b"\xff"


def _break_article(art: dict, kind: str, pick: Picker) -> tuple[list[bytes], str]:
    """Lines to write instead of the article, and the code the first faulty line should get."""
    line = orjson.dumps(art)
    if kind == "invalid-json":
        return [_bad_json(line, random.Random(art["id"]).random)], kind
    if kind == "invalid-encoding":
        return [_bad_encoding(line)], kind
    if kind == "duplicate-id":
        # the original stays valid; the later copy (without embedded annotations) is the invalid one
        copy = {k: v for k, v in art.items() if k != "annotations"}
        copy["title"] = "Updated: " + copy["title"]
        return [line, orjson.dumps(copy)], kind
    bad = dict(art)
    variant = pick(("no-title", "empty-title", "language", "date", "extra", "url", "authors"))
    if variant == "no-title":
        del bad["title"]
    elif variant == "empty-title":
        bad["title"] = ""
    elif variant == "language":
        bad["language"] = "English"
    elif variant == "date":
        bad["published_at"] = "12/03/2024 10:00"
    elif variant == "extra":
        bad["body"] = bad["text"][:40]
    elif variant == "url":
        bad["url"] = "www." + bad["url"].split("://", 1)[1]
    else:
        bad["authors"] = ", ".join(bad["authors"])
    return [orjson.dumps(bad)], "schema"


def _break_annotation(rec: dict, kind: str, art: dict, pick: Picker) -> list[tuple[bytes, str, str]]:
    """(line, code, record id) triples to write instead of the annotation; the first may be valid."""
    rid = rec["id"]
    if kind == "invalid-json":
        return [(_bad_json(orjson.dumps(rec), random.Random(rid).random), kind, rid)]
    if kind == "invalid-encoding":
        return [(_bad_encoding(orjson.dumps(rec)), kind, rid)]
    if kind == "duplicate-id":
        # an extra record re-using the id; the first copy stands
        return [(orjson.dumps(rec), "", rid), (orjson.dumps(rec), kind, rid)]
    if kind == "span-overlap":
        # an extra entity covering part of an existing one, with correct text: only the overlap is wrong
        extra = dict(rec, id=rid + "-x", label=pick(ENTITY_LABELS))
        extra["start"] = rec["start"] + (1 if rec["end"] - rec["start"] > 2 else 0)
        extra["text"] = art.get(rec.get("field", "text"), "")[extra["start"] : extra["end"]]
        return [(orjson.dumps(rec), "", rid), (orjson.dumps(extra), kind, extra["id"])]
    bad = dict(rec)
    if kind == "schema":
        variant = pick(("negative-start", "confidence", "extra", "label-type", "no-layer", "head-pattern"))
        if variant == "negative-start" and "start" not in bad:
            variant = "head-pattern" if "head" in bad else "extra"
        if variant == "negative-start":
            bad["start"] = -1 - int(bad.get("start", 0))
        elif variant == "confidence":
            bad["confidence"] = 1.5
        elif variant == "extra":
            bad["score"] = 0.5
        elif variant == "label-type":
            bad["label"] = 42
        elif variant == "no-layer":
            del bad["layer"]
        elif "head" in bad:
            bad["head"] = "bad id!"
        else:
            bad["field"] = "body"
    elif kind == "span-text-mismatch":
        s = bad["text"]
        # typical bugs: case changed, a character dropped, an astral char counted twice (shifted text)
        bad["text"] = s.upper() if s.upper() != s else s[:-1] + "?"
    elif kind == "span-out-of-bounds":
        n = len(art.get(bad.get("field", "text"), ""))
        bad["start"], bad["end"] = n + 1, n + 1 + len(bad["text"])
    elif kind == "unknown-label":
        wrong = {"entities": "MISC", "persuasion": "Sarcasm", "genre": "editorial"}
        bad["label"] = wrong.get(bad["layer"], "cites")
    elif kind == "unknown-layer":
        bad["layer"] = "sentiment"
    elif kind == "unknown-article":
        bad["article_id"] = rec["article_id"] + "-missing"
    elif kind == "missing-span":
        del bad["start"], bad["end"]
    elif kind == "unknown-reference":
        bad["tail"] = rec["article_id"] + "-zz"
    return [(orjson.dumps(bad), kind, rid)]


# --------------------------------------------------------------------------------------------------

def manifest(n_articles: int, seed: int, suffix: str) -> dict:
    """The dataset.yaml content: same layers as examples/sample-news."""
    return {
        "name": "synthetic-news",
        "pretty_name": f"Synthetic News ({n_articles} articles, seed {seed})",
        "version": "1.0.0",
        "license": "cc-by-4.0",
        "language": ["en"],
        "description": "Synthetic news articles generated from templates by benchmarks/generate.py, "
                       "for benchmarks and tests. Names, quotes and events are invented.",
        "homepage": "https://example.org/news-toolkit/synthetic-news",
        "task_categories": ["token-classification", "text-classification"],
        "articles": [f"articles.jsonl{suffix}"],
        "annotations": [f"annotations.jsonl{suffix}"],
        "layers": {
            "entities": {"kind": "span", "labels": list(ENTITY_LABELS), "overlap": False},
            "persuasion": {"kind": "span", "overlap": True, "labels": {
                "Loaded_Language": "Words or phrases with strong emotional implications.",
                "Doubt": "Questioning the credibility of a person, institution or claim.",
                "Appeal_to_Fear": "Seeking support by instilling anxiety about an alternative.",
                "Exaggeration": "Representing something as far better, worse or larger than it is.",
                "Name_Calling": "Labelling the object of the argument as something the audience dislikes.",
            }},
            "genre": {"kind": "document", "labels": list(GENRES)},
            "attribution": {"kind": "relation", "labels": ["said_by", "quotes"]},
        },
        "splits": {"train": 0.8, "validation": 0.1, "test": 0.1, "seed": 0},
    }


def generate(out_dir: Path, n_articles: int, seed: int = 0, compress: str = "none",
             broken: float = 0.0, distinct_titles: bool = False) -> Path:
    """Write a synthetic dataset to `out_dir` and return the path of its dataset.yaml.

    The titles come from templates, so most articles share theirs with another of their source
    (title clusters); `distinct_titles` ends each with its article's id, for a corpus whose
    duplicates are the few planted ones (annotations of the title keep their offsets)."""
    if compress not in ("none", "gz", "zst"):
        raise ValueError(f"compress must be none, gz or zst, not {compress!r}")
    if not 0.0 <= broken <= 1.0:
        raise ValueError("broken must be between 0 and 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if compress == "none" else f".{compress}"
    art_name, ann_name = f"articles.jsonl{suffix}", f"annotations.jsonl{suffix}"
    gen = _Generator(seed)
    brk = random.Random(f"broken-{seed}")  # separate stream: faults don't change the valid records

    def bpick(seq: Sequence[T]) -> T:
        return seq[int(brk.random() * len(seq))]

    expected: list[bytes] = []  # one small entry per fault; fine to keep, F*N entries at most
    arts, anns = _Writer(out_dir / art_name, compress), _Writer(out_dir / ann_name, compress)
    width = max(7, len(str(n_articles)))
    dumps = orjson.dumps
    try:
        for i in range(n_articles):
            article_id = f"gen-{i:0{width}d}"
            art, recs = gen.article(article_id)
            if distinct_titles:
                art["title"] += f" ({article_id})"
            if broken and brk.random() < broken:
                kind = bpick(ARTICLE_FAULTS)
                lines, code = _break_article(art, kind, bpick)
                for k, line in enumerate(lines):
                    n = arts.write(line)
                    if k == len(lines) - 1:
                        expected.append(dumps({"file": art_name, "line": n, "record_id": article_id,
                                               "code": code}))
                if kind != "duplicate-id":
                    continue  # the article is unusable: drop its annotations so faults don't cascade
            else:
                arts.write(dumps(art))
            referenced = {r[k] for r in recs if "head" in r for k in ("head", "tail")}
            for rec in recs:
                # spans that relations point to stay intact, so a fault never invalidates a second record
                if broken and rec["id"] not in referenced and brk.random() < broken:
                    kinds = (RELATION_FAULTS if "head" in rec
                             else SPAN_FAULTS if rec["layer"] == "entities"
                             else SPAN_FAULTS[:-3] + SPAN_FAULTS[-2:] if "start" in rec  # overlap is allowed
                             else OTHER_FAULTS)
                    for line, code, rid in _break_annotation(rec, bpick(kinds), art, bpick):
                        n = anns.write(line)
                        if code:
                            expected.append(dumps({"file": ann_name, "line": n, "record_id": rid,
                                                   "code": code}))
                else:
                    anns.write(dumps(rec))
    finally:
        arts.close()
        anns.close()
    if broken:
        (out_dir / "expected-problems.jsonl").write_bytes(b"".join(e + b"\n" for e in expected))
    path = out_dir / "dataset.yaml"
    path.write_text(yaml.safe_dump(manifest(n_articles, seed, suffix), sort_keys=False, allow_unicode=True,
                                   width=100), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a synthetic annotated news dataset.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--articles", type=int, default=1000, help="number of articles (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compress", choices=("none", "gz", "zst"), default="none")
    parser.add_argument("--broken", type=float, default=0.0,
                        help="fraction of records to damage in varied ways (default 0)")
    parser.add_argument("--distinct-titles", action="store_true",
                        help="end every title with its article's id (no title shared by chance)")
    args = parser.parse_args(argv)
    if args.articles < 0 or not 0.0 <= args.broken <= 1.0:
        parser.error("--articles must be >= 0 and --broken between 0 and 1")
    t0 = time.perf_counter()
    path = generate(args.out_dir, args.articles, args.seed, args.compress, args.broken, args.distinct_titles)
    print(f"{path} ({args.articles} articles, {time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
