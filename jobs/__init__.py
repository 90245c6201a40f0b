"""commitpack jobs: one module per pipeline stage, each with a thin ``main(argv)``."""
