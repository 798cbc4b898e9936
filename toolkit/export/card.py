"""The dataset card (`README.md`): YAML front matter the Hub and `datasets` read, and prose a reader needs.

The front matter is built as plain data and emitted with `yaml.safe_dump` (never by string
formatting). Every piece of user text in the prose is escaped, so a title holding `|`, `---` or
`<script>` cannot break the card.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from toolkit.export.curated import merge_sections
from toolkit.export.rows import BuildStats
from toolkit.export.statistics import agreement_section, statistics_section
from toolkit.export.views import ViewReport
from toolkit.manifest import Manifest
from toolkit.schemas import field_descriptions

if TYPE_CHECKING:  # the diff needs DuckDB, which rendering a card without `--previous` does not
    from toolkit.diff import BuildDiff, LabelChange

MIN_DATASETS_VERSION = "4.0.0"  # `List` features in Parquet metadata need datasets >= 4 (HF_NOTES.md)

# License ids the Hub accepts in `license:` (from the Hub's documented list); others become `other`.
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0
cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0
gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl
apple-amlr mpl-2.0 odc-by odbl openmdw-1.0 openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl
lgpl-lr deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3
llama4 gemma unknown other
""".split())

_SIZE_CATEGORIES = [
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
]


def size_category(n: int) -> str:
    for limit, name in _SIZE_CATEGORIES:
        if n < limit:
            return name
    return "n>1T" if n >= 10**12 else "1B<n<10B"


def one_line(text: Any) -> str:
    """User text for a YAML value: one line, so no `---` line can appear in the front matter."""
    return " ".join(str(text).split())


def escape(text: Any) -> str:
    """User text for Markdown prose or a table cell: HTML-escaped, pipes and line-leading marks neutralised."""
    escaped = html.escape(str(text), quote=False).replace("|", "\\|").replace("`", "\\`")
    return re.sub(r"(?m)^(\s*)([-=#>*+]|\d+\.)", r"\1\\\2", escaped)


def cell(text: Any) -> str:
    return escape(one_line(text)) if text not in (None, "") else ""


def fenced(content: str, info: str = "") -> str:
    """A code block whose fence is longer than any backtick run inside, so content cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", content)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{content.rstrip()}\n{fence}"


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def feature_type(feature: Any) -> str:
    """A short, readable type: `string`, `timestamp[us, tz=UTC]`, `ClassLabel(3)`, `list<struct>`…"""
    kind = type(feature).__name__
    if kind == "Value":
        return feature.dtype
    if kind == "ClassLabel":
        return f"ClassLabel ({feature.num_classes} classes)"
    if kind in ("List", "Sequence", "LargeList"):
        return f"list of {feature_type(feature.feature)}"
    if isinstance(feature, dict):
        return "struct{" + ", ".join(feature) + "}"
    return kind


def front_matter(
    manifest: Manifest,
    features: dict[str, Any],
    split_files: dict[str, dict[str, list[str]]],
    split_sizes: dict[str, dict[str, tuple[int, int]]],
    n_articles: int,
    stats: BuildStats | None = None,
) -> dict[str, Any]:
    """The card's YAML data: Hub metadata, `configs` (data files per split) and `dataset_info`.

    With the build's `stats`, the Hub fields that describe the data are derived from it:
    `annotations_creators` from who the annotations say made them, `multilinguality` from the
    languages of the articles.
    """
    license_id = str(manifest.get("license", "unknown")).lower()
    data: dict[str, Any] = {"pretty_name": one_line(manifest.get("pretty_name") or manifest.name)}
    if license_id in HUB_LICENSES:
        data["license"] = license_id
    else:
        data["license"] = "other"
        data["license_name"] = one_line(manifest.get("license_name") or manifest.get("license"))
        if manifest.get("license_link"):
            data["license_link"] = one_line(manifest.get("license_link"))
    data["language"] = [one_line(x) for x in manifest.get("language") or []] or ["und"]
    if stats is not None:
        data["annotations_creators"] = _annotations_creators(stats)
        data["language_creators"] = ["found"]  # news text, written by its publishers
        languages = {lang for lang, n in stats.languages.items() if lang and n}
        data["multilinguality"] = ["multilingual" if len(languages) > 1 else "monolingual"]
        data["source_datasets"] = ["original"]
    data["size_categories"] = [size_category(n_articles)]
    tasks = manifest.get("task_categories")
    if not tasks:
        kinds = {layer.kind for layer in manifest.layers.values()}
        tasks = (["token-classification"] if "span" in kinds else []) + (
            ["text-classification"] if "document" in kinds else [])
    data["task_categories"] = [one_line(t) for t in tasks]
    task_ids = manifest.get("task_ids") or _task_ids(manifest)
    if task_ids:
        data["task_ids"] = [one_line(t) for t in task_ids]
    data["tags"] = ["news", "news-toolkit"]
    version = loadable_version(manifest.get("version"))
    data["configs"] = [
        {
            "config_name": config,
            **({"default": True} if config == "articles" else {}),
            # A builder parameter: `datasets` makes it the config's version, so `ds.info.version` shows it.
            **({"version": version} if version else {}),
            "data_files": [{"split": split, "path": f"data/{config}/{split}-*"} for split in split_files[config]],
        }
        for config in split_files
    ]
    # `_to_yaml_list` is how `datasets` itself writes features into cards (push_to_hub); using it
    # keeps our YAML exactly in the form `load_dataset` reads back.
    data["dataset_info"] = [
        {
            "config_name": config,
            "features": features[config]._to_yaml_list(),
            "splits": [
                {"name": split, "num_bytes": size, "num_examples": rows}
                for split in split_files[config]
                for rows, size in [split_sizes[config][split]]
            ],
        }
        for config in split_files
    ]
    return data


def loadable_version(version: str | None) -> str | None:
    """The manifest's version if `datasets` can take it as a config version, else None.

    `datasets` 5.2 accepts only `x.y.z`: a pre-release such as `1.0.0-rc.1` in `configs` makes
    `load_dataset` raise, so such a version is stated in the card's prose only.
    """
    return version if version and re.fullmatch(r"\d+\.\d+\.\d+", version) else None


def _task_ids(manifest: Manifest) -> list[str]:
    """Hub task ids from the layers' kinds, in layer order (relation layers have no Hub task id)."""
    ids: list[str] = []
    for layer in manifest.layers.values():
        task = {"span": "named-entity-recognition", "document": (
            "multi-label-classification" if layer.multi else "multi-class-classification")}.get(layer.kind)
        if task and task not in ids:
            ids.append(task)
    return ids


