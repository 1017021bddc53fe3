"""Code run in a fresh interpreter: each DAG's operator-facing arguments, its serialized form and task graph."""

OPERABILITY_REPORT = """
import itertools, json
from airflow.assets.evaluation import AssetEvaluator
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.definitions.assets import SerializedAssetUniqueKey
from airflow.serialization.serialized_objects import DagSerialization

folder = {folder!r}
bag = DagBag(dag_folder=folder, bundle_path=folder)
report = {{"errors": dict(bag.import_errors), "dags": {{}}}}
for dag in bag.dags.values():
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    deadlines = [
        {{
            "reference": type(d.reference).__name__,
            "interval_s": d.interval.total_seconds(),
            "callback": type(d.callback).__name__,
            "path": d.callback.path,
            "kwargs": d.callback.kwargs,
        }}
        for d in dag.deadline or []
    ]
    timetable = dag.timetable
    condition = getattr(timetable, "asset_condition", None)
    assets, pending = [], [condition] if condition is not None else []
    while pending:
        asset = pending.pop()
        if hasattr(asset, "objects"):
            pending += list(asset.objects)
            continue
        entry = {{
            "name": asset.name,
            "uri": asset.uri,
            "watchers": [[w.name, *w.trigger.serialize()] for w in asset.watchers],
        }}
        if entry not in assets:
            assets.append(entry)
    # Which sets of assets with new events start a run, as the scheduler evaluates the serialized condition.
    scheduled = getattr(serialized.timetable, "asset_condition", None)
    keys = {{key.name: key for key, _ in scheduled.iter_assets()}} if scheduled is not None else {{}}
    starts_run = [
        [sorted(names), AssetEvaluator(None).run(scheduled, {{keys[n]: n in names for n in keys}})]
        for size in range(len(keys) + 1)
        for names in itertools.combinations(sorted(keys), size)
    ] if keys else []
    report["dags"][dag.dag_id] = {{
        "doc_md": dag.doc_md,
        "tags": sorted(dag.tags),
        "dagrun_timeout_s": dag.dagrun_timeout.total_seconds() if dag.dagrun_timeout else None,
        "deadlines": deadlines,
        "max_active_runs": dag.max_active_runs,
        "timetable": type(timetable).__name__,
        "cron": getattr(getattr(timetable, "timetable", None), "expression", None),
        "assets": sorted(assets, key=lambda a: a["name"]),
        "starts_run": starts_run,
        "tasks": {{
            t.task_id: {{
                "type": type(t).__name__,
                "retries": t.retries,
                "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                "upstream": sorted(t.upstream_task_ids),
                "deferrable": getattr(t, "deferrable", None),
                "retry_on_failure": getattr(t, "retry_on_failure", None),
                "callable": getattr(getattr(t, "python_callable", None), "__qualname__", None),
                "wrapped": hasattr(getattr(t, "python_callable", None), "__wrapped__"),
                "outlets": sorted(a.uri for a in t.outlets),
            }}
            for t in dag.tasks
        }},
    }}
print("REPORT" + json.dumps(report, default=str))
"""
