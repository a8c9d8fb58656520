#!/usr/bin/env node
/**
 * Codebase metrics of a source tree, read with the TypeScript compiler API (syntax only, no type checking):
 * the longest functions under src/, the files outside src/ir/ that assign the IR graph's lists and links
 * (.nodes, .inputs, .outputs, .producer, .initializers, .consumers, .uses), the places that spell the training
 * step's input/output names as string literals outside the contract's own declarations (src/step/contract.ts),
 * the places that declare the train options (the learning-rate and alpha flags, defaults and option types), the
 * "is this the ai.onnx domain" checks written out by hand, docs/PERFORMANCE.md's length and how scripts/ is
 * laid out. It backs the before/after figures of the restructuring (docs/CONTRIBUTING.md): run it on this tree
 * and on a worktree of an older commit (`--root DIR`; the script itself only reads that tree). The definitions
 * are heuristics over the syntax tree, each described where it is computed; they count what a reader would
 * count by hand, not what the type checker could prove.
 *
 *   node scripts/bench/code-metrics.mjs [--root DIR] [--json] [--top N]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const value = (name, fallback) => {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  if (i + 1 >= argv.length) throw new Error(`${name} needs a value`);
  return argv[i + 1];
};
if (flag('--help') || flag('-h')) {
  console.log('usage: node scripts/bench/code-metrics.mjs [--root DIR] [--json] [--top N]');
  process.exit(0);
}
const root = resolve(value('--root', join(here, '..', '..')));
const top = Number(value('--top', '10'));
const srcDir = join(root, 'src');
if (!existsSync(srcDir)) {
  console.error(`${srcDir}: no such folder (give the tree with --root DIR)`);
  process.exit(2);
}

/** Every .ts file under `dir` (not .d.ts), sorted, as paths relative to the root with '/' separators. */
function tsFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(dir);
  return out.map((p) => relative(root, p).split(sep).join('/')).sort();
}

const files = tsFiles(srcDir).map((rel) => {
  const text = readFileSync(join(root, rel), 'utf8');
  return { rel, sf: ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS) };
});

const lineOf = (sf, pos) => sf.getLineAndCharacterOfPosition(pos).line + 1;
const where = (sf, node) => `${sf.fileName}:${lineOf(sf, node.getStart(sf))}`;
const unparen = (e) => {
  while (e && (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isNonNullExpression(e) || ts.isSatisfiesExpression?.(e))) e = e.expression;
  return e;
};
const propName = (name) => (name && (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isPrivateIdentifier(name)) ? name.text : undefined);
function forEachNode(node, visit) {
  visit(node);
  ts.forEachChild(node, (c) => forEachNode(c, visit));
}

// 1. Functions: declarations, methods (class and object-literal), constructors, accessors, and arrow functions
// and function expressions that are given a name (a variable, a property, a class field, an assignment).
// Anonymous callbacks do not count; nested functions count separately. Lines: from the first token of the
// function (its JSDoc left out) to its last, both included.
function functionName(node) {
  const cls = (n) => (n.parent && (ts.isClassDeclaration(n.parent) || ts.isClassExpression(n.parent)) ? `${n.parent.name?.text ?? '(class)'}.` : '');
  const objectOwner = (lit) => {
    const p = lit.parent;
    return p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name) ? `${p.name.text}.` : '';
  };
  if (ts.isFunctionDeclaration(node)) return node.name?.text ?? 'default';
  if (ts.isConstructorDeclaration(node)) return `${cls(node)}constructor`;
  if (ts.isMethodDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) {
    const n = propName(node.name) ?? node.name.getText();
    if (ts.isObjectLiteralExpression(node.parent)) return `${objectOwner(node.parent)}${n}`;
    return `${cls(node)}${n}`;
  }
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
    let p = node.parent;
    while (p && (ts.isParenthesizedExpression(p) || ts.isAsExpression(p) || ts.isSatisfiesExpression?.(p))) p = p.parent;
    if (!p) return undefined;
    if (ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
    if (ts.isPropertyDeclaration(p)) return `${cls(p)}${propName(p.name) ?? p.name.getText()}`;
    if (ts.isPropertyAssignment(p)) return `${objectOwner(p.parent)}${propName(p.name) ?? p.name.getText()}`;
    if (ts.isBinaryExpression(p) && p.operatorToken.kind === ts.SyntaxKind.EqualsToken && p.right === unparen(p.right) && unparen(p.right) === node) return p.left.getText();
    if (ts.isFunctionExpression(node) && node.name) return node.name.text;
  }
  return undefined;
}
const functions = [];
for (const { sf } of files) {
  forEachNode(sf, (node) => {
    if (!ts.isFunctionLike(node) || !('body' in node) || !node.body) return;
    const name = functionName(node);
    if (!name) return;
    const start = lineOf(sf, node.getStart(sf));
    const end = lineOf(sf, node.getEnd());
    functions.push({ name, file: sf.fileName, line: start, lines: end - start + 1 });
  });
}
functions.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line);