def _annotations_creators(stats: BuildStats) -> list[str]:
    """Hub `annotations_creators` from the annotators the data names (`model:…` is machine output)."""
    if not sum(stats.annotations.values()):
        return ["no-annotation"]
    kinds = {"machine-generated" if a.startswith("model:") else "expert-generated" for a in stats.annotators}
    if sum(stats.annotators.values()) < sum(stats.annotations.values()):
        kinds.add("other")  # some annotations do not say who made them
    return sorted(kinds)


def render_card(
    manifest: Manifest,
    features: dict[str, Any],
    split_files: dict[str, dict[str, list[str]]],
    split_sizes: dict[str, dict[str, tuple[int, int]]],
    stats: BuildStats,
    views: dict[str, ViewReport] | None = None,
    curated: str | None = None,
) -> str:
    """The whole `README.md` text; `curated` (the text of `CARD.md`) is merged in by `## ` heading."""
    repo = hub_id(manifest)
    n_articles = sum(stats.articles.values())
    n_annotations = sum(stats.annotations.values())
    meta = front_matter(manifest, features, split_files, split_sizes, n_articles, stats)
    yaml_text = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    title = escape(one_line(manifest.get("pretty_name") or manifest.name))
    parts = [f"---\n{yaml_text}---", f"# {title}"]

    description = manifest.get("description") or "No description was given in the manifest."
    parts.append("## Dataset summary\n\n" + escape(description.strip()) + "\n\n" + (
        f"{n_articles:,} news articles with {n_annotations:,} annotations in "
        f"{len(manifest.layers)} layers ({', '.join(escape(n) for n in manifest.layers)})."
    ))
    if manifest.get("homepage"):
        parts[-1] += f"\n\nHomepage: <{escape(one_line(manifest.get('homepage')))}>"
    if manifest.get("version"):
        # Escaped whole: a version alone ("1.0.0") would be taken for a list item and get a backslash.
        parts[-1] += "\n\n" + escape(f"Version {one_line(manifest.get('version'))}.")

    parts.append(_how_to_load(repo, manifest))
    recipes = label_recipes(manifest) if "articles" in split_files else ""
    if recipes:
        parts.append(recipes)
    parts.append(_structure(manifest, features))
    if views:
        parts.append(_views(views, features, split_files, repo))
    parts.append(_example(stats))
    split_rows = [[s, f"{stats.articles[s]:,}", f"{stats.annotations[s]:,}"] for s in split_files.get("articles", {})]
    parts.append("## Splits\n\n" + _split_strategy(stats.split_plan) + "\n\n"
                 + _table(["split", "articles", "annotations"], split_rows) + _missing_splits(stats.split_plan)
                 + "\n\n" + _row_order(split_files))
    parts.append(_duplicates(manifest, stats.split_plan))
    parts.append(statistics_section(manifest, stats))
    parts.append(agreement_section(manifest, stats))
    parts.append(_labels(manifest, stats))
    parts.append(_sources(stats))
    parts.append(_annotation_process(manifest, stats))
    parts.append(_limitations(manifest, stats))
    parts.append("## License\n\n" + (
        f"`{escape(meta['license'])}`"
        + (f" ({escape(meta.get('license_name', ''))})" if meta["license"] == "other" else "")
        + ". Check the licenses of the original articles before redistributing their text."))
    citation = manifest.get("citation")
    parts.append("## Citation\n\n"
                 + (fenced(citation, "bibtex") if citation else "No citation was given in the manifest."))
    front, body = parts[0], "\n\n".join(parts[1:])
    if curated is not None:
        body = merge_sections(body, curated)
    footer = f"<sub>Built with news-toolkit. Loading needs `datasets>={MIN_DATASETS_VERSION}`.</sub>"
    return "\n\n".join([front, body, footer]) + "\n"


