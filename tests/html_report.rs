//! The HTML report in a real browser: short runs against `orysim sim` write their pages
//! (`orysim run --html`, `orysim report RUN.json -o RUN.html`, and a comparison page), headless
//! Chromium renders them at laptop and phone width, and the DOM it built must hold every chart
//! with data lines that span the run.

mod common;
use common::*;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `orysim sim` on a free port offset; killed when dropped.
struct Sim {
    child: Child,
    env: Vec<(String, String)>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PORTS: [u16; 6] = [4433, 4434, 4444, 4445, 4466, 4467];

fn offset_is_free(offset: u16) -> bool {
    PORTS
        .iter()
        .all(|p| std::net::TcpListener::bind(("127.0.0.1", p + offset)).is_ok())
}

fn start_sim() -> Sim {
    let seed = std::process::id() as u16;
    let offset = (0..50)
        .map(|i| 20_000 + (seed.wrapping_add(i * 97) % 400) * 100)
        .find(|o| offset_is_free(*o))
        .expect("a free port offset");
    let mut child = orysim()
        .args(["sim", "--host", "127.0.0.1", "--port-offset"])
        .arg(offset.to_string())
        .args([
            "--latency",
            "2ms",
            "--jitter",
            "1ms",
            "--error-rate",
            "0.02",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("orysim sim starts");
    let stdout = child.stdout.take().unwrap();
    let env = std::io::BufReader::new(stdout)
        .lines()
        .take(6)
        .map(|l| {
            let l = l.expect("sim prints its URLs");
            let (k, v) = l
                .strip_prefix("export ")
                .and_then(|kv| kv.split_once('='))
                .unwrap_or_else(|| panic!("unexpected sim line {l}"));
            (k.to_string(), v.to_string())
        })
        .collect::<Vec<_>>();
    assert_eq!(env.len(), 6, "the simulator printed its six URLs");
    Sim { child, env }
}

/// `orysim run --scope all` for `duration` with 1 s intervals, its report and page in `dir`.
fn run_against(sim: &Sim, dir: &Path, name: &str, duration: &str) -> PathBuf {
    let report = dir.join(format!("{name}.json"));
    let mut cmd = orysim();
    cmd.envs(sim.env.iter().map(|(k, v)| (k, v)))
        .args(["run", "--scope", "all", "-c", "6", "-d", duration])
        .args(["--interval", "1s", "--no-progress", "--report"])
        .arg(&report)
        .arg("--html")
        .arg(dir.join(format!("{name}.html")));
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("HTML report written"),
        "{}",
        stderr(&out)
    );
    report
}

fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("chromium is installed (scripts/test does it)")
}

/// Headless Chromium with a fresh profile, bounded in time; returns its stdout.
fn browser(profile: &Path, args: &[&str], page: &Path) -> String {
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// Renders `page` at laptop and phone width (screenshots must be real PNGs) and returns the
/// DOM Chromium built from it.
fn render(page: &Path, shots: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    for (name, size) in [("laptop", "1280,2000"), ("phone", "390,2400")] {
        let png = shots.join(format!(
            "{}-{name}.png",
            page.file_stem().unwrap().to_string_lossy()
        ));
        browser(
            profile.path(),
            &[
                &format!("--window-size={size}"),
                &format!("--screenshot={}", png.display()),
            ],
            page,
        );
        let bytes = std::fs::read(&png).expect("a screenshot was written");
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
            "{name}"
        );
    }
    browser(profile.path(), &["--dump-dom"], page)
}

/// The value of `attr="..."` in `tag`.
fn attr<'a>(tag: &'a str, attr: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {attr}=\""))? + attr.len() + 3;
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// A chart's id, its number of sides, and per data layer the share of the plot its lines span.
type ChartInDom = (String, usize, Vec<(f64, f64)>);