// 2. Writes to the IR's lists and links outside src/ir/: an assignment (=, compound, `x.f[i] =`, `x.f.length =`)
// whose target is `<anything>.f`, or a mutating array call `<anything>.f.push/splice/unshift/pop/shift/sort/
// reverse/fill(...)`, for f among the IR's list and link fields. Plural names only: ONNX protos' `.input`,
// `.output`, `.initializer`, `.node` are not the IR's. Without types, any object with such a field matches.
const IR_FIELDS = new Set(['nodes', 'inputs', 'outputs', 'producer', 'initializers', 'consumers', 'uses']);
const MUTATORS = new Set(['push', 'splice', 'unshift', 'pop', 'shift', 'sort', 'reverse', 'fill']);
const isAssignOp = (k) => k >= ts.SyntaxKind.FirstAssignment && k <= ts.SyntaxKind.LastAssignment;
const irField = (e) => {
  e = unparen(e);
  return e && ts.isPropertyAccessExpression(e) && IR_FIELDS.has(e.name.text) ? e.name.text : undefined;
};
const irWrites = [];
for (const { rel, sf } of files) {
  if (rel.startsWith('src/ir/')) continue;
  forEachNode(sf, (node) => {
    let field;
    let how;
    if (ts.isBinaryExpression(node) && isAssignOp(node.operatorToken.kind)) {
      const t = unparen(node.left);
      const op = node.operatorToken.getText(sf);
      if ((field = irField(t))) how = op;
      else if (ts.isElementAccessExpression(t) && (field = irField(t.expression))) how = `[i] ${op}`;
      else if (ts.isPropertyAccessExpression(t) && t.name.text === 'length' && (field = irField(t.expression))) how = `length ${op}`;
    } else if ((ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) && [ts.SyntaxKind.PlusPlusToken, ts.SyntaxKind.MinusMinusToken].includes(node.operator)) {
      const t = unparen(node.operand);
      if (ts.isPropertyAccessExpression(t) && t.name.text === 'length' && (field = irField(t.expression))) how = 'length ++/--';
    } else if (ts.isCallExpression(node)) {
      const c = unparen(node.expression);
      if (ts.isPropertyAccessExpression(c) && MUTATORS.has(c.name.text) && (field = irField(c.expression))) how = c.name.text;
    }
    if (field) irWrites.push({ file: rel, line: lineOf(sf, node.getStart(sf)), field, how, text: node.getText(sf).split('\n')[0].slice(0, 100) });
  });
}
const irWriteFiles = [...new Set(irWrites.map((w) => w.file))];

