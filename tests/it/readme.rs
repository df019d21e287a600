//! The README is the operator's reference: every environment variable the
//! code reads must appear in its configuration section, the built-in
//! providers' secret variables (read from their definitions) included; the
//! definitions "Add a provider" shows load as they are written; and its event
//! catalogue is what the built-in definitions generate.

use std::path::Path;

/// The generator itself, compiled into this test.
#[path = "../../examples/catalogue.rs"]
#[allow(dead_code)]
mod catalogue;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

#[test]
fn the_event_catalogue_is_what_the_built_in_definitions_generate() {
    let readme = readme();
    let (start, end) = catalogue::region(&readme).unwrap_or_else(|| {
        panic!(
            "README.md lacks the generated catalogue between `{}` and `{}`",
            catalogue::BEGIN,
            catalogue::END
        )
    });
    let written = &readme[start..end];
    let generated = catalogue::render();
    if written != generated {
        let line = written
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(written.lines().count().min(generated.lines().count()));
        panic!(
            "README.md's event catalogue is not what the built-in definitions generate \
             (first difference at its line {}):\n  README:    {:?}\n  generated: {:?}\n\
             run `cargo run --example catalogue -- --write`",
            line + 1,
            written.lines().nth(line),
            generated.lines().nth(line)
        );
    }
}

/// String literals in `src/` that name an environment variable of ours.
fn variables_in_source() -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            // Shipped code only: unit tests sit at the end of each file, or in
            // a file of their own (`tests.rs`, `*_tests.rs`).
            let name = path.file_name().unwrap().to_string_lossy();
            if name == "tests.rs" || name.ends_with("_tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.split("#[cfg(test)]").next().unwrap();
            for literal in text.split('"').skip(1).step_by(2) {
                let ours = ["GATEWAY_", "KAFKA_", "LOG_FORMAT", "RUST_LOG"]
                    .iter()
                    .any(|p| literal.starts_with(p));
                let shaped = literal
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                if ours && shaped && !found.contains(&literal.to_owned()) {
                    found.push(literal.to_owned());
                }
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_environment_variable_the_code_reads_is_in_the_configuration_table() {
    let readme = readme();
    let start = readme
        .find("## Configuration")
        .expect("a Configuration section");
    let end = readme[start + 3..]
        .find("\n## ")
        .map_or(readme.len(), |i| start + 3 + i);
    let section = &readme[start..end];
    let mut vars = variables_in_source();
    let builtins = webhook_gateway::providers::Definitions::load(None).expect("built-ins");
    for definition in &builtins.list {
        vars.push(definition.secret.env.clone());
        vars.push(format!("{}_FILE", definition.secret.env));
    }
    assert!(vars.len() >= 15, "the scan finds the variables: {vars:?}");
    let missing: Vec<_> = vars
        .iter()
        .filter(|v| !section.contains(v.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "missing from the README's configuration section: {missing:?}"
    );
    // Read by tracing-subscriber, not by our code.
    assert!(section.contains("RUST_LOG"));
}

/// The text of the README section that starts with `heading`, up to the next
/// heading of the same or a higher level.
fn section(readme: &str, heading: &str) -> String {
    let start = readme.find(heading).unwrap_or_else(|| panic!("{heading}"));
    let level = heading.bytes().take_while(|&b| b == b'#').count();
    let rest = &readme[start + heading.len()..];
    let end = rest
        .match_indices("\n#")
        .find(|(i, _)| rest[i + 1..].bytes().take_while(|&b| b == b'#').count() <= level)
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].to_owned()
}

/// The fenced blocks of `lang` in `text`.
fn blocks<'a>(text: &'a str, lang: &str) -> Vec<&'a str> {
    let fence = format!("```{lang}\n");
    text.match_indices(&fence)
        .map(|(i, _)| {
            let body = &text[i + fence.len()..];
            &body[..body.find("```").expect("a closed fence")]
        })
        .collect()
}

#[test]
fn the_add_a_provider_definitions_load_and_its_commands_name_them() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let text = section(&readme, "### Add a provider");
    let yaml = blocks(&text, "yaml");
    assert_eq!(yaml.len(), 1, "one providers file");
    let defs = webhook_gateway::providers::Definitions::with_file(Some(("README.md", yaml[0])))
        .unwrap_or_else(|e| panic!("the README's providers file: {e}"));
    let configured = defs.configured();
    let presets: Vec<_> = configured
        .iter()
        .map(|d| d.preset.as_deref().unwrap_or("none"))
        .collect();
    assert_eq!(presets, ["standard-webhooks", "github"]);
    assert!(configured.iter().all(|d| !d.events.is_empty()));

    // Every preset is in the section's table.
    for (preset, _) in webhook_gateway::providers::load::PRESETS {
        assert!(text.contains(&format!("| `{preset}` |")), "{preset}");
    }
    // The shell blocks set the definitions' secret variables and sign as
    // providers the definitions define.
    let shell = blocks(&text, "sh").concat();
    for d in configured {
        assert!(
            shell.contains(&format!("export {}=", d.secret.env)),
            "{}: its secret variable",
            d.name
        );
    }
    let signed: Vec<_> = shell
        .match_indices("webhook-gateway sign ")
        .map(|(i, m)| shell[i + m.len()..].split_whitespace().next().unwrap())
        .collect();
    assert!(!signed.is_empty());
    for name in signed {
        assert!(defs.get(name).is_some(), "`sign {name}`: not defined");
        assert!(
            shell.contains(&format!("/webhooks/{name}")),
            "`sign {name}` posts to its own path"
        );
    }
}

#[test]
fn the_configuration_table_gives_each_settings_flag_and_default_as_help_does() {
    use clap::Args;
    let readme = readme();
    let command = webhook_gateway::config::RunArgs::augment_args(clap::Command::new("gateway"));
    let mut checked = 0;
    for arg in command.get_arguments() {
        let Some(var) = arg.get_env().and_then(|v| v.to_str()) else {
            continue;
        };
        let flag = format!("--{}", arg.get_long().unwrap());
        let default = match arg.get_default_values() {
            [] => "none".to_owned(),
            [one] => format!("`{}`", one.to_str().unwrap()),
            more => panic!("{var}: {more:?}"),
        };
        let row = format!("| `{var}` | `{flag}` | {default} |");
        assert!(readme.contains(&row), "README.md lacks the row {row}");
        checked += 1;
    }
    assert!(checked >= 15, "{checked} settings");
}
