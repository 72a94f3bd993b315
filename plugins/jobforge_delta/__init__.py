"""Delta Lake tables (delta-rs, the ``deltalake`` package; extra ``jobforge[delta]``):
the table store of ``[storage] format = "delta"``.

The plugin loads without ``deltalake`` installed; asking for the Delta store
without it is a one-line error saying what to install.
"""

from __future__ import annotations

from jobforge import hookimpl
from jobforge.plugin import ConfigError, PipelineConfig, TableStore


@hookimpl(trylast=True)
def jobforge_table_store(config: PipelineConfig) -> TableStore | None:
    if config.storage_format != "delta":
        return None
    try:
        from jobforge_delta.objects import S3DeltaStore
        from jobforge_delta.store import DeltaStore
    except ImportError as exc:
        extra = "delta" if config.object_root is None else "s3"  # s3: deltalake and boto3
        raise ConfigError(
            f'[storage] format = "delta" needs the deltalake package ({exc}); '
            f"install it with: pip install 'jobforge[{extra}]'"
        ) from None
    return DeltaStore(config) if config.object_root is None else S3DeltaStore(config)