// 3. The step contract's names spelled outside its declarations. The contract's names are the exported values
// of src/step/contract.ts (this tree's, or else this script's own tree's, so that an older tree whose contract
// was spread over src/build/ is measured by today's list); literals inside the top-level declarations of those
// names, wherever they are, are the contract itself and do not count. What counts, in string and template
// literals anywhere else under src/:
//   prefix    a literal (or a template's head) that starts with new/, state., grad/ or fetched/ (not a file
//             name such as 'state.safetensors');
//   stateName a template `${a}.${b}` (not of a `domain`: `${n.domain}.${op}` is an op name), or `${a}.SUFFIX`
//             for a state or group suffix (no_decay, exp_avg, exp_avg_sq, momentum_buffer, m, v);
//   name      a literal equal to one of the contract's distinctive IO names (those with '_': teacher_logits,
//             max_grad_norm, apply_update, grad_norm, grad_scale). The one-word names (labels, alpha, lr, step,
//             loss, ...) are also option and variable names and are left out, and so is an option table's
//             `hf: 'max_grad_norm'` (Hugging Face's TrainingArguments name).
// Property names spelled as identifiers (`feeds.max_grad_norm = ...`) are listed apart: the manifest's own
// fields (split_step.grad_scale) are spelled the same way.
const contractFile = [join(root, 'src/step/contract.ts'), join(here, '..', '..', 'src/step/contract.ts')].find(existsSync);
const CONTRACT_FALLBACK = ['STEP_IO', 'SPLIT_IO', 'METRICS', 'newName', 'stateName', 'stateSuffix', 'fetchedName', 'updateModelKey', 'STUDENT_FILE'];
function contractNames() {
  if (!contractFile) return { names: new Set(CONTRACT_FALLBACK), ioNames: new Set(['teacher_logits', 'max_grad_norm', 'apply_update', 'grad_norm', 'grad_scale']) };
  const sf = ts.createSourceFile(contractFile, readFileSync(contractFile, 'utf8'), ts.ScriptTarget.Latest, true);
  const names = new Set();
  const ioNames = new Set();
  for (const s of sf.statements) {
    const exported = ts.getModifiers?.(s)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (!exported) continue;
    if (ts.isFunctionDeclaration(s) && s.name && s.name.text !== 'parseManifest') names.add(s.name.text);
    if (!ts.isVariableStatement(s)) continue;
    for (const d of s.declarationList.declarations) {
      if (!ts.isIdentifier(d.name)) continue;
      if (['MANIFEST_FORMAT', 'BUILD_TARGETS'].includes(d.name.text)) continue; // manifest, not step IO
      names.add(d.name.text);
      if (['STEP_IO', 'SPLIT_IO'].includes(d.name.text) && d.initializer) {
        forEachNode(d.initializer, (n) => {
          if (ts.isStringLiteral(n) && n.parent && ts.isPropertyAssignment(n.parent) && n.parent.initializer === n && n.text.includes('_')) ioNames.add(n.text);
        });
      }
    }
  }
  return { names, ioNames };
}
const contract = contractNames();
const STATE_SUFFIXES = new Set(['no_decay', 'exp_avg', 'exp_avg_sq', 'momentum_buffer', 'm', 'v']);
const PREFIXES = ['new/', 'state.', 'grad/', 'fetched/'];
const FILE_NAME = /^[\w.-]+\.(safetensors|json|onnx|bin|pt|txt)$/; // 'state.safetensors' is a checkpoint file
const isContractDecl = (n) =>
  ((ts.isVariableDeclaration(n) && ts.isIdentifier(n.name)) || ts.isFunctionDeclaration(n)) && n.name && contract.names.has(n.name.text)
  && (ts.isFunctionDeclaration(n) || ts.isSourceFile(n.parent?.parent?.parent));
