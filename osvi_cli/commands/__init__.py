"""One module per `osvi` command (or group of subcommands); osvi_cli/main.py assembles them."""
