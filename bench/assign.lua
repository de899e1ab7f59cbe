-- POST /core/assign with the engine key in $BENCH_KEY (no target: the
-- weighted draw over public targets, as volunteer cores ask).
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_KEY")