// `hf: 'max_grad_norm'` in the option table is Hugging Face's TrainingArguments name, which the IO name copies.
const isHfName = (lit) => ts.isPropertyAssignment(lit.parent) && lit.parent.initializer === lit && propName(lit.parent.name) === 'hf';
const ioSpellings = [];
const ioIdentifiers = [];
for (const { rel, sf } of files) {
  const visit = (node) => {
    if (isContractDecl(node)) return;
    let kind;
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      if (PREFIXES.some((p) => node.text.startsWith(p)) && !FILE_NAME.test(node.text)) kind = 'prefix';
      else if (contract.ioNames.has(node.text) && !isHfName(node)) kind = 'name';
    } else if (ts.isTemplateExpression(node)) {
      const spans = node.templateSpans;
      const mentionsDomain = spans.some((s) => /domain/i.test(s.expression.getText(sf)));
      if (PREFIXES.some((p) => node.head.text.startsWith(p))) kind = 'prefix';
      else if (node.head.text === '' && !mentionsDomain && spans.length === 2 && spans[0].literal.text === '.' && spans[1].literal.text === '') kind = 'stateName';
      else if (node.head.text === '' && spans.length === 1 && spans[0].literal.text.startsWith('.') && STATE_SUFFIXES.has(spans[0].literal.text.slice(1))) kind = 'stateName';
    } else if ((ts.isPropertyAccessExpression(node) && contract.ioNames.has(node.name.text))
      || ((ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) && ts.isIdentifier(node.name) && contract.ioNames.has(node.name.text))) {
      ioIdentifiers.push({ file: rel, line: lineOf(sf, node.getStart(sf)), text: node.getText(sf).split('\n')[0].slice(0, 80) });
    }
    if (kind) ioSpellings.push({ file: rel, line: lineOf(sf, node.getStart(sf)), kind, text: node.getText(sf).split('\n')[0].slice(0, 80) });
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
const ioSpellingFiles = [...new Set(ioSpellings.map((s) => s.file))];

// 4. Declarations of a train option, for learning-rate and alpha: `flag` (a yargs `.option('learning-rate', ...)`,
// a 'learning-rate' key of an object given to `.options(...)`, or `flag: 'learning-rate'` in an option table),
// `default` (a numeric literal for learningRate in an object literal that initializes a variable named *default*:
// TRAIN_DEFAULTS, RUN_DEFAULTS; not the demo's own settings or a call's arguments), `type` (a learningRate member of an interface or type named *Options).
// Reading the parsed flag back (`a['learning-rate']`) is listed as `read`, not counted as a declaration.
const OPTION_KEYS = [{ flag: 'learning-rate', prop: 'learningRate' }, { flag: 'alpha', prop: 'alpha' }];
const optionSites = Object.fromEntries(OPTION_KEYS.map((k) => [k.flag, []]));
const inDefaults = (node) => {
  for (let p = node.parent; p; p = p.parent) {
    if (ts.isVariableDeclaration(p)) return ts.isIdentifier(p.name) && /default/i.test(p.name.text);
    if (ts.isCallExpression(p) || ts.isFunctionLike(p) || ts.isReturnStatement(p)) return false;
  }
  return false;
};
const typeOwner = (node) => {
  for (let p = node.parent; p; p = p.parent) if (ts.isInterfaceDeclaration(p) || ts.isTypeAliasDeclaration(p)) return p.name.text;
  return undefined;
};
for (const { rel, sf } of files) {
  forEachNode(sf, (node) => {
    for (const k of OPTION_KEYS) {
      // A chained call's site is its own `.option(` (a chain starts at its first receiver, lines above).
      const at = ts.isCallExpression(node) ? node.expression.name : node;
      const add = (kind) => optionSites[k.flag].push({
        file: rel, line: lineOf(sf, at.getStart(sf)), kind,
        text: (ts.isCallExpression(node) ? `.${at.text}(${node.arguments.map((a) => a.getText(sf)).join(', ')})` : node.getText(sf)).split('\n')[0].slice(0, 90),
      });
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'option'
        && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0]) && node.arguments[0].text === k.flag) add('flag');
      else if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'options'
        && node.arguments[0] && ts.isObjectLiteralExpression(node.arguments[0])
        && node.arguments[0].properties.some((p) => propName(p.name) === k.flag)) add('flag');
      else if (ts.isPropertyAssignment(node) && propName(node.name) === 'flag' && ts.isStringLiteralLike(node.initializer) && node.initializer.text === k.flag) add('flag');
      else if (ts.isPropertyAssignment(node) && propName(node.name) === k.prop && ts.isNumericLiteral(unparen(node.initializer)) && inDefaults(node)) add('default');
      else if (ts.isPropertySignature(node) && propName(node.name) === k.prop && /Options$/.test(typeOwner(node) ?? '')) add('type');
      else if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression) && node.argumentExpression.text === k.flag) add('read');
    }
  });
}
const yargsOptionCalls = files.reduce((n, { sf }) => {
  let c = 0;
  forEachNode(sf, (node) => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && ['option', 'options'].includes(node.expression.name.text)) c++;
  });
  return n + c;
}, 0);

