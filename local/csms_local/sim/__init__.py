"""Parts of the charging station simulator (see `csms_local.simulator`)."""
