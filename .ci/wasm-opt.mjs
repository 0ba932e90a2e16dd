// `wasm-opt -Oz` over many modules in one process (binaryen's JS API, the same pinned npm
// `binaryen` as the wasm-opt command): a split bundle has hundreds of lazily loaded modules,
// and starting the command once per module would cost seconds each. Usage: node wasm-opt.mjs <file.wasm>…
import binaryen from 'binaryen';
import * as fs from 'node:fs';

const F = binaryen.Features;
// What the Rust wasm32 target emits (and the browsers the product supports run).
const features = F.MutableGlobals | F.SignExt | F.BulkMemory | F.BulkMemoryOpt | F.NontrappingFPToInt
  | F.ReferenceTypes | F.Multivalue | F.CallIndirectOverlong;
binaryen.setOptimizeLevel(2);
binaryen.setShrinkLevel(2);
if (process.env.GALAXY_WASM_NAMES) binaryen.setDebugInfo(true);
let before = 0, after = 0;
for (const file of process.argv.slice(2)) {
  const input = fs.readFileSync(file);
  const module = binaryen.readBinary(input);
  module.setFeatures(features);
  module.optimize();
  const output = module.emitBinary();
  module.dispose();
  fs.writeFileSync(file, output);
  before += input.length;
  after += output.length;
}
console.log(`wasm-opt -Oz: ${process.argv.length - 2} modules, ${before} B → ${after} B`);