// 5. "Is this the standard ai.onnx domain" tests written out: a comparison of a domain (an identifier or
// property named domain, also `(x.domain ?? '')`) with '' or 'ai.onnx' (`explicit`), or a bare `!x.domain`
// (`bare`: it misses 'ai.onnx'). The comparisons of one &&/|| chain count as one check
// (`!n.domain || n.domain === 'ai.onnx'` is one). Calls of isStandardDomain(), the helper that replaces them,
// are counted apart.
const isDomainExpr = (e) => {
  e = unparen(e);
  if (e && ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken) e = unparen(e.left);
  return !!e && ((ts.isIdentifier(e) && e.text === 'domain') || (ts.isPropertyAccessExpression(e) && e.name.text === 'domain'));
};
const isDomainLiteral = (e) => ts.isStringLiteralLike(unparen(e)) && ['', 'ai.onnx'].includes(unparen(e).text);
const EQ = new Set([ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken]);
const LOGIC = new Set([ts.SyntaxKind.AmpersandAmpersandToken, ts.SyntaxKind.BarBarToken]);
const domainChecks = [];
let isStandardDomainCalls = 0;
for (const { rel, sf } of files) {
  const groups = new Map();
  forEachNode(sf, (node) => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'isStandardDomain') isStandardDomainCalls++;
    let kind;
    if (ts.isBinaryExpression(node) && EQ.has(node.operatorToken.kind)
      && ((isDomainExpr(node.left) && isDomainLiteral(node.right)) || (isDomainExpr(node.right) && isDomainLiteral(node.left)))) kind = 'explicit';
    else if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.ExclamationToken && isDomainExpr(node.operand)) kind = 'bare';
    if (!kind) return;
    let g = node;
    for (let p = node.parent; p; p = p.parent) {
      if (ts.isParenthesizedExpression(p)) continue;
      if (ts.isBinaryExpression(p) && LOGIC.has(p.operatorToken.kind)) { g = p; continue; }
      break;
    }
    const prev = groups.get(g);
    if (!prev) groups.set(g, { file: rel, line: lineOf(sf, g.getStart(sf)), kind, text: g.getText(sf).split('\n')[0].slice(0, 90) });
    else if (kind === 'explicit') prev.kind = 'explicit';
  });
  domainChecks.push(...groups.values());
}

// 6. docs/PERFORMANCE.md's lines; the files directly in scripts/ and those in its subfolders.
const perfPath = join(root, 'docs/PERFORMANCE.md');
const performanceLines = existsSync(perfPath) ? readFileSync(perfPath, 'utf8').split('\n').length - 1 : null;
const scripts = { flat: 0, nested: 0, folders: {} };
const scriptsDir = join(root, 'scripts');
if (existsSync(scriptsDir)) {
  const count = (d) => readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? count(join(d, e.name)) : e.isFile() ? 1 : 0), 0);
  for (const e of readdirSync(scriptsDir, { withFileTypes: true })) {
    if (e.isFile()) scripts.flat++;
    else if (e.isDirectory()) {
      const n = count(join(scriptsDir, e.name));
      scripts.folders[e.name] = n;
      scripts.nested += n;
    }
  }
}

