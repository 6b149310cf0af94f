"""Every conversation with the outside world: sources (read), sinks (write) and the history store."""