def _row_order(split_files: dict[str, dict[str, list[str]]]) -> str:
    """In what order a split's rows come (true of this build: which splits are cut into several files)."""
    cut = {split: len(files) for split, files in split_files.get("articles", {}).items() if len(files) > 1}
    if not cut:
        return "Rows are in input order (the order the articles were read), one file per split."
    listed = ", ".join(f"{split} ({n} files)" for split, n in cut.items())
    return ("Rows are in input order within each file. A big split is cut into files by a hash of the article "
            f"id — here {listed} — so reading its files one after the other does not give input order; "
            "shuffle, or sort by `id`, as your use needs.")


def _split_strategy(plan: Any) -> str:
    """How articles were split, and the leakage check: "N clusters, 0 across splits"."""
    keys = ", ".join(f"`{escape(k)}`" for k in plan.group_by)
    return (f"Articles are assigned to splits {escape(plan.strategy)}. Articles that share any of {keys} form one "
            f"group, and a whole group goes to one split; an annotation follows its article. "
            f"**{plan.groups:,} clusters, {plan.across:,} across splits** ({plan.grouped_articles:,} articles "
            "in clusters of two or more).")


def _missing_splits(plan: Any) -> str:
    lines = [f"- `{name}` has no article: {escape(why)}." for name, why in plan.missing.items()]
    lines += [f"- `{name}` would have been empty by the hash alone; one group was moved there." for name in plan.moved]
    return "\n\n" + "\n".join(lines) if lines else ""


_DUPLICATE_KINDS = {
    "exact": "the same text (after NFC, whitespace folding, format characters removed)",
    "near": "near copies (estimated Jaccard similarity of 5-word shingles at or above the threshold)",
    "url": "the same URL (re-scrapes of one page)",
    "title": "the same title within one source",
}
_POLICIES = {
    "group": "every copy is kept, and each cluster of copies stays in one split",
    "drop": "the first copy read is kept and later copies are left out of the build",
    "reject": "later copies are invalid records (`duplicate-text`), left out of the build",
}


def _duplicates(manifest: Manifest, plan: Any) -> str:
    """Duplicate clusters among the articles of the build, and whether any straddles splits."""
    policy = manifest.duplicates
    text = (f"Duplicates are detected in every build (near-duplicate threshold {policy.threshold:g}). Policy "
            f"`{policy.policy}`: {_POLICIES[policy.policy]}.")
    if plan.removed:
        text += f" {plan.removed:,} copies were left out of this build."
    rows = [[f"`{kind}`", meaning, f"{plan.clusters[kind][0]:,}", f"{plan.clusters[kind][1]:,}"]
            for kind, meaning in _DUPLICATE_KINDS.items()]
    text += "\n\n" + _table(["kind", "what is shared", "clusters in the build", "across splits"], rows)
    return "## Duplicates and leakage\n\n" + text


NAMESPACE_PLACEHOLDER = "<namespace>"


def hub_id(manifest: Manifest) -> str:
    """The repository id the card's examples load: the manifest's `hub_id`, else `<namespace>/<name>`."""
    return manifest.get("hub_id") or f"{NAMESPACE_PLACEHOLDER}/{manifest.name}"


