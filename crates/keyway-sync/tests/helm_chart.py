#!/usr/bin/env python3
"""`helm lint` and `helm template` with real Helm, for the tests of deploy/helm/keyway.

Helm 4's Go SDK through the `helm-python-sdk` package (import name `helm_python`; no helm
binary), so the chart is checked by Helm's own linter and template engine:

    helm_chart.py version
    helm_chart.py lint <chart> [--strict] [--namespace NS] [--set k=v ...]
    helm_chart.py template <chart> [--set k=v ...] [--namespace NS] [--release-name NAME]
                                   [--include-crds]

`template` runs Helm's install action as a client-only dry run (what `helm template` runs: no
cluster is contacted, manifests in install order, each after `---` and `# Source:`); with
`--include-crds` the chart's crds/ files come first, as `helm template --include-crds` prints
them (Helm's own list of the chart's CRD files, which is what `helm install` installs).

Exit status: 0 ok; 1 lint errors, or the chart fails to load or render; 2 usage; 3 the
helm_python module is not importable (pip install helm-python-sdk==0.2.2).
"""

from __future__ import annotations

import argparse
import sys

try:
    import helm_python as helm
except ImportError as error:  # the caller skips (or fails, in CI) on exit status 3
    print(
        f"helm_chart.py: the helm_python module is not importable ({error}); "
        "pip install helm-python-sdk==0.2.2",
        file=sys.stderr,
    )
    sys.exit(3)

# Severity numbers of Helm's lint support package, as helm lint prints them.
SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def values_of(sets: list[str]) -> dict | None:
    """The `--set` expressions as Helm's CLI parses them: one after another into one map."""
    if not sets:
        return None
    return helm.parse_set_string(",".join(sets))


def lint(args: argparse.Namespace) -> int:
    report = helm.lint(
        args.chart,
        values_of(args.set),
        strict=args.strict,
        namespace=args.namespace,
    )
    failed = False
    for message in report.get("messages", []):
        severity = message.get("severity", 0)
        print(f"[{SEVERITY.get(severity, severity)}] {message.get('path')}: {message.get('error')}")
        failed |= severity >= 3 or (args.strict and severity >= 2)
    errors = report.get("errors") or []
    failed |= bool(errors)
    linted = report.get("total_charts_linted", 0)
    print(f"{linted} chart(s) linted, {1 if failed else 0} chart(s) failed")
    return 1 if failed or linted == 0 else 0


def template(args: argparse.Namespace) -> int:
    with helm.Chart.load(args.chart) as chart:
        out = []
        if args.include_crds:
            for crd in chart.crds:
                out.append(f"---\n# Source: {crd['name']}\n{crd['data']}\n")
        # Memory storage and a client-only dry run: nothing is read from or sent to a cluster.
        with helm.Config(namespace=args.namespace, storage_driver="memory") as config:
            release = config.install(
                chart,
                args.release_name,
                values_of(args.set),
                namespace=args.namespace,
                dry_run="client",
            )
        out.append(release.get("manifest", ""))
    sys.stdout.write("".join(out))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="helm_chart.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("version", help="the helm-python-sdk and Helm SDK versions")
    lint_parser = commands.add_parser("lint", help="helm lint <chart>")
    lint_parser.add_argument("chart")
    lint_parser.add_argument("--strict", action="store_true", help="warnings fail too")
    template_parser = commands.add_parser("template", help="helm template <chart>")
    template_parser.add_argument("chart")
    template_parser.add_argument("--release-name", default="keyway")
    template_parser.add_argument("--include-crds", action="store_true")
    for sub in (lint_parser, template_parser):
        sub.add_argument("--namespace", default="default")
        sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    try:
        if args.command == "version":
            print(f"helm-python-sdk {helm.__version__}, Helm SDK {helm.helm_sdk_version()}")
            return 0
        return lint(args) if args.command == "lint" else template(args)
    except helm.HelmError as error:
        print(f"helm_chart.py {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
