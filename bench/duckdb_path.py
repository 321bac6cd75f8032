"""The best pure-DuckDB way to load the slim columns: read_text + from_json with an explicit schema.

Measured beside Fixtrail's loader (orjson in worker processes feeding Arrow) so that the choice of
parser stays a measured one. Usage: python -m bench.duckdb_path LOGS_DIR (prints JSON: seconds, rows).
"""

from __future__ import annotations

import json
import sys
import time

import duckdb

SCHEMA = {
    "log_id": "VARCHAR",
    "session_id": "VARCHAR",
    "timestamp": "VARCHAR",
    "status": "VARCHAR",
    "code_hash": "VARCHAR",
    "user_prompt": "VARCHAR",
    "ai_model": "VARCHAR",
    "image_filename": "VARCHAR",
    "error_message": "VARCHAR",
    "error_type": "VARCHAR",
    "return_code": "BIGINT",
    "output_files": "VARCHAR[]",
    "execution_time_seconds": "DOUBLE",
    "previous_attempt_id": "VARCHAR",
    "fixed_by": "VARCHAR",
    "error_category": "VARCHAR",
    "tags": "VARCHAR[]",
}

LOAD_SQL = """
CREATE TABLE attempts AS
SELECT filename AS path, size, unnest(from_json(content, ?)) FROM read_text(?)
"""

if __name__ == "__main__":
    root = sys.argv[1]
    started = time.perf_counter()
    con = duckdb.connect(config={"preserve_insertion_order": False})
    con.execute(LOAD_SQL, [json.dumps(SCHEMA), [f"{root}/failures/*/*.json", f"{root}/successes/*/*.json"]])
    rows = con.execute("SELECT count(*) FROM attempts").fetchone()[0]
    print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))