def _how_to_load(repo: str, manifest: Manifest) -> str:
    layers = list(manifest.layers)
    span = next((n for n, layer in manifest.layers.items() if layer.kind == "span"), None)
    doc = next((n for n, layer in manifest.layers.items() if layer.kind == "document" and not layer.multi), None)
    lines = [
        "from datasets import load_dataset",
        "",
        f"articles = load_dataset({repo!r})            # config 'articles': one row per article",
        f"annotations = load_dataset({repo!r}, 'annotations')  # one row per annotation",
        "row = articles['train'][0]",
        "print(row['title'])",
    ]
    if span:
        lines += [f"names = articles['train'].features[{span!r}].feature['label'].names",
                  f"print([(s['text'], names[s['label']]) for s in row[{span!r}]])"]
    if doc:
        lines += [f"print(articles['train'].features[{doc!r}].int2str(row[{doc!r}]) "
                  f"if row[{doc!r}] is not None else None)"]
    code = "\n".join(lines)
    return ("## How to load\n\n" + fenced(code, "python") + "\n\n"
            + ("" if manifest.get("hub_id") else
               f"Replace `{NAMESPACE_PLACEHOLDER}` by the Hub user or organisation this build is uploaded to "
               "(or set `hub_id` in the manifest); a local copy loads by its folder path. ")
            + "The label names are stored in this card and in "
            "each Parquet file's metadata, so `load_dataset('parquet', data_files=…)` and streaming keep them too; "
            f"`labels.parquet` maps class ids to names for other readers. "
            f"Layers: {', '.join(escape(n) for n in layers) or 'none'}.")


RECIPES_HEADING = "## Label names with polars and DuckDB"
ARTICLE_FILES = "data/articles/*.parquet"  # relative to the build: the card must not depend on where it was written


def recipe_layers(manifest: Manifest) -> list[tuple[str, Any]]:
    """The layers the recipes show: the first document layer, then the first span layer (those that exist)."""
    chosen = [next(((n, layer) for n, layer in manifest.layers.items() if layer.kind == kind), None)
              for kind in ("document", "span")]
    return [pair for pair in chosen if pair is not None]


def _polars_column(name: str, layer: Any) -> str:
    """A polars expression turning one layer column's class ids into names (ids → names via a dict)."""
    mapped = f"replace_strict(names({name!r}), default=None, return_dtype=pl.String)"
    if layer.kind == "span":
        return f"pl.col({name!r}).list.eval(\n        pl.element().struct.field('label').{mapped})"
    if layer.multi:
        return f"pl.col({name!r}).list.eval(pl.element().{mapped})"
    return f"pl.col({name!r}).{mapped}"


def polars_recipe(layers: list[tuple[str, Any]]) -> str:
    """Python code: read the article shards and `labels.parquet` with polars; `named` holds id + label names."""
    columns = "".join(f"    {_polars_column(name, layer)},\n" for name, layer in layers)
    return ("import polars as pl\n\n"
            "labels = pl.read_parquet('labels.parquet')\n\n\n"
            "def names(layer):  # class id -> label name, for one layer\n"
            "    rows = labels.filter(pl.col('layer') == layer)\n"
            "    return dict(zip(rows['id'], rows['name']))\n\n\n"
            f"articles = pl.read_parquet({ARTICLE_FILES!r})\n"
            f"named = articles.select(\n    'id',\n{columns})\n"
            "print(named.head())")


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_recipe(layers: list[tuple[str, Any]]) -> str:
    """Python code: the same names with DuckDB, a join for a single-label layer, `list_transform` for lists."""
    lists = [(name, layer) for name, layer in layers if layer.kind == "span" or layer.multi]
    joins = [name for name, layer in layers if not (layer.kind == "span" or layer.multi)]
    select, sources = ["a.id"], [f"{_sql_text(ARTICLE_FILES)} AS a"]
    for name in joins:
        alias = _sql_name(f"{name}_label")
        select.append(f"{alias}.name AS {_sql_name(name)}")
        sources.append(f"LEFT JOIN 'labels.parquet' AS {alias}\n"
                       f"      ON {alias}.layer = {_sql_text(name)} AND {alias}.id = a.{_sql_name(name)}")
    for name, layer in lists:
        item = "x.label" if layer.kind == "span" else "x"
        # DuckDB lists are 1-based; class ids start at 0.
        select.append(f"list_transform(a.{_sql_name(name)}, lambda x: names.{_sql_name(name)}[{item} + 1])"
                      f" AS {_sql_name(name)}")
    query = ""
    if lists:
        per_layer = ",\n           ".join(
            f"list(name ORDER BY id) FILTER (WHERE layer = {_sql_text(name)}) AS {_sql_name(name)}"
            for name, _ in lists)
        query += f"WITH names AS (\n    SELECT {per_layer}\n    FROM 'labels.parquet')\n"
        sources.append("CROSS JOIN names")
    query += "SELECT " + ",\n       ".join(select) + "\nFROM " + "\n".join(sources)
    # Layer names are `[a-z][a-z0-9_]*` (the manifest schema), and the rest is ours: nothing in the
    # query can end the Python string it sits in.
    return f'import duckdb\n\nnamed = duckdb.sql("""\n{query}\n""")\nprint(named.limit(5))'


