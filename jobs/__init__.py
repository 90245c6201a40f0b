"""commitpack's Spark jobs.

* ``stages``: one module per pipeline stage, each a thin ``run`` over pure transforms;
* ``rules``: the CommitPack and CommitPackFT row rules as named Spark columns;
* ``transforms``: DataFrame functions the stages share (connected components);
* ``runtime``: what every stage runs on: settings, session, lakehouse, summaries, quality checks;
* ``sample``: the generated sample the demo and the tests run on;
* ``cli``: the ``commitpack`` command.

Imports run one way: cli → stages → rules, transforms, sample → runtime → schemas; udfs → schemas.
"""
