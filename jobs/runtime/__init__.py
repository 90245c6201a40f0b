"""What every stage runs on: settings, the session, the lakehouse, inputs, summaries and data-quality checks."""
