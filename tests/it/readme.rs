//! The README and docs/ are the reference, and they say what the code does:
//! every environment variable the code reads is in docs/configuration.md, the
//! built-in providers' secret variables (read from their definitions)
//! included, and its table gives each setting's flag and default as `--help`
//! does; the definitions docs/providers.md's "Add a provider" shows load as
//! they are written; the event catalogue in docs/consuming.md is what the
//! built-in definitions generate. The README stays short, and every relative
//! link in it and in docs/ names a file, and a heading, that exist.

use std::path::Path;

/// The generator itself, compiled into this test.
#[path = "../../examples/catalogue.rs"]
#[allow(dead_code)]
mod catalogue;

/// A file of the repository, by its path from the root.
fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A document of docs/, by its name.
fn doc(name: &str) -> String {
    read(&format!("docs/{name}"))
}

#[test]
fn the_event_catalogue_is_what_the_built_in_definitions_generate() {
    let text = read(catalogue::DOC);
    let (start, end) = catalogue::region(&text).unwrap_or_else(|| {
        panic!(
            "{} lacks the generated catalogue between `{}` and `{}`",
            catalogue::DOC,
            catalogue::BEGIN,
            catalogue::END
        )
    });
    let written = &text[start..end];
    let generated = catalogue::render();
    if written != generated {
        let line = written
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(written.lines().count().min(generated.lines().count()));
        panic!(
            "{}'s event catalogue is not what the built-in definitions generate \
             (first difference at its line {}):\n  written:   {:?}\n  generated: {:?}\n\
             run `cargo run --example catalogue -- --write`",
            catalogue::DOC,
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
fn every_environment_variable_the_code_reads_is_in_the_configuration_doc() {
    let configuration = doc("configuration.md");
    let mut vars = variables_in_source();
    let builtins = webhook_gateway::definitions::Definitions::load(None).expect("built-ins");
    for definition in &builtins.list {
        vars.push(definition.secret.env.clone());
        vars.push(format!("{}_FILE", definition.secret.env));
    }
    assert!(vars.len() >= 15, "the scan finds the variables: {vars:?}");
    let missing: Vec<_> = vars
        .iter()
        .filter(|v| !configuration.contains(v.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "missing from docs/configuration.md: {missing:?}"
    );
    // Read by tracing-subscriber, not by our code.
    assert!(configuration.contains("RUST_LOG"));
}

/// The text of the section of a Markdown document that starts with `heading`,
/// up to the next heading of the same or a higher level.
fn section(text: &str, heading: &str) -> String {
    let start = text.find(heading).unwrap_or_else(|| panic!("{heading}"));
    let level = heading.bytes().take_while(|&b| b == b'#').count();
    let rest = &text[start + heading.len()..];
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
fn the_handshakes_example_loads_as_written() {
    let text = section(&doc("providers.md"), "## Handshakes");
    let yaml = blocks(&text, "yaml");
    assert_eq!(yaml.len(), 1, "one providers file");
    let defs =
        webhook_gateway::definitions::Definitions::with_file(Some(("docs/providers.md", yaml[0])))
            .unwrap_or_else(|e| panic!("docs/providers.md's handshake example: {e}"));
    let acme = defs.get("acme").unwrap();
    assert_eq!(acme.handshakes[0].name, "verify");
    assert!(acme.handshake_secret.is_some());
}

#[test]
fn the_add_a_provider_definitions_load_and_its_commands_name_them() {
    let text = section(&doc("providers.md"), "## Add a provider");
    let yaml = blocks(&text, "yaml");
    assert_eq!(yaml.len(), 1, "one providers file");
    let defs =
        webhook_gateway::definitions::Definitions::with_file(Some(("docs/providers.md", yaml[0])))
            .unwrap_or_else(|e| panic!("docs/providers.md's providers file: {e}"));
    let configured = defs.configured();
    let presets: Vec<_> = configured
        .iter()
        .map(|d| d.preset.as_deref().unwrap_or("none"))
        .collect();
    assert_eq!(presets, ["standard-webhooks", "github"]);
    assert!(configured.iter().all(|d| !d.events.is_empty()));

    // Every preset is in the section's table.
    for (preset, _) in webhook_gateway::definitions::load::PRESETS {
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
    let configuration = doc("configuration.md");
    // What `--help` shows of each setting (a unit test in src/settings holds
    // the flags' help to the same list).
    let mut checked = 0;
    for setting in webhook_gateway::settings::DOCUMENTED {
        let (var, flag) = (setting.var, format!("--{}", setting.flag));
        let default = match setting.default {
            None => "none".to_owned(),
            Some(one) => format!("`{one}`"),
        };
        let row = format!("| `{var}` | `{flag}` | {default} |");
        assert!(
            configuration.contains(&row),
            "docs/configuration.md lacks the row {row}"
        );
        checked += 1;
    }
    assert!(checked >= 15, "{checked} settings");
}

#[test]
fn the_readme_is_short_and_keeps_the_quick_start_commands() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines, more than 300: the reference belongs in docs/"
    );
    let quick_start = section(&readme, "## Quick start");
    for command in ["cargo run --release -- --dev", "bash scripts/test.sh"] {
        assert!(
            quick_start.contains(command),
            "the quick start lacks `{command}`"
        );
    }
}

/// The lines of a Markdown document outside its fenced code blocks.
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// The anchor GitHub gives a heading: lower case, every character but letters,
/// digits, `_`, `-` and spaces dropped, each space a `-` (as `github_anchor` in
/// deploy/check_chart.py).
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|&c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown document's headings, in order; a repeated one
/// gets `-1`, `-2`, ... as on GitHub.
fn anchors(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in prose(text) {
        let level = line.bytes().take_while(|&b| b == b'#').count();
        if !(1..=6).contains(&level) || !line[level..].starts_with(' ') {
            continue;
        }
        let base = github_anchor(&line[level..]);
        let mut anchor = base.clone();
        let mut n = 0;
        while found.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        found.push(anchor);
    }
    found
}

/// The targets of a Markdown document's links, outside code blocks and code
/// spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(text) {
        for outside_code in line.split('`').step_by(2) {
            for (i, _) in outside_code.match_indices("](") {
                let rest = &outside_code[i + 2..];
                let end = rest.find(')').unwrap_or(rest.len());
                targets.push(rest[..end].to_owned());
            }
        }
    }
    targets
}

#[test]
fn every_relative_link_in_the_readme_and_docs_names_a_file_and_heading_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut documents = vec!["README.md".to_owned()];
    let mut names: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .collect();
    names.sort();
    documents.extend(names.iter().map(|name| format!("docs/{name}")));
    assert!(documents.len() >= 6, "the docs: {documents:?}");

    let mut broken = Vec::new();
    let mut checked = 0;
    for document in &documents {
        let text = read(document);
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let file = if path.is_empty() {
                root.join(document)
            } else {
                root.join(document).parent().unwrap().join(path)
            };
            if !file.exists() {
                broken.push(format!("{document}: ({target}): no such file"));
                continue;
            }
            let markdown = file.extension().is_some_and(|e| e == "md");
            if !anchor.is_empty() && markdown {
                let headings = anchors(&std::fs::read_to_string(&file).unwrap());
                if !headings.iter().any(|h| h == anchor) {
                    broken.push(format!("{document}: ({target}): no such heading"));
                }
            }
        }
    }
    assert!(
        checked >= 20,
        "{checked} relative links: the scan finds them"
    );
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
}
