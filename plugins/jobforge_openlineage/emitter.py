"""The OpenLineage client of one config, and the START/COMPLETE/FAIL events of
its steps.

An :class:`Emitter` is made once per :class:`~jobforge.pipeline.config.PipelineConfig`
(on the first event) from the settings the config holds for the plugin,
validated with :class:`jobforge.project.model.OpenLineageSection`, the same
model that checks ``[openlineage]`` in ``jobforge.toml``.

What the events say (docs/openlineage.md has the shapes):

- the job is ``<table>.<layer>`` in the configured namespace; a step of a
  ``jobforge run`` has a ``parent`` run facet naming the run (job
  ``jobforge-run``, run id :attr:`TransitionEvent.run_id`);
- datasets are the table folders and source files, in the ``file`` namespace
  of OpenLineage's naming (``file`` + absolute path), each table with a
  ``symlinks`` facet giving its catalog name (``silver.noc_structure``);
- COMPLETE adds the schema, column lineage, documentation, ownership and
  version of the output from its catalog entry, the output and input
  statistics, data quality assertions for the silver rules, and the
  ``jobforge`` run facet (the row ledger, the batch ids, the lineage record's id);
- FAIL carries the ``errorMessage`` run facet.

An event that cannot be sent is logged (``openlineage.emit_failed``) and the
step goes on, unless ``on_error = "fail"``.
"""

from __future__ import annotations

import json
import os
import threading
import traceback
import weakref
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jobforge import __version__
from jobforge.plugin import (
    CatalogManager,
    ConfigError,
    IngestionRecord,
    JobforgeError,
    Layer,
    LineageRecord,
    OpenLineageSection,
    PipelineConfig,
    TableMetadata,
    TransitionEvent,
    TransitionRecord,
    batch_id_of_file,
    current_version,
    get_logger,
    is_provenance,
    split_key,
    utc_now,
)

log = get_logger()

PRODUCER = f"urn:jobforge:{__version__}"
"""``producer`` of every event and facet."""
FILE_NAMESPACE = "file"
"""OpenLineage's namespace of a local file system (datasets are named by absolute path)."""
PARENT_JOB = "jobforge-run"
"""Name of the parent job of the steps of one ``jobforge run``."""
FACET_SCHEMA = "JobforgeRunFacet.json"
HTTP_RETRY = {
    "total": 2,
    "connect": 2,
    "read": 2,
    "backoff_factor": 0.2,
    "status_forcelist": [500, 502, 503, 504],
    "allowed_methods": ["POST"],
}
"""A receiver that is down costs a step about a second, not the client's default ten."""

_emitters: weakref.WeakKeyDictionary[PipelineConfig, Emitter] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def settings_of(config: PipelineConfig) -> OpenLineageSection:
    """The plugin's settings in ``config``, validated (a ConfigError names the field)."""
    raw = dict(config.settings_for("openlineage") or {})
    try:
        return OpenLineageSection.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            f"openlineage settings: {where + ': ' if where else ''}{message}"
        ) from None


def emitter_for(config: PipelineConfig) -> Emitter:
    """The emitter of ``config`` (made on first use, then kept with the config)."""
    with _lock:
        emitter = _emitters.get(config)
        if emitter is None:
            emitter = Emitter(config, settings_of(config))
            _emitters[config] = emitter
        return emitter


def _transport(settings: OpenLineageSection) -> Any:
    try:
        from openlineage.client.transport.file import FileConfig, FileTransport
        from openlineage.client.transport.http import (
            ApiKeyTokenProvider,
            HttpConfig,
            HttpTransport,
            TokenProvider,
        )
    except ImportError:
        raise ConfigError(
            "[openlineage] needs the openlineage-python package: "
            "pip install 'jobforge[openlineage]'"
        ) from None
    if settings.transport == "file":
        assert settings.path is not None  # checked by the model
        Path(settings.path).parent.mkdir(parents=True, exist_ok=True)
        return FileTransport(FileConfig(log_file_path=settings.path, append=True))
    if settings.transport == "http":
        assert settings.url is not None
        auth = TokenProvider({})
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise ConfigError(
                    f"[openlineage] api_key_env: the environment variable "
                    f"{settings.api_key_env} is not set"
                )
            auth = ApiKeyTokenProvider({"apiKey": key})
        return HttpTransport(
            HttpConfig(
                url=settings.url,
                endpoint=settings.endpoint,
                timeout=settings.timeout_s,
                auth=auth,
                retry=HTTP_RETRY,
            )
        )
    from jobforge_openlineage.console import StderrTransport

    return StderrTransport()


