// Analyzes KQL queries with Kusto's own language service (@kusto/language-service-next) against
// declared table schemas and prints every diagnostic as JSON. Driven by queries_test.go.
//
// usage: node analyze.js <path of @kusto/language-service-next> < request.json
// request: {"database": "name", "tables": {"AppTraces": "(TimeGenerated:datetime, ...)"},
//           "queries": [{"name": "...", "text": "..."}]}
// output:  [{"name": "...", "diagnostics": [{"severity", "code", "message", "start", "length"}]}]
'use strict';
const fs = require('fs');
const path = require('path');

const pkg = process.argv[2];
if (!pkg) {
  console.error('usage: node analyze.js <package dir> < request.json');
  process.exit(2);
}
// Bridge.NET output: bridge.js defines the runtime, the library then defines the global Kusto.
require(path.join(pkg, 'bridge.js'));
require(path.join(pkg, 'Kusto.Language.Bridge.js'));
const K = globalThis.Kusto.Language;

const req = JSON.parse(fs.readFileSync(0, 'utf8'));
const tables = Object.entries(req.tables).map(
  ([name, schema]) => new K.Symbols.TableSymbol.$ctor7(name, schema, null));
const db = new K.Symbols.DatabaseSymbol.$ctor1(req.database || 'db', tables, false);
const globals = K.GlobalState.Default.WithDatabase(db);

const out = [];
for (const q of req.queries) {
  const code = K.KustoCode.ParseAndAnalyze(q.text, globals);
  const diags = code.GetDiagnostics();
  const list = [];
  for (let i = 0; i < diags.Count; i++) {
    const d = diags.getItem(i);
    list.push({ severity: d.Severity, code: d.Code, message: d.Message, start: d.Start, length: d.Length });
  }
  out.push({ name: q.name, diagnostics: list });
}
process.stdout.write(JSON.stringify(out));
