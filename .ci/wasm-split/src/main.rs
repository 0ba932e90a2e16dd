//! `galaxy-wasm-split <input.wasm> <out-dir> <main-out.wasm>`: splits a WASM module built with
//! `-Clink-args=--emit-relocs` at its `#[lazy]` split points (Leptos' `#[lazy]` and
//! `#[lazy_route]`). Writes into `<out-dir>` one `split_*.wasm` per split point, `chunk_*.wasm`
//! for code shared by several, the loader `__wasm_split.js` (which imports `./galaxy.js`, the
//! wasm-bindgen glue of the main module) and `__wasm_split_manifest.json` (split point → the
//! files it needs; Leptos can link them as preloads, Galaxy does not — app/src/routes.rs); and the
//! main module, still to be run through wasm-bindgen with `--keep-lld-exports`, to
//! `<main-out.wasm>`.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out_dir, main_out] = args.as_slice() else {
        eprintln!("usage: galaxy-wasm-split <input.wasm> <out-dir> <main-out.wasm>");
        return ExitCode::from(2);
    };
    match split(Path::new(input), Path::new(out_dir), Path::new(main_out)) {
        Ok(count) => {
            eprintln!("galaxy-wasm-split: {count} lazily loaded modules in {out_dir}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("galaxy-wasm-split: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn split(input: &Path, out_dir: &Path, main_out: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let wasm = std::fs::read(input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    std::fs::create_dir_all(out_dir)?;
    let mut options = wasm_split_cli_support::Options::new(&wasm);
    options.output_dir = out_dir;
    options.main_out_path = main_out;
    options.main_module = "./galaxy.js";
    options.link_name = "./__wasm_split.js";
    let split = wasm_split_cli_support::transform(options).map_err(|e| format!("{e:#}"))?;
    // Sorted, so the manifest (and its content hash) is the same for the same input.
    let manifest: std::collections::BTreeMap<_, _> = split.prefetch_map.into_iter().collect();
    std::fs::write(out_dir.join("__wasm_split_manifest.json"), serde_json::to_string_pretty(&manifest)?)?;
    Ok(split.split_modules.len())
}
