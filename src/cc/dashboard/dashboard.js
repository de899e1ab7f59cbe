/* Siegetank dashboard: renders the CC's /status/* JSON (cc_dashboard.h).
 *
 * A page is an entry of PAGES: a path pattern and a function that fetches
 * its data and fills <main>; add one (and its route on the CC, and a link in
 * NAV for a top-level page) to extend the dashboard. Text goes in with
 * textContent only, never as HTML. Every shown figure carries data-k="<section>.<id>.<field>" naming where it came from
 * in the JSON, so a test can compare the page with the API. A manager's
 * token lives in sessionStorage and travels in the Authorization header,
 * never in a URL. */
"use strict";
(function () {
  var REFRESH_MS = 10000;
  var TOKEN_KEY = "siegetank-token";
  var charts = {};
  var refused = ""; /* why the last token was refused, shown until the next sign-in */
  window.siegetankCharts = charts; /* for tests and the curious */

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function api(path) {
    var headers = {};
    if (token()) headers.Authorization = token();
    return fetch(path, { headers: headers, cache: "no-store" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) {
          var e = new Error(body.error || "HTTP " + r.status);
          e.status = r.status;
          throw e;
        }
        return body;
      });
    });
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }

  function show(v) {
    if (v === true) return "yes";
    if (v === false) return "no";
    if (v === null || v === undefined) return "-";
    if (Array.isArray(v)) return v.join(", ");
    return String(v);
  }

  /* columns: [{title, field, link(row) -> href}]; key(row) names the row in data-k. */
  function table(section, columns, rows, key) {
    var head = el("tr", {}, columns.map(function (c) {
      return el("th", {}, [c.title]);
    }));
    var body = rows.map(function (row) {
      return el("tr", {}, columns.map(function (c) {
        var text = show(row[c.field]);
        var cell = c.link ? el("a", { href: c.link(row) }, [text]) : text;
        return el("td", { "data-k": section + "." + key(row) + "." + c.field }, [cell]);
      }));
    });
    if (rows.length === 0) body = [el("tr", {}, [el("td", { colspan: columns.length }, ["none"])])];
    return el("table", {}, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  function figures(section, obj, fields) {
    return el("dl", { class: "figures" }, fields.reduce(function (out, f) {
      out.push(el("dt", {}, [f[1]]));
      out.push(el("dd", { "data-k": section + "." + f[0] }, [show(obj[f[0]])]));
      return out;
    }, []));
  }

  var SERIES = [
    ["assignments", "Assignments per minute"],
    ["frames", "Frames committed per minute"],
    ["active_cores", "Active cores"],
  ];

  /* The time the charts show at first: from the oldest minute with data
   * (at least the last hour) to now; double-click a chart for all 24 h. */
  function shown_span(h) {
    var n = h.frames.length, first = n - 60;
    for (var i = 0; i < n; i++) {
      if (h.assignments[i] !== null || h.frames[i] !== null || h.active_cores[i] !== null) {
        first = Math.min(i, first);
        break;
      }
    }
    var at = function (i) {
      return (h.start + i * h.step) * 1000;
    };
    return [at(Math.max(first, 0)), at(n - 1)];
  }

  /* One chart per series of h (a /status/history reply). Dygraph measures
   * its div, so the charts are drawn by draw() once the boxes are in the
   * page. */
  function charts_for(scope, h, draw) {
    var span = shown_span(h);
    return el("div", { class: "charts" }, SERIES.map(function (s) {
      var id = scope + "." + s[0];
      var box = el("div", { class: "chart", "data-chart": id });
      var has = h[s[0]].some(function (v) {
        return v !== null;
      });
      delete charts[id];
      if (!has) {
        box.appendChild(el("p", { class: "empty" }, [s[1] + ": no data yet"]));
        return box;
      }
      var graph = el("div"); /* Dygraph wants a div without padding */
      box.appendChild(graph);
      var rows = h[s[0]].map(function (v, i) {
        return [new Date((h.start + i * h.step) * 1000), v];
      });
      draw.push(function () {
        charts[id] = new Dygraph(graph, rows, {
          labels: ["time", s[1]],
          title: s[1],
          height: 180,
          includeZero: true,
          drawPoints: false,
          drawGapEdgePoints: true, /* a lone minute between gaps still shows */
          pointSize: 2,
          strokeWidth: 1.5,
          colors: ["#1f6fb4"],
          legend: "follow",
          dateWindow: span,
          axes: { y: { axisLabelWidth: 40 } },
        });
      });
      return box;
    }));
  }

  /* Fills main with nodes, then draws the charts they hold. */
  function fill(main, nodes, draw) {
    main.replaceChildren.apply(main, nodes);
    draw.forEach(function (f) {
      f();
    });
  }

  function overview(main) {
    return Promise.all([api("/status/overview"), api("/status/history")]).then(function (r) {
      var o = r[0], draw = [];
      fill(main, [
        el("h2", {}, ["Overview"]),
        figures("totals", o.totals, [
          ["scvs_online", "SCVs online"],
          ["scvs", "SCVs"],
          ["streams", "Streams"],
          ["active_cores", "Active cores"],
          ["frames_per_hour", "Frames in the last hour"],
        ]),
        charts_for("all", r[1], draw),
        el("h2", {}, ["SCVs"]),
        table("scv", [
          { title: "Name", field: "name" },
          { title: "Online", field: "online" },
          { title: "Reachable", field: "reachable" },
          { title: "Streams", field: "streams" },
          { title: "Active cores", field: "active_cores" },
          { title: "Frames per hour", field: "frames_per_hour" },
        ], o.scvs, function (s) { return s.name; }),
        el("h2", {}, ["Targets"]),
        table("target", [
          { title: "Target", field: "id", link: function (t) { return "/dashboard/targets/" + encodeURIComponent(t.id); } },
          { title: "Owner", field: "owner" },
          { title: "Stage", field: "stage" },
          { title: "Engines", field: "engines" },
          { title: "Streams", field: "streams" },
          { title: "Frames", field: "frames" },
          { title: "Active cores", field: "active_cores" },
          { title: "Frames per hour", field: "frames_per_hour" },
        ], o.targets, function (t) { return t.id; }),
        el("h2", {}, ["Engines"]),
        table("engine", [
          { title: "Engine", field: "engine" },
          { title: "Targets", field: "targets" },
          { title: "Active cores", field: "active_cores" },
        ], o.engines, function (e) { return e.engine; }),
      ], draw);
      return o;
    });
  }

  /* One page of a target's streams, the ones needing a look first: the
   * address's ?offset= and ?limit= go to the API as they are. */
  function stream_pager(id, r) {
    var from = r.stream_count === 0 ? 0 : r.offset + 1, to = r.offset + r.streams.length;
    var href = function (offset) {
      return "/dashboard/targets/" + encodeURIComponent(id) + "?offset=" + offset + "&limit=" + r.limit;
    };
    var num = function (k, v) {
      return el("span", { "data-k": k }, [String(v)]);
    };
    var nodes = ["Streams ", num("page.from", from), "\u2013", num("page.to", to), " of ",
                 num("page.stream_count", r.stream_count), " (stopped and failing first;"];
    Object.keys(r.status_counts).sort().forEach(function (k) {
      nodes.push(" " + k + " ", num("status_counts." + k, r.status_counts[k]));
    });
    nodes.push(") ");
    if (r.offset > 0) nodes.push(el("a", { href: href(Math.max(0, r.offset - r.limit)) }, ["\u2190 previous"]), " ");
    if (to < r.stream_count) nodes.push(el("a", { href: href(to) }, ["next \u2192"]));
    return el("p", { class: "pager" }, nodes);
  }

  function target(main, id) {
    var q = encodeURIComponent(id);
    return Promise.all([api("/status/targets/" + q + location.search), api("/status/history/" + q)]).then(function (r) {
      var t = r[0].target, draw = [];
      fill(main, [
        el("h2", {}, ["Target " + t.id]),
        figures("target." + t.id, t, [
          ["owner", "Owner"],
          ["stage", "Stage"],
          ["engines", "Engines"],
          ["streams", "Streams"],
          ["frames", "Frames"],
          ["active_cores", "Active cores"],
          ["frames_per_hour", "Frames in the last hour"],
        ]),
        charts_for("target", r[1], draw),
        el("h2", {}, ["Streams"]),
        stream_pager(id, r[0]),
        table("stream", [
          { title: "Stream", field: "id" },
          { title: "SCV", field: "scv" },
          { title: "Frames", field: "frames" },
          { title: "Status", field: "status" },
          { title: "Errors", field: "error_count" },
          { title: "Active", field: "active" },
        ], r[0].streams, function (s) { return s.id; }),
      ], draw);
      return r[0];
    });
  }

  /* The public leaderboards (/leaderboard/*): donors and teams, this week
   * and all time. */
  function leaderboard(main) {
    var boards = [["donors", "week"], ["teams", "week"], ["donors", "all"], ["teams", "all"]];
    return Promise.all(boards.map(function (b) {
      return api("/leaderboard/" + b[0] + "?period=" + b[1] + "&limit=25");
    })).then(function (r) {
      var nodes = [];
      boards.forEach(function (b, i) {
        var teams = b[0] === "teams";
        nodes.push(el("h2", {}, [(teams ? "Teams" : "Donors") + (b[1] === "week" ? ", this week" : ", all time") +
                                 " (" + r[i].total + ")"]));
        nodes.push(table(b[0] + "_" + b[1], teams ? [
          { title: "Rank", field: "rank" },
          { title: "Team", field: "team" },
          { title: "Members", field: "members" },
          { title: "Points", field: "points" },
          { title: "Frames", field: "frames" },
        ] : [
          { title: "Rank", field: "rank" },
          { title: "Donor", field: "username" },
          { title: "Team", field: "team" },
          { title: "Points", field: "points" },
          { title: "Frames", field: "frames" },
        ], r[i].entries, function (e) { return e.rank; }));
      });
      fill(main, nodes, []);
      return { survey_time: Date.now() / 1000 };
    });
  }

  /* The header's links, one per top-level page. */
  var NAV = [["Overview", "/dashboard"], ["Leaderboard", "/dashboard/leaderboard"]];

  function showNav() {
    var nav = document.getElementById("nav");
    nav.replaceChildren.apply(nav, NAV.map(function (n) {
      return el("a", { href: n[1], class: location.pathname === n[1] ? "current" : "" }, [n[0]]);
    }));
  }

  var PAGES = [
    { path: /^\/dashboard\/targets\/([^/]+)$/, render: function (main, m) { return target(main, decodeURIComponent(m[1])); } },
    { path: /^\/dashboard\/leaderboard\/?$/, render: leaderboard },
    { path: /^\/dashboard\/?$/, render: overview },
  ];

  function setError(text) {
    var p = document.getElementById("error");
    p.textContent = text || "";
    p.hidden = !text;
  }

  function refresh() {
    var main = document.getElementById("main");
    var path = location.pathname;
    var page = null, m = null;
    for (var i = 0; i < PAGES.length && !page; i++) {
      m = path.match(PAGES[i].path);
      if (m) page = PAGES[i];
    }
    if (!page) {
      setError("no such page: " + path);
      return;
    }
    page.render(main, m).then(function (data) {
      setError(refused);
      var when = new Date(data.survey_time * 1000);
      document.getElementById("updated").textContent = data.survey_time ? "as of " + when.toLocaleTimeString() : "waiting for the first survey";
      document.body.dataset.survey = String(data.survey_time);
      document.body.dataset.state = "ready";
    }).catch(function (e) {
      if (e.status === 401 && token()) {
        /* A refused token is forgotten: the page falls back to the public
         * view at once instead of failing every refresh. */
        sessionStorage.removeItem(TOKEN_KEY);
        refused = "sign-in refused: " + e.message;
        refresh();
        return;
      }
      setError(e.message);
      document.body.dataset.state = "error";
    }).then(function () {
      showViewer();
    });
  }

  function showViewer() {
    var signed = token() !== "";
    document.getElementById("token").hidden = signed;
    document.getElementById("signin-button").hidden = signed;
    document.getElementById("signout").hidden = !signed;
    document.getElementById("viewer").textContent = signed ? "signed in" : "";
  }

  document.getElementById("signin").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var input = document.getElementById("token");
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    refused = "";
    refresh();
  });
  document.getElementById("signout").addEventListener("click", function () {
    sessionStorage.removeItem(TOKEN_KEY);
    refresh();
  });

  showNav();
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
