//! `/metrics` in the Prometheus text format: one writer that every part of
//! the server renders its own counters into, so that the format is written
//! in one place and each part keeps its counters next to the code that
//! bumps them.

use std::fmt::Write;
use std::sync::Arc;

/// Writes metric families in the Prometheus text format.
#[derive(Default)]
pub(crate) struct Exposition {
    out: String,
}

impl Exposition {
    pub(crate) fn into_text(self) -> String {
        self.out
    }

    /// One family: its help line, its type, and a sample per label set
    /// (`""` for none, else like `{type="join"}`).
    pub(crate) fn family<L: AsRef<str>>(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        samples: impl IntoIterator<Item = (L, u64)>,
    ) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(self.out, "{name}{} {value}", labels.as_ref());
        }
    }

    /// A family with a single unlabelled sample.
    pub(crate) fn single(&mut self, name: &str, kind: Kind, help: &str, value: u64) {
        self.family(name, kind, help, [("", value)]);
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Counter,
    Gauge,
}

/// Anything with metrics to show.
pub(crate) trait Source: Send + Sync {
    fn render(&self, out: &mut Exposition);
}

/// Every source of the server, rendered in the order registered.
#[derive(Default, Clone)]
pub(crate) struct Registry {
    sources: Vec<Arc<dyn Source>>,
}

impl Registry {
    pub(crate) fn register(&mut self, source: Arc<dyn Source>) {
        self.sources.push(source);
    }

    pub(crate) fn render(&self) -> String {
        let mut out = Exposition::default();
        for source in &self.sources {
            source.render(&mut out);
        }
        out.into_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Two;

    impl Source for Two {
        fn render(&self, out: &mut Exposition) {
            out.single("a_total", Kind::Counter, "A.", 1);
            out.family("b", Kind::Gauge, "B.", [("{x=\"1\"}", 2), ("{x=\"2\"}", 3)]);
        }
    }

    #[test]
    fn families_render_in_the_text_format() {
        let mut registry = Registry::default();
        registry.register(Arc::new(Two));
        assert_eq!(
            registry.render(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n\
             # HELP b B.\n# TYPE b gauge\nb{x=\"1\"} 2\nb{x=\"2\"} 3\n"
        );
    }
}