def label_recipes(manifest: Manifest) -> str:
    """How to turn class ids into names outside `datasets` (a test runs both blocks in a build); "" without labels."""
    layers = recipe_layers(manifest)
    if not layers:
        return ""
    shown = " and ".join(f"`{escape(name)}`" for name, _ in layers)
    return (f"{RECIPES_HEADING}\n\nOutside `datasets` a label column holds class ids (ClassLabel ids, in the order of "
            "the label tables below). `labels.parquet` (`layer`, `kind`, `id`, `name`, `description`) maps them "
            f"to names. Run from this folder, each snippet gives every article's {shown} labels by name:\n\n"
            + fenced(polars_recipe(layers), "python") + "\n\n" + fenced(duckdb_recipe(layers), "python")
            + "\n\nThe `lambda x:` syntax needs DuckDB 1.3 or later.")


def _structure(manifest: Manifest, features: dict[str, Any]) -> str:
    article_docs = field_descriptions("article")
    annotation_docs = field_descriptions("annotation")
    rows = []
    for name, feature in features["articles"].items():
        if name in manifest.layers:
            layer = manifest.layers[name]
            doc = layer.description or f"{layer.kind} layer '{name}'"
            doc += f" — labels: {', '.join(layer.labels)}"
        else:
            doc = article_docs.get(name, "")
        rows.append([f"`{escape(name)}`", escape(feature_type(feature)), cell(doc)])
    text = "## Dataset structure\n\n### Config `articles` (default)\n\nOne row per article.\n\n"
    text += _table(["field", "type", "description"], rows)
    if "annotations" in features:
        rows = [[f"`{escape(n)}`", escape(feature_type(f)), cell(annotation_docs.get(n, ""))]
                for n, f in features["annotations"].items()]
        text += ("\n\n### Config `annotations`\n\nOne row per annotation; `layer` and `label` are strings. "
                 "Offsets count Unicode code points (Python `str` indices), end exclusive.\n\n")
        text += _table(["field", "type", "description"], rows)
    return text


EXAMPLE_TEXT_CHARS = 200  # strings of a view's example row are cut here in the card
EXAMPLE_LIST_ITEMS = 40  # and lists here (a NER example is chosen with at most 40 tokens, so it shows whole)


def _views(reports: dict[str, ViewReport], features: dict[str, Any],
           split_files: dict[str, dict[str, list[str]]], repo: str) -> str:
    """A section per ready-to-train view: what a row is, what was left out, a row as loaded, a snippet."""
    parts = ["## Ready-to-train views\n\nExtra configs derived from `articles` (same splits), built because the "
             "manifest's `views:` asks for them (all kinds by default). Each snippet below runs as is."]
    for config, report in reports.items():
        split = report.example_split or next(iter(split_files[config]))
        what = {"classify": _classify_text, "ner": _ner_text, "relations": _relations_text}[report.kind]
        parts.append(f"### Config `{escape(config)}` (ready to train)\n\n" + what(report, features[config])
                     + "\n\n" + fenced(view_snippet(report, features[config], split, repo), "python")
                     + "\n\n" + _example_row(report))
    return "\n\n".join(parts)


