//! Prints the configuration generated from manifests given as arguments.

use promshard_operator::generate::generate;
use promshard_operator::load::load_documents;
use promshard_operator::selection::Selection;
use promshard_operator::settings::Settings;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut texts = Vec::new();
    for path in std::env::args().skip(1) {
        texts.push((path.clone(), std::fs::read_to_string(&path)?));
    }
    let loaded = load_documents(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())))?;
    let prometheus = loaded
        .resources
        .prometheuses
        .first()
        .ok_or("no Prometheus given")?;
    let generated = generate(
        &Settings::from_prometheus(prometheus),
        &Selection::from_prometheus(prometheus),
        &loaded.resources,
    )?;
    print!("{}", generated.to_yaml_string()?);
    for o in &generated.outcomes {
        println!("# {} {}/{}: {:?}", o.kind, o.namespace, o.name, o.status);
    }
    Ok(())
}
