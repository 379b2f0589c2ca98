#!/usr/bin/env bash
# Checks the Swift code where Swift cannot be built (Linux CI):
#  1. every .swift file under swift/ parses with tree-sitter-swift (no ERROR
#     or MISSING node);
#  2. every bridge function the Swift code calls (vnet_*) is declared in
#     bridge/vnet.h with the same number of arguments, and every function
#     vnet.h declares is called somewhere (so the two cannot drift apart).
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

NODE_PATH=$REPO/node_modules node - bridge/vnet.h "${files[@]}" <<'JS'
const fs = require("fs");
const Parser = require("tree-sitter");
const Swift = require("tree-sitter-swift");

const [header, ...files] = process.argv.slice(2);
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

function walk(node, visit) {
  visit(node);
  for (const child of node.children) walk(child, visit);
}

for (const file of files) {
  const src = fs.readFileSync(file, "utf8");
  const tree = parser.parse(src, null, { bufferSize: 4 * src.length + 65536 });
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
if (failures > 0) {
  console.error(`check-swift: ${failures} problems`);
  process.exit(1);
}
console.log(`check-swift: ${files.length} Swift files parse; ${called.size} bridge functions called with the arguments ${header} declares`);
JS
