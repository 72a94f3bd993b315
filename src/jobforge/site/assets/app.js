/* jobforge catalog site.
 *
 * Everything shown comes from window.JOBFORGE_SITE (site-data.js, written by
 * `jobforge docs build` from jobforge.site.model). Text is always set with
 * textContent, never parsed as HTML. The page makes no network request: the
 * graph library is in vendor/, the data in site-data.js.
 */
(function () {
  "use strict";

  var SITE = window.JOBFORGE_SITE;
  var LAYER_COLOURS = { staged: "#8a94a6", bronze: "#b5733a", silver: "#7c8a9c", gold: "#c99a1c" };
  var SOURCE_COLOUR = "#4f7f5a";
  var byKey = {};
  var sourcesById = {};
  var termsById = {};
  var app = document.getElementById("app");
  var overviewState = { q: "", layer: "", domain: "", classification: "", pii: "", state: "" };

  // -- small DOM helpers ------------------------------------------------------------------
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") el.textContent = String(value);
        else if (name === "class") el.className = value;
        else if (name.slice(0, 2) === "on") el.addEventListener(name.slice(2), value);
        else el.setAttribute(name, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) { append(el, c); });
      return;
    }
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  function show(nodes) {
    app.replaceChildren();
    append(app, nodes);
  }

  function link(href, text, attrs) {
    var a = h("a", attrs || {});
    a.setAttribute("href", href);
    a.textContent = text;
    return a;
  }

  function tableHref(key, column) {
    return "#/table/" + encodeURIComponent(key) + (column ? "/" + encodeURIComponent(column) : "");
  }

  function tableLink(key, column) {
    if (!byKey[key]) return h("span", { class: "muted", text: key + " (no catalog entry)" });
    return link(tableHref(key, column), column ? key + "." + column : key);
  }

  function badge(text, cls, title) {
    return h("span", { class: "badge " + (cls || ""), text: text, title: title || null });
  }

  function fmtInt(n) {
    if (n === null || n === undefined) return "";
    return Number(n).toLocaleString("en-US");
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    var v = Number(n);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
  }

  function fmtTime(iso) {
    if (!iso) return "";
    return iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC");
  }

  function codeBlock(text) {
    var pre = h("pre", { class: "sql" }, h("code", { text: text }));
    var button = h("button", { class: "copy", type: "button", text: "copy" });
    button.addEventListener("click", function () {
      if (navigator.clipboard) navigator.clipboard.writeText(text);
    });
    return h("div", null, pre, button);
  }

  function grid(headers, rows, attrs) {
    var table = h("table", Object.assign({ class: "grid" }, attrs || {}));
    var tr = h("tr");
    headers.forEach(function (head) {
      var num = head.charAt(0) === "#";
      tr.appendChild(h("th", { class: num ? "num" : null, text: num ? head.slice(1) : head }));
    });
    table.appendChild(h("thead", null, tr));
    var body = h("tbody");
    rows.forEach(function (row) { body.appendChild(row); });
    table.appendChild(body);
    return table;
  }

  function setNav(name) {
    document.querySelectorAll("header.top nav a").forEach(function (a) {
      a.classList.toggle("active", a.getAttribute("data-nav") === name);
    });
  }

  // -- overview -------------------------------------------------------------------------------
  function searchText(t) {
    var parts = [t.key, t.domain, t.description, t.business_purpose, t.owner, t.steward || ""];
    t.columns.forEach(function (c) {
      parts.push(c.name, c.description, c.glossary_term || "");
    });
    return parts.join(" \u0001 ").toLowerCase();
  }

  function matches(t) {
    var s = overviewState;
    if (s.layer && t.layer !== s.layer) return false;
    if (s.domain !== "" && t.domain !== s.domain.replace(/^=/, "")) return false;
    if (s.classification && t.classification !== s.classification) return false;
    if (s.state && t.status.state !== s.state) return false;
    if (s.pii === "any" && t.pii.length === 0) return false;
    if (s.pii === "no" && t.pii.length !== 0) return false;
    if (s.pii && s.pii !== "any" && s.pii !== "no" && t.pii.indexOf(s.pii) < 0) return false;
    if (s.q) {
      var text = t._search || (t._search = searchText(t));
      var words = s.q.toLowerCase().split(/\s+/).filter(Boolean);
      for (var i = 0; i < words.length; i++) if (text.indexOf(words[i]) < 0) return false;
    }
    return true;
  }

  function select(id, label, options, value, onChange) {
    var sel = h("select", { id: id, "aria-label": label });
    options.forEach(function (opt) {
      var o = h("option", { value: opt[0], text: opt[1] });
      if (opt[0] === value) o.selected = true;
      sel.appendChild(o);
    });
    sel.addEventListener("change", function () { onChange(sel.value); });
    return h("label", null, label + " ", sel);
  }

  function overview() {
    setNav("tables");
    var s = SITE.summary;
    var cards = h("div", { class: "cards" },
      h("div", { class: "card" }, h("b", { text: fmtInt(s.tables) }), "tables"),
      SITE.layers.map(function (layer) {
        return h("div", { class: "card" }, h("b", { text: fmtInt(s.by_layer[layer]) }), layer);
      }),
      h("div", { class: "card" }, h("b", { text: fmtInt(s.source_files) }), "source files"),
      h("div", { class: "card" }, h("b", { text: fmtInt(s.runs) }), "runs recorded"),
      h("div", { class: "card" }, h("b", { text: fmtInt(s.states.failed) }), "last run failed"),
      h("div", { class: "card" }, h("b", { text: fmtInt(s.columns_with_pii) }), "columns with PII"));

    var count = h("p", { id: "result-count", class: "muted" });
    var results = h("div", { id: "results" });
    var groups = [];

    function refresh() {
      var shown = 0;
      groups.forEach(function (g) {
        var visible = 0;
        g.rows.forEach(function (r) {
          var ok = matches(r.table);
          r.tr.hidden = !ok;
          if (ok) visible++;
        });
        g.section.hidden = visible === 0;
        g.count.textContent = "(" + visible + ")";
        shown += visible;
      });
      count.textContent = shown + " of " + SITE.tables.length + " tables";
    }

    var search = h("input", {
      id: "search", type: "search", placeholder: "Search tables, columns, owners, descriptions",
      value: overviewState.q, "aria-label": "Search"
    });
    search.addEventListener("input", function () { overviewState.q = search.value; refresh(); });
    function setter(name) { return function (v) { overviewState[name] = v; refresh(); }; }
    var filters = h("div", { class: "filters" }, search,
      select("filter-layer", "Layer", [["", "all"]].concat(SITE.layers.map(function (l) { return [l, l]; })),
        overviewState.layer, setter("layer")),
      select("filter-domain", "Domain", [["", "all"]].concat(SITE.domains.map(function (d) {
        return ["=" + d, d || "(none)"];
      })), overviewState.domain, setter("domain")),
      select("filter-classification", "Classification",
        [["", "all"]].concat(SITE.classifications.map(function (c) { return [c, c]; })),
        overviewState.classification, setter("classification")),
      select("filter-pii", "PII", [["", "all"], ["any", "any PII"], ["no", "no PII"]].concat(
        SITE.pii_classes.filter(function (p) { return p !== "none"; }).map(function (p) { return [p, p]; })),
        overviewState.pii, setter("pii")),
      select("filter-state", "Status", [["", "all"]].concat(Object.keys(SITE.states).map(function (k) {
        return [k, SITE.states[k]];
      })), overviewState.state, setter("state")));

    SITE.layers.forEach(function (layer) {
      var tables = SITE.tables.filter(function (t) { return t.layer === layer; });
      if (!tables.length) return;
      tables.sort(function (a, b) {
        return a.domain.localeCompare(b.domain) || a.name.localeCompare(b.name);
      });
      var rows = tables.map(function (t) {
        var last = t.last_run;
        var tr = h("tr", { "data-key": t.key },
          h("td", null, link(tableHref(t.key), t.name, { class: "table-link" })),
          h("td", { text: t.domain || "" }),
          h("td", { class: "num", text: fmtInt(t.rows) }),
          h("td", null, last ? [fmtTime(last.completed_at), " ", badge(last.status,
            last.status === "failed" ? "state-failed" : "")] : h("span", { class: "muted", text: "none" })),
          h("td", null, badge(t.status.label, "state-" + t.status.state)),
          h("td", { text: t.owner }),
          h("td", null, badge(t.classification, "class-" + t.classification)),
          h("td", null, t.pii.length ? t.pii.map(function (p) { return badge(p, "pii"); }) : ""),
          h("td", { class: "desc", text: t.description }));
        return { table: t, tr: tr };
      });
      var countEl = h("span", { class: "count" });
      var section = h("section", { class: "layer-group", "data-layer": layer },
        h("h2", null, badge(layer, "layer-" + layer), " ", countEl),
        grid(["table", "domain", "#rows", "last run", "status", "owner", "classification", "PII",
          "description"], rows.map(function (r) { return r.tr; })));
      groups.push({ section: section, rows: rows, count: countEl });
      results.appendChild(section);
    });
    var clear = h("button", { type: "button", text: "clear filters", id: "clear-filters" });
    clear.addEventListener("click", function () {
      overviewState = { q: "", layer: "", domain: "", classification: "", pii: "", state: "" };
      render();
    });
    filters.appendChild(clear);
    show([h("h1", { text: (SITE.project || "jobforge") + " catalog" }), cards, filters, count, results]);
    refresh();
    search.focus();
  }

  // -- table page -------------------------------------------------------------------------------
  function tablePage(key, column) {
    setNav("tables");
    var t = byKey[key];
    if (!t) return notFound("no table " + key + " in this catalog");
    var meta = h("dl", { class: "meta" });
    function row(label, value) {
      if (value === null || value === undefined || value === "") value = h("span", { class: "muted", text: "not set" });
      meta.appendChild(h("dt", { text: label }));
      meta.appendChild(h("dd", null, value));
    }
    row("description", t.description);
    row("business purpose", t.business_purpose);
    row("domain", t.domain);
    row("owner", t.owner);
    row("steward", t.steward);
    row("classification", [badge(t.classification, "class-" + t.classification),
      t.classification_origin ? " " + describeOrigin(t.classification_origin) : ""]);
    row("retention", t.retention_days === null ? null : t.retention_days + " days");
    row("rows", fmtInt(t.rows));
    row("columns", fmtInt(t.column_count));
    row("size", fmtBytes(t.file_size_bytes));
    row("schema version", h("code", { text: t.schema_version }));
    row("created", fmtTime(t.created_at));
    row("updated", fmtTime(t.updated_at));
    row("version", t.status.version === null ? null : t.status.version + " (" + t.status.batches + " batch" +
      (t.status.batches === 1 ? "" : "es") + ")");
    row("location", h("code", { text: t.file_path }));

    var lineage = h("dl", { class: "meta" });
    var sources = SITE.sources.filter(function (s) { return s.tables.indexOf(key) >= 0; });
    lineage.appendChild(h("dt", { text: "upstream" }));
    lineage.appendChild(h("dd", null, t.upstream.length ? joinNodes(t.upstream.map(function (k) { return tableLink(k); }))
      : sources.length ? joinNodes(sources.map(function (s) { return link("#/source/" + encodeURIComponent(s.id), s.name); }))
      : h("span", { class: "muted", text: "none" })));
    lineage.appendChild(h("dt", { text: "downstream" }));
    lineage.appendChild(h("dd", null, t.downstream.length ? joinNodes(t.downstream.map(function (k) { return tableLink(k); }))
      : h("span", { class: "muted", text: "none" })));
    lineage.appendChild(h("dt", { text: "picture" }));
    lineage.appendChild(h("dd", null, link("#/lineage/" + encodeURIComponent(key), "this table's lineage")));

    var body = [
      h("div", { class: "crumbs" }, link("#/", "tables"), " / ", t.layer, t.domain ? " / " + t.domain : ""),
      h("h1", { id: "table-title", text: t.key }),
      h("div", null, badge(t.layer, "layer-" + t.layer), badge(t.status.label, "state-" + t.status.state),
        badge(t.classification, "class-" + t.classification), t.pii.map(function (p) { return badge(p, "pii"); })),
      h("h2", { text: "Metadata" }), meta,
      h("h2", { text: "Lineage" }), lineage,
      h("h2", { text: "Columns (" + t.columns.length + ")" }), columnsTable(t, column),
    ];
    if (t.transform) body.push(h("h2", { text: "Transform" }), codeBlock(t.transform));
    body.push(h("h2", { text: "Runs" }), runsSection(t));
    body.push(h("h2", { text: "Quarantine" }), quarantineSection(t));
    body.push(h("h2", { text: "Schema history" }), historySection(t));
    show(body);
    if (column) {
      var target = document.getElementById("col-" + column);
      if (target) target.scrollIntoView({ block: "center" });
    } else {
      window.scrollTo(0, 0);
    }
  }

  function joinNodes(nodes) {
    var out = [];
    nodes.forEach(function (n, i) { if (i) out.push(", "); out.push(n); });
    return out;
  }

  function describeOrigin(origin) {
    if (typeof origin === "string") return origin;
    return JSON.stringify(origin);
  }

  function columnsTable(t, selected) {
    var rows = t.columns.map(function (c) {
      var examples;
      if (c.examples_hidden) examples = badge("hidden: " + c.examples_hidden, "hidden");
      else if (c.examples.length) examples = c.examples.map(function (v) { return h("code", { class: "example", text: v }); });
      else examples = h("span", { class: "muted", text: "none" });
      var lineage = c.lineage.map(function (step) {
        var label = step.table ? tableLink(step.table, step.column)
          : h("span", { text: "source column \u201c" + step.column + "\u201d" });
        return h("div", null, label);
      });
      // how the column is computed from those sources: said once, not per source
      var how = c.lineage_kind || (c.lineage[0] && c.lineage[0].kind);
      var expression = c.lineage_expression || (c.lineage[0] && c.lineage[0].expression);
      if (how) lineage.push(h("div", { class: "muted" }, how, expression ? h("code", { text: " " + expression }) : ""));
      var pii = c.pii ? badge(c.pii, c.pii === "none" ? "" : "pii") : h("span", { class: "muted", text: "not classified" });
      return h("tr", { id: "col-" + c.name, "data-column": c.name, class: c.name === selected ? "highlight" : null },
        h("td", null, h("b", { text: c.name })),
        h("td", { class: "mono", text: c.type + (c.nullable ? "" : " not null") }),
        h("td", { class: "desc", text: c.description }),
        h("td", null, c.glossary_term ? link("#/glossary/" + encodeURIComponent(c.glossary_term),
          termsById[c.glossary_term] ? termsById[c.glossary_term].name : c.glossary_term) : ""),
        h("td", null, pii, c.pii_origin ? h("div", { class: "muted", text: describeOrigin(c.pii_origin) }) : ""),
        h("td", null, lineage.length ? lineage : h("span", { class: "muted", text: "none recorded" }),
          h("div", null, link("#/lineage/" + encodeURIComponent(t.key) + "/" + encodeURIComponent(c.name),
            "show path", { class: "path-link" }))),
        h("td", { class: "examples-cell" }, examples));
    });
    return grid(["column", "type", "description", "glossary term", "PII", "lineage", "examples"], rows,
      { id: "columns" });
  }

  function runsSection(t) {
    if (!t.runs.length) return h("p", { class: "muted", text: "No run recorded." });
    var rows = t.runs.slice().reverse().map(function (r) {
      var l = r.ledger;
      return h("tr", { "data-run": r.id },
        h("td", { text: fmtTime(r.started_at) }),
        h("td", null, badge(r.status, r.status === "failed" ? "state-failed" : r.status === "partial" ? "state-quarantined" : "state-up_to_date"),
          r.current ? badge("current", "") : ""),
        h("td", { text: r.kind === "ingestion" ? "ingestion of " + r.source_file : r.from + " \u2192 " + t.layer }),
        h("td", { class: "mono", text: r.batch_id.slice(0, 8), title: r.batch_id }),
        h("td", { class: "num", text: fmtInt(l.rows_in) }),
        h("td", { class: "num", text: fmtInt(l.rows_out) }),
        h("td", { class: "num", text: fmtInt(l.rows_quarantined) }),
        h("td", { class: "num", text: fmtInt(l.rows_deduplicated) }),
        h("td", { class: "num", text: fmtInt(l.rows_filtered) }),
        h("td", { class: "num", text: fmtInt(l.rows_warned) }),
        h("td", { class: "num", text: r.seconds.toFixed(2) }),
        h("td", { class: "desc", text: r.errors.join("; ") }));
    });
    var note = t.run_count > t.runs.length ? h("p", { class: "muted", text: "The last " + t.runs.length +
      " of " + t.run_count + " runs." }) : null;
    return [chart(t.runs), note, grid(["started", "status", "step", "batch", "#in", "#out", "#quarantined",
      "#deduplicated", "#filtered", "#warned", "#seconds", "errors"], rows, { id: "runs" })];
  }

  var SERIES = [
    ["rows_in", "rows in", "#1f5fbf"],
    ["rows_out", "rows out", "#2e7d32"],
    ["rows_quarantined", "quarantined", "#c62828"],
    ["rows_deduplicated", "deduplicated", "#b26a00"],
  ];

  function svg(tag, attrs) {
    var el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    return el;
  }

  function chart(runs) {
    var width = 640, height = 170, left = 56, right = 12, top = 10, bottom = 26;
    var max = 1;
    runs.forEach(function (r) {
      SERIES.forEach(function (s) { max = Math.max(max, r.ledger[s[0]] || 0); });
    });
    var n = runs.length;
    function x(i) { return left + (n === 1 ? (width - left - right) / 2 : i * (width - left - right) / (n - 1)); }
    function y(v) { return top + (height - top - bottom) * (1 - v / max); }
    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height,
      role: "img", "aria-label": "rows per run", id: "runs-chart" });
    [0, max / 2, max].forEach(function (v) {
      root.appendChild(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), stroke: "#d9dee7" }));
      var label = svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#5b6475" });
      label.textContent = fmtInt(Math.round(v));
      root.appendChild(label);
    });
    [0, n - 1].forEach(function (i) {
      if (i < 0 || (i === n - 1 && n === 1 && i !== 0)) return;
      var label = svg("text", { x: x(i), y: height - 8, "text-anchor": i === 0 && n > 1 ? "start" : "end",
        "font-size": 10, fill: "#5b6475" });
      label.textContent = fmtTime(runs[i].started_at).slice(0, 16);
      root.appendChild(label);
    });
    SERIES.forEach(function (s) {
      var points = runs.map(function (r, i) { return x(i) + "," + y(r.ledger[s[0]] || 0); }).join(" ");
      root.appendChild(svg("polyline", { points: points, fill: "none", stroke: s[2], "stroke-width": 1.6,
        "data-series": s[0] }));
      runs.forEach(function (r, i) {
        var dot = svg("circle", { cx: x(i), cy: y(r.ledger[s[0]] || 0), r: r.status === "failed" ? 4 : 2.6,
          fill: r.status === "failed" ? "#c62828" : s[2] });
        var title = svg("title");
        title.textContent = s[1] + ": " + fmtInt(r.ledger[s[0]]) + " (" + fmtTime(r.started_at) + ", " + r.status + ")";
        dot.appendChild(title);
        root.appendChild(dot);
      });
    });
    var legend = h("div", { class: "legend" }, SERIES.map(function (s) {
      var i = h("i"); i.style.background = s[2];
      return h("span", null, i, s[1]);
    }));
    return h("div", { class: "chart" }, root, legend);
  }

  function quarantineSection(t) {
    var q = t.quarantine;
    var out = [];
    out.push(h("p", null, "Rows of the current version set apart in " + t.layer + ": ",
      h("b", { id: "quarantined-rows", text: fmtInt(q.rows) }),
      q.deduplicated_rows ? " quarantined, " + fmtInt(q.deduplicated_rows) + " dropped as duplicates." : " quarantined."));
    if (q.rules.length) {
      out.push(grid(["rule", "severity", "#rows", "what happens", "see the rows (jobforge query)"],
        q.rules.map(function (r) {
          return h("tr", { "data-rule": r.rule },
            h("td", { class: "mono", text: r.rule }),
            h("td", { text: r.severity }),
            h("td", { class: "num", text: fmtInt(r.rows) }),
            h("td", { text: r.action }),
            h("td", null, r.sql && r.rows ? codeBlock(r.sql) : h("span", { class: "muted", text: r.sql ? "no row" : "rows stay in " + t.layer })));
        }), { id: "quarantine-rules" }));
    }
    if (q.unattributed_rows) {
      out.push(h("p", null, fmtInt(q.unattributed_rows) + " quarantined row(s) are not broken down by rule in the " +
        "lineage records (reader rejects, failed casts or required columns); their rule is in the rows:"));
      out.push(codeBlock(q.by_rule_sql));
    }
    if (q.rows || q.recorded_rows) {
      out.push(h("p", { class: "muted", text: "Every quarantined row of the current version:" }), codeBlock(q.rows_sql));
      out.push(h("p", { class: "muted" }, "or ", h("code", { text: q.command })));
    }
    if (q.duplicates_sql) {
      out.push(h("p", { class: "muted", text: "Rows dropped as duplicates:" }), codeBlock(q.duplicates_sql));
    }
    if (!q.rules.length && !q.rows && !q.recorded_rows && !q.deduplicated_rows) {
      out.push(h("p", { class: "muted", text: "No rule checks this table in this layer." }));
    }
    return out;
  }

  function historySection(t) {
    if (!t.schema_history.length) return h("p", { class: "muted", text: "No schema recorded." });
    var rows = t.schema_history.slice().reverse().map(function (v) {
      var changes;
      if (!v.changes) changes = "first schema";
      else {
        var parts = [];
        if (v.changes.added.length) parts.push("added " + v.changes.added.join(", "));
        if (v.changes.removed.length) parts.push("removed " + v.changes.removed.join(", "));
        v.changes.retyped.forEach(function (r) { parts.push(r.column + ": " + r.from + " \u2192 " + r.to); });
        changes = parts.join("; ") || "column order";
      }
      return h("tr", null,
        h("td", { class: "mono", text: v.schema_version }),
        h("td", { text: fmtTime(v.first_seen) }),
        h("td", { class: "num", text: v.columns.length }),
        h("td", { text: changes }));
    });
    return grid(["schema version", "first seen", "#columns", "changes"], rows, { id: "schema-history" });
  }

  // -- source file page -------------------------------------------------------------------------
  function sourcePage(id) {
    setNav("lineage");
    var s = sourcesById[id];
    if (!s) return notFound("no source file " + id);
    var meta = h("dl", { class: "meta" },
      h("dt", { text: "path" }), h("dd", null, h("code", { text: s.path })),
      h("dt", { text: "sha256" }), h("dd", null, h("code", { text: s.sha256 })),
      h("dt", { text: "size" }), h("dd", { text: fmtBytes(s.size_bytes) }),
      h("dt", { text: "format" }), h("dd", { text: s.format || "" }),
      h("dt", { text: "read into" }), h("dd", null, joinNodes(s.tables.map(function (k) { return tableLink(k); }))));
    var rows = s.batches.map(function (b) {
      return h("tr", null, h("td", null, tableLink(b.table)), h("td", { class: "mono", text: b.batch_id }),
        h("td", { class: "num", text: fmtInt(b.rows) }), h("td", { text: fmtTime(b.ingested_at) }));
    });
    show([h("div", { class: "crumbs" }, link("#/lineage", "lineage"), " / source file"),
      h("h1", { text: s.name }), meta, h("h2", { text: "Batches in the current version" }),
      grid(["table", "batch", "#rows", "ingested"], rows)]);
  }

  // -- lineage picture --------------------------------------------------------------------------
  function nodeWidth(label) {
    return Math.min(280, 24 + 6.4 * label.length);
  }

  function graphElements() {
    var nodes = [];
    SITE.sources.forEach(function (s) {
      nodes.push({ data: { id: s.id, label: s.name, kind: "source", layer: "source", width: nodeWidth(s.name) } });
    });
    SITE.tables.forEach(function (t) {
      nodes.push({ data: { id: t.key, label: t.key, kind: "table", layer: t.layer, domain: t.domain,
        width: nodeWidth(t.key) } });
    });
    SITE.missing.forEach(function (k) {
      nodes.push({ data: { id: k, label: k + " (no entry)", kind: "missing", layer: "missing",
        width: nodeWidth(k + " (no entry)") } });
    });
    var edges = SITE.edges.map(function (e, i) {
      return { data: { id: "e" + i, source: e.from, target: e.to } };
    });
    return nodes.concat(edges);
  }

  function closure(start) {
    // every node upstream and downstream of `start`
    var up = {}, down = {};
    var ups = {}, downs = {};
    SITE.edges.forEach(function (e) {
      (ups[e.to] = ups[e.to] || []).push(e.from);
      (downs[e.from] = downs[e.from] || []).push(e.to);
    });
    function walk(map, seen, id) {
      (map[id] || []).forEach(function (n) { if (!seen[n]) { seen[n] = true; walk(map, seen, n); } });
    }
    walk(ups, up, start);
    walk(downs, down, start);
    var all = Object.assign({}, up, down);
    all[start] = true;
    return all;
  }

  function columnPath(key, column) {
    // { "<table key>": [columns on the path] } and the source files, upstream and downstream
    var onPath = {};
    var sourceIds = {};
    function add(k, c) {
      onPath[k] = onPath[k] || [];
      if (onPath[k].indexOf(c) >= 0) return false;
      onPath[k].push(c);
      return true;
    }
    function up(k, c) {
      if (!add(k, c)) return;
      var t = byKey[k];
      if (!t) return;
      var col = t.columns.filter(function (x) { return x.name === c; })[0];
      if (!col) return;
      col.lineage.forEach(function (step) {
        if (step.table) up(step.table, step.column);
        else SITE.sources.forEach(function (s) { if (s.tables.indexOf(k) >= 0) sourceIds[s.id] = step.column; });
      });
    }
    var reverse = {};
    SITE.tables.forEach(function (t) {
      t.columns.forEach(function (c) {
        c.lineage.forEach(function (step) {
          if (!step.table) return;
          var id = step.table + "\u0000" + step.column;
          (reverse[id] = reverse[id] || []).push([t.key, c.name]);
        });
      });
    });
    function down(k, c) {
      (reverse[k + "\u0000" + c] || []).forEach(function (pair) {
        var fresh = add(pair[0], pair[1]);
        if (fresh) down(pair[0], pair[1]);
      });
    }
    up(key, column);
    down(key, column);
    return { tables: onPath, sources: sourceIds };
  }

  var cy = null;

  function lineagePage(focus, column) {
    setNav("lineage");
    if (focus && !byKey[focus]) return notFound("no table " + focus + " in this catalog");
    var tableSel = h("select", { id: "path-table", "aria-label": "table" });
    tableSel.appendChild(h("option", { value: "", text: "choose a table" }));
    SITE.tables.forEach(function (t) {
      var o = h("option", { value: t.key, text: t.key });
      if (t.key === focus) o.selected = true;
      tableSel.appendChild(o);
    });
    var colSel = h("select", { id: "path-column", "aria-label": "column" });
    function fillColumns() {
      colSel.replaceChildren(h("option", { value: "", text: "whole table" }));
      var t = byKey[tableSel.value];
      (t ? t.columns : []).forEach(function (c) {
        var o = h("option", { value: c.name, text: c.name });
        if (c.name === column) o.selected = true;
        colSel.appendChild(o);
      });
    }
    fillColumns();
    tableSel.addEventListener("change", function () { column = null; fillColumns(); go(); });
    colSel.addEventListener("change", go);
    function go() {
      var k = tableSel.value;
      var c = colSel.value;
      location.hash = k ? "#/lineage/" + encodeURIComponent(k) + (c ? "/" + encodeURIComponent(c) : "") : "#/lineage";
    }
    var legend = h("div", { class: "legend" },
      [["source file", SOURCE_COLOUR]].concat(SITE.layers.map(function (l) { return [l, LAYER_COLOURS[l]]; }))
        .map(function (pair) { var i = h("i"); i.style.background = pair[1]; return h("span", null, i, pair[0]); }));
    var controls = h("div", { class: "graph-controls" }, h("label", null, "Focus ", tableSel),
      h("label", null, "column ", colSel), focus ? link("#/lineage", "whole catalog") : "", legend);
    var container = h("div", { id: "graph" });
    var explain = h("div", { id: "path-explain" });
    var heading = focus ? (column ? "Path of " + focus + "." + column : "Lineage of " + focus) : "Lineage";
    show([h("h1", { text: heading }),
      h("p", { class: "muted", text: "Source files, then staged, bronze, silver and gold, left to right. " +
        "Click a table to open its page." }), controls, container, explain]);
    drawGraph(container, focus, column, explain);
  }

  function goldDepths() {
    // gold tables built on gold tables go one column further right
    var depth = {};
    function of(key) {
      if (depth[key] !== undefined) return depth[key];
      depth[key] = 0;
      var t = byKey[key];
      var d = 0;
      (t ? t.upstream : []).forEach(function (up) {
        if (up.indexOf("gold.") === 0) d = Math.max(d, of(up) + 1);
      });
      depth[key] = d;
      return d;
    }
    SITE.tables.forEach(function (t) { if (t.layer === "gold") of(t.key); });
    return depth;
  }

  function columnOf(data, depths) {
    // source files, then one column per layer, left to right
    if (data.kind === "source") return 0;
    var layer = data.kind === "missing" ? data.id.split(".")[0] : data.layer;
    var index = SITE.layers.indexOf(layer);
    if (index < 0) index = SITE.layers.length - 1;
    return 1 + index + (layer === "gold" ? depths[data.id] || 0 : 0);
  }

  function columnPositions(elements) {
    // x of each column: the widest node of the columns before it, plus a gap
    var depths = goldDepths();
    var widths = [];
    elements.forEach(function (el) {
      if (el.data.source) return;
      var c = columnOf(el.data, depths);
      el.data.column = c;
      widths[c] = Math.max(widths[c] || 0, el.data.width);
    });
    var xs = [];
    var x = 0;
    for (var c = 0; c < widths.length; c++) {
      var w = widths[c] || 0;
      xs[c] = x + w / 2;
      x += w + (w ? 70 : 0);
    }
    return xs;
  }

  function drawGraph(container, focus, column, explain) {
    if (cy) { cy.destroy(); cy = null; }
    if (typeof window.cytoscape !== "function") {
      container.replaceChildren(h("p", { class: "notice", text: "The graph library (vendor/cytoscape.min.js) did not load." }));
      return;
    }
    var keep = focus ? closure(focus) : null;
    var elements = graphElements().filter(function (el) {
      if (!keep) return true;
      if (el.data.source) return keep[el.data.source] && keep[el.data.target];
      return keep[el.data.id];
    });
    var xs = columnPositions(elements);
    cy = window.cytoscape({
      container: container,
      elements: elements,
      minZoom: 0.05,
      style: [
        { selector: "node", style: {
          "shape": "round-rectangle", "label": "data(label)", "text-valign": "center", "text-halign": "center",
          "font-size": 11, "width": "data(width)", "height": 26, "color": "#1d2330",
          "background-color": "#eef1f5", "border-width": 2, "border-color": "#8a94a6", "text-wrap": "wrap",
          "text-max-width": 260 } },
        { selector: "node[layer = 'source']", style: { "border-color": SOURCE_COLOUR, "shape": "tag", "background-color": "#eef6ef" } },
        { selector: "node[layer = 'staged']", style: { "border-color": LAYER_COLOURS.staged } },
        { selector: "node[layer = 'bronze']", style: { "border-color": LAYER_COLOURS.bronze, "background-color": "#f7ece2" } },
        { selector: "node[layer = 'silver']", style: { "border-color": LAYER_COLOURS.silver, "background-color": "#eef1f5" } },
        { selector: "node[layer = 'gold']", style: { "border-color": LAYER_COLOURS.gold, "background-color": "#fbf3dc" } },
        { selector: "node[layer = 'missing']", style: { "border-style": "dashed", "color": "#c62828" } },
        { selector: "edge", style: { "width": 1.5, "line-color": "#aab3c2", "target-arrow-color": "#aab3c2",
          "target-arrow-shape": "triangle", "curve-style": "bezier" } },
        { selector: ".focus", style: { "border-width": 4 } },
        { selector: ".faded", style: { "opacity": 0.18 } },
        { selector: "node.on-path", style: { "border-width": 4, "border-color": "#6a1b9a", "label": "data(pathLabel)",
          "height": 38 } },
        { selector: "edge.on-path", style: { "width": 3, "line-color": "#6a1b9a", "target-arrow-color": "#6a1b9a" } },
      ],
      layout: { name: "preset" },
    });
    // dagre orders the nodes of each column to keep edges short; the column of a
    // node is its layer, so every layer reads as one column
    window.jobforgeGraph = cy;  // for scripts and tests: the graph as drawn
    var layout = cy.layout({ name: "dagre", rankDir: "LR", nodeSep: 14, rankSep: 70, edgeSep: 8,
      transform: function (node, pos) { return { x: xs[node.data("column")], y: pos.y }; } });
    layout.one("layoutstop", function () {
      cy.fit(undefined, 20);
      container.setAttribute("data-ready", "true");
    });
    layout.run();
    if (focus) cy.getElementById(focus).addClass("focus");
    if (focus && column) highlightPath(focus, column, explain);
    cy.on("tap", "node", function (evt) {
      var node = evt.target;
      var kind = node.data("kind");
      if (kind === "table") location.hash = tableHref(node.id());
      else if (kind === "source") location.hash = "#/source/" + encodeURIComponent(node.id());
    });
  }

  function highlightPath(focus, column, explain) {
    var path = columnPath(focus, column);
    cy.elements().addClass("faded");
    Object.keys(path.tables).forEach(function (k) {
      var node = cy.getElementById(k);
      if (!node.length) return;
      node.removeClass("faded").addClass("on-path");
      node.data("pathLabel", k + "\n(" + path.tables[k].join(", ") + ")");
    });
    Object.keys(path.sources).forEach(function (id) {
      var node = cy.getElementById(id);
      node.removeClass("faded").addClass("on-path");
      node.data("pathLabel", node.data("label") + "\n(" + path.sources[id] + ")");
    });
    cy.edges().forEach(function (e) {
      if (e.source().hasClass("on-path") && e.target().hasClass("on-path")) e.removeClass("faded").addClass("on-path");
    });
    var ordered = Object.keys(path.tables).sort(function (a, b) {
      return SITE.layers.indexOf(byKey[a] ? byKey[a].layer : "") - SITE.layers.indexOf(byKey[b] ? byKey[b].layer : "") ||
        a.localeCompare(b);
    });
    var items = [];
    Object.keys(path.sources).forEach(function (id) {
      items.push(h("li", null, "source file ", link("#/source/" + encodeURIComponent(id), sourcesById[id].name),
        ", column \u201c" + path.sources[id] + "\u201d"));
    });
    ordered.forEach(function (k) {
      path.tables[k].forEach(function (c) { items.push(h("li", { "data-path": k + "." + c }, tableLink(k, c))); });
    });
    explain.replaceChildren(h("h2", { text: "Column path" }), h("ol", { class: "path-list", id: "path-list" }, items));
  }

  // -- glossary ---------------------------------------------------------------------------------
  function glossaryPage(termId) {
    setNav("glossary");
    if (!SITE.glossary.length) {
      show([h("h1", { text: "Glossary" }), h("p", { class: "muted", text: "The catalog has no glossary term." })]);
      return;
    }
    var items = SITE.glossary.map(function (term) {
      var columns = term.columns.length ? h("ul", null, term.columns.map(function (c) {
        return h("li", null, tableLink(c.table, c.column));
      })) : h("p", { class: "muted", text: "No column refers to this term." });
      return h("article", { id: "term-" + term.id, class: term.id === termId ? "term highlight" : "term" },
        h("h2", null, term.name, " ", h("span", { class: "muted mono", text: term.id })),
        h("p", { text: term.definition }),
        h("dl", { class: "meta" },
          h("dt", { text: "owner" }), h("dd", { text: term.owner || "not set" }),
          h("dt", { text: "related terms" }), h("dd", null, term.related.length ? joinNodes(term.related.map(function (r) {
            return link("#/glossary/" + encodeURIComponent(r), termsById[r] ? termsById[r].name : r);
          })) : h("span", { class: "muted", text: "none" }))),
        h("h3", { text: "Columns (" + term.columns.length + ")" }), columns);
    });
    show([h("h1", { text: "Glossary" }), items]);
    if (termId) {
      var el = document.getElementById("term-" + termId);
      if (el) el.scrollIntoView();
    }
  }

  function notFound(message) {
    show([h("h1", { text: "Not found" }), h("p", { text: message }), link("#/", "back to the tables")]);
  }

  // -- routing ------------------------------------------------------------------------------------
  function render() {
    var hash = location.hash.replace(/^#\/?/, "");
    var parts = hash.split("/").map(function (p) { return decodeURIComponent(p); });
    if (cy && parts[0] !== "lineage") { cy.destroy(); cy = null; window.jobforgeGraph = null; }
    if (!hash) overview();
    else if (parts[0] === "table") tablePage(parts[1], parts[2]);
    else if (parts[0] === "lineage") lineagePage(parts[1], parts[2]);
    else if (parts[0] === "source") sourcePage(parts[1]);
    else if (parts[0] === "glossary") glossaryPage(parts[1]);
    else notFound("no page " + hash);
  }

  function start() {
    if (!SITE) {
      show(h("p", { class: "notice", text: "site-data.js did not load: rebuild the site with `jobforge docs build`." }));
      return;
    }
    SITE.tables.forEach(function (t) { byKey[t.key] = t; });
    SITE.sources.forEach(function (s) { sourcesById[s.id] = s; });
    SITE.glossary.forEach(function (t) { termsById[t.id] = t; });
    // the UMD build of cytoscape-dagre registers itself when cytoscape is loaded first
    if (window.cytoscape && window.cytoscapeDagre) {
      try { window.cytoscape.use(window.cytoscapeDagre); } catch (e) { /* already registered */ }
    }
    document.getElementById("generated").textContent = "Built " + fmtTime(SITE.generated_at) + " by " +
      SITE.generator + " from the catalog (" + SITE.summary.tables + " tables, " + SITE.summary.runs + " runs).";
    window.addEventListener("hashchange", render);
    render();
  }

  start();
})();
