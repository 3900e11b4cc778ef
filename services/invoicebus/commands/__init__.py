"""The write side: one handler per command, the pipeline that runs them, and the app."""
