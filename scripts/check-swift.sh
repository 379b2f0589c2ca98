#!/usr/bin/env bash
# Checks the Swift code where Swift cannot be built (Linux CI):
#  1. every .swift file under swift/ parses with tree-sitter-swift (no ERROR
#     or MISSING node);
#  2. every bridge function the Swift code calls (vnet_*) is declared in
#     bridge/vnet.h with the same number of arguments, and every function
#     vnet.h declares is called somewhere (so the two cannot drift apart);
#  3. every key the Swift code decodes from the bridge's JSON is in the
#     golden file the Go test writes (bridge/testdata/*.golden.json,
#     TestGoldenJSON): each Decodable struct is reached from a root below
#     (ROOTS) through its properties' types, its keys are its CodingKeys or
#     its stored properties' names, matched as JSONDecoder's
#     .convertFromSnakeCase matches them; and every key of the dictionary
#     literal Swift passes to vnet_start (`let config: [String: Any]`) is in
#     config.golden.json. So a field renamed on either side breaks CI;
#  4. nothing the extension does can hang vnet_stop: every .wait() has a
#     timeout, every timeout vnet.h defines (VNET_*_MS) is used by the
#     Swift code, and vnet_diagnose (up to 10 s) is never called on the
#     queue that stopTunnel waits on.
# Needs node and the npm packages tree-sitter and tree-sitter-swift in
# ./node_modules: when they are missing it installs them (npm, then node-gyp
# to build tree-sitter's binding), as `scripts/check-swift.sh --install` does.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

install() {
	npm install --no-save --no-audit --no-fund --ignore-scripts --legacy-peer-deps tree-sitter@0.25.0 tree-sitter-swift@0.7.1
	# tree-sitter-swift ships a linux-x64 prebuild; tree-sitter's own binding
	# is compiled here, against the installed node's headers when present.
	local nodedir=()
	[ -f /usr/include/node/node.h ] && nodedir=(--nodedir=/usr)
	(cd node_modules/tree-sitter && npx --yes node-gyp rebuild --loglevel=error "${nodedir[@]}" >/dev/null)
}
if [ "${1:-}" = "--install" ]; then
	install
	exit 0
fi

if ! command -v node >/dev/null 2>&1; then
	echo "check-swift: node is not installed (apt-get install nodejs npm)" >&2
	exit 1
fi
if [ ! -d node_modules/tree-sitter-swift ] || ! ls node_modules/tree-sitter/build/Release/*.node >/dev/null 2>&1; then
	echo "check-swift: installing tree-sitter and tree-sitter-swift into node_modules (npm)" >&2
	install >&2 || {
		echo "check-swift: could not install tree-sitter: see above; retry with scripts/check-swift.sh --install" >&2
		exit 1
	}
fi

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- 'swift/*.swift' 'swift/**/*.swift' | sort -u)
if [ ${#files[@]} -eq 0 ]; then
	echo "check-swift: no .swift files under swift/" >&2
	exit 1
fi

NODE_PATH=$REPO/node_modules node - bridge/vnet.h bridge/testdata "${files[@]}" <<'JS'
const fs = require("fs");
const path = require("path");
const Parser = require("tree-sitter");
const Swift = require("tree-sitter-swift");

const [header, goldenDir, ...files] = process.argv.slice(2);

// The Swift types that decode a whole bridge JSON, and its golden file.
const ROOTS = {
  BridgeStatus: "status.golden.json",       // vnet_status
  ProfileList: "profiles.golden.json",      // vnet_profiles
  Diagnosis: "diagnosis.golden.json",       // vnet_diagnose
  TunnelSettings: "settings.golden.json",   // apply_settings
};
const CONFIG_GOLDEN = "config.golden.json"; // vnet_start, built by Swift
const h = fs.readFileSync(header, "utf8");

// The functions vnet.h declares (name -> parameter count) and its types.
const decls = new Map();
for (const m of h.matchAll(/^(?:int64_t|int|void)\s+(vnet_\w+)\(([^)]*)\);/gm)) {
  const params = m[2].trim();
  decls.set(m[1], params === "" || params === "void" ? 0 : params.split(",").length);
}
const types = new Set([...h.matchAll(/}\s*(vnet_\w+);/g)].map((m) => m[1]));
if (decls.size === 0) {
  console.error(`check-swift: no function declarations found in ${header}`);
  process.exit(1);
}

