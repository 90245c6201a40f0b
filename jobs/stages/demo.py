"""Run the whole pipeline on a small sample that commitpack generates on the spot: real git
repositories, GH Archive hours and a BigQuery export in their real formats pointing at them.

Everything goes under --workdir: the sample (sample/), the repository cache (git-cache/),
the lakehouse (lakehouse/, unless --lakehouse is given) and the dataset export (export/).
The sample is the same on every run, so a second run changes nothing.
"""

import argparse
import os
import sys

from commitpack.jobs.runtime.command import stage_main
from commitpack.jobs.runtime.report import progress
from commitpack.jobs.sample import OPT_OUT_OWNER, build_sample
from commitpack.jobs.stages import pipeline

COMMAND = "demo"
HELP = "generate a sample and run the whole pipeline on it"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--workdir",
        metavar="DIR",
        default="commitpack-demo",
        help="where the sample, the git cache, the lakehouse and the export go (default ./commitpack-demo)",
    )


def defaults(args) -> dict:
    """The demo's defaults: its own lakehouse, git cache, and the sample's repositories as remotes."""
    workdir = os.path.abspath(args.workdir)
    return {
        "lakehouse": os.path.join(workdir, "lakehouse"),
        "git.cache_dir": os.path.join(workdir, "git-cache"),
        "git.remote_template": "file://" + os.path.join(workdir, "sample", "remotes") + "/{repo}.git",
        "opt_out.owners": f"[{OPT_OUT_OWNER}]",
        "export.output": os.path.join(workdir, "export"),
    }


def leased_stages(args) -> list[str]:
    return [stage.COMMAND for stage in pipeline.STAGES]


def run(spark, cfg, lakehouse, args):
    workdir = os.path.abspath(args.workdir)
    progress(COMMAND, f"building the sample in {workdir}/sample")
    sample = build_sample(os.path.join(workdir, "sample"))
    stage_args = argparse.Namespace(
        **{
            "input": [str(sample.gharchive / "*.json.gz")],
            "commits": str(sample.bigquery / "commits"),
            "licenses": str(sample.bigquery / "licenses"),
            "languages": str(sample.bigquery / "languages"),
            "export.output": cfg.export.output,
        }
    )
    yield from pipeline.run(spark, cfg, lakehouse, stage_args)
    print(
        f"\nDone. Lakehouse: {lakehouse.root}\n"
        f"  bronze/ (GH Archive pushes and quarantine, BigQuery exports), silver/ (commit index and rejections),\n"
        f"  gold/commitpack (raw CommitPack: contents, diffs, statuses),\n"
        f"  gold/commitpackft (CommitPackFT), gold/commitpackft_decisions (why each row was dropped),\n"
        f"  gold/commitpackft_funnel (rows and bytes per rule and language)\n"
        f"CommitPackFT export: {cfg.export.output} (README.md is its dataset card)\n"
        f"Sample inputs: {sample.root}",
        flush=True,
    )


def main(argv=None) -> int:
    return stage_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
