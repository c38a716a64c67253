// ONNX Runtime on glia's exported models (docs/interop.md): node tools/interop/onnx_check.mjs DIR
// For each model of DIR/manifest.json (tools/interop/onnx_export_check.cpp) runs NAME.onnx on
// NAME.input.bin and compares with glia's NAME.output.bin: fails when any value differs by more
// than 1e-4 (or, with labels, when the two accuracies differ by more than 0.05 points).
// onnxruntime-node is found through NODE_PATH (scripts/check-onnx sets it).
import { createRequire } from 'module';
import { readFileSync } from 'fs';
const ort = createRequire(process.env.NODE_PATH + '/')('onnxruntime-node');
const dir = process.argv[2], floats = (f) => { const b = readFileSync(`${dir}/${f}`); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };
const argmax = (v, n, k) => Array.from({ length: n }, (_, i) => { let b = 0; for (let j = 1; j < k; j++) if (v[i * k + j] > v[i * k + b]) b = j; return b; });
let failed = 0;
for (const m of JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8'))) {
  const session = await ort.InferenceSession.create(`${dir}/${m.name}.onnx`);
  const { logits } = await session.run({ input: new ort.Tensor('float32', floats(`${m.name}.input.bin`), m.input_shape) });
  const glia = floats(`${m.name}.output.bin`);
  let diff = logits.data.length === glia.length && logits.dims.join() === m.output_shape.join() ? 0 : Infinity;
  for (let i = 0; i < glia.length && diff < Infinity; i++) diff = Math.max(diff, Math.abs(logits.data[i] - glia[i]));
  let line = `${m.name.padEnd(14)} ONNX Runtime ${ort.env.versions.common}: output [${logits.dims}], max |ort - glia| = ${diff.toExponential(2)} (max |glia| ${glia.reduce((a, v) => Math.max(a, Math.abs(v)), 0).toFixed(3)})`, ok = diff <= 1e-4;
  if (m.labels) {
    const b = readFileSync(`${dir}/${m.labels}`), labels = new Int32Array(b.buffer, b.byteOffset, b.length / 4), n = labels.length, k = glia.length / n;
    const acc = (v) => 100 * argmax(v, n, k).filter((p, i) => p === labels[i]).length / n, a = acc(logits.data), g = acc(glia);
    line += `; accuracy on ${n} test images: ONNX Runtime ${a.toFixed(2)}%, glia ${g.toFixed(2)}%`;
    ok = ok && Math.abs(a - g) <= 0.05;
  }
  console.log(`${line}: ${ok ? 'ok' : 'FAILED'}`);
  failed += ok ? 0 : 1;
}
process.exit(failed ? 1 : 0);
