// Runs Google's CSP Evaluator (npm `csp_evaluator`, the library behind
// Lighthouse's "CSP is effective against XSS" audit) on one policy and prints
// what it finds as JSON on stdout:
//
//   node check.mjs NODE_MODULES_DIR 'script-src ...; object-src ...'
//
// {"findings": [...], "lighthouse": {"failures": [...], "warnings": [...],
//  "syntax": [...]}}, each finding {type, severity, severityName, directive,
// value, description}. Severities are the evaluator's: HIGH=10, SYNTAX=20,
// MEDIUM=30, HIGH_MAYBE=40, STRICT_CSP=45, MEDIUM_MAYBE=50, INFO=60.
//
// `findings` are the evaluator's default checks plus its strict-CSP checks
// (evaluated on the policy as a CSP3 browser sees it, and on the parsed
// policy for the backward-compatibility checks, as the web evaluator does).
import { createRequire } from "node:module";
import path from "node:path";

const [dir, policy] = process.argv.slice(2);
if (!dir || policy === undefined) {
  console.error("usage: node check.mjs NODE_MODULES_DIR POLICY");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(dir), "package.json"));
const dist = "csp_evaluator/dist";
const { CspEvaluator, DEFAULT_CHECKS, STRICTCSP_CHECKS } = require(`${dist}/evaluator.js`);
const { CspParser } = require(`${dist}/parser.js`);
const { Severity } = require(`${dist}/finding.js`);
const lighthouse = require(`${dist}/lighthouse/lighthouse_checks.js`);

const severityName = Object.fromEntries(
  Object.entries(Severity).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k]),
);
const plain = (f) => ({
  type: f.type,
  severity: f.severity,
  severityName: severityName[f.severity] ?? String(f.severity),
  directive: f.directive,
  value: f.value ?? null,
  description: f.description,
});

const parsed = new CspParser(policy).csp;
// The web evaluator runs the strict-CSP checks on the parsed policy (they
// look at fallbacks that CSP3 browsers ignore) and the default ones on the
// effective CSP3 policy.
const findings = new CspEvaluator(parsed).evaluate(STRICTCSP_CHECKS, DEFAULT_CHECKS);
const csps = [new CspParser(policy).csp];
const out = {
  findings: findings.map(plain),
  lighthouse: {
    failures: lighthouse.evaluateForFailure(csps).map(plain),
    warnings: lighthouse.evaluateForWarnings(csps).map(plain),
    syntax: lighthouse.evaluateForSyntaxErrors(csps).flat().map(plain),
  },
};
console.log(JSON.stringify(out));