/// Every chart in the DOM: its id, sides, and per data layer the x range its lines cover as a
/// share of the plotting area. Panics when a chart has no data line.
fn charts(dom: &str) -> Vec<ChartInDom> {
    dom.split("<figure class=\"chart\"")
        .skip(1)
        .map(|figure| {
            let figure = &figure[..figure.find("</figure>").expect("closed figure")];
            let open = &figure[..figure.find('>').unwrap()];
            let id = attr(open, "data-chart").unwrap().to_string();
            let left: f64 = attr(open, "data-plot-left").unwrap().parse().unwrap();
            let right: f64 = attr(open, "data-plot-right").unwrap().parse().unwrap();
            let sides: usize = attr(open, "data-sides").unwrap().parse().unwrap();
            let layers = figure
                .split("<svg class=\"data")
                .skip(1)
                .map(|layer| {
                    let xs: Vec<f64> = layer
                        .split("<polyline")
                        .skip(1)
                        .filter_map(|p| attr(p, "points"))
                        .filter(|pts| pts.split_whitespace().count() >= 2)
                        .flat_map(|pts| {
                            pts.split_whitespace()
                                .filter_map(|xy| xy.split(',').next()?.parse::<f64>().ok())
                                .collect::<Vec<_>>()
                        })
                        .collect();
                    assert!(!xs.is_empty(), "chart {id}: a data layer without a line");
                    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    ((lo - left) / (right - left), (hi - left) / (right - left))
                })
                .collect();
            (id, sides, layers)
        })
        .collect()
}

/// `reach[i]`: how far right side i's lines must reach (a shorter run ends earlier on the
/// shared axis of a comparison).
fn assert_every_chart_spans(dom: &str, reach: &[f64], want: &[&str]) {
    let sides = reach.len();
    let found = charts(dom);
    let ids: Vec<&str> = found.iter().map(|(id, ..)| id.as_str()).collect();
    for w in want {
        assert!(
            ids.iter().any(|id| id.starts_with(w)),
            "{w} missing: {ids:?}"
        );
    }
    for (id, n, layers) in &found {
        assert_eq!((*n, layers.len()), (sides, sides), "{id}");
        for ((lo, hi), reach) in layers.iter().zip(reach) {
            // Interval midpoints: the first and last lie half an interval inside the run.
            assert!(
                *lo < 0.1 && *hi > *reach,
                "{id}: lines cover {lo:.2}..{hi:.2}"
            );
        }
    }
}

const CHARTS: [&str; 10] = [
    "requests-per-second",
    "latency-kratos.",
    "latency-hydra.",
    "latency-keto.",
    "errors-per-second",
    "read-write-ratio",
    "generator-cpu",
    "generator-memory",
    "distribution-kratos",
    "distribution-keto",
];

#[test]
#[ignore = "needs Debian's chromium; scripts/test installs it and runs this"]
fn run_and_comparison_pages_render_in_chromium_with_data_in_every_chart() {
    let sim = start_sim();
    let dir = tempfile::tempdir().unwrap();
    let before = run_against(&sim, dir.path(), "before", "8s");
    let after = run_against(&sim, dir.path(), "after", "6s");
    drop(sim);

    // The same page again from the report.
    let again = dir.path().join("again.html");
    let out = run(orysim().arg("report").arg(&before).arg("-o").arg(&again));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The comparison page, as `orysim compare --html` writes it.
    let compare_page = dir.path().join("compare.html");
    let out = run(orysim()
        .arg("compare")
        .arg(&before)
        .arg(&after)
        .arg("--html")
        .arg(&compare_page));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let shots = std::env::var_os("ORYSIM_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    for page in ["before.html", "again.html"] {
        let dom = render(&dir.path().join(page), &shots);
        assert!(dom.contains("orysim run · all"), "{page}");
        assert!(dom.contains("data-table=\"operations\""), "{page}");
        assert_every_chart_spans(&dom, &[0.9], &CHARTS);
    }
    let dom = render(&compare_page, &shots);
    // One row per operation and figure, with a verdict, and the method under the table.
    assert!(dom.contains("keto.check p99"), "no keto.check p99 row");
    assert!(
        ["⚪ no significant change", "🟢 better", "🔴 worse"]
            .iter()
            .any(|v| dom.contains(v)),
        "no verdict on the comparison page"
    );
    assert!(dom.contains("bootstrap"), "the method is not named");
    // The second run is 6 s of the axis's 8 s.
    assert_every_chart_spans(&dom, &[0.9, 0.6], &CHARTS);
}