def view_snippet(report: ViewReport, features: Any, split: str, repo: str) -> str:
    """Five lines that load the view and prepare it for training (a test runs them against the build)."""
    load = f"ds = load_dataset({repo!r}, {report.config!r}, split={split!r})"
    if report.kind == "ner":
        body = ["names = ds.features['ner_tags'].feature.names",
                "id2label = dict(enumerate(names)); label2id = {name: i for i, name in id2label.items()}",
                "print(ds[0]['tokens'][:8], [id2label[t] for t in ds[0]['ner_tags'][:8]])"]
    elif report.kind == "relations":
        body = ["names = ds.features['label'].names",
                "ds = ds.map(lambda r: {'pair': r['head']['text'] + ' [SEP] ' + r['tail']['text'],"
                " 'labels': r['label']})",
                "print(ds[0]['pair'], names[ds[0]['labels']], ds[0]['context'][:80])"]
    elif type(features["label"]).__name__ in ("List", "Sequence", "LargeList"):  # a multi-label layer
        body = ["names = ds.features['label'].feature.names",
                "ds = ds.map(lambda r: {'labels': [float(i in r['label']) for i in range(len(names))]})",
                "print(ds[0]['title'], [names[i] for i in ds[0]['label']])"]
    else:
        body = ["names = ds.features['label'].names",
                "ds = ds.rename_column('label', 'labels')  # the column name Trainer expects",
                "print(ds[0]['title'], names[ds[0]['labels']])"]
    return "\n".join(["from datasets import load_dataset", load, *body])


def _classify_text(report: ViewReport, features: Any) -> str:
    return (f"One row per article that has a `{escape(report.layer)}` label ({report.counts['rows']:,} rows): "
            f"`id`, `title`, `text` and `label` ({escape(feature_type(features['label']))}).")


def _ner_text(report: ViewReport, features: Any) -> str:
    counts = report.counts
    names = features["ner_tags"].feature.names
    scheme = "BIOES" if any(name.startswith("S-") for name in names) else "BIO"
    left_out = counts["overlapping"] + counts["duplicate"] + counts["blank"]
    text = (f"Layer `{escape(report.layer)}` as token tags, conll2003-style: one row per paragraph of an "
            f"article (the title is its own row, `field: \"title\"`; a line break ends a paragraph unless a span "
            f"covers it), {counts['rows']:,} rows. Columns: `article_id`, `field`, `tokens`, `token_offsets` "
            "([start, end) code points into that field of the article) and `ner_tags`, "
            f"{scheme} tags as ClassLabel ids ({len(names)} names, `O` = 0). Tokens are runs of word characters, "
            "or any other single non-space character, and are split at every span edge, so each span is whole "
            "tokens and decoding the tags with `token_offsets` gives the spans back.\n\n"
            f"Of the layer's {counts['spans']:,} spans, {counts['kept']:,} are tagged; "
            f"**{left_out:,} could not be represented**:")
    rows = [
        ["overlapping", f"{counts['overlapping']:,}", "overlaps a span already taken: BIO tags cannot nest"],
        ["duplicate", f"{counts['duplicate']:,}", "the same span with the same label as one already taken "
         "(another annotator agreeing): nothing is lost"],
        ["blank", f"{counts['blank']:,}", "whitespace only: no token"],
    ]
    text += "\n\n" + _table(["left out", "spans", "why"], rows)
    text += ("\n\nSpans are taken annotator by annotator, in the order each first appears among an article's "
             "spans of the layer, and each annotator's by earliest start, then longest: annotators who split an "
             "article between them all count, and where two annotated the same words the first one's reading "
             "stands (the `annotations` config keeps every span).")
    text += (f"\n\n{counts['trimmed']:,} tagged spans had leading or trailing whitespace: they are trimmed to the "
             "tokens they cover, and the tags give back the trimmed span.")
    return text


def _relations_text(report: ViewReport, features: Any) -> str:
    counts = report.counts
    return (f"One row per relation of layer `{escape(report.layer)}` ({counts['rows']:,} rows): `article_id`, "
            f"`id`, `label` ({escape(feature_type(features['label']))}), `head` and `tail` (each the span: `id`, "
            "`layer`, `label` as a name, `field`, `start`, `end`, `text`), and `context`: the paragraph holding "
            f"both spans ({counts['paragraph']:,} rows, `context_scope: \"paragraph\"`), else the whole field "
            f"({counts['field']:,} rows, `\"field\"`; the article's `text` when the spans are in different fields), "
            "starting at `context_start` in `context_field`: `head['start'] - context_start` is the head's offset "
            "in `context` when `head['field'] == context_field`.")


def example_value(value: Any) -> Any:
    """A value of an example row as the card shows it: long strings and lists cut (marked with …)."""
    if isinstance(value, str) and len(value) > EXAMPLE_TEXT_CHARS:
        return value[:EXAMPLE_TEXT_CHARS] + "…"
    if isinstance(value, list):
        return [example_value(v) for v in value[:EXAMPLE_LIST_ITEMS]]
    if isinstance(value, dict):
        return {k: example_value(v) for k, v in value.items()}
    return value


