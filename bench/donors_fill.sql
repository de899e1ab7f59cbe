-- Bulk fill for bench/donors.sh, the same SQL on SQLite and PostgreSQL:
-- 100,000 donors in 5,000 teams, 1,000,000 fragments (10 per donor, 100
-- targets, spread over the last 30 days), then every credit aggregate
-- computed from them as POST /stats would have kept it, board sizes included. The script
-- replaces @NOW@, @DAY@ and @WEEK@.
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
INSERT INTO users(name, email, role, password_hash, weight, creation_date)
SELECT 'donor' || i, 'donor' || i || '@bench', 'donor', 'bench', 1, @NOW@ FROM n;

WITH RECURSIVE n(i) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < 999999)
INSERT INTO stats(id, target_id, stream_id, engine, user_name, start_time, end_time, frames, points)
SELECT 'bench-' || i, 'target-' || (i % 100), 'stream-' || (i % 20000) || ':scv1', 'openmm',
       'donor' || ((i * 7919) % 100000), @NOW@ - ((i * 37) % 2592000) - 600, @NOW@ - ((i * 37) % 2592000),
       1 + i % 20, 1 + i % 20
FROM n;

INSERT INTO donor_credit(name, team, public, frames, points, fragments, last_credit, day, day_frames, day_points,
                         day_fragments, week, week_frames, week_points, week_fragments)
SELECT user_name, 'team-' || (CAST(substr(user_name, 6) AS INTEGER) % 5000), 1, sum(frames), sum(points), count(*),
       max(end_time), CASE WHEN max(end_time) >= @DAY@ THEN @DAY@ ELSE 0 END,
       coalesce(sum(frames) FILTER (WHERE end_time >= @DAY@), 0),
       coalesce(sum(points) FILTER (WHERE end_time >= @DAY@), 0), count(*) FILTER (WHERE end_time >= @DAY@),
       CASE WHEN max(end_time) >= @WEEK@ THEN @WEEK@ ELSE 0 END,
       coalesce(sum(frames) FILTER (WHERE end_time >= @WEEK@), 0),
       coalesce(sum(points) FILTER (WHERE end_time >= @WEEK@), 0), count(*) FILTER (WHERE end_time >= @WEEK@)
FROM stats GROUP BY user_name;

INSERT INTO donor_target_credit(name, target_id, frames, points)
SELECT user_name, target_id, sum(frames), sum(points) FROM stats GROUP BY user_name, target_id;

INSERT INTO team_credit(team, members, frames, points, fragments, last_credit, day, day_frames, day_points,
                        day_fragments, week, week_frames, week_points, week_fragments)
SELECT team, count(*), sum(frames), sum(points), sum(fragments), max(last_credit), max(day),
       coalesce(sum(day_frames) FILTER (WHERE day = @DAY@), 0),
       coalesce(sum(day_points) FILTER (WHERE day = @DAY@), 0),
       coalesce(sum(day_fragments) FILTER (WHERE day = @DAY@), 0), max(week),
       coalesce(sum(week_frames) FILTER (WHERE week = @WEEK@), 0),
       coalesce(sum(week_points) FILTER (WHERE week = @WEEK@), 0),
       coalesce(sum(week_fragments) FILTER (WHERE week = @WEEK@), 0)
FROM donor_credit GROUP BY team;

DELETE FROM board_totals;
INSERT INTO board_totals(board, period, n)
SELECT 'donors_all', 0, count(*) FROM donor_credit WHERE public = 1 AND fragments > 0
UNION ALL SELECT 'donors_day', @DAY@, count(*) FROM donor_credit WHERE public = 1 AND day = @DAY@
UNION ALL SELECT 'donors_week', @WEEK@, count(*) FROM donor_credit WHERE public = 1 AND week = @WEEK@
UNION ALL SELECT 'teams_all', 0, count(*) FROM team_credit
UNION ALL SELECT 'teams_day', @DAY@, count(*) FROM team_credit WHERE day = @DAY@
UNION ALL SELECT 'teams_week', @WEEK@, count(*) FROM team_credit WHERE week = @WEEK@;