const parser = new Parser();
parser.setLanguage(Swift);
let failures = 0;
const fail = (msg) => { console.error(msg); failures++; };
const called = new Set();
const trees = new Map(); // file -> its syntax tree

function walk(node, visit) {
  visit(node);
  for (const child of node.children) walk(child, visit);
}

for (const file of files) {
  const src = fs.readFileSync(file, "utf8");
  const tree = parser.parse(src, null, { bufferSize: 4 * src.length + 65536 });
  trees.set(file, tree);
  walk(tree.rootNode, (n) => {
    if (n.type === "ERROR" || n.isMissing) {
      const at = `${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}`;
      fail(`${at}: syntax error (${n.isMissing ? "missing " + n.type : "unexpected " + JSON.stringify(n.text.slice(0, 40))})`);
    }
    if (n.type !== "call_expression") return;
    const callee = n.child(0);
    if (!callee || callee.type !== "simple_identifier" || !callee.text.startsWith("vnet_") || types.has(callee.text)) return;
    const suffix = n.children.find((c) => c.type === "call_suffix");
    let args = 0;
    for (const c of suffix ? suffix.children : []) {
      if (c.type === "value_arguments") args += c.namedChildren.filter((a) => a.type === "value_argument").length;
      if (c.type === "lambda_literal") args++; // a trailing closure
    }
    const at = `${file}:${n.startPosition.row + 1}`;
    const name = callee.text;
    called.add(name);
    if (!decls.has(name)) fail(`${at}: ${name} is not declared in ${header}`);
    else if (decls.get(name) !== args) fail(`${at}: ${name} called with ${args} arguments; ${header} declares ${decls.get(name)}`);
  });
}
for (const name of decls.keys()) {
  if (!called.has(name)) fail(`${header}: ${name} is declared but no Swift code calls it`);
}

// 3. The JSON contracts.
const golden = new Map();
for (const f of fs.readdirSync(goldenDir).filter((f) => f.endsWith(".golden.json")).sort()) {
  golden.set(f, JSON.parse(fs.readFileSync(path.join(goldenDir, f), "utf8")));
}
const used = new Set();

// JSONDecoder's .convertFromSnakeCase: "match_domains_no_search" ->
// "matchDomainsNoSearch" (leading and trailing underscores kept; words
// after the first capitalized, the rest of each lower-cased).
function camel(key) {
  const m = key.match(/^(_*)(.*?)(_*)$/);
  const words = m[2].split("_");
  if (words.length === 1) return key;
  const cap = (w) => (w ? w[0].toUpperCase() + w.slice(1).toLowerCase() : "");
  return m[1] + words[0] + words.slice(1).map(cap).join("") + m[3];
}

// Every Decodable (or Codable) struct, by dotted name, with where it is.
const structs = new Map();
function collect(node, scope, file) {
  for (const c of node.namedChildren) {
    if (c.type !== "class_declaration") continue;
    const kind = c.children[0] && c.children[0].type;
    const name = c.childForFieldName("name").text;
    const full = scope ? `${scope}.${name}` : name;
    const inherits = c.namedChildren.filter((x) => x.type === "inheritance_specifier").map((x) => x.text);
    const body = c.childForFieldName("body");
    if (kind === "struct" && inherits.some((i) => i === "Decodable" || i === "Codable")) {
      structs.set(full, { node: c, body, file });
    }
    if (body) collect(body, full, file);
  }
}
for (const [file, tree] of trees) collect(tree.rootNode, "", file);

