#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU) as pare's oracle.
//
// usage: node tools/ort_run.js MODEL.onnx IN_DIR OUT_DIR [--threads N] [--repeat R] [--no-opt]
//                                                        [--serve] [--per-example]
//   IN_DIR/manifest.json: {"inputs": [{"name": "x", "file": "0.npy"}, ...]}
//   writes OUT_DIR/<k>.npy for the k-th model output, and OUT_DIR/manifest.json:
//   {"outputs": [{"name": ..., "file": ...}], "run_ms": [per-run wall times]}
//   --serve: then prints "ready" and, for every line read from stdin, runs the model
//   once more and prints that run's milliseconds (a caller alternates these runs
//   with its own, so both are timed under the same machine conditions); a line
//   holding a number N > 0 first pauses this process N ms (as the caller pauses
//   before its own runs); exits at the end of stdin.
//   --per-example: runs the model once per example (every input split along its
//   first axis into batches of one, as a model with a fixed batch of one needs),
//   concatenates the outputs, and run_ms holds each example's time.
// onnxruntime-node is loaded from $PARE_CACHE/npm (default ~/.cache/pare/npm), where
// `make deps` installs it.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

function fail(msg) {
  process.stderr.write(`ort_run: ${msg}\n`);
  process.exit(1);
}

const args = process.argv.slice(2);
const opts = {threads: 1, repeat: 1, opt: true, serve: false, perExample: false};
const pos = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--threads') opts.threads = parseInt(args[++i], 10);
  else if (args[i] === '--repeat') opts.repeat = parseInt(args[++i], 10);
  else if (args[i] === '--no-opt') opts.opt = false;
  else if (args[i] === '--serve') opts.serve = true;
  else if (args[i] === '--per-example') opts.perExample = true;
  else pos.push(args[i]);
}
if (pos.length !== 3) fail('usage: ort_run.js MODEL.onnx IN_DIR OUT_DIR [--threads N] [--repeat R] [--no-opt] [--serve]');
const [modelPath, inDir, outDir] = pos;

const cache = process.env.PARE_CACHE || path.join(os.homedir(), '.cache', 'pare');
let ort;
try {
  ort = require(path.join(cache, 'npm', 'node_modules', 'onnxruntime-node'));
} catch (e) {
  fail(`onnxruntime-node not found under ${cache}/npm (run make deps): ${e.message}`);
}

const DESCR = {
  '<f4': ['float32', Float32Array], '<f2': ['float16', Uint16Array], '|i1': ['int8', Int8Array],
  '|u1': ['uint8', Uint8Array], '<i4': ['int32', Int32Array], '<i8': ['int64', BigInt64Array],
  '|b1': ['bool', Uint8Array],
};
const TYPE_TO_DESCR = {};
for (const [d, [t]] of Object.entries(DESCR)) TYPE_TO_DESCR[t] = d;

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') fail(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const [type, Arr] = DESCR[descr] || fail(`${file}: unsupported dtype ${descr}`);
  const start = off + hlen;
  const bytes = buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length);
  let data = new Arr(bytes);
  if (type === 'bool') data = Uint8Array.from(data);
  return new ort.Tensor(type === 'float16' ? 'float16' : type, type === 'bool' ? Array.from(data, (v) => v !== 0) : data, dims);
}

function writeNpy(file, tensor) {
  const descr = TYPE_TO_DESCR[tensor.type];
  if (!descr) fail(`output type ${tensor.type} cannot be written as .npy`);
  const dims = tensor.dims;
  const shape = dims.length === 1 ? `${dims[0]},` : dims.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  let data = tensor.data;
  if (tensor.type === 'bool') data = Uint8Array.from(data, (v) => (v ? 1 : 0));
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

// One run per example along the first axis; outputs concatenated along it.
async function runPerExample(session, feeds, runMs) {
  const names = Object.keys(feeds);
  const n = feeds[names[0]].dims[0];
  const parts = {};
  for (let r = 0; r < n; ++r) {
    const one = {};
    for (const name of names) {
      const t = feeds[name];
      if (t.dims[0] !== n) fail(`--per-example: input ${name} has ${t.dims[0]} examples, not ${n}`);
      const per = t.data.length / n;
      one[name] = new ort.Tensor(t.type, t.data.slice(r * per, (r + 1) * per), [1, ...t.dims.slice(1)]);
    }
    const t0 = process.hrtime.bigint();
    const out = await session.run(one);
    runMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    for (const name of session.outputNames) (parts[name] = parts[name] || []).push(out[name]);
  }
  const results = {};
  for (const name of session.outputNames) {
    const list = parts[name];
    const total = list.reduce((a, t) => a + t.data.length, 0);
    const data = new list[0].data.constructor(total);
    let off = 0;
    for (const t of list) {
      data.set(t.data, off);
      off += t.data.length;
    }
    results[name] = new ort.Tensor(list[0].type, data, [n, ...list[0].dims.slice(1)]);
  }
  return results;
}

async function main() {
  const manifest = JSON.parse(fs.readFileSync(path.join(inDir, 'manifest.json'), 'utf8'));
  const feeds = {};
  for (const i of manifest.inputs) feeds[i.name] = readNpy(path.join(inDir, i.file));
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: opts.threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: opts.opt ? 'all' : 'disabled',
  });
  let results;
  const runMs = [];
  if (opts.perExample) results = await runPerExample(session, feeds, runMs);
  for (let r = 0; r < (opts.perExample ? 0 : Math.max(1, opts.repeat)); ++r) {
    const t0 = process.hrtime.bigint();
    results = await session.run(feeds);
    runMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  fs.mkdirSync(outDir, {recursive: true});
  const outputs = [];
  session.outputNames.forEach((name, k) => {
    const file = `${k}.npy`;
    writeNpy(path.join(outDir, file), results[name]);
    outputs.push({name, file});
  });
  fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify({outputs, run_ms: runMs}));
  if (!opts.serve) return;
  process.stdout.write('ready\n');
  const lines = require('readline').createInterface({input: process.stdin});
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for await (const line of lines) {
    const ms = Number(line.trim());
    if (ms > 0) Atomics.wait(pause, 0, 0, ms);
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    process.stdout.write(`${Number(process.hrtime.bigint() - t0) / 1e6}\n`);
  }
}

main().catch((e) => fail(e.message));
