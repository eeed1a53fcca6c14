"""What readers read: Markdown and HTML rendered from the run's tables."""
