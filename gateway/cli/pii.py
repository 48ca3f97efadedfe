"""``callgate pii test``: measure the configured detector on a labelled file.

Exit status: 0 when every threshold is met, 1 when one is not, 2 when the file or the configuration
cannot be used.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway.cli.options import config_dir_option, load_or_exit
from gateway.pii.detector import CORE_ENTITIES, Detector, RecognizerProblem
from gateway.pii.evaluation import EvaluationFileError, Report, evaluate, load_samples

SHIPPED_SET = Path(__file__).resolve().parents[1] / "pii" / "data" / "eval_set.jsonl"


@click.group()
def pii() -> None:
    """Personal-data detection: measure it on labelled text."""


@pii.command("test")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), default=str(SHIPPED_SET))
@config_dir_option
@click.option("--min-recall", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Per entity type.")
@click.option("--min-precision", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Per entity type.")
@click.option(
    "--max-false-positive-rate",
    type=click.FloatRange(0, 1),
    default=1.0,
    show_default=True,
    help="Share of clean sentences (no expected spans) with any finding.",
)
@click.option("--entity", "entities", multiple=True, help="Score only this type; repeat for several.")
def test_file(
    file: Path,
    config_dir: Path | None,
    min_recall: float,
    min_precision: float,
    max_false_positive_rate: float,
    entities: tuple[str, ...],
) -> None:
    """Run the labelled FILE through the configured detector; print precision, recall and F2 per type.

    FILE (default: the shipped set of 1,300 business sentences) is JSON Lines, one sentence a line:

    \b
      {"text": "Call Ann at +44 20 7946 0958.",
       "spans": [{"entity": "PHONE_NUMBER", "start": 12, "end": 28}]}

    start and end are character offsets into text (text[start:end] is the value); "spans": [] marks a
    clean sentence. An expected span counts as found when a finding of its type covers all of it; a
    finding that overlaps no expected span of its type is a false positive. F2 weighs recall twice,
    as presidio-research reports it. The false-positive rate is the share of clean sentences with any
    finding. Types the configuration does not detect are listed and not scored.

    Example: callgate pii test --min-recall 0.98 --max-false-positive-rate 0.01
    """
    config = load_or_exit(config_dir)
    settings = getattr(config.gateway, "pii", None)  # GatewaySettings.pii: the scrub stage's settings
    try:
        if settings is None:
            detector = Detector(CORE_ENTITIES)
        else:
            detector = Detector(
                settings.entities,
                settings.recognizers,
                score_threshold=settings.score_threshold,
                allow_list=settings.allow_list,
                nlp_model=settings.nlp_model,
            )
    except (RecognizerProblem, ValueError) as exc:
        click.echo(f"callgate: configuration error: {exc}", err=True)
        sys.exit(2)
    scored = frozenset(entities) if entities else detector.entities
    if not scored <= detector.entities:
        missing = ", ".join(sorted(scored - detector.entities))
        raise click.UsageError(f"--entity {missing}: not detected by this configuration")
    try:
        samples = load_samples(file)
    except EvaluationFileError as exc:
        click.echo(f"callgate: {exc}", err=True)
        sys.exit(2)
    report = evaluate(samples, detector.find, scored)
    click.echo(_table(report))
    failures = _failures(report, min_recall, min_precision, max_false_positive_rate)
    for failure in failures:
        click.echo(f"FAIL {failure}")
    if failures:
        click.echo(f"pii test: {len(failures)} threshold(s) not met", err=True)
        sys.exit(1)
    click.echo(f"pii test: ok ({report.sentences} sentences)")


def _table(report: Report) -> str:
    lines = [f"{'entity':<24}{'precision':>10}{'recall':>8}{'F2':>8}{'expected':>10}{'missed':>8}{'false+':>8}"]
    for entity, score in report.entities.items():
        expected = score.true_positives + score.false_negatives
        lines.append(
            f"{entity:<24}{score.precision:>10.3f}{score.recall:>8.3f}{score.f2:>8.3f}"
            f"{expected:>10}{score.false_negatives:>8}{score.false_positives:>8}"
        )
    lines.append(
        f"clean sentences flagged: {report.false_positive_rate:.2%} "
        f"({report.clean_flagged} of {report.clean_sentences})"
    )
    lines.extend(f"not scored: {entity} ({count} spans; not detected by this configuration)"
                 for entity, count in sorted(report.skipped.items()))  # fmt: skip
    return "\n".join(lines)


def _failures(report: Report, min_recall: float, min_precision: float, max_fpr: float) -> list[str]:
    failures = []
    for entity, score in report.entities.items():
        if score.recall < min_recall:
            failures.append(f"{entity}: recall {score.recall:.3f} < {min_recall}")
        if score.precision < min_precision:
            failures.append(f"{entity}: precision {score.precision:.3f} < {min_precision}")
    if report.false_positive_rate > max_fpr:
        failures.append(f"false-positive rate {report.false_positive_rate:.4f} > {max_fpr}")
    return failures