const optionSummary = Object.fromEntries(Object.entries(optionSites).map(([f, sites]) => {
  const decl = sites.filter((s) => s.kind !== 'read');
  return [f, { declarations: decl.length, files: [...new Set(decl.map((s) => s.file))], sites }];
}));
const explicitChecks = domainChecks.filter((c) => c.kind === 'explicit');
const result = {
  root,
  sourceFiles: files.length,
  longestFunctions: functions.slice(0, top),
  functionsCounted: functions.length,
  irWritesOutsideIr: { files: irWriteFiles.length, fileList: irWriteFiles, writes: irWrites.length, sites: irWrites },
  stepIoSpellings: {
    contractFrom: contractFile ? (contractFile.startsWith(root + sep) ? relative(root, contractFile).split(sep).join('/') : contractFile) : null,
    files: ioSpellingFiles.length, fileList: ioSpellingFiles, literals: ioSpellings.length,
    byKind: Object.fromEntries(['prefix', 'stateName', 'name'].map((k) => [k, ioSpellings.filter((s) => s.kind === k).length])),
    sites: ioSpellings,
    identifierSpellings: { count: ioIdentifiers.length, files: [...new Set(ioIdentifiers.map((s) => s.file))].length, sites: ioIdentifiers },
  },
  optionDeclarations: { ...optionSummary, yargsOptionCalls },
  domainChecks: {
    checks: domainChecks.length, explicit: explicitChecks.length, bare: domainChecks.length - explicitChecks.length,
    files: [...new Set(domainChecks.map((c) => c.file))].length, isStandardDomainCalls, sites: domainChecks,
  },
  performanceMdLines: performanceLines,
  scripts,
};

if (flag('--json')) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const out = [];
  const sites = (list, show = (s) => `${s.file}:${s.line}  ${s.text}`) => list.forEach((s) => out.push(`    ${show(s)}`));
  out.push(`code metrics of ${root} (${files.length} .ts files under src/)`, '');
  out.push(`1. longest functions (of ${functions.length} named):`);
  for (const f of result.longestFunctions) out.push(`    ${String(f.lines).padStart(4)}  ${f.name}  ${f.file}:${f.line}`);
  out.push('', `2. files outside src/ir/ that write IR lists/links: ${irWriteFiles.length} (${irWrites.length} writes)`);
  for (const file of irWriteFiles) {
    const w = irWrites.filter((x) => x.file === file);
    out.push(`    ${file}  ${w.length}: ${[...new Set(w.map((x) => `.${x.field} ${x.how}`))].join(', ')}`);
  }
  const io = result.stepIoSpellings;
  out.push('', `3. step IO names spelled as literals outside the contract's declarations: ${io.files} files, ${io.literals} literals`
    + ` (prefix ${io.byKind.prefix}, stateName ${io.byKind.stateName}, name ${io.byKind.name}); contract names from ${io.contractFrom ?? 'built-in list'}`);
  sites(ioSpellings, (s) => `${s.file}:${s.line}  [${s.kind}] ${s.text}`);
  out.push(`   as identifiers (property names): ${io.identifierSpellings.count} in ${io.identifierSpellings.files} files`);
  out.push('', `4. train option declarations (flag/default/type; 'read' not counted); ${yargsOptionCalls} yargs .option(s) calls in all`);
  for (const [f, s] of Object.entries(optionSummary)) {
    out.push(`   ${f}: ${s.declarations} declarations in ${s.files.length} files`);
    sites(s.sites, (x) => `${x.file}:${x.line}  [${x.kind}] ${x.text}`);
  }
  const d = result.domainChecks;
  out.push('', `5. ai.onnx domain checks written out: ${d.checks} (explicit '' / 'ai.onnx' comparisons ${d.explicit}, bare !x.domain ${d.bare}) in ${d.files} files; isStandardDomain() calls ${d.isStandardDomainCalls}`);
  sites(domainChecks, (c) => `${c.file}:${c.line}  [${c.kind}] ${c.text}`);
  out.push('', `6. docs/PERFORMANCE.md: ${performanceLines ?? 'absent'} lines; scripts/: ${scripts.flat} files flat, ${scripts.nested} in subfolders `
    + `(${Object.entries(scripts.folders).map(([k, v]) => `${k}/ ${v}`).join(', ') || 'none'})`);
  console.log(out.join('\n'));
}