class Emitter:
    """Builds and sends the events of one config's steps."""

    def __init__(self, config: PipelineConfig, settings: OpenLineageSection) -> None:
        from openlineage.client import OpenLineageClient

        self.config = config
        self.settings = settings
        self.namespace = settings.namespace or "jobforge"
        self.client = OpenLineageClient(transport=_transport(settings))
        self.catalog = CatalogManager(config)
        self._runs: dict[TransitionEvent, str] = {}
        self._runs_lock = threading.Lock()

    # -- the three events --------------------------------------------------------------------
    def start(self, event: TransitionEvent) -> None:
        from openlineage.client.uuid import generate_new_uuid

        run_id = str(generate_new_uuid())
        with self._runs_lock:
            self._runs[event] = run_id
        inputs = []
        if event.source_layer != "source" and event.target_layer != Layer.GOLD.value:
            inputs = [self._input(f"{event.source_layer}.{event.table}")]
        self._send(
            "START",
            event,
            run_id,
            utc_now().isoformat(),
            inputs=inputs,
            outputs=[self._output(f"{event.target_layer}.{event.table}")],
            run_facets={},
        )

    def complete(self, event: TransitionEvent, record: LineageRecord) -> None:
        run_id = self._run_id(event)
        key = f"{event.target_layer}.{event.table}"
        entry = self.catalog.load(event.target_layer, event.table)
        if isinstance(record, IngestionRecord):
            inputs = [self._source_input(record, entry)]
        else:
            inputs = [self._input(k, record) for k in record.input_tables]
        self._send(
            "COMPLETE",
            event,
            run_id,
            record.completed_at.isoformat(),
            inputs=inputs,
            outputs=[self._output(key, record, entry)],
            run_facets={"jobforge": self._jobforge_facet(record)},
        )

    def fail(self, event: TransitionEvent, error: BaseException) -> None:
        from openlineage.client.facet_v2 import error_message_run

        run_id = self._run_id(event)
        facet = error_message_run.ErrorMessageRunFacet(
            message=str(error) or type(error).__name__,
            programmingLanguage="python",
            stackTrace="".join(traceback.format_exception(error)),
            producer=PRODUCER,
        )
        self._send(
            "FAIL",
            event,
            run_id,
            utc_now().isoformat(),
            inputs=[],
            outputs=[self._output(f"{event.target_layer}.{event.table}")],
            run_facets={"errorMessage": facet},
        )

    # -- pieces ------------------------------------------------------------------------------
    def _run_id(self, event: TransitionEvent) -> str:
        with self._runs_lock:
            run_id = self._runs.pop(event, None)
        if run_id is None:  # no START seen (a plugin registered in the middle of a step)
            from openlineage.client.uuid import generate_new_uuid

            run_id = str(generate_new_uuid())
        return run_id

    def _send(
        self,
        state: str,
        event: TransitionEvent,
        run_id: str,
        when: str,
        *,
        inputs: list[Any],
        outputs: list[Any],
        run_facets: dict[str, Any],
    ) -> None:
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import job_type_job, parent_run, processing_engine_run

        facets = dict(run_facets)
        facets["processing_engine"] = processing_engine_run.ProcessingEngineRunFacet(
            version=__version__,
            name="jobforge",
            openlineageAdapterVersion=_client_version(),
            producer=PRODUCER,
        )
        if event.run_id:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=event.run_id),
                job=parent_run.Job(namespace=self.namespace, name=PARENT_JOB),
                root=parent_run.Root(
                    run=parent_run.RootRun(runId=event.run_id),
                    job=parent_run.RootJob(namespace=self.namespace, name=PARENT_JOB),
                ),
                producer=PRODUCER,
            )
        kind = (
            "INGESTION"
            if event.source_layer == "source"
            else "GOLD_BUILD"
            if event.target_layer == Layer.GOLD.value
            else "TRANSITION"
        )
        job = Job(
            namespace=self.namespace,
            name=f"{event.table}.{event.target_layer}",
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="JOBFORGE", jobType=kind, producer=PRODUCER
                )
            },
        )
        lineage_event = RunEvent(
            eventType=getattr(RunState, state),
            eventTime=when,
            run=Run(runId=run_id, facets=facets),
            job=job,
            inputs=inputs,
            outputs=outputs,
            producer=PRODUCER,
        )
        try:
            self.client.emit(lineage_event)
        except Exception as exc:
            message = f"openlineage: could not send the {state} event of {job.name}: {exc}"
            if self.settings.on_error == "fail":
                raise JobforgeError(message) from exc
            log.warning(
                "openlineage.emit_failed",
                job=job.name,
                event_type=state,
                transport=self.settings.transport,
                error=str(exc),
            )

    def _table_dataset_name(self, key: str) -> str:
        layer, table = split_key(key)
        return os.path.abspath(self.config.store.table_location(layer, table))

    def _table_facets(self, key: str, entry: TableMetadata | None) -> dict[str, Any]:
        from openlineage.client.facet_v2 import (
            documentation_dataset,
            ownership_dataset,
            schema_dataset,
            symlinks_dataset,
        )

        facets: dict[str, Any] = {
            "symlinks": symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[
                    symlinks_dataset.Identifier(namespace=self.namespace, name=key, type="TABLE")
                ],
                producer=PRODUCER,
            )
        }
        if entry is None:
            return facets
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=c.name, type=c.data_type, description=c.description or None
                )
                for c in entry.columns
            ],
            producer=PRODUCER,
        )
        if entry.description:
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description=entry.description, producer=PRODUCER
            )
        owners = [ownership_dataset.Owner(name=entry.data_owner, type="OWNER")] * bool(
            entry.data_owner
        )
        if entry.data_steward:
            owners.append(ownership_dataset.Owner(name=entry.data_steward, type="STEWARD"))
        if owners:
            facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
                owners=owners, producer=PRODUCER
            )
        return facets

    def _input(self, key: str, record: TransitionRecord | None = None) -> Any:
        from openlineage.client.event_v2 import InputDataset
        from openlineage.client.facet_v2 import input_statistics_input_dataset

        layer, table = split_key(key)
        entry = self.catalog.load(layer, table)
        input_facets: dict[str, Any] = {}
        if record is not None:
            files = [f for f in record.source_files if Path(f).parent.name == table]
            single = len(record.input_tables) == 1
            input_facets["inputStatistics"] = (
                input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    rowCount=record.ledger.rows_in if single else None,
                    size=_size(files),
                    fileCount=len(files),
                    producer=PRODUCER,
                )
            )
            assertions = _assertions(record)
            if assertions is not None:
                input_facets["dataQualityAssertions"] = assertions
        return InputDataset(
            namespace=FILE_NAMESPACE,
            name=self._table_dataset_name(key),
            facets=self._table_facets(key, entry),
            inputFacets=input_facets,
        )

    def _source_input(self, record: IngestionRecord, entry: TableMetadata | None) -> Any:
        from openlineage.client.event_v2 import InputDataset
        from openlineage.client.facet_v2 import input_statistics_input_dataset, schema_dataset

        facets: dict[str, Any] = {}
        if entry is not None:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.data_type)
                    for c in entry.columns
                    if not is_provenance(c.name)
                ],
                producer=PRODUCER,
            )
        return InputDataset(
            namespace=FILE_NAMESPACE,
            name=os.path.abspath(record.source_file),
            facets=facets,
            inputFacets={
                "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    rowCount=record.row_count_in,
                    size=record.source_size_bytes,
                    fileCount=1,
                    producer=PRODUCER,
                )
            },
        )

    def _output(
        self,
        key: str,
        record: LineageRecord | None = None,
        entry: TableMetadata | None = None,
    ) -> Any:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.facet_v2 import (
            dataset_version_dataset,
            output_statistics_output_dataset,
        )

        facets = self._table_facets(key, entry)
        output_facets: dict[str, Any] = {}
        if record is not None and entry is not None:
            lineage = self._column_lineage(entry, record)
            if lineage is not None:
                facets["columnLineage"] = lineage
            layer, table = split_key(key)
            current = current_version(self.config, layer, table)
            if current is not None:
                facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=str(current.version), producer=PRODUCER
                )
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=record.row_count_out,
                    size=_size([record.target_file]),
                    fileCount=1,
                    producer=PRODUCER,
                )
            )
        return OutputDataset(
            namespace=FILE_NAMESPACE,
            name=self._table_dataset_name(key),
            facets=facets,
            outputFacets=output_facets,
        )

    def _column_lineage(self, entry: TableMetadata, record: LineageRecord) -> Any:
        """The columnLineage facet, from the entry's ``source_columns``
        (``<layer>.<table>.<column>``; in staged, the source file's column)."""
        from openlineage.client.facet_v2 import column_lineage_dataset as cl

        fields = {}
        for column in entry.columns:
            inputs = []
            for source in column.source_columns:
                if entry.layer == Layer.STAGED.value and isinstance(record, IngestionRecord):
                    name = os.path.abspath(record.source_file)
                    inputs.append(cl.InputField(namespace=FILE_NAMESPACE, name=name, field=source))
                    continue
                layer, dot, rest = source.partition(".")
                table, dot2, field = rest.partition(".")
                if not (dot and dot2) or layer not in {m.value for m in Layer}:
                    continue
                inputs.append(
                    cl.InputField(
                        namespace=FILE_NAMESPACE,
                        name=self._table_dataset_name(f"{layer}.{table}"),
                        field=field,
                    )
                )
            if inputs:
                fields[column.name] = cl.Fields(inputFields=inputs)
        if not fields:
            return None
        return cl.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER)

    def _jobforge_facet(self, record: LineageRecord) -> Any:
        from jobforge_openlineage.facets import JobforgeRunFacet

        if isinstance(record, IngestionRecord):
            return JobforgeRunFacet(
                recordType="ingestion",
                recordId=record.ingestion_id,
                status=record.status,
                batchId=record.batch_id,
                inputBatchIds=[],
                ledger={
                    "rows_in": record.row_count_in,
                    "rows_out": record.row_count_out,
                    "rows_quarantined": record.rows_quarantined,
                },
                ruleCounts={},
                transformsApplied=[],
                targetFile=record.target_file,
                quarantineFile=None,
                sourceFile=record.source_file,
                sourceSha256=record.source_sha256,
                reader=record.reader,
                seconds=record.seconds,
                producer=PRODUCER,
            )
        return JobforgeRunFacet(
            recordType="transition",
            recordId=record.transition_id,
            status=record.status,
            batchId=record.batch_id,
            inputBatchIds=sorted(
                {b for f in record.source_files if (b := batch_id_of_file(f)) is not None}
            ),
            ledger=record.ledger.model_dump(mode="json"),
            ruleCounts=dict(record.rule_counts),
            transformsApplied=list(record.transforms_applied),
            targetFile=record.target_file,
            quarantineFile=record.quarantine_file,
            sourceFile=None,
            sourceSha256=None,
            reader=None,
            seconds=record.seconds,
            producer=PRODUCER,
        )


