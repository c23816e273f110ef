"""SQLite's functions that crmpool's SQL uses, as PostgreSQL functions with SQLite's meaning
(named sqlite_date and so on: engines/pg_sql.py renames the calls).

Installed into a crmpool database on PostgreSQL before its migrations (and again, replaced,
on every migration run), so one SQL text serves both engines. Times are stored as UTC text
('2026-11-23T10:00:00Z'); 'localtime' is the session's TimeZone, which crmpool sets to the
process's own zone when it connects (engines/postgres.py), as SQLite uses the process's.

Only the modifiers and formats crmpool uses are understood; anything else raises, so a new
use is noticed in the tests rather than answered wrongly.
"""

from __future__ import annotations

FUNCTIONS = [
    # A stored time (or a date, or SQLite's 'YYYY-MM-DD HH:MM:SS') as a UTC wall-clock
    # timestamp, after SQLite's modifiers.
    r"""CREATE OR REPLACE FUNCTION sqlite_moment(t text, mods text[]) RETURNS timestamp
    LANGUAGE plpgsql STABLE STRICT AS $$
    DECLARE
        ts timestamp;
        m text;
    BEGIN
        IF t = 'now' THEN
            ts := (now() AT TIME ZONE 'UTC');
        ELSE
            ts := t::timestamp;  -- a zone written in the text ('Z') is ignored: it is UTC
        END IF;
        FOREACH m IN ARRAY mods LOOP
            m := lower(trim(m));
            IF left(m, 1) IN ('+', '-')
               AND m ~ '^[+-][0-9]+(\.[0-9]+)? +(day|hour|minute|second|month|year)s?$' THEN
                ts := ts + m::interval;  -- '+30 days', '-6 days', '+1 year': as SQLite counts
            ELSIF m = 'localtime' THEN
                ts := (ts AT TIME ZONE 'UTC') AT TIME ZONE current_setting('TimeZone');
            ELSIF m = 'utc' THEN
                ts := (ts AT TIME ZONE current_setting('TimeZone')) AT TIME ZONE 'UTC';
            ELSIF m = 'start of day' THEN
                ts := date_trunc('day', ts);
            ELSIF m = 'start of month' THEN
                ts := date_trunc('month', ts);
            ELSIF m = 'start of year' THEN
                ts := date_trunc('year', ts);
            ELSIF m ~ '^weekday [0-6]$' THEN
                -- the next day (or this one) whose weekday is N, 0 = Sunday
                ts := ts + ((substr(m, 9)::int - extract(dow FROM ts)::int + 7) % 7)
                           * interval '1 day';
            ELSE
                RAISE EXCEPTION 'crmpool: SQLite date modifier % has no translation', m;
            END IF;
        END LOOP;
        RETURN ts;
    END $$""",
    """CREATE OR REPLACE FUNCTION sqlite_date(t text, VARIADIC mods text[] DEFAULT '{}')
    RETURNS text LANGUAGE sql STABLE STRICT AS
    $$ SELECT to_char(sqlite_moment(t, mods), 'YYYY-MM-DD') $$""",
    """CREATE OR REPLACE FUNCTION sqlite_datetime(t text, VARIADIC mods text[] DEFAULT '{}')
    RETURNS text LANGUAGE sql STABLE STRICT AS
    $$ SELECT to_char(sqlite_moment(t, mods), 'YYYY-MM-DD HH24:MI:SS') $$""",
    """CREATE OR REPLACE FUNCTION sqlite_julianday(t text, VARIADIC mods text[] DEFAULT '{}')
    RETURNS double precision LANGUAGE sql STABLE STRICT AS
    $$ SELECT extract(epoch FROM sqlite_moment(t, mods))::double precision / 86400.0
              + 2440587.5 $$""",
    # strftime's formats, as to_char's (only the codes crmpool writes).
    r"""CREATE OR REPLACE FUNCTION sqlite_strftime(fmt text, t text,
                                                 VARIADIC mods text[] DEFAULT '{}')
    RETURNS text LANGUAGE plpgsql STABLE STRICT AS $$
    DECLARE
        ts timestamp := sqlite_moment(t, mods);
        out text := '';
        i int := 1;
        c text;
    BEGIN
        -- The formats crmpool writes, at once; any other code by code.
        IF fmt = '%Y-%m-%dT%H:%M:%SZ' THEN
            RETURN to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
        ELSIF fmt = '%Y-%m-%d %H:%M' THEN
            RETURN to_char(ts, 'YYYY-MM-DD HH24:MI');
        ELSIF fmt = '%Y-%m' THEN
            RETURN to_char(ts, 'YYYY-MM');
        END IF;
        WHILE i <= length(fmt) LOOP
            c := substr(fmt, i, 1);
            IF c = '%' AND i < length(fmt) THEN
                i := i + 1;
                c := substr(fmt, i, 1);
                out := out || CASE c
                    WHEN 'Y' THEN to_char(ts, 'YYYY') WHEN 'm' THEN to_char(ts, 'MM')
                    WHEN 'd' THEN to_char(ts, 'DD') WHEN 'H' THEN to_char(ts, 'HH24')
                    WHEN 'M' THEN to_char(ts, 'MI') WHEN 'S' THEN to_char(ts, 'SS')
                    WHEN 'j' THEN to_char(ts, 'DDD') WHEN 'w' THEN extract(dow FROM ts)::text
                    WHEN 's' THEN extract(epoch FROM ts)::bigint::text WHEN '%' THEN '%'
                    ELSE NULL END;
                IF out IS NULL THEN
                    RAISE EXCEPTION 'crmpool: strftime code % has no translation', '%' || c;
                END IF;
            ELSE
                out := out || c;
            END IF;
            i := i + 1;
        END LOOP;
        RETURN out;
    END $$""",
    """CREATE OR REPLACE FUNCTION sqlite_instr(haystack text, needle text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT strpos(haystack, needle) $$""",
    # SQLite's scalar max/min: NULL when any argument is (STRICT), unlike greatest/least.
    """CREATE OR REPLACE FUNCTION sqlite_max(VARIADIC a anycompatiblearray)
    RETURNS anycompatible LANGUAGE sql IMMUTABLE STRICT AS
    $$ SELECT CASE WHEN array_position(a, NULL) IS NULL THEN (SELECT max(x) FROM unnest(a) x)
              END $$""",
    """CREATE OR REPLACE FUNCTION sqlite_min(VARIADIC a anycompatiblearray)
    RETURNS anycompatible LANGUAGE sql IMMUTABLE STRICT AS
    $$ SELECT CASE WHEN array_position(a, NULL) IS NULL THEN (SELECT min(x) FROM unnest(a) x)
              END $$""",
    # CAST(x AS INTEGER) truncates toward zero in SQLite; PostgreSQL's rounds.
    """CREATE OR REPLACE FUNCTION sqlite_int(x double precision) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT trunc(x)::bigint $$""",
    """CREATE OR REPLACE FUNCTION sqlite_int(x numeric) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT trunc(x)::bigint $$""",
    """CREATE OR REPLACE FUNCTION sqlite_int(x bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT x $$""",
    """CREATE OR REPLACE FUNCTION sqlite_int(x text) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT AS
    $$ SELECT trunc(substring(x FROM '^\\s*[+-]?[0-9]*\\.?[0-9]*')::numeric)::bigint $$""",
    # printf with the two conversions crmpool's SQL writes: %.2f and %d (and %%).
    r"""CREATE OR REPLACE FUNCTION sqlite_printf(fmt text, VARIADIC args numeric[])
    RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        out text := '';
        i int := 1;
        n int := 1;
        spec text;
    BEGIN
        WHILE i <= length(fmt) LOOP
            IF substr(fmt, i, 2) = '%%' THEN
                out := out || '%'; i := i + 2;
            ELSIF substr(fmt, i, 4) = '%.2f' THEN
                out := out || coalesce(to_char(args[n], 'FM999999999999990.00'), '');
                n := n + 1; i := i + 4;
            ELSIF substr(fmt, i, 2) = '%d' THEN
                out := out || coalesce(trunc(args[n])::bigint::text, '');
                n := n + 1; i := i + 2;
            ELSIF substr(fmt, i, 1) = '%' THEN
                spec := substr(fmt, i, 4);
                RAISE EXCEPTION 'crmpool: printf conversion % has no translation', spec;
            ELSE
                out := out || substr(fmt, i, 1); i := i + 1;
            END IF;
        END LOOP;
        RETURN out;
    END $$""",
    # sum() of a comparison: SQLite's comparisons are 0 or 1, PostgreSQL's booleans; NULL for
    # no rows, as sum is.
    """CREATE OR REPLACE FUNCTION sqlite_bool_sum(total bigint, value boolean) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS
    $$ SELECT CASE WHEN value IS NULL THEN total ELSE coalesce(total, 0) + value::int END $$""",
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
                       WHERE p.proname = 'sum' AND p.proargtypes[0] = 'boolean'::regtype) THEN
            CREATE AGGREGATE sum(boolean) (sfunc = sqlite_bool_sum, stype = bigint);
        END IF;
    END $$""",
    # max() and min() of comparisons: any, and every.
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
                       WHERE p.proname = 'max' AND p.proargtypes[0] = 'boolean'::regtype) THEN
            CREATE AGGREGATE max(boolean) (sfunc = boolor_statefunc, stype = boolean);
            CREATE AGGREGATE min(boolean) (sfunc = booland_statefunc, stype = boolean);
        END IF;
    END $$""",
    # json_group_array as SQLite gives it: the JSON text of an array.
    """CREATE OR REPLACE FUNCTION sqlite_json_text(items anycompatiblearray) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(to_json(items)::text, '[]') $$""",
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'json_group_array') THEN
            CREATE AGGREGATE json_group_array(anycompatible) (
                sfunc = array_append, stype = anycompatiblearray,
                finalfunc = sqlite_json_text,
                initcond = '{}');
        END IF;
    END $$""",
    # COLLATE NOCASE: an ICU collation that compares without regard to case.
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'nocase') THEN
            CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2',
                                     deterministic = false);
        END IF;
    END $$""",
]