// The keys a struct decodes: its CodingKeys' (raw values, else case
// names), else its stored properties' names; each with the type it
// decodes into (null for CodingKeys, whose types are not checked).
function keysOf(s) {
  const props = new Map();
  let codingKeys = null;
  for (const c of s.body.namedChildren) {
    if (c.type === "class_declaration" && c.childForFieldName("name").text === "CodingKeys") {
      codingKeys = [];
      for (const e of c.childForFieldName("body").namedChildren.filter((x) => x.type === "enum_entry")) {
        for (const x of e.namedChildren) {
          if (x.type === "simple_identifier") codingKeys.push(x.text);
          else if (x.type === "line_string_literal") codingKeys[codingKeys.length - 1] = x.text.slice(1, -1);
        }
      }
    }
    if (c.type !== "property_declaration" || c.childForFieldName("computed_value")) continue;
    if (c.namedChildren.some((x) => x.type === "modifiers" && /\bstatic\b/.test(x.text))) continue;
    const name = c.childForFieldName("name");
    const type = c.namedChildren.find((x) => x.type === "type_annotation");
    if (name && type) props.set(name.text, { type: type.childForFieldName("name"), row: c.startPosition.row + 1 });
  }
  if (codingKeys) return codingKeys.map((k) => ({ key: k, type: props.has(k) ? props.get(k).type : null, row: props.has(k) ? props.get(k).row : s.node.startPosition.row + 1 }));
  return [...props].map(([k, v]) => ({ key: k, type: v.type, row: v.row }));
}

// resolve finds the struct a type name means inside scope, as Swift does:
// innermost first.
function resolve(name, scope) {
  for (let s = scope; ; s = s.includes(".") ? s.slice(0, s.lastIndexOf(".")) : "") {
    const full = s ? `${s}.${name}` : name;
    if (structs.has(full)) return full;
    if (!s) return null;
  }
}

const reached = new Set();
function check(full, value, where) {
  const s = structs.get(full);
  reached.add(full);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    fail(`${s.file}:${s.node.startPosition.row + 1}: ${full} decodes an object, but ${where} is ${JSON.stringify(value)}`);
    return;
  }
  const byCamel = new Map(Object.keys(value).map((k) => [camel(k), k]));
  for (const { key, type, row } of keysOf(s)) {
    const json = byCamel.get(key);
    if (json === undefined) {
      fail(`${s.file}:${row}: ${full}.${key} is not a key of ${where} (it has ${Object.keys(value).join(", ")}): rename the Swift field or the Go one, then go test ./bridge -run TestGoldenJSON -update`);
      continue;
    }
    if (!type) continue;
    // Unwrap T?, [T] to the struct T, if it is one of ours.
    let t = type, v = value[json], at = `${where}.${json}`;
    for (;;) {
      if (t.type === "optional_type") t = t.childForFieldName("wrapped");
      else if (t.type === "array_type") {
        if (!Array.isArray(v)) { fail(`${s.file}:${row}: ${full}.${key} is an array, but ${at} is ${JSON.stringify(v)}`); break; }
        t = t.childForFieldName("name"); v = v[0]; at += "[]";
      } else break;
    }
    if (t.type !== "user_type") continue;
    const nested = resolve(t.text, full);
    if (nested) check(nested, v, at);
  }
}

for (const [root, file] of Object.entries(ROOTS)) {
  used.add(file);
  if (!structs.has(root)) fail(`check-swift: ROOTS names ${root}, but no Swift file declares a Decodable struct ${root}`);
  else if (!golden.has(file)) fail(`check-swift: no ${goldenDir}/${file} for ${root} (go test ./bridge -run TestGoldenJSON -update)`);
  else check(root, golden.get(file), file);
}
for (const [full, s] of structs) {
  if (!reached.has(full)) fail(`${s.file}:${s.node.startPosition.row + 1}: ${full} is Decodable but no golden file covers it: add it to ROOTS in scripts/check-swift.sh, or make it a property of a struct that is`);
}

