"""moto's server for the bench, with the transaction memory fix of the local runtime."""

from __future__ import annotations

from moto.server import main

from csms_local.emulation import bound_moto_memory

if __name__ == "__main__":
    bound_moto_memory()
    main()