def _example_row(report: ViewReport) -> str:
    if report.example is None:
        return ""
    lines = [f"  {orjson.dumps(key).decode()}: {orjson.dumps(example_value(value)).decode()}"
             for key, value in report.example.items()]
    return (f"Row {report.example_index} of split `{escape(report.example_split)}` as `load_dataset` returns it "
            f"(ClassLabel values are ids; strings over {EXAMPLE_TEXT_CHARS} characters are cut and marked …, "
            f"lists over {EXAMPLE_LIST_ITEMS} items cut):\n\n" + fenced("{\n" + ",\n".join(lines) + "\n}", "json"))


def _example(stats: BuildStats) -> str:
    if stats.example is None:
        return "## Example instance\n\nThe train split is empty."
    article = dict(stats.example["article"])
    for key in ("text", "title"):
        if isinstance(article.get(key), str) and len(article[key]) > 300:
            article[key] = article[key][:300] + "…"
    sample = {"article": article, "first annotations": stats.example["annotations"]}
    body = orjson.dumps(sample, option=orjson.OPT_INDENT_2).decode()
    return ("## Example instance\n\nThe first article of the train split (text truncated), as stored:\n\n"
            + fenced(body, "json"))


def _labels(manifest: Manifest, stats: BuildStats) -> str:
    parts = ["## Labels"]
    for name, layer in manifest.layers.items():
        counts = stats.labels.get(name, {})
        rows = [[cell(label), f"{counts.get(label, 0):,}", cell(layer.label_descriptions.get(label, ""))]
                for label in layer.labels]
        header = f"### `{escape(name)}` ({layer.kind}"
        if layer.kind == "span":
            header += ", overlapping spans allowed)" if layer.overlap else ", no overlapping spans)"
        else:
            header += ", several labels per article)" if layer.multi else ")"
        parts.append(header + "\n\n" + _table(["label", "count", "description"], rows))
    return "\n\n".join(parts)


def _sources(stats: BuildStats) -> str:
    text = "## Source data\n\n"
    if stats.first_published and stats.last_published:
        text += (f"Articles published from {stats.first_published.date().isoformat()} to "
                 f"{stats.last_published.date().isoformat()} (UTC).")
    else:
        text += "The articles carry no publication dates."
    if stats.sources:
        text += "\n\n" + _table(["source", "articles"], [[cell(s), f"{n:,}"] for s, n in stats.sources.most_common(20)])
        if len(stats.sources) > 20:
            text += f"\n\n…and {len(stats.sources) - 20:,} more sources."
    if stats.languages:
        text += "\n\nLanguages: " + ", ".join(f"{escape(lang)} ({n:,})" for lang, n in stats.languages.most_common())
    return text


def _annotation_process(manifest: Manifest, stats: BuildStats) -> str:
    people = {a: n for a, n in stats.annotators.items() if not a.startswith("model:")}
    models = {a: n for a, n in stats.annotators.items() if a.startswith("model:")}
    text = "## Annotations\n\n"
    text += (f"{len(people):,} human annotator(s) and {len(models):,} model(s) are named in the data. "
             if stats.annotators else "The annotations do not say who made them. ")
    text += "Every annotation passed news-toolkit validation: offsets inside the text, quoted text equal to the " \
            "annotated slice, labels declared in the manifest, references resolved."
    if stats.kept_annotators != "all":
        which = "a named person's (gold)" if stats.kept_annotators == "human" else "a model's (silver)"
        text += (f"\n\nThis build keeps only the annotations that are {which} (`export --annotators "
                 f"{stats.kept_annotators}`); a relation is left out with either of its ends.")
    if stats.origins:
        text += ("\n\nGold and silver, per layer: annotations by a named person (human), by a model "
                 "(annotator `model:…`, with their mean confidence) and without an annotator.\n\n")
        rows = []
        for layer, counts in stats.origins.items():
            n = counts["confidence_n"]
            mean = f"{counts['confidence_micro'] / n / 1_000_000:.3f}" if n else "–"
            rows.append([cell(layer), f"{counts['human']:,}", f"{counts['model']:,}", mean, f"{counts['unnamed']:,}"])
        text += _table(["layer", "human", "model", "model mean confidence", "unnamed"], rows)
    if stats.annotators:
        listed = stats.annotators.most_common(20)
        text += "\n\n" + _table(["annotator", "annotations"], [[cell(a), f"{n:,}"] for a, n in listed])
    return text