def _assertions(record: TransitionRecord) -> Any:
    """dataQualityAssertions from the rules the record counted (a rule passed when
    no row failed it); ``None`` when the step checked no rule."""
    if not record.rule_counts:
        return None
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    severities = {}
    for step in record.transforms_applied:
        kind, _, rest = step.partition(":")
        rule, _, severity = rest.rpartition(":")
        if kind == "rule" and rule:
            severities[rule] = severity
    return dq.DataQualityAssertionsDatasetFacet(
        assertions=[
            dq.Assertion(
                assertion="custom_sql",
                success=failed == 0,
                name=rule,
                severity=severities.get(rule, "error"),
                expected="0",
                actual=str(failed),
                description=f"rows failing rule {rule}",
            )
            for rule, failed in sorted(record.rule_counts.items())
        ],
        producer=PRODUCER,
    )


def _size(paths: list[str]) -> int | None:
    total = 0
    for path in paths:
        try:
            total += os.stat(path).st_size
        except OSError:
            return None
    return total


def _client_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openlineage-python")
    except PackageNotFoundError:  # pragma: no cover - the client is imported before
        return "unknown"


def facet_schema() -> dict[str, Any]:
    """The JSON Schema of the ``jobforge`` run facet (shipped beside this module)."""
    text = resources.files("jobforge_openlineage").joinpath(FACET_SCHEMA).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
