"""The operating code on top of the code location: the `dtsen` command line, the runner behind `dtsen run` and
`make run`, the driver that operates the code location as the daemon does, and run progress on a console."""