// vnet_start's config: a dictionary literal Swift builds itself.
used.add(CONFIG_GOLDEN);
let configs = 0;
for (const [file, tree] of trees) {
  walk(tree.rootNode, (n) => {
    if (n.type !== "property_declaration") return;
    const name = n.childForFieldName("name"), value = n.childForFieldName("value");
    if (!name || name.text !== "config" || !value || value.type !== "dictionary_literal") return;
    configs++;
    const want = golden.get(CONFIG_GOLDEN) || {};
    for (const k of value.childrenForFieldName("key")) {
      const key = k.type === "line_string_literal" ? k.text.slice(1, -1) : k.text;
      if (!(key in want)) fail(`${file}:${k.startPosition.row + 1}: vnet_start config key ${JSON.stringify(key)} is not in ${CONFIG_GOLDEN} (it has ${Object.keys(want).join(", ")})`);
    }
  });
}
if (configs === 0) fail(`check-swift: no Swift code builds vnet_start's config (let config: [String: Any] = [...]) to check against ${CONFIG_GOLDEN}`);
for (const f of golden.keys()) {
  if (!used.has(f)) fail(`${goldenDir}/${f}: no Swift type is checked against it: add its root to ROOTS in scripts/check-swift.sh`);
}
// 4. Waits and queues.
const navName = (n) => (n && n.type === "navigation_expression" ? n.text.split(".").pop() : null);
const navTarget = (n) => (n && n.type === "navigation_expression" ? n.text.slice(0, n.text.lastIndexOf(".")).replace(/^self\./, "") : null);
const valueArgs = (call) => {
  const suffix = call.children.find((c) => c.type === "call_suffix");
  let args = 0;
  for (const c of suffix ? suffix.children : []) {
    if (c.type === "value_arguments") args += c.namedChildren.filter((a) => a.type === "value_argument").length;
    if (c.type === "lambda_literal") args++;
  }
  return args;
};
const idents = new Set();
const stopQueues = new Set();
for (const [file, tree] of trees) {
  walk(tree.rootNode, (n) => {
    if (n.type === "simple_identifier") idents.add(n.text);
    if (n.type === "function_declaration" && n.childForFieldName("name") && n.childForFieldName("name").text === "stopTunnel") {
      walk(n, (c) => {
        if (c.type === "call_expression" && ["async", "sync"].includes(navName(c.child(0)))) stopQueues.add(navTarget(c.child(0)));
      });
    }
    if (n.type === "call_expression" && navName(n.child(0)) === "wait" && valueArgs(n) === 0) {
      fail(`${file}:${n.startPosition.row + 1}: ${n.text} waits without a timeout: wait(timeout:) with vnet.h's VNET_SETTINGS_TIMEOUT_MS, or the extension can hang vnet_stop`);
    }
  });
}
for (const m of h.matchAll(/^#define (VNET_\w+_MS)\b/gm)) {
  if (!idents.has(m[1])) fail(`${header}: ${m[1]} is a timeout the Swift code must keep, but no Swift code uses it`);
}
if (stopQueues.size === 0) fail("check-swift: found no stopTunnel that stops the core on a queue (queue.async { vnet_stop(...) })");
for (const [file, tree] of trees) {
  walk(tree.rootNode, (n) => {
    if (n.type !== "call_expression" || !n.child(0) || n.child(0).text !== "vnet_diagnose") return;
    for (let a = n.parent; a; a = a.parent) {
      if (a.type === "call_expression" && ["async", "sync"].includes(navName(a.child(0))) && stopQueues.has(navTarget(a.child(0)))) {
        fail(`${file}:${n.startPosition.row + 1}: vnet_diagnose runs on ${navTarget(a.child(0))}, the queue stopTunnel waits on: a diagnosis (up to 10 s) would hold up vnet_stop`);
      }
    }
  });
}

if (failures > 0) {
  console.error(`check-swift: ${failures} problems`);
  process.exit(1);
}
console.log(`check-swift: ${files.length} Swift files parse; ${called.size} bridge functions called with the arguments ${header} declares; ${reached.size} Decodable structs and ${configs} config literal match ${goldenDir}; every wait has a timeout and vnet_diagnose stays off stopTunnel's queue`);
JS
