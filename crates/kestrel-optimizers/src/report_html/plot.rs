//! An inline SVG scatter plot of scores (percent) against a trial number, a
//! depth or a seed: axes with ticks, one colour per series, the winner
//! ringed, and each point's label as an SVG `<title>` (a hover tooltip in
//! every browser, no script).

use std::fmt::Write;

use super::escape;

/// One point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    /// Horizontal position (trial number, depth, seed).
    pub x: f64,
    /// Score in percent.
    pub y: f64,
    /// Index into the plot's series.
    pub series: usize,
    /// Tooltip text (escaped when rendered).
    pub label: String,
    /// Whether this point won.
    pub best: bool,
}

/// A plot to render.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plot {
    /// Name of the horizontal axis.
    pub x_label: String,
    /// Series names, in colour order.
    pub series: Vec<String>,
    /// The points.
    pub points: Vec<Point>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;
/// Series colours (colour-blind-safe Okabe–Ito).
const COLOURS: [&str; 6] = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00"];

/// `(low, high, step)` of "nice" ticks covering `[min, max]`.
fn ticks(min: f64, max: f64) -> (f64, f64, f64) {
    let span = (max - min).max(1e-9);
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    ((min / step).floor() * step, (max / step).ceil() * step, step)
}

/// Tick text without a trailing `.0`.
fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 { format!("{}", v.round()) } else { format!("{v:.1}") }
}

impl Plot {
    /// The plot as an `<svg>` element (empty text when there are no finite
    /// points).
    pub(crate) fn to_svg(&self) -> String {
        let points: Vec<&Point> = self.points.iter().filter(|p| p.x.is_finite() && p.y.is_finite()).collect();
        if points.is_empty() {
            return String::new();
        }
        let (x_min, x_max) =
            points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.x), hi.max(p.x)));
        let (y_min, y_max) =
            points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.y), hi.max(p.y)));
        let (x_lo, x_hi, x_step) = ticks(x_min - 0.5, x_max + 0.5);
        let (y_lo, y_hi, y_step) = ticks(y_min.min(y_max - 1.0), y_max.max(y_min + 1.0));
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let sx = |x: f64| LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w;
        let sy = |y: f64| TOP + (1.0 - (y - y_lo) / (y_hi - y_lo)) * plot_h;

        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="score per {}">"#,
            escape(&self.x_label)
        );
        let _ = write!(svg, r#"<rect class="frame" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>"#);
        let mut y = y_lo;
        while y <= y_hi + y_step / 2.0 {
            let py = sy(y);
            let _ = write!(
                svg,
                r#"<line class="grid" x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT + plot_w,
                LEFT - 6.0,
                py + 4.0,
                number(y)
            );
            y += y_step;
        }
        let x_step = x_step.max(1.0);
        let mut x = (x_lo / x_step).ceil() * x_step;
        while x <= x_hi + 1e-9 {
            let px = sx(x);
            let _ = write!(
                svg,
                r#"<line class="tickmark" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}"/><text class="tick" x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                TOP + plot_h,
                TOP + plot_h + 4.0,
                TOP + plot_h + 16.0,
                number(x)
            );
            x += x_step;
        }
        let _ = write!(
            svg,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis" transform="translate(12 {:.1}) rotate(-90)" text-anchor="middle">score (%)</text>"#,
            LEFT + plot_w / 2.0,
            HEIGHT - 6.0,
            escape(&self.x_label),
            TOP + plot_h / 2.0
        );
        for p in &points {
            let colour = COLOURS[p.series % COLOURS.len()];
            let (px, py) = (sx(p.x), sy(p.y));
            if p.best {
                let _ = write!(svg, r#"<circle class="best" cx="{px:.1}" cy="{py:.1}" r="10"/>"#);
            }
            let _ = write!(
                svg,
                r#"<circle class="point s{}" cx="{px:.1}" cy="{py:.1}" r="5.5" fill="{colour}"><title>{}</title></circle>"#,
                p.series,
                escape(&p.label)
            );
        }
        svg.push_str("</svg>");
        svg
    }

    /// The legend: one swatch per series, then the winner's ring.
    pub(crate) fn legend(&self) -> String {
        let mut out = String::from(r#"<p class="legend">"#);
        for (i, name) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let _ = write!(out, r#"<span class="swatch" style="background:{colour}"></span>{} "#, escape(name));
        }
        out.push_str(r#"<span class="ring"></span>chosen</p>"#);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range_with_round_steps() {
        assert_eq!(ticks(0.0, 100.0), (0.0, 100.0, 20.0));
        assert_eq!(ticks(42.0, 58.0), (40.0, 60.0, 5.0));
    }

    #[test]
    fn no_finite_points_means_no_plot() {
        let plot = Plot {
            x_label: "trial".into(),
            series: vec!["a".into()],
            points: vec![Point { x: 1.0, y: f64::NAN, series: 0, label: "x".into(), best: false }],
        };
        assert!(plot.to_svg().is_empty());
    }
}