def _limitations(manifest: Manifest, stats: BuildStats) -> str:
    notes = ["Publication times are stored as UTC timestamps; the original UTC offset of each article is not kept."
             ] if stats.first_published is not None else []
    if manifest.splits.by == "hash" and not manifest.splits.group_by:
        notes.append("Splits keep duplicates together but are otherwise random by article, not by time or source: "
                     "articles from the same story or outlet can appear in several splits, which can overstate "
                     "generalisation (`splits.group_by` and `splits.by: published_at` in the manifest prevent it).")
    for name, counts in stats.labels.items():
        if len(counts) > 1:
            (top, top_n), (low, low_n) = counts.most_common()[0], counts.most_common()[-1]
            if low_n and top_n / low_n >= 10:
                notes.append(f"Layer `{escape(name)}` is imbalanced: `{escape(top)}` has {top_n:,} examples, "
                             f"`{escape(low)}` {low_n:,}.")
    missing = [name for name, layer in manifest.layers.items() for label in layer.labels
               if not stats.labels.get(name, {}).get(label)]
    if missing:
        notes.append("Some declared labels have no example in the data: see the label tables.")
    if len(stats.languages) > 1:
        notes.append("The corpus mixes languages; per-language sizes are listed under Source data.")
    if not notes:
        notes.append("None found in the data by news-toolkit's checks; read the sources before use.")
    return "## Bias, risks, and limitations\n\n" + "\n".join(f"- {n}" for n in notes)



# --- "Changes since": `export --previous OLD_BUILD` -----------------------------------------------

CHANGES_TOP_LABELS = 10  # label rows shown; the rest is counted in one line
CHANGES_MOVED_IDS = 10  # ids of moved articles listed
SUMMARY_HEADING = "## Dataset summary"


def changes_heading(version: str | None) -> str:
    return f"## Changes since {'version ' + one_line(version) if version else 'the previous build'}"


def _label_rank(change: LabelChange) -> tuple[int, str, str]:
    """Most churned first; ties in layer and label order, so the card does not depend on the run."""
    return (-(change.added + change.removed + change.edited), change.layer, change.label)


def changes_section(change: BuildDiff, version: str | None) -> str:
    """What changed from the previous build to this one (counts exact; paths never shown: the card is portable)."""
    a = change.articles
    text = (f"{changes_heading(version)}\n\nArticles: {a['old']:,} before, {a['new']:,} now: "
            f"**{a['added']:,} added, {a['removed']:,} removed, {a['edited']:,} changed** (text or metadata), "
            f"{a['moved']:,} moved split.")
    if change.moved:
        listed = ", ".join(f"`{escape(i)}` ({escape(old)} → {escape(new)})"
                           for i, old, new in change.moved[:CHANGES_MOVED_IDS])
        more = a["moved"] - min(len(change.moved), CHANGES_MOVED_IDS)
        text += f" Moved: {listed}" + (f" and {more:,} more." if more else ".")
    changed = sorted((c for c in change.labels if c.added or c.removed or c.edited), key=_label_rank)
    if not changed:
        return text + "\n\nNo annotation was added, removed or changed."
    added = sum(c.added for c in change.labels)
    removed = sum(c.removed for c in change.labels)
    edited = sum(c.edited for c in change.labels)
    text += (f"\n\nAnnotations: {added:,} added, {removed:,} removed, {edited:,} changed. "
             "Per layer and label, most changed first (counts are annotations):\n\n")
    rows = [[cell(c.layer), cell(c.label), f"{c.old:,}", f"{c.new:,}", f"{c.new - c.old:+,}", f"{c.added:,}",
             f"{c.removed:,}", f"{c.edited:,}"] for c in changed[:CHANGES_TOP_LABELS]]
    text += _table(["layer", "label", "before", "now", "change", "added", "removed", "changed"], rows)
    if len(changed) > CHANGES_TOP_LABELS:
        text += f"\n\n…and {len(changed) - CHANGES_TOP_LABELS:,} more labels changed."
    return text


def insert_section(card: str, section: str) -> str:
    """`card` with `section` right after the summary (where a reader looks first), else at the end."""
    start = card.find(f"\n{SUMMARY_HEADING}\n")
    end = card.find("\n## ", start + 1) if start >= 0 else -1
    if end < 0:
        return card.rstrip("\n") + "\n\n" + section + "\n"
    return card[:end + 1] + section + "\n\n" + card[end + 1:]
