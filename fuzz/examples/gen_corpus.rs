//! Writes the seed corpus (`fuzz/corpus/<target>/<name>`) from
//! `toytcp_fuzz::seeds`. Run from `fuzz/`: `cargo run --example gen_corpus`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let seeds = toytcp_fuzz::seeds::all();
    for s in &seeds {
        let dir = root.join(s.target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(s.name), &s.bytes)?;
    }
    eprintln!("wrote {} seeds under {}", seeds.len(), root.display());
    Ok(())
}
