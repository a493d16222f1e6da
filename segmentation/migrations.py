"""Versioned schema of the workspace file: append a new list, never edit an old one.

The data tables ``profiles`` and ``events`` are created by ingestion, since
their columns come from the user's files. Uniqueness (ids, names) is enforced
by the service under the write lock rather than by DuckDB indexes, which
refuse some updates of indexed rows inside one transaction.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE workspace_meta (key VARCHAR, value VARCHAR)",
        """CREATE TABLE loads (
            id VARCHAR, table_name VARCHAR, mode VARCHAR, source VARCHAR,
            rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT,
            loaded_at TIMESTAMP)""",
        """CREATE TABLE catalog (
            name VARCHAR, source VARCHAR, type VARCHAR, null_share DOUBLE,
            distinct_count BIGINT, approximate BOOLEAN, min_value VARCHAR,
            max_value VARCHAR, top_values VARCHAR, refreshed_at TIMESTAMP)""",
        """CREATE TABLE definitions (
            id VARCHAR, name VARCHAR, description VARCHAR, tags VARCHAR[],
            expression VARCHAR, pql VARCHAR, version INTEGER,
            created_at TIMESTAMP, updated_at TIMESTAMP)""",
        """CREATE TABLE definition_versions (
            definition_id VARCHAR, version INTEGER, name VARCHAR, description VARCHAR,
            tags VARCHAR[], expression VARCHAR, pql VARCHAR, saved_at TIMESTAMP)""",
        """CREATE TABLE jobs (
            id VARCHAR, status VARCHAR, segments VARCHAR, as_of TIMESTAMP,
            schedule_id VARCHAR, pid INTEGER, created_at TIMESTAMP,
            started_at TIMESTAMP, finished_at TIMESTAMP, metrics VARCHAR,
            error VARCHAR)""",
        """CREATE TABLE memberships (
            segment_id VARCHAR, profile_id VARCHAR, status VARCHAR,
            last_qualification_time TIMESTAMP, version INTEGER)""",
        """CREATE TABLE membership_history (
            job_id VARCHAR, segment_id VARCHAR, version INTEGER, as_of TIMESTAMP,
            qualified BIGINT, realized BIGINT, existing BIGINT, exited BIGINT,
            evaluated_at TIMESTAMP)""",
        """CREATE TABLE membership_changes (
            job_id VARCHAR, segment_id VARCHAR, version INTEGER,
            profile_id VARCHAR, change VARCHAR)""",
        """CREATE TABLE schedules (
            id VARCHAR, name VARCHAR, cron VARCHAR, timezone VARCHAR,
            segments VARCHAR, active BOOLEAN, created_at TIMESTAMP,
            updated_at TIMESTAMP, last_run_at TIMESTAMP, last_job_id VARCHAR)""",
        """CREATE TABLE exports (
            id VARCHAR, status VARCHAR, request VARCHAR, created_at TIMESTAMP,
            finished_at TIMESTAMP, metrics VARCHAR, files VARCHAR, error VARCHAR)""",
    ],
    [
        # schedules: why the last run failed (NULL when it succeeded), and the
        # moment slots are owed from (reset on a new cron/timezone or activation)
        "ALTER TABLE schedules ADD COLUMN last_error VARCHAR",
        "ALTER TABLE schedules ADD COLUMN anchor_at TIMESTAMP",
    ],
    [
        # tasks: one row per long-running task (segment job, export, preview), see tasks.py
        """CREATE TABLE tasks (
            id VARCHAR, kind VARCHAR, status VARCHAR, progress DOUBLE, message VARCHAR,
            error VARCHAR, payload VARCHAR, result VARCHAR, pid INTEGER,
            created_at TIMESTAMP, started_at TIMESTAMP, finished_at TIMESTAMP,
            updated_at TIMESTAMP)""",
    ],
    [
        # what-if runs: a job as of another time than the current membership's (a future
        # date, or before the latest run so far) records its counts and changes only
        "ALTER TABLE jobs ADD COLUMN what_if BOOLEAN DEFAULT false",
        "ALTER TABLE membership_history ADD COLUMN what_if BOOLEAN DEFAULT false",
        # which run each membership comes from, and as of when
        "ALTER TABLE memberships ADD COLUMN job_id VARCHAR",
        "ALTER TABLE memberships ADD COLUMN as_of TIMESTAMP",
        """UPDATE memberships m SET job_id = h.job_id, as_of = h.as_of FROM (
            SELECT segment_id, arg_max(job_id, evaluated_at) AS job_id,
                   arg_max(as_of, evaluated_at) AS as_of
            FROM membership_history GROUP BY segment_id
        ) h WHERE h.segment_id = m.segment_id""",
    ],
    [
        # API tokens of this workspace (sandbox): a SHA-256 of each, never the token
        """CREATE TABLE api_tokens (
            name VARCHAR, token_hash VARCHAR, read_only BOOLEAN, created_at TIMESTAMP)""",
    ],
    [
        # segment jobs and exports become tasks (one mechanism: statuses, cancel, recovery);
        # their own tables are folded into ``tasks`` and left as read-only views
        """INSERT INTO tasks SELECT id, 'segment-job', status,
            CASE WHEN status = 'SUCCEEDED' THEN 1.0 ELSE 0.0 END, '',
            CASE WHEN status = 'SUCCEEDED' THEN NULL ELSE error END,
            json_object('segments', json(segments), 'as_of', CAST(as_of AS VARCHAR),
                        'schedule_id', schedule_id)::VARCHAR,
            json_object('segments', json(segments), 'metrics', json(metrics),
                        'what_if', coalesce(what_if, false),
                        'error', CASE WHEN status = 'SUCCEEDED' THEN error END)::VARCHAR,
            pid, created_at, started_at, finished_at, coalesce(finished_at, created_at)
            FROM jobs""",
        """INSERT INTO tasks SELECT id, 'export', status,
            CASE WHEN status = 'SUCCEEDED' THEN 1.0 ELSE 0.0 END, '', error, request,
            json_object('metrics', json(metrics), 'files', json(coalesce(files, '[]')))::VARCHAR,
            NULL, created_at, NULL, finished_at, coalesce(finished_at, created_at)
            FROM exports""",
        "DROP TABLE jobs",
        "DROP TABLE exports",
        """CREATE VIEW jobs AS SELECT id, status,
            CAST(json_extract_string(payload, '$.as_of') AS TIMESTAMP) AS as_of,
            json_extract_string(payload, '$.schedule_id') AS schedule_id,
            created_at, started_at, finished_at, error
            FROM tasks WHERE kind = 'segment-job'""",
        """CREATE VIEW exports AS SELECT id, status, created_at, finished_at, error
            FROM tasks WHERE kind = 'export'""",
    ],
    [
        # field_labels: display names and descriptions people set (field_labels.py)
        """CREATE TABLE field_labels (
            source VARCHAR, name VARCHAR, display_name VARCHAR, description VARCHAR,
            updated_at TIMESTAMP)""",
    ],
    [
        # AEP's ttlInDays of a definition: kept and answered (aepp sends it back on every
        # update), not acted on, since memberships here do not expire
        "ALTER TABLE definitions ADD COLUMN ttl_days INTEGER",
    ],
]
